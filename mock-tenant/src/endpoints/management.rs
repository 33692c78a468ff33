//! The Management API `/api/v2/users` family: GET /users, GET/PATCH/DELETE /users/{id}.
//!
//! Owns: bearer-token validation in Auth0's order as far as the facts show it, the
//! per-client rate-limit window, scope enforcement from `scopes.rs`, current_user
//! restrictions, and the hapi-style error bodies `{"statusCode","error","message",
//! "errorCode"}` (auth0-facts.md §2.1–§2.4). Must not grant scopes (token issuance decides).
//! Limits: check order (header format → signature → expiry → audience → rate limit → scope)
//! is a guess; user search supports only `q=email:"…"` or a plain substring.

use serde_json::{json, Value};

use crate::config::RateLimit;
use crate::http::{Request, Response};
use crate::scopes::{self, ScopeRow, CURRENT_USER_SCOPES};
use crate::state::Window;
use crate::tenant::Tenant;
use crate::tokens::{self, TokenCheck};

/// Rate limit for clients without an explicit knob (mock default; Auth0's real limits are
/// plan-dependent, §2.4).
pub const DEFAULT_RATE_LIMIT: RateLimit = RateLimit {
    limit: 1000,
    window_secs: 60,
};

/// Auth0's error body in Auth0's field order (`statusCode`, `error`, `message`,
/// `errorCode`, `attributes`), so bodies match the quoted strings byte for byte (§2.1–§2.4).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct MgmtError<'a> {
    status_code: u16,
    error: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attributes: Option<Attributes<'a>>,
}

#[derive(serde::Serialize)]
struct Attributes<'a> {
    error: &'a str,
}

fn mgmt_json(status: u16, e: &MgmtError<'_>) -> Response {
    let mut r = Response::new(status);
    r.headers.push((
        "content-type".into(),
        "application/json; charset=utf-8".into(),
    ));
    r.body = serde_json::to_vec(e).unwrap_or_default();
    r
}

fn error(status: u16, reason: &str, message: &str, code: Option<&str>) -> Response {
    mgmt_json(
        status,
        &MgmtError {
            status_code: status,
            error: reason,
            message,
            error_code: code,
            attributes: None,
        },
    )
}

/// 401 with the `attributes.error` echo seen on Auth0's token-validation 401s (§2.2).
fn unauthorized(message: &str) -> Response {
    // §2.2: WWW-Authenticate "contains Invalid Token"; exact syntax UNCONFIRMED (guess).
    mgmt_json(
        401,
        &MgmtError {
            status_code: 401,
            error: "Unauthorized",
            message,
            error_code: None,
            attributes: Some(Attributes { error: message }),
        },
    )
    .with_header(
        "www-authenticate",
        &format!("Bearer error=\"invalid_token\", error_description=\"{message}\""),
    )
}

/// Exact §2.2 body for a non-JWT bearer value (e.g. the 32-char opaque token).
pub fn bad_header_format() -> Response {
    error(
        400,
        "Bad Request",
        "Bad HTTP authentication header format",
        Some("Bearer"),
    )
}

enum Route {
    Users,
    User(String),
}

fn route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/api/v2/users")?;
    if rest.is_empty() || rest == "/" {
        return Some(Route::Users);
    }
    let id = rest.strip_prefix('/')?;
    if id.is_empty() || id.contains('/') {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(id)
        .decode_utf8()
        .ok()?
        .into_owned();
    Some(Route::User(decoded))
}

fn not_found() -> Response {
    error(404, "Not Found", "Not Found", None)
}

pub fn handle(t: &Tenant, req: &Request) -> Response {
    let method = req.method.to_ascii_uppercase();
    let path = req.path();
    let (template, id) = match route(&path) {
        Some(Route::Users) => ("/api/v2/users", None),
        Some(Route::User(id)) => ("/api/v2/users/{id}", Some(id)),
        None => return not_found(),
    };
    let row = match scopes::lookup(&method, template) {
        Some(r) => r,
        None => return not_found(),
    };

    // --- authentication -------------------------------------------------------------
    let header = match req.get_header("authorization") {
        Some(h) => h.trim(),
        // §2.2: message "Missing authentication"; full body UNCONFIRMED (hapi convention).
        None => return error(401, "Unauthorized", "Missing authentication", None),
    };
    let token = match header.split_once(' ') {
        Some((scheme, tok)) if scheme.eq_ignore_ascii_case("bearer") && !tok.trim().is_empty() => {
            tok.trim()
        }
        _ => return bad_header_format(),
    };
    let claims = match tokens::verify(t.signing_key(), token) {
        Ok(c) => c,
        // §2.2: not a JWT (opaque token, client secret, …) → 400 Bad HTTP auth header format.
        Err(TokenCheck::NotJwt) => return bad_header_format(),
        // §2.2 spec-listed 401 text.
        Err(TokenCheck::BadSignature) => {
            return unauthorized("Invalid signature received for JSON Web Token validation.")
        }
    };
    let now = t.clock().now_secs();
    if claims["exp"].as_i64().map(|e| e <= now).unwrap_or(false) {
        // §2.2 exact body.
        return unauthorized("Expired token received for JSON Web Token validation");
    }
    let mgmt = t.management_audience();
    let auds: Vec<String> = match &claims["aud"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if !auds.contains(&mgmt) {
        let is_client_id = {
            let st = t.lock();
            auds.iter().any(|a| st.client(a).is_some())
        };
        if is_client_id || auds.is_empty() {
            // §2.2 [observed]: an ID token (aud = client id) → 401 "Invalid token".
            return unauthorized("Invalid token");
        }
        // §2.2 [observed] node-auth0#787.
        return unauthorized(&format!("Bad audience: {}", auds.join(" ")));
    }
    if claims["iss"].as_str() != Some(t.issuer().as_str()) {
        // §2.2: another tenant/domain's token is "considered invalid"; wording UNCONFIRMED.
        return unauthorized("Invalid token");
    }

    // --- rate limit -----------------------------------------------------------------
    let client_id = claims["azp"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            claims["sub"]
                .as_str()
                .and_then(|s| s.strip_suffix("@clients"))
                .map(str::to_string)
        })
        .unwrap_or_default();
    let (rl_headers, limited) = rate_limit(t, &client_id, now);
    if limited {
        // §2.4 exact body.
        let mut r = error(
            429,
            "Too Many Requests",
            "Global limit has been reached",
            Some("too_many_requests"),
        );
        r.headers.extend(rl_headers);
        return r;
    }

    // --- scopes ---------------------------------------------------------------------
    let token_scopes: Vec<&str> = claims["scope"]
        .as_str()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let matching: Vec<&str> = row
        .scopes
        .iter()
        .copied()
        .filter(|s| token_scopes.contains(s))
        .collect();
    let mut resp = if matching.is_empty() {
        // §2.3 live wording.
        error(
            403,
            "Forbidden",
            &scopes::insufficient_scope_message(row),
            Some("insufficient_scope"),
        )
    } else {
        let current_user_only = matching.iter().all(|s| CURRENT_USER_SCOPES.contains(s));
        operate(t, req, row, id.as_deref(), &claims, current_user_only)
    };
    resp.headers.extend(rl_headers);
    resp
}

/// Counts one request against the client's window; returns the `x-ratelimit-*` headers
/// (§2.4: limit, remaining, reset as UNIX seconds) and whether the request is refused.
fn rate_limit(t: &Tenant, client_id: &str, now: i64) -> (Vec<(String, String)>, bool) {
    let mut st = t.lock();
    let rl = st
        .client(client_id)
        .and_then(|c| c.rate_limit)
        .unwrap_or(DEFAULT_RATE_LIMIT);
    let key = format!("mgmt:{client_id}");
    let mut w = match st.windows.get(&key) {
        Some(w) if now < w.start + rl.window_secs => *w,
        _ => Window {
            start: now,
            used: 0,
        },
    };
    let limited = w.used >= rl.limit;
    if !limited {
        w.used += 1;
    }
    st.windows.insert(key, w);
    let remaining = rl.limit.saturating_sub(w.used);
    (
        vec![
            ("x-ratelimit-limit".into(), rl.limit.to_string()),
            ("x-ratelimit-remaining".into(), remaining.to_string()),
            (
                "x-ratelimit-reset".into(),
                (w.start + rl.window_secs).to_string(),
            ),
        ],
        limited,
    )
}

fn operate(
    t: &Tenant,
    req: &Request,
    row: &ScopeRow,
    id: Option<&str>,
    claims: &Value,
    current_user_only: bool,
) -> Response {
    let sub = claims["sub"].as_str().unwrap_or("");
    if let Some(id) = id {
        if current_user_only && id != sub {
            // §1.3/§2.3 MGMT-OAS 403 prose; errorCode absent (guess).
            return error(
                403,
                "Forbidden",
                "User to be acted on does not match subject in bearer token.",
                None,
            );
        }
    }
    let mut st = t.lock();
    match (row.method, id) {
        ("GET", None) => {
            let q = req.query_pairs();
            let needle = q
                .iter()
                .find(|(k, _)| k == "q")
                .map(|(_, v)| v.trim_start_matches("email:").trim_matches('"').to_string());
            let users: Vec<Value> = st
                .users
                .iter()
                .filter(|u| match &needle {
                    Some(n) => u.email.contains(n.as_str()) || u.name.contains(n.as_str()),
                    None => true,
                })
                .take(50)
                .map(|u| u.management_view())
                .collect();
            Response::json(200, &Value::Array(users))
        }
        ("GET", Some(id)) => match st.user(id) {
            Some(u) => Response::json(200, &u.management_view()),
            None => user_not_found(),
        },
        ("PATCH", Some(id)) => {
            let body: Value = match serde_json::from_slice(&req.body) {
                Ok(Value::Object(m)) => Value::Object(m),
                // Guess: hapi payload validation error.
                _ => {
                    return error(
                        400,
                        "Bad Request",
                        "Payload validation error: 'Expected type object but found type null'.",
                        Some("invalid_body"),
                    )
                }
            };
            let keys: Vec<&String> = body
                .as_object()
                .map(|m| m.keys().collect())
                .unwrap_or_default();
            if current_user_only && keys.iter().any(|k| k.as_str() != "user_metadata") {
                // §1.3: only user_metadata is editable with update:current_user_metadata;
                // MGMT-OAS prose, exact per-field message UNCONFIRMED.
                return error(
                    403,
                    "Forbidden",
                    "Some fields cannot be updated with the permissions granted by the bearer token scopes.",
                    None,
                );
            }
            let user = match st.user_mut(id) {
                Some(u) => u,
                None => return user_not_found(),
            };
            if let Some(Value::Object(patch)) = body.get("user_metadata") {
                merge(&mut user.user_metadata, patch);
            }
            if let Some(Value::Object(patch)) = body.get("app_metadata") {
                merge(&mut user.app_metadata, patch);
            }
            for field in ["name", "nickname", "picture", "email"] {
                if let Some(Value::String(v)) = body.get(field) {
                    match field {
                        "name" => user.name = v.clone(),
                        "nickname" => user.nickname = v.clone(),
                        "picture" => user.picture = v.clone(),
                        _ => user.email = v.clone(),
                    }
                }
            }
            Response::json(200, &user.management_view())
        }
        ("DELETE", Some(id)) => {
            let before = st.users.len();
            st.users.retain(|u| u.user_id != id);
            if st.users.len() == before {
                return user_not_found();
            }
            Response::new(204)
        }
        _ => not_found(),
    }
}

/// Auth0 merges top-level metadata properties; `null` deletes a property.
fn merge(target: &mut Value, patch: &serde_json::Map<String, Value>) {
    if !target.is_object() {
        *target = json!({});
    }
    if let Some(obj) = target.as_object_mut() {
        for (k, v) in patch {
            if v.is_null() {
                obj.remove(k);
            } else {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Wording recalled from Auth0 responses; not in auth0-facts.md (guess).
fn user_not_found() -> Response {
    error(
        404,
        "Not Found",
        "The user does not exist.",
        Some("inexistent_user"),
    )
}
