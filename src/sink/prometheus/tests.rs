//! Unit tests of `Metrics`: exact exposition lines (STYLE habit 8) and the cardinality guards.

use super::*;
use crate::engine::Pushed;
use crate::model::{
    ApiCall, AuthorizeRequest, AuthorizeResult, Evidence, Jwt, Response, ResultVia, Severity,
    TokenFormat, TokenGrant, TokenRole, Verification,
};

fn at(status: Option<u16>) -> Evidence {
    Evidence {
        input: 0,
        index: 0,
        time: None,
        method: "GET".into(),
        url: "https://t.auth0.com/x".into(),
        status,
    }
}

fn ev(status: Option<u16>, kind: EventKind) -> AuthEvent {
    AuthEvent {
        at: at(status),
        host: "t.auth0.com".into(),
        kind,
    }
}

fn jwt_token(role: TokenRole, claims: serde_json::Value) -> Token {
    Token {
        raw: "eyJ.x.y".into(),
        fingerprint: "000000000000".into(),
        format: TokenFormat::Jwt,
        role,
        jwt: Some(Jwt {
            header: serde_json::json!({"alg": "RS256"}).into(),
            claims: claims.into(),
            verification: Verification::NotVerified,
        }),
    }
}

fn lines(m: &Metrics) -> Vec<String> {
    m.render(false).lines().map(str::to_string).collect()
}

fn has(m: &Metrics, line: &str) -> bool {
    lines(m).iter().any(|l| l == line)
}

fn api_call(status: u16, message: &str, code: &str) -> ApiCall {
    ApiCall {
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
        path_params: vec![("id", "auth0|123".into())],
        body_fields: vec![],
        credential: Credential::Bearer(jwt_token(
            TokenRole::Access,
            serde_json::json!({"scope": "openid update:current_user_metadata"}),
        )),
        status: Some(status),
        error: Some(crate::model::Auth0Error {
            status_code: Some(status),
            error: None,
            message: Some(message.into()),
            error_code: Some(code.into()),
        }),
        expected_scopes: None,
        ratelimit: Some(crate::model::RateLimit {
            limit: Some(10),
            remaining: Some(3),
            reset: None,
            retry_after: None,
        }),
    }
}

#[test]
fn fresh_registry_has_zeroed_alert_series_and_build_info() {
    let m = Metrics::new();
    let want = format!(
        "authtap_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(has(&m, &want));
    assert!(has(
        &m,
        "authtap_findings_total{rule=\"insufficient-scope\",severity=\"error\"} 0"
    ));
    assert!(has(&m, "authtap_tls_sessions_total{decrypted=\"false\"} 0"));
    assert!(has(&m, "authtap_capture_packets_total 0"));
    assert!(has(&m, "authtap_flows_active 0"));
}

#[test]
fn exchange_counts_with_template_and_method_labels() {
    let m = Metrics::new();
    let mut ex = Exchange::default();
    ex.request.method = "patch".into();
    ex.request.url = "https://t.auth0.com/api/v2/users/auth0%7C123".into();
    ex.duration_ms = Some(120.0);
    let mut resp = Response {
        status: 403,
        ..Response::default()
    };
    resp.headers.push("X-RateLimit-Remaining", "7");
    ex.response = Some(resp);
    m.observe_exchange(&ex, Api::Management, "/api/v2/users/{id}");
    m.observe_exchange(&ex, Api::Management, "/api/v2/users/{id}");
    assert!(has(&m, "authtap_http_exchanges_total{api=\"management\",endpoint=\"/api/v2/users/{id}\",method=\"PATCH\",status_class=\"4xx\"} 2"), "{}", m.render(false));
    assert!(has(&m, "authtap_ratelimit_remaining{api=\"management\"} 7"));
    assert!(has(
        &m,
        "authtap_http_request_duration_seconds_bucket{api=\"management\",le=\"0.25\"} 2"
    ));
    assert!(has(
        &m,
        "authtap_http_request_duration_seconds_bucket{api=\"management\",le=\"0.1\"} 0"
    ));
    assert!(has(
        &m,
        "authtap_http_request_duration_seconds_count{api=\"management\"} 2"
    ));

    // A raw path (not a template) never becomes a label value.
    m.observe_exchange(&ex, Api::Other, "/api/v2/users/auth0|123");
    m.observe_exchange(&ex, Api::Other, "other");
    assert!(has(&m, "authtap_http_exchanges_total{api=\"other\",endpoint=\"other\",method=\"PATCH\",status_class=\"4xx\"} 2"));
    assert!(!m.render(false).contains("auth0|123"));
}

#[test]
fn endpoint_label_values_are_capped() {
    let m = Metrics::new();
    let ex = Exchange::default();
    for i in 0..telemetry::ENDPOINT_LABEL_CAP + 5 {
        m.observe_exchange(&ex, Api::Other, &format!("/e{i}"));
    }
    let text = m.render(false);
    let distinct = text
        .lines()
        .filter(|l| l.starts_with("authtap_http_exchanges_total{"))
        .count();
    assert_eq!(
        distinct,
        telemetry::ENDPOINT_LABEL_CAP + 1,
        "cap plus `other`"
    );
    assert!(has(&m, "authtap_http_exchanges_total{api=\"other\",endpoint=\"other\",method=\"other\",status_class=\"none\"} 5"));
    assert!(has(
        &m,
        "authtap_dropped_total{reason=\"label_cap\",stage=\"metrics\"} 5"
    ));
}

#[test]
fn insufficient_scope_failure_and_mismatch() {
    let m = Metrics::new();
    let mut call = api_call(
        403,
        "Insufficient scope, expected any of: update:users,update:users_app_metadata,update:current_user_metadata",
        "insufficient_scope",
    );
    call.expected_scopes = Some(vec![
        "update:users".into(),
        "update:users_app_metadata".into(),
        "update:current_user_metadata".into(),
    ]);
    let pushed = Pushed {
        events: vec![ev(Some(403), EventKind::ApiCall(call))],
        findings: vec![Finding {
            rule: "insufficient-scope",
            severity: Severity::Error,
            title: String::new(),
            explanation: String::new(),
            fix: String::new(),
            flow: None,
            evidence: vec![],
        }],
    };
    m.observe_pushed(&pushed);
    assert!(has(&m, "authtap_auth_failures_total{api=\"management\",endpoint=\"/api/v2/users/{id}\",reason=\"insufficient_scope\",status=\"403\"} 1"), "{}", m.render(false));
    assert!(has(
        &m,
        "authtap_findings_total{rule=\"insufficient-scope\",severity=\"error\"} 1"
    ));
    assert!(has(
        &m,
        "authtap_scope_mismatches_total{kind=\"insufficient\",scope=\"update:users\"} 1"
    ));
    // The token already holds update:current_user_metadata: not counted as missing.
    assert!(!m
        .render(false)
        .contains("scope=\"update:current_user_metadata\""));
    assert!(has(&m, "authtap_ratelimit_remaining{api=\"management\"} 3"));
}

#[test]
fn bad_header_and_unknown_endpoint() {
    let m = Metrics::new();
    let mut call = api_call(400, "Bad HTTP authentication header format", "Bearer");
    call.known_endpoint = false;
    call.endpoint = "/api/v2/users/auth0|999".into();
    m.observe_pushed(&Pushed {
        events: vec![ev(Some(400), EventKind::ApiCall(call))],
        findings: vec![],
    });
    assert!(has(&m, "authtap_auth_failures_total{api=\"management\",endpoint=\"other\",reason=\"bad_header_format\",status=\"400\"} 1"));
}

#[test]
fn implicit_flow_tokens_lifetime_and_not_granted() {
    let m = Metrics::new();
    let req = AuthorizeRequest {
        response_type: vec!["token".into(), "id_token".into()],
        scope: vec!["openid".into(), "update:users".into(), "read:users".into()],
        state: Some("st-1".into()),
        ..AuthorizeRequest::default()
    };
    let tokens = TokenSet {
        access_token: Some(jwt_token(
            TokenRole::Access,
            serde_json::json!({"scope": "openid read:users", "iat": 1000, "exp": 8200}),
        )),
        id_token: Some(jwt_token(
            TokenRole::Id,
            serde_json::json!({"iat": 1000, "exp": 37000}),
        )),
        refresh_token: None,
        scope: None,
        expires_in: Some(7200),
        token_type: Some("Bearer".into()),
    };
    let res = AuthorizeResult {
        via: ResultVia::LocationFragment,
        state: Some("st-1".into()),
        code: None,
        tokens,
        error: None,
    };
    m.observe_pushed(&Pushed {
        events: vec![
            ev(Some(302), EventKind::Authorize(req)),
            ev(Some(302), EventKind::AuthorizeResult(res)),
        ],
        findings: vec![],
    });
    assert!(has(
        &m,
        "authtap_tokens_observed_total{format=\"jwt\",grant=\"implicit\",token=\"access\"} 1"
    ));
    assert!(has(
        &m,
        "authtap_tokens_observed_total{format=\"jwt\",grant=\"implicit\",token=\"id\"} 1"
    ));
    assert!(has(
        &m,
        "authtap_scope_mismatches_total{kind=\"not_granted\",scope=\"update:users\"} 1"
    ));
    assert!(!m.render(false).contains("scope=\"read:users\""));
    assert!(has(&m, "authtap_token_lifetime_seconds_count 2"));
    assert!(has(&m, "authtap_token_lifetime_seconds_sum 43200"));
    assert!(has(
        &m,
        "authtap_token_lifetime_seconds_bucket{le=\"7200\"} 1"
    ));
}

#[test]
fn code_flow_compares_authorize_scope_with_token_response() {
    let m = Metrics::new();
    let req = AuthorizeRequest {
        scope: vec!["openid".into(), "offline_access".into()],
        state: Some("s".into()),
        ..AuthorizeRequest::default()
    };
    let res = AuthorizeResult {
        via: ResultVia::LocationQuery,
        state: Some("s".into()),
        code: Some("the-code".into()),
        tokens: TokenSet::default(),
        error: None,
    };
    let grant = TokenGrant {
        grant_type: Some("authorization_code".into()),
        code: Some("the-code".into()),
        status: Some(200),
        issued: TokenSet {
            access_token: Some(Token {
                raw: "opaque-token-value".into(),
                fingerprint: "x".into(),
                format: TokenFormat::Opaque,
                role: TokenRole::Access,
                jwt: None,
            }),
            scope: Some(vec!["openid".into()]),
            expires_in: Some(86400),
            ..TokenSet::default()
        },
        ..TokenGrant::default()
    };
    m.observe_pushed(&Pushed {
        events: vec![
            ev(Some(302), EventKind::Authorize(req)),
            ev(Some(302), EventKind::AuthorizeResult(res)),
            ev(Some(200), EventKind::TokenGrant(grant)),
        ],
        findings: vec![],
    });
    assert!(has(&m, "authtap_tokens_observed_total{format=\"opaque\",grant=\"authorization_code\",token=\"access\"} 1"));
    assert!(has(
        &m,
        "authtap_scope_mismatches_total{kind=\"not_granted\",scope=\"offline_access\"} 1"
    ));
    assert!(has(&m, "authtap_token_lifetime_seconds_sum 86400"));
}

#[test]
fn token_endpoint_errors_by_reason() {
    let m = Metrics::new();
    let grant = TokenGrant {
        grant_type: Some("client_credentials".into()),
        status: Some(403),
        error: Some(crate::model::OAuthError {
            error: "access_denied".into(),
            description: Some("Client has not been granted scopes: read:users".into()),
        }),
        ..TokenGrant::default()
    };
    m.observe_pushed(&Pushed {
        events: vec![ev(Some(403), EventKind::TokenGrant(grant))],
        findings: vec![],
    });
    assert!(has(&m, "authtap_auth_failures_total{api=\"authentication\",endpoint=\"/oauth/token\",reason=\"access_denied\",status=\"403\"} 1"));
    assert!(has(
        &m,
        "authtap_scope_mismatches_total{kind=\"not_granted\",scope=\"read:users\"} 1"
    ));
}

#[test]
fn capture_health() {
    let m = Metrics::new();
    m.add_capture(10, 1500);
    m.add_capture(5, 500);
    m.set_kernel_drops(3, 0);
    m.set_kernel_drops(7, 1);
    m.set_kernel_drops(7, 1);
    m.tls_session(true);
    m.tls_session(false);
    m.tls_session(false);
    m.set_flows_active(10_000);
    assert!(has(&m, "authtap_capture_packets_total 15"));
    assert!(has(&m, "authtap_capture_bytes_total 2000"));
    assert!(has(
        &m,
        "authtap_dropped_total{reason=\"buffer\",stage=\"kernel\"} 7"
    ));
    assert!(has(
        &m,
        "authtap_dropped_total{reason=\"interface\",stage=\"kernel\"} 1"
    ));
    assert!(has(&m, "authtap_tls_sessions_total{decrypted=\"false\"} 2"));
    assert!(has(&m, "authtap_flows_active 10000"));
}

#[test]
fn openmetrics_shape() {
    let m = Metrics::new();
    m.add_capture(1, 60);
    let om = m.render(true);
    assert!(om.ends_with("# EOF\n"));
    let ls: Vec<&str> = om.lines().collect();
    assert!(ls.contains(&"# TYPE authtap_capture_bytes counter"));
    assert!(ls.contains(&"# UNIT authtap_capture_bytes bytes"));
    assert!(ls.contains(&"authtap_capture_bytes_total 60"));
    assert!(ls.contains(&"# TYPE authtap_build info"));
    assert!(ls.contains(&"# TYPE authtap_token_lifetime_seconds histogram"));
    assert!(ls.contains(&"# UNIT authtap_token_lifetime_seconds seconds"));
    assert!(ls.contains(&"authtap_token_lifetime_seconds_bucket{le=\"60.0\"} 0"));
    assert!(ls.contains(&"authtap_token_lifetime_seconds_sum 0.0"));
    assert!(!om.contains("\r"));
    // Text format never carries the OpenMetrics terminator.
    assert!(!m.render(false).contains("# EOF"));
}

#[test]
fn textfile_is_written_atomically() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let path = dir.path().join("authtap.prom");
    let m = Metrics::new();
    m.add_capture(2, 3);
    m.write_textfile(&path)
        .unwrap_or_else(|e| panic!("write: {e}"));
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(text.lines().any(|l| l == "authtap_capture_packets_total 2"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
    let err = m.write_textfile(&dir.path().join("missing-dir/x.prom"));
    assert!(matches!(err, Err(TextfileError::Create { .. })));
}

#[test]
fn cumulative_totals_are_synced_as_increases() {
    let m = Metrics::new();
    m.sync_capture_totals(100, 5000);
    m.sync_capture_totals(150, 7000);
    m.sync_dropped_total(DropStage::Tcp, DropReason::Gap, 2);
    m.sync_dropped_total(DropStage::Tcp, DropReason::Gap, 5);
    m.sync_dropped_total(DropStage::Flows, DropReason::TableFull, 1);
    m.sync_tls_sessions(4, 1);
    m.sync_tls_sessions(10, 3);
    assert!(has(&m, "authtap_capture_packets_total 150"));
    assert!(has(&m, "authtap_capture_bytes_total 7000"));
    assert!(has(
        &m,
        "authtap_dropped_total{reason=\"gap\",stage=\"tcp\"} 5"
    ));
    assert!(has(
        &m,
        "authtap_dropped_total{reason=\"table_full\",stage=\"flows\"} 1"
    ));
    assert!(has(&m, "authtap_tls_sessions_total{decrypted=\"true\"} 7"));
    assert!(has(&m, "authtap_tls_sessions_total{decrypted=\"false\"} 3"));
}
