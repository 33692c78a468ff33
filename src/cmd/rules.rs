//! `authtap rules`: lists every rule (id, severity, one-line summary), or explains one rule:
//! what it detects, why Auth0 behaves so, the fix, and an example.
//!
//! Reads only the static `diagnose::RULES` table; analyses no traffic. An unknown id is an error
//! (a usage error for `main`) that names the closest ids.

use std::io::Write;

use anyhow::bail;

use crate::cli::RulesArgs;
use crate::diagnose::{rule, RuleInfo, RULES};

fn list(out: &mut dyn Write) -> anyhow::Result<()> {
    let width = RULES.iter().map(|r| r.id.len()).max().unwrap_or(0);
    for r in RULES {
        writeln!(
            out,
            "{:<width$}  {:<7}  {}",
            r.id,
            r.severity.as_str(),
            r.summary
        )?;
    }
    writeln!(out)?;
    writeln!(out, "Run `authtap rules <ID>` to explain one rule.")?;
    Ok(())
}

fn explain(r: &RuleInfo, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(out, "{} ({})", r.id, r.severity.as_str())?;
    writeln!(out, "  {}", r.summary)?;
    for (label, text) in [
        ("What it detects", r.detects),
        ("Why Auth0 behaves so", r.why),
        ("Fix", r.fix),
        ("Example", r.example),
    ] {
        writeln!(out)?;
        writeln!(out, "{label}:")?;
        writeln!(out, "  {}", squeeze(text))?;
    }
    Ok(())
}

/// Collapse the runs of spaces left by string continuation lines.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn run(args: &RulesArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    match args.rule.as_deref() {
        None => list(out),
        Some(id) => match rule(id.trim()) {
            Some(r) => explain(r, out),
            None => {
                let needle = id.trim().to_ascii_lowercase();
                let close: Vec<&str> = RULES
                    .iter()
                    .map(|r| r.id)
                    .filter(|r| {
                        needle
                            .split(['-', '_', ' '])
                            .any(|w| w.len() > 2 && r.contains(w))
                    })
                    .collect();
                if close.is_empty() {
                    bail!("unknown rule `{id}`; run `authtap rules` to list the rules")
                }
                bail!(
                    "unknown rule `{id}`; did you mean {}? (`authtap rules` lists them all)",
                    close.join(", ")
                )
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_to_string(rule: Option<&str>) -> anyhow::Result<String> {
        let mut buf = Vec::new();
        run(
            &RulesArgs {
                rule: rule.map(str::to_string),
            },
            &mut buf,
        )?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    #[test]
    fn lists_every_rule_with_severity() {
        let out = run_to_string(None).unwrap_or_default();
        for r in RULES {
            let line = out
                .lines()
                .find(|l| l.starts_with(&format!("{} ", r.id)))
                .unwrap_or_default();
            assert!(line.contains(r.severity.as_str()), "{line}");
        }
        assert_eq!(
            out.lines().filter(|l| !l.is_empty()).count(),
            RULES.len() + 1
        );
    }

    #[test]
    fn explains_one_rule() {
        let out = run_to_string(Some("opaque-access-token")).unwrap_or_default();
        assert!(out.starts_with("opaque-access-token (error)"));
        assert!(out.contains("Why Auth0 behaves so:"));
        assert!(out.contains("audience=https://<tenant host>/api/v2/"));
        assert!(out.contains("Example:"));
        assert!(
            !out.contains("  \n") && !out.contains("   "),
            "continuation spaces squeezed"
        );
    }

    #[test]
    fn unknown_rule_suggests_close_ids() {
        let err = run_to_string(Some("scope-missing"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown rule `scope-missing`"));
        assert!(err.contains("scope-not-granted") && err.contains("insufficient-scope"));
    }
}
