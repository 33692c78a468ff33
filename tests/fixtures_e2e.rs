//! End-to-end: `authtap analyze` on every bundled fixture, through the real binary.
//!
//! Checks, per fixture: the rule ids found (exact expected set), the exit code, that the JSON
//! report deserializes against the contract types with `deny_unknown_fields`, golden snapshots
//! of the text and JSON reports, and that no raw secret from the fixture appears in any output
//! (text, JSON, HAR export, metrics textfile, stderr).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use authtap::sink::json::JsonReport;

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

fn json_report(fixture: &str) -> (JsonReport, Output) {
    let out = authtap(&["analyze", "--format", "json", "--fail-on", "never", fixture]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let report: JsonReport = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("JSON report of {fixture} does not match the contract: {e}\n{text}")
    });
    (report, out)
}

fn rules(report: &JsonReport) -> BTreeSet<String> {
    report.findings.iter().map(|f| f.rule.clone()).collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// Expected rule ids per fixture, from the scenario each fixture records (fixtures/README.md).
const EXPECTED: &[(&str, &[&str])] = &[
    (
        "fixtures/forum-thread.har",
        &[
            "authorize-error",
            "id-token-as-access-token",
            "implicit-grant",
            "insufficient-scope",
            "opaque-access-token",
            "scope-not-granted",
            "sensitive-claim",
        ],
    ),
    (
        "fixtures/m2m.har",
        &[
            "insufficient-scope",
            "rate-limited",
            "token-endpoint-error",
            "token-expired",
        ],
    ),
    ("fixtures/healthy-spa.har", &[]),
];

#[test]
fn fixtures_yield_the_expected_rules() {
    for (fixture, expected) in EXPECTED {
        let (report, out) = json_report(fixture);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{fixture}: --fail-on never exits 0"
        );
        assert_eq!(rules(&report), set(expected), "{fixture}");
        assert!(
            report.inputs[0].exchanges > 0,
            "{fixture}: exchanges counted"
        );
    }
}

#[test]
fn sanitized_har_reports_missing_evidence_and_no_token_rules() {
    let (report, _) = json_report("fixtures/forum-thread-sanitized.har");
    let found = rules(&report);
    assert!(found.contains("evidence-missing"), "{found:?}");
    // Without Authorization headers authtap cannot know which token was sent.
    assert!(!found.contains("id-token-as-access-token"), "{found:?}");
    assert!(!found.contains("opaque-access-token"), "{found:?}");
}

#[test]
fn healthy_flow_has_no_error_or_warning() {
    let (report, out) = json_report("fixtures/healthy-spa.har");
    assert!(report.findings.iter().all(|f| f.severity == "info"));
    assert_eq!(out.status.code(), Some(0));
    let strict = authtap(&[
        "analyze",
        "--fail-on",
        "warning",
        "fixtures/healthy-spa.har",
    ]);
    assert_eq!(strict.status.code(), Some(0));
}

#[test]
fn exit_code_follows_fail_on() {
    let f = "fixtures/forum-thread.har";
    assert_eq!(authtap(&["analyze", f]).status.code(), Some(1));
    assert_eq!(
        authtap(&["analyze", "--fail-on", "warning", f])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        authtap(&["analyze", "--fail-on", "never", f]).status.code(),
        Some(0)
    );
}

#[test]
fn golden_reports() {
    for (fixture, _) in EXPECTED
        .iter()
        .chain([("fixtures/forum-thread-sanitized.har", &[][..])].iter())
    {
        let name = Path::new(fixture)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("fixture")
            .replace('.', "_");
        let text = authtap(&["analyze", "--fail-on", "never", fixture]);
        insta::assert_snapshot!(
            format!("{name}_text"),
            String::from_utf8_lossy(&text.stdout)
        );
        let json = authtap(&["analyze", "--format", "json", "--fail-on", "never", fixture]);
        insta::assert_snapshot!(
            format!("{name}_json"),
            String::from_utf8_lossy(&json.stdout)
        );
    }
}

/// Every secret-bearing value in a HAR: Authorization/Cookie headers, secret parameters in URLs,
/// fragments, forms and JSON bodies, and secret-looking JWT claim values.
fn har_secrets(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("read fixture");
    let har: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
    let mut out = Vec::new();
    let mut add = |s: &str| {
        if s.len() >= 8 {
            out.push(s.to_string());
        }
    };
    let entries = har["log"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for e in &entries {
        let mut texts: Vec<String> = Vec::new();
        for side in ["request", "response"] {
            for h in e[side]["headers"].as_array().into_iter().flatten() {
                let name = h["name"].as_str().unwrap_or("").to_ascii_lowercase();
                let value = h["value"].as_str().unwrap_or("");
                match name.as_str() {
                    "authorization" => {
                        if let Some((_, cred)) = value.split_once(' ') {
                            add(cred.trim());
                        }
                    }
                    "cookie" => {
                        for kv in value.split(';') {
                            if let Some((_, v)) = kv.split_once('=') {
                                add(v.trim());
                            }
                        }
                    }
                    // Only the cookie's value is secret, not its attributes (Expires, Path...).
                    "set-cookie" => {
                        let first = value.split(';').next().unwrap_or("");
                        if let Some((_, v)) = first.split_once('=') {
                            add(v.trim());
                        }
                    }
                    "location" => texts.push(value.to_string()),
                    _ => {}
                }
            }
        }
        texts.push(e["request"]["url"].as_str().unwrap_or("").to_string());
        texts.push(
            e["request"]["postData"]["text"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        );
        texts.push(
            e["response"]["content"]["text"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        );
        for t in texts {
            for part in t.split(['?', '#', '&']) {
                if let Some((k, v)) = part.split_once('=') {
                    if authtap::redact::is_secret_param(k) {
                        let v = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
                        add(&v);
                    }
                }
            }
            if let Ok(json) = serde_json::from_str::<serde_json::Value>(&t) {
                collect_json_secrets(&json, &mut add);
            }
            // Inputs of form_post pages.
            for chunk in t.split("value=\"").skip(1) {
                if let Some(v) = chunk.split('"').next() {
                    if v.len() > 20 {
                        add(v);
                    }
                }
            }
        }
    }
    // Secret-looking claim values inside JWTs.
    let jwts: Vec<String> = out
        .iter()
        .filter(|s| s.matches('.').count() == 2)
        .cloned()
        .collect();
    for jwt in jwts {
        if let Some(payload) = jwt.split('.').nth(1) {
            use base64::Engine as _;
            if let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload) {
                if let Ok(claims) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                    collect_json_secrets(&claims, &mut |s: &str| {
                        if s.len() >= 8 {
                            out.push(s.to_string())
                        }
                    });
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn collect_json_secrets(v: &serde_json::Value, add: &mut dyn FnMut(&str)) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match v {
                    serde_json::Value::String(s)
                        if authtap::redact::is_secret_param(k)
                            || authtap::redact::looks_secret_key(k) =>
                    {
                        add(s)
                    }
                    _ => collect_json_secrets(v, add),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_json_secrets(x, add)),
        _ => {}
    }
}

#[test]
fn no_raw_secret_in_any_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures"))
        .expect("fixtures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.ends_with(".har") && !n.starts_with("err-")
        })
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 4, "fixtures present: {fixtures:?}");
    for fixture in fixtures {
        let secrets = har_secrets(&fixture);
        assert!(
            !secrets.is_empty(),
            "{}: the fixture should carry secrets",
            fixture.display()
        );
        let f = fixture.to_string_lossy().to_string();
        let har_out = dir.path().join("out.har");
        let metrics_out = dir.path().join("out.prom");
        let mut outputs: Vec<(String, String)> = Vec::new();
        for format in ["text", "json"] {
            let mut args = vec!["analyze", "--fail-on", "never", "--format", format];
            let har_s = har_out.to_string_lossy().to_string();
            let met_s = metrics_out.to_string_lossy().to_string();
            if format == "json" {
                args.extend(["--har-out", har_s.as_str(), "--metrics-out", met_s.as_str()]);
            }
            args.push(f.as_str());
            let out = authtap(&args);
            outputs.push((
                format!("{format} stdout"),
                String::from_utf8_lossy(&out.stdout).into(),
            ));
            outputs.push((
                format!("{format} stderr"),
                String::from_utf8_lossy(&out.stderr).into(),
            ));
        }
        outputs.push((
            "har-out".into(),
            std::fs::read_to_string(&har_out).unwrap_or_default(),
        ));
        outputs.push((
            "metrics-out".into(),
            std::fs::read_to_string(&metrics_out).unwrap_or_default(),
        ));
        for (what, text) in &outputs {
            for s in &secrets {
                assert!(
                    !text.contains(s.as_str()),
                    "{f}: {what} leaks a secret ({} chars)",
                    s.len()
                );
            }
        }
        // --include-secrets really includes them (proves the search above can find them).
        let clear = authtap(&[
            "analyze",
            "--fail-on",
            "never",
            "--include-secrets",
            "--har-out",
            har_out.to_string_lossy().as_ref(),
            f.as_str(),
        ]);
        assert!(clear.status.success() || clear.status.code() == Some(1));
        let har_clear = std::fs::read_to_string(&har_out).unwrap_or_default();
        assert!(
            secrets.iter().any(|s| har_clear.contains(s.as_str())),
            "{f}: --include-secrets"
        );
    }
}

/// Capture fixtures of the same scenarios, with the key material each needs, and the HAR whose
/// findings they must reproduce.
const CAPTURES: &[(&str, Option<&str>, &str)] = &[
    (
        "fixtures/forum-thread.pcap",
        None,
        "fixtures/forum-thread.har",
    ),
    (
        "fixtures/forum-thread-h2c.pcap",
        None,
        "fixtures/forum-thread.har",
    ),
    (
        "fixtures/forum-thread-h2.pcap",
        Some("fixtures/forum-thread-h2.keys"),
        "fixtures/forum-thread.har",
    ),
    (
        "fixtures/forum-thread-h1-tls.pcap",
        Some("fixtures/forum-thread-h1-tls.keys"),
        "fixtures/forum-thread.har",
    ),
    (
        "fixtures/forum-thread-h2-tls12.pcap",
        Some("fixtures/forum-thread-h2-tls12.keys"),
        "fixtures/forum-thread.har",
    ),
    (
        "fixtures/forum-thread-h2-aes128.pcap",
        Some("fixtures/forum-thread-h2-aes128.keys"),
        "fixtures/forum-thread.har",
    ),
    (
        "fixtures/forum-thread-h2-dsb.pcapng",
        None,
        "fixtures/forum-thread.har",
    ),
    ("fixtures/m2m.pcap", None, "fixtures/m2m.har"),
    (
        "fixtures/m2m-h2.pcap",
        Some("fixtures/m2m-h2.keys"),
        "fixtures/m2m.har",
    ),
    (
        "fixtures/m2m-h2-chacha20.pcap",
        Some("fixtures/m2m-h2-chacha20.keys"),
        "fixtures/m2m.har",
    ),
    ("fixtures/m2m-h2-dsb.pcapng", None, "fixtures/m2m.har"),
];

fn analyze_json(args: &[&str]) -> (JsonReport, Output) {
    let mut all = vec!["analyze", "--format", "json", "--fail-on", "never"];
    all.extend_from_slice(args);
    let out = authtap(&all);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let report: JsonReport = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("JSON report for {args:?} does not match the contract: {e}\n{text}")
    });
    (report, out)
}

fn capture_args<'a>(capture: &'a str, keys: Option<&'a str>) -> Vec<&'a str> {
    match keys {
        Some(k) => vec!["--keylog", k, capture],
        None => vec![capture],
    }
}

#[test]
fn captures_yield_the_same_findings_as_the_har_of_the_same_scenario() {
    for (capture, keys, har) in CAPTURES {
        let (from_har, _) = json_report(har);
        let (from_cap, out) = analyze_json(&capture_args(capture, *keys));
        assert_eq!(out.status.code(), Some(0), "{capture}");
        assert_eq!(
            from_cap.inputs[0].exchanges, 10,
            "{capture}: 10 requests (as tshark counts)"
        );
        assert_eq!(rules(&from_cap), rules(&from_har), "{capture} vs {har}");
    }
}

#[test]
fn tls_captures_without_keys_say_evidence_is_missing_and_invent_nothing() {
    for (capture, keys, _) in CAPTURES.iter().filter(|(_, k, _)| k.is_some()) {
        let _ = keys;
        let (report, _) = analyze_json(&[capture]);
        assert_eq!(report.inputs[0].exchanges, 0, "{capture}");
        assert_eq!(rules(&report), set(&["evidence-missing"]), "{capture}");
        let f = &report.findings[0];
        assert!(
            f.fix.contains("SSLKEYLOGFILE") && f.fix.contains("--inject-secrets"),
            "{}",
            f.fix
        );
    }
}

/// Secret values of a key log file (the hex secrets, and the whole lines).
fn keylog_secrets(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(path)).expect("key log");
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        out.push(line.trim().to_string());
        if let Some(secret) = line.split_whitespace().nth(2) {
            out.push(secret.to_string());
        }
    }
    out
}

#[test]
fn no_raw_secret_in_any_output_of_any_capture() {
    let dir = tempfile::tempdir().expect("tempdir");
    let har_out = dir.path().join("out.har");
    let metrics_out = dir.path().join("out.prom");
    let har_s = har_out.to_string_lossy().to_string();
    let met_s = metrics_out.to_string_lossy().to_string();
    for (capture, keys, _) in CAPTURES {
        let listed = std::fs::read_to_string(root().join(format!("{capture}.secrets")))
            .unwrap_or_else(|_| panic!("{capture}.secrets lists the raw secrets"));
        let mut secrets: Vec<String> = listed
            .lines()
            .map(str::trim)
            .filter(|l| l.len() >= 8)
            .map(str::to_string)
            .collect();
        if let Some(k) = keys {
            secrets.extend(keylog_secrets(k));
        }
        assert!(!secrets.is_empty(), "{capture}");
        let mut outputs = Vec::new();
        for format in ["text", "json"] {
            let mut args = vec!["analyze", "--fail-on", "never", "--format", format];
            args.extend(["--har-out", har_s.as_str(), "--metrics-out", met_s.as_str()]);
            args.extend(capture_args(capture, *keys));
            let out = authtap(&args);
            outputs.push((
                format!("{format} stdout"),
                String::from_utf8_lossy(&out.stdout).to_string(),
            ));
            outputs.push((
                format!("{format} stderr"),
                String::from_utf8_lossy(&out.stderr).to_string(),
            ));
            outputs.push((
                "har-out".to_string(),
                std::fs::read_to_string(&har_out).unwrap_or_default(),
            ));
            outputs.push((
                "metrics-out".to_string(),
                std::fs::read_to_string(&metrics_out).unwrap_or_default(),
            ));
        }
        assert!(outputs
            .iter()
            .any(|(w, t)| w == "har-out" && t.contains("\"entries\"")));
        for (what, text) in &outputs {
            for s in &secrets {
                assert!(
                    !text.contains(s.as_str()),
                    "{capture}: {what} leaks a secret ({} chars)",
                    s.len()
                );
            }
        }
    }
}

#[test]
fn keylog_mistakes_are_named_and_key_log_problems_reported() {
    let secrets = keylog_secrets("fixtures/m2m-h2.keys");
    let stderr = |out: &Output| String::from_utf8_lossy(&out.stderr).to_string();
    let no_secret = |text: &str| {
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "a key log secret leaked: {text}"
            );
        }
    };

    // A capture passed as the key log: exit 2, one line naming the option, the file and byte 0.
    let out = authtap(&[
        "analyze",
        "--keylog",
        "fixtures/m2m-h2.pcap",
        "fixtures/m2m-h2.pcap",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim_end(),
        "authtap: error: --keylog: fixtures/m2m-h2.pcap: byte 0: this is a pcap capture, not a TLS \
         key log (lines such as `CLIENT_RANDOM <64 hex digits> <96 hex digits>`); pass captures \
         and HAR files to `authtap analyze` as FILE arguments"
    );

    // A key log passed as the input: exit 2, and the error says to use --keylog.
    let out = authtap(&["analyze", "fixtures/m2m-h2.keys"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("pass it with --keylog FILE"), "{err}");
    no_secret(&err);

    // A gzip-compressed key log with one broken line still decrypts, and the report says so.
    let dir = tempfile::tempdir().expect("tempdir");
    let gz = dir.path().join("keys.log.gz");
    let mut text = std::fs::read(root().join("fixtures/m2m-h2.keys")).expect("keys");
    text.extend_from_slice(b"CLIENT_RANDOM not-hex\n");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &text).expect("gzip");
    std::fs::write(&gz, enc.finish().expect("gzip")).expect("write");
    let gz_s = gz.to_string_lossy().to_string();
    let (report, out) = analyze_json(&["--keylog", &gz_s, "fixtures/m2m-h2.pcap"]);
    assert_eq!(report.inputs[0].exchanges, 10);
    let note = format!("key log {gz_s}: 40 key line(s) read, 1 malformed line(s) skipped");
    assert!(
        report.inputs[0].notes.contains(&note),
        "{:?}",
        report.inputs[0].notes
    );
    assert!(stderr(&out).contains(&format!("authtap: warning: {note}")));

    // A text file that is no key log: the run goes on, and says the key log gave nothing.
    let (report, out) = analyze_json(&["--keylog", "fixtures/README.md", "fixtures/m2m-h2.pcap"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(report.inputs[0].exchanges, 0);
    assert!(
        report.inputs[0]
            .notes
            .iter()
            .any(|n| n.starts_with("key log fixtures/README.md holds no usable key lines (")),
        "{:?}",
        report.inputs[0].notes
    );
}

#[test]
fn dash_reads_standard_input_like_a_file() {
    for fixture in ["fixtures/m2m.pcap", "fixtures/forum-thread.har"] {
        let out = Command::new(env!("CARGO_BIN_EXE_authtap"))
            .args(["analyze", "--format", "json", "--fail-on", "never", "-"])
            .current_dir(root())
            .stdin(std::fs::File::open(root().join(fixture)).expect("fixture"))
            .output()
            .expect("run authtap");
        assert_eq!(out.status.code(), Some(0), "{fixture}");
        let piped: JsonReport =
            serde_json::from_slice(&out.stdout).expect("JSON report from stdin");
        let (from_file, _) = json_report(fixture);
        assert_eq!(piped.inputs[0].path, "-");
        assert_eq!(piped.inputs[0].format, from_file.inputs[0].format);
        assert_eq!(piped.inputs[0].exchanges, from_file.inputs[0].exchanges);
        assert!(piped.inputs[0].exchanges > 0, "{fixture}");
        assert_eq!(rules(&piped), rules(&from_file), "{fixture}");
    }
}
