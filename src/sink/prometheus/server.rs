//! The `/metrics` and `/healthz` HTTP server (hyper, HTTP/1.1) on a listener the caller bound.
//!
//! Owns: routing, content negotiation between Prometheus text 0.0.4 and OpenMetrics 1.0.0, and a
//! cap on concurrent scrape connections. Must not: bind sockets itself (the caller chooses the
//! address; DESIGN.md says listeners default to 127.0.0.1) or block the runtime.
//! Known limits: HTTP/1.1 only; no TLS or auth on the endpoint (bind to loopback or a pod IP).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::{Metrics, CONTENT_TYPE_OPENMETRICS, CONTENT_TYPE_TEXT};
use crate::telemetry::{DropReason, DropStage};

/// Concurrent scrape connections served; more are closed at once and counted as dropped.
pub const MAX_CONNECTIONS: usize = 64;

/// Serves until `shutdown` completes. Each connection runs on its own task.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Per-connection accept errors (e.g. the peer reset) do not stop the server.
                Err(err) if is_transient(&err) => continue,
                Err(err) => return Err(err),
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics.add_dropped(DropStage::Metrics, DropReason::TableFull, 1);
            drop(stream);
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let metrics = metrics.clone();
                async move { Ok::<_, Infallible>(handle(&metrics, &req)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
            drop(permit);
        });
    }
}

fn is_transient(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        err.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || err.raw_os_error() == Some(24) // EMFILE: wait for a connection to close.
}

/// Answers one request.
pub fn handle(metrics: &Metrics, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    respond(metrics, req.method(), req.uri().path(), accept_header(req))
}

fn accept_header<B>(req: &Request<B>) -> Option<&str> {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
}

/// Routing without the body type, so tests can call it directly.
pub fn respond(
    metrics: &Metrics,
    method: &Method,
    path: &str,
    accept: Option<&str>,
) -> Response<Full<Bytes>> {
    let head = method == Method::HEAD;
    if method != Method::GET && !head {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    }
    match path {
        "/metrics" => {
            let om = wants_openmetrics(accept);
            let body = metrics.render(om);
            let ct = if om {
                CONTENT_TYPE_OPENMETRICS
            } else {
                CONTENT_TYPE_TEXT
            };
            let body = if head {
                Bytes::new()
            } else {
                Bytes::from(body)
            };
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, ct)
                .body(Full::new(body))
                .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
        }
        "/healthz" => plain(StatusCode::OK, "ok\n"),
        _ => plain(
            StatusCode::NOT_FOUND,
            "not found; try /metrics or /healthz\n",
        ),
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from_static(text.as_bytes())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// HTTP content negotiation (RFC 9110 §12.5.1): OpenMetrics when the client ranks
/// `application/openmetrics-text` (version 1.0.0, 0.0.1 or unspecified) at least as high as
/// `text/plain`; text 0.0.4 otherwise, and when no Accept header is sent.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    let mut om_q: f32 = 0.0;
    let mut text_q: f32 = 0.0;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut q: f32 = 1.0;
        let mut version: Option<String> = None;
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "q" => q = v.trim().parse().unwrap_or(0.0),
                    "version" => version = Some(v.trim().trim_matches('"').to_string()),
                    _ => {}
                }
            }
        }
        match media.as_str() {
            "application/openmetrics-text" => {
                let ok = matches!(version.as_deref(), None | Some("1.0.0") | Some("0.0.1"));
                if ok {
                    om_q = om_q.max(q);
                }
            }
            "text/plain" | "text/*" | "*/*" => text_q = text_q.max(q),
            _ => {}
        }
    }
    om_q > 0.0 && om_q >= text_q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(wants_openmetrics(Some(prom)));
        assert!(!wants_openmetrics(None));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(Some("text/plain;version=0.0.4")));
        assert!(!wants_openmetrics(Some(
            "application/openmetrics-text;q=0.2, text/plain"
        )));
        assert!(!wants_openmetrics(Some(
            "application/openmetrics-text;version=9.9.9"
        )));
        assert!(wants_openmetrics(Some("application/openmetrics-text")));
    }

    #[test]
    fn routes() {
        let m = Metrics::new();
        let r = respond(&m, &Method::GET, "/healthz", None);
        assert_eq!(r.status(), StatusCode::OK);
        let r = respond(&m, &Method::GET, "/nope", None);
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = respond(&m, &Method::POST, "/metrics", None);
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        let r = respond(
            &m,
            &Method::GET,
            "/metrics",
            Some("application/openmetrics-text"),
        );
        assert_eq!(
            r.headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some(CONTENT_TYPE_OPENMETRICS)
        );
    }
}
