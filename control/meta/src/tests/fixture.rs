//! A state machine on a temp dir that applies commands as log entries, and
//! the seed helper for randomized tests.

use cairn_base::Timestamp;
use cairn_meta_api::{AccountInfo, ContainerInfo, MetaMap, ObjectEntry};
use openraft::{CommittedLeaderId, EntryPayload};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::db::{self, Db};
use crate::state_machine::StateMachine;
use crate::types::{LogEntry, Reply, Request};

pub struct Fixture {
    _dir: tempfile::TempDir,
    pub db: Db,
    pub sm: StateMachine,
    next_index: u64,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = db::open(&dir.path().join("db")).unwrap();
        let sm = StateMachine::new(db.clone(), &dir.path().join("snapshots"));
        Fixture {
            _dir: dir,
            db,
            sm,
            next_index: 1,
        }
    }

    /// Applies `reqs` as one batch of consecutive log entries.
    pub fn apply_batch(&mut self, reqs: Vec<Request>) -> Vec<Reply> {
        let entries: Vec<LogEntry> = reqs
            .into_iter()
            .map(|r| {
                let index = self.next_index;
                self.next_index += 1;
                LogEntry {
                    log_id: openraft::LogId::new(CommittedLeaderId::new(1, 1), index),
                    payload: EntryPayload::Normal(r),
                }
            })
            .collect();
        self.sm.apply_batch(entries.into_iter()).unwrap()
    }

    pub fn apply(&mut self, req: Request) -> Reply {
        self.apply_batch(vec![req]).remove(0)
    }

    pub fn put_container(&mut self, a: &str, c: &str, ts: u64) -> Reply {
        self.apply(Request::PutContainer {
            account: a.into(),
            container: c.into(),
            meta: MetaMap::new(),
            ts: Timestamp::from_ticks(ts),
            containers_max: None,
        })
    }

    pub fn put_object(&mut self, a: &str, c: &str, name: &str, ts: u64, size: u64) -> Reply {
        self.apply(Request::PutObject {
            account: a.into(),
            container: c.into(),
            entry: entry(name, ts, size),
        })
    }

    pub fn delete_object(&mut self, a: &str, c: &str, name: &str, ts: u64) -> Reply {
        self.apply(Request::DeleteObject {
            account: a.into(),
            container: c.into(),
            name: name.into(),
            ts: Timestamp::from_ticks(ts),
        })
    }

    pub fn account(&self, a: &str) -> AccountInfo {
        crate::reads::account(&self.db, a).unwrap()
    }

    pub fn container(&self, a: &str, c: &str) -> ContainerInfo {
        crate::reads::container(&self.db, a, c).unwrap()
    }
}

pub fn entry(name: &str, ts: u64, size: u64) -> ObjectEntry {
    ObjectEntry {
        name: name.into(),
        ts: Timestamp::from_ticks(ts),
        size,
        etag: format!("etag-{ts}"),
        content_type: "application/octet-stream".into(),
    }
}

/// A proptest runner seeded from `SEED=` or the clock; prints the seed.
pub fn seeded_runner(test: &str, cases: u32) -> TestRunner {
    let seed: u64 = match std::env::var("SEED") {
        Ok(s) => s.parse().expect("SEED must be a u64"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    };
    println!("{test}: SEED={seed}");
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&seed.to_le_bytes());
    }
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}
