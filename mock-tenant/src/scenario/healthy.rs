//! `healthy-spa`: auth0-spa-js style code + PKCE with `audience` and `state`, asking only
//! current_user scopes; every call succeeds. No error finding is expected.
//!
//! Limits: the code_verifier is a fixed test value (PKCE verifiers are normally random).

use serde_json::json;

use crate::scenario::browser::{authorize_url, form, json, Browser};
use crate::scenario::{location_params, need, need_json, Env, ScenarioError, Transport};
use crate::tokens::s256;

/// base64 of `{"name":"auth0-spa-js","version":"2.1.3"}`.
pub const SPA_JS_CLIENT: &str = "eyJuYW1lIjoiYXV0aDAtc3BhLWpzIiwidmVyc2lvbiI6IjIuMS4zIn0=";
pub const CODE_VERIFIER: &str = "Qm9rZW5Tb3VyZG91Z2hTdGFydGVyLTIwMjYtMTEtMjAtdGVzdC1vbmx5";

pub fn run(env: &Env, t: &mut dyn Transport) -> Result<(), ScenarioError> {
    let mut b = Browser::new(env);
    let mgmt = env.management_audience();
    let scope = "openid profile email read:current_user update:current_user_metadata";
    let state = "c3RhdGUtaGVhbHRoeS1zcGEtMDAx";
    let challenge = s256(CODE_VERIFIER);
    let user_url = env.tenant_url(&format!(
        "/api/v2/users/{}",
        url::form_urlencoded::byte_serialize(env.user_id.as_bytes()).collect::<String>()
    ));

    b.navigate(t, "open the app", &format!("{}/", env.app_origin), 200)?;
    let name = "authorize code + PKCE";
    let r = b.navigate(
        t,
        name,
        &authorize_url(
            env,
            &[
                ("client_id", &env.spa_client_id),
                ("scope", scope),
                ("audience", &mgmt),
                ("redirect_uri", &env.redirect_uri),
                ("response_type", "code"),
                ("response_mode", "query"),
                ("state", state),
                ("nonce", "bm9uY2UtaGVhbHRoeS1zcGEtMDAx"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("auth0Client", SPA_JS_CLIENT),
            ],
        ),
        302,
    )?;
    let p = location_params(name, &r)?;
    let code = need(name, &p, "code")?;
    if need(name, &p, "state")? != state {
        return Err(ScenarioError::Missing {
            step: name.into(),
            what: "the same state".into(),
        });
    }
    let cb = r
        .get_header("location")
        .unwrap_or(&env.redirect_uri)
        .to_string();
    b.navigate(t, "callback", &cb, 200)?;
    let name = "token exchange with code_verifier";
    let tok = b.fetch(
        t,
        name,
        "POST",
        &env.tenant_url("/oauth/token"),
        None,
        Some(form(&[
            ("client_id", &env.spa_client_id),
            ("code_verifier", CODE_VERIFIER),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &env.redirect_uri),
        ])),
        200,
    )?;
    let at = need_json(name, &tok, "access_token")?;
    let granted = need_json(name, &tok, "scope")?;
    if granted != scope {
        return Err(ScenarioError::Missing {
            step: name.into(),
            what: format!("all requested scopes (got `{granted}`)"),
        });
    }
    b.fetch(
        t,
        "auth0-spa-js fetches JWKS",
        "GET",
        &env.tenant_url("/.well-known/jwks.json"),
        None,
        None,
        200,
    )?;
    b.fetch(
        t,
        "userinfo",
        "GET",
        &env.tenant_url("/userinfo"),
        Some(&at),
        None,
        200,
    )?;
    t.wait_ms(1_200);
    b.fetch(
        t,
        "read own profile",
        "GET",
        &user_url,
        Some(&at),
        None,
        200,
    )?;
    t.wait_ms(6_000);
    b.fetch(
        t,
        "update own user_metadata",
        "PATCH",
        &user_url,
        Some(&at),
        Some(json(
            &json!({"user_metadata": {"theme": "dark", "signature": "-- sam"}}),
        )),
        200,
    )?;
    Ok(())
}
