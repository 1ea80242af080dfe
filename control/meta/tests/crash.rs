//! Kill -9 of a metadata process in the middle of a write stream: every
//! write it acknowledged is there after reopening.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use cairn_base::Timestamp;
use cairn_meta::MetaNode;
use cairn_meta_api::{ListQuery, MetaMap, Metadata, ObjectEntry, ObjectListItem};

/// Environment variable that turns the test binary into the writer child.
const CHILD_ENV: &str = "CAIRN_META_CRASH_CHILD";
/// Acknowledged writes before the parent kills the child.
const ACKS_BEFORE_KILL: usize = 400;
/// Bound on the child's writes if it is never killed.
const CHILD_WRITES_MAX: usize = 100_000;
const WRITERS: usize = 16;

fn entry(name: &str) -> ObjectEntry {
    ObjectEntry {
        name: name.into(),
        ts: Timestamp::from_ticks(7),
        size: 1,
        etag: "e".into(),
        content_type: "t".into(),
    }
}

/// The child: writes object entries from several tasks and prints each
/// acknowledged name.
fn child(dir: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let node = MetaNode::open_single(std::path::Path::new(dir), 1)
            .await
            .unwrap();
        node.put_container("AUTH_k", "c", MetaMap::new(), Timestamp::from_ticks(1))
            .await
            .unwrap();
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let node: Arc<MetaNode> = node.clone();
                tokio::spawn(async move {
                    for i in 0..CHILD_WRITES_MAX / WRITERS {
                        let name = format!("w{w:02}-{i:06}");
                        node.put_object_entry("AUTH_k", "c", entry(&name))
                            .await
                            .unwrap();
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "ACK {name}").unwrap();
                        out.flush().unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
}

// Checks durability of acknowledgements: a child process writing with 16
// concurrent writers is SIGKILLed after 400 acks; on reopen every
// acknowledged entry is listed and the container's count matches the listing.
#[test]
fn kill_9_mid_write_loses_nothing_acknowledged() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut proc = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill_9_mid_write_loses_nothing_acknowledged",
            "--nocapture",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut acked = BTreeSet::new();
    let stdout = proc.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        if let Some(name) = line.unwrap().strip_prefix("ACK ") {
            acked.insert(name.to_string());
        }
        if acked.len() >= ACKS_BEFORE_KILL {
            break;
        }
    }
    proc.kill().unwrap(); // SIGKILL
    proc.wait().unwrap();
    assert_eq!(acked.len(), ACKS_BEFORE_KILL, "child died early");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let node = MetaNode::open_single(dir.path(), 1).await.unwrap();
        let q = ListQuery {
            limit: usize::MAX,
            ..Default::default()
        };
        let listed: BTreeSet<String> = node
            .list_objects("AUTH_k", "c", &q)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|r| match r {
                ObjectListItem::Object(e) => Some(e.name),
                ObjectListItem::Subdir(_) => None,
            })
            .collect();
        let lost: Vec<_> = acked.difference(&listed).collect();
        assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
        let c = node.container("AUTH_k", "c").await.unwrap();
        assert_eq!(c.object_count, listed.len() as u64);
        println!(
            "acked {} before kill, {} present after restart",
            acked.len(),
            listed.len()
        );
        node.shutdown().await.unwrap();
    });
}
