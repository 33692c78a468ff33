//! TLS key material: SSLKEYLOGFILE text (draft-ietf-tls-keylogfile) and the same text carried in
//! pcapng Decryption Secrets Blocks (`TLSK`).
//!
//! Owns: parsing key log lines into a table keyed by the 32-byte ClientHello random.
//! Must not: print, log or format any secret. `Debug` shows only counts; the secrets live in
//! `Secret`, whose `Debug` prints a length and nothing else.
//! Limits: at most `MAX_SESSIONS` client randoms are kept (further lines are counted in
//! `dropped_over_cap`). Labels we do not use (EXPORTER_SECRET, ECH_*, legacy `RSA`) are
//! accepted as valid lines but not stored (counted in `ignored_labels`).

use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, Read};

/// Cap on distinct client randoms kept in one `KeyLog`.
pub const MAX_SESSIONS: usize = 1_000_000;
/// Longest key log line read from a file (real lines are < 300 bytes); longer ones are malformed.
pub const MAX_LINE: usize = 4096;

/// What one key log file gave (see [`KeyLog::add_reader`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Lines stored (their label is one the TLS layer uses).
    pub accepted: u64,
    /// Lines that are not key log lines (wrong field count, bad hex, over `MAX_LINE` bytes).
    pub malformed: u64,
    /// Valid lines with a label the TLS layer does not need.
    pub ignored: u64,
}

/// A secret byte string. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

/// Everything a key log says about one TLS session (one client random).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionKeys {
    /// TLS ≤ 1.2 master secret (48 bytes), label `CLIENT_RANDOM`.
    pub master_secret: Option<Secret>,
    pub client_early: Option<Secret>,
    pub client_handshake: Option<Secret>,
    pub server_handshake: Option<Secret>,
    pub client_traffic0: Option<Secret>,
    pub server_traffic0: Option<Secret>,
}

impl SessionKeys {
    pub fn has_any(&self) -> bool {
        self.master_secret.is_some()
            || self.client_early.is_some()
            || self.client_handshake.is_some()
            || self.server_handshake.is_some()
            || self.client_traffic0.is_some()
            || self.server_traffic0.is_some()
    }
}

/// Key log entries indexed by client random.
#[derive(Default)]
pub struct KeyLog {
    /// Lines that could not be parsed (wrong field count, bad hex, wrong random length).
    pub skipped_lines: u64,
    /// Valid lines with a label we do not need (EXPORTER_SECRET, ECH_*, RSA ...).
    pub ignored_labels: u64,
    /// Lines dropped because `MAX_SESSIONS` was reached.
    pub dropped_over_cap: u64,
    sessions: HashMap<[u8; 32], SessionKeys>,
    /// Bumped whenever a line is accepted, so holders of pending data know when to retry.
    generation: u64,
}

impl fmt::Debug for KeyLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyLog")
            .field("sessions", &self.sessions.len())
            .field("skipped_lines", &self.skipped_lines)
            .field("ignored_labels", &self.ignored_labels)
            .field("dropped_over_cap", &self.dropped_over_cap)
            .finish()
    }
}

/// Why one key log line was rejected (used for counting; never carries the secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyLogLineError {
    #[error("key log line {line}: expected `LABEL CLIENT_RANDOM SECRET` (3 fields)")]
    FieldCount { line: usize },
    #[error("key log line {line}: client random is not 64 hex digits")]
    BadRandom { line: usize },
    #[error("key log line {line}: secret is not an even number of hex digits")]
    BadSecret { line: usize },
    #[error("key log line {line}: secret has {len} bytes, expected {expected}")]
    SecretLength {
        line: usize,
        len: usize,
        expected: &'static str,
    },
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn parse_hex(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || s.is_empty() {
        return None;
    }
    s.chunks_exact(2)
        .map(|p| match p {
            [a, b] => Some(hex_val(*a)? << 4 | hex_val(*b)?),
            _ => None,
        })
        .collect()
}

enum Slot {
    Master,
    ClientEarly,
    ClientHs,
    ServerHs,
    Client0,
    Server0,
}

impl KeyLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add SSLKEYLOGFILE-format text (LF or CRLF, `#` comments). Returns lines accepted.
    pub fn add_text(&mut self, text: &[u8]) -> usize {
        let mut accepted = 0;
        // Lines end in LF, CRLF or a lone CR.
        for (i, raw) in text.split(|&b| b == b'\n' || b == b'\r').enumerate() {
            match self.add_line(raw, i + 1) {
                Ok(true) => accepted += 1,
                Ok(false) => {}
                Err(_) => self.skipped_lines += 1,
            }
        }
        accepted
    }

    /// Add every line of a key log stream, one line in memory at a time (a line over
    /// [`MAX_LINE`] bytes is skipped to its end and counted as malformed), and say what it gave.
    pub fn add_reader(&mut self, mut reader: impl BufRead) -> io::Result<Loaded> {
        let (skipped, ignored) = (self.skipped_lines, self.ignored_labels);
        let mut loaded = Loaded::default();
        let mut line = Vec::with_capacity(256);
        // One byte over the cap (plus a CR) tells an over-long line from a full one.
        let limit = MAX_LINE as u64 + 2;
        for number in 1.. {
            line.clear();
            if reader.by_ref().take(limit).read_until(b'\n', &mut line)? == 0 {
                break;
            }
            if !line.ends_with(b"\n") && line.len() as u64 == limit {
                reader.skip_until(b'\n')?;
            }
            let content = line.strip_suffix(b"\n").unwrap_or(&line);
            if content.strip_suffix(b"\r").unwrap_or(content).len() > MAX_LINE {
                self.skipped_lines += 1;
                continue;
            }
            match self.add_line(&line, number) {
                Ok(true) => loaded.accepted += 1,
                Ok(false) => {}
                Err(_) => self.skipped_lines += 1,
            }
        }
        loaded.malformed = self.skipped_lines - skipped;
        loaded.ignored = self.ignored_labels - ignored;
        Ok(loaded)
    }

    /// Parse one line. `Ok(true)` when stored, `Ok(false)` for blank/comment/ignored label.
    pub fn add_line(&mut self, raw: &[u8], line: usize) -> Result<bool, KeyLogLineError> {
        let trimmed = trim(raw);
        if trimmed.is_empty() || trimmed.first() == Some(&b'#') {
            return Ok(false);
        }
        let mut fields = trimmed
            .split(|b| *b == b' ' || *b == b'\t')
            .filter(|f| !f.is_empty());
        let (label, random, secret) = match (fields.next(), fields.next(), fields.next()) {
            (Some(l), Some(r), Some(s)) => (l, r, s),
            _ => return Err(KeyLogLineError::FieldCount { line }),
        };
        if fields.next().is_some() {
            return Err(KeyLogLineError::FieldCount { line });
        }
        let slot = match label {
            b"CLIENT_RANDOM" => Slot::Master,
            b"CLIENT_EARLY_TRAFFIC_SECRET" => Slot::ClientEarly,
            b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" => Slot::ClientHs,
            b"SERVER_HANDSHAKE_TRAFFIC_SECRET" => Slot::ServerHs,
            b"CLIENT_TRAFFIC_SECRET_0" => Slot::Client0,
            b"SERVER_TRAFFIC_SECRET_0" => Slot::Server0,
            _ => {
                // Known-but-unused labels and unknown labels alike: still validate shape.
                if random.len() != 64 && label != b"RSA" {
                    return Err(KeyLogLineError::BadRandom { line });
                }
                self.ignored_labels += 1;
                return Ok(false);
            }
        };
        let random: [u8; 32] = parse_hex(random)
            .and_then(|v| v.try_into().ok())
            .ok_or(KeyLogLineError::BadRandom { line })?;
        let secret = parse_hex(secret).ok_or(KeyLogLineError::BadSecret { line })?;
        match slot {
            Slot::Master if secret.len() != 48 => {
                return Err(KeyLogLineError::SecretLength {
                    line,
                    len: secret.len(),
                    expected: "48",
                })
            }
            Slot::Master => {}
            _ if secret.len() != 32 && secret.len() != 48 => {
                return Err(KeyLogLineError::SecretLength {
                    line,
                    len: secret.len(),
                    expected: "32 or 48",
                })
            }
            _ => {}
        }
        if !self.sessions.contains_key(&random) && self.sessions.len() >= MAX_SESSIONS {
            self.dropped_over_cap += 1;
            return Ok(false);
        }
        let entry = self.sessions.entry(random).or_default();
        let secret = Some(Secret(secret));
        match slot {
            Slot::Master => entry.master_secret = secret,
            Slot::ClientEarly => entry.client_early = secret,
            Slot::ClientHs => entry.client_handshake = secret,
            Slot::ServerHs => entry.server_handshake = secret,
            Slot::Client0 => entry.client_traffic0 = secret,
            Slot::Server0 => entry.server_traffic0 = secret,
        }
        self.generation += 1;
        Ok(true)
    }

    /// Secrets for the session whose ClientHello carried `client_random`.
    pub fn lookup(&self, client_random: &[u8; 32]) -> Option<&SessionKeys> {
        self.sessions.get(client_random)
    }

    /// Number of distinct client randoms known.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Changes whenever a line is accepted (lets pending sessions retry cheaply).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Merge another key log into this one (later secrets win).
    pub fn merge(&mut self, other: &KeyLog) {
        for (random, keys) in &other.sessions {
            if !self.sessions.contains_key(random) && self.sessions.len() >= MAX_SESSIONS {
                self.dropped_over_cap += 1;
                continue;
            }
            let e = self.sessions.entry(*random).or_default();
            let pairs = [
                (&mut e.master_secret, &keys.master_secret),
                (&mut e.client_early, &keys.client_early),
                (&mut e.client_handshake, &keys.client_handshake),
                (&mut e.server_handshake, &keys.server_handshake),
                (&mut e.client_traffic0, &keys.client_traffic0),
                (&mut e.server_traffic0, &keys.server_traffic0),
            ];
            for (dst, src) in pairs {
                if src.is_some() {
                    dst.clone_from(src);
                }
            }
            self.generation += 1;
        }
        self.skipped_lines += other.skipped_lines;
        self.ignored_labels += other.ignored_labels;
    }
}

/// Is `raw` a key log line (not blank, not a comment) that [`KeyLog::add_line`] accepts, stored
/// or with a label it does not use? Used to recognise a key log given where a capture was expected.
pub fn is_keylog_line(raw: &[u8]) -> bool {
    let line = trim(raw);
    !line.is_empty() && !line.starts_with(b"#") && KeyLog::new().add_line(line, 1).is_ok()
}

fn trim(mut s: &[u8]) -> &[u8] {
    // A UTF-8 BOM is not allowed by the draft but editors write one; tolerate it.
    if let Some(rest) = s.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        s = rest;
    }
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const R1: &str = "0101010101010101010101010101010101010101010101010101010101010101";

    #[test]
    fn parses_all_labels_crlf_comments_and_case() {
        let ms = "AB".repeat(48);
        let s32 = "cd".repeat(32);
        let text = format!(
            "# comment\r\nCLIENT_RANDOM {R1} {ms}\r\n\r\nCLIENT_HANDSHAKE_TRAFFIC_SECRET {R1} {s32}\n\
             SERVER_HANDSHAKE_TRAFFIC_SECRET {R1} {s32}\nCLIENT_TRAFFIC_SECRET_0 {R1} {s32}\n\
             SERVER_TRAFFIC_SECRET_0 {R1} {s32}\nCLIENT_EARLY_TRAFFIC_SECRET {R1} {s32}\n\
             EXPORTER_SECRET {R1} {s32}"
        );
        let mut kl = KeyLog::new();
        assert_eq!(kl.add_text(text.as_bytes()), 6);
        assert_eq!(kl.skipped_lines, 0);
        assert_eq!(kl.ignored_labels, 1);
        let k = kl.lookup(&[1u8; 32]).expect("session");
        assert_eq!(k.master_secret.as_ref().map(|s| s.bytes()[0]), Some(0xab));
        assert!(k.client_early.is_some() && k.server_traffic0.is_some());
    }

    #[test]
    fn bad_lines_are_counted_not_fatal() {
        let text = format!(
            "CLIENT_RANDOM {R1}\nCLIENT_RANDOM zz {}\nCLIENT_RANDOM {R1} abc\nCLIENT_RANDOM {R1} {}\nCLIENT_RANDOM {R1} {}",
            "00".repeat(48),
            "00".repeat(10),
            "00".repeat(48)
        );
        let mut kl = KeyLog::new();
        assert_eq!(kl.add_text(text.as_bytes()), 1);
        assert_eq!(kl.skipped_lines, 4);
    }

    #[test]
    fn a_reader_is_read_line_by_line_and_summarised() {
        let line = format!("CLIENT_RANDOM {R1} {}", "00".repeat(48));
        let long = "x".repeat(MAX_LINE * 3);
        let text = format!(
            "# SSL/TLS secrets log file\n{line}\r\nnot a key log line\n{long}\nEXPORTER_SECRET {R1} {}\n{}",
            "11".repeat(32),
            line.replace(&R1[..2], "02")
        );
        let mut kl = KeyLog::new();
        let got = kl.add_reader(std::io::BufReader::with_capacity(64, text.as_bytes()));
        assert_eq!(
            got.expect("in memory"),
            Loaded {
                accepted: 2,
                malformed: 2,
                ignored: 1
            }
        );
        assert_eq!(kl.len(), 2, "the last line has no newline and still counts");
        // A line exactly at the cap is still read; one byte more is malformed.
        let at_cap = format!("{line}{}", " ".repeat(MAX_LINE - line.len()));
        let over = format!("{at_cap} ");
        let mut kl = KeyLog::new();
        let got = kl.add_reader(format!("{at_cap}\r\n{over}\n").as_bytes());
        assert_eq!((got.expect("ok").accepted, kl.skipped_lines), (1, 1));
        let mut kl = KeyLog::new();
        assert_eq!(kl.add_reader(over.as_bytes()).expect("ok").malformed, 1);
    }

    #[test]
    fn debug_never_shows_secrets() {
        let secret = "5e".repeat(48);
        let mut kl = KeyLog::new();
        kl.add_text(format!("CLIENT_RANDOM {R1} {secret}").as_bytes());
        let dbg = format!("{kl:?} {:?}", kl.lookup(&[1u8; 32]));
        assert!(!dbg.to_lowercase().contains("5e5e5e"), "{dbg}");
        assert!(dbg.contains("redacted"));
    }
}
