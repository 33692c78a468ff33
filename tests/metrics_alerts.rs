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
