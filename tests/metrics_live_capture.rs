//! `authtap capture` end to end on the loopback interface (feature `live`, needs root or
//! CAP_NET_RAW; skips with a printed reason otherwise): curl talks to a local HTTP server while
//! capture runs in-process; the exchanges must reach the events stream (redacted) and /metrics.
#![cfg(feature = "live")]

mod metrics_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authtap::cli::CaptureArgs;
use authtap::cmd::capture::{run_until, Ready};
use metrics_support::which;

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A tiny Management-API look-alike: every request gets Auth0's 403 insufficient-scope body.
fn serve_forbidden(listener: TcpListener) {
    for stream in listener.incoming() {
        let Ok(mut s) = stream else { continue };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        // Drain a small body (curl sends it right after the headers).
        std::thread::sleep(Duration::from_millis(20));
        let body = r#"{"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: update:users,update:users_app_metadata,update:current_user_metadata","errorCode":"insufficient_scope"}"#;
        let resp = format!(
            "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json; charset=utf-8\r\nx-ratelimit-limit: 10\r\nx-ratelimit-remaining: 4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = s.write_all(resp.as_bytes());
    }
}

fn get_metrics(addr: SocketAddr) -> String {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn sum_of(text: &str, family: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(family) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn capture_on_loopback_sees_curl_exchanges() {
    if !is_root() {
        println!("skipped: live capture needs root (or CAP_NET_RAW); run as root");
        return;
    }
    let Some(curl) = which("curl") else {
        println!("skipped: curl not on PATH");
        return;
    };
    let server = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = server
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    std::thread::spawn(move || serve_forbidden(server));

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let events_path = dir.path().join("events.jsonl");
    let args = CaptureArgs {
        interface: "lo".into(),
        keylog: None,
        bpf: format!("tcp port {port}"),
        tenant: vec![],
        metrics_listen: "127.0.0.1:0".into(),
        events: Some(events_path.display().to_string()),
        include_secrets: false,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Ready>();
    let runner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            run_until(&args, stop, move |r| {
                let _ = ready_tx.send(r.clone());
            })
        })
    };
    let ready = match ready_rx.recv_timeout(Duration::from_secs(20)) {
        Ok(r) => r,
        Err(_) => panic!(
            "capture did not start: {:?}",
            runner.join().map(|r| r.err().map(|e| format!("{e:#}")))
        ),
    };

    let token = "eyJhbGciOiJSUzI1NiJ9.eyJzY29wZSI6InJlYWQ6dXNlcnMifQ.c2ln";
    for _ in 0..3 {
        let status = std::process::Command::new(&curl)
            .args(["-s", "-o", "/dev/null", "-X", "PATCH"])
            .arg("--resolve")
            .arg(format!("tenant.example.auth0.com:{port}:127.0.0.1"))
            .arg("-H")
            .arg(format!("Authorization: Bearer {token}"))
            .args([
                "-H",
                "Content-Type: application/json",
                "-d",
                r#"{"app_metadata":{"plan":"pro"}}"#,
            ])
            .arg(format!(
                "http://tenant.example.auth0.com:{port}/api/v2/users/auth0%7C123"
            ))
            .status()
            .unwrap_or_else(|e| panic!("curl: {e}"));
        assert!(status.success());
    }

    let deadline = Instant::now() + Duration::from_secs(15);
    let mut text = String::new();
    while Instant::now() < deadline {
        text = get_metrics(ready.metrics_addr);
        if sum_of(&text, "authtap_http_exchanges_total") >= 3.0
            && sum_of(&text, "authtap_capture_packets_total") > 0.0
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    let summary = runner
        .join()
        .unwrap_or_else(|_| panic!("capture thread panicked"))
        .unwrap_or_else(|e| panic!("capture failed: {e:#}"));

    assert!(
        sum_of(&text, "authtap_http_exchanges_total") >= 3.0,
        "exchanges not in /metrics:\n{text}"
    );
    assert!(sum_of(&text, "authtap_capture_packets_total") > 0.0);
    assert!(summary.exchanges >= 3, "{summary:?}");
    assert!(summary.packets >= 3 * 6, "{summary:?}");
    let events = std::fs::read_to_string(&events_path).unwrap_or_default();
    let exchanges: Vec<serde_json::Value> = events
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["type"] == "exchange")
        .collect();
    assert!(exchanges.len() >= 3, "events:\n{events}");
    assert!(exchanges
        .iter()
        .all(|e| e["method"] == "PATCH" && e["status"] == 403));
    assert!(!events.contains(token), "token leaked into events");
}

/// The issue's scenario: `authtap capture -i lo --keylog FILE` watches curl run the forum thread
/// over HTTP/2 + TLS against the mock tenant (curl writes SSLKEYLOGFILE while capture tails it);
/// the decrypted exchanges must yield the forum thread's findings in /metrics.
#[test]
fn capture_decrypts_curl_h2_forum_thread_with_live_keylog() {
    use mock_tenant::clock::Clock;
    use mock_tenant::curl::{CurlDriver, HttpVersion};
    use mock_tenant::scenario::{fixture_tenant, Env, Profile, Scenario};
    use mock_tenant::server::{spawn, ServeOptions};

    const DOMAIN: &str = "dev-forum.us.auth0.com";
    if !is_root() {
        println!("skipped: live capture needs root (or CAP_NET_RAW); run as root");
        return;
    }
    if which("curl").is_none() {
        println!("skipped: curl not on PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let keylog = dir.path().join("sslkeys.log");
    // Junk first: the start of an over-long line, read by capture's first poll; its end (which
    // must not be parsed as a line of its own) and a line with the wrong field count are
    // appended once capture runs. Both bad lines are counted; curl's secrets after them work.
    std::fs::write(&keylog, vec![b'A'; 6000]).unwrap_or_else(|e| panic!("{e}"));
    // curl (the client) appends its TLS secrets here; capture tails the file while it grows.
    std::env::set_var("SSLKEYLOGFILE", &keylog);
    let tenant = std::sync::Arc::new(fixture_tenant(
        &Env::new(DOMAIN),
        Profile::Forum,
        Clock::System,
    ));
    let server = spawn(
        tenant,
        ServeOptions {
            tls: true,
            ca_out: Some(dir.path().to_path_buf()),
            ..ServeOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("mock tenant: {e}"));
    let port = server.port();

    let args = CaptureArgs {
        interface: "lo".into(),
        keylog: Some(keylog.clone()),
        bpf: format!("tcp port {port}"),
        tenant: vec![],
        metrics_listen: "127.0.0.1:0".into(),
        events: Some(dir.path().join("events.jsonl").display().to_string()),
        include_secrets: false,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Ready>();
    let runner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            run_until(&args, stop, move |r| {
                let _ = ready_tx.send(r.clone());
            })
        })
    };
    let ready = match ready_rx.recv_timeout(Duration::from_secs(20)) {
        Ok(r) => r,
        Err(_) => panic!(
            "capture did not start: {:?}",
            runner.join().map(|r| r.err().map(|e| format!("{e:#}")))
        ),
    };

    std::thread::sleep(Duration::from_millis(300));
    {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&keylog)
            .unwrap_or_else(|e| panic!("{e}"));
        f.write_all(b" CLIENT_RANDOM 00 11\nNOT A KEY LOG LINE\n")
            .unwrap_or_else(|e| panic!("{e}"));
    }

    let mut driver = CurlDriver::new(
        DOMAIN,
        port,
        true,
        Some(dir.path().join("ca.pem")),
        HttpVersion::Http2,
    );
    driver.max_wait_ms = 10;
    Scenario::ForumThread
        .run(&Env::new(DOMAIN), &mut driver)
        .unwrap_or_else(|e| panic!("forum thread over curl: {e}"));

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut text = String::new();
    let want = r#"authtap_findings_total{rule="insufficient-scope",severity="error"}"#;
    while Instant::now() < deadline {
        text = get_metrics(ready.metrics_addr);
        if sum_of(&text, want) >= 1.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    stop.store(true, Ordering::Relaxed);
    let summary = runner
        .join()
        .unwrap_or_else(|_| panic!("capture thread panicked"))
        .unwrap_or_else(|e| panic!("capture failed: {e:#}"));
    server.stop();
    // After shutdown every pipeline counter has been synced into the registry.
    let polled = text;
    let text = ready.metrics.render(false);

    assert!(
        sum_of(&polled, want) >= 1.0,
        "finding not served on /metrics while running"
    );
    // Every request of the scenario: sessions whose keys were read after they closed are still
    // decrypted, and frames captured before the stop are still read.
    assert_eq!(summary.exchanges, 10, "{summary:?}\n{text}");
    assert_eq!(
        sum_of(&text, r#"authtap_tls_sessions_total{decrypted="false"}"#),
        0.0,
        "{text}"
    );
    assert!(
        sum_of(&text, r#"authtap_tls_sessions_total{decrypted="true"}"#) >= 1.0,
        "no decrypted TLS session:\n{text}"
    );
    assert!(
        sum_of(&text, want) >= 1.0,
        "no insufficient-scope finding:\n{text}"
    );
    assert!(
        sum_of(
            &text,
            r#"authtap_scope_mismatches_total{kind="insufficient",scope="update:users"}"#
        ) >= 1.0,
        "{text}"
    );
    // Exactly the two junk lines: the over-long one once, not its tail as another line.
    assert_eq!(
        sum_of(
            &text,
            r#"authtap_dropped_total{reason="malformed",stage="tls"}"#
        ),
        2.0,
        "{text}"
    );
    assert_eq!(summary.analysis_dropped, 0, "{summary:?}");
}

#[test]
fn a_capture_given_as_the_key_log_is_refused_before_capture_starts() {
    // Needs no root: the key log is checked before the interface is opened.
    let args = CaptureArgs {
        interface: "lo".into(),
        keylog: Some(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/forum-thread.pcap"),
        ),
        bpf: "tcp port 9".into(),
        tenant: vec![],
        metrics_listen: "127.0.0.1:0".into(),
        events: None,
        include_secrets: false,
    };
    let err = match run_until(&args, Arc::new(AtomicBool::new(true)), |_| {}) {
        Err(e) => format!("{e:#}"),
        Ok(_) => panic!("a pcap was accepted as a key log"),
    };
    assert!(
        err.starts_with("--keylog: ") && err.contains("this is a pcap capture, not a TLS key log"),
        "{err}"
    );
}
