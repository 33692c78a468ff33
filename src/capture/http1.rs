//! HTTP/1.x framing on one reassembled connection (sans-I/O), built on `httparse`.
//!
//! Owns: parsing requests and responses from the two byte streams of a connection, pairing them
//! in order (pipelining), message bodies (Content-Length, chunked with trailers, close-delimited,
//! none for HEAD/1xx/204/304), interim 1xx responses, `Upgrade`/CONNECT (parsing stops and the
//! rest of the bytes are handed back through [`Http1Conn::take_upgrade`]), content decoding
//! through the capped decoders of `decode::body`, and resynchronising after gaps or garbage.
//! Must not: read clocks or sockets, hold unbounded data, or panic on any byte sequence.
//!
//! Caps (see [`Http1Caps`]): header block 64 KiB (a chunked trailer section too: at most
//! `MAX_HEADERS` lines and 64 KiB, beyond that the message counts as malformed), raw body kept 2 MiB per message (beyond that the
//! body is marked truncated), decoded body 8 MiB, 1024 requests waiting for a response. Every cap
//! hit is counted in [`Http1Stats`] and noted on the exchange.
//! Known limits: after a gap in a server stream, the next response is paired with the oldest
//! unanswered request, which may be the wrong one when a whole response was lost; HTTP/0.9 is
//! not recognised; `Transfer-Encoding` other than chunked is read until close.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::mem::MaybeUninit;

use super::{Dir, HttpPair};
use crate::decode::body::{decode_body, DecodeError};
use crate::model::{Body, Headers, Micros, Request, Response};

/// Limits of the HTTP/1 parser.
#[derive(Debug, Clone)]
pub struct Http1Caps {
    pub header_bytes: usize,
    pub body_bytes: usize,
    pub decoded_bytes: usize,
    pub max_pending: usize,
}

impl Default for Http1Caps {
    fn default() -> Self {
        Self {
            header_bytes: 64 << 10,
            body_bytes: 2 << 20,
            decoded_bytes: crate::decode::body::DEFAULT_DECODED_CAP,
            max_pending: 1024,
        }
    }
}

/// Counters of the HTTP/1 parser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Http1Stats {
    pub requests: u64,
    pub responses: u64,
    /// 1xx interim responses (100 Continue, 103 Early Hints).
    pub interim: u64,
    /// Responses with no request to pair with (capture started mid-connection, or lost request).
    pub orphan_responses: u64,
    /// Requests that never got a response.
    pub unanswered: u64,
    /// Header blocks or chunk framing that could not be parsed (the stream was resynchronised).
    pub parse_errors: u64,
    /// Bytes skipped while looking for the next message start.
    pub skipped_bytes: u64,
    /// Message heads cut off by the end of their stream (not counted as messages), and their bytes.
    pub cut_heads: u64,
    pub cut_head_bytes: u64,
    pub upgrades: u64,
    pub bodies_truncated: u64,
    pub decode_errors: u64,
    pub pending_cap_hits: u64,
}

impl Http1Stats {
    /// Add another connection's counters to these.
    pub fn add(&mut self, o: &Http1Stats) {
        self.requests += o.requests;
        self.responses += o.responses;
        self.interim += o.interim;
        self.orphan_responses += o.orphan_responses;
        self.unanswered += o.unanswered;
        self.parse_errors += o.parse_errors;
        self.skipped_bytes += o.skipped_bytes;
        self.cut_heads += o.cut_heads;
        self.cut_head_bytes += o.cut_head_bytes;
        self.upgrades += o.upgrades;
        self.bodies_truncated += o.bodies_truncated;
        self.decode_errors += o.decode_errors;
        self.pending_cap_hits += o.pending_cap_hits;
    }
}

/// The connection switched protocols (101, or a 2xx to CONNECT): bytes after the switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    /// Value of the `Upgrade` header (e.g. `h2c`, `websocket`), or `CONNECT` for a tunnel.
    pub protocol: String,
    pub client_rest: Vec<u8>,
    pub server_rest: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a header block.
    Idle,
    Body(u64),
    Chunked(Chunk),
    UntilClose,
    /// Client side: a request asked to switch protocols; hold bytes until the response decides.
    Paused,
    /// Protocol switched; bytes are no longer HTTP/1.
    Switched,
}

#[derive(Debug, Default)]
struct Half {
    buf: Vec<u8>,
    state: Option<State>,
    resync: bool,
    body: Vec<u8>,
    body_dropped: u64,
    /// Notes for the message in progress (gaps, truncation).
    notes: Vec<String>,
    /// Server side: the response whose body is being read (and where its framing headers are),
    /// and whether it has a request.
    resp: Option<Response>,
    resp_facts: Facts,
    resp_orphan: bool,
    /// Notes waiting for the next message of this direction (a gap between messages).
    pending_note: Option<String>,
    /// Trailer lines and bytes read for the chunked message in progress (capped like a header
    /// block: `MAX_HEADERS` lines, `Http1Caps::header_bytes` bytes).
    trailer_lines: usize,
    trailer_bytes: usize,
}

impl Half {
    fn state(&self) -> State {
        self.state.unwrap_or(State::Idle)
    }
}

#[derive(Debug)]
struct Pending {
    pair: HttpPair,
    facts: Facts,
    req_done: bool,
    resp_done: bool,
    head: bool,
    connect: bool,
    wants_upgrade: bool,
}

/// HTTP/1.x state for one connection.
#[derive(Debug)]
pub struct Http1Conn {
    scheme: &'static str,
    /// `ip:port` of the server, used as the URL authority when a request has no Host.
    server: String,
    caps: Http1Caps,
    half: [Half; 2],
    pending: VecDeque<Pending>,
    upgrade: Option<Upgrade>,
    switching: Option<String>,
    stats: Http1Stats,
}

fn idx(dir: Dir) -> usize {
    match dir {
        Dir::ClientToServer => 0,
        Dir::ServerToClient => 1,
    }
}

const MAX_HEADERS: usize = 128;
/// Bytes of decoded request bodies that unanswered (pipelined) requests may hold per connection.
pub const HELD_BODY_BUDGET: usize = 16 << 20;

impl Http1Conn {
    pub fn new(scheme: &'static str, server: String, caps: Http1Caps) -> Self {
        Self {
            scheme,
            server,
            caps,
            half: [Half::default(), Half::default()],
            pending: VecDeque::new(),
            upgrade: None,
            switching: None,
            stats: Http1Stats::default(),
        }
    }

    pub fn stats(&self) -> &Http1Stats {
        &self.stats
    }

    /// Mark `dir` as starting mid-message (capture began mid-connection): look for the next
    /// message start before parsing.
    pub fn resync(&mut self, dir: Dir) {
        self.half[idx(dir)].resync = true;
    }

    /// After a protocol switch: the protocol and the bytes that followed it, once.
    pub fn take_upgrade(&mut self) -> Option<Upgrade> {
        self.upgrade.take()
    }

    /// Feed in-order bytes of one direction. Completed pairs are appended to `out`.
    pub fn push(&mut self, dir: Dir, data: &[u8], ts: Micros, out: &mut Vec<HttpPair>) {
        let i = idx(dir);
        if self.half[i].state() == State::Switched {
            return;
        }
        if self.half[i].buf.is_empty() {
            let used = self.process(dir, data, ts, out);
            let rest = data.get(used..).unwrap_or(&[]);
            self.keep(i, rest);
        } else {
            let mut buf = std::mem::take(&mut self.half[i].buf);
            buf.extend_from_slice(data);
            let used = self.process(dir, &buf, ts, out);
            let rest = buf.get(used..).unwrap_or(&[]);
            self.keep(i, rest);
        }
        self.finish_switch();
    }

    fn keep(&mut self, i: usize, rest: &[u8]) {
        let cap = self.caps.header_bytes.saturating_mul(2);
        let h = &mut self.half[i];
        let room = cap.saturating_sub(h.buf.len());
        if rest.len() > room {
            // Only possible while paused waiting for an upgrade decision.
            self.stats.skipped_bytes += (rest.len() - room) as u64;
            h.notes.push(format!(
                "{} bytes dropped while waiting for the upgrade response",
                rest.len() - room
            ));
        }
        h.buf
            .extend_from_slice(rest.get(..room.min(rest.len())).unwrap_or(&[]));
    }

    /// `len` bytes of `dir` were lost.
    pub fn gap(&mut self, dir: Dir, len: u64, ts: Micros, out: &mut Vec<HttpPair>) {
        let i = idx(dir);
        let side = side_name(dir);
        let note = format!("gap of {len} bytes in the {side} stream; exchange is incomplete");
        let h = &mut self.half[i];
        h.buf.clear();
        match h.state() {
            State::Body(rem) if len <= rem => {
                h.notes.push(note);
                h.body_dropped += len;
                h.state = Some(State::Body(rem - len));
                if rem == len {
                    self.finish_message(dir, ts, out);
                }
            }
            State::Chunked(Chunk::Data(rem)) if len <= rem => {
                h.notes.push(note);
                h.body_dropped += len;
                h.state = Some(State::Chunked(Chunk::Data(rem - len)));
            }
            State::UntilClose => {
                h.notes.push(note);
                h.body_dropped += len;
            }
            State::Idle => {
                h.resync = true;
                let waiting = match dir {
                    Dir::ServerToClient => self.pending.iter_mut().find(|p| !p.resp_done),
                    Dir::ClientToServer => None,
                };
                match waiting {
                    // The response to this request may be what was lost.
                    Some(p) => p.pair.notes.push(note),
                    None => {
                        h.pending_note = Some(format!(
                            "gap of {len} bytes in the {side} stream before this message; messages may be missing"
                        ))
                    }
                }
            }
            State::Paused | State::Switched => {}
            State::Body(_) | State::Chunked(_) => {
                h.notes.push(note);
                h.body_dropped += len;
                self.finish_message(dir, ts, out);
                self.half[i].resync = true;
            }
        }
    }

    /// `dir` reached its end (FIN): close-delimited bodies complete, partial messages are kept.
    pub fn end(&mut self, dir: Dir, ts: Micros, out: &mut Vec<HttpPair>) {
        let i = idx(dir);
        match self.half[i].state() {
            State::UntilClose => self.finish_message(dir, ts, out),
            State::Body(rem) | State::Chunked(Chunk::Data(rem)) => {
                let side = side_name(dir);
                self.half[i].notes.push(format!(
                    "{side} stream ended {rem} bytes before the end of the body"
                ));
                self.half[i].body_dropped += rem.max(1);
                self.finish_message(dir, ts, out);
            }
            State::Chunked(_) => {
                let side = side_name(dir);
                self.half[i]
                    .notes
                    .push(format!("{side} stream ended inside chunked framing"));
                self.half[i].body_dropped += 1;
                self.finish_message(dir, ts, out);
            }
            State::Idle => {
                if !self.half[i].buf.is_empty() && !self.half[i].resync {
                    let n = self.half[i].buf.len();
                    self.stats.cut_heads += 1;
                    self.stats.cut_head_bytes += n as u64;
                    self.note_next_pending(
                        dir,
                        format!(
                            "{n} bytes of an incomplete header block at the end of the {} stream",
                            side_name(dir)
                        ),
                    );
                }
                self.half[i].buf.clear();
            }
            State::Paused | State::Switched => {}
        }
    }

    /// The connection is gone: flush every message in progress and every waiting request.
    pub fn close(&mut self, ts: Micros, out: &mut Vec<HttpPair>) {
        self.end(Dir::ClientToServer, ts, out);
        self.end(Dir::ServerToClient, ts, out);
        while let Some(mut p) = self.pending.pop_front() {
            if !p.resp_done {
                self.stats.unanswered += 1;
                p.pair.notes.push("no response seen".to_string());
            }
            if !p.req_done {
                p.pair.notes.push("request body incomplete".to_string());
            }
            out.push(p.pair);
        }
    }

    fn note_next_pending(&mut self, dir: Dir, note: String) {
        match dir {
            Dir::ClientToServer => {
                if let Some(p) = self.pending.back_mut() {
                    p.pair.notes.push(note);
                }
            }
            Dir::ServerToClient => {
                if let Some(p) = self.pending.iter_mut().find(|p| !p.resp_done) {
                    p.pair.notes.push(note);
                }
            }
        }
    }

    /// Parse as much of `buf` as possible; returns the bytes consumed.
    fn process(&mut self, dir: Dir, buf: &[u8], ts: Micros, out: &mut Vec<HttpPair>) -> usize {
        let i = idx(dir);
        let mut pos = 0usize;
        loop {
            let avail = buf.get(pos..).unwrap_or(&[]);
            match self.half[i].state() {
                State::Switched => return pos,
                State::Paused => return pos,
                State::Idle => {
                    if avail.is_empty() {
                        return pos;
                    }
                    if self.half[i].resync {
                        match find_message_start(dir, avail) {
                            Some(at) => {
                                self.stats.skipped_bytes += at as u64;
                                pos += at;
                                self.half[i].resync = false;
                            }
                            None => {
                                // Keep a short tail: a message start may straddle two chunks.
                                let keep = avail.len().min(24);
                                let skip = avail.len() - keep;
                                self.stats.skipped_bytes += skip as u64;
                                return pos + skip;
                            }
                        }
                        continue;
                    }
                    // Tolerate empty lines between messages.
                    let blank = avail
                        .iter()
                        .take_while(|b| **b == b'\r' || **b == b'\n')
                        .count();
                    if blank > 0 {
                        pos += blank;
                        continue;
                    }
                    match self.parse_head(dir, avail, ts, out) {
                        Head::Done(n) => pos += n,
                        Head::NeedMore => {
                            if avail.len() > self.caps.header_bytes {
                                self.stats.parse_errors += 1;
                                let cap = self.caps.header_bytes;
                                self.half[i].pending_note = Some(format!(
                                    "header block over the {cap}-byte cap was skipped"
                                ));
                                self.half[i].resync = true;
                                pos += 1;
                                continue;
                            }
                            return pos;
                        }
                        Head::Bad => {
                            self.stats.parse_errors += 1;
                            self.half[i].resync = true;
                            pos += 1;
                        }
                    }
                }
                State::Body(rem) => {
                    if avail.is_empty() {
                        return pos;
                    }
                    let take = usize::try_from(rem).unwrap_or(usize::MAX).min(avail.len());
                    self.take_body(i, avail.get(..take).unwrap_or(&[]));
                    pos += take;
                    let left = rem - take as u64;
                    self.half[i].state = Some(State::Body(left));
                    if left == 0 {
                        self.finish_message(dir, ts, out);
                    }
                }
                State::UntilClose => {
                    self.take_body(i, avail);
                    return buf.len();
                }
                State::Chunked(Chunk::Size) => {
                    let Some(nl) = avail.iter().position(|b| *b == b'\n') else {
                        if avail.len() > 1024 {
                            self.chunk_error(
                                dir,
                                ts,
                                out,
                                "chunk-size line longer than 1024 bytes",
                            );
                            continue;
                        }
                        return pos;
                    };
                    let line = avail.get(..nl).unwrap_or(&[]);
                    match parse_chunk_size(line) {
                        Some(0) => {
                            let h = &mut self.half[i];
                            h.state = Some(State::Chunked(Chunk::Trailers));
                            h.trailer_lines = 0;
                            h.trailer_bytes = 0;
                        }
                        Some(n) => self.half[i].state = Some(State::Chunked(Chunk::Data(n))),
                        None => {
                            self.chunk_error(dir, ts, out, "invalid chunk-size line");
                            continue;
                        }
                    }
                    pos += nl + 1;
                }
                State::Chunked(Chunk::Data(rem)) => {
                    if avail.is_empty() {
                        return pos;
                    }
                    let take = usize::try_from(rem).unwrap_or(usize::MAX).min(avail.len());
                    self.take_body(i, avail.get(..take).unwrap_or(&[]));
                    pos += take;
                    let left = rem - take as u64;
                    self.half[i].state = Some(State::Chunked(if left == 0 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left)
                    }));
                }
                State::Chunked(Chunk::DataEnd) => {
                    if avail.starts_with(b"\r\n") {
                        pos += 2;
                    } else if avail.starts_with(b"\n") {
                        pos += 1;
                    } else if avail.len() < 2 {
                        return pos;
                    } else {
                        self.chunk_error(dir, ts, out, "chunk data not followed by CRLF");
                        continue;
                    }
                    self.half[i].state = Some(State::Chunked(Chunk::Size));
                }
                State::Chunked(Chunk::Trailers) => {
                    let Some(nl) = avail.iter().position(|b| *b == b'\n') else {
                        if avail.len() > self.caps.header_bytes {
                            self.chunk_error(dir, ts, out, "trailer section over the header cap");
                            continue;
                        }
                        return pos;
                    };
                    let line = avail.get(..nl).unwrap_or(&[]);
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    pos += nl + 1;
                    if line.is_empty() {
                        self.finish_message(dir, ts, out);
                        continue;
                    }
                    let h = &mut self.half[i];
                    h.trailer_lines += 1;
                    h.trailer_bytes += nl + 1;
                    if h.trailer_lines > MAX_HEADERS {
                        let why = format!("more than {MAX_HEADERS} trailer lines");
                        self.chunk_error(dir, ts, out, &why);
                        continue;
                    }
                    if h.trailer_bytes > self.caps.header_bytes {
                        self.chunk_error(dir, ts, out, "trailer section over the header cap");
                        continue;
                    }
                    if let Some(c) = line.iter().position(|b| *b == b':') {
                        let name = String::from_utf8_lossy(line.get(..c).unwrap_or(&[]))
                            .trim()
                            .to_string();
                        let value = String::from_utf8_lossy(line.get(c + 1..).unwrap_or(&[]))
                            .trim()
                            .to_string();
                        self.add_trailer(dir, name, value);
                    }
                }
            }
        }
    }

    fn chunk_error(&mut self, dir: Dir, ts: Micros, out: &mut Vec<HttpPair>, why: &str) {
        let i = idx(dir);
        self.stats.parse_errors += 1;
        self.half[i]
            .notes
            .push(format!("chunked body broken: {why}"));
        self.half[i].body_dropped += 1;
        self.finish_message(dir, ts, out);
        self.half[i].resync = true;
    }

    fn take_body(&mut self, i: usize, data: &[u8]) {
        let h = &mut self.half[i];
        let room = self.caps.body_bytes.saturating_sub(h.body.len());
        let take = room.min(data.len());
        h.body.extend_from_slice(data.get(..take).unwrap_or(&[]));
        h.body_dropped += (data.len() - take) as u64;
    }

    fn add_trailer(&mut self, dir: Dir, name: String, value: String) {
        match dir {
            Dir::ClientToServer => {
                if let Some(p) = self.pending.back_mut() {
                    p.pair.request.headers.push(name, value);
                }
            }
            Dir::ServerToClient => {
                if let Some(r) = self.half[1].resp.as_mut() {
                    r.headers.push(name, value);
                }
            }
        }
    }

    fn parse_head(&mut self, dir: Dir, data: &[u8], ts: Micros, out: &mut Vec<HttpPair>) -> Head {
        // Uninitialised slots: zeroing 128 headers (4 KiB) per message showed in profiles.
        let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let config = httparse::ParserConfig::default();
        match dir {
            Dir::ClientToServer => {
                let mut req = httparse::Request::new(&mut []);
                match config.parse_request_with_uninit_headers(&mut req, data, &mut headers) {
                    Ok(httparse::Status::Complete(n)) => {
                        let method = known_method(req.method.unwrap_or(""));
                        let target = req.path.unwrap_or("");
                        let version = req.version.unwrap_or(1);
                        let head = to_headers(data, req.headers);
                        self.start_request(method, target, version, head, ts, out);
                        Head::Done(n)
                    }
                    Ok(httparse::Status::Partial) => Head::NeedMore,
                    Err(_) => Head::Bad,
                }
            }
            Dir::ServerToClient => {
                let mut resp = httparse::Response::new(&mut []);
                match config.parse_response_with_uninit_headers(&mut resp, data, &mut headers) {
                    Ok(httparse::Status::Complete(n)) => {
                        let status = resp.code.unwrap_or(0);
                        let reason = known_reason(resp.reason.unwrap_or(""));
                        let version = resp.version.unwrap_or(1);
                        let head = to_headers(data, resp.headers);
                        self.start_response(status, reason, version, head, ts, out);
                        Head::Done(n)
                    }
                    Ok(httparse::Status::Partial) => Head::NeedMore,
                    Err(_) => Head::Bad,
                }
            }
        }
    }

    fn start_request(
        &mut self,
        method: Cow<'static, str>,
        target: &str,
        version: u8,
        (headers, facts): (Headers, Facts),
        ts: Micros,
        out: &mut Vec<HttpPair>,
    ) {
        self.stats.requests += 1;
        if self.pending.len() >= self.caps.max_pending {
            self.stats.pending_cap_hits += 1;
            if let Some(mut p) = self.pending.pop_front() {
                self.stats.unanswered += 1;
                p.pair.notes.push(format!(
                    "no response seen before {} later requests queued (cap)",
                    self.caps.max_pending
                ));
                out.push(p.pair);
            }
        }
        let host = facts.get(&headers, facts.host, "host");
        let url = build_url(self.scheme, &self.server, &method, target, host);
        let head = method.eq_ignore_ascii_case("HEAD");
        let connect = method.eq_ignore_ascii_case("CONNECT");
        let wants_upgrade = connect || facts.get(&headers, facts.upgrade, "upgrade").is_some();
        let body_state = request_body(&headers, &facts);
        let mut notes = Vec::new();
        if let Some(n) = self.half[0].pending_note.take() {
            notes.push(n);
        }
        let mut body_state = match body_state {
            Ok(s) => s,
            Err(why) => {
                self.stats.parse_errors += 1;
                notes.push(why);
                State::Idle
            }
        };
        if body_state == State::Body(0) {
            body_state = State::Idle;
        }
        let pair = HttpPair {
            request: Request {
                method,
                url,
                http_version: Cow::Borrowed(version_str(version)),
                headers,
                body: Body::default(),
            },
            response: None,
            started: Some(ts),
            ended: None,
            notes,
        };
        self.pending.push_back(Pending {
            pair,
            facts,
            req_done: false,
            resp_done: false,
            head,
            connect,
            wants_upgrade,
        });
        let h = &mut self.half[0];
        h.body.clear();
        h.body_dropped = 0;
        h.notes.clear();
        if body_state == State::Idle {
            self.finish_message(Dir::ClientToServer, ts, out);
        } else {
            self.half[0].state = Some(body_state);
        }
    }

    fn start_response(
        &mut self,
        status: u16,
        reason: Cow<'static, str>,
        version: u8,
        (headers, facts): (Headers, Facts),
        ts: Micros,
        out: &mut Vec<HttpPair>,
    ) {
        let target = self.pending.iter_mut().find(|p| !p.resp_done);
        let (head, connect, has_req) = match &target {
            Some(p) => (p.head, p.connect, true),
            None => (false, false, false),
        };
        let response = Response {
            status,
            status_text: reason,
            http_version: Cow::Borrowed(version_str(version)),
            headers,
            body: Body::default(),
        };
        if (100..200).contains(&status) && status != 101 {
            self.stats.interim += 1;
            if let Some(p) = target {
                p.pair.notes.push(format!(
                    "interim response {status} {}",
                    response.status_text
                ));
            }
            return;
        }
        self.stats.responses += 1;
        if !has_req {
            self.stats.orphan_responses += 1;
        }
        let switch = if status == 101 {
            Some(
                response
                    .headers
                    .get("upgrade")
                    .unwrap_or("unknown")
                    .to_string(),
            )
        } else if connect && (200..300).contains(&status) {
            Some("CONNECT".to_string())
        } else {
            None
        };
        let mut body_state = if head || status == 204 || status == 304 || switch.is_some() {
            State::Idle
        } else {
            match response_body(&response.headers, &facts) {
                Ok(s) => s,
                Err(why) => {
                    self.stats.parse_errors += 1;
                    self.half[1].notes.push(why);
                    State::UntilClose
                }
            }
        };
        if body_state == State::Body(0) {
            body_state = State::Idle;
        }
        let h = &mut self.half[1];
        h.body.clear();
        h.body_dropped = 0;
        if let Some(n) = h.pending_note.take() {
            h.notes.push(n);
        }
        h.resp = Some(response);
        h.resp_facts = facts;
        h.resp_orphan = !has_req;
        if let Some(proto) = switch {
            self.stats.upgrades += 1;
            self.switching = Some(proto);
            self.finish_message(Dir::ServerToClient, ts, out);
            self.half[1].state = Some(State::Switched);
            return;
        }
        if body_state == State::Idle {
            self.finish_message(Dir::ServerToClient, ts, out);
        } else {
            self.half[1].state = Some(body_state);
        }
    }

    /// The message in progress on `dir` is complete (or abandoned): attach its body.
    fn finish_message(&mut self, dir: Dir, ts: Micros, out: &mut Vec<HttpPair>) {
        let i = idx(dir);
        let h = &mut self.half[i];
        h.state = Some(State::Idle);
        let raw = std::mem::take(&mut h.body);
        let dropped = std::mem::replace(&mut h.body_dropped, 0);
        let mut notes = std::mem::take(&mut h.notes);
        match dir {
            Dir::ClientToServer => {
                let Some(p) = self.pending.back_mut() else {
                    return;
                };
                let body = make_body(
                    (&p.pair.request.headers, &p.facts),
                    raw,
                    dropped,
                    &self.caps,
                    &mut notes,
                    &mut self.stats,
                    "request",
                );
                let mut body = body;
                // Unanswered requests hold their bodies; keep the total per connection bounded.
                let held: usize = self
                    .pending
                    .iter()
                    .map(|q| q.pair.request.body.data.len())
                    .sum();
                if held + body.data.len() > HELD_BODY_BUDGET {
                    notes.push(format!(
                        "request body of {} bytes dropped: unanswered requests on this connection already hold {held} bytes (cap {HELD_BODY_BUDGET})",
                        body.data.len()
                    ));
                    body.data = Vec::new();
                    body.truncated = true;
                }
                let Some(p) = self.pending.back_mut() else {
                    return;
                };
                p.pair.request.body = body;
                p.pair.notes.append(&mut notes);
                p.req_done = true;
                if p.wants_upgrade && !p.resp_done {
                    self.half[0].state = Some(State::Paused);
                }
            }
            Dir::ServerToClient => {
                let Some(mut resp) = self.half[1].resp.take() else {
                    return;
                };
                let body = make_body(
                    (&resp.headers, &self.half[1].resp_facts),
                    raw,
                    dropped,
                    &self.caps,
                    &mut notes,
                    &mut self.stats,
                    "response",
                );
                resp.body = body;
                if self.half[1].resp_orphan {
                    // Nothing to pair with; counted in `orphan_responses`.
                    return;
                }
                let mut unpause = false;
                if let Some(p) = self.pending.iter_mut().find(|p| !p.resp_done) {
                    p.pair.response = Some(resp);
                    p.pair.ended = Some(ts);
                    p.pair.notes.append(&mut notes);
                    p.resp_done = true;
                    if p.wants_upgrade
                        && self.switching.is_none()
                        && self.half[0].state() == State::Paused
                    {
                        // The switch was refused: the client stream is HTTP/1 again.
                        self.half[0].state = Some(State::Idle);
                        unpause = true;
                    }
                }
                if unpause && !self.half[0].buf.is_empty() {
                    // A refused upgrade: the client bytes held back are HTTP/1 after all. Parse
                    // them now, before later responses in this chunk look for their requests.
                    let buf = std::mem::take(&mut self.half[0].buf);
                    let used = self.process(Dir::ClientToServer, &buf, ts, out);
                    let rest = buf.get(used..).unwrap_or(&[]);
                    self.keep(0, rest);
                }
            }
        }
        while self
            .pending
            .front()
            .is_some_and(|p| p.req_done && p.resp_done)
        {
            if let Some(p) = self.pending.pop_front() {
                out.push(p.pair);
            }
        }
    }

    /// After a 101 / CONNECT 2xx: stop both directions and hand the rest of the bytes back.
    fn finish_switch(&mut self) {
        let Some(protocol) = self.switching.take() else {
            return;
        };
        self.half[0].state = Some(State::Switched);
        self.half[1].state = Some(State::Switched);
        let client_rest = std::mem::take(&mut self.half[0].buf);
        let server_rest = std::mem::take(&mut self.half[1].buf);
        self.upgrade = Some(Upgrade {
            protocol,
            client_rest,
            server_rest,
        });
    }

    /// Bytes of `dir` that arrived after the switch was decided but in the same chunk are kept
    /// by `push`; this flag says whether the connection is still HTTP/1.
    pub fn switched(&self) -> bool {
        self.half[1].state() == State::Switched
    }
}

/// Where the headers that framing needs sit in a parsed header block, found in one pass (so
/// each message does not scan its header list once per lookup).
#[derive(Debug, Clone, Copy, Default)]
struct Facts {
    /// Headers in the block when parsed; trailers added later make the positions stale
    /// (`usize::MAX`: positions not recorded, always scan).
    count: usize,
    // Positions fit a byte (at most `MAX_HEADERS` headers): this rides along with every
    // message, so it is kept small.
    host: Option<u8>,
    upgrade: Option<u8>,
    content_type: Option<u8>,
    content_encoding: Option<u8>,
    /// Content-Length / Transfer-Encoding: how many lines (saturating), and the first one.
    cl: (u8, Option<u8>),
    te: (u8, Option<u8>),
}

impl Facts {
    /// Positions in a block of `count` headers, filled by [`Facts::see`].
    fn new(count: usize) -> Facts {
        Facts {
            // Positions are only recorded when they fit a byte; otherwise always scan.
            count: if count > usize::from(u8::MAX) {
                usize::MAX
            } else {
                count
            },
            ..Facts::default()
        }
    }

    /// Record that header `i` of the block is called `n`.
    #[inline]
    fn see(&mut self, i: usize, n: &str) {
        let Ok(i) = u8::try_from(i) else { return };
        if self.count == usize::MAX {
            return;
        }
        let first = |slot: &mut Option<u8>| {
            slot.get_or_insert(i);
        };
        let n = n.as_bytes();
        match n.len() {
            4 if token_is(n, b"host") => first(&mut self.host),
            7 if token_is(n, b"upgrade") => first(&mut self.upgrade),
            12 if token_is(n, b"content-type") => first(&mut self.content_type),
            14 if token_is(n, b"content-length") => {
                self.cl.0 = self.cl.0.saturating_add(1);
                first(&mut self.cl.1);
            }
            16 if token_is(n, b"content-encoding") => first(&mut self.content_encoding),
            17 if token_is(n, b"transfer-encoding") => {
                self.te.0 = self.te.0.saturating_add(1);
                first(&mut self.te.1);
            }
            _ => {}
        }
    }

    /// Still describes `headers` (no header was added since parsing).
    fn fresh(&self, headers: &Headers) -> bool {
        headers.len() == self.count
    }

    /// First value of `name`, found at position `at` when parsed (a scan if stale).
    fn get<'h>(&self, headers: &'h Headers, at: Option<u8>, name: &str) -> Option<&'h str> {
        if !self.fresh(headers) {
            return headers.get(name);
        }
        at.and_then(|i| headers.value(usize::from(i)))
    }

    /// For a header counted in `(n, first)`: `Some` with its single value (or none) when fresh
    /// and it occurs at most once; `None` means "scan for every value".
    fn only<'h>(&self, headers: &'h Headers, (n, at): (u8, Option<u8>)) -> Option<Option<&'h str>> {
        if !self.fresh(headers) || n > 1 {
            return None;
        }
        Some(at.and_then(|i| headers.value(usize::from(i))))
    }
}

/// Does the header name `name` equal `lower` (lower-case letters and '-') ignoring ASCII case?
/// Compares 8 bytes at a time with 0x20 OR-ed in, which is exact for HTTP token names (all
/// `httparse` hands out): OR-ing 0x20 maps only upper-case letters onto lower-case ones, and CR
/// (never part of a token) onto '-'.
#[inline]
fn token_is(name: &[u8], lower: &[u8]) -> bool {
    const CASE: u64 = 0x2020_2020_2020_2020;
    let n = lower.len();
    if name.len() != n {
        return false;
    }
    if n < 8 {
        return name.iter().zip(lower).all(|(a, b)| (a | 0x20) == *b);
    }
    let word = |b: &[u8], at: usize| -> Option<u64> {
        let w: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(u64::from_le_bytes(w))
    };
    let mut at = 0;
    loop {
        // The last word overlaps the one before it when `n` is not a multiple of 8.
        let at8 = at.min(n - 8);
        match (word(name, at8), word(lower, at8)) {
            (Some(a), Some(b)) if (a | CASE) == b => {}
            _ => return false,
        }
        if at8 == n - 8 {
            return true;
        }
        at += 8;
    }
}

enum Head {
    Done(usize),
    NeedMore,
    Bad,
}

fn side_name(dir: Dir) -> &'static str {
    match dir {
        Dir::ClientToServer => "client",
        Dir::ServerToClient => "server",
    }
}

fn version_str(v: u8) -> &'static str {
    if v == 0 {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    }
}

/// A well-known method as a static string (no allocation), any other one copied.
fn known_method(m: &str) -> Cow<'static, str> {
    const KNOWN: [&str; 9] = [
        "GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE",
    ];
    match KNOWN.iter().find(|k| **k == m) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(m.to_owned()),
    }
}

/// A standard reason phrase as a static string (no allocation), any other one copied.
fn known_reason(r: &str) -> Cow<'static, str> {
    const KNOWN: [&str; 24] = [
        "OK",
        "Created",
        "Accepted",
        "No Content",
        "Moved Permanently",
        "Found",
        "See Other",
        "Not Modified",
        "Temporary Redirect",
        "Permanent Redirect",
        "Bad Request",
        "Unauthorized",
        "Forbidden",
        "Not Found",
        "Method Not Allowed",
        "Conflict",
        "Precondition Failed",
        "Unprocessable Entity",
        "Too Many Requests",
        "Internal Server Error",
        "Bad Gateway",
        "Service Unavailable",
        "Gateway Timeout",
        "",
    ];
    match KNOWN.iter().find(|k| **k == r) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(r.to_owned()),
    }
}

/// A common media type as a static string (no allocation), any other one copied.
fn known_mime(m: &str) -> Cow<'static, str> {
    const KNOWN: [&str; 8] = [
        "application/json",
        "application/json; charset=utf-8",
        "application/x-www-form-urlencoded",
        "text/html",
        "text/html; charset=utf-8",
        "text/plain",
        "text/plain; charset=utf-8",
        "application/jwk-set+json",
    ];
    match KNOWN.iter().find(|k| **k == m) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(m.to_owned()),
    }
}

/// The parsed headers of a header block `block` (which `h` borrows from), and where the
/// framing headers sit in them, in one pass. Fast path: the bytes from the first name to the
/// last value are UTF-8 (checked with `simdutf8`), so they are copied once and every header is a
/// span of that copy; otherwise each header is copied (lossily where needed).
fn to_headers(block: &[u8], h: &[httparse::Header<'_>]) -> (Headers, Facts) {
    let base = block.as_ptr() as usize;
    let at = |s: &[u8]| (s.as_ptr() as usize).wrapping_sub(base);
    let mut facts = Facts::new(h.len());
    if let (Some(first), Some(last)) = (h.first(), h.last()) {
        let (start, end) = (
            at(first.name.as_bytes()),
            at(last.value).saturating_add(last.value.len()),
        );
        if let Some(Ok(text)) = block.get(start..end).map(simdutf8::basic::from_utf8) {
            let mut out = Headers::from_text(text.to_owned(), h.len());
            let mut all = true;
            for (i, x) in h.iter().enumerate() {
                let n = at(x.name.as_bytes()).wrapping_sub(start);
                let v = at(x.value).wrapping_sub(start);
                if !out.push_span(
                    n..n.saturating_add(x.name.len()),
                    v..v.saturating_add(x.value.len()),
                ) {
                    all = false;
                    break;
                }
                facts.see(i, x.name);
            }
            if all {
                return (out, facts);
            }
            facts = Facts::new(h.len());
        }
    }
    let bytes = h.iter().map(|x| x.name.len() + x.value.len()).sum();
    let mut out = Headers::with_capacity(h.len(), bytes);
    for (i, x) in h.iter().enumerate() {
        // `from_utf8` validates ASCII in bulk; the lossy path is only for broken bytes.
        match simdutf8::basic::from_utf8(x.value) {
            Ok(v) => out.push(x.name, v),
            Err(_) => out.push(x.name, String::from_utf8_lossy(x.value)),
        }
        facts.see(i, x.name);
    }
    (out, facts)
}

#[inline(always)]
fn make_body(
    (headers, facts): (&Headers, &Facts),
    raw: Vec<u8>,
    dropped: u64,
    caps: &Http1Caps,
    notes: &mut Vec<String>,
    stats: &mut Http1Stats,
    what: &str,
) -> Body {
    let mime = facts
        .get(headers, facts.content_type, "content-type")
        .map(known_mime);
    let mut truncated = dropped > 0;
    if dropped > 0 {
        stats.bodies_truncated += 1;
    }
    // A gap or early end already said why; otherwise it was the size cap.
    if dropped > 0 && notes.is_empty() {
        notes.push(format!(
            "{what} body: {dropped} bytes not captured or over the cap"
        ));
    }
    let enc = facts
        .get(headers, facts.content_encoding, "content-encoding")
        .filter(|e| !e.trim().eq_ignore_ascii_case("identity"));
    let data = match enc {
        Some(enc) if !raw.is_empty() => {
            let d = decode_body(Some(enc), &raw, caps.decoded_bytes);
            if d.truncated {
                truncated = true;
                stats.bodies_truncated += 1;
                notes.push(format!(
                    "{what} body decoded output truncated at {} bytes",
                    caps.decoded_bytes
                ));
            }
            if let Some(e) = d.error {
                // A cut body (gap, cap) naturally fails to decode; only count real corruption.
                if !truncated || matches!(e, DecodeError::Unsupported(_)) {
                    stats.decode_errors += 1;
                }
                truncated = true;
                notes.push(format!("{what} body: {e}"));
            }
            d.data
        }
        _ => raw,
    };
    Body {
        data,
        truncated,
        mime,
    }
}

/// A value of 1 to 19 ASCII digits (so it cannot overflow), the common Content-Length.
fn plain_digits(v: &str) -> Option<u64> {
    let b = v.as_bytes();
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    let mut n = 0u64;
    for c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(c - b'0');
    }
    Some(n)
}

fn content_length(headers: &Headers, facts: &Facts) -> Result<Option<u64>, String> {
    // One plain number (nearly every message): no splitting or trimming needed.
    if let Some(Some(v)) = facts.only(headers, facts.cl) {
        if let Some(n) = plain_digits(v) {
            return Ok(Some(n));
        }
    }
    let mut found: Option<u64> = None;
    let (mut one, mut all);
    let values: &mut dyn Iterator<Item = &str> = match facts.only(headers, facts.cl) {
        Some(v) => {
            one = v.into_iter();
            &mut one
        }
        None => {
            all = headers.get_all("content-length");
            &mut all
        }
    };
    for v in values {
        for part in v.split(',') {
            let n: u64 = part.trim().parse().map_err(|_| {
                format!(
                    "invalid Content-Length {:?}",
                    part.chars().take(20).collect::<String>()
                )
            })?;
            if found.is_some_and(|f| f != n) {
                return Err("conflicting Content-Length values".to_string());
            }
            found = Some(n);
        }
    }
    Ok(found)
}

fn is_chunked(headers: &Headers, facts: &Facts) -> Option<bool> {
    let last = match facts.only(headers, facts.te) {
        Some(one) => one?,
        None => headers.get_all("transfer-encoding").last()?,
    };
    let last = last.rsplit(',').next().unwrap_or("");
    Some(last.trim().eq_ignore_ascii_case("chunked"))
}

fn request_body(headers: &Headers, facts: &Facts) -> Result<State, String> {
    match is_chunked(headers, facts) {
        Some(true) => return Ok(State::Chunked(Chunk::Size)),
        Some(false) => {
            return Err("request Transfer-Encoding is not chunked; body length unknown".into())
        }
        None => {}
    }
    Ok(State::Body(content_length(headers, facts)?.unwrap_or(0)))
}

fn response_body(headers: &Headers, facts: &Facts) -> Result<State, String> {
    match is_chunked(headers, facts) {
        Some(true) => return Ok(State::Chunked(Chunk::Size)),
        Some(false) => return Ok(State::UntilClose),
        None => {}
    }
    Ok(match content_length(headers, facts)? {
        Some(n) => State::Body(n),
        None => State::UntilClose,
    })
}

fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let end = line.iter().position(|b| *b == b';').unwrap_or(line.len());
    let hex = std::str::from_utf8(line.get(..end)?).ok()?.trim();
    if hex.is_empty() || hex.len() > 15 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// Absolute URL for a request: absolute-form targets as is, otherwise scheme + Host + target.
fn build_url(scheme: &str, server: &str, method: &str, target: &str, host: Option<&str>) -> String {
    let target = match memchr::memchr(b'#', target.as_bytes()) {
        Some(at) => target.get(..at).unwrap_or(""),
        None => target,
    };
    // Absolute form: the first 8 bytes start with `http://` or are `https://` (any case).
    let absolute = target.get(..8).is_some_and(|p| {
        let p = p.as_bytes();
        p.get(..7)
            .is_some_and(|h| h.eq_ignore_ascii_case(b"http://"))
            || p.eq_ignore_ascii_case(b"https://")
    });
    if absolute {
        return target.to_string();
    }
    let host = host
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .unwrap_or(server);
    if method.eq_ignore_ascii_case("CONNECT") {
        return format!("{scheme}://{target}");
    }
    // Built by hand: this runs for every request and `format!` showed in profiles.
    let mut url = String::with_capacity(scheme.len() + 3 + host.len() + 1 + target.len());
    url.push_str(scheme);
    url.push_str("://");
    url.push_str(host);
    if target.starts_with('/') {
        url.push_str(target);
    } else if target != "*" {
        url.push('/');
        url.push_str(target);
    }
    url
}

/// Offset of the next plausible message start for `dir` in `data`: at a line start, a request
/// line (`METHOD SP`) for the client, `HTTP/1.` for the server.
fn find_message_start(dir: Dir, data: &[u8]) -> Option<usize> {
    let ok = |at: usize| -> bool {
        let rest = data.get(at..).unwrap_or(&[]);
        match dir {
            Dir::ClientToServer => {
                super::tcp::looks_like_request_line(rest) && line_has_http_version(rest)
            }
            Dir::ServerToClient => rest.starts_with(b"HTTP/1."),
        }
    };
    if ok(0) {
        return Some(0);
    }
    let mut at = 0;
    while let Some(nl) = data
        .get(at..)
        .and_then(|d| d.iter().position(|b| *b == b'\n'))
    {
        at += nl + 1;
        if ok(at) {
            return Some(at);
        }
    }
    None
}

/// The request line contains ` HTTP/1.` before its end (or the line is not complete yet).
fn line_has_http_version(rest: &[u8]) -> bool {
    let line_end = rest.iter().take(8192).position(|b| *b == b'\n');
    let line = match line_end {
        Some(n) => rest.get(..n).unwrap_or(&[]),
        None => return rest.len() < 8192,
    };
    line.windows(8).any(|w| w == b" HTTP/1.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Http1Conn {
        Http1Conn::new("http", "10.0.0.2:80".into(), Http1Caps::default())
    }

    fn feed(c: &mut Http1Conn, dir: Dir, data: &[u8], out: &mut Vec<HttpPair>) {
        c.push(dir, data, 1, out);
    }

    /// A head cut off by the end of its stream (as in the corpus's TLS 1.0 capture, whose client
    /// sent only `GET /test HTTP/1.0\n`) is counted as cut, not as a framing error or a request.
    #[test]
    fn a_head_cut_by_the_stream_end_is_counted_as_cut() {
        let mut c = conn();
        let mut out = Vec::new();
        feed(
            &mut c,
            Dir::ClientToServer,
            b"GET /test HTTP/1.0\n",
            &mut out,
        );
        c.end(Dir::ClientToServer, 2, &mut out);
        c.close(3, &mut out);
        let st = c.stats();
        assert!(out.is_empty());
        assert_eq!((st.cut_heads, st.cut_head_bytes), (1, 19));
        assert_eq!((st.parse_errors, st.skipped_bytes, st.requests), (0, 0, 0));
    }

    /// URLs: absolute-form targets kept as sent (any scheme case), fragments dropped, the
    /// Host header (or the server address) for origin-form targets.
    #[test]
    fn urls_from_request_targets() {
        let mut c = conn();
        let mut out = Vec::new();
        feed(
            &mut c,
            Dir::ClientToServer,
            b"GET HTTPS://Other.example/p?q=1#frag HTTP/1.1\r\nHost: api.example\r\n\r\nGET /x#y HTTP/1.1\r\nHost: api.example\r\n\r\nGET http:/ HTTP/1.1\r\n\r\n",
            &mut out,
        );
        c.close(1, &mut out);
        let urls: Vec<&str> = out.iter().map(|p| p.request.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "HTTPS://Other.example/p?q=1",
                "http://api.example/x",
                "http://10.0.0.2:80/http:/"
            ]
        );
    }

    /// The one-pass header positions (`Facts`) give what a scan gives: repeated and
    /// conflicting Content-Length lines, case-insensitive names, a Content-Type that only
    /// arrives in a trailer, and the Host header for the URL.
    #[test]
    fn framing_header_lookups_match_a_scan() {
        let mut c = conn();
        let mut out = Vec::new();
        feed(
            &mut c,
            Dir::ClientToServer,
            b"POST /a HTTP/1.1\r\nhOsT: api.example\r\ncontent-LENGTH: 2\r\nContent-Length: 2\r\n\r\nhiGET /b HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            &mut out,
        );
        feed(
            &mut c,
            Dir::ServerToClient,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nContent-Type: application/json\r\n\r\n",
            &mut out,
        );
        let first = out.first().expect("first exchange");
        assert_eq!(first.request.url, "http://api.example/a");
        assert_eq!(first.request.body.data, b"hi");
        let resp = first.response.as_ref().expect("response");
        assert_eq!(resp.body.data, b"{}");
        assert_eq!(resp.body.mime.as_deref(), Some("application/json"));
        assert_eq!(
            c.stats().parse_errors,
            1,
            "conflicting Content-Length is an error"
        );
        c.close(2, &mut out);
        let second = out.get(1).expect("second request");
        assert!(
            second
                .notes
                .iter()
                .any(|n| n.contains("conflicting Content-Length")),
            "{:?}",
            second.notes
        );
    }

    #[test]
    fn simple_pair_with_url_and_body() {
        let mut c = conn();
        let mut out = Vec::new();
        feed(&mut c, Dir::ClientToServer, b"POST /oauth/token?x=1#frag HTTP/1.1\r\nHost: t.auth0.com\r\nContent-Length: 5\r\n\r\nab", &mut out);
        feed(&mut c, Dir::ClientToServer, b"cde", &mut out);
        assert!(out.is_empty());
        c.push(
            Dir::ServerToClient,
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}",
            7,
            &mut out,
        );
        assert_eq!(out.len(), 1);
        let p = &out[0];
        assert_eq!(p.request.method, "POST");
        assert_eq!(p.request.url, "http://t.auth0.com/oauth/token?x=1");
        assert_eq!(p.request.body.data, b"abcde");
        let r = p.response.as_ref().unwrap();
        assert_eq!((r.status, r.body.data.as_slice()), (200, &b"{}"[..]));
        assert_eq!(r.body.mime.as_deref(), Some("application/json"));
        assert_eq!((p.started, p.ended), (Some(1), Some(7)));
        assert!(p.notes.is_empty(), "{:?}", p.notes);
    }

    #[test]
    fn pipelining_head_204_304_chunked_trailers() {
        let mut c = conn();
        let mut out = Vec::new();
        feed(&mut c, Dir::ClientToServer, b"HEAD /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\nGET /d HTTP/1.1\r\nHost: h\r\n\r\n", &mut out);
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n\
HTTP/1.1 204 No Content\r\n\r\n\
HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n\
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: yes\r\n\r\n";
        // Byte by byte, to exercise every partial state.
        for b in resp.iter() {
            feed(
                &mut c,
                Dir::ServerToClient,
                std::slice::from_ref(b),
                &mut out,
            );
        }
        let got: Vec<(String, u16)> = out
            .iter()
            .map(|p| (p.request.url.clone(), p.response.as_ref().unwrap().status))
            .collect();
        assert_eq!(
            got,
            [
                ("http://h/a".to_string(), 200),
                ("http://h/b".into(), 204),
                ("http://h/c".into(), 304),
                ("http://h/d".into(), 200)
            ]
        );
        let last = out[3].response.as_ref().unwrap();
        assert_eq!(last.body.data, b"Wikipedia");
        assert_eq!(last.headers.get("x-trailer"), Some("yes"));
        assert_eq!(c.stats().requests, 4);
    }

    #[test]
    fn trailer_lines_are_capped_and_the_overflow_is_malformed() {
        let mut c = conn();
        let mut out = Vec::new();
        feed(
            &mut c,
            Dir::ClientToServer,
            b"GET /t HTTP/1.1\r\nHost: h\r\n\r\nGET /u HTTP/1.1\r\nHost: h\r\n\r\n",
            &mut out,
        );
        let mut resp =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n".to_vec();
        for k in 0..MAX_HEADERS * 4 {
            resp.extend_from_slice(format!("X-T{k}: v\r\n").as_bytes());
        }
        resp.extend_from_slice(b"\r\nHTTP/1.1 204 No Content\r\n\r\n");
        feed(&mut c, Dir::ServerToClient, &resp, &mut out);
        let first = out
            .first()
            .and_then(|p| p.response.as_ref())
            .expect("first response");
        assert_eq!(first.body.data, b"ok");
        let trailers = first
            .headers
            .iter()
            .filter(|(n, _)| n.starts_with("X-T"))
            .count();
        assert_eq!(trailers, MAX_HEADERS, "trailers kept up to the cap only");
        assert!(c.stats().parse_errors >= 1);
        assert!(
            out[0].notes.iter().any(|n| n.contains("trailer lines")),
            "{:?}",
            out[0].notes
        );
        // The parser resynchronises on the next response.
        assert_eq!(
            out.last()
                .and_then(|p| p.response.as_ref())
                .map(|r| r.status),
            Some(204)
        );
    }

    #[test]
    fn continue_and_close_delimited_gzip() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"{\"ok\":true}").unwrap();
        let gz = gz.finish().unwrap();
        let mut c = conn();
        let mut out = Vec::new();
        feed(
            &mut c,
            Dir::ClientToServer,
            b"POST /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
            &mut out,
        );
        feed(
            &mut c,
            Dir::ServerToClient,
            b"HTTP/1.1 100 Continue\r\n\r\n",
            &mut out,
        );
        feed(&mut c, Dir::ClientToServer, b"abc", &mut out);
        let mut resp = b"HTTP/1.0 200 OK\r\nContent-Encoding: gzip\r\n\r\n".to_vec();
        resp.extend_from_slice(&gz);
        feed(&mut c, Dir::ServerToClient, &resp, &mut out);
        assert!(out.is_empty());
        c.end(Dir::ServerToClient, 9, &mut out);
        assert_eq!(out.len(), 1);
        let r = out[0].response.as_ref().unwrap();
        assert_eq!(r.body.data, b"{\"ok\":true}");
        assert_eq!(r.http_version, "HTTP/1.0");
        assert_eq!(out[0].notes, ["interim response 100 Continue"]);
        assert_eq!(c.stats().interim, 1);
    }

    #[test]
    fn unanswered_request_is_kept_with_note() {
        let mut c = conn();
        let mut out = Vec::new();
        feed(
            &mut c,
            Dir::ClientToServer,
            b"GET /x HTTP/1.1\r\n\r\n",
            &mut out,
        );
        c.close(5, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].request.url, "http://10.0.0.2:80/x");
        assert_eq!(out[0].notes, ["no response seen"]);
        assert!(out[0].response.is_none());
        assert_eq!(c.stats().unanswered, 1);
    }

    #[test]
    fn gap_in_body_flags_exchange_and_resync_after_garbage() {
        let mut c = conn();
        let mut out = Vec::new();
        feed(
            &mut c,
            Dir::ClientToServer,
            b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
            &mut out,
        );
        feed(
            &mut c,
            Dir::ServerToClient,
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab",
            &mut out,
        );
        c.gap(Dir::ServerToClient, 4, 2, &mut out);
        feed(&mut c, Dir::ServerToClient, b"ghij", &mut out);
        assert_eq!(out.len(), 1);
        let r = out[0].response.as_ref().unwrap();
        assert_eq!(r.body.data, b"abghij");
        assert!(r.body.truncated);
        assert!(
            out[0]
                .notes
                .iter()
                .any(|n| n.contains("gap of 4 bytes in the server stream")),
            "{:?}",
            out[0].notes
        );
        // Garbage, then a valid response: resynchronised.
        c.gap(Dir::ServerToClient, 100, 3, &mut out);
        feed(
            &mut c,
            Dir::ServerToClient,
            b"tail of something\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            &mut out,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].response.as_ref().unwrap().status, 404);
        assert!(c.stats().skipped_bytes >= 19);
    }

    #[test]
    fn upgrade_h2c_hands_back_rest() {
        let mut c = conn();
        let mut out = Vec::new();
        feed(&mut c, Dir::ClientToServer, b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", &mut out);
        assert!(c.take_upgrade().is_none());
        feed(
            &mut c,
            Dir::ServerToClient,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n\x00\x00\x00\x04",
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].response.as_ref().unwrap().status, 101);
        let up = c.take_upgrade().unwrap();
        assert_eq!(up.protocol, "h2c");
        assert!(up.client_rest.starts_with(b"PRI * HTTP/2.0"));
        assert_eq!(up.server_rest, b"\x00\x00\x00\x04");
        assert!(c.switched());
        // Refused upgrade: parsing continues.
        let mut c = conn();
        let mut out = Vec::new();
        feed(
            &mut c,
            Dir::ClientToServer,
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
            &mut out,
        );
        feed(&mut c, Dir::ServerToClient, b"HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &mut out);
        assert_eq!(out.len(), 2);
        assert!(c.take_upgrade().is_none());
    }

    #[test]
    fn body_cap_and_broken_chunks() {
        let mut c = Http1Conn::new(
            "https",
            "s:443".into(),
            Http1Caps {
                body_bytes: 4,
                ..Http1Caps::default()
            },
        );
        let mut out = Vec::new();
        feed(
            &mut c,
            Dir::ClientToServer,
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            &mut out,
        );
        feed(
            &mut c,
            Dir::ServerToClient,
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
            &mut out,
        );
        assert_eq!(out[0].request.url, "https://a/");
        let b = &out[0].response.as_ref().unwrap().body;
        assert_eq!((b.data.as_slice(), b.truncated), (&b"0123"[..], true));
        feed(
            &mut c,
            Dir::ClientToServer,
            b"GET /2 HTTP/1.1\r\n\r\n",
            &mut out,
        );
        feed(
            &mut c,
            Dir::ServerToClient,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            &mut out,
        );
        assert_eq!(out.len(), 2);
        assert!(out[1]
            .notes
            .iter()
            .any(|n| n.contains("invalid chunk-size")));
        assert_eq!(c.stats().parse_errors, 1);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let inputs: [&[u8]; 5] = [
            b"\x00\xff\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        ];
        for i in inputs {
            let mut c = conn();
            let mut out = Vec::new();
            feed(&mut c, Dir::ClientToServer, i, &mut out);
            feed(&mut c, Dir::ServerToClient, i, &mut out);
            c.gap(Dir::ClientToServer, 3, 1, &mut out);
            c.close(2, &mut out);
        }
    }

    /// `token_is` agrees with `eq_ignore_ascii_case` on every token name of the lengths it is
    /// used for: the framing names in any case, near misses, and names differing in one byte.
    #[test]
    fn token_names_compare_like_eq_ignore_ascii_case() {
        const TOKEN: &[u8] =
            b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let targets: [&[u8]; 6] = [
            b"host",
            b"upgrade",
            b"content-type",
            b"content-length",
            b"content-encoding",
            b"transfer-encoding",
        ];
        for t in targets {
            let upper = t.to_ascii_uppercase();
            assert!(token_is(t, t));
            assert!(token_is(&upper, t));
            assert!(!token_is(&t[1..], t), "shorter name");
            for at in 0..t.len() {
                for &c in TOKEN {
                    let mut name = upper.clone();
                    name[at] = c;
                    assert_eq!(
                        token_is(&name, t),
                        name.eq_ignore_ascii_case(t),
                        "{:?} vs {:?}",
                        String::from_utf8_lossy(&name),
                        String::from_utf8_lossy(t)
                    );
                }
            }
        }
    }
}
