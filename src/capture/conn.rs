//! Per-connection protocol dispatch: reassembled TCP bytes → (TLS →) HTTP/1.x or HTTP/2 →
//! `Exchange`s. Implements [`StreamSink`] for the TCP table.
//!
//! Owns: recognising the protocol by content (never by port), the TLS seam, the HTTP/2 seam,
//! `Upgrade: h2c` hand-over, and turning each [`HttpPair`] into a `model::Exchange` with its
//! origin (connection "client -> server", server address, TLS facts, capture time, duration).
//! Must not: parse TLS records or HTTP/2 frames itself (those live in `capture/tls.rs` and
//! `capture/http2.rs`), read clocks or files, or keep bytes of connections it cannot parse.
//!
//! ## The seams (for `capture/tls.rs` and `capture/http2.rs`)
//! - A connection whose client starts with a TLS ClientHello (`16 03 0x`, or an SSLv2-format
//!   hello) goes to the TLS layer. If [`Plugins::tls`] is set, it is called once per connection
//!   and the returned [`TlsSession`] receives every ciphertext byte per [`Dir`] (and gaps); it
//!   hands decrypted application bytes back through the `plain` callback, and those bytes are
//!   dispatched exactly like plaintext TCP bytes (HTTP/1 or HTTP/2 by content or by its ALPN),
//!   with URLs in `https://`. Its [`TlsSession::info`] goes into `Origin::tls`; when it ends
//!   without decrypting anything, [`TlsSession::undecrypted_reason`] becomes a
//!   `CaptureOutput::TlsUndecrypted`. Without the plugin, every TLS connection is reported as
//!   undecrypted, with the SNI read from the ClientHello here.
//! - HTTP/2 (prior-knowledge preface `PRI * HTTP/2.0`, ALPN `h2`, or `Upgrade: h2c` + 101) goes
//!   to [`Plugins::http2`] when set; the returned [`HttpSession`] yields `HttpPair`s. Without it,
//!   the connection is counted as unparsed HTTP/2 and noted.
//! - `PipelineConfig::default()` (in `pipeline.rs`) is where the plugins are registered.
//!
//! Known limits: a connection whose first bytes are neither HTTP/1, HTTP/2 nor TLS (and contain
//! no HTTP/1 message start in the first chunk) is ignored and counted as non-HTTP; WebSocket and
//! CONNECT tunnels are not followed after the switch.

use std::net::SocketAddr;
use std::sync::Arc;

use super::http1::{Http1Caps, Http1Conn, Http1Stats};
use super::keylog::KeyLog;
use super::tcp::{looks_like_request_line, Close, ConnMeta, StreamSink};
use super::{CaptureOutput, Dir, HttpPair};
use crate::model::{Exchange, Micros, Origin, TlsInfo};

/// A TLS decryption engine for one connection (implemented in `capture/tls.rs`).
pub trait TlsSession {
    /// Feed ciphertext bytes of `dir`; call `plain` with decrypted application data, in order.
    fn push(
        &mut self,
        dir: Dir,
        data: &[u8],
        ts: Micros,
        keys: &KeyLog,
        plain: &mut dyn FnMut(Dir, &[u8], Micros),
    );
    /// `len` bytes of `dir` were never captured.
    fn gap(&mut self, dir: Dir, len: u64);
    /// What is known about the session (SNI, version, ALPN, whether it was decrypted).
    fn info(&self) -> TlsInfo;
    /// Why nothing (or not everything) could be decrypted; `None` if decryption worked.
    fn undecrypted_reason(&self) -> Option<String>;
    /// The hellos were seen but no keys yet: keys added later would still decrypt it.
    fn awaits_keys(&self) -> bool;
}

/// An HTTP parser for one connection other than HTTP/1 (HTTP/2, in `capture/http2.rs`).
pub trait HttpSession {
    fn push(&mut self, dir: Dir, data: &[u8], ts: Micros, out: &mut Vec<HttpPair>);
    fn gap(&mut self, dir: Dir, len: u64, ts: Micros, out: &mut Vec<HttpPair>);
    /// The connection ended: flush open streams (requests without responses get a note).
    fn close(&mut self, ts: Micros, out: &mut Vec<HttpPair>);
}

/// Makes the TLS layer of one connection.
pub type TlsFactory = fn(&ConnMeta) -> Box<dyn TlsSession>;
/// Makes the HTTP/2 layer of one connection; arguments: connection, URL scheme (`http`/`https`).
pub type Http2Factory = fn(&ConnMeta, &'static str) -> Box<dyn HttpSession>;

/// Factories for the optional layers. Plain function pointers keep the config `Copy`.
#[derive(Clone, Copy, Default)]
pub struct Plugins {
    pub tls: Option<TlsFactory>,
    pub http2: Option<Http2Factory>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugins")
            .field("tls", &self.tls.is_some())
            .field("http2", &self.http2.is_some())
            .finish()
    }
}

/// Counters of the dispatch layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnStats {
    pub exchanges: u64,
    pub http1_connections: u64,
    pub http2_connections: u64,
    /// HTTP/2 connections seen but not parsed (no HTTP/2 layer).
    pub http2_unparsed: u64,
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
    pub plugins: Plugins,
    pub http1_caps: &'a Http1Caps,
    pub stats: &'a mut ConnStats,
    pub next_index: &'a mut usize,
    pub out: &'a mut dyn FnMut(CaptureOutput),
    /// Where a connection that closes while its TLS session waits for keys is put, if there
    /// is room (`PARK_CAP`), instead of being reported undecrypted at once.
    pub parked: &'a mut Vec<Parked>,
}

/// Closed connections parked at most (each holds up to `tls::PENDING_CAP` bytes).
pub const PARK_CAP: usize = 64;

/// A closed connection whose TLS session still waits for keys (see `Pipeline`).
pub struct Parked {
    pub conn: Conn,
    pub closed: Micros,
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
    Http2(Box<dyn HttpSession>),
    /// Not parsed; why.
    Opaque,
}

const SNIFF_BYTES: usize = 24;
/// Bytes without any HTTP sign after which a connection is declared non-HTTP.
const SNIFF_LIMIT: usize = 8 << 10;
const HELLO_BYTES: usize = 16 << 10;

enum Tls {
    /// Plaintext connection.
    None,
    /// TLS without a decryption layer: collect the ClientHello for its SNI, then ignore bytes.
    Blind {
        hello: Vec<u8>,
        info: TlsInfo,
        reported: bool,
    },
    Session(Box<dyn TlsSession>),
}

/// One connection above TCP.
pub struct Conn {
    meta: ConnMeta,
    /// "client -> server" and "ip:port" of the server, shared by all exchanges of the connection.
    label: Arc<str>,
    server: Arc<str>,
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
            Tls::Blind { info, .. } => Some(info.clone()),
            Tls::Session(s) => Some(s.info()),
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
        let mut c = Http1Conn::new(self.scheme, self.server.to_string(), ctx.http1_caps.clone());
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
        match ctx.plugins.http2 {
            Some(make) => {
                ctx.stats.http2_connections += 1;
                App::Http2(make(&self.meta, self.scheme))
            }
            None => {
                ctx.stats.http2_unparsed += 1;
                App::Opaque
            }
        }
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
            App::Http2(h) => h.push(dir, data, ts, &mut self.pairs),
            App::Sniff(..) | App::Opaque => {}
        }
    }

    fn switch(&mut self, up: super::http1::Upgrade, ts: Micros, ctx: &mut ConnCtx<'_>) {
        if let App::Http1(h) = &self.app {
            ctx.stats.http1.add(h.stats());
        }
        if up.protocol.trim().eq_ignore_ascii_case("h2c") && ctx.plugins.http2.is_some() {
            self.app = self.start_http2(ctx);
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
            App::Http2(h) => h.gap(dir, len, ts, &mut self.pairs),
            App::Opaque => {}
        }
    }

    fn report_tls(&mut self, ts: Micros, ctx: &mut ConnCtx<'_>) {
        let reason = match &mut self.tls {
            Tls::Blind { reported, info, .. } if !*reported => {
                *reported = true;
                let _ = info;
                Some(
                    "no TLS decryption layer for this capture; the traffic is encrypted"
                        .to_string(),
                )
            }
            Tls::Session(s) => s.undecrypted_reason(),
            _ => None,
        };
        let Some(reason) = reason else { return };
        let sni = match &self.tls {
            Tls::Blind { info, .. } => info.sni.clone(),
            Tls::Session(s) => s.info().sni,
            Tls::None => None,
        };
        ctx.stats.tls_undecrypted += 1;
        (ctx.out)(CaptureOutput::TlsUndecrypted {
            input: ctx.input,
            sni,
            server: self.server.to_string(),
            reason,
            time: self.first.or(Some(ts)),
        });
    }
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
            meta: meta.clone(),
            label: format!("{} -> {}", meta.client, meta.server).into(),
            server: fmt_addr(meta.server).into(),
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
                Dir::ServerToClient => matches!(data, [0x14..=0x17, 0x03, 0..=4, ..]),
            };
            if tls {
                ctx.stats.tls_sessions += 1;
                self.scheme = "https";
                self.tls = match ctx.plugins.tls {
                    Some(make) => Tls::Session(make(&self.meta)),
                    None => Tls::Blind {
                        hello: Vec::new(),
                        info: TlsInfo::default(),
                        reported: false,
                    },
                };
            }
        }
        match &mut self.tls {
            Tls::None => self.app_data(dir, data, ts, ctx),
            Tls::Blind {
                hello,
                info,
                reported,
            } => {
                if dir == Dir::ClientToServer && !*reported && hello.len() < HELLO_BYTES {
                    let room = HELLO_BYTES - hello.len();
                    hello.extend_from_slice(data.get(..room.min(data.len())).unwrap_or(&[]));
                    match parse_client_hello(hello) {
                        Hello::NeedMore if hello.len() < HELLO_BYTES => return,
                        Hello::Parsed { sni, alpn } => {
                            info.sni = sni;
                            info.alpn = alpn;
                        }
                        _ => {}
                    }
                    *hello = Vec::new();
                    self.report_tls(ts, ctx);
                } else if !*reported {
                    self.report_tls(ts, ctx);
                }
            }
            Tls::Session(_) => self.tls_push(dir, data, ts, ctx),
        }
    }

    fn gap(&mut self, dir: Dir, len: u64, ts: Micros, ctx: &mut ConnCtx<'a>) {
        match &mut self.tls {
            Tls::None => self.app_gap(dir, len, ts),
            Tls::Blind { .. } => {}
            Tls::Session(s) => s.gap(dir, len),
        }
        self.emit(ctx);
    }

    fn end(&mut self, dir: Dir, ts: Micros, ctx: &mut ConnCtx<'a>) {
        if let App::Http1(h) = &mut self.app {
            h.end(dir, ts, &mut self.pairs);
        }
        self.emit(ctx);
    }

    fn close(self, _why: Close, ts: Micros, ctx: &mut ConnCtx<'a>) {
        if ctx.parked.len() < PARK_CAP && self.awaits_keys() {
            ctx.parked.push(Parked {
                conn: self,
                closed: ts,
            });
            return;
        }
        self.close_now(ts, ctx);
    }
}

impl Conn {
    /// The key log grew: let a parked connection's TLS session try its keys again.
    pub fn retry_keys(&mut self, ts: Micros, ctx: &mut ConnCtx<'_>) {
        self.tls_push(Dir::ClientToServer, &[], ts, ctx);
    }

    /// Ciphertext of `dir` into the TLS session; its plaintext on to the application layer.
    /// Empty `data` only lets the session retry keys the key log gained since.
    fn tls_push(&mut self, dir: Dir, data: &[u8], ts: Micros, ctx: &mut ConnCtx<'_>) {
        let Tls::Session(s) = &mut self.tls else {
            return;
        };
        let mut plain: Vec<(Dir, Vec<u8>, Micros)> = Vec::new();
        s.push(dir, data, ts, ctx.keys, &mut |d, p, t| {
            plain.push((d, p.to_vec(), t))
        });
        for (d, p, t) in plain {
            self.app_data(d, &p, t, ctx);
        }
    }

    /// Is this connection's TLS session still waiting for keys?
    pub fn awaits_keys(&self) -> bool {
        matches!(&self.tls, Tls::Session(s) if s.awaits_keys())
    }

    /// Flush the HTTP layer and report an undecrypted TLS session: the end of the connection.
    pub fn close_now(mut self, ts: Micros, ctx: &mut ConnCtx<'_>) {
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
            App::Http2(h) => h.close(ts, &mut self.pairs),
            App::Sniff(..) | App::Opaque => {}
        }
        if let Tls::Blind {
            reported: false, ..
        }
        | Tls::Session(_) = self.tls
        {
            self.report_tls(ts, ctx);
        }
        self.emit(ctx);
    }
}

fn fmt_addr(a: SocketAddr) -> String {
    a.to_string()
}

enum Hello {
    NeedMore,
    Parsed {
        sni: Option<String>,
        alpn: Option<String>,
    },
    /// Not a TLS ClientHello.
    Other,
}

/// Read SNI and the first ALPN protocol from a TLS ClientHello (first handshake message, which
/// may span several records).
fn parse_client_hello(data: &[u8]) -> Hello {
    // Reassemble the handshake bytes from consecutive handshake records.
    let mut hs = Vec::new();
    let mut at = 0usize;
    while let Some(hdr) = data.get(at..at + 5) {
        if hdr.first() != Some(&0x16) {
            break;
        }
        let len = usize::from(u16::from_be_bytes([hdr[3], hdr[4]]));
        let body = data
            .get(at + 5..(at + 5 + len).min(data.len()))
            .unwrap_or(&[]);
        hs.extend_from_slice(body);
        if body.len() < len {
            break;
        }
        at += 5 + len;
    }
    if data.first() != Some(&0x16) {
        return Hello::Other;
    }
    let mut r = Reader { d: &hs, at: 0 };
    let Some(kind) = r.u8() else {
        return Hello::NeedMore;
    };
    if kind != 1 {
        return Hello::Other;
    }
    let Some(len) = r.u24() else {
        return Hello::NeedMore;
    };
    if hs.len() < 4 + len {
        return Hello::NeedMore;
    }
    let mut r = Reader {
        d: hs.get(4..4 + len).unwrap_or(&[]),
        at: 0,
    };
    let mut sni = None;
    let mut alpn = None;
    let ok = (|| -> Option<()> {
        r.skip(2 + 32)?;
        let sid = usize::from(r.u8()?);
        r.skip(sid)?;
        let cs = usize::from(r.u16()?);
        r.skip(cs)?;
        let comp = usize::from(r.u8()?);
        r.skip(comp)?;
        let ext_len = usize::from(r.u16()?);
        let end = r.at + ext_len;
        while r.at + 4 <= end {
            let t = r.u16()?;
            let l = usize::from(r.u16()?);
            let body = r.take(l)?;
            let mut e = Reader { d: body, at: 0 };
            match t {
                0 => {
                    e.u16()?;
                    if e.u8()? == 0 {
                        let n = usize::from(e.u16()?);
                        sni = Some(String::from_utf8_lossy(e.take(n)?).into_owned());
                    }
                }
                16 => {
                    e.u16()?;
                    let n = usize::from(e.u8()?);
                    alpn = Some(String::from_utf8_lossy(e.take(n)?).into_owned());
                }
                _ => {}
            }
        }
        Some(())
    })();
    let _ = ok;
    Hello::Parsed { sni, alpn }
}

struct Reader<'a> {
    d: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.d.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u16(&mut self) -> Option<u16> {
        let s = self.take(2)?;
        Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
    }
    fn u24(&mut self) -> Option<usize> {
        let s = self.take(3)?;
        Some(
            usize::from(*s.first()?) << 16 | usize::from(*s.get(1)?) << 8 | usize::from(*s.get(2)?),
        )
    }
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

#[cfg(test)]
mod tests {
    use super::tests_support::client_hello;
    use super::*;

    #[test]
    fn sni_and_alpn_from_hello() {
        let h = client_hello("tenant.eu.auth0.com");
        match parse_client_hello(&h) {
            Hello::Parsed { sni, alpn } => {
                assert_eq!(sni.as_deref(), Some("tenant.eu.auth0.com"));
                assert_eq!(alpn.as_deref(), Some("h2"));
            }
            _ => panic!("not parsed"),
        }
        assert!(matches!(parse_client_hello(&h[..20]), Hello::NeedMore));
        assert!(matches!(parse_client_hello(b"GET /"), Hello::Other));
        for n in 0..h.len() {
            let _ = parse_client_hello(&h[..n]);
        }
    }
}
