//! JSON report (`analyze --format json`), schema `"version": 1` from DESIGN.md §4.
//!
//! Built from `Report` through explicit wire structs so the contract cannot drift with the
//! internal model. URLs and free text are redacted here. The schema is documented in the README;
//! tests deserialize reports into these types with `deny_unknown_fields`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Evidence, Finding, Flow, Report};
use crate::redact::Redactor;
use crate::sink::terminal::rfc3339;

pub const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonReport {
    pub version: u32,
    pub inputs: Vec<JsonInput>,
    pub flows: Vec<JsonFlow>,
    pub findings: Vec<JsonFinding>,
    pub summary: JsonSummary,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonInput {
    pub path: String,
    pub format: String,
    pub exchanges: u64,
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonFlow {
    pub id: u64,
    pub kind: String,
    pub tenant: Option<String>,
    pub client_id: Option<String>,
    pub label: String,
    pub exchanges: Vec<JsonEvidence>,
    pub exchanges_dropped: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonFinding {
    pub rule: String,
    pub severity: String,
    pub title: String,
    pub explanation: String,
    pub fix: String,
    pub flow: Option<u64>,
    pub evidence: Vec<JsonEvidence>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonEvidence {
    pub input: usize,
    pub index: usize,
    /// RFC 3339 UTC, or null when the source had no time.
    pub time: Option<String>,
    pub method: String,
    pub url: String,
    pub status: Option<u16>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonSummary {
    pub exchanges: u64,
    pub flows: usize,
    pub findings_by_severity: BTreeMap<String, usize>,
    pub flows_evicted: u64,
}

pub fn evidence(e: &Evidence, r: &Redactor) -> JsonEvidence {
    JsonEvidence {
        input: e.input,
        index: e.index,
        time: e.time.and_then(rfc3339),
        method: e.method.to_string(),
        url: r.url(&e.url),
        status: e.status,
    }
}

pub fn finding(f: &Finding, r: &Redactor) -> JsonFinding {
    JsonFinding {
        rule: f.rule.to_string(),
        severity: f.severity.as_str().to_string(),
        title: r.scrub(&f.title),
        explanation: r.scrub(&f.explanation),
        fix: r.scrub(&f.fix),
        flow: f.flow,
        evidence: f.evidence.iter().map(|e| evidence(e, r)).collect(),
    }
}

fn flow(f: &Flow, r: &Redactor) -> JsonFlow {
    let kind = serde_json::to_value(f.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    JsonFlow {
        id: f.id,
        kind,
        tenant: f.tenant.clone(),
        client_id: f.client_id.clone(),
        label: r.scrub(&f.label),
        exchanges: f.exchanges.iter().map(|e| evidence(e, r)).collect(),
        exchanges_dropped: f.exchanges_dropped,
    }
}

pub fn build(report: &Report, r: &Redactor) -> JsonReport {
    let mut by_sev: BTreeMap<String, usize> = ["error", "warning", "info"]
        .iter()
        .map(|s| (s.to_string(), 0))
        .collect();
    for f in &report.findings {
        *by_sev.entry(f.severity.as_str().to_string()).or_default() += 1;
    }
    JsonReport {
        version: VERSION,
        inputs: report
            .inputs
            .iter()
            .map(|i| JsonInput {
                path: i.path.clone(),
                format: i.format.clone(),
                exchanges: i.exchanges,
                notes: i.notes.iter().map(|n| r.scrub(n)).collect(),
            })
            .collect(),
        flows: report.flows.iter().map(|f| flow(f, r)).collect(),
        findings: report.findings.iter().map(|f| finding(f, r)).collect(),
        summary: JsonSummary {
            exchanges: report.inputs.iter().map(|i| i.exchanges).sum(),
            flows: report.flows.len(),
            findings_by_severity: by_sev,
            flows_evicted: report.flows_evicted,
        },
    }
}

/// Pretty JSON text of the report, with a trailing newline.
pub fn render(report: &Report, r: &Redactor) -> String {
    let mut s = serde_json::to_string_pretty(&build(report, r)).unwrap_or_else(|e| {
        format!("{{\"version\":{VERSION},\"error\":\"serialization failed: {e}\"}}")
    });
    s.push('\n');
    s
}
