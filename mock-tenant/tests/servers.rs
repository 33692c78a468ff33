//! The served tenant answers real clients: curl over TLS (h2 and http/1.1, verifying the
//! generated CA) and over plain HTTP; a whole scenario runs through the curl driver.

#![allow(clippy::print_stderr)] // skip notices when curl is missing

use std::process::Command;
use std::sync::Arc;

use mock_tenant::clock::Clock;
use mock_tenant::curl::{CurlDriver, HttpVersion};
use mock_tenant::scenario::{fixture_tenant, Env, Profile, Scenario};
use mock_tenant::server::{spawn, ServeOptions};
use mock_tenant::tls::TlsVersions;

const DOMAIN: &str = "dev-forum.us.auth0.com";

fn curl_available() -> bool {
    Command::new("curl")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn tenant() -> Arc<mock_tenant::Tenant> {
    Arc::new(fixture_tenant(
        &Env::new(DOMAIN),
        Profile::Forum,
        Clock::System,
    ))
}

/// Runs curl with `-w` to print the negotiated HTTP version and status.
fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(args)
        .output()
        .expect("spawn curl");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, meta) = stdout.rsplit_once("\n@@").unwrap_or((stdout.as_str(), ""));
    (body.to_string(), meta.to_string())
}

#[test]
fn tls_server_answers_curl_over_h2_and_http1() {
    if !curl_available() {
        eprintln!("skipping: curl not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(
        tenant(),
        ServeOptions {
            tls: true,
            ca_out: Some(dir.path().to_path_buf()),
            ..ServeOptions::default()
        },
    )
    .expect("serve");
    let port = server.port().to_string();
    let resolve = format!("{DOMAIN}:{port}:127.0.0.1");
    let ca = dir.path().join("ca.pem");
    let ca = ca.to_str().expect("utf8 path");
    let url = format!("https://{DOMAIN}:{port}/.well-known/openid-configuration");
    for (flag, want) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let (body, meta) = curl(&[
            "-sS",
            flag,
            "--resolve",
            &resolve,
            "--cacert",
            ca,
            "-w",
            "\n@@%{http_version} %{http_code}",
            &url,
        ]);
        assert_eq!(meta, format!("{want} 200"), "{flag}");
        let doc: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(doc["issuer"], format!("https://{DOMAIN}/"));
    }
    // The ID-token / opaque-token facts hold over the wire too.
    let api = format!("https://{DOMAIN}:{port}/api/v2/users/x");
    let (body, meta) = curl(&[
        "-sS",
        "--http2",
        "--resolve",
        &resolve,
        "--cacert",
        ca,
        "-H",
        "Authorization: Bearer 0123456789abcdef0123456789abcdef",
        "-w",
        "\n@@%{http_version} %{http_code}",
        &api,
    ]);
    assert_eq!(meta, "2 400");
    assert_eq!(
        body,
        r#"{"statusCode":400,"error":"Bad Request","message":"Bad HTTP authentication header format","errorCode":"Bearer"}"#
    );
    server.stop();
}

#[test]
fn tls12_only_server_negotiates_tls12() {
    if !curl_available() {
        eprintln!("skipping: curl not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(
        tenant(),
        ServeOptions {
            tls: true,
            tls_versions: TlsVersions::Tls12Only,
            ca_out: Some(dir.path().to_path_buf()),
            ..ServeOptions::default()
        },
    )
    .expect("serve");
    let port = server.port().to_string();
    let out = Command::new("curl")
        .args([
            "-sS",
            "-v",
            "--http2",
            "--resolve",
            &format!("{DOMAIN}:{port}:127.0.0.1"),
            "--cacert",
        ])
        .arg(dir.path().join("ca.pem"))
        .arg(format!("https://{DOMAIN}:{port}/.well-known/jwks.json"))
        .output()
        .expect("curl");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("TLSv1.2"), "{err}");
}

#[test]
fn plain_server_runs_the_m2m_scenario_through_curl() {
    if !curl_available() {
        eprintln!("skipping: curl not installed");
        return;
    }
    let server = spawn(tenant(), ServeOptions::default()).expect("serve");
    let env = Env::new(DOMAIN);
    let mut d = CurlDriver::new(DOMAIN, server.port(), false, None, HttpVersion::Http1);
    // The scenario checks every status itself: 403, 429 and the real-time 401 expiry.
    Scenario::M2m.run(&env, &mut d).expect("m2m over curl");
    server.stop();
}

#[test]
fn tls_server_runs_the_forum_thread_over_h2() {
    if !curl_available() {
        eprintln!("skipping: curl not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = spawn(
        tenant(),
        ServeOptions {
            tls: true,
            ca_out: Some(dir.path().to_path_buf()),
            ..ServeOptions::default()
        },
    )
    .expect("serve");
    let env = Env::new(DOMAIN);
    let mut d = CurlDriver::new(
        DOMAIN,
        server.port(),
        true,
        Some(dir.path().join("ca.pem")),
        HttpVersion::Http2,
    );
    d.max_wait_ms = 10;
    Scenario::ForumThread
        .run(&env, &mut d)
        .expect("forum-thread over curl h2");
    server.stop();
}

#[test]
fn serve_binary_prints_port_writes_ca_and_logs_tls_keys() {
    use std::io::BufRead;
    if !curl_available() {
        eprintln!("skipping: curl not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("server.keys");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mock-tenant"))
        .args(["serve", "--tls", "--port", "0", "--ca-out"])
        .arg(dir.path())
        .env("SSLKEYLOGFILE", &keys)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn mock-tenant serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    let port: u16 = line
        .trim()
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert_ne!(port, 0);
    let out = Command::new("curl")
        .args([
            "-sS",
            "--http2",
            "--resolve",
            &format!("{DOMAIN}:{port}:127.0.0.1"),
            "--cacert",
        ])
        .arg(dir.path().join("ca.pem"))
        .arg(format!("https://{DOMAIN}:{port}/.well-known/jwks.json"))
        .output()
        .expect("curl");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(&keys).expect("key log written");
    assert!(
        log.lines()
            .any(|l| l.starts_with("CLIENT_TRAFFIC_SECRET_0 ")),
        "{log}"
    );
    assert!(log
        .lines()
        .any(|l| l.starts_with("SERVER_HANDSHAKE_TRAFFIC_SECRET ")));
}
