//! Checking a trail: every audit line of the given files, in order, must
//! continue the chain of the line before it (`seq` one more, `prev` its
//! hash). The first break is reported with its file and line. Lines that
//! are not audit events (diagnostic logs sharing a stream) are skipped:
//! removing or mangling an event still shows as a gap at the next one.
//!
//! What a chain cannot show on its own: events cut from the very end of
//! the newest file. Compare the last sequence number reported here with
//! the next file's first, or with `cfsign_audit_last_sequence`.

use std::path::{Path, PathBuf};

use super::chain::{self, Hash, Hasher, Link, Parsed};

/// The first break in a trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// The file.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong, for a human.
    pub problem: String,
}

/// An intact trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intact {
    /// Per file: its path, events, first and last `seq` (0 when none).
    pub files: Vec<(PathBuf, u64, u64, u64)>,
    /// Chains that began anew inside the files (a restart on a stream sink).
    pub restarts: Vec<(PathBuf, usize)>,
    /// The last event's `seq` and hash.
    pub last: Option<Link>,
}

/// Why a trail could not be checked at all.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct ReadError {
    /// The file.
    pub path: PathBuf,
    /// The cause.
    pub source: std::io::Error,
}

/// Checks `files`, in the order given, as one trail. With
/// `allow_restarts`, a chain that begins anew (seq 1 linked to zeros)
/// after other events is accepted and listed: a service with a stdout or
/// stderr sink starts a new chain at each start. A file sink never does.
pub fn verify(files: &[PathBuf], hasher: &Hasher, allow_restarts: bool) -> Result<Result<Intact, Break>, ReadError> {
    let mut walk = Walk {
        hasher,
        allow_restarts,
        last: None,
        last_at: None,
        intact: Intact {
            files: Vec::new(),
            restarts: Vec::new(),
            last: None,
        },
    };
    for path in files {
        let bytes = std::fs::read(path).map_err(|source| ReadError {
            path: path.clone(),
            source,
        })?;
        if let Err(problem) = walk.file(path, &bytes) {
            return Ok(Err(problem));
        }
    }
    walk.intact.last = walk.last;
    Ok(Ok(walk.intact))
}

struct Walk<'a> {
    hasher: &'a Hasher,
    allow_restarts: bool,
    last: Option<Link>,
    /// Where the last event is, for messages.
    last_at: Option<(PathBuf, usize)>,
    intact: Intact,
}

impl Walk<'_> {
    fn file(&mut self, path: &Path, bytes: &[u8]) -> Result<(), Break> {
        let at = |line: usize, problem: String| Break {
            file: path.to_owned(),
            line,
            problem,
        };
        let (mut events, mut first, mut last_seq) = (0u64, 0u64, 0u64);
        let mut lines = bytes.split(|b| *b == b'\n').enumerate().peekable();
        while let Some((index, line)) = lines.next() {
            let number = index + 1;
            let is_last = lines.peek().is_none();
            if is_last && line.is_empty() {
                break;
            }
            if is_last {
                return Err(at(
                    number,
                    "truncated: the file ends inside this line (no newline)".into(),
                ));
            }
            let parsed = match chain::parse(line) {
                None => continue,
                Some(Err(reason)) => return Err(at(number, format!("not a valid audit event: {reason}"))),
                Some(Ok(parsed)) => parsed,
            };
            self.follow(&parsed, path, number).map_err(|p| at(number, p))?;
            let link = Link {
                seq: parsed.seq,
                hash: self.hasher.hash(line),
            };
            if events == 0 {
                first = link.seq;
            }
            events += 1;
            last_seq = link.seq;
            self.last = Some(link);
            self.last_at = Some((path.to_owned(), number));
        }
        self.intact.files.push((path.to_owned(), events, first, last_seq));
        Ok(())
    }

    /// Checks that `parsed` continues the chain.
    fn follow(&mut self, parsed: &Parsed, path: &Path, number: usize) -> Result<(), String> {
        let genesis = parsed.seq == 1 && parsed.prev == [0; 32];
        if parsed.seq == 1 && !genesis {
            return Err("the first event of a chain must link to 64 zeros: it was edited".into());
        }
        let Some(last) = self.last else { return Ok(()) };
        if genesis && self.allow_restarts {
            // A new chain: a restart with a stream sink (no state to continue).
            self.intact.restarts.push((path.to_owned(), number));
            return Ok(());
        }
        if genesis {
            return Err(format!(
                "a new chain starts here after seq {} ({}): the service restarted with a stdout/stderr sink (pass --allow-restarts), or the events before it are not this trail's",
                last.seq,
                self.where_last()
            ));
        }
        let where_last = self.where_last();
        if parsed.seq <= last.seq {
            return Err(format!(
                "seq {} after seq {} ({where_last}): events reordered or repeated",
                parsed.seq, last.seq
            ));
        }
        if parsed.seq > last.seq + 1 {
            let missing = parsed.seq - last.seq - 1;
            return Err(format!(
                "seq {} follows seq {} ({where_last}): {missing} event(s) missing before this line (deleted or made unreadable)",
                parsed.seq, last.seq
            ));
        }
        if parsed.prev != last.hash {
            return Err(format!(
                "\"prev\" is not the hash of the event before ({where_last}): that event was edited, or the chain was written with another key ({})",
                describe(&parsed.prev)
            ));
        }
        Ok(())
    }

    fn where_last(&self) -> String {
        match &self.last_at {
            Some((file, line)) => format!("{}:{line}", file.display()),
            None => "-".into(),
        }
    }
}

fn describe(hash: &Hash) -> String {
    format!("prev {}…", &hex::encode(hash)[..12])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Event;

    fn trail(n: usize, hasher: &Hasher) -> Vec<u8> {
        let mut out = Vec::new();
        let mut link = Link::GENESIS;
        for i in 0..n {
            link = chain::append(&mut out, link, &Event::outage(1_000 * i as i64, "x", 0), hasher);
        }
        out
    }

    fn check(bytes: &[u8], hasher: &Hasher) -> Result<Intact, Break> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        std::fs::write(&path, bytes).unwrap();
        verify(&[path], hasher, false).unwrap()
    }

    fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    }

    fn join(lines: &[Vec<u8>]) -> Vec<u8> {
        lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect()
    }

    #[test]
    fn an_untouched_trail_is_intact() {
        let hasher = Hasher::sha256();
        let intact = check(&trail(5, &hasher), &hasher).unwrap();
        assert_eq!(intact.files[0].1, 5);
        assert_eq!(intact.last.unwrap().seq, 5);
    }

    #[test]
    fn an_edit_a_deletion_a_reorder_and_a_truncation_are_named_with_their_line() {
        let hasher = Hasher::sha256();
        let good = lines(&trail(5, &hasher));
        let mut edited = good.clone();
        edited[1] = String::from_utf8(edited[1].clone())
            .unwrap()
            .replace("\"x\"", "\"y\"")
            .into_bytes();
        assert_eq!(check(&join(&edited), &hasher).unwrap_err().line, 3);
        let mut deleted = good.clone();
        deleted.remove(2);
        let b = check(&join(&deleted), &hasher).unwrap_err();
        assert_eq!(b.line, 3);
        assert!(b.problem.contains("1 event(s) missing"), "{}", b.problem);
        let mut reordered = good.clone();
        reordered.swap(1, 2);
        let b = check(&join(&reordered), &hasher).unwrap_err();
        assert_eq!(b.line, 2);
        let mut truncated = join(&good);
        truncated.truncate(truncated.len() - 10);
        let b = check(&truncated, &hasher).unwrap_err();
        assert_eq!(b.line, 5);
        assert!(b.problem.contains("truncated"), "{}", b.problem);
    }

    #[test]
    fn a_chain_recomputed_without_the_key_does_not_verify_with_it() {
        let keyed = Hasher::keyed(vec![9; 32].into());
        let forged = trail(3, &Hasher::sha256());
        let b = check(&forged, &keyed).unwrap_err();
        assert_eq!(b.line, 2);
        assert!(check(&trail(3, &keyed), &keyed).is_ok());
    }

    #[test]
    fn a_chain_starting_anew_inside_the_trail_passes_only_when_restarts_are_allowed() {
        let hasher = Hasher::sha256();
        let mut twice = trail(2, &hasher);
        twice.extend(trail(2, &hasher));
        assert_eq!(check(&twice, &hasher).unwrap_err().line, 3);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        std::fs::write(&path, &twice).unwrap();
        let intact = verify(&[path], &hasher, true).unwrap().unwrap();
        assert_eq!(intact.restarts.len(), 1);
    }

    #[test]
    fn lines_of_other_logs_between_events_are_skipped() {
        let hasher = Hasher::sha256();
        let mut mixed = Vec::new();
        for line in lines(&trail(3, &hasher)) {
            mixed.extend_from_slice(b"{\"level\":\"INFO\",\"message\":\"x\"}\n");
            mixed.extend_from_slice(&line);
            mixed.push(b'\n');
        }
        assert_eq!(check(&mixed, &hasher).unwrap().files[0].1, 3);
    }
}
