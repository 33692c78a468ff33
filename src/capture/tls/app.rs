//! TLS session plus the HTTP parser above it: the seam `capture::conn` plugs into for a
//! connection that starts with a ClientHello.
//!
//! Owns: feeding decrypted bytes to HTTP/1.1 or HTTP/2 (chosen from ALPN, else from the
//! HTTP/2 preface), decoding HTTP/2 bodies through `decode::body`, and turning TLS give-ups into
//! `TlsAppOutput::Undecrypted`. Must not: read files or clocks. The key log is passed in on every
//! call, so keys added later (a DSB later in the file) are picked up (see `TlsConn` pending).
//! Limits: a TCP gap inside a TLS stream loses record framing for that direction (noted and
//! counted by `TlsConn` as desync); we do not try to re-find record boundaries.

use super::{SessionFacts, TlsConn, TlsOutput, Undecryptable};
use crate::capture::http1::{Http1Caps, Http1Conn};
use crate::capture::http2::H2Conn;
use crate::capture::keylog::KeyLog;
use crate::capture::{Dir, HttpPair};
use crate::decode::body::{decode_body, DEFAULT_DECODED_CAP};
use crate::model::Micros;

/// What a TLS connection yields.
#[derive(Debug, Clone, PartialEq)]
pub enum TlsAppOutput {
    /// A decrypted exchange with the session facts at the time it completed.
    Pair(HttpPair, SessionFacts),
    /// The session could not be (further) decrypted.
    Undecrypted {
        reason: Undecryptable,
        facts: SessionFacts,
        time: Micros,
    },
}

enum App {
    Undecided,
    H1(Box<Http1Conn>),
    H2(Box<H2Conn>),
    /// Decrypted, but not HTTP (e.g. a ping/pong test protocol): bytes are counted only.
    Other,
}

/// One TLS connection with its HTTP layer.
pub struct TlsApp {
    pub tls: TlsConn,
    app: App,
    /// "ip:port" of the server (fallback authority).
    server: String,
    /// Plaintext bytes that were not HTTP.
    pub other_bytes: u64,
    /// Plaintext held per direction while the protocol is undecided (capped at `PROBE_CAP`).
    probe: [Vec<u8>; 2],
}

/// Plaintext held while deciding between HTTP/1 and HTTP/2 without ALPN (a TLS 1.0 client may
/// split "GET ..." into a 1-byte record and the rest).
const PROBE_CAP: usize = 64 * 1024;

impl TlsApp {
    pub fn new(server: String) -> Self {
        TlsApp {
            tls: TlsConn::new(),
            app: App::Undecided,
            server,
            other_bytes: 0,
            probe: [Vec::new(), Vec::new()],
        }
    }

    /// "h1", "h2", "other" or "undecided".
    pub fn protocol(&self) -> &'static str {
        match self.app {
            App::Undecided => "undecided",
            App::H1(_) => "h1",
            App::H2(_) => "h2",
            App::Other => "other",
        }
    }

    pub fn push(
        &mut self,
        dir: Dir,
        data: &[u8],
        ts: Micros,
        keys: &KeyLog,
        out: &mut Vec<TlsAppOutput>,
    ) {
        let outs = self.tls.push(dir, data, ts, keys);
        self.handle(outs, ts, out);
    }

    fn handle(&mut self, outs: Vec<TlsOutput>, now: Micros, out: &mut Vec<TlsAppOutput>) {
        for o in outs {
            match o {
                TlsOutput::Plaintext { dir, data, ts } => self.plaintext(dir, &data, ts, out),
                TlsOutput::Handshake(_) => {}
                TlsOutput::Undecryptable { reason, facts } => out.push(TlsAppOutput::Undecrypted {
                    reason,
                    facts,
                    time: now,
                }),
            }
        }
    }

    fn decide(&mut self, dir: Dir, data: &[u8]) {
        let alpn = self.tls.facts().alpn.clone();
        let sni = self.tls.facts().sni.clone();
        let authority = sni.clone().unwrap_or_else(|| self.server.clone());
        let h2 = || App::H2(Box::new(H2Conn::new("https", Some(authority.clone()))));
        self.app = match alpn.as_deref() {
            Some("h2") => h2(),
            Some(a) if a.starts_with("http/1") => App::H1(Box::new(Http1Conn::new(
                "https",
                sni.unwrap_or_else(|| self.server.clone()),
                Http1Caps::default(),
            ))),
            _ if dir == Dir::ClientToServer && H2Conn::starts_with_preface(data) => h2(),
            _ if dir == Dir::ClientToServer && looks_like_http1_request(data) => {
                App::H1(Box::new(Http1Conn::new(
                    "https",
                    sni.unwrap_or_else(|| self.server.clone()),
                    Http1Caps::default(),
                )))
            }
            _ if dir == Dir::ServerToClient && data.starts_with(b"HTTP/") => {
                App::H1(Box::new(Http1Conn::new(
                    "https",
                    sni.unwrap_or_else(|| self.server.clone()),
                    Http1Caps::default(),
                )))
            }
            _ => App::Other,
        };
    }

    fn plaintext(&mut self, dir: Dir, data: &[u8], ts: Micros, out: &mut Vec<TlsAppOutput>) {
        if let App::Undecided = self.app {
            let i = usize::from(dir == Dir::ServerToClient);
            if self.probe[i].len() + data.len() > PROBE_CAP {
                self.app = App::Other;
            } else {
                self.probe[i].extend_from_slice(data);
                let client = std::mem::take(&mut self.probe[0]);
                let decided = self.tls.facts().alpn.is_some()
                    || client.len() >= 24
                    || H2Conn::starts_with_preface(&client) && client.len() >= 24
                    || looks_like_http1_request(&client)
                    || client
                        .iter()
                        .any(|b| !(b.is_ascii_uppercase() || *b == b'-'));
                if !decided {
                    self.probe[0] = client;
                    return;
                }
                let from = if client.is_empty() {
                    Dir::ServerToClient
                } else {
                    Dir::ClientToServer
                };
                let first = if client.is_empty() {
                    self.probe[1].clone()
                } else {
                    client.clone()
                };
                self.decide(from, &first);
                let server = std::mem::take(&mut self.probe[1]);
                if !client.is_empty() {
                    self.feed(Dir::ClientToServer, &client, ts, out);
                }
                if !server.is_empty() {
                    self.feed(Dir::ServerToClient, &server, ts, out);
                }
                return;
            }
        }
        self.feed(dir, data, ts, out);
    }

    fn feed(&mut self, dir: Dir, data: &[u8], ts: Micros, out: &mut Vec<TlsAppOutput>) {
        let mut pairs = Vec::new();
        match &mut self.app {
            App::H1(h) => h.push(dir, data, ts, &mut pairs),
            App::H2(h) => pairs = h.push(dir, data, ts),
            App::Other | App::Undecided => self.other_bytes += data.len() as u64,
        }
        self.emit(pairs, out);
    }

    fn emit(&mut self, pairs: Vec<HttpPair>, out: &mut Vec<TlsAppOutput>) {
        let is_h2 = matches!(self.app, App::H2(_));
        for mut p in pairs {
            if is_h2 {
                decode_h2_bodies(&mut p);
            }
            out.push(TlsAppOutput::Pair(p, self.tls.facts().clone()));
        }
    }

    /// `dir` reached FIN.
    pub fn end(&mut self, dir: Dir, ts: Micros, out: &mut Vec<TlsAppOutput>) {
        let mut pairs = Vec::new();
        if let App::H1(h) = &mut self.app {
            h.end(dir, ts, &mut pairs);
        }
        self.emit(pairs, out);
    }

    /// The connection is gone: flush the HTTP layer and report an undecrypted session.
    pub fn close(&mut self, ts: Micros, keys: &KeyLog, out: &mut Vec<TlsAppOutput>) {
        let outs = self.tls.finish(keys);
        self.handle(outs, ts, out);
        if let App::Undecided = self.app {
            let client = std::mem::take(&mut self.probe[0]);
            let server = std::mem::take(&mut self.probe[1]);
            if !client.is_empty() || !server.is_empty() {
                let (from, first) = if client.is_empty() {
                    (Dir::ServerToClient, &server)
                } else {
                    (Dir::ClientToServer, &client)
                };
                self.decide(from, &first.clone());
                self.feed(Dir::ClientToServer, &client, ts, out);
                self.feed(Dir::ServerToClient, &server, ts, out);
            }
        }
        let mut pairs = Vec::new();
        match &mut self.app {
            App::H1(h) => h.close(ts, &mut pairs),
            App::H2(h) => pairs = h.finish(),
            _ => {}
        }
        self.emit(pairs, out);
    }
}

fn looks_like_http1_request(d: &[u8]) -> bool {
    let word: Vec<u8> = d
        .iter()
        .take(17)
        .take_while(|b| **b != b' ')
        .copied()
        .collect();
    !word.is_empty()
        && word.len() <= 16
        && word.iter().all(|b| b.is_ascii_uppercase() || *b == b'-')
        && d.get(word.len()) == Some(&b' ')
}

/// HTTP/2 carries bodies with their `content-encoding`; decode them like HTTP/1 does.
fn decode_h2_bodies(p: &mut HttpPair) {
    let enc = p
        .request
        .headers
        .get("content-encoding")
        .map(str::to_string);
    if enc.is_some() && !p.request.body.data.is_empty() {
        let d = decode_body(enc.as_deref(), &p.request.body.data, DEFAULT_DECODED_CAP);
        apply(&mut p.request.body, d, &mut p.notes, "request");
    }
    if let Some(r) = p.response.as_mut() {
        let enc = r.headers.get("content-encoding").map(str::to_string);
        if enc.is_some() && !r.body.data.is_empty() {
            let d = decode_body(enc.as_deref(), &r.body.data, DEFAULT_DECODED_CAP);
            apply(&mut r.body, d, &mut p.notes, "response");
        }
    }
}

fn apply(
    body: &mut crate::model::Body,
    d: crate::decode::body::Decoded,
    notes: &mut Vec<String>,
    which: &str,
) {
    if let Some(e) = &d.error {
        notes.push(format!("{which} body: {e}"));
        if matches!(e, crate::decode::body::DecodeError::Unsupported(_)) {
            return; // kept encoded
        }
    }
    if d.truncated {
        body.truncated = true;
        notes.push(format!("{which} body decoded output truncated at cap"));
    }
    body.data = d.data;
}
