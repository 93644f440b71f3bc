//! The signing pool: RSA/ECDSA work runs on dedicated OS threads, at most
//! `workers` at once, with at most `queue_depth` more waiting. Past that,
//! callers get [`IssueError::Overloaded`] at once (HTTP 503 + `Retry-After`)
//! instead of an ever-growing queue.
//!
//! Why dedicated threads rather than `spawn_blocking` behind a semaphore: a
//! worker that finishes a signature takes the next job straight from the
//! queue, with no round trip through the async runtime (semaphore wake-up,
//! then a task poll, then a blocking-pool hand-off). On a two-core machine
//! that round trip left a core idle for a third of the time at saturation.
//! Workers also run at a lower scheduling priority (`nice`) than the
//! reactor, so accepting connections, answering 503s and health checks
//! never waits behind a busy signer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_channel::{Receiver, Sender};
use tokio::sync::oneshot;

use super::error::IssueError;

/// A unit of signing work: runs once on a worker thread.
type Job = Box<dyn FnOnce() + Send>;

/// Bounded execution of CPU-bound signing jobs.
#[derive(Debug)]
pub struct SigningPool {
    jobs: Sender<Job>,
    counters: Arc<Counters>,
    capacity: usize,
    workers: usize,
}

/// Shared between the pool's handle and its workers.
#[derive(Debug, Default)]
struct Counters {
    /// Jobs admitted and not yet finished (running or waiting).
    in_flight: AtomicUsize,
    /// Jobs refused since start.
    rejected: AtomicU64,
    /// Jobs skipped because their caller had gone before a worker got to them.
    abandoned: AtomicU64,
}

/// A point-in-time view of the pool, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Worker threads.
    pub workers: usize,
    /// Jobs admitted (running or waiting).
    pub in_flight: usize,
    /// Jobs refused since start.
    pub rejected: u64,
    /// Jobs dropped unsigned because the caller had already gone.
    pub abandoned: u64,
}

/// Decrements `in_flight` when a job ends, however it ends (a panic included).
struct Admission(Arc<Counters>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How many steps nicer than the service the worker threads run, so the
/// runtime thread (accepting, 503s, health checks) preempts them.
const WORKER_NICE: i32 = 5;

impl SigningPool {
    /// A pool of `workers` threads (0 = one per core) and `queue_depth` waiting slots.
    ///
    /// The threads end when the pool is dropped (its queue closes).
    pub fn new(workers: usize, queue_depth: usize) -> Self {
        let workers = if workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            workers
        };
        let capacity = workers + queue_depth;
        // Admission is counted before sending, so the channel never fills.
        let (jobs, queue) = crossbeam_channel::bounded::<Job>(capacity);
        for n in 0..workers {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("cfsign-sign-{n}"))
                .spawn(move || work(&queue))
                .expect("cannot start a signing thread");
        }
        Self {
            jobs,
            counters: Arc::new(Counters::default()),
            capacity,
            workers,
        }
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Runs `job` on a worker thread, or refuses at once when full.
    ///
    /// If the caller stops waiting (client gone, request timed out) before a
    /// worker picks the job up, the job is skipped: no RSA work for a caller who has gone.
    pub async fn run<T, F>(&self, job: F) -> Result<T, IssueError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let admission = self.admit()?;
        let (answer, result) = oneshot::channel();
        let counters = Arc::clone(&self.counters);
        let task: Job = Box::new(move || {
            // Locals drop in reverse order, also when `job` panics: the slot
            // is freed before the caller learns the outcome.
            let answer = answer;
            let admission = admission;
            if answer.is_closed() {
                counters.abandoned.fetch_add(1, Ordering::Relaxed);
                return;
            }
            // A panic unwinds this closure only: the caller sees an internal
            // error and the worker goes on.
            let value = job();
            // Free the slot before answering, so a caller that is answered
            // never sees its own job still counted.
            drop(admission);
            let _ = answer.send(value);
        });
        self.jobs
            .try_send(task)
            .map_err(|_| IssueError::Internal("signing pool closed".into()))?;
        result
            .await
            .map_err(|_| IssueError::Internal("signing job failed".into()))
    }

    /// Takes a slot, or counts a refusal.
    fn admit(&self) -> Result<Admission, IssueError> {
        let taken = self.counters.in_flight.fetch_add(1, Ordering::AcqRel);
        let admission = Admission(Arc::clone(&self.counters));
        if taken >= self.capacity {
            self.counters.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(IssueError::Overloaded);
        }
        Ok(admission)
    }

    /// Current occupancy and refusals.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            workers: self.workers,
            in_flight: self.counters.in_flight.load(Ordering::Acquire).min(self.capacity),
            rejected: self.counters.rejected.load(Ordering::Relaxed),
            abandoned: self.counters.abandoned.load(Ordering::Relaxed),
        }
    }
}

/// A worker's life: lower its priority, then run jobs until the pool is gone.
fn work(queue: &Receiver<Job>) {
    lower_priority();
    while let Ok(job) = queue.recv() {
        // Keep the worker alive across a panicking job (its caller gets a 500).
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

/// Makes this thread `WORKER_NICE` steps nicer than it was (Linux schedules
/// threads individually). Raising niceness never needs privileges; failure
/// only costs latency, so it is ignored.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: nice() only changes the calling thread's scheduling priority.
    unsafe {
        libc::nice(WORKER_NICE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[tokio::test]
    async fn refuses_beyond_capacity_instead_of_queueing() {
        let pool = Arc::new(SigningPool::new(1, 1));
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
        let mut held = Vec::new();
        for _ in 0..2 {
            let pool = Arc::clone(&pool);
            let rx = Arc::clone(&release_rx);
            held.push(tokio::spawn(async move {
                pool.run(move || rx.lock().unwrap().recv().ok()).await
            }));
        }
        // Wait until both slots are taken.
        while pool.stats().in_flight < 2 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(pool.run(|| ()).await, Err(IssueError::Overloaded)));
        assert_eq!(pool.stats().rejected, 1);
        assert_eq!(pool.stats().in_flight, 2, "a refusal must give its slot back");
        for _ in 0..2 {
            release_tx.send(()).unwrap();
        }
        for h in held {
            assert!(h.await.unwrap().is_ok());
        }
        assert_eq!(pool.stats().in_flight, 0);
        assert_eq!(pool.run(|| 7).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_worker_survives() {
        let pool = SigningPool::new(1, 0);
        let failed = pool.run(|| -> u8 { panic!("boom") }).await;
        assert!(matches!(failed, Err(IssueError::Internal(_))));
        assert_eq!(pool.run(|| 1).await.unwrap(), 1);
        assert_eq!(pool.stats().in_flight, 0);
    }

    #[tokio::test]
    async fn a_job_whose_caller_left_is_not_run() {
        let pool = Arc::new(SigningPool::new(1, 1));
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let blocker = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.run(move || release_rx.recv().ok()).await })
        };
        while pool.stats().in_flight < 1 {
            tokio::task::yield_now().await;
        }
        let ran = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&ran);
        // Queue a job behind the blocker, then give up on it.
        let gave_up = tokio::time::timeout(
            Duration::from_millis(20),
            pool.run(move || counted.fetch_add(1, Ordering::SeqCst)),
        )
        .await;
        assert!(gave_up.is_err(), "the job cannot have run while the worker was held");
        release_tx.send(()).unwrap();
        assert!(blocker.await.unwrap().is_ok());
        // The worker is free again; once it has drained the queue, nothing ran.
        assert_eq!(pool.run(|| ()).await.ok(), Some(()));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        assert_eq!(pool.stats().abandoned, 1);
        assert_eq!(pool.stats().in_flight, 0);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn workers_run_below_the_reactor_priority() {
        let pool = SigningPool::new(2, 0);
        // Each worker lowers its own priority first thing; a job proves it started.
        assert_eq!(pool.run(|| ()).await.ok(), Some(()));
        let nice_of = |dir: &std::path::Path| -> Option<i64> {
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            // Field 19 (nice), counted after the parenthesised command name.
            stat.rsplit_once(')')?.1.split_whitespace().nth(16)?.parse().ok()
        };
        let own = nice_of(std::path::Path::new("/proc/thread-self")).unwrap();
        let niceness: Vec<i64> = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|task| {
                let dir = task.ok()?.path();
                let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
                comm.starts_with("cfsign-sign-").then_some(())?;
                nice_of(&dir)
            })
            .collect();
        assert!(!niceness.is_empty(), "no signing thread found");
        let expected = (own + i64::from(WORKER_NICE)).min(19);
        assert!(niceness.contains(&expected), "own {own}, workers {niceness:?}");
    }
}
