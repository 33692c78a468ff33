//! Tails an SSLKEYLOGFILE while an application keeps appending to it (`authtap capture --keylog`).
//!
//! Owns: reading only the bytes appended since the last poll, handing back complete lines, and
//! noticing when the file is replaced or truncated (then it starts over from the beginning).
//! Must not: parse or log the secrets (the `capture::keylog::KeyLog` engine parses them; key log
//! lines are secrets and never appear in any output or error).
//! Known limits: polling, not inotify (the caller polls, e.g. every 200 ms, and before deciding a
//! TLS session is undecryptable); a line longer than `MAX_LINE` without a newline is dropped and
//! counted; a file that does not exist yet is waited for, not an error.

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
    /// Lines dropped because they exceeded `MAX_LINE`.
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
        let mut out = Vec::with_capacity(buf.len() + self.partial.len());
        let last_nl = buf.iter().rposition(|&b| b == b'\n');
        match last_nl {
            Some(pos) => {
                out.append(&mut self.partial);
                out.extend_from_slice(&buf[..=pos]);
                self.partial.extend_from_slice(&buf[pos + 1..]);
            }
            None => self.partial.extend_from_slice(&buf),
        }
        if self.partial.len() > MAX_LINE {
            self.partial.clear();
            self.overlong_lines += 1;
        }
        Ok(out)
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
        std::fs::write(&path, vec![b'a'; MAX_LINE + 1]).unwrap_or_else(|e| panic!("{e}"));
        let mut tail = KeylogTail::new(&path);
        assert!(tail.poll().unwrap_or_default().is_empty());
        assert_eq!(tail.overlong_lines, 1);
    }
}
