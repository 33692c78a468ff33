//! The core: Exchange → AuthEvent (auth::Classifier) → Link (correlate::Correlator) → Finding
//! (diagnose::Diagnoser). Sans-I/O: no clock, files or sockets; every source drives it.
//!
//! How to drive it:
//! - call `push` for every exchange, in input order; it returns the exchange's events and the
//!   findings that became known with it (new ones only: the live proxy prints these);
//! - at the end call `finish` (whole-input checks: tokens seen before their JWKS are verified with
//!   every key known by then); it returns the new findings;
//! - batch reports then take `findings()`: the final, deduplicated list in which repeated problems
//!   carry their repeat count in the explanation (pushed findings are the first occurrence only);
//! - `flows()` gives flow summaries with capped evidence lists for timelines, `notes()` the caps
//!   that were hit.
//!
//! Registers nothing about output: sinks redact (findings only name tokens by fingerprint).
//! Limits: caps are those of `correlate` (flows, tokens, exchanges per flow) and `diagnose`
//! (findings, evidence, unverified tokens); each hit is counted and reported in `notes()`.

use crate::auth::Classifier;
use crate::correlate::{CorrelateConfig, Correlator, DEFAULT_FLOW_CAP};
use crate::diagnose::{evidence_missing, Diagnoser};
use crate::model::{AuthEvent, Evidence, Exchange, Finding, Flow};

#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Custom tenant domains (besides *.auth0.com).
    pub tenants: Vec<String>,
    /// JWKS documents given with --jwks.
    pub jwks: Vec<String>,
    /// Maximum flows kept; older idle flows are evicted and counted. 0 means the default
    /// (`correlate::DEFAULT_FLOW_CAP`).
    pub flow_cap: usize,
}

/// What one exchange produced.
#[derive(Debug, Default)]
pub struct Pushed {
    pub events: Vec<AuthEvent>,
    pub findings: Vec<Finding>,
}

#[derive(Debug)]
pub struct Engine {
    classifier: Classifier,
    correlator: Correlator,
    diagnoser: Diagnoser,
    /// `--jwks` documents that could not be used.
    jwks_rejected: Vec<String>,
    /// Traffic time of the last idle eviction (`maintain`).
    last_maintenance: crate::model::Micros,
}

/// Live sources drop flows with no event for this long (30 min).
pub const LIVE_IDLE_SECS: i64 = 1800;
/// How often (in traffic time) live sources run idle eviction.
pub const LIVE_EVICT_EVERY_SECS: i64 = 60;

impl Engine {
    pub fn new(config: EngineConfig) -> Self {
        let mut classifier = Classifier::new(&config.tenants);
        let mut jwks_rejected = Vec::new();
        for (i, doc) in config.jwks.iter().enumerate() {
            if let Err(e) = classifier.add_jwks(doc) {
                jwks_rejected.push(format!("JWKS #{} was not used: {e}", i + 1));
            }
        }
        let flow_cap = if config.flow_cap == 0 {
            DEFAULT_FLOW_CAP
        } else {
            config.flow_cap
        };
        Self {
            classifier,
            correlator: Correlator::new(CorrelateConfig {
                flow_cap,
                ..CorrelateConfig::default()
            }),
            diagnoser: Diagnoser::new(),
            jwks_rejected,
            last_maintenance: 0,
        }
    }

    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    pub fn push(&mut self, ex: &Exchange) -> Pushed {
        let events = self.classifier.classify(ex);
        let mut findings = Vec::new();
        for ev in &events {
            let link = self.correlator.observe(ev);
            findings.extend(self.diagnoser.on_event(ev, &link));
        }
        Pushed { events, findings }
    }

    /// A TLS session to `host` could not be decrypted; for a tenant host this yields an
    /// `evidence-missing` finding that says how to capture keys (once per host).
    pub fn note_undecrypted(
        &mut self,
        input: usize,
        host: Option<&str>,
        server: &str,
        reason: &str,
        time: Option<crate::model::Micros>,
    ) -> Vec<Finding> {
        let Some(host) = host.filter(|h| self.classifier.is_tenant_host(h)) else {
            return Vec::new();
        };
        let host = host.to_ascii_lowercase();
        // Not an HTTP exchange: the evidence points at the TLS session (index 0, method "TLS").
        let at = Evidence {
            input,
            index: 0,
            time,
            method: "TLS".into(),
            url: format!("https://{host}/"),
            status: None,
        };
        let draft = evidence_missing::undecrypted(&host, server, reason, at);
        self.diagnoser
            .admit(&evidence_missing::INFO, None, draft)
            .into_iter()
            .collect()
    }

    /// Findings that need the whole input (e.g. signatures checked once a JWKS appears).
    pub fn finish(&mut self) -> Vec<Finding> {
        let keys = self.classifier.keys();
        self.diagnoser.finish(&mut |t| keys.verify(t))
    }

    /// Every finding so far, deduplicated, with repeat counts (use after `finish` for reports).
    pub fn findings(&self) -> Vec<Finding> {
        self.diagnoser.findings()
    }

    pub fn flows(&self) -> Vec<Flow> {
        self.correlator.flows()
    }

    /// Evict flows with no event for `max_idle_secs` before `now` (live sources call this
    /// periodically); returns how many were evicted (also counted in `flows_evicted`).
    pub fn evict_idle(&mut self, now: crate::model::Micros, max_idle_secs: u64) -> u64 {
        let idle = i64::try_from(max_idle_secs)
            .unwrap_or(i64::MAX / 1_000_000)
            .saturating_mul(1_000_000);
        self.correlator.evict_idle(now, idle)
    }

    /// Flows currently held (cheap; for the `authtap_flows_active` gauge).
    pub fn flows_active(&self) -> usize {
        self.correlator.active_flows()
    }

    /// For live sources: evict flows idle for `LIVE_IDLE_SECS` at most once per
    /// `LIVE_EVICT_EVERY_SECS` of traffic time, so the flow table tracks what is really active.
    pub fn maintain(&mut self, now: Option<crate::model::Micros>) {
        let Some(now) = now else { return };
        if now.saturating_sub(self.last_maintenance) >= LIVE_EVICT_EVERY_SECS * 1_000_000 {
            self.last_maintenance = now;
            self.evict_idle(now, LIVE_IDLE_SECS as u64);
        }
    }

    pub fn flows_evicted(&self) -> u64 {
        self.correlator.flows_evicted()
    }

    /// One sentence per cap that was hit or input that was not used, with counts.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = self.jwks_rejected.clone();
        let evicted = self.correlator.flows_evicted();
        if evicted > 0 {
            notes.push(format!(
                "{evicted} flows were evicted from the flow table (least recently active first)."
            ));
        }
        let tokens = self.correlator.tokens_evicted();
        if tokens > 0 {
            notes.push(format!(
                "{tokens} token issuances were forgotten (token registry full); later uses of them \
                 appear as unlinked flows."
            ));
        }
        let keys = self.correlator.keys_dropped();
        if keys > 0 {
            notes.push(format!(
                "{keys} join keys (states, codes) were not kept (per-flow key cap); their later events start new flows."
            ));
        }
        let dropped: u64 = self
            .correlator
            .flows()
            .iter()
            .map(|f| f.exchanges_dropped)
            .sum();
        if dropped > 0 {
            notes.push(format!(
                "{dropped} exchanges were not listed in flow timelines (per-flow cap)."
            ));
        }
        if self.diagnoser.dropped > 0 {
            notes.push(format!(
                "{} findings were dropped (finding cap {}).",
                self.diagnoser.dropped,
                crate::diagnose::MAX_FINDINGS
            ));
        }
        let unverified = self.diagnoser.unverified_dropped();
        if unverified > 0 {
            notes.push(format!(
                "{unverified} tokens were not re-verified at the end (unverified-token cap)."
            ));
        }
        notes
    }
}
