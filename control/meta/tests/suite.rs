//! openraft's own storage conformance suite, run against our rocksdb log
//! store and state machine.

use cairn_meta::{open_store, LogStore, StateMachine, TypeConfig};
use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;

/// Builds a fresh store in a temp dir (the guard deletes it).
struct TempStore;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for TempStore {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, sm) = open_store(dir.path()).map_err(|e| e.write())?;
        Ok((dir, log, sm))
    }
}

// Checks the whole openraft storage suite (log reads, vote, truncate, purge,
// membership, apply, snapshot transfer) passes on our store.
#[test]
fn openraft_storage_suite_passes() {
    Suite::test_all(TempStore).expect("storage suite");
}
