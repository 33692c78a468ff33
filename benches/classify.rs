//! Throughput of `auth::Classifier::classify` on Management API traffic (the analyze hot path),
//! and of `decode::jwt::decode`. Run: `cargo bench --bench classify`.
//!
//! Prints CPU time per exchange first (read from /proc/thread-self/schedstat, so the figure holds
//! on a loaded machine), then criterion's wall-clock measurements.

use authtap::auth::Classifier;
use authtap::model::{Body, Exchange, Headers, Request, Response, TokenRole};
use base64::Engine as _;
use criterion::{criterion_group, Criterion, Throughput};

fn token(n: u32) -> String {
    let b = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.{}",
        b(serde_json::json!({"alg":"RS256","typ":"JWT","kid":"tMQzailSAdaW4nojXxES9"})),
        b(
            serde_json::json!({"iss":"https://dev-x.us.auth0.com/","sub":"m2m@clients","aud":"https://dev-x.us.auth0.com/api/v2/","iat":1695887942,"exp":1695974342 + n,"azp":"m2m","scope":"read:users update:users delete:users","gty":"client-credentials"})
        ),
        "s".repeat(342)
    )
}

fn exchange(method: &str, path: &str, status: u16, body: &str, tok: &str) -> Exchange {
    let mut h = Headers::default();
    h.push("Authorization", format!("Bearer {tok}"));
    h.push("Content-Type", "application/json");
    let mut rh = Headers::default();
    rh.push("x-ratelimit-limit", "50");
    rh.push("x-ratelimit-remaining", "49");
    rh.push("x-ratelimit-reset", "1675452600");
    Exchange {
        request: Request {
            method: method.to_string().into(),
            url: format!("https://dev-x.us.auth0.com{path}"),
            headers: h,
            ..Request::default()
        },
        response: Some(Response {
            status,
            headers: rh,
            body: Body {
                data: body.as_bytes().to_vec(),
                truncated: false,
                mime: Some("application/json".into()),
            },
            ..Response::default()
        }),
        ..Exchange::default()
    }
}

const CALLS: &[(&str, &str, u16, &str)] = &[
    (
        "GET",
        "/api/v2/users/auth0%7C5a620d29a840170a9ef43672",
        200,
        r#"{"user_id":"auth0|5a62","email":"a@example.com"}"#,
    ),
    (
        "PATCH",
        "/api/v2/users/auth0%7C5a620d29a840170a9ef43672",
        403,
        r#"{"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: update:users,update:users_app_metadata,update:current_user_metadata","errorCode":"insufficient_scope"}"#,
    ),
    ("GET", "/api/v2/users/auth0%7C1/roles", 200, "[]"),
    (
        "DELETE",
        "/api/v2/users/auth0%7C9",
        429,
        r#"{"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached","errorCode":"too_many_requests"}"#,
    ),
];

/// The four calls, each with a token of its own (`distinct_tokens`) or one shared token.
fn sample(distinct_tokens: bool, round: u32) -> Vec<Exchange> {
    CALLS
        .iter()
        .enumerate()
        .map(|(i, (m, p, s, b))| {
            let n = if distinct_tokens {
                round * 4 + i as u32
            } else {
                0
            };
            exchange(m, p, *s, b, &token(n))
        })
        .collect()
}

fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

#[allow(clippy::print_stdout)]
fn cpu_report() {
    // Shared token (memo hits) and a fresh token per call (every call decodes).
    for (label, distinct) in [("one shared token", false), ("a new token per call", true)] {
        let sets: Vec<Vec<Exchange>> = (0..2_000).map(|r| sample(distinct, r)).collect();
        let mut cl = Classifier::new(&[]);
        let Some(start) = cpu_ns() else { return };
        let mut events = 0usize;
        for _ in 0..5 {
            for set in &sets {
                for ex in set {
                    events += cl.classify(ex).len();
                }
            }
        }
        let Some(end) = cpu_ns() else { return };
        let n = (5 * sets.len() * CALLS.len()) as f64;
        println!(
            "classify CPU time ({label}): {:.2} µs/exchange over {n} exchanges ({events} events)",
            end.saturating_sub(start) as f64 / n / 1000.0
        );
    }
    let tok = token(0);
    let Some(s2) = cpu_ns() else { return };
    for _ in 0..100_000 {
        std::hint::black_box(authtap::decode::jwt::decode(&tok, TokenRole::Unknown));
    }
    if let Some(e2) = cpu_ns() {
        println!(
            "jwt decode CPU time: {:.2} µs/token",
            e2.saturating_sub(s2) as f64 / 100_000.0 / 1000.0
        );
    }
}

fn bench(c: &mut Criterion) {
    let set = sample(false, 0);
    let mut g = c.benchmark_group("classify");
    g.throughput(Throughput::Elements(set.len() as u64));
    g.bench_function("management_api_4_exchanges", |b| {
        let mut cl = Classifier::new(&[]);
        b.iter(|| {
            let mut n = 0;
            for ex in &set {
                n += cl.classify(ex).len();
            }
            n
        })
    });
    g.finish();
    let tok = token(0);
    c.bench_function("jwt_decode", |b| {
        b.iter(|| authtap::decode::jwt::decode(&tok, TokenRole::Unknown))
    });
}

criterion_group!(benches, bench);

fn main() {
    cpu_report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
