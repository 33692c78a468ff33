//! The tap: copies a capped prefix of each request and response body while the bytes stream
//! through untouched, and hands one `Tapped` record per exchange to the analysis thread.
//!
//! Owns `TapBody` (a pass-through `http_body::Body`) and `Pending` (the join point of one
//! exchange; when its last reference drops, the record is sent). Must never block or slow the
//! data path: the hand-off is a non-blocking `try_send` on a bounded queue, and a full queue is
//! counted as a drop. Header maps are copied with `detach_headers`, so a record waiting in the
//! queue holds only its own bytes, never hyper's or h2's whole read buffer (a clone of a parsed
//! `HeaderMap` shares that buffer and would pin ~8 KiB per queued record). Known limit: the copy
//! is raw (still content-encoded); the analysis thread decodes it.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use bytes::Buf;
use http::{HeaderMap, Method, StatusCode, Uri, Version};
use http_body::{Body, Frame, SizeHint};

use super::live::LiveMsg;

/// What the tap saw of one body.
#[derive(Debug, Default, Clone)]
pub struct Captured {
    /// At most `cap` bytes of the (encoded) body.
    pub data: Vec<u8>,
    /// Total bytes that streamed through.
    pub seen: u64,
    /// More than `cap` bytes streamed through.
    pub capped: bool,
    /// The body reached its end (false: the peer disconnected or the body was dropped early).
    pub complete: bool,
    pub trailers: Option<HeaderMap>,
}

/// Facts about the connection an exchange travelled on.
#[derive(Debug, Clone, Default)]
pub struct ConnFacts {
    /// "client 127.0.0.1:5555 -> proxy, CONNECT host:443".
    pub connection: String,
    pub sni: Option<String>,
    pub client_tls_version: Option<&'static str>,
    pub client_alpn: Option<String>,
    /// Whether the client side was TLS that we terminated.
    pub intercepted_tls: bool,
}

/// One exchange as tapped, raw; the analysis thread turns it into a `model::Exchange`.
#[derive(Debug)]
pub struct Tapped {
    pub started: SystemTime,
    pub duration: std::time::Duration,
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub request_headers: HeaderMap,
    pub request_body: Captured,
    pub response: Option<TappedResponse>,
    /// Why there is no response (e.g. the 502 explanation).
    pub error: Option<String>,
    pub conn: Arc<ConnFacts>,
    pub upstream_addr: Option<String>,
    pub upstream_tls: Option<&'static str>,
    pub upstream_alpn: Option<String>,
}

#[derive(Debug)]
pub struct TappedResponse {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Captured,
}

/// A copy of `h` whose values own their bytes.
///
/// Values parsed by hyper (and h2) are slices of the connection's read buffer; cloning the map
/// would keep that whole buffer alive for as long as the record waits for analysis. The copy
/// costs one small allocation per value.
pub fn detach_headers(h: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(h.len());
    for (name, value) in h {
        let mut copy = match http::HeaderValue::from_bytes(value.as_bytes()) {
            Ok(v) => v,
            // Unreachable for a value that was already valid; keep the shared one rather than
            // lose the header.
            Err(_) => value.clone(),
        };
        copy.set_sensitive(value.is_sensitive());
        out.append(name.clone(), copy);
    }
    out
}

/// Shared counters of the tap (read by metrics).
#[derive(Debug, Default)]
pub struct TapCounters {
    pub sent: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub bodies_capped: AtomicU64,
    pub bodies_incomplete: AtomicU64,
}

/// The join point of one exchange. Sent to the analysis queue when the last holder drops it.
pub struct Pending {
    start: Instant,
    record: Option<Tapped>,
    tx: SyncSender<LiveMsg>,
    counters: Arc<TapCounters>,
}

pub type PendingRef = Arc<Mutex<Pending>>;

impl Pending {
    pub fn new(
        tx: SyncSender<LiveMsg>,
        counters: Arc<TapCounters>,
        record: Tapped,
        start: Instant,
    ) -> PendingRef {
        Arc::new(Mutex::new(Pending {
            start,
            record: Some(record),
            tx,
            counters,
        }))
    }

    pub fn set_response(this: &PendingRef, resp: TappedResponse) {
        if let Ok(mut p) = this.lock() {
            if let Some(r) = p.record.as_mut() {
                r.response = Some(resp);
            }
        }
    }

    pub fn set_error(this: &PendingRef, error: String) {
        if let Ok(mut p) = this.lock() {
            if let Some(r) = p.record.as_mut() {
                r.error = Some(error);
            }
        }
    }

    pub fn set_upstream(
        this: &PendingRef,
        addr: Option<String>,
        tls: Option<&'static str>,
        alpn: Option<String>,
    ) {
        if let Ok(mut p) = this.lock() {
            if let Some(r) = p.record.as_mut() {
                r.upstream_addr = addr;
                r.upstream_tls = tls;
                r.upstream_alpn = alpn;
            }
        }
    }

    fn store(&mut self, side: Side, cap: Captured) {
        if cap.capped {
            self.counters.bodies_capped.fetch_add(1, Ordering::Relaxed);
        }
        if !cap.complete {
            self.counters
                .bodies_incomplete
                .fetch_add(1, Ordering::Relaxed);
        }
        if let Some(r) = self.record.as_mut() {
            match side {
                Side::Request => r.request_body = cap,
                Side::Response => {
                    if let Some(resp) = r.response.as_mut() {
                        resp.body = cap;
                    }
                }
            }
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut rec) = self.record.take() {
            rec.duration = self.start.elapsed();
            match self.tx.try_send(LiveMsg::Exchange(Box::new(rec))) {
                Ok(()) => {
                    self.counters.sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    // Full queue or analysis gone: counted, never blocks the proxy.
                    self.counters
                        .dropped_queue_full
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Request,
    Response,
}

/// A body that streams `inner` through unchanged, copying at most `cap` bytes when tapping.
pub struct TapBody<B: Body> {
    inner: B,
    tap: Option<TapState>,
}

struct TapState {
    pending: PendingRef,
    side: Side,
    cap: usize,
    captured: Captured,
}

impl<B: Body + Unpin> TapBody<B> {
    /// A body that is not analysed (non-intercepted plain HTTP).
    pub fn passthrough(inner: B) -> Self {
        Self { inner, tap: None }
    }

    pub fn tapped(inner: B, pending: PendingRef, side: Side, cap: usize) -> Self {
        let mut this = Self {
            inner,
            tap: Some(TapState {
                pending,
                side,
                cap,
                captured: Captured::default(),
            }),
        };
        if this.inner.is_end_stream() {
            // Empty body: hyper will never poll it, so record it as complete now.
            this.finish(true);
        }
        this
    }

    fn finish(&mut self, complete: bool) {
        if let Some(mut t) = self.tap.take() {
            t.captured.complete = complete;
            if let Ok(mut p) = t.pending.lock() {
                p.store(t.side, t.captured);
            }
            // `t.pending` (an Arc) drops here; the last one sends the record.
        }
    }
}

impl<B> Body for TapBody<B>
where
    B: Body + Unpin,
    B::Data: Buf,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(t) = this.tap.as_mut() {
                    if let Some(data) = frame.data_ref() {
                        let chunk = data.chunk();
                        let len = data.remaining();
                        t.captured.seen += len as u64;
                        let room = t.cap.saturating_sub(t.captured.data.len());
                        if room > 0 {
                            // `chunk()` may be shorter than `remaining()` for multi-part bufs;
                            // the copy is best-effort up to the cap.
                            let take = chunk.len().min(room);
                            t.captured
                                .data
                                .extend_from_slice(chunk.get(..take).unwrap_or(&[]));
                        }
                        if t.captured.seen > t.cap as u64 {
                            t.captured.capped = true;
                        }
                    } else if let Some(tr) = frame.trailers_ref() {
                        t.captured.trailers = Some(tr.clone());
                    }
                }
                if this.inner.is_end_stream() {
                    this.finish(true);
                }
            }
            Poll::Ready(None) => this.finish(true),
            Poll::Ready(Some(Err(_))) => this.finish(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: Body> Drop for TapBody<B> {
    fn drop(&mut self) {
        if let Some(mut t) = self.tap.take() {
            // Dropped before its end was polled: complete only if nothing was left to read.
            t.captured.complete = self.inner.is_end_stream();
            if let Ok(mut p) = t.pending.lock() {
                p.store(t.side, t.captured);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};

    fn record() -> Tapped {
        Tapped {
            started: SystemTime::now(),
            duration: std::time::Duration::ZERO,
            method: Method::POST,
            uri: Uri::from_static("https://t.auth0.com/oauth/token"),
            version: Version::HTTP_11,
            request_headers: HeaderMap::new(),
            request_body: Captured::default(),
            response: None,
            error: None,
            conn: Arc::new(ConnFacts::default()),
            upstream_addr: None,
            upstream_tls: None,
            upstream_alpn: None,
        }
    }

    #[tokio::test]
    async fn body_streams_unchanged_and_copy_is_capped() {
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        let counters = Arc::new(TapCounters::default());
        let pending = Pending::new(tx, counters.clone(), record(), Instant::now());
        let body = Chunks(
            [
                Bytes::from_static(b"hello "),
                Bytes::from_static(b"world, this is long"),
            ]
            .into_iter()
            .collect(),
        );
        let tap = TapBody::tapped(body, pending.clone(), Side::Request, 8);
        drop(pending);
        let out = tap.collect().await.expect("collect").to_bytes();
        assert_eq!(&out[..], b"hello world, this is long");
        let Ok(LiveMsg::Exchange(rec)) = rx.recv() else {
            panic!("expected an exchange record");
        };
        assert_eq!(rec.request_body.data, b"hello wo");
        assert!(rec.request_body.capped);
        assert!(rec.request_body.complete);
        assert_eq!(rec.request_body.seen, 25);
        assert_eq!(counters.sent.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn detached_headers_keep_names_values_and_order_without_sharing() {
        let buf = bytes::Bytes::from_static(b"bearer-abc");
        let mut h = HeaderMap::new();
        h.append(
            "authorization",
            http::HeaderValue::from_maybe_shared(buf.clone()).expect("value"),
        );
        h.append("x-a", http::HeaderValue::from_static("1"));
        h.append("x-a", http::HeaderValue::from_static("2"));
        let d = detach_headers(&h);
        assert_eq!(d.len(), 3);
        let all: Vec<_> = d.get_all("x-a").iter().map(|v| v.as_bytes()).collect();
        assert_eq!(all, vec![&b"1"[..], &b"2"[..]]);
        let auth = d.get("authorization").expect("authorization");
        assert_eq!(auth.as_bytes(), b"bearer-abc");
        // The copy lives elsewhere than the original buffer.
        assert_ne!(auth.as_bytes().as_ptr(), buf.as_ptr());
    }

    #[tokio::test]
    async fn full_queue_is_counted_not_blocking() {
        let (tx, _rx) = std::sync::mpsc::sync_channel(0);
        let counters = Arc::new(TapCounters::default());
        let pending = Pending::new(tx, counters.clone(), record(), Instant::now());
        let tap = TapBody::tapped(
            Full::new(Bytes::from_static(b"x")),
            pending,
            Side::Request,
            8,
        );
        drop(tap);
        assert_eq!(counters.dropped_queue_full.load(Ordering::Relaxed), 1);
        assert_eq!(counters.bodies_incomplete.load(Ordering::Relaxed), 1);
    }

    /// A body yielding fixed chunks, one per poll.
    struct Chunks(std::collections::VecDeque<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.get_mut().0.pop_front().map(|b| Ok(Frame::data(b))))
        }
    }
}
