//! The Grafana dashboard and the alert rules use only metrics authtap really exports: every
//! PromQL expression is parsed for metric names, and each must appear in the exposition that
//! `Metrics` renders after observing traffic. With promtool present, every dashboard expression
//! must also parse as PromQL.

mod metrics_support;

use std::collections::BTreeSet;

use authtap::sink::prometheus::Metrics;
use metrics_support::{exposition_names, observe_story, repo_path, which};

const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "inf",
    "nan",
    "atan2",
];

/// Metric names referenced by a PromQL expression (Grafana variables allowed).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let strings = regex::Regex::new(r#""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"#)
        .unwrap_or_else(|e| panic!("{e}"));
    let braces = regex::Regex::new(r"\{[^}]*\}").unwrap_or_else(|e| panic!("{e}"));
    let ranges = regex::Regex::new(r"\[[^\]]*\]").unwrap_or_else(|e| panic!("{e}"));
    let grouping =
        regex::Regex::new(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
            .unwrap_or_else(|e| panic!("{e}"));
    let ident = regex::Regex::new(r"[A-Za-z_:][A-Za-z0-9_:]*").unwrap_or_else(|e| panic!("{e}"));
    let s = strings.replace_all(expr, " ");
    let s = braces.replace_all(&s, " ");
    let s = ranges.replace_all(&s, " ");
    let s = grouping.replace_all(&s, " ");
    let mut out = BTreeSet::new();
    for m in ident.find_iter(&s) {
        let word = m.as_str();
        let before = s[..m.start()].chars().last();
        if before.is_some_and(|c| c.is_ascii_digit() || c == '.' || c == '$') {
            continue; // part of a number like 1e3, or a leftover variable
        }
        let after = s[m.end()..].trim_start();
        if after.starts_with('(') || KEYWORDS.contains(&word) {
            continue;
        }
        out.insert(word.to_string());
    }
    out
}

fn dashboard() -> serde_json::Value {
    let text = std::fs::read_to_string(repo_path("dashboards/grafana/authtap.json"))
        .unwrap_or_else(|e| panic!("reading dashboard: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("dashboard is not JSON: {e}"))
}

fn collect_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map {
                if k == "expr" {
                    if let Some(s) = val.as_str() {
                        out.push(s.to_string());
                    }
                }
                collect_exprs(val, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_exprs(x, out)),
        _ => {}
    }
}

/// `expr:` values of a Prometheus rule file (single line or a folded/literal block).
fn alert_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("expr:") {
            let rest = rest.trim();
            let indent = line.len() - trimmed.len();
            if rest.starts_with('>') || rest.starts_with('|') {
                let mut block = Vec::new();
                i += 1;
                while i < lines.len() {
                    let l = lines[i];
                    let ind = l.len() - l.trim_start().len();
                    if !l.trim().is_empty() && ind <= indent {
                        break;
                    }
                    block.push(l.trim());
                    i += 1;
                }
                out.push(block.join(" "));
                continue;
            }
            out.push(rest.trim_matches('"').to_string());
        }
        i += 1;
    }
    out
}

fn exported() -> BTreeSet<String> {
    let m = Metrics::new();
    observe_story(&m);
    exposition_names(&m.render(false))
}

fn check(source: &str, exprs: &[String], exported: &BTreeSet<String>) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for e in exprs {
        let names = metric_names(e);
        assert!(!names.is_empty(), "{source}: no metric in `{e}`");
        for n in names {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| n.strip_suffix(s))
                .unwrap_or(&n);
            assert!(
                exported.contains(&n) || exported.contains(base),
                "{source}: `{n}` (in `{e}`) is not in authtap's exposition"
            );
            used.insert(n);
        }
    }
    used
}

#[test]
fn extractor_finds_metrics_not_labels_or_functions() {
    let got = metric_names(
        r#"histogram_quantile(0.95, sum by (le) (rate(a_b_bucket{x=~"$y",api="m"}[$__rate_interval]))) / on (job) group_left (v) c_info > 1e3 and d"#,
    );
    let want: BTreeSet<String> = ["a_b_bucket", "c_info", "d"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(got, want);
}

#[test]
fn dashboard_uses_only_exported_metrics() {
    let exported = exported();
    let d = dashboard();
    let mut exprs = Vec::new();
    collect_exprs(&d["panels"], &mut exprs);
    assert!(
        exprs.len() >= 15,
        "dashboard has {} expressions",
        exprs.len()
    );
    let used = check("authtap.json", &exprs, &exported);
    // label_values(metric, label) in template variables.
    let lv = regex::Regex::new(r"label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)")
        .unwrap_or_else(|e| panic!("{e}"));
    for var in d["templating"]["list"].as_array().into_iter().flatten() {
        if let Some(def) = var["definition"].as_str() {
            for c in lv.captures_iter(def) {
                assert!(
                    exported.contains(&c[1]),
                    "variable uses unexported `{}`",
                    &c[1]
                );
            }
        }
    }
    // Every family authtap exports has a panel.
    for family in authtap::telemetry::names::ALL {
        assert!(
            used.iter().any(|u| u.starts_with(family)),
            "no dashboard panel shows {family}"
        );
    }
}

#[test]
fn dashboard_is_classic_json_with_inputs_and_stable_uid() {
    let d = dashboard();
    assert_eq!(d["uid"], "authtap-auth0-overview");
    assert!(d["id"].is_null());
    assert_eq!(d["__inputs"][0]["name"], "DS_PROMETHEUS");
    assert_eq!(d["__inputs"][0]["pluginId"], "prometheus");
    let vars: Vec<&str> = d["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(vars, ["datasource", "tenant", "endpoint"]);
    let mut ids = BTreeSet::new();
    for p in d["panels"].as_array().into_iter().flatten() {
        let g = &p["gridPos"];
        let (x, w) = (g["x"].as_u64().unwrap_or(99), g["w"].as_u64().unwrap_or(99));
        assert!(
            x + w <= 24,
            "panel {} exceeds the 24-column grid",
            p["title"]
        );
        assert!(
            ids.insert(p["id"].as_u64().unwrap_or(0)),
            "duplicate panel id"
        );
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}");
        }
    }
}

#[test]
fn alert_rules_use_only_exported_metrics() {
    let exported = exported();
    let text = std::fs::read_to_string(repo_path("dashboards/prometheus/alerts.yml"))
        .unwrap_or_else(|e| panic!("reading alerts.yml: {e}"));
    let exprs = alert_exprs(&text);
    let alerts = text.matches("- alert:").count();
    assert_eq!(exprs.len(), alerts, "one expr per alert");
    assert!(alerts >= 10);
    check("alerts.yml", &exprs, &exported);
    // Each alert has for:, a severity and the three annotations.
    assert_eq!(text.matches("\n        for:").count(), alerts);
    assert_eq!(text.matches("severity:").count(), alerts);
    for key in ["summary:", "description:", "runbook_url:"] {
        assert_eq!(text.matches(key).count(), alerts, "{key}");
    }
}

#[test]
fn recording_rules_use_only_exported_metrics() {
    let exported = exported();
    let text = std::fs::read_to_string(repo_path("dashboards/prometheus/recording-rules.yml"))
        .unwrap_or_else(|e| panic!("reading recording-rules.yml: {e}"));
    let exprs = alert_exprs(&text);
    assert_eq!(exprs.len(), text.matches("- record:").count());
    check("recording-rules.yml", &exprs, &exported);
}

#[test]
fn dashboard_exprs_parse_as_promql() {
    let Some(promtool) = which("promtool") else {
        println!("skipped: promtool not on PATH (apt-get install prometheus)");
        return;
    };
    let mut exprs = Vec::new();
    collect_exprs(&dashboard()["panels"], &mut exprs);
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        let e = e
            .replace("$__rate_interval", "5m")
            .replace("$__range", "1h")
            .replace("$tenant", ".*")
            .replace("$endpoint", ".*");
        let quoted = serde_json::to_string(&e).unwrap_or_default();
        rules.push_str(&format!(
            "      - record: dashboard:expr_{i}\n        expr: {quoted}\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("dashboard-rules.yml");
    std::fs::write(&path, rules).unwrap_or_else(|e| panic!("{e}"));
    let out = std::process::Command::new(promtool)
        .arg("check")
        .arg("rules")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("running promtool: {e}"));
    assert!(
        out.status.success(),
        "promtool rejects a dashboard expression:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
