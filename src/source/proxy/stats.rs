//! Self-health counters of the proxy (atomics, updated on the data path without locks) and the
//! per-exchange/per-finding counts the analysis thread keeps. Rendered by `admin` as Prometheus
//! text. Must not hold unbounded label values: every map here is keyed by closed sets (rule ids,
//! severities, api names, method names folded to a fixed list, status classes, endpoint
//! templates capped at `MAX_ENDPOINTS` then `other`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Distinct endpoint templates kept as label values before folding into `other`.
pub const MAX_ENDPOINTS: usize = 200;

#[derive(Debug, Default)]
pub struct ProxyStats {
    pub connections_total: AtomicU64,
    pub connections_active: AtomicU64,
    pub connections_refused: AtomicU64,
    pub accept_errors: AtomicU64,
    pub tunnels_intercepted: AtomicU64,
    pub tunnels_blind: AtomicU64,
    pub requests_forwarded: AtomicU64,
    pub upstream_errors: AtomicU64,
    pub bad_requests: AtomicU64,
    pub client_tls_rejected: AtomicU64,
    pub client_tls_failed: AtomicU64,
    pub handshake_timeouts: AtomicU64,
    pub live: Mutex<LiveCounts>,
}

/// Counts kept by the analysis thread.
#[derive(Debug, Default)]
pub struct LiveCounts {
    /// (api, endpoint, method, status_class) → n
    pub exchanges: BTreeMap<(String, String, String, String), u64>,
    /// (rule, severity) → n
    pub findings: BTreeMap<(String, String), u64>,
    pub endpoints_folded: u64,
    pub events_write_errors: u64,
    pub har_write_errors: u64,
}

impl ProxyStats {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// Fold a method into a closed set.
pub fn method_label(m: &str) -> &'static str {
    match m {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

pub fn status_class(status: Option<u16>) -> &'static str {
    match status {
        Some(100..=199) => "1xx",
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        _ => "none",
    }
}
