//! A real Prometheus scrapes authtap's /metrics server and evaluates dashboards/prometheus/alerts.yml.
//!
//! Starts Debian's `prometheus` binary on a free loopback port with a generated config (scrape
//! every 1s, rules evaluated every 1s, a copy of alerts.yml with every `for:` shortened to 1s),
//! feeds authtap's metrics with the forum-thread scenario repeatedly (traffic keeps flowing, as
//! in production): the exchanges of `fixtures/forum-thread.har` (recorded against the mock
//! tenant) go through the HAR reader and the real `Engine`, and every exchange and engine output
//! is observed by `Metrics`. It then asks the Prometheus HTTP API for the series and the alerts.
//! Skips with a printed reason when `prometheus` is not installed.

mod metrics_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authtap::engine::{Engine, EngineConfig};
use authtap::model::Exchange;
use authtap::sink::prometheus::{server, Metrics};
use authtap::source::har::read_har;
use metrics_support::{repo_path, which};

/// Kills the Prometheus child we started (by its own handle) when the test ends.
struct Prom(Child);

impl Drop for Prom {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    l.local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn http_get(addr: SocketAddr, path_and_query: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!("GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    // Prometheus answers small API results without chunking only sometimes; de-chunk if needed.
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Some(dechunk(body));
    }
    Some(body.to_string())
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn query(prom: SocketAddr, q: &str) -> Vec<serde_json::Value> {
    let enc: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
    http_get(prom, &format!("/api/v1/query?query={enc}"))
        .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
        .and_then(|v| v["data"]["result"].as_array().cloned())
        .unwrap_or_default()
}

fn alerts(prom: SocketAddr) -> Vec<(String, String)> {
    http_get(prom, "/api/v1/alerts")
        .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
        .and_then(|v| v["data"]["alerts"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                a["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn value(sample: &serde_json::Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

/// alerts.yml with every `for:` shortened so alerts reach pending/firing within seconds.
fn test_rules(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo_path("dashboards/prometheus/alerts.yml"))
        .unwrap_or_else(|e| panic!("reading alerts.yml: {e}"));
    let re = regex::Regex::new(r"(?m)^(\s+)for: \S+$").unwrap_or_else(|e| panic!("{e}"));
    let short = re.replace_all(&text, "${1}for: 1s");
    let path = dir.join("alerts.yml");
    std::fs::write(&path, short.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    path
}

/// The forum-thread scenario's exchanges, read with authtap's HAR reader.
fn scenario() -> Vec<Exchange> {
    let path = repo_path("fixtures/forum-thread.har");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    read_har(std::io::BufReader::new(file), 0, |ex| out.push(ex))
        .unwrap_or_else(|e| panic!("reading forum-thread.har: {e}"));
    assert!(
        out.len() > 10,
        "forum-thread.har has {} exchanges",
        out.len()
    );
    out
}

/// One run of the scenario through a fresh engine, observed by `metrics` (what `authtap proxy`
/// and `authtap capture` do per exchange).
fn feed_round(metrics: &Metrics, exchanges: &[Exchange]) {
    let mut engine = Engine::new(EngineConfig {
        flow_cap: 1000,
        ..EngineConfig::default()
    });
    for ex in exchanges {
        let (api, endpoint) = engine.classifier().endpoint(ex);
        metrics.observe_exchange(ex, api, &endpoint);
        let pushed = engine.push(ex);
        metrics.observe_pushed(&pushed);
    }
    metrics.observe_findings(&engine.finish());
    metrics.set_flows_active(engine.flows().len());
}

#[test]
fn prometheus_scrapes_authtap_and_fires_alerts() {
    let Some(prometheus) = which("prometheus") else {
        println!("skipped: `prometheus` not on PATH (apt-get install prometheus)");
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));

    // authtap's metrics server on a loopback port chosen by the kernel.
    let metrics = Arc::new(Metrics::new());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap_or_else(|e| panic!("{e}"));
    let metrics_addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(server::serve(listener, metrics.clone(), async {
        let _ = server_stopped.await;
    }));

    // Traffic keeps flowing while Prometheus watches.
    let exchanges = scenario();
    let stop_feed = Arc::new(AtomicBool::new(false));
    let feeder = {
        let (metrics, stop) = (metrics.clone(), stop_feed.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                feed_round(&metrics, &exchanges);
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };

    let rules = test_rules(dir.path());
    let prom_port = free_port();
    let prom_addr: SocketAddr = ([127, 0, 0, 1], prom_port).into();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - {rules}\n\
         scrape_configs:\n  - job_name: authtap\n    static_configs:\n      - targets: ['{metrics_addr}']\n",
        rules = rules.display()
    );
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap_or_else(|e| panic!("{e}"));
    let log =
        std::fs::File::create(dir.path().join("prometheus.log")).unwrap_or_else(|e| panic!("{e}"));
    let child = Command::new(prometheus)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={prom_addr}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("starting prometheus: {e}"));
    let _prom = Prom(child);

    // The forum thread: a PATCH refused for update:users (not granted to a user token), the ID
    // token and an opaque token sent to the Management API, a password claim in a token.
    let want_alerts = [
        "AuthtapInsufficientScope",
        "AuthtapScopeNotGranted",
        "AuthtapWrongTokenSentToApi",
        "AuthtapSensitiveClaim",
        "AuthtapAuthFailuresSpiking",
    ];
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = Vec::new();
    let mut series_ok = false;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let up = query(prom_addr, r#"up{job="authtap"}"#);
        let findings = query(
            prom_addr,
            r#"authtap_findings_total{rule="insufficient-scope",severity="error"}"#,
        );
        let failures = query(
            prom_addr,
            r#"authtap_auth_failures_total{api="management",endpoint="/api/v2/users/{id}",reason="insufficient_scope",status="403"}"#,
        );
        let scopes = query(
            prom_addr,
            r#"authtap_scope_mismatches_total{kind="not_granted",scope="update:users"}"#,
        );
        let lifetime = query(prom_addr, "authtap_token_lifetime_seconds_count");
        series_ok = up.first().map(value) == Some(1.0)
            && findings.first().map(value).is_some_and(|v| v >= 1.0)
            && failures.first().map(value).is_some_and(|v| v >= 1.0)
            && scopes.first().map(value).is_some_and(|v| v >= 1.0)
            && lifetime.first().map(value).is_some_and(|v| v >= 2.0);
        last = alerts(prom_addr);
        let all_alerting = want_alerts.iter().all(|w| {
            last.iter()
                .any(|(n, s)| n == w && (s == "pending" || s == "firing"))
        });
        if series_ok && all_alerting {
            break;
        }
    }
    stop_feed.store(true, Ordering::Relaxed);
    let _ = feeder.join();
    let _ = stop_server.send(());

    let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    let tail: String = log.lines().rev().take(15).collect::<Vec<_>>().join("\n");
    assert!(
        series_ok,
        "series never matched in Prometheus; log tail:\n{tail}"
    );
    for w in want_alerts {
        assert!(
            last.iter()
                .any(|(n, s)| n == w && (s == "pending" || s == "firing")),
            "{w} not pending/firing; alerts: {last:?}"
        );
    }
    // Alerts whose cause is not in the scenario stay quiet.
    for quiet in [
        "AuthtapRateLimited",
        "AuthtapTokenEndpointErrors",
        "AuthtapAbsent",
    ] {
        assert!(
            !last.iter().any(|(n, _)| n == quiet),
            "unexpected {quiet}: {last:?}"
        );
    }
}
