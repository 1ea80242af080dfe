//! The ring thread: owns one io_uring, pulls requests from a bounded channel,
//! submits them in batches, and completes each request's oneshot.
//!
//! Waking: when the thread has nothing to do it sleeps in the kernel waiting
//! for a completion. An eventfd read is always armed on the ring, so a sender
//! that finds the thread asleep (the `sleeping` flag) writes the eventfd and
//! the thread wakes to drain the channel. Senders that find it awake skip the
//! syscall, so a busy ring costs one channel send per request.
//!
//! Bounds: at most `URING_IN_FLIGHT_MAX` operations are in the kernel; the
//! rest wait in the channel (`URING_REQUESTS_MAX`), whose senders then wait.

use super::op::{Next, Request};
use super::{URING_ENTRIES, URING_IN_FLIGHT_MAX};
use io_uring::{opcode, types, IoUring};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc::{self, error::TryRecvError};

/// user_data of the eventfd read; operation slots use their index.
const WAKE_TOKEN: u64 = u64::MAX;

/// The eventfd a sender writes to wake a sleeping ring thread.
pub(crate) struct Wake {
    fd: OwnedFd,
    sleeping: AtomicBool,
}

impl Wake {
    /// Wakes the thread if it is (about to be) asleep.
    pub fn wake(&self) {
        if self.sleeping.swap(false, Ordering::SeqCst) {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live local to an eventfd we own.
            // A failure (counter overflow) still leaves the eventfd readable.
            unsafe {
                libc::write(
                    self.fd.as_raw_fd(),
                    (&one as *const u64).cast(),
                    std::mem::size_of::<u64>(),
                )
            };
        }
    }
}

/// Builds the ring on the caller's thread (so setup errors reach
/// `UringDiskIo::new`) and starts the thread that owns it.
pub(crate) fn spawn(
    rx: mpsc::Receiver<Request>,
) -> io::Result<(Arc<Wake>, std::thread::JoinHandle<()>)> {
    let ring = IoUring::new(URING_ENTRIES)?;
    // SAFETY: eventfd takes two integers and returns a new descriptor or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let wake = Arc::new(Wake {
        fd,
        sleeping: AtomicBool::new(false),
    });
    let driver = Driver {
        ring,
        rx,
        wake: wake.clone(),
        slots: Vec::new(),
        free: Vec::new(),
        in_flight: 0,
        wake_buf: Box::new([0u8; 8]),
        wake_armed: false,
        backlog: Vec::new(),
    };
    let thread = std::thread::Builder::new()
        .name("cairn-uring".into())
        .spawn(move || driver.run())?;
    Ok((wake, thread))
}

struct Driver {
    ring: IoUring,
    rx: mpsc::Receiver<Request>,
    wake: Arc<Wake>,
    /// In-flight operations by user_data; `None` slots are listed in `free`.
    slots: Vec<Option<Request>>,
    free: Vec<usize>,
    in_flight: usize,
    /// Target of the armed eventfd read; boxed so its address is stable.
    wake_buf: Box<[u8; 8]>,
    wake_armed: bool,
    /// Slots whose SQE did not fit in the submission queue yet.
    backlog: Vec<usize>,
}

/// Aborts the process if the ring thread unwinds with operations in flight:
/// freeing their buffers while the kernel may still write them is worse.
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("cairn-uring: ring thread panicked; aborting");
            std::process::abort();
        }
    }
}

impl Driver {
    fn run(mut self) {
        let _guard = AbortOnUnwind;
        let mut closed = false;
        loop {
            closed |= self.pull_requests();
            if closed && self.in_flight == 0 {
                return;
            }
            self.arm_wake();
            if !closed && self.in_flight < URING_IN_FLIGHT_MAX && self.prepare_sleep() {
                continue;
            }
            if let Err(e) = self.submit_and_wait() {
                // Only a broken ring gets here; nothing can complete anymore.
                eprintln!("cairn-uring: io_uring_enter failed: {e}; aborting");
                std::process::abort();
            }
            self.wake.sleeping.store(false, Ordering::SeqCst);
            self.reap();
        }
    }

    /// Moves requests from the channel into the ring, up to the in-flight
    /// bound. Returns whether the channel is closed.
    fn pull_requests(&mut self) -> bool {
        while self.in_flight < URING_IN_FLIGHT_MAX {
            match self.rx.try_recv() {
                Ok(req) => self.start(req),
                Err(TryRecvError::Empty) => return false,
                Err(TryRecvError::Disconnected) => return true,
            }
        }
        false
    }

    /// Announces that the thread is about to sleep, then checks the channel
    /// once more (a sender may have missed the flag). Returns true if there is
    /// new work and the thread should not sleep.
    fn prepare_sleep(&mut self) -> bool {
        self.wake.sleeping.store(true, Ordering::SeqCst);
        match self.rx.try_recv() {
            Ok(req) => {
                self.wake.sleeping.store(false, Ordering::SeqCst);
                self.start(req);
                true
            }
            Err(_) => false,
        }
    }

    fn start(&mut self, req: Request) {
        let Request { op, done } = req;
        if op.is_trivially_done() {
            let _ = done.send(Ok(op.into_done()));
            return;
        }
        let req = Request { op, done };
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        self.slots[idx] = Some(req);
        self.in_flight += 1;
        self.push(idx);
    }

    /// Queues the SQE of slot `idx`; if the submission queue is full it is
    /// submitted first, and if it is still full the slot waits in `backlog`.
    fn push(&mut self, idx: usize) {
        let Some(req) = self.slots[idx].as_mut() else {
            return;
        };
        let sqe = req.op.sqe(idx as u64);
        for _ in 0..2 {
            // SAFETY: the SQE points into buffers owned by the request in
            // `slots[idx]`, which stays there until its completion is reaped.
            if unsafe { self.ring.submission().push(&sqe) }.is_ok() {
                return;
            }
            let _ = self.ring.submit();
        }
        self.backlog.push(idx);
    }

    fn arm_wake(&mut self) {
        if self.wake_armed {
            return;
        }
        let sqe = opcode::Read::new(
            types::Fd(self.wake.fd.as_raw_fd()),
            self.wake_buf.as_mut_ptr(),
            8,
        )
        .build()
        .user_data(WAKE_TOKEN);
        // SAFETY: `wake_buf` is a boxed 8-byte buffer owned by the driver,
        // which outlives the ring's use of it (the driver exits only with
        // nothing in flight; a pending eventfd read is cancelled when the ring
        // is dropped, before `wake_buf` is).
        if unsafe { self.ring.submission().push(&sqe) }.is_ok() {
            self.wake_armed = true;
        }
    }

    /// Submits queued SQEs and waits for at least one completion, riding out
    /// `EINTR` and a completion backlog (`EBUSY`).
    fn submit_and_wait(&mut self) -> io::Result<()> {
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    fn reap(&mut self) {
        let overflow = self.ring.completion().overflow();
        assert!(
            overflow == 0,
            "io_uring completion queue overflowed ({overflow}); in-flight bound broken"
        );
        let done: Vec<(u64, i32)> = self
            .ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect();
        for (user_data, res) in done {
            if user_data == WAKE_TOKEN {
                self.wake_armed = false;
                continue;
            }
            self.complete(user_data as usize, res);
        }
        for idx in std::mem::take(&mut self.backlog) {
            self.push(idx);
        }
    }

    fn complete(&mut self, idx: usize, res: i32) {
        let Some(req) = self.slots.get_mut(idx).and_then(|s| s.as_mut()) else {
            panic!("io_uring completion for an empty slot {idx}");
        };
        match req.op.on_complete(res) {
            Next::Resubmit => self.push(idx),
            Next::Finish(result) => {
                if let Some(req) = self.slots[idx].take() {
                    let _ = req.done.send(result);
                }
                self.free.push(idx);
                self.in_flight -= 1;
            }
        }
    }
}
