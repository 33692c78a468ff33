//! The core: Exchange → AuthEvent → Flow → Finding. Sans-I/O; every source drives it.
//!
//! Placeholder interface; the rules/correlation work fills it in.

use crate::auth::Classifier;
use crate::model::{AuthEvent, Exchange, Finding, Flow};

#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Custom tenant domains (besides *.auth0.com).
    pub tenants: Vec<String>,
    /// JWKS documents given with --jwks.
    pub jwks: Vec<String>,
    /// Maximum flows kept; older idle flows are evicted and counted.
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
}

impl Engine {
    pub fn new(config: EngineConfig) -> Self {
        Self {
            classifier: Classifier::new(&config.tenants),
        }
    }

    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    pub fn push(&mut self, ex: &Exchange) -> Pushed {
        Pushed {
            events: self.classifier.classify(ex),
            findings: Vec::new(),
        }
    }

    /// A TLS session to `host` could not be decrypted; for a tenant host this yields an
    /// `evidence-missing` finding that says how to capture keys.
    pub fn note_undecrypted(
        &mut self,
        input: usize,
        host: Option<&str>,
        server: &str,
        reason: &str,
        time: Option<crate::model::Micros>,
    ) -> Vec<Finding> {
        let _ = (input, host, server, reason, time);
        Vec::new()
    }

    /// Findings that need the whole input (e.g. signatures checked once a JWKS appears).
    pub fn finish(&mut self) -> Vec<Finding> {
        Vec::new()
    }

    pub fn flows(&self) -> Vec<Flow> {
        Vec::new()
    }

    pub fn flows_evicted(&self) -> u64 {
        0
    }
}
