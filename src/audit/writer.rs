//! The writer thread: group commit. It takes every event waiting, chains
//! them into one buffer, writes it with one call (and one `fsync` with
//! `fsync = "always"`), then releases the answers waiting for them. An
//! event whose request stopped waiting before its group was taken is not
//! written. After a failed write the file is cut back to its last whole
//! group, the waiting requests are refused at once, and the writer retries
//! with a growing pause by writing an `audit_outage` event: when that
//! succeeds the sink is accepting again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::chain::{self, Hasher, Link};
use super::event::{Event, now_ms};
use super::queue::Queue;
use super::sink::Output;
use crate::config::Fsync;

/// Pauses between attempts after a failure: from the first to the last.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_LAST: Duration = Duration::from_secs(1);

/// What the writer is asked to do, in order.
pub(super) enum Message {
    /// Events of one request, written together; `ack` (when someone waits)
    /// gets `true` once they are written.
    Events(Vec<Event>, Option<oneshot::Sender<bool>>),
    /// Reopen the file by name (after a rotation).
    Reopen(oneshot::Sender<std::io::Result<()>>),
    /// Flush and stop.
    Close(oneshot::Sender<()>),
}

/// What requests and readiness read of the writer's state.
#[derive(Debug)]
pub(super) struct Health {
    epoch: Instant,
    /// Milliseconds since `epoch` (+1) when the write in progress began; 0: idle.
    write_started: AtomicU64,
    failed: AtomicBool,
    max_wait: Duration,
    /// Requests answered 503 `audit_unavailable`, and events dropped (best effort).
    pub refused: AtomicU64,
    pub dropped: AtomicU64,
    /// The last sequence number written.
    pub last_seq: AtomicU64,
}

impl Health {
    pub fn new(max_wait: Duration, link: Link) -> Self {
        Self {
            epoch: Instant::now(),
            write_started: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            max_wait,
            refused: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            last_seq: AtomicU64::new(link.seq),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Whether the sink takes events: no failed write outstanding, and no
    /// write that has been blocked longer than `max_wait` (a stalled pipe).
    pub fn accepting(&self) -> bool {
        if self.failed.load(Ordering::Relaxed) {
            return false;
        }
        let started = self.write_started.load(Ordering::Relaxed);
        started == 0 || self.now().saturating_sub(started) <= self.max_wait.as_millis() as u64
    }
}

/// An outage not yet recorded in the trail.
struct Outage {
    since_ms: i64,
    cause: String,
    refused_before: u64,
    dropped_before: u64,
}

/// The writer's own state.
pub(super) struct Writer {
    pub output: Output,
    pub link: Link,
    pub hasher: Hasher,
    pub fsync: Fsync,
    pub fsync_interval: Duration,
    pub health: Arc<Health>,
    outage: Option<Outage>,
    unsynced: bool,
    last_sync: Instant,
    retry: Duration,
    buf: Vec<u8>,
}

impl Writer {
    pub fn new(
        output: Output,
        link: Link,
        hasher: Hasher,
        fsync: Fsync,
        interval: Duration,
        health: Arc<Health>,
    ) -> Self {
        Self {
            output,
            link,
            hasher,
            fsync,
            fsync_interval: interval,
            health,
            outage: None,
            unsynced: false,
            last_sync: Instant::now(),
            retry: RETRY_FIRST,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// Runs until `Close`, or until the queue is closed (every handle
    /// dropped) and drained.
    pub fn run(mut self, queue: Arc<Queue>) {
        let mut messages = Vec::new();
        loop {
            let open = queue.take(&mut messages, self.wait());
            if messages.is_empty() {
                if !open {
                    break;
                }
                self.tick();
                continue;
            }
            let mut group = Vec::new();
            for message in messages.drain(..) {
                match message {
                    Message::Events(events, ack) => group.push((events, ack)),
                    Message::Reopen(done) => {
                        self.commit(std::mem::take(&mut group));
                        let _ = done.send(self.output.reopen());
                    }
                    Message::Close(done) => {
                        self.commit(std::mem::take(&mut group));
                        let _ = self.output.sync();
                        queue.close();
                        let _ = done.send(());
                        return;
                    }
                }
            }
            self.commit(group);
            // Under steady load the queue is never empty long enough to
            // time out: the interval is checked after every group too.
            self.tick();
        }
        let _ = self.output.sync();
    }

    /// How long to wait for the next message: until the next retry after
    /// a failure, the next interval `fsync`, or (idle) a while.
    fn wait(&self) -> Duration {
        if self.outage.is_some() {
            return self.retry;
        }
        if self.unsynced && self.fsync == Fsync::Interval {
            return self.fsync_interval.saturating_sub(self.last_sync.elapsed());
        }
        Duration::from_secs(3600)
    }

    /// Between groups: retry after a failure, or flush when the interval is up.
    fn tick(&mut self) {
        if self.outage.is_some() {
            self.record_outage();
        } else if self.unsynced && self.last_sync.elapsed() >= self.fsync_interval {
            self.sync_now();
        }
    }

    fn sync_now(&mut self) {
        match self.output.sync() {
            Ok(()) => {
                self.unsynced = false;
                self.last_sync = Instant::now();
            }
            Err(e) => self.failed(&e),
        }
    }

    /// Writes one group and releases (or refuses) its waiters.
    fn commit(&mut self, group: Vec<(Vec<Event>, Option<oneshot::Sender<bool>>)>) {
        if group.is_empty() {
            return;
        }
        if self.outage.is_some() && !self.record_outage() {
            self.refuse(group);
            return;
        }
        self.buf.clear();
        let mut link = self.link;
        let mut taken = Vec::with_capacity(group.len());
        let mut counts = Counts::default();
        for (events, ack) in group {
            // Its request stopped waiting and was refused: not written.
            if ack.as_ref().is_some_and(oneshot::Sender::is_closed) {
                continue;
            }
            for event in &events {
                link = chain::append(&mut self.buf, link, event, &self.hasher);
                counts.add(event.event);
            }
            taken.push((events.len(), ack));
        }
        if taken.is_empty() {
            return;
        }
        let before = (
            self.health.refused.load(Ordering::Relaxed),
            self.health.dropped.load(Ordering::Relaxed),
        );
        match self.write_buf() {
            Ok(took) => {
                self.link = link;
                self.health.last_seq.store(link.seq, Ordering::Relaxed);
                counts.publish();
                crate::metrics::audit_write(took);
                for (_, ack) in taken {
                    if let Some(ack) = ack {
                        let _ = ack.send(true);
                    }
                }
                if took > self.health.max_wait {
                    // Requests were refused while this write was blocked.
                    let cause = format!("the sink blocked a write for {} ms", took.as_millis());
                    self.begin_outage(&cause, took, before);
                    self.record_outage();
                }
            }
            Err(e) => {
                let lost: usize = taken.iter().filter(|(_, ack)| ack.is_none()).map(|(n, _)| n).sum();
                self.lose(lost as u64);
                // Dropping the acks answers their requests at once.
                drop(taken);
                self.failed(&e);
            }
        }
    }

    /// Writes `buf` (and syncs with `fsync = "always"`); on failure cuts a
    /// file back so no partial group stays.
    fn write_buf(&mut self) -> std::io::Result<Duration> {
        let started = Instant::now();
        self.health.write_started.store(self.health.now(), Ordering::Relaxed);
        let mut result = self.output.write(&self.buf);
        if result.is_ok() && self.fsync == Fsync::Always {
            result = self.output.sync();
        }
        self.health.write_started.store(0, Ordering::Relaxed);
        match result {
            Ok(()) => {
                if self.fsync != Fsync::Always {
                    self.unsynced = true;
                }
                Ok(started.elapsed())
            }
            Err(e) => {
                self.output.cut_back();
                Err(e)
            }
        }
    }

    fn failed(&mut self, error: &std::io::Error) {
        if self.outage.is_none() {
            tracing::error!(error = %error, "audit sink failed; signing requests are refused until it accepts again");
            let before = (
                self.health.refused.load(Ordering::Relaxed),
                self.health.dropped.load(Ordering::Relaxed),
            );
            self.begin_outage(&error.to_string(), Duration::ZERO, before);
            self.health.failed.store(true, Ordering::Relaxed);
        }
    }

    /// An outage that began `ago`, when `before` requests had been refused
    /// and events dropped.
    fn begin_outage(&mut self, cause: &str, ago: Duration, before: (u64, u64)) {
        self.outage = Some(Outage {
            since_ms: now_ms() - ago.as_millis() as i64,
            cause: cause.to_owned(),
            refused_before: before.0,
            dropped_before: before.1,
        });
        self.retry = RETRY_FIRST;
    }

    /// Writes the pending `audit_outage` event; `true` once it is written.
    fn record_outage(&mut self) -> bool {
        let Some(outage) = &self.outage else { return true };
        let refused = self.health.refused.load(Ordering::Relaxed) - outage.refused_before;
        let dropped = self.health.dropped.load(Ordering::Relaxed) - outage.dropped_before;
        let mut event = Event::outage(outage.since_ms, &outage.cause, refused);
        event.dropped = (dropped > 0).then_some(dropped);
        self.buf.clear();
        let link = chain::append(&mut self.buf, self.link, &event, &self.hasher);
        match self.write_buf() {
            Ok(_) => {
                self.link = link;
                self.health.last_seq.store(link.seq, Ordering::Relaxed);
                crate::metrics::audit_events("audit_outage", 1);
                self.outage = None;
                self.health.failed.store(false, Ordering::Relaxed);
                tracing::info!(refused, "audit sink accepting again");
                true
            }
            Err(_) => {
                self.retry = (self.retry * 2).min(RETRY_LAST);
                false
            }
        }
    }

    /// Refuses a group while the sink is failed: waiters are answered at
    /// once (their acks dropped), best-effort events are counted lost.
    fn refuse(&mut self, group: Vec<(Vec<Event>, Option<oneshot::Sender<bool>>)>) {
        let lost: usize = group
            .iter()
            .filter(|(_, ack)| ack.is_none())
            .map(|(e, _)| e.len())
            .sum();
        self.lose(lost as u64);
    }

    fn lose(&self, events: u64) {
        if events > 0 {
            self.health.dropped.fetch_add(events, Ordering::Relaxed);
            crate::metrics::audit_dropped(events);
        }
    }
}

/// Events written in one group, by kind, for `cfsign_audit_events_total`.
#[derive(Default)]
struct Counts {
    issued: u64,
    denied: u64,
}

impl Counts {
    fn add(&mut self, event: &str) {
        match event {
            "issued" => self.issued += 1,
            _ => self.denied += 1,
        }
    }

    fn publish(&self) {
        crate::metrics::audit_events("issued", self.issued);
        crate::metrics::audit_events("denied", self.denied);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(fsync: Fsync, interval: Duration) -> (tempfile::TempDir, Writer) {
        let dir = tempfile::tempdir().unwrap();
        let hasher = Hasher::sha256();
        let (output, _) = Output::open_file(&dir.path().join("a.jsonl"), &hasher).unwrap();
        let health = Arc::new(Health::new(Duration::from_secs(1), Link::GENESIS));
        (dir, Writer::new(output, Link::GENESIS, hasher, fsync, interval, health))
    }

    fn group() -> Vec<(Vec<Event>, Option<oneshot::Sender<bool>>)> {
        vec![(vec![Event::outage(0, "x", 0)], None)]
    }

    #[test]
    fn a_tick_after_each_group_syncs_once_the_interval_is_up() {
        let (_dir, mut w) = writer(Fsync::Interval, Duration::from_millis(20));
        let started = w.last_sync;
        let deadline = Instant::now() + Duration::from_millis(100);
        // Groups back to back, never an idle timeout: as `run` does.
        while Instant::now() < deadline {
            w.commit(group());
            w.tick();
        }
        assert!(
            w.last_sync > started,
            "no fsync in 100 ms of groups with a 20 ms interval"
        );
        assert_eq!(w.health.last_seq.load(Ordering::Relaxed), w.link.seq);
    }

    #[test]
    fn fsync_always_leaves_nothing_unsynced_and_acks_after_the_write() {
        let (_dir, mut w) = writer(Fsync::Always, Duration::from_secs(1));
        let (ack, mut acked) = oneshot::channel();
        w.commit(vec![(vec![Event::outage(0, "x", 0)], Some(ack))]);
        assert!(!w.unsynced);
        assert_eq!(acked.try_recv(), Ok(true));
    }
}
