//! Engine throughput: Management API exchanges (bearer JWT, JSON bodies) pushed through
//! classify → correlate → diagnose, plus the forum-thread mix of failing calls.
//!
//! Run: `cargo bench --bench engine` (release) or `cargo bench --bench engine --profile dev`
//! for a quick indicative number. Inputs are built in memory; no files are read, except for the
//! `replay` group: with `AUTHTAP_BENCH_PCAP=FILE` (e.g. a capture made by
//! `examples/gen_mgmt_pcap`) the capture is framed once into memory and its exchanges are pushed
//! through the engine and the redactor, as `authtap analyze` does on its main thread (the
//! per-exchange engine cost without framing); it also prints the thread CPU time of one pass
//! (best of 5), which a busy machine does not inflate. Without the variable the group is skipped.

use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;

use authtap::engine::{Engine, EngineConfig};
use authtap::model::{Body, Exchange, Headers, Request, Response};

// The same allocator as the `authtap` binary, so allocation costs are comparable.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HOST: &str = "bench.us.auth0.com";
const N: usize = 5_000;

fn jwt(claims: serde_json::Value) -> String {
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let h = e.encode(json!({"alg": "RS256", "typ": "JWT", "kid": "k1"}).to_string());
    format!("{h}.{}.c2lnbmF0dXJl", e.encode(claims.to_string()))
}

fn exchange(index: usize, token: &str, status: u16, body: &str) -> Exchange {
    let mut h = Headers::default();
    h.push("authorization", format!("Bearer {token}"));
    h.push("content-type", "application/json");
    let mut rh = Headers::default();
    rh.push("content-type", "application/json; charset=utf-8");
    rh.push("x-ratelimit-limit", "50");
    rh.push("x-ratelimit-remaining", "49");
    Exchange {
        input: 0,
        index,
        started: Some(1_800_000_000_000_000 + index as i64 * 1_000),
        request: Request {
            method: "PATCH".into(),
            url: format!("https://{HOST}/api/v2/users/auth0%7C{index:024x}"),
            http_version: "HTTP/2".into(),
            headers: h,
            body: Body {
                data: br#"{"user_metadata":{"theme":"dark"}}"#.to_vec(),
                truncated: false,
                mime: Some("application/json".into()),
            },
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

fn inputs() -> Vec<Exchange> {
    let ok = json!({"user_id": "auth0|1", "user_metadata": {"theme": "dark"}}).to_string();
    let forbidden = r#"{"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: update:users,update:users_app_metadata,update:current_user_metadata","errorCode":"insufficient_scope"}"#;
    (0..N)
        .map(|i| {
            // 100 distinct users' tokens; every 10th call is refused for scope.
            let scope = if i % 10 == 0 {
                "openid profile"
            } else {
                "openid update:current_user_metadata"
            };
            let t = jwt(json!({
                "iss": format!("https://{HOST}/"), "sub": format!("auth0|{}", i % 100),
                "aud": format!("https://{HOST}/api/v2/"), "azp": "client", "exp": 1_900_000_000i64,
                "scope": scope,
            }));
            if i % 10 == 0 {
                exchange(i, &t, 403, forbidden)
            } else {
                exchange(i, &t, 200, &ok)
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let xs = inputs();
    let bytes: usize = xs
        .iter()
        .map(|x| {
            x.request.url.len()
                + x.request.body.data.len()
                + x.response.as_ref().map_or(0, |r| r.body.data.len())
        })
        .sum();
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.bench_function("push_mgmt_calls", |b| {
        b.iter(|| {
            let mut e = Engine::new(EngineConfig::default());
            let mut n = 0usize;
            for x in &xs {
                n += e.push(x).findings.len();
            }
            n += e.finish().len();
            std::hint::black_box((n, bytes))
        })
    });
    g.bench_function("classify_only", |b| {
        b.iter(|| {
            let mut cl = authtap::auth::Classifier::new(&[]);
            let mut n = 0usize;
            for x in &xs {
                n += cl.classify(x).len();
            }
            std::hint::black_box(n)
        })
    });
    g.finish();
}

/// Exchanges of the capture named by `AUTHTAP_BENCH_PCAP` (at most 100,000), framed in memory.
fn capture_exchanges() -> Option<Vec<Exchange>> {
    let path = std::env::var_os("AUTHTAP_BENCH_PCAP")?;
    let file = std::fs::File::open(&path).ok()?;
    let mut out = Vec::new();
    let mut keys = authtap::capture::keylog::KeyLog::default();
    let _ = authtap::source::pcap::read_capture(file, 0, &mut keys, |o| {
        if let authtap::capture::CaptureOutput::Exchange(ex) = o {
            if out.len() < 100_000 {
                out.push(ex);
            }
        }
    });
    Some(out)
}

/// CPU time this thread has run, from `/proc/thread-self/schedstat` (Linux), in nanoseconds.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// One pass of what `authtap analyze` does per exchange on its main thread, results dropped.
fn replay_pass(xs: &[Exchange]) -> usize {
    let mut e = Engine::new(EngineConfig::default());
    let mut r = authtap::redact::Redactor::new(false);
    let mut n = 0usize;
    for x in xs {
        let p = e.push(x);
        for ev in &p.events {
            r.register_event(ev);
        }
        n += p.findings.len() + p.events.len();
    }
    n += e.finish().len() + e.findings().len();
    n
}

fn replay(c: &mut Criterion) {
    let Some(xs) = capture_exchanges() else {
        return;
    };
    // Thread CPU time per pass (best of 5): unlike wall time it is not inflated by other
    // processes on a busy machine.
    let best = (0..5)
        .filter_map(|_| {
            let a = thread_cpu_ns()?;
            std::hint::black_box(replay_pass(&xs));
            Some(thread_cpu_ns()?.saturating_sub(a))
        })
        .min();
    if let Some(ns) = best {
        #[allow(clippy::print_stdout)]
        {
            println!(
                "replay cpu: {:.1} ms per pass of {} exchanges ({:.0} ns each; best of 5, thread CPU time)",
                ns as f64 / 1e6,
                xs.len(),
                ns as f64 / xs.len().max(1) as f64
            );
        }
    }
    let mut g = c.benchmark_group("replay");
    g.throughput(Throughput::Elements(xs.len() as u64));
    g.sample_size(10);
    g.bench_function("engine_and_redactor", |b| {
        b.iter(|| std::hint::black_box(replay_pass(&xs)))
    });
    g.finish();
}

criterion_group!(benches, bench, replay);
criterion_main!(benches);
