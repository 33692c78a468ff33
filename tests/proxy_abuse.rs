//! Abuse and lifecycle tests for the proxy: 1,000 idle connections plus slowloris clients while a
//! normal client is still served; the header timeout closes slowloris; --max-connections;
//! graceful shutdown drains an in-flight request.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod proxy_support;

use std::time::{Duration, Instant};

use proxy_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_idle_plus_slowloris_and_a_normal_client_is_served() {
    let scratch = Scratch::new();
    let up = start_upstream(&scratch).await;
    let mut cfg = proxy_config(&scratch, &up);
    cfg.header_timeout = Duration::from_secs(2);
    let proxy = start_proxy(cfg).await;
    let ca = scratch.path("ca").join("authtap-ca.pem");

    let mut idle = Vec::with_capacity(1000);
    for _ in 0..1000 {
        idle.push(TcpStream::connect(proxy.addr).await.unwrap());
    }
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        s.write_all(b"GET http://tenant.auth0.com/ HTTP/1.1\r\nX-a: ")
            .await
            .unwrap();
        slow.push(s);
    }
    // Drip one byte per slowloris connection every 300 ms in the background.
    let dripper = tokio::spawn(async move {
        let mut closed = 0usize;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(6) {
            closed = 0;
            for s in slow.iter_mut() {
                if s.write_all(b"a").await.is_err() {
                    closed += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // After the header timeout every slowloris connection must have been cut.
        let mut eof = 0usize;
        for s in slow.iter_mut() {
            let mut b = [0u8; 64];
            match tokio::time::timeout(Duration::from_secs(1), s.read(&mut b)).await {
                Ok(Ok(0)) | Ok(Err(_)) => eof += 1,
                Ok(Ok(_)) => {
                    // A 408 answer followed by close also counts.
                    eof += 1;
                }
                Err(_) => {}
            }
        }
        (closed, eof)
    });

    // A normal client is served promptly despite all of that.
    let t = Instant::now();
    let mut a = via_proxy(&proxy, &ca, TENANT, up.addr.port(), "/normal");
    a.push(s("--http1.1"));
    let via = curl(a).await;
    assert_eq!(via.status, 0, "{}", via.stderr);
    assert!(String::from_utf8_lossy(&via.stdout).contains("path=/normal"));
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "normal client took {:?}",
        t.elapsed()
    );

    let (_closed, eof) = dripper.await.unwrap();
    assert_eq!(
        eof, 50,
        "every slowloris connection is closed by the header timeout"
    );
    let m = proxy.metrics_addr.unwrap();
    let metrics = curl(vec![format!("http://{m}/metrics")]).await;
    let text = String::from_utf8_lossy(&metrics.stdout);
    assert!(
        text.contains("authtap_proxy_connections_refused_total 0"),
        "{text}"
    );
    // Idle connections that never sent a byte were reclaimed by the same timeout.
    for c in idle.iter_mut().take(20) {
        let mut b = [0u8; 64];
        let r = tokio::time::timeout(Duration::from_secs(1), c.read(&mut b)).await;
        assert!(
            matches!(r, Ok(Ok(_)) | Ok(Err(_))),
            "idle connection still open: {r:?}"
        );
    }
    let metrics = curl(vec![format!("http://{m}/metrics")]).await;
    let text = String::from_utf8_lossy(&metrics.stdout);
    let active: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("authtap_proxy_connections_active "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    assert!(
        active < 10,
        "connections still held after the header timeout: {active}"
    );
    drop(idle);
    proxy.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_refuses_extra_clients_and_counts_them() {
    let scratch = Scratch::new();
    let up = start_upstream(&scratch).await;
    let mut cfg = proxy_config(&scratch, &up);
    cfg.max_connections = 5;
    let proxy = start_proxy(cfg).await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(TcpStream::connect(proxy.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(proxy.addr).await.unwrap();
    let _ = extra
        .write_all(b"GET http://tenant.auth0.com/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut b = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_secs(3), extra.read(&mut b)).await;
    assert!(
        matches!(r, Ok(Ok(0)) | Ok(Err(_))),
        "extra connection must be closed: {r:?}"
    );
    let m = proxy.metrics_addr.unwrap();
    let metrics = curl(vec![format!("http://{m}/metrics")]).await;
    let text = String::from_utf8_lossy(&metrics.stdout);
    assert!(
        text.contains("authtap_proxy_connections_refused_total 1"),
        "{text}"
    );
    // Freeing a slot lets a new client in.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ca = scratch.path("ca").join("authtap-ca.pem");
    let via = curl(via_proxy(&proxy, &ca, TENANT, up.addr.port(), "/after")).await;
    assert_eq!(via.status, 0, "{}", via.stderr);
    drop(held);
    proxy.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_drains_in_flight_requests() {
    let scratch = Scratch::new();
    let up = start_upstream(&scratch).await;
    let proxy = start_proxy(proxy_config(&scratch, &up)).await;
    let addr = proxy.addr;
    let ca = scratch.path("ca").join("authtap-ca.pem");
    let mut a = via_proxy(&proxy, &ca, TENANT, up.addr.port(), "/slow");
    a.push(s("--http1.1"));
    let in_flight = tokio::spawn(curl(a));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    let summary = proxy.shutdown().await.unwrap();
    let done = in_flight.await.unwrap();
    assert_eq!(done.status, 0, "{}", done.stderr);
    assert_eq!(done.stdout, b"slow done");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(
        summary.exchanges, 1,
        "the drained exchange was still analysed"
    );
    // The listener is closed.
    assert!(TcpStream::connect(addr).await.is_err());
    let events = read_events(&scratch.path("events.jsonl"));
    assert_eq!(events.iter().filter(|e| e["type"] == "exchange").count(), 1);
}
