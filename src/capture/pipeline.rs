//! Packets → exchanges: the sans-I/O capture pipeline shared by file reading (`source::pcap`)
//! and live capture.
//!
//! Owns: frame decoding (`packet`), the TCP table (`tcp`) with one `conn::Conn` per connection,
//! and the counters of every stage, summed up in [`CaptureStats`] with report sentences.
//! Must not: read files, sockets or clocks; time comes with each frame.
//! Known limits: see the caps in `tcp.rs` and `http1.rs`; they are configured through
//! [`PipelineConfig`].

use super::conn::{Conn, ConnCtx, ConnStats, Parked, Plugins};
use super::http1::Http1Caps;
use super::keylog::KeyLog;
use super::packet::{self, Segment, Skip};
use super::tcp::{TcpCaps, TcpStats, TcpTable};
use super::CaptureOutput;
use crate::model::Micros;

/// Caps and optional layers of a pipeline.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub tcp: TcpCaps,
    pub http1: Http1Caps,
    /// TLS decryption and HTTP/2 layers; register them here (see `conn.rs`).
    pub plugins: Plugins,
}

impl Default for PipelineConfig {
    /// Everything on: TLS decryption (`capture::tls::session`) and HTTP/2 (`capture::http2`).
    fn default() -> Self {
        PipelineConfig {
            tcp: TcpCaps::default(),
            http1: Http1Caps::default(),
            plugins: Plugins {
                tls: Some(super::tls::session::tls_plugin),
                http2: Some(super::http2::http2_plugin),
            },
        }
    }
}

/// Counts of frames that gave no TCP segment, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkipCounts {
    pub unsupported_link: u64,
    pub link_truncated: u64,
    pub not_ip: u64,
    pub ip_malformed: u64,
    pub not_tcp: u64,
    pub fragments: u64,
    pub tcp_malformed: u64,
}

/// Where and why reading stopped before the end of the file (everything before was analyzed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The last record is cut: `have` bytes present, `declared` announced (when readable).
    TruncatedRecord {
        offset: u64,
        have: u64,
        declared: Option<u64>,
    },
    /// A record or block declares a length over the reader's cap.
    RecordTooLarge { offset: u64, declared: u64 },
    /// The block structure is broken.
    Malformed { offset: u64, detail: &'static str },
    /// The underlying reader failed.
    ReadFailed { offset: u64 },
}

impl Stop {
    pub fn set_offset(&mut self, at: u64) {
        match self {
            Stop::TruncatedRecord { offset, .. }
            | Stop::RecordTooLarge { offset, .. }
            | Stop::Malformed { offset, .. }
            | Stop::ReadFailed { offset } => *offset = at,
        }
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::TruncatedRecord { offset, have, declared: Some(d) } => write!(
                f,
                "the last record at byte {offset} is truncated ({have} of {d} bytes present); everything before it was analyzed"
            ),
            Stop::TruncatedRecord { offset, have, declared: None } => write!(
                f,
                "the last record at byte {offset} is truncated ({have} bytes present); everything before it was analyzed"
            ),
            Stop::RecordTooLarge { offset, declared } => write!(
                f,
                "reading stopped at byte {offset}: a record declares {declared} bytes, over the {} byte cap",
                crate::source::pcap::MAX_RECORD
            ),
            Stop::Malformed { offset, detail } => {
                write!(f, "reading stopped at byte {offset}: {detail}")
            }
            Stop::ReadFailed { offset } => write!(f, "reading stopped at byte {offset}: the file could not be read further"),
        }
    }
}

/// Everything a capture run counted. `notes()` turns it into report sentences.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureStats {
    pub packets: u64,
    /// Captured bytes of all frames.
    pub bytes: u64,
    /// Frames shorter than on the wire (snap length).
    pub cut_frames: u64,
    pub skipped: SkipCounts,
    pub tcp: TcpStats,
    pub conn: ConnStats,
    /// Decryption Secrets Blocks seen, and key log lines they added.
    pub secrets_blocks: u64,
    pub secrets_lines: u64,
    /// Sentences from the reader (ignored blocks, a cut gzip stream).
    pub reader_notes: Vec<String>,
    /// Packets that name an interface the section did not describe.
    pub unknown_interface: u64,
    /// Reading stopped early here.
    pub stopped: Option<Stop>,
}

impl CaptureStats {
    /// Frames that could not be decoded (damaged link/IP/TCP headers).
    pub fn malformed(&self) -> u64 {
        self.skipped.link_truncated + self.skipped.ip_malformed + self.skipped.tcp_malformed
    }

    /// Bytes or data dropped on purpose (caps) or found missing (gaps).
    pub fn drops(&self) -> u64 {
        self.tcp.buffer_cap_hits
            + self.conn.http1.bodies_truncated
            + self.conn.http1.pending_cap_hits
    }

    pub fn gaps(&self) -> u64 {
        self.tcp.gaps
    }

    pub fn evictions(&self) -> u64 {
        self.tcp.evicted_idle + self.tcp.evicted_cap
    }

    /// Sentences for the report: only what is worth knowing (zero counters stay silent).
    pub fn notes(&self) -> Vec<String> {
        let mut n = Vec::new();
        if let Some(stop) = &self.stopped {
            n.push(stop.to_string());
        }
        n.extend(self.reader_notes.iter().cloned());
        if self.unknown_interface > 0 {
            n.push(format!(
                "{} packets name an interface the file does not describe and were skipped",
                self.unknown_interface
            ));
        }
        let s = &self.skipped;
        if self.malformed() > 0 {
            n.push(format!(
                "{} frames had damaged headers and were skipped ({} link, {} IP, {} TCP)",
                self.malformed(),
                s.link_truncated,
                s.ip_malformed,
                s.tcp_malformed
            ));
        }
        if s.unsupported_link > 0 {
            n.push(format!(
                "{} frames use an unsupported link type and were skipped",
                s.unsupported_link
            ));
        }
        if s.fragments > 0 {
            n.push(format!(
                "{} IP fragments were skipped (fragments are not reassembled)",
                s.fragments
            ));
        }
        if self.cut_frames > 0 {
            n.push(format!(
                "{} frames were cut by the capture's snap length; their missing bytes count as gaps (capture again with the full length: `tcpdump -s 0`, or no `-s`/`--snapshot-length` limit in Wireshark/dumpcap)",
                self.cut_frames
            ));
        }
        let t = &self.tcp;
        if t.gaps > 0 {
            n.push(format!(
                "{} gaps in TCP streams ({} bytes never captured); affected exchanges are marked incomplete",
                t.gaps, t.gap_bytes
            ));
        }
        if t.buffer_cap_hits > 0 {
            n.push(format!(
                "reorder buffer cap reached {} times; the holes were skipped as gaps",
                t.buffer_cap_hits
            ));
        }
        if t.evicted_idle > 0 {
            n.push(format!(
                "{} idle TCP connections were evicted",
                t.evicted_idle
            ));
        }
        if t.evicted_cap > 0 {
            n.push(format!(
                "{} TCP connections were evicted because the connection table was full",
                t.evicted_cap
            ));
        }
        if t.mid_stream > 0 {
            n.push(format!(
                "{} TCP connections started before the capture (no handshake seen)",
                t.mid_stream
            ));
        }
        let c = &self.conn;
        let h = &c.http1;
        if h.unanswered > 0 {
            n.push(format!(
                "{} HTTP requests have no response in the capture",
                h.unanswered
            ));
        }
        if h.orphan_responses > 0 {
            n.push(format!(
                "{} HTTP responses had no matching request and were skipped",
                h.orphan_responses
            ));
        }
        if h.parse_errors > 0 {
            n.push(format!(
                "{} HTTP/1 framing errors; the parser skipped {} bytes to resynchronise",
                h.parse_errors, h.skipped_bytes
            ));
        }
        if h.cut_heads > 0 {
            n.push(format!(
                "{} HTTP/1 message heads were cut off by the end of their stream ({} bytes); they are not counted as requests or responses",
                h.cut_heads, h.cut_head_bytes
            ));
        }
        if h.bodies_truncated > 0 {
            n.push(format!(
                "{} HTTP bodies are truncated (gap or size cap)",
                h.bodies_truncated
            ));
        }
        if h.decode_errors > 0 {
            n.push(format!(
                "{} HTTP bodies could not be content-decoded",
                h.decode_errors
            ));
        }
        if h.pending_cap_hits > 0 {
            n.push(format!(
                "{} requests were flushed unanswered because too many were waiting for responses",
                h.pending_cap_hits
            ));
        }
        if c.tls_undecrypted > 0 {
            n.push(format!(
                "{} TLS sessions could not be decrypted",
                c.tls_undecrypted
            ));
        }
        if c.http2_unparsed > 0 {
            n.push(format!(
                "{} HTTP/2 connections were seen but not parsed",
                c.http2_unparsed
            ));
        }
        if c.upgrades_not_followed > 0 {
            n.push(format!(
                "{} connections switched protocols (WebSocket, CONNECT, h2c) and were not followed after the switch",
                c.upgrades_not_followed
            ));
        }
        n
    }
}

/// What the dispatch layer (`conn.rs`) works with, lent out as a `ConnCtx` per call.
struct Dispatch {
    input: usize,
    plugins: Plugins,
    http1: Http1Caps,
    stats: ConnStats,
    next_index: usize,
}

impl Dispatch {
    fn ctx<'a>(
        &'a mut self,
        keys: &'a KeyLog,
        out: &'a mut dyn FnMut(CaptureOutput),
        parked: &'a mut Vec<Parked>,
    ) -> ConnCtx<'a> {
        ConnCtx {
            input: self.input,
            keys,
            plugins: self.plugins,
            http1_caps: &self.http1,
            stats: &mut self.stats,
            next_index: &mut self.next_index,
            out,
            parked,
        }
    }
}

/// The pipeline for one input.
pub struct Pipeline {
    tcp: TcpTable<Conn>,
    dispatch: Dispatch,
    stats: CaptureStats,
    last_ts: Micros,
    /// Closed TLS connections waiting for keys that may still come (a key log being written
    /// while capturing, a DSB later in the file), oldest first; see `settle_parked`.
    parked: Vec<Parked>,
    /// `KeyLog::generation` when the parked connections last tried their keys.
    parked_generation: u64,
}

/// How long (capture time) a closed connection waits for its keys before it is reported as
/// undecrypted. Live key logs trail the packets by milliseconds (polled every 10 ms).
pub const PARK_GRACE: Micros = 2_000_000;

impl Pipeline {
    pub fn new(input: usize, config: PipelineConfig) -> Self {
        Self {
            tcp: TcpTable::new(config.tcp),
            dispatch: Dispatch {
                input,
                plugins: config.plugins,
                http1: config.http1,
                stats: ConnStats::default(),
                next_index: 0,
            },
            stats: CaptureStats::default(),
            last_ts: 0,
            parked: Vec::new(),
            parked_generation: 0,
        }
    }

    /// One captured frame of link type `linktype` (see `packet::linktype`). `wire_len` is the
    /// original length on the wire.
    pub fn push_frame(
        &mut self,
        linktype: i32,
        frame: &[u8],
        wire_len: usize,
        ts: Micros,
        keys: &KeyLog,
        out: &mut dyn FnMut(CaptureOutput),
    ) {
        self.stats.packets += 1;
        self.stats.bytes += frame.len() as u64;
        if wire_len > frame.len() {
            self.stats.cut_frames += 1;
        }
        match packet::decode(linktype, frame) {
            Ok(seg) => self.push_segment(&seg, ts, keys, out),
            Err(skip) => {
                let s = &mut self.stats.skipped;
                match skip {
                    Skip::UnsupportedLinkType => s.unsupported_link += 1,
                    Skip::LinkTruncated => s.link_truncated += 1,
                    Skip::NotIp => s.not_ip += 1,
                    Skip::IpMalformed => s.ip_malformed += 1,
                    Skip::NotTcp => s.not_tcp += 1,
                    Skip::Fragment => s.fragments += 1,
                    Skip::TcpMalformed => s.tcp_malformed += 1,
                }
            }
        }
    }

    /// One TCP segment (for sources that decode frames themselves).
    pub fn push_segment(
        &mut self,
        seg: &Segment<'_>,
        ts: Micros,
        keys: &KeyLog,
        out: &mut dyn FnMut(CaptureOutput),
    ) {
        self.last_ts = self.last_ts.max(ts);
        let mut ctx = self.dispatch.ctx(keys, out, &mut self.parked);
        self.tcp.push(seg, ts, &mut ctx);
        if !self.parked.is_empty() {
            self.settle_parked(keys, false, out);
        }
    }

    /// Between packets (live capture): decrypt what parked connections hold if the key log has
    /// grown, and report those whose grace ran out by `now` (capture clock, µs), so a quiet link
    /// does not hold them back.
    pub fn poll_parked(&mut self, now: Micros, keys: &KeyLog, out: &mut dyn FnMut(CaptureOutput)) {
        self.last_ts = self.last_ts.max(now);
        if !self.parked.is_empty() {
            self.settle_parked(keys, false, out);
        }
    }

    /// Retry the parked connections' keys; close those that got them, waited `PARK_GRACE`, or
    /// (`all`) every one at the end of input.
    fn settle_parked(&mut self, keys: &KeyLog, all: bool, out: &mut dyn FnMut(CaptureOutput)) {
        let now = self.last_ts;
        let due = |p: &Parked| now.saturating_sub(p.closed) >= PARK_GRACE;
        if !all
            && keys.generation() == self.parked_generation
            && !self.parked.first().is_some_and(due)
        {
            return;
        }
        self.parked_generation = keys.generation();
        let parked = std::mem::take(&mut self.parked);
        // Closing here never parks again (`close_now`); the context still needs a place.
        let mut unused = Vec::new();
        let mut ctx = self.dispatch.ctx(keys, out, &mut unused);
        let mut waiting = Vec::new();
        for mut p in parked {
            p.conn.retry_keys(p.closed, &mut ctx);
            if all || !p.conn.awaits_keys() || due(&p) {
                p.conn.close_now(p.closed, &mut ctx);
            } else {
                waiting.push(p);
            }
        }
        self.parked = waiting;
    }

    /// End of input: close every connection (flushing waiting requests) and return the counters.
    pub fn finish(&mut self, keys: &KeyLog, out: &mut dyn FnMut(CaptureOutput)) -> CaptureStats {
        let mut ctx = self.dispatch.ctx(keys, out, &mut self.parked);
        self.tcp.finish(self.last_ts, &mut ctx);
        self.settle_parked(keys, true, out);
        self.stats()
    }

    /// Counters so far (connections still open are not yet in the HTTP counts).
    pub fn stats(&self) -> CaptureStats {
        let mut s = self.stats.clone();
        s.tcp = self.tcp.stats().clone();
        s.conn = self.dispatch.stats.clone();
        s
    }

    /// Add a reader note (the file layer calls this).
    pub fn note(&mut self, note: String) {
        self.stats.reader_notes.push(note);
    }

    pub fn stop(&mut self, stop: Stop) {
        self.stats.stopped = Some(stop);
    }

    pub fn note_unknown_interface(&mut self, _if_id: u32) {
        self.stats.unknown_interface += 1;
    }

    pub fn count_secrets(&mut self, lines: usize) {
        self.stats.secrets_blocks += 1;
        self.stats.secrets_lines += lines as u64;
    }

    /// Exchanges emitted so far.
    pub fn exchanges(&self) -> usize {
        self.dispatch.next_index
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::packet::{linktype, tests::ipv4_tcp};

    #[test]
    fn frames_to_exchange_with_origin() {
        let c = ([192, 168, 1, 5], 51000);
        let s = ([10, 0, 0, 1], 8080);
        let req =
            b"GET /api/v2/users HTTP/1.1\r\nHost: t.auth0.com\r\nAuthorization: Bearer x\r\n\r\n";
        let resp = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\n{}";
        let frames = [
            ipv4_tcp(c, s, 100, "S", b""),
            ipv4_tcp(s, c, 500, "SA", b""),
            ipv4_tcp(c, s, 101, "A", req),
            ipv4_tcp(s, c, 501, "A", resp),
            ipv4_tcp(c, s, 101 + req.len() as u32, "AF", b""),
            ipv4_tcp(s, c, 501 + resp.len() as u32, "AF", b""),
        ];
        let mut p = Pipeline::new(3, PipelineConfig::default());
        let keys = KeyLog::default();
        let mut got = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            p.push_frame(
                linktype::RAW,
                f,
                f.len(),
                1_000_000 + i as i64 * 1000,
                &keys,
                &mut |o| got.push(o),
            );
        }
        // Closed by FINs: emitted before finish.
        assert_eq!(got.len(), 1);
        let st = p.finish(&keys, &mut |o| got.push(o));
        let CaptureOutput::Exchange(ex) = &got[0] else {
            panic!("not an exchange")
        };
        assert_eq!(ex.input, 3);
        assert_eq!(ex.index, 0);
        assert_eq!(ex.request.url, "http://t.auth0.com/api/v2/users");
        assert_eq!(ex.status(), Some(401));
        assert_eq!(ex.started, Some(1_002_000));
        assert_eq!(ex.duration_ms, Some(1.0));
        assert_eq!(
            ex.origin.connection.as_deref(),
            Some("192.168.1.5:51000 -> 10.0.0.1:8080")
        );
        assert_eq!(ex.origin.server_addr.as_deref(), Some("10.0.0.1:8080"));
        assert!(ex.origin.tls.is_none());
        assert_eq!(
            (st.packets, st.conn.exchanges, st.tcp.closed_fin),
            (6, 1, 1)
        );
        assert_eq!(st.conn.http1.requests, 1);
        assert!(st.notes().is_empty(), "{:?}", st.notes());
    }

    #[test]
    fn tls_connection_reported_undecrypted_with_sni() {
        let c = ([192, 168, 1, 5], 51001);
        let s = ([10, 0, 0, 1], 443);
        let hello = crate::capture::conn::tests_support::client_hello("t.eu.auth0.com");
        let frames = [ipv4_tcp(c, s, 1, "S", b""), ipv4_tcp(c, s, 2, "A", &hello)];
        let mut p = Pipeline::new(0, PipelineConfig::default());
        let keys = KeyLog::default();
        let mut got = Vec::new();
        for f in &frames {
            p.push_frame(linktype::RAW, f, f.len(), 5, &keys, &mut |o| got.push(o));
        }
        let st = p.finish(&keys, &mut |o| got.push(o));
        assert_eq!(got.len(), 1);
        match &got[0] {
            CaptureOutput::TlsUndecrypted { sni, server, .. } => {
                assert_eq!(sni.as_deref(), Some("t.eu.auth0.com"));
                assert_eq!(server, "10.0.0.1:443");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!((st.conn.tls_sessions, st.conn.tls_undecrypted), (1, 1));
        assert_eq!(st.notes(), ["1 TLS sessions could not be decrypted"]);
    }
}
