//! The official `auth0` npm package (node-auth0 v4 ManagementClient, with undici's ProxyAgent)
//! talking to the mock tenant through the proxy. Skips with a printed reason when `node` or the
//! npm modules are missing: install them with
//! `npm install --prefix tests/node auth0@4 undici@6` (or point AUTHTAP_NODE_MODULES at a
//! node_modules directory holding both).
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::path::PathBuf;
use std::sync::Arc;

use authtap::source::proxy::{start, EventsTarget, ProxyConfig};
use mock_tenant::clock::Clock;
use mock_tenant::scenario::{fixture_tenant, Env, Scenario};
use mock_tenant::server::{spawn, ServeOptions};

fn node_modules() -> Option<PathBuf> {
    let dir = std::env::var_os("AUTHTAP_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node/node_modules")
        });
    (dir.join("auth0").is_dir() && dir.join("undici").is_dir()).then_some(dir)
}

#[test]
fn node_auth0_management_client_through_the_proxy() {
    let Some(modules) = node_modules() else {
        eprintln!("skipping: auth0/undici npm modules not installed (npm install --prefix tests/node auth0@4 undici@6)");
        return;
    };
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipping: node is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = Env::new(mock_tenant::scenario::env::DOMAIN);
    let tenant = Arc::new(fixture_tenant(&env, Scenario::M2m.profile(), Clock::System));
    let server = spawn(
        tenant,
        ServeOptions {
            tls: true,
            ca_out: Some(dir.path().to_path_buf()),
            ..ServeOptions::default()
        },
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut cfg = ProxyConfig::for_tests(dir.path().join("authtap-ca"));
    cfg.upstream_ca = vec![server.ca_path.clone().unwrap()];
    cfg.resolve
        .insert((env.domain.clone(), server.port()), server.addr);
    let events = dir.path().join("events.jsonl");
    cfg.events = Some(EventsTarget::File(events.clone()));
    let proxy = rt.block_on(start(cfg)).unwrap();
    let out = std::process::Command::new("node")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node/mgmt.cjs"))
        .arg(format!("{}:{}", env.domain, server.port()))
        .arg(&env.backend_client_id)
        .arg(&env.backend_secret)
        .arg(format!("http://{}", proxy.addr))
        .arg(&env.other_user_id)
        .arg(env.management_audience())
        .env("NODE_PATH", &modules)
        .env("NODE_EXTRA_CA_CERTS", &proxy.ca_cert_path)
        .output()
        .unwrap();
    let summary = rt.block_on(proxy.shutdown()).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("getAll 200"), "{stdout}");
    assert!(stdout.contains("delete error 403"), "{stdout}");
    // token + search + delete went through the proxy and were analysed.
    assert!(summary.exchanges >= 3, "{summary:?}");
    let raw = std::fs::read_to_string(&events).unwrap();
    assert!(
        !raw.contains(&env.backend_secret),
        "client secret leaked into events"
    );
    let rules: Vec<String> = raw
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "finding")
        .map(|v| v["rule"].as_str().unwrap().to_string())
        .collect();
    assert!(
        rules.iter().any(|r| r == "insufficient-scope"),
        "{rules:?}\n{raw}"
    );
}
