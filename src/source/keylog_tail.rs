//! Tails an SSLKEYLOGFILE while an application keeps appending to it (`authtap capture --keylog`).
//!
//! Owns: reading only the bytes appended since the last poll, handing back complete lines, and
//! noticing when the file is replaced or truncated (then it starts over from the beginning).
//! Must not: parse or log the secrets (the `capture::keylog::KeyLog` engine parses them; key log
//! lines are secrets and never appear in any output or error).
//! Known limits: polling, not inotify (the caller polls, e.g. every 200 ms, and before deciding a
//! TLS session is undecryptable); a line longer than `MAX_LINE` is malformed: it is dropped
//! whole (up to its newline, however many polls that takes) and counted; a file that does not
//! exist yet is waited for, not an error.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Longest key log line kept while waiting for its newline (real lines are < 300 bytes).
pub const MAX_LINE: usize = 4096;
/// Most bytes read per poll; the rest is read by the next poll.
pub const MAX_READ: usize = 4 << 20;

/// What went wrong reading the key log; the path is named, the content never.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("reading key log {path} at byte {offset}: {source}")]
    Read {
        path: PathBuf,
        offset: u64,
        source: std::io::Error,
    },
}

#[derive(Debug)]
pub struct KeylogTail {
    path: PathBuf,
    offset: u64,
    /// File identity (device, inode) to notice replacement.
    ident: Option<(u64, u64)>,
    partial: Vec<u8>,
    /// Inside an over-long line: everything up to the next newline belongs to it and is dropped.
    discarding: bool,
    /// Lines dropped because they exceeded `MAX_LINE` (malformed; counted once per line).
    pub overlong_lines: u64,
    /// Times the file was truncated or replaced and re-read from the start.
    pub restarts: u64,
}

impl KeylogTail {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            offset: 0,
            ident: None,
            partial: Vec::new(),
            discarding: false,
            overlong_lines: 0,
            restarts: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Complete lines appended since the last poll (each ending in `\n`); empty when nothing new
    /// or the file does not exist (yet).
    pub fn poll(&mut self) -> Result<Vec<u8>, TailError> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(self.err(source)),
        };
        let meta = file.metadata().map_err(|e| self.err(e))?;
        let ident = file_ident(&meta);
        if self.ident.is_some_and(|i| Some(i) != ident) || meta.len() < self.offset {
            // Replaced or truncated: start over; an unfinished line belonged to the old file.
            self.offset = 0;
            self.partial.clear();
            self.discarding = false;
            self.restarts += 1;
        }
        self.ident = ident;
        if meta.len() == self.offset {
            return Ok(Vec::new());
        }
        file.seek(SeekFrom::Start(self.offset))
            .map_err(|e| self.err(e))?;
        let mut buf = Vec::new();
        let read = file
            .take(MAX_READ as u64)
            .read_to_end(&mut buf)
            .map_err(|e| self.err(e))?;
        self.offset += read as u64;
        Ok(self.split_lines(&buf))
    }

    /// Splits freshly read bytes into complete lines (returned) and an unfinished tail (kept in
    /// `partial`). A line longer than `MAX_LINE` is malformed: it is counted once in
    /// `overlong_lines` and every byte of it up to and including its newline is discarded, even
    /// when that newline arrives in a later poll.
    fn split_lines(&mut self, buf: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(buf.len() + self.partial.len());
        let mut rest = buf;
        if self.discarding {
            match rest.iter().position(|&b| b == b'\n') {
                Some(pos) => {
                    rest = rest.get(pos + 1..).unwrap_or_default();
                    self.discarding = false;
                }
                None => return out,
            }
        }
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let (line, after) = rest.split_at(pos + 1);
            // The cap applies to the content, without its line ending (LF or CRLF).
            let cr = if pos > 0 {
                rest.get(pos - 1) == Some(&b'\r')
            } else {
                self.partial.last() == Some(&b'\r')
            };
            if (self.partial.len() + pos).saturating_sub(usize::from(cr)) > MAX_LINE {
                self.overlong_lines += 1;
            } else {
                out.append(&mut self.partial);
                out.extend_from_slice(line);
            }
            self.partial.clear();
            rest = after;
        }
        self.partial.extend_from_slice(rest);
        // One byte of room for the CR of a CRLF ending; longer is over-long whatever follows.
        if self.partial.len() > MAX_LINE + 1 {
            self.partial.clear();
            self.discarding = true;
            self.overlong_lines += 1;
        }
        out
    }

    fn err(&self, source: std::io::Error) -> TailError {
        TailError::Read {
            path: self.path.clone(),
            offset: self.offset,
            source,
        }
    }
}

#[cfg(unix)]
fn file_ident(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_ident(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn follows_appends_truncation_and_replacement() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("keys.log");
        let mut tail = KeylogTail::new(&path);
        assert!(
            tail.poll().unwrap_or_default().is_empty(),
            "missing file waits"
        );

        let mut f = File::create(&path).unwrap_or_else(|e| panic!("{e}"));
        f.write_all(b"CLIENT_RANDOM aa bb\nSERVER_TRAFFIC_SECRET_0 c")
            .unwrap_or_else(|e| panic!("{e}"));
        f.flush().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tail.poll().unwrap_or_default(), b"CLIENT_RANDOM aa bb\n");
        assert!(tail.poll().unwrap_or_default().is_empty());
        f.write_all(b"c dd\r\n").unwrap_or_else(|e| panic!("{e}"));
        f.flush().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            tail.poll().unwrap_or_default(),
            b"SERVER_TRAFFIC_SECRET_0 cc dd\r\n"
        );

        // Truncated and rewritten (e.g. the app restarted with a fresh file).
        drop(f);
        std::fs::write(&path, b"X 1\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tail.poll().unwrap_or_default(), b"X 1\n");
        assert_eq!(tail.restarts, 1);

        // Replaced by a new file (rename over it), even if larger.
        let other = dir.path().join("new.log");
        std::fs::write(&other, b"Y 22222222\nZ 3\n").unwrap_or_else(|e| panic!("{e}"));
        std::fs::rename(&other, &path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tail.poll().unwrap_or_default(), b"Y 22222222\nZ 3\n");
        assert_eq!(tail.restarts, 2);
    }

    #[test]
    fn overlong_partial_line_is_dropped_and_counted() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("keys.log");
        std::fs::write(&path, vec![b'a'; MAX_LINE + 2]).unwrap_or_else(|e| panic!("{e}"));
        let mut tail = KeylogTail::new(&path);
        assert!(tail.poll().unwrap_or_default().is_empty());
        assert_eq!(tail.overlong_lines, 1);
    }

    #[test]
    fn rest_of_an_overlong_line_is_discarded_not_parsed_as_a_new_line() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("keys.log");
        let mut f = File::create(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut tail = KeylogTail::new(&path);
        f.write_all(b"A 1\n").unwrap_or_else(|e| panic!("{e}"));
        f.write_all(&vec![b'a'; MAX_LINE + 2])
            .unwrap_or_else(|e| panic!("{e}"));
        f.flush().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tail.poll().unwrap_or_default(), b"A 1\n");
        assert_eq!(tail.overlong_lines, 1);
        // More of the same line, still without its newline: nothing, and not counted again.
        f.write_all(b"CLIENT_RANDOM still the old line")
            .unwrap_or_else(|e| panic!("{e}"));
        f.flush().unwrap_or_else(|e| panic!("{e}"));
        assert!(tail.poll().unwrap_or_default().is_empty());
        // The over-long line ends; only the lines after it come out.
        f.write_all(b" 00\nB 2\nC 3")
            .unwrap_or_else(|e| panic!("{e}"));
        f.flush().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tail.poll().unwrap_or_default(), b"B 2\n");
        assert_eq!(tail.overlong_lines, 1);
        f.write_all(b"\n").unwrap_or_else(|e| panic!("{e}"));
        f.flush().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tail.poll().unwrap_or_default(), b"C 3\n");
    }

    #[test]
    fn complete_overlong_line_within_one_read_is_dropped() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("keys.log");
        let mut text = b"A 1\n".to_vec();
        text.extend(vec![b'x'; MAX_LINE + 1]);
        text.extend_from_slice(b"\n");
        let exact = vec![b'y'; MAX_LINE];
        text.extend_from_slice(&exact);
        text.extend_from_slice(b"\r\nB 2\n");
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{e}"));
        let mut tail = KeylogTail::new(&path);
        let mut want = b"A 1\n".to_vec();
        want.extend_from_slice(&exact);
        want.extend_from_slice(b"\r\nB 2\n");
        assert_eq!(tail.poll().unwrap_or_default(), want);
        assert_eq!(tail.overlong_lines, 1);
    }
}
