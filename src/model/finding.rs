//! `Finding`: one diagnosis with its rule id, severity, plain-words explanation, fix and evidence.

use serde::Serialize;

use super::{FlowId, Micros};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Points at one exchange. `url` is raw here; sinks redact it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub input: usize,
    pub index: usize,
    pub time: Option<Micros>,
    /// Borrowed from the exchange (no copy per event) when it is a standard method.
    pub method: std::borrow::Cow<'static, str>,
    pub url: String,
    pub status: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable rule id from DESIGN.md §4.
    pub rule: &'static str,
    pub severity: Severity,
    pub title: String,
    /// What happened and why Auth0 did it, in the user's own values. Never a raw secret.
    pub explanation: String,
    /// The exact change that fixes it.
    pub fix: String,
    pub flow: Option<FlowId>,
    pub evidence: Vec<Evidence>,
}
