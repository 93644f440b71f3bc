//! The diagnostic log's writer: lines are appended to a bounded buffer in
//! memory and written by one thread, in batches.
//!
//! Why not `tracing_appender::non_blocking`: it hands every line to its
//! writer thread through a channel, so under load each request woke that
//! thread once and cost one `write(2)` for its access line. The flame graph
//! of a signature-cache hit had 14 % of its samples in that thread and most
//! of the futex time beside it. Here the thread is woken only when the
//! buffer goes from empty to non-empty, then lingers [`LINGER`] so the lines
//! of the requests in flight go out together.
//!
//! What stays the same: a stalled or slow stdout never blocks a thread that
//! answers requests (a full buffer drops lines and counts them), and lines
//! are whole: each `write(2)` is at most `PIPE_BUF` bytes and ends at a line
//! end, so on a pipe shared with the audit trail no line is split by another
//! writer.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long the writer waits after the first line of a batch, for the rest.
const LINGER: Duration = Duration::from_millis(2);
/// Bytes held at most; past this, lines are dropped (and counted).
const CAPACITY: usize = 8 << 20;
/// Largest write that a pipe takes whole (POSIX `PIPE_BUF` on Linux).
const PIPE_BUF: usize = 4096;

#[derive(Debug, Default)]
struct Shared {
    lines: Mutex<Vec<u8>>,
    waiting: Condvar,
    closed: AtomicBool,
    dropped: AtomicU64,
}

/// Where the subscriber writes: cheap to clone, never blocks on the output.
#[derive(Debug, Clone)]
pub struct BatchWriter {
    shared: Arc<Shared>,
}

/// How long dropping the guard waits for the buffered lines to be written:
/// a stdout nobody reads must not keep the process from exiting.
const FLUSH_AT_EXIT: Duration = Duration::from_secs(1);

/// Keeps the writer thread running; dropping it writes what is buffered
/// (waiting at most [`FLUSH_AT_EXIT`]).
#[derive(Debug)]
pub struct BatchGuard {
    shared: Arc<Shared>,
    finished: std::sync::mpsc::Receiver<()>,
}

impl BatchWriter {
    /// A writer whose lines a new thread writes to `out`.
    pub fn new<W: Write + Send + 'static>(out: W) -> (Self, BatchGuard) {
        let shared = Arc::new(Shared::default());
        let (done, finished) = std::sync::mpsc::channel();
        {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("cfsign-log".into())
                .spawn(move || {
                    write_batches(&shared, out);
                    let _ = done.send(());
                })
                .expect("cannot start the log writer thread");
        }
        let guard = BatchGuard {
            shared: Arc::clone(&shared),
            finished,
        };
        (Self { shared }, guard)
    }

    /// Lines dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl Shared {
    /// Appends one formatted event (tracing-subscriber writes each event
    /// whole), or drops it when the buffer is full.
    fn push(&self, line: &[u8]) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() + line.len() > CAPACITY {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let was_empty = lines.is_empty();
        lines.extend_from_slice(line);
        drop(lines);
        if was_empty {
            self.waiting.notify_one();
        }
    }
}

impl Write for BatchWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.shared.push(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The writer of one event: a borrow of the buffer. Not a clone of
/// [`BatchWriter`]: that would add and drop a reference on the one count
/// all threads share, for every line (a cache line bouncing between cores).
#[derive(Debug)]
pub struct BatchLine<'a>(&'a Shared);

impl Write for BatchLine<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.0.push(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = BatchLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        BatchLine(&self.shared)
    }
}

impl Drop for BatchGuard {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.waiting.notify_one();
        // A writer blocked on a full pipe stays blocked: leave it behind.
        let _ = self.finished.recv_timeout(FLUSH_AT_EXIT);
    }
}

/// The writer thread: sleep until a line comes, linger, write what came.
fn write_batches<W: Write>(shared: &Shared, mut out: W) {
    let mut batch = Vec::new();
    loop {
        {
            let mut lines = shared.lines.lock().unwrap_or_else(|e| e.into_inner());
            while lines.is_empty() && !shared.closed.load(Ordering::Acquire) {
                lines = shared.waiting.wait(lines).unwrap_or_else(|e| e.into_inner());
            }
            if lines.is_empty() {
                return;
            }
        }
        if !shared.closed.load(Ordering::Acquire) {
            std::thread::sleep(LINGER);
        }
        std::mem::swap(&mut batch, &mut *shared.lines.lock().unwrap_or_else(|e| e.into_inner()));
        // A failed write (closed stdout, full disk) loses these lines only:
        // the diagnostic log is lossy by design; the audit trail is not.
        for chunk in whole_lines(&batch, PIPE_BUF) {
            if out.write_all(chunk).is_err() {
                break;
            }
        }
        let _ = out.flush();
        batch.clear();
        batch.shrink_to(CAPACITY / 64);
    }
}

/// `bytes` cut into pieces of at most `max` bytes, each ending at a `\n`
/// (a line longer than `max` is one piece of its own).
fn whole_lines(bytes: &[u8], max: usize) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let window = &rest[..rest.len().min(max)];
        let end = match window.iter().rposition(|b| *b == b'\n') {
            Some(i) if rest.len() > max => i + 1,
            _ if rest.len() <= max => rest.len(),
            // One line longer than `max`: up to its end.
            _ => rest.iter().position(|b| *b == b'\n').map_or(rest.len(), |i| i + 1),
        };
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_written_together_arrive_whole_in_order_and_in_few_writes() {
        let out = Capture::default();
        let (writer, guard) = BatchWriter::new(out.clone());
        let lines: Vec<String> = (0..500)
            .map(|i| format!("{{\"line\":{i},\"pad\":\"{}\"}}\n", "x".repeat(i % 97)))
            .collect();
        for line in &lines {
            writer.clone().write_all(line.as_bytes()).unwrap();
        }
        drop(guard);
        let writes = out.0.lock().unwrap();
        assert_eq!(writes.concat(), lines.concat().into_bytes(), "every line, in order");
        assert!(
            writes.iter().all(|w| w.len() <= PIPE_BUF && w.ends_with(b"\n")),
            "whole lines, pipe-atomic writes"
        );
        assert!(
            writes.len() < lines.len() / 5,
            "{} writes for {} lines",
            writes.len(),
            lines.len()
        );
    }

    #[test]
    fn pieces_end_at_line_ends_and_a_long_line_is_its_own_piece() {
        let long = format!("{}\n", "y".repeat(10));
        let text = format!("ab\ncd\n{long}e\n");
        let pieces: Vec<&[u8]> = whole_lines(text.as_bytes(), 7).collect();
        assert_eq!(pieces, [&b"ab\ncd\n"[..], long.as_bytes(), b"e\n"]);
        assert_eq!(whole_lines(b"no newline", 4).collect::<Vec<_>>(), [&b"no newline"[..]]);
        assert_eq!(whole_lines(b"", 4).count(), 0);
    }

    #[test]
    fn a_stalled_output_never_blocks_the_logging_thread() {
        struct Stalled(std::sync::mpsc::Receiver<()>);
        impl Write for Stalled {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                let _ = self.0.recv();
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (_release, stalled) = std::sync::mpsc::channel::<()>();
        let (writer, guard) = BatchWriter::new(Stalled(stalled));
        let line = vec![b'z'; 1 << 16];
        let started = std::time::Instant::now();
        for _ in 0..(2 * CAPACITY / line.len()) {
            writer.clone().write_all(&line).unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            writer.dropped() > 0,
            "lines past the capacity are dropped, not waited for"
        );
        // Nor does exiting wait for an output that never drains.
        let exiting = std::time::Instant::now();
        drop(guard);
        assert!(exiting.elapsed() < FLUSH_AT_EXIT + Duration::from_secs(2));
    }
}
