//! Per-connection protocol dispatch: reassembled TCP bytes → (TLS →) HTTP/1.x or HTTP/2 →
//! `Exchange`s. Implements [`StreamSink`] for the TCP table.
//!
//! Owns: recognising the protocol by content (never by port), the TLS seam, the HTTP/2 seam,
//! `Upgrade: h2c` hand-over, and turning each [`HttpPair`] into a `model::Exchange` with its
//! origin (connection "client -> server", server address, TLS facts, capture time, duration).
//! Must not: parse TLS records or HTTP/2 frames itself (those live in `capture/tls.rs` and
//! `capture/http2.rs`), read clocks or files, or keep bytes of connections it cannot parse.
//!
//! ## The layers above TCP
//! - A connection whose client starts with a TLS ClientHello (`16 03 0x`, or an SSLv2-format
//!   hello), or whose server is first seen sending TLS records, goes to
//!   `capture::tls::app::TlsApp` (TLS key schedule + HTTP/1 or HTTP/2 by ALPN or content). Its
//!   pairs become exchanges with `https://` URLs and `Origin::tls` from the session facts; a
//!   session it gives up on becomes one `CaptureOutput::TlsUndecrypted` with the reason.
//! - HTTP/2 in clear (prior-knowledge preface `PRI * HTTP/2.0`, or `Upgrade: h2c` + 101) goes to
//!   `capture::http2::H2Conn`; after an h2c upgrade the HTTP/1 request becomes stream 1, so its
//!   real response replaces the 101 and each request is still counted once.
//! - Everything else is HTTP/1 by content (`capture::http1`), or ignored and counted.
//! Known limits: a connection whose first bytes are neither HTTP/1, HTTP/2 nor TLS (and contain
//! no HTTP/1 message start in the first chunk) is ignored and counted as non-HTTP; WebSocket and
//! CONNECT tunnels are not followed after the switch.

use std::net::SocketAddr;

use super::http1::{Http1Caps, Http1Conn, Http1Stats};
use super::http2::H2Conn;
use super::keylog::KeyLog;
use super::tcp::{looks_like_request_line, Close, ConnMeta, StreamSink};
use super::tls::app::{TlsApp, TlsAppOutput};
use super::tls::SessionFacts;
use super::{CaptureOutput, Dir, HttpPair};
use crate::decode::body::{decode_body, DEFAULT_DECODED_CAP};
use crate::model::{Exchange, Micros, Origin, TlsInfo};

/// Counters of the dispatch layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnStats {
    pub exchanges: u64,
    pub http1_connections: u64,
    pub http2_connections: u64,
    /// TLS sessions with at least one decrypted record.
    pub tls_decrypted: u64,
    pub tls_sessions: u64,
    pub tls_undecrypted: u64,
    /// Connections whose bytes were not HTTP or TLS.
    pub non_http_connections: u64,
    /// Upgrades/tunnels whose bytes were not followed (WebSocket, CONNECT, h2c without HTTP/2).
    pub upgrades_not_followed: u64,
    pub http1: Http1Stats,
}

/// What the dispatch layer needs from its caller while bytes flow.
pub struct ConnCtx<'a> {
    pub input: usize,
    pub keys: &'a KeyLog,
    pub http1_caps: &'a Http1Caps,
    pub stats: &'a mut ConnStats,
    pub next_index: &'a mut usize,
    pub out: &'a mut dyn FnMut(CaptureOutput),
}

/// Protocol not decided yet.
#[derive(Default)]
struct Sniff {
    /// A short prefix per direction that may still become a request line or TLS hello.
    bufs: [Vec<u8>; 2],
    /// The direction lost bytes (a gap, or bytes that said nothing): resync before parsing.
    gapped: [bool; 2],
    /// Bytes looked at without a verdict.
    seen: usize,
}

enum App {
    Sniff(Box<Sniff>),
    Http1(Box<Http1Conn>),
    Http2(Box<H2Conn>),
    /// Not parsed; why.
    Opaque,
}

const SNIFF_BYTES: usize = 24;
/// Bytes without any HTTP sign after which a connection is declared non-HTTP.
const SNIFF_LIMIT: usize = 8 << 10;

enum Tls {
    /// Plaintext connection.
    None,
    App {
        app: Box<TlsApp>,
        facts: SessionFacts,
        reported: bool,
    },
}

/// One connection above TCP.
pub struct Conn {
    label: String,
    server: String,
    scheme: &'static str,
    tls: Tls,
    app: App,
    /// TLS sniff buffer before the connection is known to be TLS or not.
    decided_transport: bool,
    first: Option<Micros>,
    pairs: Vec<HttpPair>,
}

impl Conn {
    fn emit(&mut self, ctx: &mut ConnCtx<'_>) {
        if self.pairs.is_empty() {
            return;
        }
        let tls = match &self.tls {
            Tls::None => None,
            Tls::App { facts, .. } => Some(tls_info(facts)),
        };
        for pair in self.pairs.drain(..) {
            let duration_ms = match (pair.started, pair.ended) {
                (Some(a), Some(b)) if b >= a => Some((b - a) as f64 / 1000.0),
                _ => None,
            };
            let ex = Exchange {
                input: ctx.input,
                index: *ctx.next_index,
                started: pair.started,
                duration_ms,
                request: pair.request,
                response: pair.response,
                origin: Origin {
                    connection: Some(self.label.clone()),
                    server_addr: Some(self.server.clone()),
                    tls: tls.clone(),
                },
                notes: pair.notes,
            };
            *ctx.next_index += 1;
            ctx.stats.exchanges += 1;
            (ctx.out)(CaptureOutput::Exchange(ex));
        }
    }

    /// Plaintext (after TLS, if any) bytes of `dir`.
    fn app_data(&mut self, dir: Dir, data: &[u8], ts: Micros, ctx: &mut ConnCtx<'_>) {
        if let App::Sniff(sn) = &mut self.app {
            let i = usize::from(dir == Dir::ServerToClient);
            if !sn.bufs[i].is_empty() || wants_more(dir, data) {
                sn.bufs[i].extend_from_slice(data);
                if wants_more(dir, &sn.bufs[i]) {
                    // Too few bytes to tell; they are fewer than `SNIFF_BYTES`.
                    return;
                }
            }
            let mine = std::mem::take(&mut sn.bufs[i]);
            let other = std::mem::take(&mut sn.bufs[1 - i]);
            let first: &[u8] = if mine.is_empty() { data } else { &mine };
            if !self.decide(dir, first, ctx) {
                return;
            }
            if !other.is_empty() {
                self.feed_app(dir.flip(), &other, ts, ctx);
            }
            self.feed_app(dir, first, ts, ctx);
            self.emit(ctx);
            return;
        }
        self.feed_app(dir, data, ts, ctx);
        self.emit(ctx);
    }

    /// Pick the application protocol from the first bytes of `dir`. Returns false when these
    /// bytes say nothing (they are dropped and the direction will look for a message start);
    /// after `SNIFF_LIMIT` such bytes the connection is declared non-HTTP.
    fn decide(&mut self, dir: Dir, first: &[u8], ctx: &mut ConnCtx<'_>) -> bool {
        let App::Sniff(sn) = &mut self.app else {
            return true;
        };
        let i = usize::from(dir == Dir::ServerToClient);
        if first.starts_with(b"PRI * HTTP/2.0") && dir == Dir::ClientToServer {
            self.app = self.start_http2(ctx);
            return true;
        }
        let http1 = match dir {
            Dir::ClientToServer => looks_like_request_line(first),
            Dir::ServerToClient => first.starts_with(b"HTTP/1."),
        };
        let contains = first.windows(7).any(|w| w == b"HTTP/1.");
        if !http1 && !contains {
            sn.seen += first.len();
            sn.gapped[i] = true;
            if sn.seen > SNIFF_LIMIT {
                ctx.stats.non_http_connections += 1;
                self.app = App::Opaque;
            }
            return false;
        }
        let mut c = Http1Conn::new(self.scheme, self.server.clone(), ctx.http1_caps.clone());
        // A direction that did not start at a message start looks for one first. When the
        // server speaks first, the client's request was before the capture (or lost).
        if !http1 || sn.gapped[i] {
            c.resync(dir);
        }
        if sn.gapped[1 - i] || dir == Dir::ServerToClient {
            c.resync(dir.flip());
        }
        ctx.stats.http1_connections += 1;
        self.app = App::Http1(Box::new(c));
        true
    }

    fn start_http2(&mut self, ctx: &mut ConnCtx<'_>) -> App {
        ctx.stats.http2_connections += 1;
        App::Http2(Box::new(H2Conn::new(self.scheme, None)))
    }

    fn feed_app(&mut self, dir: Dir, data: &[u8], ts: Micros, ctx: &mut ConnCtx<'_>) {
        if data.is_empty() {
            return;
        }
        match &mut self.app {
            App::Http1(h) => {
                h.push(dir, data, ts, &mut self.pairs);
                if let Some(up) = h.take_upgrade() {
                    self.switch(up, ts, ctx);
                }
            }
            App::Http2(h) => {
                let pairs = h.push(dir, data, ts);
                self.take_h2(pairs);
            }
            App::Sniff(..) | App::Opaque => {}
        }
    }

    fn take_h2(&mut self, pairs: Vec<HttpPair>) {
        for mut p in pairs {
            decode_h2_body(&mut p);
            self.pairs.push(p);
        }
    }

    fn switch(&mut self, up: super::http1::Upgrade, ts: Micros, ctx: &mut ConnCtx<'_>) {
        if let App::Http1(h) = &self.app {
            ctx.stats.http1.add(h.stats());
        }
        if up.protocol.trim().eq_ignore_ascii_case("h2c") {
            // The upgraded request becomes stream 1; its real response replaces the 101.
            let request = match self.pairs.pop() {
                Some(p) if p.response.as_ref().is_some_and(|r| r.status == 101) => Some(p.request),
                Some(p) => {
                    self.pairs.push(p);
                    None
                }
                None => None,
            };
            ctx.stats.http2_connections += 1;
            self.app = App::Http2(Box::new(H2Conn::after_upgrade(self.scheme, request)));
            self.feed_app(Dir::ClientToServer, &up.client_rest, ts, ctx);
            self.feed_app(Dir::ServerToClient, &up.server_rest, ts, ctx);
        } else {
            ctx.stats.upgrades_not_followed += 1;
            let what = if up.protocol == "CONNECT" {
                "tunnel opened by CONNECT; bytes after it are not parsed".to_string()
            } else {
                format!(
                    "connection upgraded to {:?}; bytes after the switch are not parsed",
                    up.protocol.chars().take(40).collect::<String>()
                )
            };
            if let Some(last) = self.pairs.last_mut() {
                last.notes.push(what);
            }
            self.app = App::Opaque;
        }
    }

    fn app_gap(&mut self, dir: Dir, len: u64, ts: Micros) {
        match &mut self.app {
            App::Sniff(sn) => sn.gapped[usize::from(dir == Dir::ServerToClient)] = true,
            App::Http1(h) => h.gap(dir, len, ts, &mut self.pairs),
            App::Http2(_) => {
                // HTTP/2 framing cannot resume after lost bytes; the open streams are flushed.
                if let App::Http2(mut h) = std::mem::replace(&mut self.app, App::Opaque) {
                    let mut pairs = h.finish();
                    for p in &mut pairs {
                        p.notes.push(format!(
                            "gap of {len} bytes in the connection; HTTP/2 parsing stopped"
                        ));
                    }
                    self.take_h2(pairs);
                }
            }
            App::Opaque => {}
        }
    }

    /// Handle what the TLS layer produced: pairs, and at most one undecrypted report.
    fn tls_outputs(&mut self, outs: Vec<TlsAppOutput>, ctx: &mut ConnCtx<'_>) {
        for o in outs {
            match o {
                TlsAppOutput::Pair(p, facts) => {
                    if let Tls::App { facts: f, .. } = &mut self.tls {
                        *f = facts;
                    }
                    self.pairs.push(p);
                }
                TlsAppOutput::Undecrypted {
                    reason,
                    facts,
                    time,
                } => {
                    let Tls::App {
                        facts: f, reported, ..
                    } = &mut self.tls
                    else {
                        continue;
                    };
                    *f = facts;
                    if std::mem::replace(reported, true) {
                        continue;
                    }
                    ctx.stats.tls_undecrypted += 1;
                    (ctx.out)(CaptureOutput::TlsUndecrypted {
                        input: ctx.input,
                        sni: f.sni.clone(),
                        server: self.server.clone(),
                        reason: reason.to_string(),
                        time: self.first.or(Some(time)),
                    });
                }
            }
        }
        self.emit(ctx);
    }
}

fn tls_info(f: &SessionFacts) -> TlsInfo {
    TlsInfo {
        sni: f.sni.clone(),
        version: f.version.clone(),
        alpn: f.alpn.clone(),
        decrypted: f.decrypted,
    }
}

/// HTTP/2 bodies arrive content-encoded; decode them like HTTP/1 bodies (capped).
fn decode_h2_body(p: &mut HttpPair) {
    let bodies = [(
        p.request
            .headers
            .get("content-encoding")
            .map(str::to_string),
        &mut p.request.body,
    )];
    for (enc, body) in bodies {
        decode_in_place(enc.as_deref(), body, &mut p.notes, "request");
    }
    if let Some(r) = p.response.as_mut() {
        let enc = r.headers.get("content-encoding").map(str::to_string);
        decode_in_place(enc.as_deref(), &mut r.body, &mut p.notes, "response");
    }
}

fn decode_in_place(
    enc: Option<&str>,
    body: &mut crate::model::Body,
    notes: &mut Vec<String>,
    what: &str,
) {
    let Some(enc) = enc.filter(|e| !e.trim().eq_ignore_ascii_case("identity")) else {
        return;
    };
    if body.data.is_empty() {
        return;
    }
    let d = decode_body(Some(enc), &body.data, DEFAULT_DECODED_CAP);
    if let Some(e) = &d.error {
        notes.push(format!("{what} body: {e}"));
    }
    body.truncated |= d.truncated || d.error.is_some();
    body.data = d.data;
}

/// Is `data` a prefix that could still become a request line or TLS hello with more bytes?
fn wants_more(dir: Dir, data: &[u8]) -> bool {
    if dir != Dir::ClientToServer || data.len() >= SNIFF_BYTES {
        return false;
    }
    if data.len() < 6 && data.first() == Some(&0x16) {
        return true;
    }
    data.len() < 17 && !data.is_empty() && data.iter().all(|b| b.is_ascii_uppercase() || *b == b'-')
}

fn is_tls_start(data: &[u8]) -> bool {
    matches!(data, [0x16, 0x03, 0..=4, ..])
        || super::tcp::looks_like_client_hello(data) && !looks_like_request_line(data)
}

impl<'a> StreamSink<ConnCtx<'a>> for Conn {
    fn open(meta: &ConnMeta, _ts: Micros, _ctx: &mut ConnCtx<'a>) -> Self {
        Conn {
            label: format!("{} -> {}", meta.client, meta.server),
            server: fmt_addr(meta.server),
            scheme: "http",
            tls: Tls::None,
            app: App::Sniff(Box::default()),
            decided_transport: false,
            first: None,
            pairs: Vec::new(),
        }
    }

    fn data(&mut self, dir: Dir, data: &[u8], ts: Micros, ctx: &mut ConnCtx<'a>) {
        if self.first.is_none() {
            self.first = Some(ts);
        }
        if !self.decided_transport {
            self.decided_transport = true;
            let tls = match dir {
                Dir::ClientToServer => is_tls_start(data),
                // Mid-stream TLS seen from the server first: a handshake or application record.
                Dir::ServerToClient => matches!(data, [0x16 | 0x17 | 0x15 | 0x14, 0x03, 0..=4, ..]),
            };
            if tls {
                ctx.stats.tls_sessions += 1;
                self.scheme = "https";
                self.tls = Tls::App {
                    app: Box::new(TlsApp::new(self.server.clone())),
                    facts: SessionFacts::default(),
                    reported: false,
                };
            }
        }
        match &mut self.tls {
            Tls::None => self.app_data(dir, data, ts, ctx),
            Tls::App { app, .. } => {
                let mut outs = Vec::new();
                app.push(dir, data, ts, ctx.keys, &mut outs);
                self.tls_outputs(outs, ctx);
            }
        }
    }

    fn gap(&mut self, dir: Dir, len: u64, ts: Micros, ctx: &mut ConnCtx<'a>) {
        match &mut self.tls {
            Tls::None => self.app_gap(dir, len, ts),
            // The TLS layer notices lost record framing itself (it reports a desync).
            Tls::App { .. } => {}
        }
        self.emit(ctx);
    }

    fn end(&mut self, dir: Dir, ts: Micros, ctx: &mut ConnCtx<'a>) {
        if let Tls::App { app, .. } = &mut self.tls {
            let mut outs = Vec::new();
            app.end(dir, ts, &mut outs);
            self.tls_outputs(outs, ctx);
            return;
        }
        if let App::Http1(h) = &mut self.app {
            h.end(dir, ts, &mut self.pairs);
        }
        self.emit(ctx);
    }

    fn close(mut self, _why: Close, ts: Micros, ctx: &mut ConnCtx<'a>) {
        // A connection that only ever sent a short prefix: decide now with what we have.
        if let App::Sniff(sn) = &mut self.app {
            let bufs = std::mem::take(&mut sn.bufs);
            for (i, b) in bufs.iter().enumerate() {
                let dir = if i == 0 {
                    Dir::ClientToServer
                } else {
                    Dir::ServerToClient
                };
                if !b.is_empty() && self.decide(dir, b, ctx) {
                    self.feed_app(dir, b, ts, ctx);
                }
            }
            if let App::Sniff(sn) = &self.app {
                if sn.seen > 0 {
                    ctx.stats.non_http_connections += 1;
                }
            }
        }
        match &mut self.app {
            App::Http1(h) => {
                h.close(ts, &mut self.pairs);
                ctx.stats.http1.add(h.stats());
            }
            App::Http2(h) => {
                let pairs = h.finish();
                self.take_h2(pairs);
            }
            App::Sniff(..) | App::Opaque => {}
        }
        if let Tls::App { app, .. } = &mut self.tls {
            let mut outs = Vec::new();
            app.close(ts, ctx.keys, &mut outs);
            self.tls_outputs(outs, ctx);
            if let Tls::App { facts, .. } = &self.tls {
                if facts.decrypted {
                    ctx.stats.tls_decrypted += 1;
                }
            }
        }
        self.emit(ctx);
    }
}

fn fmt_addr(a: SocketAddr) -> String {
    a.to_string()
}

/// Test helpers shared with other capture modules' tests.
#[cfg(test)]
pub(crate) mod tests_support {
    /// A minimal ClientHello record with SNI and ALPN `h2`.
    pub(crate) fn client_hello(sni: &str) -> Vec<u8> {
        let mut ext = Vec::new();
        let name = sni.as_bytes();
        let mut sni_ext = Vec::new();
        sni_ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
        sni_ext.push(0);
        sni_ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
        sni_ext.extend_from_slice(name);
        ext.extend_from_slice(&0u16.to_be_bytes());
        ext.extend_from_slice(&(sni_ext.len() as u16).to_be_bytes());
        ext.extend_from_slice(&sni_ext);
        ext.extend_from_slice(&16u16.to_be_bytes());
        ext.extend_from_slice(&5u16.to_be_bytes());
        ext.extend_from_slice(&[0, 3, 2, b'h', b'2']);
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7u8; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut hs = vec![1];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }
}
