//! Throughput of `auth::Classifier::classify` on Management API traffic (the analyze hot path),
//! and of `decode::jwt::decode`. Run: `cargo bench --bench classify`.

use authtap::auth::Classifier;
use authtap::model::{Body, Exchange, Headers, Request, Response, TokenRole};
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn token() -> String {
    let b = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.{}",
        b(serde_json::json!({"alg":"RS256","typ":"JWT","kid":"tMQzailSAdaW4nojXxES9"})),
        b(
            serde_json::json!({"iss":"https://dev-x.us.auth0.com/","sub":"m2m@clients","aud":"https://dev-x.us.auth0.com/api/v2/","iat":1695887942,"exp":1695974342,"azp":"m2m","scope":"read:users update:users delete:users","gty":"client-credentials"})
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
            method: method.into(),
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

fn bench(c: &mut Criterion) {
    let tok = token();
    let set = vec![
        exchange(
            "GET",
            "/api/v2/users/auth0%7C5a620d29a840170a9ef43672",
            200,
            r#"{"user_id":"auth0|5a62","email":"a@example.com"}"#,
            &tok,
        ),
        exchange(
            "PATCH",
            "/api/v2/users/auth0%7C5a620d29a840170a9ef43672",
            403,
            r#"{"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: update:users,update:users_app_metadata,update:current_user_metadata","errorCode":"insufficient_scope"}"#,
            &tok,
        ),
        exchange("GET", "/api/v2/users/auth0%7C1/roles", 200, "[]", &tok),
        exchange(
            "DELETE",
            "/api/v2/users/auth0%7C9",
            429,
            r#"{"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached","errorCode":"too_many_requests"}"#,
            &tok,
        ),
    ];
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
    c.bench_function("jwt_decode", |b| {
        b.iter(|| authtap::decode::jwt::decode(&tok, TokenRole::Unknown))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
