//! Passive TLS decryption of one TCP connection: record layer, hello parsing, key setup from a
//! `KeyLog`, and record decryption for TLS 1.2 and 1.3.
//!
//! Owns: `TlsConn`, a sans-I/O state machine fed with reassembled stream bytes of both
//! directions (`push(dir, bytes, ts, keys)`) that yields plaintext per direction, session facts
//! and, when it cannot decrypt, exactly one `Undecryptable` reason.
//! Must not: read files or clocks, or let secrets reach any output (facts carry none).
//! Limits: at most `PENDING_CAP` bytes of encrypted records are held while waiting for keys
//! (keys from a later DSB or a key log added later); beyond that the session is reported as
//! undecryptable. Records that break the framing stop that direction (counted as `desync`).
//! SSL 3.0 and export/IDEA/SEED/CCM suites are reported as unsupported.
//! Renegotiated sessions keep the first keys (renegotiated records then fail and are counted).
//! A TLS 1.3 key log caught between its two application secrets (a live key log read while the
//! client is still writing it) leaves one direction without keys: that direction's records are
//! held the same way until the key log grows, and counted as failed if it never does.

pub mod cipher;
pub mod handshake;
pub mod keys;
pub mod session;

use super::keylog::{KeyLog, SessionKeys};
use super::Dir;
use crate::model::Micros;
use cipher::RecordCipher;
use handshake::{ClientHello, Message, Reassembler, ServerHello};
use keys::Suite;
use std::collections::VecDeque;

/// ServerHello.random of a HelloRetryRequest (re-exported for tests and generators).
pub use handshake::HRR_RANDOM as HANDSHAKE_HRR_RANDOM;

/// Largest record body accepted (RFC 5246 §6.2.3: 2^14 + 2048).
pub const MAX_RECORD: usize = 16384 + 2048;
/// Encrypted bytes held per connection while keys are not (yet) known. Worst case over a
/// capture: the TCP table's connection cap × this.
pub const PENDING_CAP: usize = 256 * 1024;
/// After this many records failed in a row with nothing decrypted, give up on the session.
pub const MAX_FAILURES_BEFORE_GIVING_UP: u64 = 16;

/// Why a session is not decrypted. Counted and reported, never silent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Undecryptable {
    #[error("no key for this session's client random in the key log")]
    NoKey,
    #[error("unsupported cipher suite 0x{0:04x}")]
    UnsupportedSuite(u16),
    #[error("unsupported protocol version 0x{0:04x}")]
    UnsupportedVersion(u16),
    #[error("handshake not captured (encrypted records without ClientHello/ServerHello)")]
    HandshakeNotCaptured,
    #[error("no ServerHello captured; the session never got to encrypted data")]
    NoServerHello,
    #[error("bad record MAC/auth tag: {0} records failed to decrypt (wrong key?)")]
    BadRecords(u64),
    #[error("held more than {0} bytes of encrypted records while waiting for keys")]
    PendingOverflow(usize),
    #[error("the key log has no {0} for this session, so that direction was not decrypted")]
    MissingSecret(&'static str),
    #[error("TLS record framing lost in the {0} stream at byte {1}")]
    Desync(&'static str, u64),
}

/// Facts about the session (no secrets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFacts {
    pub sni: Option<String>,
    /// "TLS 1.3", "TLS 1.2", ...
    pub version: Option<String>,
    pub suite: Option<u16>,
    pub alpn: Option<String>,
    /// At least one application-data record decrypted.
    pub decrypted: bool,
}

/// What `push` yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsOutput {
    /// Decrypted application data, in stream order for that direction.
    Plaintext { dir: Dir, data: Vec<u8>, ts: Micros },
    /// The ServerHello was read (facts so far).
    Handshake(SessionFacts),
    /// The session cannot be (further) decrypted; emitted at most once.
    Undecryptable {
        reason: Undecryptable,
        facts: SessionFacts,
    },
}

/// Counters for one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsStats {
    pub records: u64,
    pub decrypted_records: u64,
    pub plaintext_bytes: u64,
    /// Records whose tag/MAC did not verify under any candidate key.
    pub failed_records: u64,
    /// 0-RTT records skipped (no early secret, or rejected by the server).
    pub early_data_skipped: u64,
    /// Encrypted handshake records skipped because the handshake secrets were not logged.
    pub handshake_records_skipped: u64,
    pub key_updates: u64,
    pub malformed_hellos: u64,
    pub desync: u64,
    /// Records whose TLS DEFLATE compression could not be undone (direction stopped).
    pub decompress_errors: u64,
    pub pending_dropped_bytes: u64,
    pub hello_retry: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Early,
    Handshake,
    App,
}

struct KeySlot {
    phase: Phase,
    cipher: RecordCipher,
    /// TLS 1.3 application secret (for KeyUpdate); empty otherwise.
    secret: Vec<u8>,
    used: bool,
}

#[derive(Default)]
struct DirState {
    /// Partial record bytes carried between pushes (< one record).
    buf: Vec<u8>,
    offset: u64,
    hs: Reassembler,
    /// TLS ≤ 1.2: ChangeCipherSpec seen, later records are encrypted.
    ccs: bool,
    slots: Vec<KeySlot>,
    cur: usize,
    /// TLS ≤ 1.2 DEFLATE record compression (RFC 3749): one zlib stream per direction.
    inflate: Option<Box<flate2::Decompress>>,
    broken: bool,
    any_record: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyState {
    /// Hellos not both seen yet.
    Waiting,
    /// Hellos seen; keys set up.
    Ready,
    /// Hellos seen; key log lacks the session (retry when it grows).
    Missing,
    /// Gave up (reason already emitted).
    Dead,
}

/// One TLS connection being decrypted.
pub struct TlsConn {
    dirs: [DirState; 2],
    ch: Option<ClientHello>,
    sh: Option<ServerHello>,
    suite: Option<Suite>,
    state: KeyState,
    keylog_generation: u64,
    /// TLS 1.3 set up with one direction's application secret missing from the key log.
    partial: bool,
    /// The secret `partial` waited for did not come (reported when the connection ends).
    missing_secret: Option<&'static str>,
    pending: VecDeque<(Dir, [u8; 5], Vec<u8>, Micros)>,
    pending_bytes: usize,
    facts: SessionFacts,
    reported: bool,
    consecutive_failures: u64,
    pub stats: TlsStats,
}

impl Default for TlsConn {
    fn default() -> Self {
        Self::new()
    }
}

fn idx(dir: Dir) -> usize {
    match dir {
        Dir::ClientToServer => 0,
        Dir::ServerToClient => 1,
    }
}

/// Human name of a protocol version.
pub fn version_name(v: u16) -> String {
    match v {
        0x0304 => "TLS 1.3".into(),
        0x0303 => "TLS 1.2".into(),
        0x0302 => "TLS 1.1".into(),
        0x0301 => "TLS 1.0".into(),
        0x0300 => "SSL 3.0".into(),
        other => format!("0x{other:04x}"),
    }
}

/// True when `first` bytes of a client stream look like a TLS ClientHello record (or the SSLv2
/// compatible form). Used by the connection layer to pick TLS.
pub fn looks_like_client_hello(first: &[u8]) -> bool {
    match first {
        [0x16, 3, 0..=4, ..] => true,
        [hi, _, 1, 3, 0..=3, ..] if hi & 0x80 != 0 => true,
        _ => false,
    }
}

impl TlsConn {
    pub fn new() -> Self {
        TlsConn {
            dirs: [DirState::default(), DirState::default()],
            ch: None,
            sh: None,
            suite: None,
            state: KeyState::Waiting,
            keylog_generation: 0,
            partial: false,
            missing_secret: None,
            pending: VecDeque::new(),
            pending_bytes: 0,
            facts: SessionFacts::default(),
            reported: false,
            consecutive_failures: 0,
            stats: TlsStats::default(),
        }
    }

    pub fn facts(&self) -> &SessionFacts {
        &self.facts
    }

    /// Both hellos were seen but the key log has no usable keys for the session yet: keys added
    /// later (a key log still being written, a later DSB) would still decrypt what is held.
    pub fn awaits_keys(&self) -> bool {
        match self.state {
            KeyState::Missing => true,
            KeyState::Ready => self.partial && !self.pending.is_empty(),
            KeyState::Waiting | KeyState::Dead => false,
        }
    }

    /// The key log changed since the session last looked: try it again.
    fn retry_keys(&mut self, keys: &KeyLog, out: &mut Vec<TlsOutput>) {
        if keys.generation() == self.keylog_generation {
            return;
        }
        match self.state {
            KeyState::Missing => self.try_keys(keys, out),
            KeyState::Ready if self.partial => self.complete_keys(keys, out),
            _ => {}
        }
    }

    /// Was the session given up on (reason already emitted)?
    pub fn is_dead(&self) -> bool {
        self.state == KeyState::Dead
    }

    /// Feed reassembled stream bytes of one direction.
    pub fn push(&mut self, dir: Dir, data: &[u8], ts: Micros, keys: &KeyLog) -> Vec<TlsOutput> {
        let mut out = Vec::new();
        self.retry_keys(keys, &mut out);
        let i = idx(dir);
        if self.dirs[i].broken || data.is_empty() {
            return out;
        }
        // SSLv2-compatible ClientHello at the very start of the client stream.
        if i == 0 && !self.dirs[0].any_record && self.dirs[0].buf.is_empty() {
            if let [hi, lo, 1, ..] = data {
                if hi & 0x80 != 0 {
                    let len = (((*hi & 0x7f) as usize) << 8) | *lo as usize;
                    if let Some(body) = data.get(2..2 + len) {
                        self.dirs[0].any_record = true;
                        self.stats.records += 1;
                        match handshake::parse_sslv2_client_hello(body) {
                            Ok(ch) => self.on_client_hello(ch),
                            Err(_) => self.stats.malformed_hellos += 1,
                        }
                        let rest = data.get(2 + len..).unwrap_or_default();
                        self.dirs[0].offset += (2 + len) as u64;
                        return self.push_records(dir, rest, ts, keys, out);
                    }
                }
            }
        }
        self.push_records(dir, data, ts, keys, out)
    }

    fn push_records(
        &mut self,
        dir: Dir,
        data: &[u8],
        ts: Micros,
        keys: &KeyLog,
        mut out: Vec<TlsOutput>,
    ) -> Vec<TlsOutput> {
        let i = idx(dir);
        let mut carried = std::mem::take(&mut self.dirs[i].buf);
        let input: &[u8] = if carried.is_empty() {
            data
        } else {
            carried.extend_from_slice(data);
            &carried
        };
        let mut pos = 0usize;
        while let Some(h) = input.get(pos..pos + 5) {
            let header = [h[0], h[1], h[2], h[3], h[4]];
            let len = u16::from_be_bytes([h[3], h[4]]) as usize;
            if !(20..=24).contains(&header[0]) || header[1] != 3 || len > MAX_RECORD {
                self.stats.desync += 1;
                let at = self.dirs[i].offset + pos as u64;
                self.dirs[i].broken = true;
                let name = if i == 0 { "client" } else { "server" };
                if !self.dirs[i].any_record {
                    // Never was TLS in this direction; say so once.
                    self.give_up(Undecryptable::Desync(name, at), &mut out);
                } else if self.facts.decrypted {
                    // Keep what was decrypted; just note the stop via the counter.
                } else {
                    self.give_up(Undecryptable::Desync(name, at), &mut out);
                }
                return out;
            }
            let Some(body) = input.get(pos + 5..pos + 5 + len) else {
                break;
            };
            self.dirs[i].any_record = true;
            self.record(dir, header, body, ts, keys, &mut out);
            pos += 5 + len;
        }
        let rest = input.get(pos..).unwrap_or_default();
        self.dirs[i].offset += pos as u64;
        let mut keep = Vec::new();
        if carried.is_empty() {
            keep.extend_from_slice(rest);
        } else {
            carried.drain(..pos.min(carried.len()));
            keep = carried;
        }
        self.dirs[i].buf = keep;
        out
    }

    fn record(
        &mut self,
        dir: Dir,
        header: [u8; 5],
        body: &[u8],
        ts: Micros,
        keys: &KeyLog,
        out: &mut Vec<TlsOutput>,
    ) {
        self.stats.records += 1;
        let i = idx(dir);
        let tls13 = self.suite.map(|s| s.tls13).unwrap_or(false)
            || self
                .sh
                .as_ref()
                .map(|s| s.version == 0x0304)
                .unwrap_or(false)
            || self.stats.hello_retry;
        let encrypted = match header[0] {
            20 => {
                // TLS 1.3 middlebox-compat CCS (also sent before the ServerHello) is ignored.
                if self.sh.is_some() && !tls13 {
                    self.dirs[i].ccs = true;
                }
                return;
            }
            24 => return, // heartbeat
            22 | 21 => {
                if tls13 {
                    false // TLS 1.3 handshake/alert records in the clear are hellos or alerts
                } else {
                    self.dirs[i].ccs
                }
            }
            _ => true, // application_data (TLS 1.3: every protected record)
        };
        if !encrypted {
            if header[0] == 22 {
                let mut msgs = Vec::new();
                self.dirs[i].hs.push(body, &mut msgs);
                for m in msgs {
                    self.plain_handshake(dir, m, keys, out);
                }
            }
            return;
        }
        match self.state {
            KeyState::Dead => {}
            KeyState::Ready => self.decrypt(dir, header, body, ts, out),
            KeyState::Waiting | KeyState::Missing => {
                if self.ch.is_none() && self.sh.is_none() && !self.reported {
                    self.give_up(Undecryptable::HandshakeNotCaptured, out);
                    return;
                }
                // Count the 5-byte header too, so empty records cannot queue without limit.
                let cost = body.len() + 5;
                if self.pending_bytes + cost > PENDING_CAP {
                    self.stats.pending_dropped_bytes += (self.pending_bytes + cost) as u64;
                    self.pending.clear();
                    self.pending_bytes = 0;
                    let reason = if self.state == KeyState::Missing {
                        Undecryptable::NoKey
                    } else {
                        Undecryptable::PendingOverflow(PENDING_CAP)
                    };
                    self.give_up(reason, out);
                    return;
                }
                self.pending_bytes += cost;
                self.pending.push_back((dir, header, body.to_vec(), ts));
            }
        }
    }

    fn on_client_hello(&mut self, ch: ClientHello) {
        if self.facts.sni.is_none() {
            self.facts.sni = ch.sni.clone();
        }
        // A second ClientHello (after HelloRetryRequest) keeps the same random.
        self.ch = Some(ch);
    }

    fn plain_handshake(&mut self, dir: Dir, m: Message, keys: &KeyLog, out: &mut Vec<TlsOutput>) {
        let Some(body) = m.body else { return };
        match (dir, m.msg_type) {
            (Dir::ClientToServer, 1) => match handshake::parse_client_hello(&body) {
                Ok(ch) => self.on_client_hello(ch),
                Err(_) => self.stats.malformed_hellos += 1,
            },
            (Dir::ServerToClient, 2) => match handshake::parse_server_hello(&body) {
                Ok(sh) if sh.hello_retry => {
                    // HRR: the real ServerHello follows; keys come from it.
                    self.stats.hello_retry = true;
                }
                Ok(sh) => self.on_server_hello(sh, keys, out),
                Err(_) => self.stats.malformed_hellos += 1,
            },
            _ => {}
        }
    }

    fn on_server_hello(&mut self, sh: ServerHello, keys: &KeyLog, out: &mut Vec<TlsOutput>) {
        self.facts.version = Some(version_name(sh.version));
        self.facts.suite = Some(sh.suite);
        self.facts.alpn = sh.alpn.clone();
        let version = sh.version;
        let suite_id = sh.suite;
        self.sh = Some(sh);
        out.push(TlsOutput::Handshake(self.facts.clone()));
        if self.state == KeyState::Dead {
            return;
        }
        let Some(suite) = keys::suite(suite_id) else {
            self.give_up(Undecryptable::UnsupportedSuite(suite_id), out);
            return;
        };
        let version_ok = match version {
            0x0304 => suite.tls13,
            0x0303 => !suite.tls13,
            // TLS 1.0/1.1: no AEAD suites.
            0x0301 | 0x0302 => !suite.tls13 && !suite.bulk.is_aead(),
            _ => false,
        };
        if !version_ok {
            self.give_up(Undecryptable::UnsupportedVersion(version), out);
            return;
        }
        self.suite = Some(suite);
        if self.ch.is_none() {
            self.give_up(Undecryptable::HandshakeNotCaptured, out);
            return;
        }
        self.try_keys(keys, out);
    }

    fn try_keys(&mut self, keys: &KeyLog, out: &mut Vec<TlsOutput>) {
        self.keylog_generation = keys.generation();
        let (Some(ch), Some(sh), Some(suite)) = (&self.ch, &self.sh, self.suite) else {
            return;
        };
        let Some(sk) = keys.lookup(&ch.random) else {
            self.state = KeyState::Missing;
            return;
        };
        let ok = if suite.tls13 {
            setup13(&suite, ch, sk, &mut self.dirs)
        } else {
            setup12(&suite, ch, sh, sk, &mut self.dirs)
        };
        if !ok {
            self.state = KeyState::Missing;
            return;
        }
        self.state = KeyState::Ready;
        self.partial = suite.tls13 && !self.dirs.iter().all(has_app_keys);
        self.replay_pending(out);
    }

    /// TLS 1.3 with a direction still lacking its application secret: add it if the key log
    /// has it now, and decrypt the records held for it.
    fn complete_keys(&mut self, keys: &KeyLog, out: &mut Vec<TlsOutput>) {
        self.keylog_generation = keys.generation();
        let (Some(ch), Some(suite)) = (&self.ch, self.suite) else {
            return;
        };
        let Some(sk) = keys.lookup(&ch.random) else {
            return;
        };
        for (d, secret) in self
            .dirs
            .iter_mut()
            .zip([&sk.client_traffic0, &sk.server_traffic0])
        {
            if has_app_keys(d) {
                continue;
            }
            if let Some(slot) = secret
                .as_ref()
                .and_then(|s| slot13(&suite, Phase::App, s.bytes()))
            {
                d.slots.push(slot);
            }
        }
        self.partial = !self.dirs.iter().all(has_app_keys);
        self.replay_pending(out);
    }

    /// The missing TLS 1.3 secret is not coming: what was held failed, and so will the rest.
    fn stop_waiting_for_secret(&mut self) {
        self.stats.failed_records += self.pending.len() as u64;
        self.pending.clear();
        self.pending_bytes = 0;
        self.partial = false;
        self.missing_secret = Some(self.secret_waited_for());
    }

    /// The key log label of the TLS 1.3 application secret a partial session lacks.
    fn secret_waited_for(&self) -> &'static str {
        if has_app_keys(&self.dirs[0]) {
            "SERVER_TRAFFIC_SECRET_0"
        } else {
            "CLIENT_TRAFFIC_SECRET_0"
        }
    }

    /// Decrypt the records held while keys were missing, in order (a record that still cannot
    /// be decrypted for want of a secret is held again).
    fn replay_pending(&mut self, out: &mut Vec<TlsOutput>) {
        let held = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        for (dir, header, body, ts) in held {
            self.decrypt(dir, header, &body, ts, out);
            if self.state == KeyState::Dead {
                self.pending.clear();
                self.pending_bytes = 0;
                break;
            }
        }
    }

    fn decrypt(
        &mut self,
        dir: Dir,
        header: [u8; 5],
        body: &[u8],
        ts: Micros,
        out: &mut Vec<TlsOutput>,
    ) {
        let i = idx(dir);
        let tls13 = self.suite.map(|s| s.tls13).unwrap_or(false);
        let early_offered = self.ch.as_ref().map(|c| c.early_data).unwrap_or(false);
        // Plaintext goes straight into the last output when it is plaintext of the same dir.
        let mut buf = match out.last_mut() {
            Some(TlsOutput::Plaintext { dir: d, data, .. }) if *d == dir => std::mem::take(data),
            _ => Vec::new(),
        };
        let reuse = !buf.is_empty();
        let start = buf.len();
        let d = &mut self.dirs[i];
        let mut result = None;
        for k in d.cur..d.slots.len() {
            if let Some(slot) = d.slots.get_mut(k) {
                if let Ok(t) = slot.cipher.open(header, body, &mut buf) {
                    slot.used = true;
                    result = Some((k, t));
                    break;
                }
            }
        }
        let Some((k, content_type)) = result else {
            // Nothing verified.
            if self.partial && !has_app_keys(d) {
                if self.pending_bytes + body.len() + 5 <= PENDING_CAP {
                    self.pending_bytes += body.len() + 5;
                    self.pending.push_back((dir, header, body.to_vec(), ts));
                    if reuse {
                        if let Some(TlsOutput::Plaintext { data, .. }) = out.last_mut() {
                            *data = buf;
                        }
                    }
                    return;
                }
                self.stop_waiting_for_secret();
            }
            let d = &mut self.dirs[i];
            let phase = d.slots.get(d.cur).map(|s| s.phase);
            let any_app_used = d.slots.iter().any(|s| s.phase == Phase::App && s.used);
            if tls13 && i == 0 && early_offered && !any_app_used && phase != Some(Phase::App) {
                self.stats.early_data_skipped += 1;
            } else if tls13 && !any_app_used && !d.slots.iter().any(|s| s.phase == Phase::Handshake)
            {
                self.stats.handshake_records_skipped += 1;
            } else {
                self.stats.failed_records += 1;
                self.consecutive_failures += 1;
                if !self.facts.decrypted
                    && self.consecutive_failures >= MAX_FAILURES_BEFORE_GIVING_UP
                {
                    let n = self.stats.failed_records;
                    self.give_up(Undecryptable::BadRecords(n), out);
                }
            }
            if reuse {
                if let Some(TlsOutput::Plaintext { data, .. }) = out.last_mut() {
                    *data = buf;
                }
            }
            return;
        };
        self.consecutive_failures = 0;
        if let Some(z) = d.inflate.as_mut() {
            match inflate_record(z, buf.get(start..).unwrap_or_default()) {
                Some(plain) => {
                    buf.truncate(start);
                    buf.extend_from_slice(&plain);
                }
                None => {
                    buf.truncate(start);
                    self.stats.decompress_errors += 1;
                    d.inflate = None;
                    d.broken = true;
                    return;
                }
            }
        }
        d.cur = k;
        self.stats.decrypted_records += 1;
        let phase = d.slots.get(k).map(|s| s.phase);
        match content_type {
            23 if phase != Some(Phase::Handshake) => {
                self.stats.plaintext_bytes += (buf.len() - start) as u64;
                self.facts.decrypted = true;
            }
            22 => {
                let mut msgs = Vec::new();
                if let Some(hs) = buf.get(start..) {
                    d.hs.push(hs, &mut msgs);
                }
                buf.truncate(start);
                for m in msgs {
                    match (m.msg_type, phase) {
                        // Finished under handshake keys: next records use application keys.
                        // EndOfEarlyData: the client switches to its handshake keys.
                        (20, Some(Phase::Handshake)) | (5, Some(Phase::Early))
                            if d.slots.get(k + 1).is_some() =>
                        {
                            d.cur = k + 1;
                        }
                        (24, Some(Phase::App)) if tls13 => {
                            if let (Some(slot), Some(suite)) = (d.slots.get_mut(k), self.suite) {
                                let next = keys::tls13_next_secret(suite.hash, &slot.secret);
                                let (key, iv) = keys::tls13_key_iv(&suite, &next);
                                if let Ok(c) = RecordCipher::tls13(&suite, &key, iv) {
                                    slot.cipher = c;
                                    slot.secret = next;
                                    self.stats.key_updates += 1;
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => buf.truncate(start), // alerts, handshake-phase data
        }
        if buf.is_empty() {
            return;
        }
        if reuse {
            if let Some(TlsOutput::Plaintext { data, .. }) = out.last_mut() {
                *data = buf;
            }
        } else {
            out.push(TlsOutput::Plaintext { dir, data: buf, ts });
        }
    }

    fn give_up(&mut self, reason: Undecryptable, out: &mut Vec<TlsOutput>) {
        self.state = KeyState::Dead;
        self.pending.clear();
        self.pending_bytes = 0;
        if !self.reported {
            self.reported = true;
            out.push(TlsOutput::Undecryptable {
                reason,
                facts: self.facts.clone(),
            });
        }
    }

    /// `len` bytes of `dir` were never captured: record framing is lost for that direction
    /// (we do not guess the next record boundary or sequence number). Returns the reason when
    /// this ends a session that had not decrypted anything.
    pub fn gap(&mut self, dir: Dir, len: u64) -> Option<Undecryptable> {
        let i = idx(dir);
        if self.dirs[i].broken {
            return None;
        }
        self.dirs[i].broken = true;
        self.stats.desync += 1;
        let at = self.dirs[i].offset + self.dirs[i].buf.len() as u64;
        self.dirs[i].buf.clear();
        let _ = len;
        let name = if i == 0 { "client" } else { "server" };
        if self.facts.decrypted || self.reported {
            return None;
        }
        let mut out = Vec::new();
        self.give_up(Undecryptable::Desync(name, at), &mut out);
        Some(Undecryptable::Desync(name, at))
    }

    /// What `finish` would report, without changing state (for callers without a key log).
    pub fn final_reason(&self) -> Option<Undecryptable> {
        if self.reported {
            return None;
        }
        match self.state {
            KeyState::Dead => None,
            KeyState::Missing => Some(Undecryptable::NoKey),
            KeyState::Waiting if self.sh.is_none() && self.ch.is_some() => {
                Some(Undecryptable::NoServerHello)
            }
            KeyState::Waiting if !self.pending.is_empty() => {
                Some(Undecryptable::HandshakeNotCaptured)
            }
            KeyState::Waiting => None,
            KeyState::Ready if self.partial && !self.pending.is_empty() => {
                Some(Undecryptable::MissingSecret(self.secret_waited_for()))
            }
            KeyState::Ready if self.missing_secret.is_some() => {
                self.missing_secret.map(Undecryptable::MissingSecret)
            }
            KeyState::Ready if !self.facts.decrypted && self.stats.failed_records > 0 => {
                Some(Undecryptable::BadRecords(self.stats.failed_records))
            }
            KeyState::Ready => None,
        }
    }

    /// The connection ended: report a session that never decrypted (once), with its reason.
    pub fn finish(&mut self, keys: &KeyLog) -> Vec<TlsOutput> {
        let mut out = Vec::new();
        self.retry_keys(keys, &mut out);
        if self.partial && !self.pending.is_empty() {
            self.stop_waiting_for_secret();
        }
        let reason = self.final_reason();
        if let Some(r) = reason {
            self.give_up(r, &mut out);
        }
        out
    }
}

fn has_app_keys(d: &DirState) -> bool {
    d.slots.iter().any(|s| s.phase == Phase::App)
}

/// A TLS 1.3 key slot from one traffic secret (`None` if its length does not fit the suite).
fn slot13(suite: &Suite, phase: Phase, secret: &[u8]) -> Option<KeySlot> {
    if secret.len() != suite.hash.len() {
        return None;
    }
    let (key, iv) = keys::tls13_key_iv(suite, secret);
    RecordCipher::tls13(suite, &key, iv)
        .ok()
        .map(|cipher| KeySlot {
            phase,
            cipher,
            secret: if phase == Phase::App {
                secret.to_vec()
            } else {
                Vec::new()
            },
            used: false,
        })
}

fn setup13(suite: &Suite, ch: &ClientHello, sk: &SessionKeys, dirs: &mut [DirState; 2]) -> bool {
    let mk = |phase: Phase, secret: &[u8]| slot13(suite, phase, secret);
    let mut client = Vec::new();
    if ch.early_data {
        if let Some(s) = &sk.client_early {
            client.extend(mk(Phase::Early, s.bytes()));
        }
    }
    if let Some(s) = &sk.client_handshake {
        client.extend(mk(Phase::Handshake, s.bytes()));
    }
    if let Some(s) = &sk.client_traffic0 {
        client.extend(mk(Phase::App, s.bytes()));
    }
    let mut server = Vec::new();
    if let Some(s) = &sk.server_handshake {
        server.extend(mk(Phase::Handshake, s.bytes()));
    }
    if let Some(s) = &sk.server_traffic0 {
        server.extend(mk(Phase::App, s.bytes()));
    }
    let usable = client.iter().any(|s| s.phase == Phase::App)
        || server.iter().any(|s| s.phase == Phase::App);
    dirs[0].slots = client;
    dirs[0].cur = 0;
    dirs[1].slots = server;
    dirs[1].cur = 0;
    usable
}

/// Undo RFC 3749 DEFLATE on one record (sync-flushed zlib stream). `None` when corrupt or the
/// output exceeds the record limit (2^14 + 1024, RFC 5246 §6.2.2).
fn inflate_record(z: &mut flate2::Decompress, input: &[u8]) -> Option<Vec<u8>> {
    const LIMIT: usize = 16384 + 1024;
    let mut out = Vec::with_capacity(LIMIT);
    let mut pos = 0usize;
    loop {
        let before_in = z.total_in();
        let status = z
            .decompress_vec(input.get(pos..)?, &mut out, flate2::FlushDecompress::Sync)
            .ok()?;
        pos += (z.total_in() - before_in) as usize;
        if pos >= input.len() || status == flate2::Status::StreamEnd {
            return Some(out);
        }
        if out.len() >= LIMIT {
            return None;
        }
        if z.total_in() == before_in {
            return None; // no progress
        }
    }
}

fn setup12(
    suite: &Suite,
    ch: &ClientHello,
    sh: &ServerHello,
    sk: &SessionKeys,
    dirs: &mut [DirState; 2],
) -> bool {
    let Some(ms) = &sk.master_secret else {
        return false;
    };
    let kb = keys::key_block12(suite, sh.version, ms.bytes(), &ch.random, &sh.random);
    // Encrypt-then-MAC applies only to CBC suites and only when both hellos carry it.
    let etm = ch.encrypt_then_mac && sh.encrypt_then_mac;
    if sh.compression == 1 {
        dirs[0].inflate = Some(Box::new(flate2::Decompress::new(true)));
        dirs[1].inflate = Some(Box::new(flate2::Decompress::new(true)));
    }
    let c = RecordCipher::tls12(
        suite,
        sh.version,
        &kb.client_mac,
        &kb.client_key,
        &kb.client_iv,
        etm,
    );
    let s = RecordCipher::tls12(
        suite,
        sh.version,
        &kb.server_mac,
        &kb.server_key,
        &kb.server_iv,
        etm,
    );
    match (c, s) {
        (Ok(c), Ok(s)) => {
            dirs[0].slots = vec![KeySlot {
                phase: Phase::App,
                cipher: c,
                secret: Vec::new(),
                used: false,
            }];
            dirs[1].slots = vec![KeySlot {
                phase: Phase::App,
                cipher: s,
                secret: Vec::new(),
                used: false,
            }];
            dirs[0].cur = 0;
            dirs[1].cur = 0;
            true
        }
        _ => false,
    }
}
