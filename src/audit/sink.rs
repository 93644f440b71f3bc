//! Where the writer puts bytes: standard output, standard error, or a file
//! that it appends to, can cut back to its last whole group after a failed
//! write, flush to disk, and reopen after a rotation.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::chain::{self, Hasher, Link};

/// An open sink.
#[derive(Debug)]
pub enum Output {
    /// Standard output, locked for each write so that diagnostic log lines
    /// (written through the same handle) never land inside an event.
    Stdout,
    /// Standard error.
    Stderr,
    /// An append-only file and the length its whole groups end at.
    File {
        /// Where it is (reopened by name after a rotation).
        path: PathBuf,
        /// The open file.
        file: File,
        /// Bytes known written in whole lines.
        len: u64,
    },
}

impl Output {
    /// Opens `path` for appending (created `0600`), and reads where its
    /// chain ends: the link after its last audit line. A partial line at
    /// its end is a group whose write never completed (a crash): none of
    /// its requests was answered, so it is cut off, and logged.
    pub fn open_file(path: &Path, hasher: &Hasher) -> io::Result<(Output, Option<Link>)> {
        let file = open_append(path)?;
        let (link, whole) = tail(&file, hasher)?;
        let size = file.metadata()?.len();
        if whole < size {
            file.set_len(whole)?;
            tracing::warn!(
                path = %path.display(),
                bytes = size - whole,
                "audit file ended inside a line (a write cut short by a crash, never answered); cut back to its last whole event"
            );
        }
        let output = Output::File {
            path: path.to_owned(),
            file,
            len: whole,
        };
        Ok((output, link))
    }

    /// Writes whole lines.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()
            }
            Output::Stderr => io::stderr().lock().write_all(bytes),
            Output::File { file, len, .. } => {
                file.write_all(bytes)?;
                *len += bytes.len() as u64;
                Ok(())
            }
        }
    }

    /// After a failed write: cuts a file back to its last whole group, so a
    /// half-written group never stays in the trail (a pipe cannot be cut:
    /// a reader may see a partial line there).
    pub fn cut_back(&mut self) {
        if let Output::File { file, len, .. } = self {
            let _ = file.set_len(*len);
        }
    }

    /// Flushes a file's data to stable storage; nothing for a stream.
    pub fn sync(&mut self) -> io::Result<()> {
        match self {
            Output::File { file, .. } => file.sync_data(),
            _ => Ok(()),
        }
    }

    /// Reopens a file by its name (after logrotate moved it away); the old
    /// one is flushed first. Streams stay as they are.
    pub fn reopen(&mut self) -> io::Result<()> {
        if let Output::File { path, file, len } = self {
            let _ = file.sync_data();
            let new = open_append(path)?;
            *len = new.metadata()?.len();
            *file = new;
        }
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.append(true).read(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// How far back from the end a chain's last line is looked for.
const TAIL_BYTES: u64 = 1 << 20;

/// The link after the last audit line of `file` (None: it has none), and
/// the length of its whole lines.
fn tail(file: &File, hasher: &Hasher) -> io::Result<(Option<Link>, u64)> {
    let size = file.metadata()?.len();
    let start = size.saturating_sub(TAIL_BYTES);
    let mut reader = file;
    reader.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes)?;
    let (whole, end) = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(end) => (&bytes[..end], start + end as u64 + 1),
        None => (&[][..], start),
    };
    let link = whole.rsplit(|b| *b == b'\n').find_map(|line| match chain::parse(line) {
        Some(Ok(parsed)) => Some(Link {
            seq: parsed.seq,
            hash: hasher.hash(line),
        }),
        _ => None,
    });
    Ok((link, end))
}
