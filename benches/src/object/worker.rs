//! One connection's worker: it claims operations from the phase's gate,
//! builds each request for its API, sends it on its own keep-alive
//! connection and counts the outcome. The same worker (and connection)
//! runs the prepare, warm-up, measured and cleanup phases in turn.

use super::api::ObjectApi;
use super::conn::{BodyMode, HttpClient, Reply};
use super::layout::Layout;
use super::multipart::{self, Upload};
use super::wire::Request;
use super::workload::{ObjectOp, Workload};
use crate::driver::{Gate, WorkerOutcome};
use crate::stats::ErrorKind;
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Names per listing page.
pub const LIST_PAGE_NAMES: usize = 1000;

/// What every worker of a run shares.
#[derive(Debug)]
pub struct RunShared {
    pub layout: Layout,
    pub workload: Workload,
    /// Bodies are slices of this (pre-generated, never per request).
    pub data: Bytes,
    /// The next prepared object the `delete` workload deletes.
    pub next_delete: AtomicU64,
}

/// The objects left to delete at cleanup: (container, name).
pub type DeleteList = Arc<Vec<(String, String)>>;

pub struct Worker {
    id: usize,
    pub http: HttpClient,
    pub api: ObjectApi,
    rng: StdRng,
    /// How many objects this worker has written (the next name's number).
    written: u64,
    /// Objects this worker wrote and may delete (`mixed` with deletes).
    own: VecDeque<(usize, u64)>,
}

/// How one operation ended.
enum Step {
    Done(u64),
    Failed(ErrorKind),
    /// Nothing left to do (the `delete` workload ran out of objects).
    Exhausted,
}

impl From<Result<u64, ErrorKind>> for Step {
    fn from(r: Result<u64, ErrorKind>) -> Step {
        match r {
            Ok(bytes) => Step::Done(bytes),
            Err(kind) => Step::Failed(kind),
        }
    }
}

impl Worker {
    pub fn new(id: usize, api: ObjectApi, timeout: Duration, seed: u64) -> Worker {
        let http = HttpClient::new(&api.endpoint().authority, timeout);
        Worker {
            id,
            http,
            api,
            rng: StdRng::seed_from_u64(seed.wrapping_add(id as u64)),
            written: 0,
            own: VecDeque::new(),
        }
    }

    /// Sends a request whose answer must be a 2xx; returns it.
    async fn call(&mut self, req: Request, mode: BodyMode) -> Result<Reply, ErrorKind> {
        self.http.call(req, mode).await?.success()
    }

    /// The warm-up or measured loop: operations of the workload until the gate closes.
    pub async fn measure(mut self, gate: Arc<Gate>, sh: Arc<RunShared>) -> (Worker, WorkerOutcome) {
        let mut out = WorkerOutcome::default();
        while gate.claim().is_some() {
            let op = self.choose(&sh.workload);
            let start = Instant::now();
            match self.execute(op, &sh).await {
                Step::Done(bytes) => out.success(&gate, op.name(), bytes, start.elapsed()),
                Step::Failed(kind) => out.failure(&gate, op.name(), kind),
                Step::Exhausted => break,
            }
        }
        out.requests = std::mem::take(&mut self.http.requests);
        (self, out)
    }

    /// The next operation; in `mixed`, a delete with nothing of this
    /// worker's own to delete becomes a put.
    fn choose(&mut self, workload: &Workload) -> ObjectOp {
        match workload.pick(&mut self.rng) {
            ObjectOp::Delete if matches!(workload, Workload::Mixed(_)) && self.own.is_empty() => {
                ObjectOp::Put
            }
            op => op,
        }
    }

    async fn execute(&mut self, op: ObjectOp, sh: &RunShared) -> Step {
        match op {
            ObjectOp::Put => self.put(sh).await.into(),
            ObjectOp::Get => self.get(sh).await.into(),
            ObjectOp::Delete => self.delete(sh).await,
            ObjectOp::List => self.list(sh).await.into(),
            ObjectOp::Multipart => self.multipart(sh).await.into(),
        }
    }

    async fn put(&mut self, sh: &RunShared) -> Result<u64, ErrorKind> {
        let seq = self.written;
        self.written += 1;
        let (c, name) = sh.layout.written(self.id, seq);
        let size = sh.layout.size().sample(&mut self.rng);
        let req = self.api.put(
            sh.layout.container(c),
            &name,
            sh.data.slice(..size as usize),
        );
        self.call(req, BodyMode::Discard).await?;
        if let Workload::Mixed(mix) = &sh.workload {
            if mix.contains(ObjectOp::Delete) {
                self.own.push_back((c, seq));
            }
        }
        Ok(size)
    }

    /// Reads a random prepared object and checks its length.
    async fn get(&mut self, sh: &RunShared) -> Result<u64, ErrorKind> {
        let j = self.rng.gen_range(0..sh.layout.prepared_count());
        let (c, name) = sh.layout.prepared(j);
        let req = self.api.get(sh.layout.container(c), &name);
        let reply = self.call(req, BodyMode::Discard).await?;
        if reply.body_len != sh.layout.prepared_size(j) {
            return Err(ErrorKind::Verification);
        }
        Ok(reply.body_len)
    }

    async fn delete(&mut self, sh: &RunShared) -> Step {
        let (container, name) = if matches!(sh.workload, Workload::Mixed(_)) {
            match self.own.pop_front() {
                Some((c, seq)) => (c, sh.layout.written(self.id, seq).1),
                None => return Step::Exhausted,
            }
        } else {
            let j = sh.next_delete.fetch_add(1, Ordering::Relaxed);
            if j >= sh.layout.prepared_count() {
                return Step::Exhausted;
            }
            sh.layout.prepared(j)
        };
        let req = self.api.delete(sh.layout.container(container), &name);
        Step::from(self.call(req, BodyMode::Discard).await.map(|_| 0))
    }

    /// One listing page of a random container.
    async fn list(&mut self, sh: &RunShared) -> Result<u64, ErrorKind> {
        let c = self.rng.gen_range(0..sh.layout.container_count());
        let req = self.api.list(sh.layout.container(c), None, LIST_PAGE_NAMES);
        Ok(self.call(req, BodyMode::Discard).await?.body_len)
    }

    async fn multipart(&mut self, sh: &RunShared) -> Result<u64, ErrorKind> {
        let Workload::Multipart { part_bytes } = sh.workload else {
            return Err(ErrorKind::Protocol);
        };
        let seq = self.written;
        self.written += 1;
        let (c, name) = sh.layout.written(self.id, seq);
        let size = sh.layout.size().sample(&mut self.rng);
        let upload = Upload {
            container: sh.layout.container(c),
            segments: sh.layout.segments(c),
            name: &name,
            size,
            part: part_bytes,
            data: &sh.data,
        };
        multipart::upload(&mut self.http, &mut self.api, upload).await?;
        Ok(size)
    }

    /// Writes prepared objects as the gate hands out their numbers.
    pub async fn prepare(mut self, gate: Arc<Gate>, sh: Arc<RunShared>) -> (Worker, WorkerOutcome) {
        let mut out = WorkerOutcome::default();
        while let Some(j) = gate.claim() {
            let (c, name) = sh.layout.prepared(j);
            let size = sh.layout.prepared_size(j);
            let start = Instant::now();
            let req = self.api.put(
                sh.layout.container(c),
                &name,
                sh.data.slice(..size as usize),
            );
            match self.call(req, BodyMode::Discard).await {
                Ok(_) => out.success(&gate, "prepare", size, start.elapsed()),
                Err(kind) => out.failure(&gate, "prepare", kind),
            }
        }
        out.requests = std::mem::take(&mut self.http.requests);
        (self, out)
    }

    /// Deletes the listed objects as the gate hands out their positions.
    pub async fn delete_listed(
        mut self,
        gate: Arc<Gate>,
        list: DeleteList,
    ) -> (Worker, WorkerOutcome) {
        let mut out = WorkerOutcome::default();
        while let Some(i) = gate.claim() {
            let Some((container, name)) = list.get(i as usize) else {
                break;
            };
            let start = Instant::now();
            let req = self.api.delete(container, name);
            match self.call(req, BodyMode::Discard).await {
                Ok(_) => out.success(&gate, "cleanup", 0, start.elapsed()),
                Err(kind) => out.failure(&gate, "cleanup", kind),
            }
        }
        out.requests = std::mem::take(&mut self.http.requests);
        (self, out)
    }

    /// Every object name in `container`, page by page.
    pub async fn list_all(&mut self, container: &str) -> Result<Vec<String>, ErrorKind> {
        let mut names = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let req = self.api.list(container, next.as_deref(), LIST_PAGE_NAMES);
            let reply = self.call(req, BodyMode::Keep).await?;
            let page = self
                .api
                .parse_listing(&reply.body, LIST_PAGE_NAMES)
                .ok_or(ErrorKind::Protocol)?;
            names.extend(page.names);
            match page.next {
                Some(n) => next = Some(n),
                None => return Ok(names),
            }
        }
    }

    /// Sends one setup or teardown request (create or delete a container).
    pub async fn send(&mut self, req: Request) -> Result<(), ErrorKind> {
        self.call(req, BodyMode::Discard).await.map(|_| ())
    }
}
