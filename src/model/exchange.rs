//! `Exchange`: one HTTP request/response pair plus where it came from.
//!
//! Every source (HAR, pcap, live capture, proxy) produces these; rules never learn which source
//! made one. Bodies are stored already content-decoded (gzip/deflate/br removed) and capped by the
//! source; `Body::truncated` says when the cap was hit. Times are microseconds since the Unix epoch.

use serde::Serialize;

/// Microseconds since the Unix epoch (UTC).
pub type Micros = i64;

/// Ordered header list; names keep their original case, lookups ignore case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// First value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (case-insensitive), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }
}

/// A decoded message body (content-encoding already removed), possibly truncated at a cap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    pub data: Vec<u8>,
    /// The source stopped copying at its cap, or the stream ended early.
    pub truncated: bool,
    /// Media type as declared (Content-Type, or HAR mimeType).
    pub mime: Option<String>,
}

impl Body {
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.data)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// Absolute URL (`https://host/path?query`), never with a fragment.
    pub url: String,
    pub http_version: String,
    pub headers: Headers,
    pub body: Body,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub status_text: String,
    pub http_version: String,
    pub headers: Headers,
    pub body: Body,
}

/// TLS facts about the connection that carried an exchange.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TlsInfo {
    pub sni: Option<String>,
    /// e.g. "TLS 1.3".
    pub version: Option<String>,
    pub alpn: Option<String>,
    pub decrypted: bool,
}

/// Where an exchange came from: connection identity and transport facts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// Connection id as the source knows it ("10.0.0.1:5123 -> 10.0.0.2:443", a HAR `connection`).
    pub connection: Option<String>,
    pub server_addr: Option<String>,
    pub tls: Option<TlsInfo>,
}

/// One HTTP request and, when seen, its response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exchange {
    /// Index of the input (file, proxy session) in this run.
    pub input: usize,
    /// Position of this exchange within its input, counting from 0.
    pub index: usize,
    pub started: Option<Micros>,
    /// Total time in milliseconds, when known.
    pub duration_ms: Option<f64>,
    pub request: Request,
    pub response: Option<Response>,
    pub origin: Origin,
    /// What is missing or odd about this exchange ("response body truncated at 1 MiB", "gap in stream").
    pub notes: Vec<String>,
}

impl Exchange {
    pub fn status(&self) -> Option<u16> {
        self.response.as_ref().map(|r| r.status)
    }
}
