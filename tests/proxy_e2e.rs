//! End-to-end proxy tests: real curl clients, the real proxy on 127.0.0.1:0 with a minted CA,
//! and a local rustls upstream (HTTP/1.1 + HTTP/2). Byte-identical responses, blind tunnels
//! keep the upstream certificate, 502/431 answers, events without raw secrets.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod proxy_support;

use std::sync::Arc;
use std::time::Duration;

use proxy_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_h1_and_h2_get_byte_identical_responses() {
    let scratch = Scratch::new();
    let up = start_upstream(&scratch).await;
    let proxy = start_proxy(proxy_config(&scratch, &up)).await;
    let ca = scratch.path("ca").join("authtap-ca.pem");
    let post = scratch.path("post.bin");
    std::fs::write(&post, pattern(200_000)).unwrap();
    for version in ["--http1.1", "--http2"] {
        for (path, extra) in [
            ("/echo?x=1", vec![]),
            ("/big?n=500000", vec![]),
            ("/gzip", vec![]),
            ("/status404", vec![]),
            (
                "/upload",
                vec![s("--data-binary"), format!("@{}", post.display())],
            ),
        ] {
            let mut a = via_proxy(&proxy, &ca, TENANT, up.addr.port(), path);
            a.push(s(version));
            a.extend(extra.clone());
            let mut d = direct(&up, TENANT, path);
            d.push(s(version));
            d.extend(extra);
            let (via, dir) = (curl(a).await, curl(d).await);
            assert_eq!(
                via.status, 0,
                "{version} {path}: curl via proxy failed: {}",
                via.stderr
            );
            assert_eq!(
                dir.status, 0,
                "{version} {path}: direct curl failed: {}",
                dir.stderr
            );
            assert_eq!(via.stdout, dir.stdout, "{version} {path}: body differs");
            assert_eq!(
                stable_headers(&via.headers),
                stable_headers(&dir.headers),
                "{version} {path}: status/headers differ"
            );
        }
    }
    // The upload really went through (the upstream saw all 200,000 bytes).
    let mut a = via_proxy(&proxy, &ca, TENANT, up.addr.port(), "/upload");
    a.extend([s("--data-binary"), format!("@{}", post.display())]);
    let via = curl(a).await;
    assert!(String::from_utf8_lossy(&via.stdout).contains("body_len=200000"));
    let summary = proxy.shutdown().await.unwrap();
    assert_eq!(summary.exchanges, 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_intercepted_host_keeps_its_own_certificate() {
    let scratch = Scratch::new();
    let up = start_upstream(&scratch).await;
    let proxy = start_proxy(proxy_config(&scratch, &up)).await;
    // curl trusting only the upstream CA succeeds: the tunnel is blind.
    let mut a = via_proxy(&proxy, &up.ca_pem_path, OTHER, up.addr.port(), "/blind");
    a.push(s("--http1.1"));
    let via = curl(a).await;
    assert_eq!(via.status, 0, "{}", via.stderr);
    assert!(String::from_utf8_lossy(&via.stdout).contains("path=/blind"));

    // And the certificate presented through the tunnel is the upstream's own leaf, byte for byte.
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let req = format!(
        "CONNECT {OTHER}:{p} HTTP/1.1\r\nHost: {OTHER}:{p}\r\n\r\n",
        p = up.addr.port()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut buf = [0u8; 256];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let cfg = client_config(&up.ca_pem_path, &[]);
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(OTHER.try_into().unwrap(), tcp)
        .await
        .unwrap();
    let peer = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    assert_eq!(peer, up.leaf_der);

    // The intercepted host, by contrast, presents a leaf minted by the authtap CA.
    let mut a = via_proxy(&proxy, &up.ca_pem_path, TENANT, up.addr.port(), "/x");
    a.push(s("--http1.1"));
    let rejected = curl(a).await;
    assert_ne!(
        rejected.status, 0,
        "intercepted host must not present the upstream cert"
    );
    let summary = proxy.shutdown().await.unwrap();
    assert_eq!(summary.exchanges, 0, "blind tunnels are never analysed");
    assert_eq!(summary.notices, 1, "the rejected handshake is reported");
    let events = read_events(&scratch.path("events.jsonl"));
    assert!(events.iter().any(|e| e["type"] == "notice"
        && e["kind"] == "client-rejected-certificate"
        && e["host"] == TENANT));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_or_untrusted_upstream_gives_502_with_reason() {
    let scratch = Scratch::new();
    let up = start_upstream(&scratch).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut cfg = proxy_config(&scratch, &up);
    cfg.resolve
        .insert((TENANT.to_string(), closed.port()), closed);
    cfg.resolve
        .insert((OTHER.to_string(), closed.port()), closed);
    let proxy = start_proxy(cfg).await;
    let ca = scratch.path("ca").join("authtap-ca.pem");
    let via = curl(via_proxy(&proxy, &ca, TENANT, closed.port(), "/x")).await;
    assert_eq!(via.status, 0, "{}", via.stderr);
    assert!(via.headers.contains(" 502"), "{}", via.headers);
    let body = String::from_utf8_lossy(&via.stdout);
    assert!(
        body.contains("upstream unreachable") && body.contains("refused"),
        "{body}"
    );
    // Blind tunnel to a closed port: the CONNECT itself is answered 502.
    let blind = curl(via_proxy(&proxy, &ca, OTHER, closed.port(), "/x")).await;
    assert_ne!(blind.status, 0);
    assert!(blind.headers.contains(" 502"), "{}", blind.headers);
    proxy.shutdown().await.unwrap();

    // Upstream certificate not trusted (no --upstream-ca): 502 naming the fix, never a bypass.
    let scratch2 = Scratch::new();
    let mut cfg = proxy_config(&scratch2, &up);
    cfg.upstream_ca.clear();
    let proxy = start_proxy(cfg).await;
    let ca = scratch2.path("ca").join("authtap-ca.pem");
    let via = curl(via_proxy(&proxy, &ca, TENANT, up.addr.port(), "/x")).await;
    assert!(via.headers.contains(" 502"), "{}", via.headers);
    let body = String::from_utf8_lossy(&via.stdout);
    assert!(
        body.contains("--upstream-ca") && body.contains("TLS handshake"),
        "{body}"
    );
    assert!(!body.contains("path=/x"));
    proxy.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_get_431() {
    let scratch = Scratch::new();
    let up = start_upstream(&scratch).await;
    let mut cfg = proxy_config(&scratch, &up);
    cfg.max_header_bytes = 16 * 1024;
    let proxy = start_proxy(cfg).await;
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let big = "a".repeat(64 * 1024);
    let req = format!(
        "GET http://{TENANT}:{}/ HTTP/1.1\r\nHost: {TENANT}\r\nX-Big: {big}\r\n\r\n",
        up.addr.port()
    );
    // The proxy may answer and close before reading it all; a write error is fine.
    let _ = tcp.write_all(req.as_bytes()).await;
    let mut resp = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut resp)).await;
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");

    // Same inside an intercepted TLS tunnel. Write and read concurrently: the proxy answers
    // 431 before it has read the whole head.
    let ca = scratch.path("ca").join("authtap-ca.pem");
    let tls = tls_via_proxy(proxy.addr, TENANT, up.addr.port(), &ca).await;
    let (mut rd, mut wr) = tokio::io::split(tls);
    let req = format!("GET / HTTP/1.1\r\nHost: {TENANT}\r\nX-Big: {big}\r\n\r\n");
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(req.as_bytes()).await;
        wr
    });
    let mut resp = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), rd.read_to_end(&mut resp)).await;
    let _ = writer.await;
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    proxy.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_absolute_form_and_non_proxy_requests() {
    let scratch = Scratch::new();
    let up = start_upstream(&scratch).await;
    let proxy = start_proxy(proxy_config(&scratch, &up)).await;
    // Origin-form request to the proxy itself: 400 with an explanation.
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    tcp.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut resp = Vec::new();
    tcp.read_to_end(&mut resp).await.unwrap();
    let text = String::from_utf8_lossy(&resp);
    assert!(
        text.starts_with("HTTP/1.1 400") && text.contains("forward proxy"),
        "{text}"
    );
    // /healthz and /metrics on the metrics port.
    let m = proxy.metrics_addr.unwrap();
    let health = curl(vec![format!("http://{m}/healthz")]).await;
    assert_eq!(health.stdout, b"ok\n");
    let metrics = curl(vec![format!("http://{m}/metrics")]).await;
    let text = String::from_utf8_lossy(&metrics.stdout);
    assert!(text.contains("authtap_proxy_connections_total 1"), "{text}");
    assert!(text.contains("# TYPE authtap_findings_total counter"));
    proxy.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_and_har_have_exchanges_and_no_raw_secrets() {
    let scratch = Scratch::new();
    let up = start_upstream(&scratch).await;
    let mut cfg = proxy_config(&scratch, &up);
    cfg.har_out = Some(scratch.path("out.har"));
    let proxy = start_proxy(cfg).await;
    // The HAR is a valid (empty) document from the start.
    let har: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(scratch.path("out.har")).unwrap()).unwrap();
    assert_eq!(har["log"]["entries"].as_array().unwrap().len(), 0);
    let ca = scratch.path("ca").join("authtap-ca.pem");
    let mut a = via_proxy(&proxy, &ca, TENANT, up.addr.port(), "/oauth/token");
    a.extend([
        s("-H"),
        s("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZWNyZXQifQ.rawBearerSignature"),
        s("-H"),
        s("Cookie: session=cookieClientSecret777"),
        s("-d"),
        s("grant_type=client_credentials&client_id=abc&client_secret=clientSecretValue12345"),
    ]);
    let via = curl(a).await;
    assert!(String::from_utf8_lossy(&via.stdout).contains("opaqueUpstreamSecretToken987"));
    let g = curl(via_proxy(&proxy, &ca, TENANT, up.addr.port(), "/gzip")).await;
    assert_eq!(g.status, 0);
    let m = proxy.metrics_addr.unwrap();
    let metrics = curl(vec![format!("http://{m}/metrics")]).await;
    let text = String::from_utf8_lossy(&metrics.stdout).to_string();
    proxy.shutdown().await.unwrap();
    assert!(text.contains(r#"authtap_http_exchanges_total{api="authentication",endpoint="/oauth/token",method="POST",status_class="2xx"} 1"#), "{text}");
    assert!(
        text.contains("authtap_proxy_tap_exchanges_total 2"),
        "{text}"
    );
    let har_text = std::fs::read_to_string(scratch.path("out.har")).unwrap();
    let har: serde_json::Value = serde_json::from_str(&har_text).unwrap();
    let entries = har["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["request"]["method"], "POST");
    assert_eq!(entries[0]["response"]["status"], 200);
    let raw = std::fs::read_to_string(scratch.path("events.jsonl")).unwrap();
    for secret in [
        "rawBearerSignature",
        "cookieClientSecret777",
        "clientSecretValue12345",
        "opaqueUpstreamSecretToken987",
        "cookieSecretValue555",
        "gzippedSecretToken123456",
    ] {
        assert!(!raw.contains(secret), "{secret} leaked into events");
        assert!(!har_text.contains(secret), "{secret} leaked into the HAR");
    }
    let events = read_events(&scratch.path("events.jsonl"));
    let ex: Vec<_> = events.iter().filter(|e| e["type"] == "exchange").collect();
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[0]["method"], "POST");
    assert_eq!(ex[0]["status"], 200);
    assert_eq!(
        ex[0]["url"],
        format!("https://{TENANT}:{}/oauth/token", up.addr.port())
    );
    assert_eq!(ex[0]["tls"]["decrypted"], true);
    assert_eq!(ex[0]["tls"]["sni"], TENANT);
    // The tapped gzip body was decoded before redaction (the member is there, masked).
    let body = ex[1]["response"]["body"].as_str().unwrap();
    assert!(body.contains("\"access_token\":\"fp:"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_cap_marks_copy_truncated_but_streams_everything() {
    let scratch = Scratch::new();
    let up = start_upstream(&scratch).await;
    let mut cfg = proxy_config(&scratch, &up);
    cfg.body_cap = 1000;
    let proxy = start_proxy(cfg).await;
    let ca = scratch.path("ca").join("authtap-ca.pem");
    let via = curl(via_proxy(
        &proxy,
        &ca,
        TENANT,
        up.addr.port(),
        "/big?n=100000",
    ))
    .await;
    assert_eq!(via.stdout, pattern(100_000));
    proxy.shutdown().await.unwrap();
    let events = read_events(&scratch.path("events.jsonl"));
    let ex = events.iter().find(|e| e["type"] == "exchange").unwrap();
    assert_eq!(ex["response"]["body_truncated"], true);
    assert!(ex["notes"]
        .to_string()
        .contains("truncated at 1000 bytes (100000 bytes streamed)"));
}
