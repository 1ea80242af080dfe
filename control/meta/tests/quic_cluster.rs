//! Three voters in one process, each on its own QUIC endpoint with a
//! certificate from one cluster CA: Raft over the wire, followers that
//! take writes and serve linearizable reads through the leader, and
//! failover when the leader goes away.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_base::Timestamp;
use cairn_internode::pki::node_name;
use cairn_internode::{ClusterCa, Endpoint};
use cairn_meta::{MetaNode, MetaOptions, Node, NodeId};
use cairn_meta_api::{MetaMap, Metadata, ObjectEntry};
use openraft::ServerState;

fn opts() -> MetaOptions {
    MetaOptions {
        heartbeat_interval_ms: 50,
        election_timeout_min_ms: 300,
        election_timeout_max_ms: 600,
        request_timeout_ms: 5_000,
        ..MetaOptions::default()
    }
}

fn entry(name: &str) -> ObjectEntry {
    ObjectEntry {
        name: name.into(),
        ts: Timestamp::from_ticks(7),
        size: 5,
        etag: "e".into(),
        content_type: "t".into(),
    }
}

struct Voter {
    node: Arc<MetaNode>,
    endpoint: Arc<Endpoint>,
}

/// A node on its own endpoint, not yet in any group.
async fn open(ca: &ClusterCa, id: NodeId, dir: &tempfile::TempDir) -> Voter {
    let identity = ca.issue(&node_name(id)).unwrap();
    let endpoint = Endpoint::member(SocketAddr::from(([127, 0, 0, 1], 0)), &identity).unwrap();
    let network = cairn_meta::network::quic::QuicNetwork::new(endpoint.clone());
    let node = MetaNode::open(dir.path(), id, opts(), network)
        .await
        .unwrap();
    cairn_meta::network::quic::serve(&endpoint, &node);
    endpoint.start();
    Voter { node, endpoint }
}

fn addr(v: &Voter) -> String {
    v.endpoint.local_addr().unwrap().to_string()
}

async fn start(ca: &ClusterCa, dirs: &[tempfile::TempDir]) -> BTreeMap<NodeId, Voter> {
    let mut voters = BTreeMap::new();
    let mut members = BTreeMap::new();
    for (i, dir) in dirs.iter().enumerate() {
        let id = i as NodeId + 1;
        let v = open(ca, id, dir).await;
        members.insert(id, Node::new(addr(&v)));
        voters.insert(id, v);
    }
    voters[&1].node.initialize(members).await.unwrap();
    voters
}

async fn leader(voters: &BTreeMap<NodeId, Voter>, not: Option<NodeId>) -> NodeId {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        for (id, v) in voters {
            if Some(*id) != not && v.node.raft().metrics().borrow().state == ServerState::Leader {
                return *id;
            }
        }
        assert!(Instant::now() < deadline, "no leader elected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_write_and_read_through_the_leader_and_survive_its_loss() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let voters = start(&ClusterCa::generate().unwrap(), &dirs).await;
    let l1 = leader(&voters, None).await;
    let followers: Vec<NodeId> = voters.keys().copied().filter(|id| *id != l1).collect();
    let (f1, f2) = (&voters[&followers[0]].node, &voters[&followers[1]].node);

    // A write on one follower is visible at once on the other (reads
    // wait for the leader's commit index: linearizable).
    f1.put_container("AUTH_q", "c", MetaMap::new(), Timestamp::from_ticks(1))
        .await
        .unwrap();
    for i in 0..50 {
        f1.put_object_entry("AUTH_q", "c", entry(&format!("o{i:02}")))
            .await
            .unwrap();
        assert_eq!(
            f2.container("AUTH_q", "c").await.unwrap().object_count,
            i + 1,
            "a follower read missed an acknowledged write"
        );
    }
    // Refusals cross the wire as themselves.
    let not_empty = f2
        .delete_container("AUTH_q", "c", Timestamp::from_ticks(9))
        .await;
    assert!(
        matches!(not_empty, Err(cairn_meta_api::MetaError::ContainerNotEmpty)),
        "{not_empty:?}"
    );

    // Lose the leader: the other two elect one and keep every write.
    voters[&l1].node.shutdown().await.unwrap();
    voters[&l1].endpoint.close().await;
    let l2 = leader(&voters, Some(l1)).await;
    let survivor = voters
        .keys()
        .copied()
        .find(|id| *id != l1 && *id != l2)
        .unwrap();
    let s = &voters[&survivor].node;
    s.put_object_entry("AUTH_q", "c", entry("after-failover"))
        .await
        .unwrap();
    assert_eq!(s.container("AUTH_q", "c").await.unwrap().object_count, 51);
    assert_eq!(
        voters[&l2]
            .node
            .account("AUTH_q")
            .await
            .unwrap()
            .object_count,
        51
    );
    for (id, v) in &voters {
        if *id != l1 {
            v.node.shutdown().await.unwrap();
        }
    }
}

// Checks membership changes asked of a follower: a new node joins as a
// learner and receives the log (it reads what was written before it came),
// is promoted to voter, and a voter is removed; the group keeps committing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_joins_as_learner_becomes_voter_and_another_leaves() {
    use cairn_meta::MemberChange;
    let ca = ClusterCa::generate().unwrap();
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut voters = start(&ca, &dirs[..3]).await;
    let l = leader(&voters, None).await;
    let follower = voters.keys().copied().find(|id| *id != l).unwrap();
    let f = voters[&follower].node.clone();
    f.put_container("AUTH_m", "c", MetaMap::new(), Timestamp::from_ticks(1))
        .await
        .unwrap();
    f.put_object_entry("AUTH_m", "c", entry("before"))
        .await
        .unwrap();

    let newcomer = open(&ca, 4, &dirs[3]).await;
    f.change_members(MemberChange::AddLearner {
        id: 4,
        addr: addr(&newcomer),
    })
    .await
    .unwrap();
    // The leader applied the change when it answered.
    let lead = voters[&l].node.clone();
    let members = lead.members();
    assert!(members.learners.contains(&4), "{members:?}");
    // The learner knows the leader and serves linearizable reads.
    let n4 = newcomer.node.clone();
    voters.insert(4, newcomer);
    tokio::time::timeout(Duration::from_secs(10), async {
        while n4.current_leader().is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the learner never heard of a leader");
    assert_eq!(n4.container("AUTH_m", "c").await.unwrap().object_count, 1);

    f.change_members(MemberChange::Promote { id: 4 })
        .await
        .unwrap();
    assert!(lead.members().voters.contains(&4));
    let gone = voters
        .keys()
        .copied()
        .find(|id| *id != l && *id != 4)
        .unwrap();
    n4.change_members(MemberChange::Remove { id: gone })
        .await
        .unwrap();
    let members = lead.members();
    assert_eq!(members.voters.len(), 3, "{members:?}");
    assert!(!members.voters.contains(&gone) && !members.learners.contains(&gone));
    n4.put_object_entry("AUTH_m", "c", entry("after"))
        .await
        .unwrap();
    assert_eq!(lead.container("AUTH_m", "c").await.unwrap().object_count, 2);
    for v in voters.values() {
        v.node.shutdown().await.unwrap();
    }
}
