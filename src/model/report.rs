//! `Report`: everything one run produced, handed to the sinks.

use serde::Serialize;

use super::{Finding, Flow};

/// Counters of what was lost or skipped while reading one input (DESIGN.md §3.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InputSummary {
    pub path: String,
    /// `har`, `pcap`, `pcapng` (with `+gzip` when compressed), or `proxy`.
    pub format: String,
    /// Every HTTP request seen in this input, Auth0 or not.
    pub exchanges: u64,
    /// Malformed parts, drops, gaps, caps hit: one sentence each, with counts.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub inputs: Vec<InputSummary>,
    pub flows: Vec<Flow>,
    pub findings: Vec<Finding>,
    /// Flows evicted from the bounded flow table.
    pub flows_evicted: u64,
}
