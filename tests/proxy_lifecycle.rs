//! Proxy bookkeeping tests: CONNECT tunnels (blind and intercepted) count in
//! `authtap_proxy_connections_active` while they are open; `--metrics-listen off` runs without a
//! metrics listener and still analyses; `--events`/`--har-out` files are created 0600 on Unix.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod proxy_support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use authtap::source::proxy::{parse_metrics_listen, ProxyHandle};
use proxy_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Open a CONNECT tunnel to `host` and read the proxy's 200.
async fn connect_tunnel(proxy: &ProxyHandle, host: &str, port: u16) -> TcpStream {
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let req = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut buf = [0u8; 256];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    tcp
}

fn active(proxy: &ProxyHandle) -> u64 {
    proxy.stats.connections_active.load(Ordering::Relaxed)
}

/// Wait (up to 5 s) until the active-connection gauge equals `want`; returns the last value.
async fn wait_active(proxy: &ProxyHandle, want: u64) -> u64 {
    for _ in 0..250 {
        if active(proxy) == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    active(proxy)
}

async fn scrape(proxy: &ProxyHandle) -> String {
    let m = proxy.metrics_addr.unwrap();
    let out = curl(vec![format!("http://{m}/metrics")]).await;
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnels_count_as_active_connections_while_open() {
    let scratch = Scratch::new();
    let up = start_upstream(&scratch).await;
    let proxy = start_proxy(proxy_config(&scratch, &up)).await;
    let port = up.addr.port();

    // A blind tunnel, kept open and idle.
    let blind = connect_tunnel(&proxy, OTHER, port).await;
    // An intercepted tunnel with a finished TLS handshake (served by its own task).
    let tcp = connect_tunnel(&proxy, TENANT, port).await;
    let cfg = client_config(&scratch.path("ca").join("authtap-ca.pem"), &[]);
    let intercepted = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(TENANT.try_into().unwrap(), tcp)
        .await
        .unwrap();

    // Give the proxy time to finish the upgrades; both tunnels must still count.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        active(&proxy),
        2,
        "both open tunnels are active connections"
    );
    let text = scrape(&proxy).await;
    assert!(
        text.contains("\nauthtap_proxy_connections_active 2\n"),
        "{text}"
    );

    drop(blind);
    assert_eq!(wait_active(&proxy, 1).await, 1, "the blind tunnel closed");
    drop(intercepted);
    assert_eq!(
        wait_active(&proxy, 0).await,
        0,
        "the intercepted tunnel closed"
    );
    proxy.shutdown().await.unwrap();
}

#[test]
fn metrics_listen_accepts_off() {
    assert_eq!(parse_metrics_listen("off").unwrap(), None);
    assert_eq!(parse_metrics_listen("OFF").unwrap(), None);
    assert_eq!(
        parse_metrics_listen("127.0.0.1:9464").unwrap(),
        Some("127.0.0.1:9464".parse().unwrap())
    );
    assert!(parse_metrics_listen("nowhere").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_off_has_no_listener_and_still_analyses() {
    let scratch = Scratch::new();
    let up = start_upstream(&scratch).await;
    let mut cfg = proxy_config(&scratch, &up);
    cfg.metrics_listen = None;
    let proxy = start_proxy(cfg).await;
    assert!(proxy.metrics_addr.is_none());
    let ca = scratch.path("ca").join("authtap-ca.pem");
    let via = curl(via_proxy(&proxy, &ca, TENANT, up.addr.port(), "/userinfo")).await;
    assert_eq!(via.status, 0, "{}", via.stderr);
    let summary = proxy.shutdown().await.unwrap();
    assert_eq!(summary.exchanges, 1, "analysis runs without metrics");
    let events = std::fs::read_to_string(scratch.path("events.jsonl")).unwrap();
    assert!(events.contains("\"type\":\"exchange\""), "{events}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_har_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new();
    let up = start_upstream(&scratch).await;
    let mut cfg = proxy_config(&scratch, &up);
    cfg.har_out = Some(scratch.path("out.har"));
    // A pre-existing, world-readable events file is tightened too.
    std::fs::write(scratch.path("events.jsonl"), b"old").unwrap();
    std::fs::set_permissions(
        scratch.path("events.jsonl"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let proxy = start_proxy(cfg).await;
    proxy.shutdown().await.unwrap();
    for name in ["events.jsonl", "out.har"] {
        let mode = std::fs::metadata(scratch.path(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name} has mode {:o}", mode & 0o777);
    }
}

#[cfg(target_os = "linux")]
#[test]
fn proxy_opts_out_of_transparent_huge_pages() {
    assert!(authtap::source::proxy::disable_huge_pages());
    assert_eq!(
        rustix::thread::transparent_huge_pages_are_disabled().ok(),
        Some(true)
    );
}

/// `authtap proxy` as users run it: for the default one-thread runtime and for `--workers 2`, it
/// starts, prints its address, forwards through a blind tunnel, and exits 0 on SIGTERM.
/// `--workers 0` is refused by the argument parser (exit 2).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn binary_runs_with_one_or_several_workers_and_stops_on_sigterm() {
    use std::process::Stdio;
    use tokio::io::AsyncBufReadExt;

    let bin = env!("CARGO_BIN_EXE_authtap");
    let refused = std::process::Command::new(bin)
        .args(["proxy", "--workers", "0"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");

    // A plain TCP echo-less target for the tunnel: it accepts and answers one line.
    let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target_port = target.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = target.accept().await {
            let _ = s.write_all(b"hello from target\n").await;
        }
    });

    for workers in ["1", "2"] {
        let scratch = Scratch::new();
        let mut child = tokio::process::Command::new(bin)
            .args([
                "proxy",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "off",
            ])
            .args(["--workers", workers, "--ca-dir"])
            .arg(scratch.path("ca"))
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
                .await
                .expect("proxy prints its address")
                .unwrap()
                .expect("proxy exited early");
            if let Some(rest) = line.strip_prefix("authtap proxy listening on http://") {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        let mut s = TcpStream::connect(&addr).await.unwrap();
        let req = format!(
            "CONNECT 127.0.0.1:{target_port} HTTP/1.1\r\nHost: 127.0.0.1:{target_port}\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&got).contains("hello from target") {
            let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
                .await
                .expect("tunnel answers")
                .unwrap();
            assert!(
                n > 0,
                "tunnel closed early: {}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
        assert!(
            String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"),
            "{got:?}"
        );
        drop(s);
        let pid = rustix::process::Pid::from_raw(child.id().unwrap() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
            .await
            .expect("proxy stops after SIGTERM")
            .unwrap();
        assert_eq!(status.code(), Some(0), "--workers {workers}");
    }
}
