//! The exposition as a scraper sees it: exact lines (STYLE habit 8), `promtool check metrics`,
//! and the HTTP server's content negotiation over a real loopback socket.

mod metrics_support;

use std::io::{Read, Write};
use std::sync::Arc;

use authtap::sink::prometheus::{server, Metrics};
use metrics_support::{observe_story, which};

#[test]
fn story_exposition_lines() {
    let m = Metrics::new();
    observe_story(&m);
    let text = m.render(false);
    let lines: Vec<&str> = text.lines().collect();
    for want in [
        r#"authtap_findings_total{rule="insufficient-scope",severity="error"} 1"#,
        r#"authtap_findings_total{rule="sensitive-claim",severity="error"} 0"#,
        r#"authtap_auth_failures_total{api="management",endpoint="/api/v2/users/{id}",reason="insufficient_scope",status="403"} 1"#,
        r#"authtap_auth_failures_total{api="management",endpoint="/api/v2/users/{id}",reason="invalid_token",status="401"} 1"#,
        r#"authtap_auth_failures_total{api="authentication",endpoint="/oauth/token",reason="access_denied",status="403"} 1"#,
        r#"authtap_scope_mismatches_total{kind="not_granted",scope="update:users"} 1"#,
        r#"authtap_scope_mismatches_total{kind="insufficient",scope="update:users_app_metadata"} 1"#,
        r#"authtap_tokens_observed_total{format="jwt",grant="implicit",token="id"} 1"#,
        r#"authtap_http_exchanges_total{api="management",endpoint="/api/v2/users/{id}",method="PATCH",status_class="4xx"} 1"#,
        r#"authtap_ratelimit_remaining{api="authentication"} 50"#,
        r#"authtap_token_lifetime_seconds_bucket{le="+Inf"} 2"#,
        "# TYPE authtap_token_lifetime_seconds histogram",
        "authtap_capture_bytes_total 64000",
    ] {
        assert!(lines.contains(&want), "missing `{want}` in:\n{text}");
    }
    // No secret or raw identifier leaks into labels.
    assert!(!text.contains("auth0|42") && !text.contains("auth0%7C42"));
    assert!(!text.contains("eyJ"));
    assert!(!text.contains("state-xyz"));
}

#[test]
fn promtool_check_metrics_accepts_exposition() {
    let Some(promtool) = which("promtool") else {
        println!("skipped: promtool not on PATH (apt-get install prometheus)");
        return;
    };
    let m = Metrics::new();
    observe_story(&m);
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running promtool: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(m.render(false).as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One HTTP/1.1 request over a fresh connection; returns (status line + headers, body).
fn get(addr: std::net::SocketAddr, path: &str, accept: Option<&str>) -> (String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect: {e}"));
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{accept}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap_or_else(|e| panic!("{e}"));
    let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
    (head.to_string(), body.to_string())
}

#[test]
fn server_negotiates_text_and_openmetrics() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let metrics = Arc::new(Metrics::new());
    observe_story(&metrics);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = rt.spawn(server::serve(listener, metrics.clone(), async {
        let _ = stopped.await;
    }));

    let (head, body) = get(addr, "/metrics", None);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head
        .to_ascii_lowercase()
        .contains("content-type: text/plain; version=0.0.4"));
    assert!(body
        .lines()
        .any(|l| l == r#"authtap_findings_total{rule="insufficient-scope",severity="error"} 1"#));
    assert!(!body.contains("# EOF"));

    let prom_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (head, body) = get(addr, "/metrics", Some(prom_accept));
    assert!(head
        .to_ascii_lowercase()
        .contains("content-type: application/openmetrics-text; version=1.0.0"));
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert!(body
        .lines()
        .any(|l| l == r#"authtap_findings_total{rule="insufficient-scope",severity="error"} 1"#));
    assert!(body.lines().any(|l| l == "# TYPE authtap_findings counter"));

    let (head, body) = get(addr, "/healthz", None);
    assert!(head.starts_with("HTTP/1.1 200"));
    assert_eq!(body, "ok\n");
    let (head, _) = get(addr, "/secret", None);
    assert!(head.starts_with("HTTP/1.1 404"));

    let _ = stop.send(());
    let res = rt
        .block_on(task)
        .unwrap_or_else(|e| panic!("server task: {e}"));
    assert!(res.is_ok());
}
