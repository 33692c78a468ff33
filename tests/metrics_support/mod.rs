//! Shared test support for the metrics tests: a `Metrics` populated with every family, built
//! from the public model types (no engine needed), and small helpers.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use authtap::engine::Pushed;
use authtap::model::*;
use authtap::sink::prometheus::Metrics;

pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// `Some(path)` of a tool on PATH, or None (tests print a skip reason).
pub fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    })
}

fn at(status: u16) -> Evidence {
    Evidence {
        input: 0,
        index: 0,
        time: None,
        method: "GET".into(),
        url: "https://tenant.example.auth0.com/x".into(),
        status: Some(status),
    }
}

fn event(status: u16, kind: EventKind) -> AuthEvent {
    AuthEvent {
        at: at(status),
        host: "tenant.example.auth0.com".into(),
        kind,
    }
}

fn jwt(role: TokenRole, claims: serde_json::Value) -> Token {
    Token {
        raw: "eyJhbGciOiJSUzI1NiJ9.e30.sig".into(),
        fingerprint: fingerprint("eyJhbGciOiJSUzI1NiJ9.e30.sig"),
        format: TokenFormat::Jwt,
        role,
        jwt: Some(Jwt {
            header: serde_json::json!({"alg": "RS256", "typ": "JWT"}).into(),
            claims: claims.into(),
            verification: Verification::NotVerified,
        }),
    }
}

fn finding(rule: &'static str, severity: Severity) -> Finding {
    Finding {
        rule,
        severity,
        title: String::new(),
        explanation: String::new(),
        fix: String::new(),
        flow: None,
        evidence: vec![],
    }
}

/// A management exchange with a rate-limit header and a duration.
pub fn exchange(method: &str, status: u16, remaining: u64) -> Exchange {
    let mut ex = Exchange::default();
    ex.request.method = method.to_string().into();
    ex.request.url = "https://tenant.example.auth0.com/api/v2/users/auth0%7C42".into();
    ex.duration_ms = Some(87.5);
    let mut resp = Response {
        status,
        ..Response::default()
    };
    resp.headers
        .push("x-ratelimit-remaining", remaining.to_string());
    ex.response = Some(resp);
    ex
}

/// Feeds one round of the forum-thread story: implicit login asking for update:users, an
/// access token without it, a PATCH refused with 403 insufficient scope, an ID token sent to
/// the Management API, and a token endpoint error.
pub fn observe_story(m: &Metrics) {
    m.observe_exchange(
        &exchange("PATCH", 403, 9),
        Api::Management,
        "/api/v2/users/{id}",
    );
    m.observe_exchange(
        &exchange("GET", 401, 8),
        Api::Management,
        "/api/v2/users/{id}",
    );
    m.observe_exchange(
        &exchange("POST", 403, 50),
        Api::Authentication,
        "/oauth/token",
    );

    let authorize = AuthorizeRequest {
        response_type: vec!["token".into(), "id_token".into()],
        scope: vec!["openid".into(), "profile".into(), "update:users".into()],
        audience: Some("https://tenant.example.auth0.com/api/v2/".into()),
        state: Some("state-xyz".into()),
        ..AuthorizeRequest::default()
    };
    let result = AuthorizeResult {
        via: ResultVia::LocationFragment,
        state: Some("state-xyz".into()),
        code: None,
        tokens: TokenSet {
            access_token: Some(jwt(
                TokenRole::Access,
                serde_json::json!({"scope": "openid profile update:current_user_metadata", "iat": 1_700_000_000, "exp": 1_700_007_200}),
            )),
            id_token: Some(jwt(
                TokenRole::Id,
                serde_json::json!({"iat": 1_700_000_000, "exp": 1_700_036_000}),
            )),
            refresh_token: None,
            scope: None,
            expires_in: Some(7200),
            token_type: Some("Bearer".into()),
        },
        error: None,
    };
    let patch = ApiCall {
        api: Api::Management,
        method: "PATCH".into(),
        endpoint: "/api/v2/users/{id}".into(),
        known_endpoint: true,
        accepted_scopes: &[
            "update:users",
            "update:users_app_metadata",
            "update:current_user_metadata",
        ],
        needs_all_scopes: false,
        path_params: vec![],
        body_fields: vec!["app_metadata".into()],
        credential: Credential::Bearer(jwt(
            TokenRole::Access,
            serde_json::json!({"scope": "openid profile update:current_user_metadata"}),
        )),
        status: Some(403),
        error: Some(Auth0Error {
            status_code: Some(403),
            error: Some("Forbidden".into()),
            message: Some(
                "Insufficient scope, expected any of: update:users,update:users_app_metadata"
                    .into(),
            ),
            error_code: Some("insufficient_scope".into()),
        }),
        expected_scopes: Some(vec![
            "update:users".into(),
            "update:users_app_metadata".into(),
        ]),
        ratelimit: Some(RateLimit {
            limit: Some(10),
            remaining: Some(9),
            reset: None,
            retry_after: None,
        }),
    };
    let mut id_as_access = patch.clone();
    id_as_access.method = "GET".into();
    id_as_access.status = Some(401);
    id_as_access.expected_scopes = None;
    id_as_access.error = Some(Auth0Error {
        status_code: Some(401),
        error: Some("Unauthorized".into()),
        message: Some("Invalid token".into()),
        error_code: None,
    });
    let grant = TokenGrant {
        grant_type: Some("client_credentials".into()),
        status: Some(403),
        error: Some(OAuthError {
            error: "access_denied".into(),
            description: Some("Client has not been granted scopes: read:users".into()),
        }),
        ..TokenGrant::default()
    };
    m.observe_pushed(&Pushed {
        events: vec![
            event(302, EventKind::Authorize(authorize)),
            event(302, EventKind::AuthorizeResult(result)),
            event(403, EventKind::ApiCall(patch)),
            event(401, EventKind::ApiCall(id_as_access)),
            event(403, EventKind::TokenGrant(grant)),
        ],
        findings: vec![
            finding("implicit-grant", Severity::Warning),
            finding("scope-not-granted", Severity::Warning),
            finding("insufficient-scope", Severity::Error),
            finding("id-token-as-access-token", Severity::Error),
            finding("token-endpoint-error", Severity::Error),
        ],
    });
    m.add_capture(100, 64_000);
    m.tls_session(true);
    m.set_flows_active(3);
}

/// Sample names and family names (from `# TYPE`) in a text exposition.
pub fn exposition_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.split_whitespace().next() {
                out.insert(name.to_string());
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            out.insert(line[..end].to_string());
        }
    }
    out
}
