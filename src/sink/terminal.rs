//! Human report: findings grouped by flow, each flow with a timeline of its exchanges.
//!
//! Colour only when asked (`Style::color`); the caller decides from the tty and `NO_COLOR`.
//! Every URL and free text goes through the `Redactor`. Also renders single findings for the
//! live proxy/capture output, in the same shape as the full report.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::model::{Evidence, Finding, Flow, Micros, Report, Severity};
use crate::redact::Redactor;

/// Longest URL shown on a timeline line; longer ones are cut with an ellipsis.
const MAX_URL_CHARS: usize = 110;
/// Width explanations are wrapped to.
const WRAP: usize = 96;

#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }
    fn dim(&self, t: &str) -> String {
        self.paint("2", t)
    }
    fn severity(&self, s: Severity) -> String {
        let (code, label) = match s {
            Severity::Error => ("1;31", "error  "),
            Severity::Warning => ("1;33", "warning"),
            Severity::Info => ("1;36", "info   "),
        };
        self.paint(code, label)
    }
    fn status(&self, status: Option<u16>) -> String {
        match status {
            None => self.dim("---"),
            Some(s) if s >= 400 => self.paint("31", &s.to_string()),
            Some(s) if s >= 300 => self.paint("36", &s.to_string()),
            Some(s) => self.paint("32", &s.to_string()),
        }
    }
}

/// Render the whole report.
pub fn render_report(report: &Report, redactor: &Redactor, style: Style) -> String {
    let mut out = String::new();
    let exchanges: u64 = report.inputs.iter().map(|i| i.exchanges).sum();
    let counts = severity_counts(&report.findings);
    let _ = writeln!(
        out,
        "{} {} input(s), {} exchange(s), {} flow(s), {} finding(s) ({} error, {} warning, {} info)",
        style.bold("authtap:"),
        report.inputs.len(),
        exchanges,
        report.flows.len(),
        report.findings.len(),
        counts[2],
        counts[1],
        counts[0],
    );

    let mut by_flow: BTreeMap<Option<u64>, Vec<&Finding>> = BTreeMap::new();
    for f in &report.findings {
        by_flow.entry(f.flow).or_default().push(f);
    }
    for flow in &report.flows {
        out.push('\n');
        render_flow(&mut out, flow, redactor, style);
        let findings = by_flow.remove(&Some(flow.id)).unwrap_or_default();
        if findings.is_empty() {
            let _ = writeln!(out, "  {}", style.dim("No findings."));
        }
        for f in findings {
            render_finding_into(&mut out, f, redactor, style, "  ");
        }
    }
    // Findings whose flow was not listed (evicted, or not tied to a flow).
    let rest: Vec<&Finding> = by_flow.into_values().flatten().collect();
    if !rest.is_empty() {
        let _ = writeln!(out, "\n{}", style.bold("Findings outside any flow"));
        for f in rest {
            render_finding_into(&mut out, f, redactor, style, "  ");
        }
    }

    let _ = writeln!(out, "\n{}", style.bold("Inputs"));
    for input in &report.inputs {
        let format = if input.format.is_empty() {
            "format unknown"
        } else {
            input.format.as_str()
        };
        let _ = writeln!(
            out,
            "  {} ({format}): {} exchange(s)",
            input.path, input.exchanges
        );
        for note in &input.notes {
            let _ = writeln!(out, "    {} {}", style.dim("note:"), redactor.scrub(note));
        }
    }
    if report.flows_evicted > 0 {
        let _ = writeln!(
            out,
            "  {} {} flow(s) were evicted from the bounded flow table; their early exchanges are not shown.",
            style.dim("note:"),
            report.flows_evicted
        );
    }
    out
}

/// One finding, as printed live by `proxy` and `capture`.
pub fn render_finding(finding: &Finding, redactor: &Redactor, style: Style) -> String {
    let mut out = String::new();
    render_finding_into(&mut out, finding, redactor, style, "");
    out
}

fn render_flow(out: &mut String, flow: &Flow, redactor: &Redactor, style: Style) {
    let mut head = format!("Flow #{} · {}", flow.id, redactor.scrub(&flow.label));
    if let Some(t) = &flow.tenant {
        let _ = write!(head, " · tenant {t}");
    }
    if let Some(c) = &flow.client_id {
        let _ = write!(head, " · client {c}");
    }
    let _ = writeln!(out, "{}", style.bold(&head));
    for ev in &flow.exchanges {
        let _ = writeln!(out, "  {}", timeline_line(ev, redactor, style));
    }
    if flow.exchanges_dropped > 0 {
        let _ = writeln!(
            out,
            "  {}",
            style.dim(&format!(
                "… {} more exchange(s) not kept",
                flow.exchanges_dropped
            ))
        );
    }
}

fn timeline_line(ev: &Evidence, redactor: &Redactor, style: Style) -> String {
    format!(
        "{} {:<6} {} {}",
        style.dim(&clock(ev.time)),
        ev.method,
        shorten(&redactor.url(&ev.url), MAX_URL_CHARS),
        style.status(ev.status),
    )
}

fn render_finding_into(
    out: &mut String,
    f: &Finding,
    redactor: &Redactor,
    style: Style,
    indent: &str,
) {
    let _ = writeln!(
        out,
        "{indent}{} {} {}",
        style.severity(f.severity),
        style.bold(f.rule),
        redactor.scrub(&f.title)
    );
    let pad = format!("{indent}    ");
    for line in wrap(&redactor.scrub(&f.explanation), WRAP) {
        let _ = writeln!(out, "{pad}{line}");
    }
    let fix = redactor.scrub(&f.fix);
    for (i, line) in wrap(&fix, WRAP.saturating_sub(5)).into_iter().enumerate() {
        if i == 0 {
            let _ = writeln!(out, "{pad}{} {line}", style.paint("32", "Fix:"));
        } else {
            let _ = writeln!(out, "{pad}     {line}");
        }
    }
    for ev in &f.evidence {
        let _ = writeln!(
            out,
            "{pad}{} input {} #{} {} {} {}",
            style.dim("at"),
            ev.input,
            ev.index,
            ev.method,
            shorten(&redactor.url(&ev.url), MAX_URL_CHARS),
            style.status(ev.status)
        );
    }
}

fn severity_counts(findings: &[Finding]) -> [usize; 3] {
    let mut c = [0usize; 3];
    for f in findings {
        c[f.severity as usize] += 1;
    }
    c
}

/// `HH:MM:SS.mmm` in UTC, or dashes when unknown.
fn clock(t: Option<Micros>) -> String {
    t.and_then(DateTime::<Utc>::from_timestamp_micros)
        .map(|d| d.format("%H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| "--:--:--.---".to_string())
}

/// RFC 3339 UTC with milliseconds, as used by the JSON report.
pub fn rfc3339(t: Micros) -> Option<String> {
    DateTime::<Utc>::from_timestamp_micros(t)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for word in para.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FlowKind, InputSummary};

    fn sample() -> Report {
        let ev = Evidence {
            input: 0,
            index: 2,
            time: Some(1_700_000_000_000_000),
            method: "PATCH".into(),
            url: "https://t.auth0.com/api/v2/users/auth0%7C1?access_token=secretsecret".into(),
            status: Some(401),
        };
        Report {
            inputs: vec![InputSummary {
                path: "a.har".into(),
                format: "har".into(),
                exchanges: 3,
                notes: vec!["1 malformed entry".into()],
            }],
            flows: vec![Flow {
                id: 1,
                kind: FlowKind::UserLogin,
                tenant: Some("t.auth0.com".into()),
                client_id: Some("abc".into()),
                label: "implicit grant".into(),
                exchanges: vec![ev.clone()],
                exchanges_dropped: 0,
            }],
            findings: vec![Finding {
                rule: "id-token-as-access-token",
                severity: Severity::Error,
                title: "You sent the ID token".into(),
                explanation: "The bearer secretsecret is an ID token.".into(),
                fix: "Send the access token.".into(),
                flow: Some(1),
                evidence: vec![ev],
            }],
            flows_evicted: 0,
        }
    }

    #[test]
    fn report_groups_findings_under_their_flow_and_hides_secrets() {
        let mut r = Redactor::new(false);
        r.register("secretsecret");
        let text = render_report(&sample(), &r, Style::default());
        assert!(!text.contains("secretsecret"), "{text}");
        let flow_at = text.find("Flow #1").expect("flow header");
        let finding_at = text.find("id-token-as-access-token").expect("finding");
        assert!(flow_at < finding_at);
        assert!(text.contains("1 error, 0 warning, 0 info"));
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn colour_only_when_asked() {
        let r = Redactor::new(false);
        let text = render_report(&sample(), &r, Style { color: true });
        assert!(text.contains("\x1b[1;31m"));
    }

    #[test]
    fn wrap_keeps_words() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
    }
}
