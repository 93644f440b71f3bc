//! The hand-off from requests to the writer thread: a bounded list behind
//! a mutex, taken whole by the writer. A request pays one uncontended lock
//! and, only when the writer is asleep, one wake-up; while the writer is
//! busy writing a group, the next group simply piles up (no system call
//! per event). Measured against a crossbeam channel, whose receiver spins
//! and yields before it sleeps and whose every send woke it: see README,
//! Performance.
//!
//! A request that finds the writer asleep may also put off waking it to
//! the end of the runtime's current round of ready tasks ([`Queue::push_deferred`]):
//! the requests answered in that round then go out as one group, in one
//! write, with one wake-up, instead of one wake-up and one write each.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::writer::Message;

/// A bounded, many-producer, one-consumer list of messages.
#[derive(Debug)]
pub(super) struct Queue {
    state: Mutex<State>,
    wake: Condvar,
    capacity: usize,
}

#[derive(Debug, Default)]
struct State {
    messages: Vec<Message>,
    /// Events among `messages` (control messages do not count).
    events: usize,
    writer_asleep: bool,
    /// A [`PendingWake`] is out: pushes need not wake the writer.
    wake_pending: bool,
    closed: bool,
}

/// The duty to wake the writer, taken by the first push after it fell
/// asleep: done by [`PendingWake::wake`], or on drop, so a request that is
/// cancelled while it holds it cannot leave the writer asleep.
#[must_use = "the writer sleeps until this is woken or dropped"]
pub(super) struct PendingWake<'q>(Option<&'q Queue>);

impl PendingWake<'_> {
    /// Wakes the writer now.
    pub fn wake(mut self) {
        if let Some(queue) = self.0.take() {
            queue.wake();
        }
    }
}

impl Drop for PendingWake<'_> {
    fn drop(&mut self) {
        if let Some(queue) = self.0.take() {
            queue.wake();
        }
    }
}

impl Queue {
    /// A queue of at most `capacity` event submissions.
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves only a list of messages.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `message`; handed back when the queue is closed, and events
    /// also when it is full (control messages are taken whenever open).
    pub fn push(&self, message: Message) -> Result<(), Message> {
        let mut state = self.lock();
        let is_events = matches!(message, Message::Events(..));
        if state.closed || (is_events && state.events >= self.capacity) {
            return Err(message);
        }
        state.events += usize::from(is_events);
        state.messages.push(message);
        let wake = state.writer_asleep;
        drop(state);
        if wake {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// As [`Queue::push`], but when the writer must be woken, hands that
    /// duty to the caller, who can first let other requests add theirs.
    /// Only the first push after the writer fell asleep gets one.
    pub fn push_deferred(&self, message: Message) -> Result<Option<PendingWake<'_>>, Message> {
        let mut state = self.lock();
        if state.closed || state.events >= self.capacity {
            return Err(message);
        }
        state.events += usize::from(matches!(message, Message::Events(..)));
        state.messages.push(message);
        let duty = state.writer_asleep && !state.wake_pending;
        state.wake_pending |= duty;
        drop(state);
        // Not `then_some`: a duty built and dropped here would wake the writer.
        Ok(duty.then(|| PendingWake(Some(self))))
    }

    fn wake(&self) {
        let mut state = self.lock();
        state.wake_pending = false;
        let asleep = state.writer_asleep;
        drop(state);
        if asleep {
            self.wake.notify_one();
        }
    }

    /// Moves every waiting message into `into`, sleeping up to `timeout`
    /// for one. `false` once the queue is closed and empty.
    pub fn take(&self, into: &mut Vec<Message>, timeout: Duration) -> bool {
        let mut state = self.lock();
        if state.messages.is_empty() && !state.closed {
            state.writer_asleep = true;
            state = self
                .wake
                .wait_timeout_while(state, timeout, |s| s.messages.is_empty() && !s.closed)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            state.writer_asleep = false;
            state.wake_pending = false;
        }
        std::mem::swap(into, &mut state.messages);
        state.events = 0;
        !(state.closed && into.is_empty())
    }

    /// No more messages: the writer finishes what is queued and stops (or,
    /// called by the writer as it stops, what is left is dropped, which
    /// answers its waiters).
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_one();
    }

    /// Event submissions waiting.
    pub fn len(&self) -> usize {
        self.lock().events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> Message {
        Message::Events(Vec::new(), None)
    }

    #[test]
    fn events_beyond_the_capacity_are_refused_and_control_messages_are_not() {
        let queue = Queue::new(2);
        assert!(queue.push(events()).is_ok() && queue.push(events()).is_ok());
        assert!(queue.push(events()).is_err(), "a third event submission");
        let (done, _) = tokio::sync::oneshot::channel();
        assert!(
            queue.push(Message::Reopen(done)).is_ok(),
            "control messages pass a full queue"
        );
        assert_eq!(queue.len(), 2);
        let mut taken = Vec::new();
        assert!(queue.take(&mut taken, Duration::ZERO));
        assert_eq!((taken.len(), queue.len()), (3, 0));
        assert!(queue.push(events()).is_ok(), "room again once taken");
    }

    /// A writer thread counting what it takes, one group at a time.
    fn writer(queue: &std::sync::Arc<Queue>) -> std::thread::JoinHandle<Vec<usize>> {
        let queue = std::sync::Arc::clone(queue);
        std::thread::spawn(move || {
            let mut taken = Vec::new();
            let mut groups = Vec::new();
            while queue.take(&mut taken, Duration::from_secs(30)) {
                groups.push(taken.len());
                taken.clear();
            }
            groups
        })
    }

    /// Waits until the writer has taken everything and sleeps again.
    fn asleep(queue: &Queue) {
        while !(queue.lock().writer_asleep && queue.lock().messages.is_empty()) {
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_deferred_wake_gathers_the_pushes_before_it_into_one_group() {
        let queue = std::sync::Arc::new(Queue::new(8));
        let groups = writer(&queue);
        asleep(&queue);
        let duty = queue
            .push_deferred(events())
            .unwrap()
            .expect("the first push takes the duty");
        for _ in 0..3 {
            assert!(queue.push_deferred(events()).unwrap().is_none(), "one duty at a time");
        }
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(queue.len(), 4, "nothing taken before the wake");
        duty.wake();
        asleep(&queue);
        // A duty dropped unused (its request was cancelled) still wakes.
        drop(queue.push_deferred(events()).unwrap());
        asleep(&queue);
        queue.close();
        assert_eq!(groups.join().unwrap(), [4, 1]);
    }

    #[test]
    fn a_sleeping_writer_is_woken_by_a_push_and_stops_once_closed_and_drained() {
        let queue = std::sync::Arc::new(Queue::new(8));
        let writer = {
            let queue = std::sync::Arc::clone(&queue);
            std::thread::spawn(move || {
                let mut taken = Vec::new();
                let mut seen = 0;
                while queue.take(&mut taken, Duration::from_secs(30)) {
                    seen += taken.len();
                    taken.clear();
                }
                seen
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        queue.push(events()).unwrap();
        queue.push(events()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        queue.close();
        assert!(queue.push(events()).is_err(), "closed");
        assert_eq!(writer.join().unwrap(), 2);
    }
}
