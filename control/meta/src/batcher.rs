//! Write batching: concurrent mutations become one Raft entry.
//!
//! openraft 0.9's core waits for each log append to be flushed before it
//! takes the next client write, so one entry per request would cost one
//! fsync per request. Instead, requests queue here; while
//! `BATCHES_IN_FLIGHT_MAX` batches are being committed the queue fills, and
//! the next batch takes everything waiting (up to `WRITE_BATCH_MAX`) as a
//! single `Request::Batch` entry: one append, one fsync, one apply batch.

use std::sync::Arc;
use std::time::Duration;

use cairn_meta_api::MetaError;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::types::{MetaRaft, Reply, Request};

/// Requests waiting to be batched, at most (senders wait beyond).
pub const WRITE_QUEUE_MAX: usize = 8192;
/// Requests in one Raft entry, at most.
pub const WRITE_BATCH_MAX: usize = 256;
/// Batches submitted to Raft and not yet answered, at most.
pub const BATCHES_IN_FLIGHT_MAX: usize = 2;

type Answer = oneshot::Sender<Result<Reply, MetaError>>;

/// The queue in front of `client_write`.
pub struct Batcher {
    tx: mpsc::Sender<(Request, Answer)>,
}

impl Batcher {
    /// Starts the batching task for `raft`; a batch that is not answered
    /// within `timeout` fails with `Unavailable`.
    pub fn start(raft: MetaRaft, timeout: Duration) -> Self {
        let (tx, rx) = mpsc::channel(WRITE_QUEUE_MAX);
        tokio::spawn(run(raft, rx, timeout));
        Batcher { tx }
    }

    /// Commits `req` (in some batch) and returns its reply.
    pub async fn submit(&self, req: Request) -> Result<Reply, MetaError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send((req, tx))
            .await
            .map_err(|_| MetaError::Unavailable("metadata writer stopped".into()))?;
        rx.await
            .map_err(|_| MetaError::Unavailable("metadata writer dropped the request".into()))?
    }
}

async fn run(raft: MetaRaft, mut rx: mpsc::Receiver<(Request, Answer)>, timeout: Duration) {
    let in_flight = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT_MAX));
    while let Some(first) = rx.recv().await {
        // Waiting for a slot is what lets the queue fill into a batch.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < WRITE_BATCH_MAX {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            commit(&raft, batch, timeout).await;
            drop(permit);
        });
    }
}

/// Commits one batch and answers each of its requests.
async fn commit(raft: &MetaRaft, batch: Vec<(Request, Answer)>, timeout: Duration) {
    let (reqs, answers): (Vec<Request>, Vec<Answer>) = batch.into_iter().unzip();
    let single = reqs.len() == 1;
    let entry = if single {
        reqs.into_iter()
            .next()
            .unwrap_or(Request::Batch(Vec::new()))
    } else {
        Request::Batch(reqs)
    };
    let result = match tokio::time::timeout(timeout, raft.client_write(entry)).await {
        Err(_) => Err(MetaError::Unavailable(format!(
            "no commit within {} ms",
            timeout.as_millis()
        ))),
        Ok(Err(e)) => Err(crate::node::write_error(e, "write")),
        Ok(Ok(resp)) => Ok(resp.data),
    };
    match (result, single) {
        (Err(e), _) => answers
            .into_iter()
            .for_each(|a| drop(a.send(Err(e.clone())))),
        (Ok(reply), true) => answers
            .into_iter()
            .for_each(|a| drop(a.send(Ok(reply.clone())))),
        (Ok(Reply::Batch(replies)), false) if replies.len() == answers.len() => {
            answers
                .into_iter()
                .zip(replies)
                .for_each(|(a, r)| drop(a.send(Ok(r))));
        }
        (Ok(other), false) => {
            let e = MetaError::Storage(format!("batch answered with {other:?}"));
            answers
                .into_iter()
                .for_each(|a| drop(a.send(Err(e.clone()))));
        }
    }
}
