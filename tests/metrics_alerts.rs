//! Runs `promtool test rules` on dashboards/prometheus/alerts.test.yml (unit tests for every
//! alert in alerts.yml). Skips with a printed reason when promtool is absent.

mod metrics_support;

use metrics_support::{repo_path, which};

#[test]
fn promtool_check_and_test_rules() {
    let Some(promtool) = which("promtool") else {
        println!("skipped: promtool not on PATH (apt-get install prometheus)");
        return;
    };
    let dir = repo_path("dashboards/prometheus");
    for args in [
        vec!["check", "rules", "alerts.yml"],
        vec!["test", "rules", "alerts.test.yml"],
        vec!["check", "rules", "recording-rules.yml"],
    ] {
        let out = std::process::Command::new(&promtool)
            .args(&args)
            .current_dir(&dir)
            .output()
            .unwrap_or_else(|e| panic!("running promtool: {e}"));
        assert!(
            out.status.success(),
            "promtool {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_alert_has_a_unit_test() {
    let rules = std::fs::read_to_string(repo_path("dashboards/prometheus/alerts.yml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let tests = std::fs::read_to_string(repo_path("dashboards/prometheus/alerts.test.yml"))
        .unwrap_or_else(|e| panic!("{e}"));
    for line in rules.lines() {
        if let Some(name) = line.trim().strip_prefix("- alert:") {
            let name = name.trim();
            assert!(
                tests.contains(&format!("alertname: {name}")),
                "alert {name} has no promtool unit test"
            );
        }
    }
}

/// The anchor GitHub (and GitLab, Gitea) generates for a Markdown heading: lower case, spaces
/// become `-`, punctuation other than `-` and `_` is dropped; repeats get `-1`, `-2`, ...
fn heading_anchors(markdown: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut in_fence = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let Some(text) = line
            .strip_prefix('#')
            .map(|t| t.trim_start_matches('#'))
            .filter(|t| t.starts_with(' '))
        else {
            continue;
        };
        let base: String = text
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let repeats = seen
            .iter()
            .filter(|s| {
                **s == base
                    || s.strip_prefix(&format!("{base}-"))
                        .is_some_and(|n| n.parse::<u32>().is_ok())
            })
            .count();
        seen.push(if repeats == 0 {
            base
        } else {
            format!("{base}-{repeats}")
        });
    }
    seen
}

/// (alert name, runbook_url) for every alert in alerts.yml, in file order.
fn runbook_urls(rules: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in rules.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("- alert:") {
            current = Some(name.trim().to_string());
        } else if let Some(url) = t.strip_prefix("runbook_url:") {
            let url = url.trim().trim_matches('"').trim_matches('\'').to_string();
            let name = current
                .take()
                .unwrap_or_else(|| panic!("runbook_url {url} outside an alert (or twice in one)"));
            out.push((name, url));
        }
    }
    out
}

#[test]
fn anchors_follow_github_rules() {
    let md = "# Top\n## Runbooks\n```\n# not a heading\n```\n### AuthtapAbsent\n### Fleet: scale & cost\n## Runbooks\n#nope\n";
    assert_eq!(
        heading_anchors(md),
        [
            "top",
            "runbooks",
            "authtapabsent",
            "fleet-scale--cost",
            "runbooks-1"
        ]
    );
}

#[test]
fn every_runbook_url_anchor_is_a_readme_heading() {
    let rules = std::fs::read_to_string(repo_path("dashboards/prometheus/alerts.yml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let readme = std::fs::read_to_string(repo_path("dashboards/README.md"))
        .unwrap_or_else(|e| panic!("{e}"));
    let anchors = heading_anchors(&readme);
    let urls = runbook_urls(&rules);
    assert_eq!(
        urls.len(),
        rules.matches("- alert:").count(),
        "every alert has exactly one runbook_url"
    );
    let mut bases = std::collections::BTreeSet::new();
    for (alert, url) in &urls {
        let (base, anchor) = url
            .split_once('#')
            .unwrap_or_else(|| panic!("{alert}: runbook_url {url} has no #anchor"));
        bases.insert(base.to_string());
        assert!(
            base.ends_with("/dashboards/README.md"),
            "{alert}: runbook_url {url} does not point at dashboards/README.md"
        );
        assert!(
            anchors.iter().any(|a| a == anchor),
            "{alert}: anchor #{anchor} is not a heading of dashboards/README.md (headings: {anchors:?})"
        );
        // Each alert has its own runbook section, named after it.
        assert_eq!(anchor, alert.to_lowercase(), "{alert}: runbook anchor");
    }
    // One base URL, so one substitution repoints them all (dashboards/README.md, "Runbook links").
    assert_eq!(bases.len(), 1, "runbook_url bases differ: {bases:?}");
}
