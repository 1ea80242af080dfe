//! The admin service over a real QUIC endpoint pair, in front of a real
//! storage node, metadata voter and replicator; and the count of
//! partitions out of place against a ring.

use cairn_base::SystemClock;
use cairn_internode::pki::{member_dns_name, MEMBER_NAME};
use cairn_internode::{ClusterCa, Endpoint, Peer, ServiceId, TransportError};
use cairn_nodeapi::{NodeId, NodeMap};
use cairn_ring::{DeviceSpec, RingBuilder};
use cairn_storage_node::replicator::{ReplicatorConfig, RECLAIM_AGE_SECS_DEFAULT};

use super::*;
use crate::node_status;
use crate::up::{init, open_storage};

#[test]
fn placement_counts_partitions_the_ring_does_not_give_the_device() {
    // Of the partitions a device holds, those it is not a primary of (and
    // one past the ring's last partition) are out of place.
    let mut b = RingBuilder::new_seeded(4, 3, 1, 7).unwrap();
    for zone in 1..=4 {
        b.add_device(DeviceSpec {
            region: 1,
            zone,
            node: 1,
            addr: "local".into(),
            name: format!("d{zone}"),
            weight: 100.0,
        })
        .unwrap();
    }
    b.rebalance(0).unwrap();
    let ring = b.ring().unwrap();
    let device = ring.devices()[0].id;
    let (mine, theirs): (Vec<u32>, Vec<u32>) = (0..ring.partition_count())
        .partition(|&p| ring.primaries(p).iter().any(|d| d.id == device));
    assert!(!mine.is_empty() && !theirs.is_empty());
    let held = [mine[0], theirs[0], theirs[1], ring.partition_count()];
    assert_eq!(
        placement(&ring, device, &held),
        Placement {
            partitions_held: 4,
            out_of_place: 3
        }
    );
    assert_eq!(
        placement(&ring, device, &mine),
        Placement {
            partitions_held: mine.len() as u32,
            out_of_place: 0
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_gets_the_status_and_a_caller_without_a_certificate_is_refused() {
    // node-1 serves the admin service over its real parts (3 devices, a
    // single-voter metadata group, a replicator after one pass); the
    // operator's certificate gets every field, a joiner's stream is reset.
    let tmp = tempfile::tempdir().unwrap();
    let dir = init::open_or_create(tmp.path(), init::Listeners::default()).unwrap();
    let storage = open_storage(&dir).await.unwrap();
    let meta = MetaNode::open_single(&dir.meta_dir(), 1).await.unwrap();
    let ring = Arc::new(dir.ring.clone());
    let ring_source: RingSource = Arc::new(move || ring.clone());
    let replicator = Replicator::new(ReplicatorConfig {
        ring: ring_source.clone(),
        local: storage.clone(),
        nodes: Arc::new(NodeMap::from_iter([(
            NodeId(1),
            storage.clone() as Arc<dyn ObjectNode>,
        )])),
        clock: Arc::new(SystemClock),
        reclaim_age_secs: RECLAIM_AGE_SECS_DEFAULT,
    });
    replicator.run_pass().await;

    let ca = ClusterCa::generate().unwrap();
    let server =
        Endpoint::member(([127, 0, 0, 1], 0).into(), &ca.issue("node-1").unwrap()).unwrap();
    let addr = server.local_addr().unwrap();
    let sources = Sources {
        node_id: 1,
        internode_addr: addr,
        started: Instant::now(),
        storage: storage.clone(),
        ring: ring_source,
        replicator,
    };
    server.register(
        ServiceId::Admin,
        AdminService::new(sources, Arc::downgrade(&meta)),
    );
    server.start();

    let operator = Endpoint::member_client(&ca.issue("operator").unwrap()).unwrap();
    let peer = Peer {
        addr,
        name: member_dns_name("node-1"),
    };
    let status = node_status::ask(&operator, &peer).await.unwrap();
    assert_eq!((status.node_id, status.internode_addr), (1, addr));
    assert_eq!(status.version, env!("CARGO_PKG_VERSION"));
    let names: Vec<&str> = status.devices.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["d1", "d2", "d3"]);
    for d in &status.devices {
        assert!(!d.poisoned && d.free_bytes > 0, "{d:?}");
        let empty = Placement {
            partitions_held: 0,
            out_of_place: 0,
        };
        assert_eq!(d.placement, Some(empty));
    }
    let m = &status.metadata;
    assert_eq!(
        (m.role, m.leader, m.voters.as_slice()),
        (RaftRole::Leader, Some(1), &[1][..])
    );
    assert!(m.term >= 1 && m.last_applied_index.is_some(), "{m:?}");
    let r = &status.replication;
    assert_eq!((r.passes_completed, r.errors), (1, 0));
    let pass = r.last_pass.as_ref().expect("a pass ran");
    assert!(pass.ended_secs_ago < 60, "{pass:?}");

    // A caller with no certificate (a joining node) is refused before its
    // request is read.
    let fingerprint = hex::decode(ca.issue("x").unwrap().ca_fingerprint().unwrap()).unwrap();
    let joiner = Endpoint::joiner(fingerprint.try_into().unwrap()).unwrap();
    let anonymous = Peer {
        addr,
        name: MEMBER_NAME.into(),
    };
    let refused = node_status::ask(&joiner, &anonymous).await;
    assert_eq!(refused, Err(TransportError::Forbidden));

    operator.close().await;
    joiner.close().await;
    server.close().await;
    meta.shutdown().await.unwrap();
    storage.shutdown().await;
}
