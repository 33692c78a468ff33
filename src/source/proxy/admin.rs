//! `/metrics` (Prometheus text format 0.0.4) and `/healthz` on `--metrics-listen`.
//!
//! Owns the minimal proxy metrics exposition: self-health counters from `ProxyStats`, the
//! tap's counters, the leaf cache, and the per-exchange/per-finding counts kept by the analysis
//! thread. Must not put unbounded values in labels (see `stats`). Known limit: this is the
//! minimal set issue 5 asks for; the full registry (`crate::telemetry`) is a separate piece of
//! work and can replace `render` when it lands.

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

/// What `/metrics` reads.
pub struct MetricsSources {
    pub stats: Arc<ProxyStats>,
    pub tap: Arc<TapCounters>,
    pub minter: Arc<LeafMinter>,
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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

/// Render the exposition text.
pub fn render(src: &MetricsSources) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let s = &src.stats;
    let g = ProxyStats::get;
    let mut out = String::with_capacity(4096);
    let _ = writeln!(
        out,
        "# HELP authtap_build_info Build information.\n# TYPE authtap_build_info gauge\nauthtap_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
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
    let t = &src.tap;
    let _ = writeln!(
        out,
        "# HELP authtap_dropped_total Data dropped or cut at a cap, by stage and reason.\n# TYPE authtap_dropped_total counter\n\
         authtap_dropped_total{{stage=\"proxy_tap\",reason=\"queue_full\"}} {}\n\
         authtap_dropped_total{{stage=\"proxy_tap\",reason=\"body_capped\"}} {}\n\
         authtap_dropped_total{{stage=\"proxy_tap\",reason=\"body_incomplete\"}} {}\n\
         authtap_dropped_total{{stage=\"proxy_accept\",reason=\"max_connections\"}} {}\n\
         authtap_dropped_total{{stage=\"proxy_leaf_cache\",reason=\"evicted\"}} {}",
        t.dropped_queue_full.load(Relaxed),
        t.bodies_capped.load(Relaxed),
        t.bodies_incomplete.load(Relaxed),
        g(&s.connections_refused),
        leaf.evicted
    );
    if let Ok(l) = s.live.lock() {
        let _ = writeln!(out, "# HELP authtap_http_exchanges_total HTTP exchanges seen.\n# TYPE authtap_http_exchanges_total counter");
        for ((api, endpoint, method, class), n) in &l.exchanges {
            let _ = writeln!(
                out,
                "authtap_http_exchanges_total{{api=\"{}\",endpoint=\"{}\",method=\"{}\",status_class=\"{}\"}} {n}",
                esc(api), esc(endpoint), esc(method), esc(class)
            );
        }
        let _ = writeln!(out, "# HELP authtap_findings_total Findings reported.\n# TYPE authtap_findings_total counter");
        for ((rule, sev), n) in &l.findings {
            let _ = writeln!(
                out,
                "authtap_findings_total{{rule=\"{}\",severity=\"{}\"}} {n}",
                esc(rule),
                esc(sev)
            );
        }
    }
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
