//! OIDC surfaces: `/userinfo`, `/.well-known/openid-configuration` (JWKS lives in keys.rs).
//!
//! Owns: bearer-token checks for `/userinfo` (opaque or JWT with the userinfo audience) and
//! the discovery document (fields from the captured Auth0 document, auth0-facts.md §3.3
//! [RP-JWT]). Must not serve Management API semantics. Limits: no `x-ratelimit-*` headers on
//! /userinfo; the 401 body (`Unauthorized`, plain text) is a guess.

use serde_json::{json, Value};

use crate::http::{Request, Response};
use crate::tenant::Tenant;
use crate::tokens;

fn unauthorized() -> Response {
    let mut r = Response::new(401);
    r.headers
        .push(("content-type".into(), "text/plain; charset=utf-8".into()));
    r.headers.push((
        "www-authenticate".into(),
        "Bearer error=\"invalid_token\", error_description=\"Invalid token\"".into(),
    ));
    r.body = b"Unauthorized".to_vec();
    r
}

pub fn userinfo(t: &Tenant, req: &Request) -> Response {
    let token = match req
        .get_header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
    {
        Some(tok) => tok.trim().to_string(),
        None => return unauthorized(),
    };
    let now = t.clock().now_secs();
    let (user_id, scope) = if token.contains('.') {
        let claims = match tokens::verify(t.signing_key(), &token) {
            Ok(c) => c,
            Err(_) => return unauthorized(),
        };
        let ua = t.userinfo_audience();
        let aud_ok = match &claims["aud"] {
            Value::String(s) => *s == ua,
            Value::Array(a) => a.iter().any(|v| v.as_str() == Some(ua.as_str())),
            _ => false,
        };
        let exp_ok = claims["exp"].as_i64().map(|e| e > now).unwrap_or(false);
        if !aud_ok || !exp_ok {
            return unauthorized();
        }
        (
            claims["sub"].as_str().unwrap_or("").to_string(),
            claims["scope"].as_str().unwrap_or("").to_string(),
        )
    } else {
        let st = t.lock();
        match st.opaque.get(&token) {
            Some(o) if o.expires_at > now => (o.user_id.clone(), o.scope.join(" ")),
            _ => return unauthorized(),
        }
    };
    // §3.3: works only if `openid` was granted.
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    if !scopes.contains(&"openid") {
        return unauthorized();
    }
    let st = t.lock();
    let user = match st.user(&user_id) {
        Some(u) => u.clone(),
        None => return unauthorized(),
    };
    let mut body = serde_json::Map::new();
    body.insert("sub".into(), json!(user.user_id));
    if scopes.contains(&"profile") {
        body.insert("nickname".into(), json!(user.nickname));
        body.insert("name".into(), json!(user.name));
        body.insert("picture".into(), json!(user.picture));
        body.insert("updated_at".into(), json!(user.created_at));
    }
    if scopes.contains(&"email") {
        body.insert("email".into(), json!(user.email));
        body.insert("email_verified".into(), json!(true));
    }
    // §3.3: custom claims are also returned by /userinfo.
    if let Some(c) = &st.app_metadata_claim {
        body.insert(c.claim.clone(), user.app_metadata.clone());
    }
    Response::json(200, &Value::Object(body))
}

pub fn discovery(t: &Tenant) -> Response {
    let base = format!("https://{}", t.domain());
    Response::json(
        200,
        &json!({
            "issuer": t.issuer(),
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/oauth/token"),
            "device_authorization_endpoint": format!("{base}/oauth/device/code"),
            "userinfo_endpoint": format!("{base}/userinfo"),
            "mfa_challenge_endpoint": format!("{base}/mfa/challenge"),
            "jwks_uri": format!("{base}/.well-known/jwks.json"),
            "registration_endpoint": format!("{base}/oidc/register"),
            "revocation_endpoint": format!("{base}/oauth/revoke"),
            "scopes_supported": ["openid","profile","offline_access","name","given_name","family_name","nickname","email","email_verified","picture","created_at","identities","phone","address"],
            "response_types_supported": ["code","token","id_token","code token","code id_token","token id_token","code token id_token"],
            "code_challenge_methods_supported": ["S256","plain"],
            "response_modes_supported": ["query","fragment","form_post"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["HS256","RS256","PS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic","client_secret_post","private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256","RS384","PS256"],
            "claims_supported": ["aud","auth_time","created_at","email","email_verified","exp","family_name","given_name","iat","identities","iss","name","nickname","phone_number","picture","sub"],
            "request_uri_parameter_supported": false,
            "request_parameter_supported": false,
            "end_session_endpoint": format!("{base}/oidc/logout")
        }),
    )
}
