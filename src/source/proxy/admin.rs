//! `/metrics` (Prometheus text format 0.0.4) and `/healthz` on `--metrics-listen`.
//!
//! The body is the shared registry (`sink::prometheus::Metrics`: exchanges, auth failures,
//! findings, tokens, drops, build info; fed by the analysis thread) followed by the proxy's own
//! self-health families (`authtap_proxy_*`, from `ProxyStats` atomics read at scrape time).
//! Proxy drops are synced into `authtap_dropped_total{stage="proxy",...}` at each scrape.
//! Must not put unbounded values in labels. Known limit: always Prometheus text 0.0.4 (the proxy
//! families are not OpenMetrics-rendered).

use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::ca::LeafMinter;
use super::server::RUNNING;
use super::stats::ProxyStats;
use super::tap::TapCounters;
use crate::sink::prometheus::Metrics;
use crate::telemetry::{DropReason, DropStage};

/// What `/metrics` reads.
pub struct MetricsSources {
    pub stats: Arc<ProxyStats>,
    pub tap: Arc<TapCounters>,
    pub minter: Arc<LeafMinter>,
    pub metrics: Arc<Metrics>,
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

/// Push the proxy's cumulative drop counters into the shared registry.
fn sync_drops(src: &MetricsSources) {
    use std::sync::atomic::Ordering::Relaxed;
    let m = &src.metrics;
    let t = &src.tap;
    let leaf = src.minter.stats();
    let (events_err, har_err) = src
        .stats
        .live
        .lock()
        .map(|l| (l.events_write_errors, l.har_write_errors))
        .unwrap_or_default();
    m.sync_dropped_total(
        DropStage::Proxy,
        DropReason::Buffer,
        t.dropped_queue_full.load(Relaxed),
    );
    m.sync_dropped_total(
        DropStage::Proxy,
        DropReason::Truncated,
        t.bodies_capped.load(Relaxed),
    );
    m.sync_dropped_total(DropStage::Proxy, DropReason::TableFull, leaf.evicted);
    m.sync_dropped_total(DropStage::Proxy, DropReason::Other, events_err + har_err);
}

/// Render the exposition text: the shared registry, then the proxy's self-health families.
pub fn render(src: &MetricsSources) -> String {
    sync_drops(src);
    let mut out = src.metrics.render(false);
    let s = &src.stats;
    let g = ProxyStats::get;
    counter(
        &mut out,
        "authtap_proxy_connections_total",
        "Client connections accepted.",
        g(&s.connections_total),
    );
    gauge(
        &mut out,
        "authtap_proxy_connections_active",
        "Client connections open now.",
        g(&s.connections_active),
    );
    counter(
        &mut out,
        "authtap_proxy_connections_refused_total",
        "Client connections closed at once because --max-connections was reached.",
        g(&s.connections_refused),
    );
    let _ = writeln!(
        out,
        "# HELP authtap_proxy_tunnels_total CONNECT tunnels by mode.\n# TYPE authtap_proxy_tunnels_total counter\n\
         authtap_proxy_tunnels_total{{mode=\"intercept\"}} {}\nauthtap_proxy_tunnels_total{{mode=\"blind\"}} {}",
        g(&s.tunnels_intercepted),
        g(&s.tunnels_blind)
    );
    counter(
        &mut out,
        "authtap_proxy_requests_total",
        "Requests forwarded upstream.",
        g(&s.requests_forwarded),
    );
    counter(
        &mut out,
        "authtap_proxy_upstream_errors_total",
        "Requests answered 502 because the upstream could not be reached.",
        g(&s.upstream_errors),
    );
    counter(
        &mut out,
        "authtap_proxy_bad_requests_total",
        "Requests answered 400 (not a proxy request, bad CONNECT).",
        g(&s.bad_requests),
    );
    let _ = writeln!(
        out,
        "# HELP authtap_proxy_client_tls_failures_total Client TLS handshakes that failed, by reason.\n# TYPE authtap_proxy_client_tls_failures_total counter\n\
         authtap_proxy_client_tls_failures_total{{reason=\"certificate_rejected\"}} {}\n\
         authtap_proxy_client_tls_failures_total{{reason=\"timeout\"}} {}\n\
         authtap_proxy_client_tls_failures_total{{reason=\"other\"}} {}",
        g(&s.client_tls_rejected),
        g(&s.handshake_timeouts),
        g(&s.client_tls_failed).saturating_sub(g(&s.client_tls_rejected))
    );
    let leaf = src.minter.stats();
    counter(
        &mut out,
        "authtap_proxy_leaf_certificates_minted_total",
        "Leaf certificates minted for intercepted hosts.",
        leaf.minted,
    );
    gauge(
        &mut out,
        "authtap_proxy_leaf_cache_entries",
        "Leaf certificates cached.",
        leaf.len as u64,
    );
    counter(
        &mut out,
        "authtap_proxy_tap_exchanges_total",
        "Tapped exchanges handed to analysis.",
        src.tap.sent.load(std::sync::atomic::Ordering::Relaxed),
    );
    out
}

/// Serve `/metrics` and `/healthz` until the phase leaves `RUNNING`.
pub async fn serve(
    listener: TcpListener,
    src: Arc<MetricsSources>,
    mut phase: watch::Receiver<u8>,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            _ = phase.wait_for(|p| *p != RUNNING) => break,
            r = listener.accept() => r,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        };
        let src = src.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let src = src.clone();
                async move { Ok::<_, Infallible>(answer(&src, &req)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn answer(src: &MetricsSources, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, ctype, body) = match req.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            render(src),
        ),
        "/healthz" => (
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "ok\n".to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: try /metrics or /healthz\n".to_string(),
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = header::HeaderValue::from_str(ctype) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}
