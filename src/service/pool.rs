//! The signing pool: RSA/ECDSA work runs on blocking threads, at most
//! `workers` at once, with at most `queue_depth` more waiting. Past that,
//! callers get [`IssueError::Overloaded`] at once (HTTP 503 + `Retry-After`)
//! instead of an ever-growing queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Semaphore;

use super::error::IssueError;

/// Bounded execution of CPU-bound signing jobs.
#[derive(Debug)]
pub struct SigningPool {
    admitted: Arc<Semaphore>,
    running: Arc<Semaphore>,
    capacity: usize,
    workers: usize,
    rejected: AtomicU64,
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
}

impl SigningPool {
    /// A pool of `workers` threads (0 = one per core) and `queue_depth` waiting slots.
    pub fn new(workers: usize, queue_depth: usize) -> Self {
        let workers = if workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            workers
        };
        let capacity = workers + queue_depth;
        Self {
            admitted: Arc::new(Semaphore::new(capacity)),
            running: Arc::new(Semaphore::new(workers)),
            capacity,
            workers,
            rejected: AtomicU64::new(0),
        }
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Runs `job` on a blocking thread, or refuses at once when full.
    pub async fn run<T, F>(&self, job: F) -> Result<T, IssueError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let Ok(admitted) = Arc::clone(&self.admitted).try_acquire_owned() else {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(IssueError::Overloaded);
        };
        let running = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|_| IssueError::Internal("signing pool closed".into()))?;
        tokio::task::spawn_blocking(move || {
            let _slots = (admitted, running);
            job()
        })
        .await
        .map_err(|e| IssueError::Internal(format!("signing job failed: {e}")))
    }

    /// Current occupancy and refusals.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            workers: self.workers,
            in_flight: self.capacity - self.admitted.available_permits(),
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

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
        for _ in 0..2 {
            release_tx.send(()).unwrap();
        }
        for h in held {
            assert!(h.await.unwrap().is_ok());
        }
        assert_eq!(pool.stats().in_flight, 0);
        assert!(pool.run(|| 7).await.is_ok());
    }
}
