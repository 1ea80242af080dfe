//! The summary and the tables of `cairn cluster status`, from made-up
//! answers: agreement, disagreement and nodes that did not answer.

use super::*;
use crate::node_status::{
    AuditorStatus, DeviceStatus, PassStatus, Placement, RaftRole, RaftStatus, ReplicationStatus,
};

fn node(id: u64, leader: Option<u64>, term: u64) -> NodeStatus {
    let device = |n: u32| DeviceStatus {
        id: u32::try_from(id).unwrap() * 10 + n,
        name: format!("d{n}"),
        used_bytes: 3 << 20,
        free_bytes: 40 << 30,
        object_count: 12,
        quarantined_count: 0,
        poisoned: false,
        placement: Some(Placement {
            partitions_held: 500,
            out_of_place: n - 1,
        }),
    };
    NodeStatus {
        node_id: id,
        internode_addr: addr(id),
        uptime_secs: 252,
        version: "0.1.0".into(),
        ring_version: 3,
        devices: vec![device(1), device(2)],
        metadata: RaftStatus {
            role: if leader == Some(id) {
                RaftRole::Leader
            } else {
                RaftRole::Follower
            },
            term,
            leader,
            last_log_index: Some(57),
            last_applied_index: Some(57),
            voters: vec![1, 2, 3],
        },
        replication: ReplicationStatus {
            passes_completed: 8,
            objects_pushed: 4,
            errors: 0,
            last_pass: Some(PassStatus {
                ended_unix_secs: 1_700_000_000,
                ended_secs_ago: 12,
                duration_ms: 310,
                partitions_checked: 512,
                buckets_differing: 0,
                objects_pushed: 0,
                errors: 0,
            }),
        },
        auditor: AuditorStatus {
            passes_completed: 1,
            objects_audited: 12,
            bytes_audited: 3 << 20,
            corrupt_found: 0,
        },
    }
}

fn addr(id: u64) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, id as u8 + 1], 6200))
}

fn report(id: u64, status: Option<NodeStatus>) -> NodeReport {
    NodeReport {
        node_id: id,
        internode_addr: addr(id),
        up: status.is_some(),
        removed: false,
        error: status
            .is_none()
            .then(|| "connecting to 127.0.0.4:6200: no answer".to_owned()),
        status,
    }
}

#[test]
fn nodes_that_agree_give_the_leader_and_a_down_node_is_listed() {
    // Two nodes answer, naming node 1 in term 3; node 3 is down: the
    // summary has the leader, the tables show node 3 as down with why.
    let reports = vec![
        report(1, Some(node(1, Some(1), 3))),
        report(2, Some(node(2, Some(1), 3))),
        report(3, None),
    ];
    let summary = summarize(&reports);
    assert_eq!(
        summary,
        Summary {
            nodes_total: 3,
            nodes_up: 2,
            draining: 0,
            devices: 4,
            leader: Some(1),
            term: Some(3),
            leader_agreed: true,
            out_of_place: 2,
        }
    );
    let text = render::render(
        Path::new("/data"),
        &ClusterStatus {
            summary,
            nodes: reports,
        },
    );
    assert!(
        text.starts_with(
            "cluster /data: 2 of 3 nodes up, 4 devices; metadata leader node-1, term 3"
        ),
        "{text}"
    );
    let row = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in\n{text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        row("node-1  127"),
        [
            "node-1",
            "127.0.0.2:6200",
            "up",
            "4m",
            "12s",
            "0.1.0",
            "leader",
            "3",
            "node-1",
            "57",
            "57",
            "1,2,3",
            "1"
        ]
    );
    assert_eq!(
        row("node-3  127")[..3],
        ["node-3", "127.0.0.4:6200", "down"]
    );
    assert_eq!(
        row("d2 (#22)"),
        ["d2", "(#22)", "node-2", "3", "MiB", "40", "GiB", "12", "0", "500", "1", "ok"]
    );
    assert!(text.contains("node-3 is down: connecting to 127.0.0.4:6200: no answer"));
}

#[test]
fn nodes_that_disagree_or_know_no_leader_give_none() {
    // A different term, or a node with no leader, is no agreement; no
    // node up is no leader either.
    for other in [node(2, Some(1), 4), node(2, Some(2), 3), node(2, None, 3)] {
        let reports = vec![report(1, Some(node(1, Some(1), 3))), report(2, Some(other))];
        let summary = summarize(&reports);
        assert_eq!(
            (summary.leader, summary.term, summary.leader_agreed),
            (None, None, false)
        );
        let text = render::render(
            Path::new("/d"),
            &ClusterStatus {
                summary,
                nodes: reports,
            },
        );
        assert!(text.contains("NO AGREED METADATA LEADER"), "{text}");
    }
    let reports = vec![report(1, None)];
    let summary = summarize(&reports);
    assert_eq!((summary.nodes_up, summary.leader_agreed), (0, false));
    let text = render::render(
        Path::new("/d"),
        &ClusterStatus {
            summary,
            nodes: reports,
        },
    );
    assert!(
        text.contains("0 of 1 nodes up, 0 devices; no node answered"),
        "{text}"
    );
    assert!(
        !text.contains("DEVICE"),
        "no device table without a node: {text}"
    );
}

#[test]
fn removed_nodes_are_draining_until_they_hold_nothing() {
    // A removed node that answers and holds partitions is draining, and
    // its partitions count as out of place; it is not one of the ring's
    // nodes nor a voice on the leader. Holding none, it is drained; not
    // answering, stopped.
    let removed = |id, status| NodeReport {
        removed: true,
        ..report(id, status)
    };
    let mut empty = node(4, None, 0);
    for d in &mut empty.devices {
        d.placement = Some(Placement {
            partitions_held: 0,
            out_of_place: 0,
        });
    }
    let reports = vec![
        report(1, Some(node(1, Some(1), 3))),
        report(2, Some(node(2, Some(1), 3))),
        removed(3, Some(node(3, None, 2))),
        removed(4, Some(empty)),
        removed(5, None),
    ];
    let summary = summarize(&reports);
    assert_eq!(
        summary,
        Summary {
            nodes_total: 2,
            nodes_up: 2,
            draining: 2,
            devices: 4,
            leader: Some(1),
            term: Some(3),
            leader_agreed: true,
            out_of_place: 2 + 1000,
        }
    );
    let states: Vec<&str> = reports.iter().map(NodeReport::state).collect();
    assert_eq!(states, ["up", "up", "draining", "drained", "stopped"]);
    let text = render::render(
        Path::new("/data"),
        &ClusterStatus {
            summary,
            nodes: reports,
        },
    );
    assert!(
        text.starts_with("cluster /data: 2 of 2 nodes up, 2 removed still draining, 4 devices"),
        "{text}"
    );
    assert!(text.contains("node-5 is stopped: connecting"), "{text}");
}
