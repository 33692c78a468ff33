//! Benchmarks for the Prometheus sink (issue #6 targets):
//! - `/metrics` renders in ≤ 5 ms with 10,000 flows tracked (render_text / render_openmetrics);
//! - metrics add ≤ 5% to the proxy's per-exchange cost (observe_exchange_and_events, compared
//!   with the proxy's per-exchange time measured in the proxy benchmarks).
//!
//! Run: `cargo bench --bench metrics_render` (criterion, release profile).
//! The registry is filled as 10,000 flows of a busy tenant would fill it: 300 endpoint
//! templates × methods × status classes, every failure reason, scope mismatches for 120 scopes,
//! token issuance for every grant/format, and both histograms.
#![allow(clippy::print_stderr)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};

use authtap::engine::Pushed;
use authtap::model::*;
use authtap::sink::prometheus::Metrics;

const FLOWS: usize = 10_000;
const METHODS: [&str; 5] = ["GET", "POST", "PATCH", "DELETE", "PUT"];
const STATUSES: [u16; 6] = [200, 201, 302, 401, 403, 429];

fn exchange(i: usize) -> Exchange {
    let mut ex = Exchange::default();
    ex.request.method = METHODS[i % METHODS.len()].into();
    ex.request.url = format!("https://tenant.auth0.com/api/v2/things{}/{}", i % 300, i);
    ex.duration_ms = Some((i % 900) as f64);
    let mut resp = Response {
        status: STATUSES[i % STATUSES.len()],
        ..Response::default()
    };
    resp.headers
        .push("x-ratelimit-remaining", (i % 50).to_string());
    ex.response = Some(resp);
    ex
}

fn events(i: usize) -> Pushed {
    let at = Evidence {
        input: 0,
        index: i,
        time: None,
        method: "PATCH".into(),
        url: String::new(),
        status: Some(403),
    };
    let scope = format!("update:resource_{}", i % 120);
    let call = ApiCall {
        api: Api::Management,
        method: "PATCH".into(),
        endpoint: format!("/api/v2/things{}/{{id}}", i % 300).into(),
        known_endpoint: true,
        // The sink counts the scopes named in the 403 (`expected_scopes`) before the catalogue's.
        accepted_scopes: &[],
        needs_all_scopes: false,
        path_params: vec![],
        body_fields: vec![],
        credential: Credential::None,
        status: Some([400u16, 401, 403, 429][i % 4]),
        error: Some(Auth0Error {
            status_code: None,
            error: None,
            message: Some(
                [
                    "Bad HTTP authentication header format",
                    "Invalid token",
                    "Insufficient scope, expected any of: x",
                    "Global limit has been reached",
                ][i % 4]
                    .into(),
            ),
            error_code: None,
        }),
        expected_scopes: Some(vec![scope]),
        ratelimit: None,
    };
    let grant = TokenGrant {
        grant_type: Some(
            ["authorization_code", "client_credentials", "refresh_token"][i % 3].into(),
        ),
        status: Some(200),
        issued: TokenSet {
            access_token: Some(Token {
                raw: "x".repeat(32).into(),
                fingerprint: String::new(),
                format: [TokenFormat::Jwt, TokenFormat::Opaque, TokenFormat::Jwe][i % 3],
                role: TokenRole::Access,
                jwt: None,
            }),
            expires_in: Some(86_400),
            ..TokenSet::default()
        },
        ..TokenGrant::default()
    };
    Pushed {
        events: vec![
            AuthEvent {
                at: at.clone(),
                host: "tenant.auth0.com".into(),
                kind: EventKind::ApiCall(call),
            },
            AuthEvent {
                at,
                host: "tenant.auth0.com".into(),
                kind: EventKind::TokenGrant(grant),
            },
        ],
        findings: vec![Finding {
            rule: ["insufficient-scope", "opaque-access-token", "rate-limited"][i % 3],
            severity: Severity::Error,
            title: String::new(),
            explanation: String::new(),
            fix: String::new(),
            flow: None,
            evidence: vec![],
        }],
    }
}

fn filled() -> Metrics {
    let m = Metrics::new();
    for i in 0..FLOWS * 4 {
        m.observe_exchange(
            &exchange(i),
            if i % 7 == 0 {
                Api::Authentication
            } else {
                Api::Management
            },
            &format!("/api/v2/things{}/{{id}}", i % 300),
        );
        if i % 4 == 0 {
            m.observe_pushed(&events(i));
        }
    }
    m.set_flows_active(FLOWS);
    m.add_capture(1_000_000, 900_000_000);
    m
}

fn bench(c: &mut Criterion) {
    let m = filled();
    let text = m.render(false);
    let series = text.lines().filter(|l| !l.starts_with('#')).count();
    eprintln!("exposition: {series} series, {} bytes", text.len());
    c.bench_function("render_text_10k_flows", |b| {
        b.iter(|| black_box(m.render(false)))
    });
    c.bench_function("render_openmetrics_10k_flows", |b| {
        b.iter(|| black_box(m.render(true)))
    });
    let ex = exchange(17);
    let pushed = events(17);
    c.bench_function("observe_exchange_and_events", |b| {
        b.iter(|| {
            m.observe_exchange(black_box(&ex), Api::Management, "/api/v2/things17/{id}");
            m.observe_pushed(black_box(&pushed));
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
