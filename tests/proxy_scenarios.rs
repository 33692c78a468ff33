//! The mock tenant's scenarios replayed by real curl clients through the proxy.
//!
//! 1. Byte-identical: two deterministic tenants (fixed clock) run the same scenario step by step,
//!    one reached directly and one through the intercepting proxy; every response (status,
//!    headers except `date`, body) must match exactly.
//! 2. Same findings: a wall-clock tenant behind the proxy; the rule ids in the proxy's events
//!    stream must equal those `authtap analyze` reports for the recorded HAR fixture.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use authtap::source::proxy::{start, EventsTarget, ProxyConfig, ProxyHandle};
use mock_tenant::clock::Clock;
use mock_tenant::curl::{CurlDriver, HttpVersion};
use mock_tenant::fixtures::SCENARIO_START_MS;
use mock_tenant::http::Response;
use mock_tenant::scenario::{fixture_tenant, Env, Scenario, ScenarioError, Step, Transport};
use mock_tenant::server::{spawn, RunningServer, ServeOptions};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn serve(scenario: Scenario, clock: Clock, ca_dir: &Path) -> RunningServer {
    let env = Env::new(mock_tenant::scenario::env::DOMAIN);
    let tenant = Arc::new(fixture_tenant(&env, scenario.profile(), clock));
    spawn(
        tenant,
        ServeOptions {
            tls: true,
            ca_out: Some(ca_dir.to_path_buf()),
            ..ServeOptions::default()
        },
    )
    .unwrap()
}

struct Proxy {
    rt: tokio::runtime::Runtime,
    handle: Option<ProxyHandle>,
    curl_wrapper: PathBuf,
    ca_pem: PathBuf,
}

/// Start the proxy for `server` and write a `curl` wrapper that goes through it.
fn proxy_for(server: &RunningServer, dir: &Path, events: &Path) -> Proxy {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut cfg = ProxyConfig::for_tests(dir.join("authtap-ca"));
    cfg.upstream_ca = vec![server.ca_path.clone().unwrap()];
    cfg.resolve.insert(
        (
            mock_tenant::scenario::env::DOMAIN.to_string(),
            server.port(),
        ),
        server.addr,
    );
    cfg.events = Some(EventsTarget::File(events.to_path_buf()));
    let handle = rt.block_on(start(cfg)).unwrap();
    let wrapper = dir.join("curl-via-proxy.sh");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec curl -x http://{} \"$@\"\n", handle.addr),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let ca_pem = handle.ca_cert_path.clone();
    Proxy {
        rt,
        handle: Some(handle),
        curl_wrapper: wrapper,
        ca_pem,
    }
}

impl Proxy {
    fn driver(&self, port: u16, version: HttpVersion) -> CurlDriver {
        let mut d = CurlDriver::new(
            mock_tenant::scenario::env::DOMAIN,
            port,
            true,
            Some(self.ca_pem.clone()),
            version,
        );
        d.curl = self.curl_wrapper.display().to_string();
        d
    }

    fn stop(mut self) -> authtap::source::proxy::live::LiveSummary {
        let h = self.handle.take().unwrap();
        self.rt.block_on(h.shutdown()).unwrap()
    }
}

/// Sends every step to both transports and records any difference in the responses.
struct Tee {
    /// The two tenants' fixed clocks, advanced together on every scenario wait.
    clocks: [Clock; 2],
    direct: CurlDriver,
    proxied: CurlDriver,
    steps: usize,
    diffs: Vec<String>,
}

fn comparable(r: &Response) -> (u16, Vec<(String, String)>, &[u8]) {
    let mut h: Vec<_> = r
        .headers
        .iter()
        .filter(|(k, _)| k != "date")
        .cloned()
        .collect();
    h.sort();
    (r.status, h, &r.body)
}

impl Transport for Tee {
    fn send(&mut self, step: Step) -> Result<Response, ScenarioError> {
        let name = step.name.clone();
        let a = self.direct.send(step.clone())?;
        let b = self.proxied.send(step)?;
        self.steps += 1;
        if comparable(&a) != comparable(&b) {
            self.diffs.push(format!(
                "step {name}: direct {} {:?} {:?} / proxied {} {:?} {:?}",
                a.status,
                a.headers,
                String::from_utf8_lossy(&a.body),
                b.status,
                b.headers,
                String::from_utf8_lossy(&b.body)
            ));
        }
        Ok(a)
    }

    fn wait_ms(&mut self, ms: u64) {
        // Both tenants run on fixed clocks: advance them together instead of sleeping.
        for c in &self.clocks {
            c.advance_ms(i64::try_from(ms).unwrap_or(i64::MAX));
        }
    }

    fn browser_extras(&self) -> bool {
        false
    }
}

fn byte_identical(scenario: Scenario, version: HttpVersion) {
    let dir = tempfile::tempdir().unwrap();
    let (da, db) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&da).unwrap();
    std::fs::create_dir_all(&db).unwrap();
    let clocks = [
        Clock::fixed_ms(SCENARIO_START_MS),
        Clock::fixed_ms(SCENARIO_START_MS),
    ];
    let direct = serve(scenario, clocks[0].clone(), &da);
    let behind = serve(scenario, clocks[1].clone(), &db);
    let proxy = proxy_for(&behind, dir.path(), &dir.path().join("events.jsonl"));
    let mut tee = Tee {
        clocks,
        direct: CurlDriver::new(
            mock_tenant::scenario::env::DOMAIN,
            direct.port(),
            true,
            direct.ca_path.clone(),
            version,
        ),
        proxied: proxy.driver(behind.port(), version),
        steps: 0,
        diffs: Vec::new(),
    };
    let env = Env::new(mock_tenant::scenario::env::DOMAIN);
    scenario.run(&env, &mut tee).unwrap();
    let steps = tee.steps;
    let diffs = std::mem::take(&mut tee.diffs);
    drop(tee);
    let summary = proxy.stop();
    assert!(steps >= 3, "scenario ran only {steps} steps");
    assert!(
        diffs.is_empty(),
        "responses differ through the proxy:\n{}",
        diffs.join("\n")
    );
    assert_eq!(summary.exchanges as usize, steps, "every step was tapped");
}

#[test]
fn forum_thread_h1_responses_are_byte_identical_through_the_proxy() {
    byte_identical(Scenario::ForumThread, HttpVersion::Http1);
}

#[test]
fn m2m_h2_responses_are_byte_identical_through_the_proxy() {
    byte_identical(Scenario::M2m, HttpVersion::Http2);
}

fn analyze_rules(fixture: &str) -> BTreeSet<String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authtap"))
        .args(["analyze", "--format", "json", "--fail-on", "never", fixture])
        .current_dir(root())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

fn proxied_rules(scenario: Scenario, version: HttpVersion) -> (BTreeSet<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(scenario, Clock::System, dir.path());
    let events = dir.path().join("events.jsonl");
    let proxy = proxy_for(&server, dir.path(), &events);
    let mut d = proxy.driver(server.port(), version);
    let env = Env::new(mock_tenant::scenario::env::DOMAIN);
    scenario.run(&env, &mut d).unwrap();
    drop(d);
    proxy.stop();
    let raw = std::fs::read_to_string(&events).unwrap();
    let rules = raw
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "finding")
        .map(|v| v["rule"].as_str().unwrap().to_string())
        .collect();
    (rules, raw)
}

#[test]
fn forum_thread_through_the_proxy_finds_what_analyze_finds() {
    let expected = analyze_rules("fixtures/forum-thread.har");
    assert!(
        expected.contains("id-token-as-access-token"),
        "{expected:?}"
    );
    let (got, raw) = proxied_rules(Scenario::ForumThread, HttpVersion::Http1);
    assert_eq!(got, expected);
    // The CouchDB password the ID token carries never reaches the events in clear.
    let env = Env::new(mock_tenant::scenario::env::DOMAIN);
    assert!(!raw.contains(&env.couch_password));
}

#[test]
fn m2m_through_the_proxy_finds_what_analyze_finds() {
    let expected = analyze_rules("fixtures/m2m.har");
    assert!(!expected.is_empty());
    let (got, _) = proxied_rules(Scenario::M2m, HttpVersion::Http2);
    assert_eq!(got, expected);
}
