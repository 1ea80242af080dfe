//! Group commit of the Raft log: one WAL fsync for every append that
//! arrived while the previous fsync ran.
//!
//! `append` writes its entries to rocksdb without syncing (so they are
//! readable at once) and hands the flush callback to this thread. The thread
//! takes every waiting callback, syncs the WAL once, then completes them in
//! order. The WAL is shared by all column families, so one sync covers every
//! earlier write. A failed sync is reported to openraft, which stops the
//! node: an fsync is never retried.

use std::io;
use std::thread::JoinHandle;

use openraft::storage::LogFlushed;
use tokio::sync::mpsc;

use crate::db::Db;
use crate::types::TypeConfig;

/// Appends waiting for their fsync, at most.
pub const FLUSH_QUEUE_MAX: usize = 4096;

/// Callbacks completed by one fsync, at most (bounds the tail latency of the
/// first of them).
pub const FLUSH_BATCH_MAX: usize = 1024;

/// The WAL-sync thread and its queue.
pub struct Flusher {
    tx: Option<mpsc::Sender<LogFlushed<TypeConfig>>>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    /// Starts the sync thread for `db`.
    pub fn start(db: Db) -> io::Result<Self> {
        let (tx, rx) = mpsc::channel(FLUSH_QUEUE_MAX);
        let thread = std::thread::Builder::new()
            .name("meta-wal-sync".into())
            .spawn(move || run(db, rx))?;
        Ok(Flusher {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues `callback` to run once everything written so far is durable.
    pub async fn submit(&self, callback: LogFlushed<TypeConfig>) -> io::Result<()> {
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| io::Error::other("flusher stopped"))?;
        tx.send(callback)
            .await
            .map_err(|_| io::Error::other("wal sync thread exited"))
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        // Closing the queue ends the thread after it flushed what is queued;
        // joining makes sure the database handle is released with us.
        self.tx.take();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("meta-wal-sync thread panicked");
            }
        }
    }
}

fn run(db: Db, mut rx: mpsc::Receiver<LogFlushed<TypeConfig>>) {
    let mut batch = Vec::with_capacity(FLUSH_BATCH_MAX);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < FLUSH_BATCH_MAX {
            match rx.try_recv() {
                Ok(cb) => batch.push(cb),
                Err(_) => break,
            }
        }
        let result = db.flush_wal(true);
        if let Err(e) = &result {
            tracing::error!(error = %e, "metadata WAL fsync failed");
        }
        for cb in batch.drain(..) {
            cb.log_io_completed(result.clone().map_err(|e| io::Error::other(e.to_string())));
        }
    }
}
