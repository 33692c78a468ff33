//! Broken inputs through the real binary: every `fixtures/err-*` file and a missing file give
//! exit code 2 and exactly one stderr line naming the file and a position; nothing panics; and
//! a good input given alongside a broken one is still analyzed.

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn authtap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_authtap"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("run authtap")
}

fn err_fixtures() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("fixtures"))
        .expect("fixtures")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.starts_with("err-"))
        .map(|n| format!("fixtures/{n}"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_err_fixture_exits_2_with_one_clear_line() {
    let fixtures = err_fixtures();
    assert!(!fixtures.is_empty());
    for f in fixtures {
        let out = authtap(&["analyze", &f]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{f} panicked: {stderr}");
        let code = out.status.code();
        if code == Some(2) {
            let lines: Vec<&str> = stderr.lines().collect();
            assert_eq!(lines.len(), 1, "{f}: one line expected, got {stderr}");
            assert_eq!(
                lines[0].matches(f.as_str()).count(),
                1,
                "{f}: the line names the file, once: {stderr}"
            );
            assert!(
                lines[0].contains("byte")
                    || lines[0].contains("line")
                    || lines[0].contains("offset"),
                "{f}: the line gives a position: {stderr}"
            );
        } else {
            // Recoverable damage (e.g. a truncated last record): analyzed, and the report says so.
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(matches!(code, Some(0) | Some(1)), "{f}: exit {code:?}");
            assert!(
                stdout.contains("note:"),
                "{f}: the damage is reported: {stdout}"
            );
        }
    }
}

#[test]
fn missing_file_exits_2_naming_it() {
    let out = authtap(&["analyze", "fixtures/does-not-exist.har"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(
        stderr.matches("fixtures/does-not-exist.har").count(),
        1,
        "the file is named once: {stderr}"
    );
    // The OS reason is given once, not once per error in the chain.
    assert_eq!(stderr.matches("(os error 2)").count(), 1, "{stderr}");
}

#[test]
fn a_good_input_is_still_analyzed_next_to_a_broken_one() {
    let out = authtap(&[
        "analyze",
        "--format",
        "json",
        "fixtures/does-not-exist.har",
        "fixtures/forum-thread.har",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("report still written");
    assert!(report["inputs"][1]["exchanges"].as_u64().unwrap_or(0) > 0);
    assert!(!report["findings"]
        .as_array()
        .map(|a| a.is_empty())
        .unwrap_or(true));
}

#[test]
fn usage_error_exits_2() {
    let out = authtap(&["analyze"]);
    assert_eq!(out.status.code(), Some(2));
}
