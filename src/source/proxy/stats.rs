//! Self-health counters of the proxy (atomics, updated on the data path without locks) and the
//! analysis thread's write-error counts. Rendered by `admin` next to the shared registry.
//! Holds no labels at all, so nothing here can grow.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

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

/// Write errors seen by the analysis thread (the registry counts exchanges and findings).
#[derive(Debug, Default)]
pub struct LiveCounts {
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
