//! Passive HTTP/2 (RFC 9113) parser for one connection: connection preface, frames, HPACK per
//! direction, and streams turned into `HttpPair`s.
//!
//! Owns: frame parsing (DATA, HEADERS, CONTINUATION, PRIORITY, RST_STREAM, SETTINGS,
//! PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE; PADDED and PRIORITY flags), stream bookkeeping and
//! the request/response built from pseudo-headers; bodies are content-decoded through
//! `decode::body` (capped). Must not: do I/O.
//! Limits: `MAX_STREAMS` open streams (more are counted in `streams_dropped`), bodies capped at
//! `MAX_BODY` per stream and `MAX_CONN_BODY` over the open streams (`Body::truncated` + note), frames larger than `MAX_FRAME` stop the direction
//! (`desync`), header lists capped by `hpack::MAX_HEADER_LIST`, header blocks spanning
//! CONTINUATION frames capped at `MAX_HEADER_BLOCK`.

use super::conn::HttpSession;
use super::hpack::{self, Decoder};
use super::tcp::ConnMeta;
use super::{Dir, HttpPair};
use crate::decode::body::{decode_body, DecodeError, Decoded, DEFAULT_DECODED_CAP};
use crate::model::{Headers, Micros, Request, Response};
use std::collections::BTreeMap;

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const MAX_STREAMS: usize = 1000;
pub const MAX_BODY: usize = 4 * 1024 * 1024;
/// Body bytes held over all open streams of one connection; beyond it bodies are truncated.
pub const MAX_CONN_BODY: usize = 16 * 1024 * 1024;
/// Largest frame buffered (the protocol allows 16 MiB; peers rarely exceed 16 KiB).
pub const MAX_FRAME: usize = 1 << 20;
pub const MAX_HEADER_BLOCK: usize = 256 * 1024;

/// Counters for one HTTP/2 connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct H2Stats {
    pub frames: u64,
    pub streams: u64,
    pub streams_dropped: u64,
    pub hpack_errors: u64,
    pub header_lists_truncated: u64,
    pub bodies_truncated: u64,
    pub resets: u64,
    pub goaway: u64,
    pub desync: u64,
    pub bad_frames: u64,
}

#[derive(Debug, Default)]
struct Stream {
    request: Option<Request>,
    response: Option<Response>,
    req_body: Vec<u8>,
    resp_body: Vec<u8>,
    req_truncated: bool,
    resp_truncated: bool,
    req_done: bool,
    resp_done: bool,
    started: Option<Micros>,
    ended: Option<Micros>,
    notes: Vec<String>,
}

#[derive(Debug, Default)]
struct DirState {
    buf: Vec<u8>,
    offset: u64,
    preface_checked: bool,
    broken: bool,
    /// Header block in progress: (stream, fragments, end_stream, promised stream for PUSH_PROMISE).
    pending_block: Option<(u32, Vec<u8>, bool, Option<u32>)>,
}

/// One HTTP/2 connection, fed with plaintext per direction.
#[derive(Debug)]
pub struct H2Conn {
    dirs: [DirState; 2],
    /// HPACK decoders: [0] decodes what the client sends, [1] what the server sends.
    decoders: [Decoder; 2],
    streams: BTreeMap<u32, Stream>,
    /// Body bytes currently held by open streams (capped by `MAX_CONN_BODY`).
    held_body: usize,
    /// "https" or "http" for URLs.
    scheme: String,
    /// Authority used when a request lacks `:authority` (SNI or Host).
    default_authority: Option<String>,
    pub stats: H2Stats,
}

fn idx(d: Dir) -> usize {
    match d {
        Dir::ClientToServer => 0,
        Dir::ServerToClient => 1,
    }
}

impl H2Conn {
    pub fn new(scheme: &str, default_authority: Option<String>) -> Self {
        H2Conn {
            dirs: [DirState::default(), DirState::default()],
            decoders: [Decoder::new(), Decoder::new()],
            streams: BTreeMap::new(),
            held_body: 0,
            scheme: scheme.to_string(),
            default_authority,
            stats: H2Stats::default(),
        }
    }

    /// After `Upgrade: h2c` (RFC 7540 §3.2): the HTTP/1.1 request becomes stream 1 (half-closed
    /// from the client); its response arrives as HTTP/2 on stream 1. The client still sends the
    /// preface. `request` is the upgraded request, or `None` when the HTTP/1 layer already
    /// reports it (then stream 1's response is attached to a request-less pair and dropped).
    pub fn after_upgrade(scheme: &str, request: Option<Request>) -> Self {
        let mut c = Self::new(scheme, None);
        if let Some(r) = request {
            c.streams.insert(
                1,
                Stream {
                    request: Some(r),
                    req_done: true,
                    ..Default::default()
                },
            );
        }
        c
    }

    /// Does a client stream start with the HTTP/2 preface (prior knowledge / h2c)?
    pub fn starts_with_preface(data: &[u8]) -> bool {
        let n = data.len().min(PREFACE.len());
        n > 0 && data.get(..n) == PREFACE.get(..n)
    }

    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Feed plaintext bytes of one direction; returns finished request/response pairs.
    pub fn push(&mut self, dir: Dir, data: &[u8], ts: Micros) -> Vec<HttpPair> {
        let mut out = Vec::new();
        let i = idx(dir);
        if self.dirs[i].broken {
            return out;
        }
        // Frames are parsed straight from `data` when nothing is carried over; only a partial
        // frame at the end is copied.
        let mut carried = std::mem::take(&mut self.dirs[i].buf);
        let input: &[u8] = if carried.is_empty() {
            data
        } else {
            carried.extend_from_slice(data);
            &carried
        };
        let mut pos = 0usize;
        if i == 0 && !self.dirs[0].preface_checked {
            if input.len() < PREFACE.len() {
                if PREFACE.starts_with(input) {
                    self.dirs[i].buf = input.to_vec();
                    return out;
                }
            } else if input.starts_with(PREFACE) {
                pos = PREFACE.len();
            }
            self.dirs[0].preface_checked = true;
        }
        while let Some(hd) = input.get(pos..pos + 9) {
            let len = u32::from_be_bytes([0, hd[0], hd[1], hd[2]]) as usize;
            let ty = hd[3];
            let flags = hd[4];
            let sid = u32::from_be_bytes([hd[5], hd[6], hd[7], hd[8]]) & 0x7fff_ffff;
            if len > MAX_FRAME {
                self.stats.desync += 1;
                self.dirs[i].broken = true;
                break;
            }
            let Some(payload) = input.get(pos + 9..pos + 9 + len) else {
                break;
            };
            self.stats.frames += 1;
            self.frame(dir, ty, flags, sid, payload, ts, &mut out);
            pos += 9 + len;
        }
        self.dirs[i].offset += pos as u64;
        let keep = if self.dirs[i].broken {
            Vec::new()
        } else if carried.is_empty() {
            input.get(pos..).unwrap_or_default().to_vec()
        } else {
            carried.drain(..pos.min(carried.len()));
            carried
        };
        self.dirs[i].buf = keep;
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn frame(
        &mut self,
        dir: Dir,
        ty: u8,
        flags: u8,
        sid: u32,
        payload: &[u8],
        ts: Micros,
        out: &mut Vec<HttpPair>,
    ) {
        let i = idx(dir);
        // A header block in progress admits only CONTINUATION on the same stream.
        if self.dirs[i].pending_block.is_some() && ty != 9 {
            self.stats.bad_frames += 1;
            self.dirs[i].pending_block = None;
        }
        match ty {
            0 => {
                let Some(data) = unpad(flags, payload) else {
                    self.stats.bad_frames += 1;
                    return;
                };
                let client = i == 0;
                if let Some(s) = self.streams.get_mut(&sid) {
                    let (body, trunc) = if client {
                        (&mut s.req_body, &mut s.req_truncated)
                    } else {
                        (&mut s.resp_body, &mut s.resp_truncated)
                    };
                    let room = MAX_BODY
                        .saturating_sub(body.len())
                        .min(MAX_CONN_BODY.saturating_sub(self.held_body));
                    if data.len() > room {
                        if !*trunc {
                            self.stats.bodies_truncated += 1;
                        }
                        *trunc = true;
                    }
                    let take = room.min(data.len());
                    self.held_body += take;
                    body.extend_from_slice(data.get(..take).unwrap_or_default());
                    if !client {
                        s.ended = Some(ts);
                    }
                }
                if flags & 0x1 != 0 {
                    self.end_stream(dir, sid, ts, out);
                }
            }
            1 => {
                let Some(mut frag) = unpad(flags, payload) else {
                    self.stats.bad_frames += 1;
                    return;
                };
                if flags & 0x20 != 0 {
                    frag = frag.get(5..).unwrap_or_default();
                }
                let end_stream = flags & 0x1 != 0;
                if flags & 0x4 != 0 {
                    self.header_block(dir, sid, frag, end_stream, None, ts, out);
                } else {
                    self.dirs[i].pending_block = Some((sid, frag.to_vec(), end_stream, None));
                }
            }
            5 => {
                let Some(rest) = unpad(flags, payload) else {
                    self.stats.bad_frames += 1;
                    return;
                };
                let Some(p) = rest.get(..4) else {
                    self.stats.bad_frames += 1;
                    return;
                };
                let promised = u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff;
                let frag = rest.get(4..).unwrap_or_default();
                if flags & 0x4 != 0 {
                    self.header_block(dir, sid, frag, false, Some(promised), ts, out);
                } else {
                    self.dirs[i].pending_block = Some((sid, frag.to_vec(), false, Some(promised)));
                }
            }
            9 => {
                let Some((psid, mut block, end_stream, promised)) =
                    self.dirs[i].pending_block.take()
                else {
                    self.stats.bad_frames += 1;
                    return;
                };
                if psid != sid || block.len() + payload.len() > MAX_HEADER_BLOCK {
                    self.stats.bad_frames += 1;
                    return;
                }
                block.extend_from_slice(payload);
                if flags & 0x4 != 0 {
                    self.header_block(dir, sid, &block, end_stream, promised, ts, out);
                } else {
                    self.dirs[i].pending_block = Some((psid, block, end_stream, promised));
                }
            }
            3 => {
                self.stats.resets += 1;
                if let Some(mut s) = self.streams.remove(&sid) {
                    let code = payload
                        .get(..4)
                        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                        .unwrap_or(0);
                    s.notes.push(format!(
                        "HTTP/2 stream {sid} reset by the {} (error code {code})",
                        if i == 0 { "client" } else { "server" }
                    ));
                    s.ended = Some(ts);
                    self.emit(s, out);
                }
            }
            4 if flags & 0x1 == 0 => {
                for set in payload.chunks_exact(6) {
                    let id = u16::from_be_bytes([set[0], set[1]]);
                    let v = u32::from_be_bytes([set[2], set[3], set[4], set[5]]) as usize;
                    if id == 1 {
                        // The sender of SETTINGS decodes with this table size: it bounds
                        // what the *other* direction's encoder may use.
                        self.decoders[1 - i].set_allowed_max(v);
                    }
                }
            }
            7 => {
                self.stats.goaway += 1;
            }
            _ => {} // PRIORITY, PING, WINDOW_UPDATE, unknown extension frames
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn header_block(
        &mut self,
        dir: Dir,
        sid: u32,
        block: &[u8],
        end_stream: bool,
        promised: Option<u32>,
        ts: Micros,
        out: &mut Vec<HttpPair>,
    ) {
        let i = idx(dir);
        let decoded = match self.decoders[i].decode(block) {
            Ok(b) => b,
            Err(e) => {
                // The dynamic table is now out of step; later blocks in this direction may
                // decode wrongly, so note it on the stream and count.
                self.stats.hpack_errors += 1;
                if let Some(s) = self.streams.get_mut(&sid) {
                    s.notes
                        .push(format!("HTTP/2 header block not decoded: {e}"));
                }
                return;
            }
        };
        if decoded.truncated {
            self.stats.header_lists_truncated += 1;
        }
        let target = promised.unwrap_or(sid);
        if !self.streams.contains_key(&target) {
            if self.streams.len() >= MAX_STREAMS {
                self.stats.streams_dropped += 1;
                return;
            }
            self.stats.streams += 1;
            self.streams.insert(target, Stream::default());
        }
        let scheme = self.scheme.clone();
        let default_authority = self.default_authority.clone();
        let Some(s) = self.streams.get_mut(&target) else {
            return;
        };
        if decoded.truncated {
            s.notes.push(format!(
                "HTTP/2 header list over {} bytes; rest dropped",
                hpack::MAX_HEADER_LIST
            ));
        }
        let is_request_headers = promised.is_some() || i == 0;
        if is_request_headers {
            if s.request.is_some() {
                // Trailers: keep them as headers.
                if let Some(r) = s.request.as_mut() {
                    append_trailers(&mut r.headers, decoded.headers, &mut s.notes);
                }
            } else {
                s.request = Some(build_request(
                    decoded.headers,
                    &scheme,
                    default_authority.as_deref(),
                ));
                s.started = Some(ts);
            }
            if promised.is_some() {
                s.req_done = true;
                s.notes.push("server push (PUSH_PROMISE)".into());
            }
        } else {
            let status = decoded
                .headers
                .iter()
                .find(|(n, _)| n == ":status")
                .and_then(|(_, v)| v.parse::<u16>().ok());
            match (s.response.as_mut(), status) {
                (_, Some(st)) if (100..200).contains(&st) => {} // informational
                (Some(r), _) => {
                    let fields = decoded
                        .headers
                        .into_iter()
                        .filter(|(n, _)| !n.starts_with(':'));
                    append_trailers(&mut r.headers, fields, &mut s.notes);
                }
                (None, _) => {
                    s.response = Some(build_response(decoded.headers, status));
                }
            }
            s.ended = Some(ts);
        }
        if end_stream {
            self.end_stream(dir, sid, ts, out);
        }
    }

    fn end_stream(&mut self, dir: Dir, sid: u32, ts: Micros, out: &mut Vec<HttpPair>) {
        let done = match self.streams.get_mut(&sid) {
            Some(s) => {
                if dir == Dir::ClientToServer {
                    s.req_done = true;
                } else {
                    s.resp_done = true;
                    s.ended = Some(ts);
                }
                s.resp_done
            }
            None => false,
        };
        if done {
            if let Some(s) = self.streams.remove(&sid) {
                self.emit(s, out);
            }
        }
    }

    fn emit(&mut self, s: Stream, out: &mut Vec<HttpPair>) {
        self.held_body = self
            .held_body
            .saturating_sub(s.req_body.len() + s.resp_body.len());
        let Some(mut request) = s.request else {
            return; // response without a request we saw (e.g. upgraded stream 1 reported by h1)
        };
        let mut notes = s.notes;
        request.body.data = s.req_body;
        request.body.truncated = s.req_truncated;
        request.body.mime = request
            .headers
            .get("content-type")
            .map(|m| m.to_string().into());
        let response = s.response.map(|mut r| {
            r.body.data = s.resp_body;
            r.body.truncated = s.resp_truncated;
            r.body.mime = r.headers.get("content-type").map(|m| m.to_string().into());
            r
        });
        if response.is_none() {
            notes.push("no response seen".into());
        } else if !s.resp_done {
            notes.push("response incomplete (stream not ended)".into());
        }
        if s.req_truncated || s.resp_truncated {
            notes.push(format!(
                "body truncated at {MAX_BODY} bytes per stream / {MAX_CONN_BODY} per connection"
            ));
        }
        let mut pair = HttpPair {
            request,
            response,
            started: s.started,
            ended: s.ended,
            notes,
        };
        decode_bodies(&mut pair);
        out.push(pair);
    }

    /// The connection ended: hand out every stream still open, with notes.
    pub fn finish(&mut self) -> Vec<HttpPair> {
        let mut out = Vec::new();
        for i in 0..2 {
            if self.dirs[i].pending_block.take().is_some() {
                self.stats.bad_frames += 1;
            }
        }
        let streams = std::mem::take(&mut self.streams);
        for (_, mut s) in streams {
            s.notes
                .push("connection ended before the stream closed".into());
            self.emit(s, &mut out);
        }
        self.stats.header_lists_truncated = self
            .stats
            .header_lists_truncated
            .max(self.decoders[0].lists_truncated + self.decoders[1].lists_truncated);
        out
    }
}

/// Factory for `conn::Plugins::http2`.
pub fn http2_plugin(meta: &ConnMeta, scheme: &'static str) -> Box<dyn HttpSession> {
    Box::new(H2Conn::new(scheme, Some(meta.server.to_string())))
}

impl HttpSession for H2Conn {
    fn push(&mut self, dir: Dir, data: &[u8], ts: Micros, out: &mut Vec<HttpPair>) {
        out.extend(H2Conn::push(self, dir, data, ts));
    }
    fn gap(&mut self, dir: Dir, len: u64, _ts: Micros, _out: &mut Vec<HttpPair>) {
        // Frame boundaries and the HPACK table are lost for this direction: stop parsing it and
        // note the open streams.
        let i = idx(dir);
        if !self.dirs[i].broken {
            self.dirs[i].broken = true;
            self.dirs[i].buf.clear();
            self.stats.desync += 1;
            for s in self.streams.values_mut() {
                s.notes.push(format!(
                    "gap of {len} bytes in the {} stream; HTTP/2 parsing stopped there",
                    if i == 0 { "client" } else { "server" }
                ));
            }
        }
    }
    fn close(&mut self, _ts: Micros, out: &mut Vec<HttpPair>) {
        out.extend(self.finish());
    }
}

/// HTTP/2 carries bodies with their `content-encoding`; decode them like HTTP/1 does.
fn decode_bodies(p: &mut HttpPair) {
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

fn apply(body: &mut crate::model::Body, d: Decoded, notes: &mut Vec<String>, which: &str) {
    if let Some(e) = &d.error {
        notes.push(format!("{which} body: {e}"));
        if matches!(e, DecodeError::Unsupported(_)) {
            return; // kept encoded
        }
    }
    if d.truncated {
        body.truncated = true;
        notes.push(format!("{which} body decoded output truncated at cap"));
    }
    body.data = d.data;
}

fn unpad(flags: u8, payload: &[u8]) -> Option<&[u8]> {
    if flags & 0x8 == 0 {
        return Some(payload);
    }
    let pad = *payload.first()? as usize;
    let end = payload.len().checked_sub(pad)?;
    payload.get(1..end)
}

fn build_request(
    headers: Vec<(String, String)>,
    scheme: &str,
    default_auth: Option<&str>,
) -> Request {
    let mut r = Request {
        http_version: "HTTP/2".into(),
        ..Default::default()
    };
    let mut path = String::new();
    let mut authority = None;
    let mut sch = None;
    let mut hs = Headers::default();
    for (n, v) in headers {
        match n.as_str() {
            ":method" => r.method = v.into(),
            ":path" => path = v,
            ":authority" => authority = Some(v),
            ":scheme" => sch = Some(v),
            _ if n.starts_with(':') => {}
            _ => hs.push(n, v),
        }
    }
    let host = authority
        .or_else(|| hs.get("host").map(str::to_string))
        .or_else(|| default_auth.map(str::to_string))
        .unwrap_or_default();
    let path = path.split('#').next().unwrap_or_default().to_string();
    r.url = format!("{}://{}{}", sch.as_deref().unwrap_or(scheme), host, path);
    r.headers = hs;
    r
}

fn build_response(headers: Vec<(String, String)>, status: Option<u16>) -> Response {
    let mut r = Response {
        http_version: "HTTP/2".into(),
        status: status.unwrap_or(0),
        ..Default::default()
    };
    for (n, v) in headers {
        if !n.starts_with(':') {
            r.headers.push(n, v);
        }
    }
    r
}

/// Add trailer fields to a message's headers, keeping the whole list within
/// `hpack::MAX_HEADER_LIST` (RFC 7541 sizes): repeated trailer blocks cannot grow a stream.
fn append_trailers(
    headers: &mut crate::model::Headers,
    fields: impl IntoIterator<Item = (String, String)>,
    notes: &mut Vec<String>,
) {
    let field_size = |n: &str, v: &str| n.len() + v.len() + 32;
    let mut size: usize = headers.iter().map(|(n, v)| field_size(n, v)).sum();
    for (n, v) in fields {
        size += field_size(&n, &v);
        if size > hpack::MAX_HEADER_LIST {
            notes.push(format!(
                "trailers beyond {} bytes of headers dropped",
                hpack::MAX_HEADER_LIST
            ));
            return;
        }
        headers.push(n, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ty: u8, flags: u8, sid: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![
            (payload.len() >> 16) as u8,
            (payload.len() >> 8) as u8,
            payload.len() as u8,
            ty,
            flags,
        ];
        f.extend_from_slice(&sid.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// Literal without indexing, new name.
    fn lit(n: &str, v: &str) -> Vec<u8> {
        let mut b = vec![0x00, n.len() as u8];
        b.extend_from_slice(n.as_bytes());
        b.push(v.len() as u8);
        b.extend_from_slice(v.as_bytes());
        b
    }

    #[test]
    fn request_response_with_continuation_padding_and_push() {
        let mut c = H2Conn::new("https", Some("tenant.auth0.com".into()));
        let mut client = PREFACE.to_vec();
        client.extend(frame(4, 0, 0, &[0, 1, 0, 0, 0x10, 0]));
        // HEADERS (padded, no END_HEADERS) + CONTINUATION
        let mut hb = vec![0x82, 0x87]; // GET, https
        hb.extend(lit(":path", "/api/v2/users"));
        let (a, b) = hb.split_at(3);
        let mut padded = vec![2u8];
        padded.extend_from_slice(a);
        padded.extend_from_slice(&[0, 0]);
        client.extend(frame(1, 0x8 | 0x1, 1, &padded));
        client.extend(frame(9, 0x4, 1, b));
        let mut out = c.push(Dir::ClientToServer, &client[..10], 1);
        out.extend(c.push(Dir::ClientToServer, &client[10..], 2));
        assert!(out.is_empty());
        let mut server = frame(4, 0, 0, &[]);
        let mut push = 2u32.to_be_bytes().to_vec();
        push.extend([0x82, 0x87, 0x84]);
        server.extend(frame(5, 0x4, 1, &push));
        server.extend(frame(1, 0x4, 1, &[0x8d])); // :status 403... index 13 = 404
        server.extend(frame(0, 0x1, 1, b"{\"error\":\"insufficient_scope\"}"));
        server.extend(frame(1, 0x4 | 0x1, 2, &[0x88]));
        out.extend(c.push(Dir::ServerToClient, &server, 3));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].request.method, "GET");
        assert_eq!(out[0].request.url, "https://tenant.auth0.com/api/v2/users");
        let resp = out[0].response.as_ref().expect("response");
        assert_eq!(resp.status, 404);
        assert_eq!(
            resp.body.data,
            b"{\"error\":\"insufficient_scope\"}".to_vec()
        );
        assert_eq!(out[1].request.url, "https://tenant.auth0.com/");
        assert!(out[1].notes.iter().any(|n| n.contains("PUSH_PROMISE")));
    }

    #[test]
    fn reset_and_unfinished_streams_are_reported() {
        let mut c = H2Conn::new("https", Some("h".into()));
        let mut client = PREFACE.to_vec();
        client.extend(frame(1, 0x5, 1, &[0x82, 0x87, 0x84]));
        client.extend(frame(1, 0x5, 3, &[0x82, 0x87, 0x84]));
        assert!(c.push(Dir::ClientToServer, &client, 0).is_empty());
        let out = c.push(Dir::ServerToClient, &frame(3, 0, 1, &[0, 0, 0, 8]), 0);
        assert_eq!(out.len(), 1);
        assert!(out[0].notes.iter().any(|n| n.contains("reset")));
        let rest = c.finish();
        assert_eq!(rest.len(), 1);
        assert!(rest[0].notes.iter().any(|n| n.contains("no response")));
    }

    #[test]
    fn garbage_never_panics_and_counts() {
        let mut c = H2Conn::new("https", None);
        c.push(Dir::ClientToServer, &[0xff; 64], 0);
        c.push(Dir::ServerToClient, &frame(1, 0x4 | 0x8, 1, &[200]), 0);
        c.push(Dir::ServerToClient, &frame(9, 0x4, 7, &[1]), 0);
        assert!(c.stats.desync + c.stats.bad_frames >= 2);
        c.finish();
    }
}
