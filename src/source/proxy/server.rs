//! The proxy's connection handling: the accept loop with its connection cap, plain HTTP proxy
//! requests (absolute-form), CONNECT (intercepted with a minted leaf, or tunnelled blind), and
//! forwarding of each request to the pooled upstream client with the tap attached.
//!
//! Must not buffer whole bodies (they stream; the tap copies a capped prefix), must not keep
//! per-exchange history (records go to the analysis thread and are forgotten), and must never
//! relax upstream verification. Errors towards the client are HTTP answers (400/431/502) with a
//! plain-text explanation. Known limits: WebSocket/Upgrade requests are not forwarded inside an
//! intercepted tunnel (hop-by-hop `upgrade` is stripped), and the tunnel's upstream port is taken
//! from the CONNECT line, not from the Host header.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::ca::LeafMinter;
use super::glob::HostGlobs;
use super::live::{LiveMsg, Notice};
use super::rewind::Rewind;
use super::stats::ProxyStats;
use super::tap::{
    detach_headers, ConnFacts, Pending, Side, TapBody, TapCounters, Tapped, TappedResponse,
};
use super::upstream::{tls_version_name, Connector, UpstreamError, UpstreamInfo};
use crate::model::now_micros;

/// Body sent upstream.
pub type UpBody = TapBody<Incoming>;
/// Body sent back to the client.
pub type DownBody = Either<TapBody<Incoming>, Full<Bytes>>;

/// Shutdown phases broadcast to every connection.
pub const RUNNING: u8 = 0;
pub const DRAINING: u8 = 1;
pub const STOPPED: u8 = 2;

/// Limits and timeouts the connection handlers apply.
#[derive(Debug, Clone)]
pub struct Limits {
    pub body_cap: usize,
    pub header_timeout: Duration,
    pub handshake_timeout: Duration,
    pub max_header_bytes: usize,
    pub h2_max_streams: u32,
}

/// Everything a connection task needs; shared behind an `Arc`.
pub struct Shared {
    pub limits: Limits,
    pub intercept: HostGlobs,
    pub minter: Arc<LeafMinter>,
    pub client: Client<Connector, UpBody>,
    pub connector: Connector,
    pub live_tx: SyncSender<LiveMsg>,
    pub tap_counters: Arc<TapCounters>,
    pub stats: Arc<ProxyStats>,
    pub phase: watch::Receiver<u8>,
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) plus the legacy proxy ones.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "transfer-encoding",
    "upgrade",
];

/// Remove hop-by-hop headers, including those named in `Connection`. Keeps `te: trailers`.
pub fn strip_hop_by_hop(h: &mut HeaderMap) {
    // Most messages carry none of these, and names listed in `Connection` only matter when a
    // `Connection` header is present (itself hop-by-hop): one pass over the names decides.
    if !h.keys().any(|n| HOP_BY_HOP.contains(&n.as_str())) {
        return;
    }
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    let te_trailers = h
        .get_all(header::TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        });
    for n in named {
        h.remove(n);
    }
    for n in HOP_BY_HOP {
        h.remove(*n);
    }
    if te_trailers {
        h.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

fn text_response(status: StatusCode, body: String) -> Response<DownBody> {
    let mut resp = Response::new(Either::Right(Full::new(Bytes::from(body))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp.headers_mut()
        .insert("x-authtap", HeaderValue::from_static("proxy-error"));
    resp
}

/// Accept connections until the phase leaves `RUNNING`.
pub async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, permits: Arc<Semaphore>) {
    let mut phase = shared.phase.clone();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = phase.wait_for(|p| *p != RUNNING) => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(_) => {
                // EMFILE and friends: count, back off briefly, keep serving.
                ProxyStats::inc(&shared.stats.accept_errors);
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            ProxyStats::inc(&shared.stats.connections_refused);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        ProxyStats::inc(&shared.stats.connections_total);
        let guard = Arc::new(ConnGuard::new(permit, shared.stats.clone()));
        let shared = shared.clone();
        tokio::spawn(serve_plain_listener(stream, peer, shared, guard));
    }
}

/// Holds a client connection's `--max-connections` permit and its place in
/// `connections_active`. Shared (`Arc`) by the connection and any CONNECT tunnel it turns
/// into, so a blind or intercepted tunnel counts as open until its last task ends.
pub struct ConnGuard {
    _permit: OwnedSemaphorePermit,
    stats: Arc<ProxyStats>,
}

impl ConnGuard {
    pub fn new(permit: OwnedSemaphorePermit, stats: Arc<ProxyStats>) -> Self {
        stats.connections_active.fetch_add(1, Ordering::Relaxed);
        Self {
            _permit: permit,
            stats,
        }
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.stats
            .connections_active
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Drive a hyper connection future (boxed), asking it to finish gracefully when draining starts and
/// dropping it when the phase reaches `STOPPED`.
macro_rules! drive {
    ($conn:expr, $phase:expr) => {{
        // Boxed: the task then holds a pointer, and the allocation is exactly the size of the
        // connection type in use (h1 or h2), not the largest of them.
        let mut conn = Box::pin($conn);
        let mut phase: watch::Receiver<u8> = $phase;
        let mut draining = false;
        loop {
            tokio::select! {
                _r = conn.as_mut() => break,
                changed = phase.changed() => {
                    if changed.is_err() || *phase.borrow() >= STOPPED {
                        break;
                    }
                    if !draining && *phase.borrow() >= DRAINING {
                        draining = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }};
}

async fn serve_plain_listener(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    guard: Arc<ConnGuard>,
) {
    let facts = Arc::new(ConnFacts {
        connection: format!("client {peer}"),
        ..ConnFacts::default()
    });
    let svc_shared = shared.clone();
    let svc = service_fn(move |req: Request<Incoming>| {
        let shared = svc_shared.clone();
        let facts = facts.clone();
        let guard = guard.clone();
        async move { Ok::<_, Infallible>(handle_proxy_request(shared, facts, peer, guard, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.header_timeout)
        .max_buf_size(shared.limits.max_header_bytes.max(8192))
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    drive!(conn, shared.phase.clone());
}

/// A request on the proxy port: CONNECT, or an absolute-form request to forward.
async fn handle_proxy_request(
    shared: Arc<Shared>,
    facts: Arc<ConnFacts>,
    peer: SocketAddr,
    guard: Arc<ConnGuard>,
    req: Request<Incoming>,
) -> Response<DownBody> {
    if req.method() == Method::CONNECT {
        return handle_connect(shared, peer, guard, req).await;
    }
    let uri = req.uri().clone();
    let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
        ProxyStats::inc(&shared.stats.bad_requests);
        return text_response(
            StatusCode::BAD_REQUEST,
            "authtap is a forward proxy: send absolute-form requests (http://host/path) or \
             CONNECT host:port, e.g. HTTPS_PROXY=http://127.0.0.1:8080\n"
                .to_string(),
        );
    };
    if scheme != "http" {
        ProxyStats::inc(&shared.stats.bad_requests);
        return text_response(
            StatusCode::BAD_REQUEST,
            format!("authtap: scheme {scheme:?} cannot be proxied in absolute form; use CONNECT for https\n"),
        );
    }
    let tap = shared.intercept.matches(host);
    forward(shared, facts, req, uri, tap).await
}

async fn handle_connect(
    shared: Arc<Shared>,
    peer: SocketAddr,
    guard: Arc<ConnGuard>,
    req: Request<Incoming>,
) -> Response<DownBody> {
    let Some(authority) = req.uri().authority().cloned() else {
        ProxyStats::inc(&shared.stats.bad_requests);
        return text_response(
            StatusCode::BAD_REQUEST,
            "authtap: CONNECT needs host:port\n".to_string(),
        );
    };
    let host = authority.host().to_string();
    let port = authority.port_u16().unwrap_or(443);
    if shared.intercept.matches(&host) {
        ProxyStats::inc(&shared.stats.tunnels_intercepted);
        tokio::spawn(async move {
            match hyper::upgrade::on(req).await {
                Ok(up) => intercept(shared, guard, peer, host, port, up).await,
                Err(e) => tracing::debug!(%peer, error = %e, "CONNECT upgrade failed."),
            }
        });
        return Response::new(Either::Right(Full::new(Bytes::new())));
    }
    // Blind tunnel: connect first so an unreachable host gets a 502, not a silent close.
    let (upstream, _addr) = match shared.connector.tcp(&host, port).await {
        Ok(x) => x,
        Err(e) => {
            ProxyStats::inc(&shared.stats.upstream_errors);
            return text_response(
                StatusCode::BAD_GATEWAY,
                format!("authtap: cannot open tunnel to {host}:{port}: {e}\n"),
            );
        }
    };
    ProxyStats::inc(&shared.stats.tunnels_blind);
    tokio::spawn(async move {
        let _guard = guard;
        let up = match hyper::upgrade::on(req).await {
            Ok(up) => up,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "CONNECT upgrade failed.");
                return;
            }
        };
        let mut client = TokioIo::new(up);
        let mut upstream = upstream;
        let mut phase = shared.phase.clone();
        tokio::select! {
            // A reset or EOF on either side just ends the tunnel; not an error.
            _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
            _ = phase.wait_for(|p| *p >= STOPPED) => {}
        }
    });
    Response::new(Either::Right(Full::new(Bytes::new())))
}

/// Why a client refused our leaf certificate, if the handshake error says so.
fn client_rejection(err: &std::io::Error) -> Option<&'static str> {
    use rustls::AlertDescription as A;
    match err.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(alert) => Some(match alert {
            A::UnknownCA => {
                "the client does not trust the authtap CA (alert unknown_ca); trust it (see \
                 `authtap ca show`) or the client pins its certificates"
            }
            A::BadCertificate | A::CertificateUnknown | A::UnsupportedCertificate => {
                "the client rejected the minted certificate (alert bad_certificate/certificate_unknown): \
                 likely certificate pinning, or the authtap CA is not trusted"
            }
            A::CertificateExpired => "the client says the certificate expired; check the clock",
            A::AccessDenied | A::HandshakeFailure => {
                "the client aborted the handshake (no shared cipher/protocol, or pinning)"
            }
            _ => "the client aborted the TLS handshake with an alert",
        }),
        _ => None,
    }
}

/// The TLS handshake of an intercepted tunnel. The connection is then served by a task of its
/// own (`spawn_serve`), so the handshake's state (~10 KiB of futures) is freed instead of staying
/// in the task for the connection's whole life.
async fn intercept(
    shared: Arc<Shared>,
    guard: Arc<ConnGuard>,
    peer: SocketAddr,
    host: String,
    port: u16,
    up: hyper::upgrade::Upgraded,
) {
    let mut stream = Rewind::new(TokioIo::new(up));
    let hs = shared.limits.handshake_timeout;
    let first = match tokio::time::timeout(hs, stream.peek_first()).await {
        Ok(Ok(Some(b))) => b,
        Ok(Ok(None)) | Ok(Err(_)) => return,
        Err(_) => {
            ProxyStats::inc(&shared.stats.handshake_timeouts);
            return;
        }
    };
    let authority = if port == 443 {
        host.clone()
    } else {
        format!("{host}:{port}")
    };
    if first != 0x16 {
        // Plain HTTP inside the tunnel (e.g. CONNECT to port 80): serve it as http.
        let facts = Arc::new(ConnFacts {
            connection: format!("client {peer} CONNECT {host}:{port}"),
            ..ConnFacts::default()
        });
        spawn_serve(shared, guard, stream, facts, "http", authority, false);
        return;
    }
    let acceptor =
        tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
    let start = match tokio::time::timeout(hs, acceptor).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            ProxyStats::inc(&shared.stats.client_tls_failed);
            tracing::debug!(%peer, %host, error = %e, "ClientHello unreadable.");
            return;
        }
        Err(_) => {
            ProxyStats::inc(&shared.stats.handshake_timeouts);
            return;
        }
    };
    let sni = start.client_hello().server_name().map(str::to_owned);
    let name = sni.clone().unwrap_or_else(|| host.clone());
    let config = match shared.minter.server_config(&name) {
        Ok(c) => c,
        Err(e) => {
            ProxyStats::inc(&shared.stats.client_tls_failed);
            let _ = shared.live_tx.try_send(LiveMsg::Notice(Notice {
                time: now_micros(),
                kind: "leaf-mint-failed",
                host: name,
                message: format!("{e}"),
            }));
            return;
        }
    };
    let tls = match tokio::time::timeout(hs, start.into_stream(config)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            ProxyStats::inc(&shared.stats.client_tls_failed);
            if let Some(cause) = client_rejection(&e) {
                ProxyStats::inc(&shared.stats.client_tls_rejected);
                tracing::warn!(%host, cause, "Client rejected the intercepting certificate.");
                let _ = shared.live_tx.try_send(LiveMsg::Notice(Notice {
                    time: now_micros(),
                    kind: "client-rejected-certificate",
                    host: name,
                    message: cause.to_string(),
                }));
            }
            return;
        }
        Err(_) => {
            ProxyStats::inc(&shared.stats.handshake_timeouts);
            return;
        }
    };
    let (_, conn) = tls.get_ref();
    let alpn = conn
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let h2 = alpn.as_deref() == Some("h2");
    let facts = Arc::new(ConnFacts {
        connection: format!("client {peer} CONNECT {host}:{port}"),
        sni,
        client_tls_version: conn.protocol_version().map(tls_version_name),
        client_alpn: alpn,
        intercepted_tls: true,
    });
    spawn_serve(shared, guard, tls, facts, "https", authority, h2);
}

/// Serve an intercepted stream on a new task that holds the connection's guard.
fn spawn_serve<T>(
    shared: Arc<Shared>,
    guard: Arc<ConnGuard>,
    io: T,
    facts: Arc<ConnFacts>,
    scheme: &'static str,
    authority: String,
    h2: bool,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let _guard = guard;
        serve_inner(shared, io, facts, scheme, authority, h2).await;
    });
}

/// Serve HTTP/1.1 or HTTP/2 on an intercepted stream, forwarding to `scheme://authority`.
async fn serve_inner<T>(
    shared: Arc<Shared>,
    io: T,
    facts: Arc<ConnFacts>,
    scheme: &'static str,
    authority: String,
    h2: bool,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc_shared = shared.clone();
    let svc = service_fn(move |req: Request<Incoming>| {
        let shared = svc_shared.clone();
        let facts = facts.clone();
        let authority = authority.clone();
        async move {
            let pq = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            // A new string: the parsed target must not share hyper's read buffer (a reference
            // kept in the forwarded request and the tap would stop hyper from reusing it).
            let target = format!("{scheme}://{authority}{pq}");
            let resp = match target.parse::<Uri>() {
                Ok(uri) => forward(shared, facts, req, uri, true).await,
                Err(e) => text_response(
                    StatusCode::BAD_REQUEST,
                    format!("authtap: request target is not a valid URI: {e}\n"),
                ),
            };
            Ok::<_, Infallible>(resp)
        }
    });
    let io = TokioIo::new(io);
    if h2 {
        let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        b.timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(shared.limits.max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(shared.limits.h2_max_streams)
            // Pings find dead peers; an idle-but-alive h2 client is bounded by --max-connections.
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .keep_alive_timeout(Duration::from_secs(20));
        let conn = b.serve_connection(io, svc);
        drive!(conn, shared.phase.clone());
    } else {
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(shared.limits.header_timeout)
            .max_buf_size(shared.limits.max_header_bytes.max(8192))
            .serve_connection(io, svc);
        drive!(conn, shared.phase.clone());
    }
}

fn explain_client_error(err: &hyper_util::client::legacy::Error, uri: &Uri) -> String {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = src {
        if let Some(up) = e.downcast_ref::<UpstreamError>() {
            return format!("authtap: upstream unreachable: {up}\n");
        }
        src = e.source();
    }
    let mut chain = err.to_string();
    let mut src = std::error::Error::source(err);
    while let Some(e) = src {
        chain.push_str(": ");
        chain.push_str(&e.to_string());
        src = e.source();
    }
    let host = uri.host().unwrap_or("?");
    format!("authtap: request to {host} failed before a response arrived: {chain}\n")
}

/// Forward one request upstream and stream the response back, tapping both bodies if `tap`.
async fn forward(
    shared: Arc<Shared>,
    facts: Arc<ConnFacts>,
    req: Request<Incoming>,
    uri: Uri,
    tap: bool,
) -> Response<DownBody> {
    let start = Instant::now();
    let (mut parts, body) = req.into_parts();
    let client_version = parts.version;
    strip_hop_by_hop(&mut parts.headers);
    // The parsed head is a slice of the client connection's read buffer. Forward (and tap) a
    // copy that owns its bytes, so nothing points into that buffer once the head is parsed and
    // hyper reuses it for the next read instead of allocating a new one per request.
    parts.headers = detach_headers(&parts.headers);
    let pending = tap.then(|| {
        Pending::new(
            shared.live_tx.clone(),
            shared.tap_counters.clone(),
            Tapped {
                started: SystemTime::now(),
                duration: Duration::ZERO,
                method: parts.method.clone(),
                uri: uri.clone(),
                version: client_version,
                request_headers: parts.headers.clone(),
                request_body: Default::default(),
                response: None,
                error: None,
                conn: facts.clone(),
                upstream_addr: None,
                upstream_tls: None,
                upstream_alpn: None,
            },
            start,
        )
    });
    parts.uri = uri.clone();
    parts.version = Version::HTTP_11;
    let cap = shared.limits.body_cap;
    let body = match &pending {
        Some(p) => TapBody::tapped(body, p.clone(), Side::Request, cap),
        None => TapBody::passthrough(body),
    };
    ProxyStats::inc(&shared.stats.requests_forwarded);
    match shared
        .client
        .request(Request::from_parts(parts, body))
        .await
    {
        Ok(resp) => {
            let (mut rparts, rbody) = resp.into_parts();
            strip_hop_by_hop(&mut rparts.headers);
            let body = match &pending {
                Some(p) => {
                    let info = rparts.extensions.get::<UpstreamInfo>();
                    Pending::set_upstream(
                        p,
                        info.map(|i| i.addr.to_string()),
                        info.and_then(|i| i.tls_version),
                        info.and_then(|i| i.alpn.clone()),
                    );
                    Pending::set_response(
                        p,
                        TappedResponse {
                            status: rparts.status,
                            version: rparts.version,
                            headers: detach_headers(&rparts.headers),
                            body: Default::default(),
                        },
                    );
                    TapBody::tapped(rbody, p.clone(), Side::Response, cap)
                }
                None => TapBody::passthrough(rbody),
            };
            rparts.version = client_version;
            Response::from_parts(rparts, Either::Left(body))
        }
        Err(e) => {
            ProxyStats::inc(&shared.stats.upstream_errors);
            let msg = explain_client_error(&e, &uri);
            if let Some(p) = &pending {
                Pending::set_error(p, msg.trim_end().to_string());
            }
            text_response(StatusCode::BAD_GATEWAY, msg)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, x-custom"));
        h.insert("x-custom", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("te", HeaderValue::from_static("gzip, trailers"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("authorization", HeaderValue::from_static("Bearer x"));
        strip_hop_by_hop(&mut h);
        assert!(h.get("connection").is_none());
        assert!(h.get("x-custom").is_none());
        assert!(h.get("keep-alive").is_none());
        assert!(h.get("transfer-encoding").is_none());
        assert_eq!(h.get("te").map(|v| v.as_bytes()), Some(&b"trailers"[..]));
        assert!(h.get("authorization").is_some());
    }

    #[test]
    fn each_hop_by_hop_header_alone_is_removed_and_others_are_kept() {
        for name in HOP_BY_HOP {
            let mut h = HeaderMap::new();
            h.insert("accept", HeaderValue::from_static("*/*"));
            h.append(*name, HeaderValue::from_static("x"));
            strip_hop_by_hop(&mut h);
            assert!(h.get(*name).is_none(), "{name} kept");
            assert_eq!(h.len(), 1, "{name}: {h:?}");
        }
        let mut h = HeaderMap::new();
        h.insert("accept", HeaderValue::from_static("*/*"));
        h.insert("x-custom", HeaderValue::from_static("1"));
        let before = h.clone();
        strip_hop_by_hop(&mut h);
        assert_eq!(h, before);
    }
}
