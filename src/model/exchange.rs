//! `Exchange`: one HTTP request/response pair plus where it came from.
//!
//! Every source (HAR, pcap, live capture, proxy) produces these; rules never learn which source
//! made one. Bodies are stored already content-decoded (gzip/deflate/br removed) and capped by the
//! source; `Body::truncated` says when the cap was hit. Times are microseconds since the Unix epoch.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;

/// Microseconds since the Unix epoch (UTC).
pub type Micros = i64;

/// The wall clock as `Micros` (the clock of live frame timestamps and proxy events).
pub fn now_micros() -> Micros {
    chrono::Utc::now().timestamp_micros()
}

/// Ordered header list; names keep their original case, lookups ignore case.
///
/// Stored as one text buffer plus a span per header: a parsed header block costs two
/// allocations, not two per header. Read it through [`Headers::get`], [`Headers::get_all`] and
/// [`Headers::iter`]; build it with [`Headers::push`] (or, for a parser that already holds the
/// whole block as text, [`Headers::from_text`] and [`Headers::push_span`]).
#[derive(Clone, Default)]
pub struct Headers {
    text: String,
    spans: Vec<Span>,
}

/// Byte ranges of one header's name and value in `Headers::text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    name: (usize, usize),
    value: (usize, usize),
}

impl Headers {
    /// Empty list with room for `headers` headers of `bytes` bytes in all.
    #[inline]
    pub fn with_capacity(headers: usize, bytes: usize) -> Self {
        Self {
            text: String::with_capacity(bytes),
            spans: Vec::with_capacity(headers),
        }
    }

    /// An empty list over `text`; name with [`Headers::push_span`] which parts of it are headers.
    #[inline]
    pub fn from_text(text: String, headers: usize) -> Self {
        Self {
            text,
            spans: Vec::with_capacity(headers),
        }
    }

    /// Add the header whose name and value are the byte ranges `name` and `value` of the text
    /// given to [`Headers::from_text`]. Returns false (and adds nothing) when a range is outside
    /// the text or not on character boundaries.
    #[inline]
    pub fn push_span(
        &mut self,
        name: std::ops::Range<usize>,
        value: std::ops::Range<usize>,
    ) -> bool {
        if self.text.get(name.clone()).is_none() || self.text.get(value.clone()).is_none() {
            return false;
        }
        self.spans.push(Span {
            name: (name.start, name.end),
            value: (value.start, value.end),
        });
        true
    }

    #[inline]
    fn part(&self, (a, b): (usize, usize)) -> &str {
        self.text.get(a..b).unwrap_or("")
    }

    /// Every header as `(name, value)`, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, &str)> + ExactSizeIterator + '_ {
        self.spans
            .iter()
            .map(move |s| (self.part(s.name), self.part(s.value)))
    }

    /// Value of the `i`-th header (in order), if there are that many.
    #[inline]
    pub fn value(&self, i: usize) -> Option<&str> {
        self.spans.get(i).map(|s| self.part(s.value))
    }

    /// Number of headers.
    #[inline]
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Is the header at `s` called `name` (case-insensitive)? Compares lengths first and bytes
    /// without slicing the text as `str` (lookups run several times per exchange).
    fn named(&self, s: &Span, name: &str) -> bool {
        s.name.1.wrapping_sub(s.name.0) == name.len()
            && self
                .text
                .as_bytes()
                .get(s.name.0..s.name.1)
                .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
    }

    /// First value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.spans
            .iter()
            .find(|s| self.named(s, name))
            .map(|s| self.part(s.value))
    }

    /// Every value of `name` (case-insensitive), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.spans
            .iter()
            .filter(move |s| self.named(s, name))
            .map(|s| self.part(s.value))
    }

    pub fn push(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        let (name, value) = (name.as_ref(), value.as_ref());
        let a = self.text.len();
        self.text.push_str(name);
        let b = self.text.len();
        self.text.push_str(value);
        let c = self.text.len();
        self.spans.push(Span {
            name: (a, b),
            value: (b, c),
        });
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Serialized as a list of `[name, value]` pairs.
impl Serialize for Headers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut h = Headers::default();
        for (n, v) in iter {
            h.push(n, v);
        }
        h
    }
}

/// A decoded message body (content-encoding already removed), possibly truncated at a cap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    pub data: Vec<u8>,
    /// The source stopped copying at its cap, or the stream ended early.
    pub truncated: bool,
    /// Media type as declared (Content-Type, or HAR mimeType).
    pub mime: Option<Cow<'static, str>>,
}

impl Body {
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.data)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// Well-known methods are static strings (no allocation per exchange).
    pub method: Cow<'static, str>,
    /// Absolute URL (`https://host/path?query`), never with a fragment.
    pub url: String,
    /// "HTTP/1.1", "HTTP/2", ... (usually static).
    pub http_version: Cow<'static, str>,
    pub headers: Headers,
    pub body: Body,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Reason phrase; the standard ones are static.
    pub status_text: Cow<'static, str>,
    /// "HTTP/1.1", "HTTP/2", ... (usually static).
    pub http_version: Cow<'static, str>,
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
    /// Shared by every exchange of a connection (built once per connection).
    pub connection: Option<Arc<str>>,
    pub server_addr: Option<Arc<str>>,
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
