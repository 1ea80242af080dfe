//! The storage services over real QUIC connections on loopback, against a
//! real storage node: what a member can do, and what anyone else cannot.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use cairn_base::{Timestamp, VolumeId};
use cairn_internode::extent::ExtentService;
use cairn_internode::object::ObjectService;
use cairn_internode::pki::{member_dns_name, MEMBER_NAME};
use cairn_internode::wire;
use cairn_internode::{ClusterCa, Endpoint, Identity, Peer, RemoteNode, ServiceId, TransportError};
use cairn_nodeapi::{
    ByteRange, ChunkDigests, DeviceId, Epoch, ExtentKey, ExtentNode, ExtentWrite, Frame, NodeError,
    ObjectKey, ObjectMeta, ObjectNode, PostRequest, PutChunk,
};
use cairn_storage_node::{DeviceConfig, NodeConfig, StorageNode};
use tokio::sync::mpsc;

const DEV: DeviceId = DeviceId(7);

type Node = StorageNode<cairn_diskio::StdDiskIo>;

/// A storage node serving objects and extents as `node-1` on loopback.
struct Server {
    _dir: tempfile::TempDir,
    node: Arc<Node>,
    endpoint: Arc<Endpoint>,
    ca: ClusterCa,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let cfg = NodeConfig::new(vec![DeviceConfig {
            id: DEV,
            path: dir.path().join("d1"),
        }]);
        let io = Arc::new(cairn_diskio::StdDiskIo::new());
        let node = Arc::new(StorageNode::open(cfg, io).await.unwrap());
        let ca = ClusterCa::generate().unwrap();
        let endpoint = member(&ca.issue("node-1").unwrap());
        endpoint.register(ServiceId::Object, ObjectService::new(node.clone()));
        endpoint.register(ServiceId::Extent, ExtentService::new(node.clone()));
        endpoint.start();
        Server {
            _dir: dir,
            node,
            endpoint,
            ca,
        }
    }

    fn peer(&self) -> Peer {
        Peer {
            addr: self.endpoint.local_addr().unwrap(),
            name: member_dns_name("node-1"),
        }
    }

    /// A client without a certificate that trusts this cluster's CA (a
    /// joining node), and the server as it reaches it.
    fn joiner(&self) -> (Arc<Endpoint>, Peer) {
        let id = self.ca.issue("node-1").unwrap();
        let fingerprint = hex::decode(id.ca_fingerprint().unwrap()).unwrap();
        let joiner = Endpoint::joiner(fingerprint.try_into().unwrap()).unwrap();
        let peer = Peer {
            addr: self.peer().addr,
            name: MEMBER_NAME.into(),
        };
        (joiner, peer)
    }

    /// A client holding a certificate from this cluster's CA.
    fn member_client(&self) -> RemoteNode {
        let id = self.ca.issue("node-2").unwrap();
        RemoteNode::new(member(&id), self.peer())
    }
}

fn member(id: &Identity) -> Arc<Endpoint> {
    Endpoint::member(SocketAddr::from(([127, 0, 0, 1], 0)), id).unwrap()
}

fn key(name: &str) -> ObjectKey {
    let d = blake3::hash(name.as_bytes());
    let mut hash = [0u8; 16];
    hash.copy_from_slice(&d.as_bytes()[..16]);
    ObjectKey { partition: 3, hash }
}

fn meta(name: &str, len: usize, etag: &str) -> ObjectMeta {
    ObjectMeta {
        name: name.into(),
        data_ts: Timestamp::from_secs(100),
        meta_ts: Timestamp::from_secs(100),
        content_length: len as u64,
        etag: etag.into(),
        content_type: "application/octet-stream".into(),
        headers: vec![("x-object-meta-color".into(), "blue".into())],
    }
}

fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

async fn put(node: &dyn ObjectNode, name: &str, data: &[u8]) -> Result<(), NodeError> {
    let (tx, rx) = mpsc::channel(4);
    let etag = hex::encode(<md5::Md5 as md5::Digest>::digest(data));
    let chunks: Vec<Bytes> = data.chunks(1 << 20).map(Bytes::copy_from_slice).collect();
    let meta = meta(name, data.len(), &etag);
    let digests = ChunkDigests::of(data);
    let send = async move {
        for c in chunks {
            tx.send(PutChunk::Data(Frame::new(c))).await.unwrap();
        }
        tx.send(PutChunk::End(meta, digests)).await.unwrap();
    };
    let (ack, ()) = tokio::join!(node.put(DEV, key(name), rx), send);
    ack.map(|_| ())
}

async fn get(
    node: &dyn ObjectNode,
    name: &str,
    range: Option<ByteRange>,
) -> Result<Vec<u8>, NodeError> {
    let mut got = node.get(DEV, key(name), range).await?;
    let mut out = Vec::new();
    while let Some(frame) = got.body.recv().await {
        out.extend_from_slice(&frame?.verify()?);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_reads_and_writes_objects_on_a_remote_node() {
    let server = Server::start().await;
    let remote = server.member_client();
    let large = body(3 * (1 << 20) + 4321);
    let small = body(100);
    put(&remote, "/a/c/large", &large).await.unwrap();
    put(&remote, "/a/c/small", &small).await.unwrap();

    // What went over the wire is what the node stored, and what comes back.
    assert_eq!(get(&*server.node, "/a/c/large", None).await.unwrap(), large);
    assert_eq!(get(&remote, "/a/c/large", None).await.unwrap(), large);
    let range = ByteRange {
        start: 1_000_000,
        end: 2_100_000,
    };
    assert_eq!(
        get(&remote, "/a/c/large", Some(range)).await.unwrap(),
        &large[1_000_000..2_100_000]
    );
    let head = remote.head(DEV, key("/a/c/small")).await.unwrap();
    assert_eq!(head.content_length, 100);
    assert_eq!(head.header("x-object-meta-color"), Some("blue"));

    let post = PostRequest {
        meta_ts: Timestamp::from_secs(200),
        headers: vec![("x-object-meta-color".into(), "red".into())],
        content_type: None,
    };
    remote.post(DEV, key("/a/c/small"), post).await.unwrap();
    let head = server.node.head(DEV, key("/a/c/small")).await.unwrap();
    assert_eq!(head.header("x-object-meta-color"), Some("red"));

    // Errors cross the wire as themselves.
    let older = put(&remote, "/a/c/small", &small).await;
    assert!(
        matches!(older, Err(NodeError::Conflict { .. })),
        "{older:?}"
    );
    let gone = remote
        .delete(
            DEV,
            key("/a/c/small"),
            "/a/c/small",
            Timestamp::from_secs(300),
        )
        .await
        .unwrap();
    assert!(gone.existed);
    assert_eq!(
        remote.head(DEV, key("/a/c/small")).await,
        Err(NodeError::NotFound {
            tombstone: Some(Timestamp::from_secs(300))
        })
    );
    // The replicator's questions get the node's own answers.
    assert_eq!(
        remote.partition_digest(DEV, 3).await.unwrap(),
        server.node.partition_digest(DEV, 3).await.unwrap()
    );
    assert_eq!(remote.partitions(DEV).await.unwrap(), vec![3]);
    let bucket = key("/a/c/small").hash[0];
    let listed = remote.list_bucket(DEV, 3, bucket).await.unwrap();
    assert!(listed.iter().any(|e| e.name == "/a/c/small" && e.tombstone));
    assert_eq!(
        listed,
        server.node.list_bucket(DEV, 3, bucket).await.unwrap()
    );
    let beyond = ByteRange {
        start: 10_000_000,
        end: 10_000_001,
    };
    assert_eq!(
        get(&remote, "/a/c/large", Some(beyond)).await,
        Err(NodeError::RangeNotSatisfiable)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_that_breaks_off_stores_nothing() {
    let server = Server::start().await;
    let remote = server.member_client();
    let (tx, rx) = mpsc::channel(4);
    tx.send(PutChunk::Data(Frame::new(Bytes::from(body(5000)))))
        .await
        .unwrap();
    drop(tx);
    let put = remote.put(DEV, key("/a/c/cut"), rx).await;
    assert!(put.is_err(), "{put:?}");
    // The node saw the stream break, not an end: nothing is stored.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(matches!(
        server.node.head(DEV, key("/a/c/cut")).await,
        Err(NodeError::NotFound { tombstone: None })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_writes_extents_with_fencing_across_the_wire() {
    let server = Server::start().await;
    let remote = server.member_client();
    let volume = VolumeId([9; 16]);
    let k = ExtentKey {
        volume,
        index: 2,
        generation: 1,
    };
    let write = |epoch, fill: u8| ExtentWrite {
        extent_size: 1 << 20,
        epoch: Epoch(epoch),
        offset: 8192,
        data: Bytes::from(vec![fill; 4096]),
        fua: true,
    };
    remote.fence(DEV, volume, Epoch(2)).await.unwrap();
    remote.write(DEV, k, write(2, 0xab)).await.unwrap();
    assert_eq!(
        remote.read(DEV, k, 8192, 4096).await.unwrap(),
        Some(Bytes::from(vec![0xab; 4096]))
    );
    assert_eq!(
        remote.read(DEV, k, 0, 4096).await.unwrap(),
        Some(Bytes::from(vec![0; 4096]))
    );
    let missing = ExtentKey { index: 3, ..k };
    assert_eq!(remote.read(DEV, missing, 0, 4096).await.unwrap(), None);

    // A stale writer (an older epoch) is refused, over the wire as locally.
    assert_eq!(
        remote.write(DEV, k, write(1, 0xcd)).await,
        Err(NodeError::Fenced { current: 2 })
    );
    remote.flush(DEV, volume, Epoch(2)).await.unwrap();
    assert_eq!(
        remote.allocation(DEV, k, 0, 1 << 20).await.unwrap(),
        Some(vec![(8192, 12288)])
    );
    assert_eq!(remote.list(DEV, volume).await.unwrap(), vec![(2, 1)]);
    remote.remove(DEV, volume, None).await.unwrap();
    assert_eq!(server.node.list(DEV, volume).await.unwrap(), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_without_a_cluster_certificate_reads_and_writes_nothing() {
    // A joining node knows the CA's fingerprint and completes a handshake,
    // but every storage request of its is refused.
    let server = Server::start().await;
    put(&*server.node, "/a/c/secret", b"secret").await.unwrap();
    let (joiner, peer) = server.joiner();
    let anonymous = RemoteNode::new(joiner.clone(), peer.clone());

    let read = get(&anonymous, "/a/c/secret", None).await;
    assert!(
        matches!(read, Err(NodeError::Unreachable(ref e)) if e.contains("refused")),
        "{read:?}"
    );
    let written = put(&anonymous, "/a/c/evil", b"evil").await;
    assert!(written.is_err(), "{written:?}");
    let volume = VolumeId([1; 16]);
    assert!(anonymous.fence(DEV, volume, Epoch(99)).await.is_err());
    assert!(server.node.head(DEV, key("/a/c/evil")).await.is_err());
    assert_eq!(server.node.list(DEV, volume).await.unwrap(), vec![]);
    // Refused before its request is read: the stream is reset at once.
    let stream = joiner.open(&peer, ServiceId::Object).await;
    let mut stream = stream.unwrap();
    let mut buf = [0u8; 1];
    assert!(stream.recv.read_exact(&mut buf).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_clusters_and_wrong_names_are_refused_at_the_handshake() {
    let server = Server::start().await;
    // A member of another cluster: its CA signed neither side.
    let other = ClusterCa::generate().unwrap();
    let stranger = RemoteNode::new(member(&other.issue("node-2").unwrap()), server.peer());
    let refused = stranger.head(DEV, key("/a/c/o")).await;
    assert!(
        matches!(refused, Err(NodeError::Unreachable(_))),
        "{refused:?}"
    );

    // A joiner expecting another cluster's CA.
    let wrong = hex::decode(other.issue("x").unwrap().ca_fingerprint().unwrap()).unwrap();
    let joiner = Endpoint::joiner(wrong.try_into().unwrap()).unwrap();
    let peer = Peer {
        addr: server.peer().addr,
        name: MEMBER_NAME.into(),
    };
    assert!(matches!(
        joiner.open(&peer, ServiceId::Join).await,
        Err(TransportError::Connect { .. })
    ));

    // A member that asks for node-9 at node-1's address does not get node-1.
    let id = server.ca.issue("node-2").unwrap();
    let peer = Peer {
        addr: server.peer().addr,
        name: member_dns_name("node-9"),
    };
    let misdirected = RemoteNode::new(member(&id), peer);
    assert!(misdirected.head(DEV, key("/a/c/o")).await.is_err());
}

/// Answers whether the one message on its stream fitted in 1 KiB.
struct SmallMessages;

#[async_trait::async_trait]
impl cairn_internode::Service for SmallMessages {
    fn open_to_anonymous(&self) -> bool {
        true
    }

    async fn serve(&self, _: cairn_internode::Caller, mut stream: cairn_internode::Stream) {
        let got = wire::recv_msg_within::<Vec<u8>>(&mut stream.recv, 1024).await;
        let answer = match got {
            Ok(m) => format!("read {}", m.len()),
            Err(TransportError::TooLarge(n)) => format!("too large: {n}"),
            Err(e) => format!("error: {e}"),
        };
        wire::send_msg(&mut stream.send, &answer).await.unwrap();
        wire::finish(&mut stream.send);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_open_to_strangers_reads_only_small_messages() {
    // A stranger's announced length is refused before anything is
    // allocated for it when it passes the service's own bound.
    let server = Server::start().await;
    server
        .endpoint
        .register(ServiceId::Join, Arc::new(SmallMessages));
    let (joiner, peer) = server.joiner();
    for (len, want) in [(100, "read 100"), (4096, "too large: 4098")] {
        let mut s = joiner.open(&peer, ServiceId::Join).await.unwrap();
        wire::send_msg(&mut s.send, &vec![7u8; len]).await.unwrap();
        wire::finish(&mut s.send);
        let answer: String = wire::recv_msg(&mut s.recv).await.unwrap();
        assert_eq!(answer, want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_is_marked_down_though_every_caller_gives_up_early() {
    // A UDP socket that reads nothing stands for a node killed with -9.
    // Callers that wait only 100 ms (as Raft heartbeats do) must not cancel
    // the 1 s connection attempt: once it ran out, calls fail at once.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let ca = ClusterCa::generate().unwrap();
    let endpoint = member(&ca.issue("node-2").unwrap());
    let peer = Peer {
        addr: silent.local_addr().unwrap(),
        name: member_dns_name("node-1"),
    };
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(2500) {
        let call = endpoint.open(&peer, ServiceId::Object);
        let _ = tokio::time::timeout(std::time::Duration::from_millis(100), call).await;
    }
    let call = endpoint.open(&peer, ServiceId::Object);
    match tokio::time::timeout(std::time::Duration::from_millis(100), call).await {
        Ok(Err(TransportError::Connect { reason, .. })) => {
            assert!(reason.contains("down"), "{reason}")
        }
        Ok(Err(e)) => panic!("expected the peer down, got {e}"),
        Ok(Ok(_)) => panic!("a silent peer answered"),
        Err(_) => panic!("the call waited: the peer was never marked down"),
    }
}
