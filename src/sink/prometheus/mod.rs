//! Prometheus sink: the registry of every `authtap_*` family and how traffic updates it.
//!
//! Owns: `Metrics` (registration, observing exchanges, engine output and capture health) and the
//! cardinality guards (endpoint and scope label caps, a capped authorize-state table used to
//! compare requested with granted scopes). Rendering lives in `exposition`, the HTTP server in
//! `server`. Names and label sets come only from `crate::telemetry`.
//! Must not: put a raw path, token, user id, email or client id in a label; grow without bound.
//! Known limits: `not_granted` after /authorize is only counted when the authorize request and
//! its result carry the same `state` and both were seen (table capped at `STATE_TABLE_CAP`; every
//! eviction is counted in `authtap_dropped_total{stage="metrics",reason="table_full"}`).

pub mod exposition;
pub mod server;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use ::prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use crate::engine::Pushed;
use crate::model::{Api, AuthEvent, Credential, EventKind, Exchange, Finding, Token, TokenSet};
use crate::telemetry::{
    self, help, names, DropReason, DropStage, FailureReason, MethodLabel, ScopeKind, TokenKind,
    OTHER,
};

pub use exposition::{write_textfile, TextfileError, CONTENT_TYPE_OPENMETRICS, CONTENT_TYPE_TEXT};

/// Authorize requests remembered (by `state`) to compare their scope with what came back.
pub const STATE_TABLE_CAP: usize = 4096;

/// A set of label values that admits at most `cap` distinct ones.
#[derive(Debug)]
struct LabelCap {
    seen: HashSet<String>,
    cap: usize,
}

impl LabelCap {
    fn new(cap: usize) -> Self {
        Self {
            seen: HashSet::new(),
            cap,
        }
    }

    /// True when `value` may be used as a label value (already seen, or room left).
    fn admit(&mut self, value: &str) -> bool {
        if self.seen.contains(value) {
            return true;
        }
        if self.seen.len() >= self.cap {
            return false;
        }
        self.seen.insert(value.to_string());
        true
    }
}

/// Requested scopes per authorize `state`, FIFO-evicted at the cap.
#[derive(Debug, Default)]
struct StateTable {
    scopes: HashMap<String, Vec<String>>,
    order: VecDeque<String>,
}

impl StateTable {
    /// Remembers `state`; returns true when an older entry had to be evicted.
    fn insert(&mut self, state: &str, scopes: Vec<String>) -> bool {
        let key = crate::model::fingerprint(state);
        if self.scopes.insert(key.clone(), scopes).is_some() {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > STATE_TABLE_CAP {
            if let Some(old) = self.order.pop_front() {
                self.scopes.remove(&old);
            }
            return true;
        }
        false
    }

    fn take(&mut self, state: &str) -> Option<Vec<String>> {
        let key = crate::model::fingerprint(state);
        let found = self.scopes.remove(&key)?;
        self.order.retain(|k| k != &key);
        Some(found)
    }
}

/// Every authtap metric family, registered in one registry.
pub struct Metrics {
    registry: Registry,
    exchanges: IntCounterVec,
    auth_failures: IntCounterVec,
    findings: IntCounterVec,
    scope_mismatches: IntCounterVec,
    tokens: IntCounterVec,
    token_lifetime: Histogram,
    request_duration: HistogramVec,
    ratelimit_remaining: IntGaugeVec,
    capture_packets: IntCounter,
    capture_bytes: IntCounter,
    dropped: IntCounterVec,
    tls_sessions: IntCounterVec,
    flows_active: IntGauge,
    endpoints: Mutex<LabelCap>,
    scopes: Mutex<LabelCap>,
    states: Mutex<StateTable>,
    /// Last cumulative kernel drop counters from pcap stats (for deltas).
    last_kernel_drop: AtomicU64,
    last_if_drop: AtomicU64,
    /// Last cumulative totals handed to the `sync_*` methods, to add only the increase.
    synced: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

// Registration only fails on invalid or duplicate names; ours are constants checked by the
// tests below, so a failure is a programming error, never an input error.
#[allow(clippy::expect_used)]
fn reg<C: ::prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    registry
        .register(Box::new(c.clone()))
        .expect("authtap metric families have valid, unique names");
    c
}

#[allow(clippy::expect_used)]
fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric name and labels")
}

impl Metrics {
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        let r = Registry::new();
        let exchanges = reg(
            &r,
            counter_vec(
                names::HTTP_EXCHANGES_TOTAL,
                help::HTTP_EXCHANGES_TOTAL,
                &["api", "endpoint", "method", "status_class"],
            ),
        );
        let auth_failures = reg(
            &r,
            counter_vec(
                names::AUTH_FAILURES_TOTAL,
                help::AUTH_FAILURES_TOTAL,
                &["api", "endpoint", "status", "reason"],
            ),
        );
        let findings = reg(
            &r,
            counter_vec(
                names::FINDINGS_TOTAL,
                help::FINDINGS_TOTAL,
                &["rule", "severity"],
            ),
        );
        let scope_mismatches = reg(
            &r,
            counter_vec(
                names::SCOPE_MISMATCHES_TOTAL,
                help::SCOPE_MISMATCHES_TOTAL,
                &["kind", "scope"],
            ),
        );
        let tokens = reg(
            &r,
            counter_vec(
                names::TOKENS_OBSERVED_TOTAL,
                help::TOKENS_OBSERVED_TOTAL,
                &["token", "format", "grant"],
            ),
        );
        let token_lifetime = reg(
            &r,
            Histogram::with_opts(
                HistogramOpts::new(names::TOKEN_LIFETIME_SECONDS, help::TOKEN_LIFETIME_SECONDS)
                    .buckets(telemetry::LIFETIME_BUCKETS.to_vec()),
            )
            .expect("valid histogram"),
        );
        let request_duration = reg(
            &r,
            HistogramVec::new(
                HistogramOpts::new(
                    names::HTTP_REQUEST_DURATION_SECONDS,
                    help::HTTP_REQUEST_DURATION_SECONDS,
                )
                .buckets(telemetry::DURATION_BUCKETS.to_vec()),
                &["api"],
            )
            .expect("valid histogram"),
        );
        let ratelimit_remaining = reg(
            &r,
            IntGaugeVec::new(
                Opts::new(names::RATELIMIT_REMAINING, help::RATELIMIT_REMAINING),
                &["api"],
            )
            .expect("valid gauge"),
        );
        let capture_packets = reg(
            &r,
            IntCounter::new(names::CAPTURE_PACKETS_TOTAL, help::CAPTURE_PACKETS_TOTAL)
                .expect("valid counter"),
        );
        let capture_bytes = reg(
            &r,
            IntCounter::new(names::CAPTURE_BYTES_TOTAL, help::CAPTURE_BYTES_TOTAL)
                .expect("valid counter"),
        );
        let dropped = reg(
            &r,
            counter_vec(
                names::DROPPED_TOTAL,
                help::DROPPED_TOTAL,
                &["stage", "reason"],
            ),
        );
        let tls_sessions = reg(
            &r,
            counter_vec(
                names::TLS_SESSIONS_TOTAL,
                help::TLS_SESSIONS_TOTAL,
                &["decrypted"],
            ),
        );
        let flows_active = reg(
            &r,
            IntGauge::new(names::FLOWS_ACTIVE, help::FLOWS_ACTIVE).expect("valid gauge"),
        );
        let build_info = reg(
            &r,
            IntGaugeVec::new(Opts::new(names::BUILD_INFO, help::BUILD_INFO), &["version"])
                .expect("valid gauge"),
        );
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);

        // Start the series alerts watch with increase() at 0, so the first event is an increase.
        for rule in crate::diagnose::RULES {
            findings.with_label_values(&[rule.id, rule.severity.as_str()]);
        }
        for (stage, reason) in [
            (DropStage::Kernel, DropReason::Buffer),
            (DropStage::Kernel, DropReason::Interface),
            (DropStage::Tcp, DropReason::Gap),
            (DropStage::Tcp, DropReason::TableFull),
            (DropStage::Tls, DropReason::NoKey),
            (DropStage::Http, DropReason::Malformed),
            (DropStage::Flows, DropReason::TableFull),
        ] {
            dropped.with_label_values(&[stage.as_str(), reason.as_str()]);
        }
        tls_sessions.with_label_values(&["true"]);
        tls_sessions.with_label_values(&["false"]);

        Self {
            registry: r,
            exchanges,
            auth_failures,
            findings,
            scope_mismatches,
            tokens,
            token_lifetime,
            request_duration,
            ratelimit_remaining,
            capture_packets,
            capture_bytes,
            dropped,
            tls_sessions,
            flows_active,
            endpoints: Mutex::new(LabelCap::new(telemetry::ENDPOINT_LABEL_CAP)),
            scopes: Mutex::new(LabelCap::new(telemetry::SCOPE_LABEL_CAP)),
            states: Mutex::new(StateTable::default()),
            last_kernel_drop: AtomicU64::new(0),
            last_if_drop: AtomicU64::new(0),
            synced: Mutex::new(HashMap::new()),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The `endpoint` label for a template from `Classifier::endpoint()`: templates only, at most
    /// `ENDPOINT_LABEL_CAP` distinct values; anything else is `other` (and counted when capped).
    pub fn endpoint_label<'a>(&self, endpoint: &'a str) -> &'a str {
        if !telemetry::endpoint_shape_ok(endpoint) {
            return OTHER;
        }
        let admitted = match self.endpoints.lock() {
            Ok(mut cap) => cap.admit(endpoint),
            Err(_) => false,
        };
        if admitted {
            endpoint
        } else {
            self.add_dropped(DropStage::Metrics, DropReason::LabelCap, 1);
            OTHER
        }
    }

    /// The `scope` label: a scope from the catalogue (or OIDC), at most `SCOPE_LABEL_CAP`
    /// distinct values; anything else is `other`.
    pub fn scope_label<'a>(&self, scope: &'a str) -> &'a str {
        if !telemetry::known_scope(scope) {
            return OTHER;
        }
        let admitted = match self.scopes.lock() {
            Ok(mut cap) => cap.admit(scope),
            Err(_) => false,
        };
        if admitted {
            scope
        } else {
            self.add_dropped(DropStage::Metrics, DropReason::LabelCap, 1);
            OTHER
        }
    }

    /// Counts one exchange; `api` and `endpoint` come from `auth::Classifier::endpoint()`.
    pub fn observe_exchange(&self, ex: &Exchange, api: Api, endpoint: &str) {
        let endpoint = self.endpoint_label(endpoint);
        let method = MethodLabel::from_method(&ex.request.method);
        self.exchanges
            .with_label_values(&[
                api.as_str(),
                endpoint,
                method.as_str(),
                telemetry::status_class(ex.status()),
            ])
            .inc();
        if let Some(ms) = ex.duration_ms {
            if ms.is_finite() && ms >= 0.0 {
                self.request_duration
                    .with_label_values(&[api.as_str()])
                    .observe(ms / 1000.0);
            }
        }
        if let Some(resp) = &ex.response {
            let remaining = resp
                .headers
                .get("x-ratelimit-remaining")
                .and_then(|v| v.trim().parse::<i64>().ok());
            if let Some(rem) = remaining {
                self.ratelimit_remaining
                    .with_label_values(&[api.as_str()])
                    .set(rem);
            }
        }
    }

    /// Counts what the engine made of one exchange: failures, tokens, scope mismatches, findings.
    pub fn observe_pushed(&self, pushed: &Pushed) {
        for ev in &pushed.events {
            self.observe_event(ev);
        }
        self.observe_findings(&pushed.findings);
    }

    pub fn observe_findings(&self, findings: &[Finding]) {
        for f in findings {
            self.findings
                .with_label_values(&[telemetry::rule_label(f.rule), f.severity.as_str()])
                .inc();
        }
    }

    fn observe_event(&self, ev: &AuthEvent) {
        let status = ev.at.status;
        match &ev.kind {
            EventKind::Authorize(req) => {
                if let Some(state) = &req.state {
                    if !req.scope.is_empty() {
                        let evicted = match self.states.lock() {
                            Ok(mut t) => t.insert(state, req.scope.clone()),
                            Err(_) => false,
                        };
                        if evicted {
                            self.add_dropped(DropStage::Metrics, DropReason::TableFull, 1);
                        }
                    }
                }
            }
            EventKind::AuthorizeResult(res) => {
                if let Some(err) = &res.error {
                    self.failure(
                        Api::Authentication,
                        "/authorize",
                        status,
                        FailureReason::from_oauth_error(status, Some(err)),
                    );
                }
                self.observe_tokens(&res.tokens, telemetry::GRANT_IMPLICIT);
                let requested = res
                    .state
                    .as_deref()
                    .and_then(|s| self.states.lock().ok().and_then(|mut t| t.take(s)));
                match (requested, granted_scopes(&res.tokens), res.code.as_deref()) {
                    (Some(requested), Some(granted), _) => self.not_granted(&requested, &granted),
                    // Code flow: the grant comes back from /oauth/token; key it by the code.
                    (Some(requested), None, Some(code)) => {
                        let evicted = match self.states.lock() {
                            Ok(mut t) => t.insert(code, requested),
                            Err(_) => false,
                        };
                        if evicted {
                            self.add_dropped(DropStage::Metrics, DropReason::TableFull, 1);
                        }
                    }
                    _ => {}
                }
            }
            EventKind::TokenGrant(grant) => {
                let status = grant.status.or(status);
                let failed = grant.error.is_some() || status.is_some_and(|s| s >= 400);
                if failed {
                    self.failure(
                        Api::Authentication,
                        "/oauth/token",
                        status,
                        FailureReason::from_oauth_error(status, grant.error.as_ref()),
                    );
                    // "Client has not been granted scopes: read:users" (auth0-facts.md §1.4).
                    if let Some(desc) = grant.error.as_ref().and_then(|e| e.description.as_deref())
                    {
                        if let Some(list) = desc.strip_prefix("Client has not been granted scopes:")
                        {
                            for scope in list.split([',', ' ']).filter(|s| !s.is_empty()) {
                                self.scope_mismatch(ScopeKind::NotGranted, scope);
                            }
                        }
                    }
                }
                self.observe_tokens(
                    &grant.issued,
                    telemetry::grant_label(grant.grant_type.as_deref()),
                );
                let from_authorize = grant
                    .code
                    .as_deref()
                    .and_then(|c| self.states.lock().ok().and_then(|mut t| t.take(c)));
                let requested = grant.scope.clone().or(from_authorize);
                if let (Some(requested), Some(granted)) = (requested, granted_scopes(&grant.issued))
                {
                    self.not_granted(&requested, &granted);
                }
            }
            EventKind::ApiCall(call) => {
                let status = call.status.or(status);
                if status.is_some_and(|s| s >= 400) {
                    let reason = FailureReason::from_api_error(status, call.error.as_ref());
                    let endpoint = if call.known_endpoint {
                        &*call.endpoint
                    } else {
                        OTHER
                    };
                    self.failure(call.api, endpoint, status, reason);
                    if reason == FailureReason::InsufficientScope {
                        let held = match &call.credential {
                            Credential::Bearer(t) | Credential::QueryToken(t) => token_scopes(t),
                            _ => Vec::new(),
                        };
                        let expected: Vec<&str> = match &call.expected_scopes {
                            Some(e) => e.iter().map(String::as_str).collect(),
                            None => call.accepted_scopes.to_vec(),
                        };
                        for scope in expected {
                            if !held.iter().any(|h| h == scope) {
                                self.scope_mismatch(ScopeKind::Insufficient, scope);
                            }
                        }
                    }
                }
                if let Some(rem) = call.ratelimit.as_ref().and_then(|r| r.remaining) {
                    self.ratelimit_remaining
                        .with_label_values(&[call.api.as_str()])
                        .set(i64::try_from(rem).unwrap_or(i64::MAX));
                }
            }
            EventKind::AuthOther {
                endpoint,
                status: st,
                error,
            } => {
                let status = st.or(status);
                if error.is_some() || status.is_some_and(|s| s >= 400) {
                    self.failure(
                        Api::Authentication,
                        endpoint,
                        status,
                        FailureReason::from_oauth_error(status, error.as_ref()),
                    );
                }
            }
            EventKind::Revoke { status: st } => {
                let status = st.or(status);
                if status.is_some_and(|s| s >= 400) {
                    self.failure(
                        Api::Authentication,
                        "/oauth/revoke",
                        status,
                        FailureReason::from_oauth_error(status, None),
                    );
                }
            }
            EventKind::Jwks(_)
            | EventKind::Discovery { .. }
            | EventKind::Logout
            | EventKind::EvidenceGap { .. } => {}
        }
    }

    fn failure(&self, api: Api, endpoint: &str, status: Option<u16>, reason: FailureReason) {
        let endpoint = self.endpoint_label(endpoint);
        self.auth_failures
            .with_label_values(&[
                api.as_str(),
                endpoint,
                &telemetry::status_label(status),
                reason.as_str(),
            ])
            .inc();
    }

    fn scope_mismatch(&self, kind: ScopeKind, scope: &str) {
        let scope = self.scope_label(scope.trim());
        self.scope_mismatches
            .with_label_values(&[kind.as_str(), scope])
            .inc();
    }

    fn not_granted(&self, requested: &[String], granted: &[String]) {
        for scope in requested.iter().filter(|s| !granted.contains(s)) {
            self.scope_mismatch(ScopeKind::NotGranted, scope);
        }
    }

    fn observe_tokens(&self, set: &TokenSet, grant: &str) {
        let slots = [
            (TokenKind::Access, &set.access_token),
            (TokenKind::Id, &set.id_token),
            (TokenKind::Refresh, &set.refresh_token),
        ];
        for (kind, token) in slots {
            let Some(token) = token else { continue };
            self.tokens
                .with_label_values(&[kind.as_str(), telemetry::format_label(token.format), grant])
                .inc();
            let from_claims = token.jwt.as_ref().and_then(|j| {
                let iat = j.claims.get("iat").and_then(|v| v.as_i64())?;
                j.exp()?.checked_sub(iat)
            });
            let lifetime = match (kind, from_claims) {
                (_, Some(l)) => Some(l),
                (TokenKind::Access, None) => set.expires_in,
                _ => None,
            };
            if let Some(l) = lifetime.filter(|l| *l > 0) {
                self.token_lifetime.observe(l as f64);
            }
        }
    }

    /// Adds packets and bytes read by a capture source (call once per batch, not per packet).
    pub fn add_capture(&self, packets: u64, bytes: u64) {
        self.capture_packets.inc_by(packets);
        self.capture_bytes.inc_by(bytes);
    }

    pub fn add_dropped(&self, stage: DropStage, reason: DropReason, n: u64) {
        if n > 0 {
            self.dropped
                .with_label_values(&[stage.as_str(), reason.as_str()])
                .inc_by(n);
        }
    }

    /// Feeds libpcap's cumulative statistics (`ps_drop`, `ps_ifdrop`); only the increase since
    /// the previous call is added, so it may be called on every stats poll.
    pub fn set_kernel_drops(&self, dropped_total: u64, if_dropped_total: u64) {
        let prev = self.last_kernel_drop.swap(dropped_total, Ordering::Relaxed);
        self.add_dropped(
            DropStage::Kernel,
            DropReason::Buffer,
            dropped_total.saturating_sub(prev),
        );
        let prev = self.last_if_drop.swap(if_dropped_total, Ordering::Relaxed);
        self.add_dropped(
            DropStage::Kernel,
            DropReason::Interface,
            if_dropped_total.saturating_sub(prev),
        );
    }

    /// Increase of a cumulative total since the last sync under `key` (0 if it went down,
    /// e.g. after a pipeline restart).
    fn delta(&self, key: &str, total: u64) -> u64 {
        match self.synced.lock() {
            Ok(mut map) => {
                let prev = map.insert(key.to_string(), total).unwrap_or(0);
                total.saturating_sub(prev)
            }
            Err(_) => 0,
        }
    }

    /// Syncs cumulative packet/byte totals kept by a capture pipeline (once per batch).
    pub fn sync_capture_totals(&self, packets: u64, bytes: u64) {
        let p = self.delta("capture_packets", packets);
        let b = self.delta("capture_bytes", bytes);
        self.add_capture(p, b);
    }

    /// Syncs a cumulative drop counter kept elsewhere (pipeline or engine stats).
    pub fn sync_dropped_total(&self, stage: DropStage, reason: DropReason, total: u64) {
        let key = format!("dropped/{}/{}", stage.as_str(), reason.as_str());
        let d = self.delta(&key, total);
        self.add_dropped(stage, reason, d);
    }

    /// Syncs cumulative TLS session totals: all sessions seen and those left undecrypted.
    pub fn sync_tls_sessions(&self, sessions: u64, undecrypted: u64) {
        let decrypted = self.delta("tls_decrypted", sessions.saturating_sub(undecrypted));
        let undecrypted = self.delta("tls_undecrypted", undecrypted);
        self.tls_sessions
            .with_label_values(&["true"])
            .inc_by(decrypted);
        self.tls_sessions
            .with_label_values(&["false"])
            .inc_by(undecrypted);
    }

    pub fn tls_session(&self, decrypted: bool) {
        self.tls_sessions
            .with_label_values(&[if decrypted { "true" } else { "false" }])
            .inc();
    }

    pub fn set_flows_active(&self, n: usize) {
        self.flows_active.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Renders the exposition: OpenMetrics 1.0 when `openmetrics`, else Prometheus text 0.0.4.
    pub fn render(&self, openmetrics: bool) -> String {
        exposition::render(&self.registry.gather(), openmetrics)
    }

    /// Writes the node_exporter textfile-collector file (text 0.0.4) atomically.
    pub fn write_textfile(&self, path: &Path) -> Result<(), TextfileError> {
        exposition::write_textfile(self, path)
    }
}

/// Scopes granted with a token set: the `scope` field, else the access token's claims.
fn granted_scopes(set: &TokenSet) -> Option<Vec<String>> {
    if let Some(s) = &set.scope {
        return Some(s.clone());
    }
    let jwt = set.access_token.as_ref()?.jwt.as_ref()?;
    Some(jwt.scopes())
}

fn token_scopes(t: &Token) -> Vec<String> {
    t.jwt.as_ref().map(|j| j.scopes()).unwrap_or_default()
}

#[cfg(test)]
mod tests;
