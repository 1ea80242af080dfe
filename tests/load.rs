//! A Swift write load for fault tests: writer threads PUT objects whose
//! bodies are a function of their names, remember which PUTs were
//! acknowledged, and afterwards check that every acknowledged object is
//! listed and every listed object is byte-exact.

use anyhow::Result;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The body of object `name`: a function of the name, so an object whose
/// PUT was in flight at a crash can be checked too, if it exists.
pub fn body_for(name: &str) -> Vec<u8> {
    let seed = name
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let size = match seed % 8 {
        0 => 0,
        1 => rng.gen_range(1_000_000..2_500_000),
        _ => rng.gen_range(1..64 * 1024),
    };
    crate::random_bytes(&mut rng, size)
}

/// GET `url`: the body, or `None` on 404.
pub fn get_body(url: &str, token: &str) -> Result<Option<Vec<u8>>> {
    match ureq::get(url).set("X-Auth-Token", token).call() {
        Ok(resp) => {
            let mut b = Vec::new();
            resp.into_reader().read_to_end(&mut b)?;
            Ok(Some(b))
        }
        Err(ureq::Error::Status(404, _)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every object name in `storage/container`, in order.
pub fn listing(storage: &str, container: &str, token: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut marker = String::new();
    loop {
        let text = ureq::get(&format!("{storage}/{container}"))
            .query("marker", &marker)
            .set("X-Auth-Token", token)
            .call()?
            .into_string()?;
        let page: Vec<String> = text.lines().map(String::from).collect();
        match page.last() {
            Some(last) => marker = last.clone(),
            None => return Ok(names),
        }
        names.extend(page);
    }
}

/// Checks that every name in `acked` is listed in `storage/container` and
/// that every listed object reads back byte-exact. Returns how many are listed.
pub fn verify(
    storage: &str,
    container: &str,
    token: &str,
    acked: &BTreeSet<String>,
) -> Result<usize> {
    let listed = listing(storage, container, token)?;
    for name in acked {
        anyhow::ensure!(
            listed.binary_search(name).is_ok(),
            "acked {name} is not listed"
        );
    }
    for name in &listed {
        let got = get_body(&format!("{storage}/{container}/{name}"), token)?;
        let got = got.ok_or_else(|| anyhow::anyhow!("listed {name} cannot be read"))?;
        anyhow::ensure!(got == body_for(name), "{name} is not byte-exact");
    }
    Ok(listed.len())
}

/// What a load did.
#[derive(Debug)]
pub struct LoadResult {
    pub acked: BTreeSet<String>,
    /// PUTs that failed (an error status or no answer).
    pub failed: usize,
    /// The slowest PUT, acknowledged or not.
    pub slowest: Duration,
}

impl std::fmt::Display for LoadResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} acked, {} failed, slowest {:?}",
            self.acked.len(),
            self.failed,
            self.slowest
        )
    }
}

impl LoadResult {
    /// Fails unless every PUT answered within `limit`.
    pub fn ensure_slowest_below(&self, limit: Duration) -> Result<()> {
        anyhow::ensure!(self.slowest < limit, "a PUT took {:?}", self.slowest);
        Ok(())
    }
}

/// Writer threads PUTting `w<writer>-<n>` objects into one container.
pub struct WriteLoad {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<BTreeSet<String>>>,
    failed: Arc<AtomicUsize>,
    slowest: Arc<Mutex<Duration>>,
    threads: Vec<JoinHandle<()>>,
}

impl WriteLoad {
    /// Starts `writers` threads against `storage/container` (which must
    /// exist). With `keep_going`, a writer goes on after a failed PUT (a
    /// cluster fails over); without, it stops (the server is gone).
    pub fn start(
        storage: &str,
        container: &str,
        token: &str,
        writers: usize,
        keep_going: bool,
    ) -> WriteLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(BTreeSet::new()));
        let failed = Arc::new(AtomicUsize::new(0));
        let slowest = Arc::new(Mutex::new(Duration::ZERO));
        let threads = (0..writers)
            .map(|w| {
                let (stop, acked, failed, slowest) =
                    (stop.clone(), acked.clone(), failed.clone(), slowest.clone());
                let base = format!("{storage}/{container}");
                let token = token.to_owned();
                std::thread::spawn(move || {
                    let agent = ureq::AgentBuilder::new()
                        .timeout(Duration::from_secs(30))
                        .build();
                    for i in 0.. {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let name = format!("w{w}-{i:06}");
                        let began = Instant::now();
                        let r = agent
                            .put(&format!("{base}/{name}"))
                            .set("X-Auth-Token", &token)
                            .send_bytes(&body_for(&name));
                        let took = began.elapsed();
                        {
                            let mut s = slowest.lock().expect("lock");
                            *s = (*s).max(took);
                        }
                        match r {
                            Ok(resp) if resp.status() == 201 => {
                                acked.lock().expect("lock").insert(name);
                            }
                            _ => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                if !keep_going {
                                    break;
                                }
                                std::thread::sleep(Duration::from_millis(100));
                            }
                        }
                    }
                })
            })
            .collect();
        WriteLoad {
            stop,
            acked,
            failed,
            slowest,
            threads,
        }
    }

    /// How many PUTs were acknowledged so far.
    pub fn acked_count(&self) -> usize {
        self.acked.lock().expect("lock").len()
    }

    /// Stops the writers and reports.
    pub fn stop(self) -> LoadResult {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        let acked = self.acked.lock().expect("lock").clone();
        let slowest = *self.slowest.lock().expect("lock");
        LoadResult {
            acked,
            failed: self.failed.load(Ordering::Relaxed),
            slowest,
        }
    }
}
