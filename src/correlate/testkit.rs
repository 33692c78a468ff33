//! Test-only builders for hand-made `AuthEvent`s and tokens (correlation and rule tests).
//!
//! Tokens are built as real compact JWS strings (base64url header and claims, fake signature) so
//! fingerprints and raw values behave like the wire; `jwt` is filled in directly, without the
//! decoder. Not compiled outside `cfg(test)`.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::model::{
    fingerprint, Api, ApiCall, Auth0Error, AuthEvent, AuthorizeRequest, AuthorizeResult,
    Credential, EventKind, Evidence, Jwt, ResultVia, Token, TokenFormat, TokenGrant, TokenRole,
    TokenSet, Verification,
};

pub const HOST: &str = "dev-forum.us.auth0.com";
pub const CLIENT: &str = "AbCdEfGh12345678SpaClient";
/// Request time of every built exchange, Unix seconds.
pub const NOW: i64 = 1_800_000_000;

pub fn mgmt_aud() -> String {
    format!("https://{HOST}/api/v2/")
}

pub fn evidence(index: usize, method: &str, url: &str, status: Option<u16>) -> Evidence {
    Evidence {
        input: 0,
        index,
        time: Some(NOW * 1_000_000 + index as i64 * 1_000),
        method: method.to_string().into(),
        url: url.to_string(),
        status,
    }
}

pub fn ev(
    index: usize,
    method: &str,
    path: &str,
    status: Option<u16>,
    kind: EventKind,
) -> AuthEvent {
    AuthEvent {
        at: evidence(index, method, &format!("https://{HOST}{path}"), status),
        host: HOST.into(),
        kind,
    }
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

pub fn jwt_token(header: Value, claims: Value, role: TokenRole) -> Token {
    let raw = format!("{}.{}.c2lnbmF0dXJlLW5vdC1yZWFs", b64(&header), b64(&claims));
    let verification = if header.get("alg").and_then(|a| a.as_str()) == Some("none") {
        Verification::Unsigned
    } else {
        Verification::NotVerified
    };
    Token {
        fingerprint: fingerprint(&raw),
        raw: raw.into(),
        format: TokenFormat::Jwt,
        role,
        jwt: Some(Jwt {
            header: header.into(),
            claims: claims.into(),
            verification,
        }),
    }
}

pub fn rs256() -> Value {
    json!({"alg": "RS256", "typ": "JWT", "kid": "test-key-1"})
}

/// A user access token for `aud` with `scope`.
pub fn access_jwt(aud: &str, scope: &str) -> Token {
    jwt_token(
        rs256(),
        json!({
            "iss": format!("https://{HOST}/"),
            "sub": "auth0|5f1a2b3c4d5e6f7a8b9c0d1e",
            "aud": [aud, format!("https://{HOST}/userinfo")],
            "azp": CLIENT,
            "iat": NOW - 60,
            "exp": NOW + 7200,
            "scope": scope,
        }),
        TokenRole::Access,
    )
}

/// An M2M access token (client_credentials).
pub fn m2m_jwt(aud: &str, scope: &str, exp: i64) -> Token {
    jwt_token(
        rs256(),
        json!({
            "iss": format!("https://{HOST}/"),
            "sub": "M2mBackendClient0001@clients",
            "aud": aud,
            "azp": "M2mBackendClient0001",
            "iat": exp - 86400,
            "exp": exp,
            "scope": scope,
            "gty": "client-credentials",
        }),
        TokenRole::Access,
    )
}

/// An ID token, with extra claims merged in.
pub fn id_jwt(extra: Value) -> Token {
    let mut claims = json!({
        "iss": format!("https://{HOST}/"),
        "sub": "auth0|5f1a2b3c4d5e6f7a8b9c0d1e",
        "aud": CLIENT,
        "iat": NOW - 60,
        "exp": NOW + 36000,
        "nonce": "n-0S6_WzA2Mj",
        "name": "Jane Doe",
        "email": "jane@example.com",
    });
    if let (Some(c), Value::Object(e)) = (claims.as_object_mut(), extra) {
        c.extend(e);
    }
    jwt_token(rs256(), claims, TokenRole::Id)
}

/// A newer-style opaque token (JWE, `alg: dir`).
pub fn jwe_token() -> Token {
    let header = json!({"alg": "dir", "enc": "A256GCM", "iss": format!("https://{HOST}/")});
    let raw = format!(
        "{}..bGRvaGdyX0FsNm1YMGFabg.UzhJQUhCX2NpcGhlcnRleHQ.SG1heFdpWjhQRTBrOHBGOA",
        b64(&header)
    );
    Token {
        fingerprint: fingerprint(&raw),
        raw: raw.into(),
        format: TokenFormat::Jwe,
        role: TokenRole::Access,
        jwt: None,
    }
}

pub fn opaque_token(raw: &str, role: TokenRole) -> Token {
    Token {
        raw: raw.into(),
        fingerprint: fingerprint(raw),
        format: TokenFormat::Opaque,
        role,
        jwt: None,
    }
}

pub fn authorize(
    state: Option<&str>,
    response_type: &str,
    scope: &str,
    audience: Option<&str>,
) -> AuthorizeRequest {
    AuthorizeRequest {
        client_id: Some(CLIENT.to_string()),
        response_type: response_type
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        redirect_uri: Some("http://localhost:3000/callback".to_string()),
        scope: scope.split_whitespace().map(str::to_string).collect(),
        audience: audience.map(str::to_string),
        state: state.map(str::to_string),
        nonce: Some("n-0S6_WzA2Mj".to_string()),
        ..AuthorizeRequest::default()
    }
}

pub fn implicit_result(
    state: &str,
    access: Option<Token>,
    id: Option<Token>,
    scope: Option<&str>,
) -> AuthorizeResult {
    AuthorizeResult {
        via: ResultVia::LocationFragment,
        state: Some(state.to_string()),
        code: None,
        tokens: TokenSet {
            access_token: access,
            id_token: id,
            refresh_token: None,
            scope: scope.map(|s| s.split_whitespace().map(str::to_string).collect()),
            expires_in: Some(7200),
            token_type: Some("Bearer".to_string()),
        },
        error: None,
    }
}

pub fn code_result(state: &str, code: &str) -> AuthorizeResult {
    AuthorizeResult {
        via: ResultVia::LocationQuery,
        state: Some(state.to_string()),
        code: Some(code.to_string()),
        tokens: TokenSet::default(),
        error: None,
    }
}

pub fn code_grant(code: &str, verifier: bool, secret: bool, issued: TokenSet) -> TokenGrant {
    TokenGrant {
        grant_type: Some("authorization_code".to_string()),
        client_id: Some(CLIENT.to_string()),
        client_secret_present: secret,
        code: Some(code.to_string()),
        code_verifier_present: verifier,
        redirect_uri: Some("http://localhost:3000/callback".to_string()),
        status: Some(200),
        issued,
        ..TokenGrant::default()
    }
}

pub fn token_set(access: Option<Token>, id: Option<Token>, scope: Option<&str>) -> TokenSet {
    TokenSet {
        access_token: access,
        id_token: id,
        refresh_token: None,
        scope: scope.map(|s| s.split_whitespace().map(str::to_string).collect()),
        expires_in: Some(86400),
        token_type: Some("Bearer".to_string()),
    }
}

/// A Management API call; `accepted` are the catalogue scopes of the endpoint.
pub fn mgmt_call(
    method: &str,
    endpoint: &str,
    accepted: &'static [&'static str],
    credential: Credential,
    status: Option<u16>,
) -> ApiCall {
    ApiCall {
        api: Api::Management,
        method: method.to_string().into(),
        endpoint: endpoint.to_string().into(),
        known_endpoint: true,
        accepted_scopes: accepted,
        needs_all_scopes: false,
        path_params: vec![("id", "auth0|5f1a2b3c4d5e6f7a8b9c0d1e".to_string())],
        body_fields: Vec::new(),
        credential,
        status,
        error: None,
        expected_scopes: None,
        ratelimit: None,
    }
}

pub fn auth0_error(status: u16, error: &str, message: &str, code: Option<&str>) -> Auth0Error {
    Auth0Error {
        status_code: Some(status),
        error: Some(error.to_string()),
        message: Some(message.to_string()),
        error_code: code.map(str::to_string),
    }
}

pub const PATCH_USER: &[&str] = &[
    "update:users",
    "update:users_app_metadata",
    "update:current_user_metadata",
];
pub const USER_PATH: &str = "/api/v2/users/auth0%7C5f1a2b3c4d5e6f7a8b9c0d1e";
