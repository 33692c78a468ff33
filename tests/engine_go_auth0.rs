//! Real material: Auth0's own Go SDK recordings (go-vcr YAML, `../shared/corpus/go-auth0/`,
//! recorded against `go-auth0-dev.eu.auth0.com`, sanitised by Auth0) are turned into `Exchange`s
//! and pushed through the engine, one recording per engine. Asserts the exact rule ids expected
//! for each recording (failed token requests are explained, healthy ones are silent, the
//! recordings' stripped Authorization header is reported as missing evidence) and that no
//! secret from the recordings appears in a finding. Skips, with a printed reason, when the
//! corpus is absent.
//!
//! The reader below handles only the subset of YAML these files use (one interaction, scalar
//! `body`/`url`/`method`/`code` fields, header lists); it is test support, not a YAML parser.

// Skips must print their reason (COMMON.md), so this test file prints.
#![allow(clippy::print_stdout)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use authtap::engine::{Engine, EngineConfig};
use authtap::model::{Body, Exchange, Headers, Request, Response};

fn corpus() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/go-auth0/test/data/recordings/authentication");
    p.is_dir().then_some(p)
}

fn scalar(v: &str) -> String {
    let v = v.trim();
    if let Some(inner) = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return inner.replace("''", "'");
    }
    if let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return inner.to_string();
    }
    v.to_string()
}

/// Fields of one side (request or response) at 8-space indent, plus its headers.
#[derive(Default)]
struct Side {
    body: String,
    url: String,
    method: String,
    code: u16,
    headers: Headers,
}

fn read_recording(path: &Path) -> Option<Exchange> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut req = Side::default();
    let mut resp = Side::default();
    let mut in_response = false;
    let mut in_headers = false;
    let mut header_name = String::new();
    for line in text.lines() {
        if line == "      request:" {
            in_response = false;
            continue;
        }
        if line == "      response:" {
            in_response = true;
            in_headers = false;
            continue;
        }
        let side = if in_response { &mut resp } else { &mut req };
        if let Some(rest) = line.strip_prefix("        ") {
            if !rest.starts_with(' ') {
                in_headers = rest == "headers:";
                if let Some((k, v)) = rest.split_once(": ") {
                    match k {
                        "body" => side.body = scalar(v),
                        "url" => side.url = scalar(v),
                        "method" => side.method = scalar(v),
                        "code" => side.code = v.trim().parse().unwrap_or(0),
                        _ => {}
                    }
                }
                continue;
            }
            if in_headers {
                if let Some(name) = rest.trim().strip_suffix(':') {
                    header_name = name.to_string();
                } else if let Some(value) = rest.trim().strip_prefix("- ") {
                    side.headers.push(header_name.clone(), scalar(value));
                }
            }
        }
    }
    let mime = |h: &Headers| h.get("content-type").map(str::to_string);
    Some(Exchange {
        input: 0,
        index: 0,
        started: Some(1_720_000_000_000_000),
        request: Request {
            method: req.method.clone().into(),
            url: req.url.clone(),
            http_version: "HTTP/1.1".into(),
            body: Body {
                data: req.body.clone().into_bytes(),
                truncated: false,
                mime: mime(&req.headers).map(Into::into),
            },
            headers: req.headers,
        },
        response: Some(Response {
            status: resp.code,
            status_text: "".into(),
            http_version: "HTTP/2.0".into(),
            body: Body {
                data: resp.body.clone().into_bytes(),
                truncated: false,
                mime: mime(&resp.headers).map(Into::into),
            },
            headers: resp.headers,
        }),
        ..Exchange::default()
    })
}

const EXPECTED: &[(&str, &[&str])] = &[
    ("TestLoginWithAuthCode/Should_return_tokens.yaml", &[]),
    (
        "TestLoginWithAuthCode/Should_throw_for_an_invalid_code.yaml",
        &["token-endpoint-error"],
    ),
    (
        "TestLoginWithAuthCodeWithPKCE/Should_return_tokens.yaml",
        &[],
    ),
    (
        "TestLoginWithAuthCodeWithPKCE/Should_throw_for_an_invalid_code_verifier.yaml",
        &["token-endpoint-error"],
    ),
    ("TestOAuthLoginWithPassword/Should_return_tokens.yaml", &[]),
    (
        "TestLoginWithClientCredentials/Should_return_tokens.yaml",
        &[],
    ),
    (
        "TestLoginWithClientCredentials/Should_support_using_private_key_jwt_auth.yaml",
        &[],
    ),
    ("TestRefreshToken/Should_return_tokens.yaml", &[]),
    (
        "TestMFAVerifyWithOTP/Should_return_tokens_for_a_valid_request.yaml",
        &[],
    ),
    ("TestLoginWithEmail.yaml", &[]),
    (
        "TestPushedAuthorizationRequest/Should_make_a_PAR_request.yaml",
        &[],
    ),
    ("TestRevokeRefreshToken/Should_revoke_token.yaml", &[]),
    // go-vcr drops the Authorization header, so the bearer of this 200 is unknown.
    ("TestUserInfo.yaml", &["evidence-missing"]),
    ("TestDatabaseSignUp_WithEmailIdentifier.yaml", &[]),
];

const SECRETS: &[&str] = &[
    "test-client_secret",
    "test-access-token",
    "test-refresh-token",
    "my-invalid-code",
    "test-code-verifier",
    "Testpassword123",
    "mypassword",
];

#[test]
fn go_auth0_recordings_yield_expected_rules() {
    let Some(dir) = corpus() else {
        println!("skipped: ../shared/corpus/go-auth0 not found");
        return;
    };
    let mut checked = 0;
    for (file, expected) in EXPECTED {
        let path = dir.join(file);
        let Some(ex) = read_recording(&path) else {
            println!("skipped {file}: not readable");
            continue;
        };
        assert!(
            ex.request
                .url
                .starts_with("https://go-auth0-dev.eu.auth0.com/"),
            "{file}: parsed url {}",
            ex.request.url
        );
        let mut engine = Engine::new(EngineConfig::default());
        let pushed = engine.push(&ex);
        assert!(
            !pushed.events.is_empty(),
            "{file}: the classifier recognised the exchange"
        );
        engine.finish();
        let findings = engine.findings();
        let got: BTreeSet<&str> = findings.iter().map(|f| f.rule).collect();
        let want: BTreeSet<&str> = expected.iter().copied().collect();
        assert_eq!(got, want, "{file}: {findings:#?}");
        let text = serde_json::to_string(&findings).unwrap_or_default();
        for s in SECRETS {
            assert!(!text.contains(s), "{file}: secret {s} leaked");
        }
        checked += 1;
    }
    assert_eq!(checked, EXPECTED.len());
}

#[test]
fn invalid_code_is_explained_as_single_use_code() {
    let Some(dir) = corpus() else {
        println!("skipped: ../shared/corpus/go-auth0 not found");
        return;
    };
    let Some(ex) =
        read_recording(&dir.join("TestLoginWithAuthCode/Should_throw_for_an_invalid_code.yaml"))
    else {
        println!("skipped: recording not readable");
        return;
    };
    let mut engine = Engine::new(EngineConfig::default());
    let f = engine.push(&ex).findings;
    assert_eq!(f.len(), 1);
    assert!(
        f[0].explanation
            .contains("403 `invalid_grant`: \"Invalid authorization code\""),
        "{}",
        f[0].explanation
    );
    assert!(
        f[0].explanation.contains("single-use"),
        "{}",
        f[0].explanation
    );
    assert!(f[0].explanation.contains("client test-client_id"));
}
