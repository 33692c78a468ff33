//! `forum-thread`: the community-forum journey of a developer using auth0.js's implicit
//! grant against the Management API (see fixtures/README.md for the expected findings).
//!
//! Steps: implicit `token id_token` without audience → opaque token; /userinfo works; the ID
//! token sent to PATCH /api/v2/users/{id} → 401 "Invalid token"; the opaque token → 400 "Bad
//! HTTP authentication header format"; an audience that is not registered → access_denied
//! "Service not found"; with the Management API audience asking `update:users` → granted
//! `openid profile email` → 403; with `update:current_user_metadata` → 200. Every ID token
//! carries app_metadata with a CouchDB password (profile `Forum`).

use serde_json::json;

use crate::scenario::browser::{authorize_url, json, Browser};
use crate::scenario::{location_params, need, Env, ScenarioError, Transport};

/// base64 of `{"name":"auth0.js","version":"9.24.1"}` (auth0.js sends it as `auth0Client`).
pub const AUTH0JS_CLIENT: &str = "eyJuYW1lIjoiYXV0aDAuanMiLCJ2ZXJzaW9uIjoiOS4yNC4xIn0=";

fn implicit(env: &Env, scope: &str, audience: Option<&str>, state: &str, nonce: &str) -> String {
    let mut p: Vec<(&str, &str)> = vec![
        ("client_id", &env.spa_client_id),
        ("response_type", "token id_token"),
        ("redirect_uri", &env.redirect_uri),
        ("scope", scope),
    ];
    if let Some(a) = audience {
        p.push(("audience", a));
    }
    p.push(("state", state));
    p.push(("nonce", nonce));
    p.push(("auth0Client", AUTH0JS_CLIENT));
    authorize_url(env, &p)
}

pub fn run(env: &Env, t: &mut dyn Transport) -> Result<(), ScenarioError> {
    let mut b = Browser::new(env);
    let user_url = env.tenant_url(&format!(
        "/api/v2/users/{}",
        url::form_urlencoded::byte_serialize(env.user_id.as_bytes()).collect::<String>()
    ));
    let patch_body = json!({"user_metadata": {"theme": "dark"}});
    let mgmt = env.management_audience();

    b.navigate(
        t,
        "open the forum app",
        &format!("{}/", env.app_origin),
        200,
    )?;

    // 1. auth0.js implicit login without audience → opaque access token.
    let name = "authorize implicit, no audience";
    let r = b.navigate(
        t,
        name,
        &implicit(
            env,
            "openid profile email",
            None,
            "hT9cWq2LmX4vB7nZ",
            "n8Yd3Kp6Rs1Tq5Wz",
        ),
        302,
    )?;
    let p = location_params(name, &r)?;
    let opaque = need(name, &p, "access_token")?;
    let id_token = need(name, &p, "id_token")?;
    b.navigate(t, "callback", &env.redirect_uri, 200)?;
    b.fetch(
        t,
        "auth0.js fetches JWKS",
        "GET",
        &env.tenant_url("/.well-known/jwks.json"),
        None,
        None,
        200,
    )?;
    b.fetch(
        t,
        "userinfo with the opaque token",
        "GET",
        &env.tenant_url("/userinfo"),
        Some(&opaque),
        None,
        200,
    )?;
    t.wait_ms(2_500);

    // 2. ID token as bearer → 401 Invalid token.
    b.fetch(
        t,
        "PATCH user with the ID token",
        "PATCH",
        &user_url,
        Some(&id_token),
        Some(json(&patch_body)),
        401,
    )?;
    t.wait_ms(4_000);
    // 3. Opaque token → 400 Bad HTTP authentication header format.
    b.fetch(
        t,
        "PATCH user with the opaque token",
        "PATCH",
        &user_url,
        Some(&opaque),
        Some(json(&patch_body)),
        400,
    )?;
    t.wait_ms(30_000);

    // 4. An audience that is not an API of this tenant → access_denied "Service not found".
    let name = "authorize with an unregistered audience";
    let r = b.navigate(
        t,
        name,
        &implicit(
            env,
            "openid profile email",
            Some(&env.unknown_audience),
            "Pz4rN8tQ1wYc6Vb3",
            "Lm2Xk7Hd9Fs4Gj1Q",
        ),
        302,
    )?;
    let p = location_params(name, &r)?;
    if need(name, &p, "error")? != "access_denied" {
        return Err(ScenarioError::Missing {
            step: name.into(),
            what: "error=access_denied".into(),
        });
    }
    b.navigate(t, "callback with error", &env.redirect_uri, 200)?;
    t.wait_ms(20_000);

    // 5. Management API audience asking update:users → silently narrowed → 403.
    let name = "authorize with audience, asking update:users";
    let r = b.navigate(
        t,
        name,
        &implicit(
            env,
            "openid profile email update:users",
            Some(&mgmt),
            "Wq8Ze3Rt6Yu1Io4P",
            "Aa5Ss2Dd8Ff3Gg6H",
        ),
        302,
    )?;
    let p = location_params(name, &r)?;
    let narrowed = need(name, &p, "access_token")?;
    if need(name, &p, "scope")? != "openid profile email" {
        return Err(ScenarioError::Missing {
            step: name.into(),
            what: "scope narrowed to `openid profile email`".into(),
        });
    }
    b.navigate(t, "callback", &env.redirect_uri, 200)?;
    b.fetch(
        t,
        "PATCH user with the narrowed token",
        "PATCH",
        &user_url,
        Some(&narrowed),
        Some(json(&patch_body)),
        403,
    )?;
    t.wait_ms(45_000);

    // 6. The fix: ask for update:current_user_metadata → 200.
    let name = "authorize with audience, asking update:current_user_metadata";
    let r = b.navigate(
        t,
        name,
        &implicit(
            env,
            "openid profile email update:current_user_metadata",
            Some(&mgmt),
            "Ee7Rr4Tt1Yy8Uu5I",
            "Oo3Pp9Ll2Kk6Jj4H",
        ),
        302,
    )?;
    let p = location_params(name, &r)?;
    let good = need(name, &p, "access_token")?;
    b.navigate(t, "callback", &env.redirect_uri, 200)?;
    b.fetch(
        t,
        "PATCH user_metadata with the right scope",
        "PATCH",
        &user_url,
        Some(&good),
        Some(json(&patch_body)),
        200,
    )?;
    Ok(())
}
