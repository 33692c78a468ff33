//! `gen-fixtures` output is deterministic and the committed HAR fixtures are up to date.

use std::path::Path;

use mock_tenant::fixtures::{gen_fixtures, FILES};

#[test]
fn two_runs_write_identical_files() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let wa = gen_fixtures(a.path()).expect("gen a");
    let wb = gen_fixtures(b.path()).expect("gen b");
    assert_eq!(
        wa.len(),
        FILES.len() * 2,
        "a HAR and a .secrets per fixture"
    );
    assert_eq!(wa.len(), wb.len());
    for p in &wa {
        let name = p.file_name().expect("file name");
        let x = std::fs::read(p).expect("read a");
        let y = std::fs::read(b.path().join(name)).expect("read b");
        assert!(!x.is_empty());
        assert_eq!(x, y, "{} differs between runs", name.to_string_lossy());
    }
}

#[test]
fn committed_har_fixtures_match_the_generator() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let fresh = tempfile::tempdir().expect("tempdir");
    gen_fixtures(fresh.path()).expect("gen");
    for (file, _, _) in FILES {
        for name in [file.to_string(), format!("{file}.secrets")] {
            let want = std::fs::read(fresh.path().join(&name)).expect("fresh");
            let have = std::fs::read(committed.join(&name))
                .unwrap_or_else(|e| panic!("fixtures/{name} missing ({e}); run `cargo run -p mock-tenant -- gen-fixtures --out fixtures`"));
            assert!(have == want, "fixtures/{name} is stale; regenerate with `cargo run -p mock-tenant -- gen-fixtures --out fixtures`");
        }
    }
}

#[test]
fn hars_look_like_chrome_exports_but_say_who_made_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    gen_fixtures(dir.path()).expect("gen");
    for (file, _, sanitized) in FILES {
        let text = std::fs::read_to_string(dir.path().join(file)).expect("read");
        let har: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let log = &har["log"];
        assert_eq!(log["version"], "1.2");
        assert_eq!(log["creator"]["name"], "authtap mock-tenant");
        assert!(log["creator"]["comment"]
            .as_str()
            .unwrap_or("")
            .contains("Synthetic"));
        let entries = log["entries"].as_array().expect("entries");
        assert!(entries.len() >= 10, "{file}: {} entries", entries.len());
        let mut last = String::new();
        for e in entries {
            for k in [
                "_initiator",
                "_priority",
                "_resourceType",
                "serverIPAddress",
                "connection",
                "timings",
                "time",
            ] {
                assert!(e.get(k).is_some(), "{file}: entry lacks {k}");
            }
            let started = e["startedDateTime"]
                .as_str()
                .expect("startedDateTime")
                .to_string();
            assert!(started >= last, "{file}: entries out of order");
            last = started;
            assert_eq!(e["request"]["httpVersion"], "http/2.0");
            for h in e["request"]["headers"].as_array().expect("headers") {
                let n = h["name"].as_str().unwrap_or("");
                assert!(!n.starts_with(':'), "{file}: pseudo-header {n}");
                if *sanitized {
                    assert!(
                        !matches!(n, "authorization" | "cookie"),
                        "{file}: {n} not stripped"
                    );
                }
            }
            if *sanitized {
                for h in e["response"]["headers"].as_array().expect("headers") {
                    assert_ne!(h["name"], "set-cookie", "{file}: set-cookie not stripped");
                }
            }
            let t = &e["timings"];
            let sum: f64 = ["blocked", "dns", "connect", "send", "wait", "receive"]
                .iter()
                .filter_map(|k| t[*k].as_f64())
                .filter(|v| *v >= 0.0)
                .sum();
            let time = e["time"].as_f64().expect("time");
            assert!(
                (sum - time).abs() < 0.01,
                "{file}: time {time} != sum {sum}"
            );
        }
    }
}

#[test]
fn sanitized_export_still_has_tokens_in_redirects_but_no_bearer() {
    let har = mock_tenant::fixtures::record(mock_tenant::scenario::Scenario::ForumThread, true)
        .expect("record");
    let text = har.to_string();
    // `www-authenticate: Bearer error=…` stays (Chrome keeps it); bearer credentials go.
    assert!(!text.contains("Bearer ey"));
    assert!(
        text.contains("#access_token="),
        "fragment tokens stay in Location/redirectURL"
    );
    let full = mock_tenant::fixtures::record(mock_tenant::scenario::Scenario::ForumThread, false)
        .expect("record");
    assert!(full.to_string().contains("Bearer ey"));
}
