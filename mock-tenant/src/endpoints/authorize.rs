//! `GET /authorize`: implicit (`token`, `id_token`, `token id_token`), code, code + PKCE,
//! response modes query / fragment / form_post / web_message, and the error redirects.
//!
//! Owns: parameter validation and how the result travels back (auth0-facts.md §3.1 "How
//! results come back", §2.6 errors). Must not authenticate users: the SSO session user is
//! assumed (see tenant.rs). Limits: no `prompt=none` session checks beyond "no session user
//! → login_required"; no organizations, no consent screen.

use serde_json::json;

use crate::endpoints::html_escape;
use crate::http::{Request, Response};
use crate::state::CodeGrant;
use crate::tenant::{param, split_scope, Tenant, UserGrant};
use crate::tokens;

/// Authorization codes live 10 minutes (guess; Auth0 does not document the value in
/// auth0-facts.md).
const CODE_LIFETIME: i64 = 600;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Query,
    Fragment,
    FormPost,
    WebMessage,
}

pub fn handle(t: &Tenant, req: &Request) -> Response {
    let q = req.query_pairs();
    let client_id = param(&q, "client_id").unwrap_or("");
    let response_type = param(&q, "response_type").unwrap_or("");
    let redirect_uri = param(&q, "redirect_uri").unwrap_or("");
    let state = param(&q, "state");
    let nonce = param(&q, "nonce");
    let audience = param(&q, "audience").filter(|a| !a.is_empty());
    let requested = split_scope(param(&q, "scope").unwrap_or("openid"));
    let rt: Vec<&str> = response_type.split_whitespace().collect();

    let mut st = t.lock();
    let client = match st.client(client_id) {
        Some(c) => c.clone(),
        // Guess: an error page (no redirect) for an unknown client; wording not confirmed.
        None => {
            return error_page(
                400,
                "invalid_request",
                &format!("Unknown client: {client_id}"),
            )
        }
    };
    // §2.6: redirect_uri not allowed → error page, no redirect.
    if !client.callbacks.iter().any(|c| c == redirect_uri) {
        return error_page(
            400,
            "unauthorized_client",
            "Callback URL mismatch. The provided redirect_uri is not in the list of allowed callback URLs.",
        );
    }
    let implicit = rt.contains(&"token") || rt.contains(&"id_token");
    let mode = match param(&q, "response_mode") {
        Some("form_post") => Mode::FormPost,
        Some("web_message") => Mode::WebMessage,
        Some("query") => Mode::Query,
        Some("fragment") => Mode::Fragment,
        _ if implicit => Mode::Fragment,
        _ => Mode::Query,
    };
    let origin_of_redirect = url::Url::parse(redirect_uri)
        .ok()
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let send_error = |code: &str, desc: &str| {
        let mut pairs = vec![
            ("error".to_string(), code.to_string()),
            ("error_description".to_string(), desc.to_string()),
        ];
        if let Some(s) = state {
            pairs.push(("state".into(), s.into()));
        }
        deliver(mode, redirect_uri, &origin_of_redirect, &pairs)
    };

    let known_types = ["code", "token", "id_token"];
    if rt.is_empty() || rt.iter().any(|r| !known_types.contains(r)) {
        return send_error(
            "unsupported_response_type",
            &format!("Unsupported response type: {response_type}"),
        );
    }
    // OIDC: implicit id_token requests need a nonce (§4.3 "required for implicit").
    // Wording is a guess.
    if rt.contains(&"id_token") && nonce.is_none() {
        return send_error("invalid_request", "Missing required parameter: nonce");
    }
    // §2.6: unknown audience → access_denied "Service not found: <aud>" via redirect.
    if let Some(aud) = audience {
        if st.api(aud).is_none() {
            return send_error("access_denied", &format!("Service not found: {aud}"));
        }
    }
    let user_id = match st.session_user.clone() {
        Some(u) => u,
        // §2.6 silent-auth code; the mock has no login page, so every request without a
        // session is answered this way.
        None => return send_error("login_required", "Login required"),
    };
    let granted = Tenant::grant_user_scopes(&st, &requested, audience);

    let mut pairs: Vec<(String, String)> = Vec::new();
    if rt.contains(&"code") {
        let r = st.next_random("code");
        let code = tokens::random_string(&r, 16);
        st.codes.insert(
            code.clone(),
            CodeGrant {
                client_id: client.client_id.clone(),
                redirect_uri: redirect_uri.to_string(),
                user_id: user_id.clone(),
                scope: granted.clone(),
                audience: audience.map(str::to_string),
                nonce: nonce.map(str::to_string),
                code_challenge: param(&q, "code_challenge").map(str::to_string),
                code_challenge_method: param(&q, "code_challenge_method").map(str::to_string),
                expires_at: t.clock().now_secs() + CODE_LIFETIME,
            },
        );
        pairs.push(("code".into(), code));
    }
    if rt.contains(&"token") || rt.contains(&"id_token") {
        let issued = t.issue_user_tokens(
            &mut st,
            &UserGrant {
                client: &client,
                user_id: &user_id,
                scope: &granted,
                audience,
                nonce,
                implicit: true,
                want_access: rt.contains(&"token"),
                want_id: rt.contains(&"id_token"),
                gty: None,
            },
        );
        if let Some(at) = issued.access_token {
            pairs.push(("access_token".into(), at));
            // The granted scope is returned, silently narrower than the request (§1.3).
            pairs.push(("scope".into(), issued.scope.join(" ")));
            pairs.push(("expires_in".into(), issued.expires_in.to_string()));
            pairs.push(("token_type".into(), "Bearer".into()));
        }
        if let Some(s) = state {
            pairs.push(("state".into(), s.into()));
        }
        if let Some(it) = issued.id_token {
            pairs.push(("id_token".into(), it));
        }
    } else if let Some(s) = state {
        pairs.push(("state".into(), s.into()));
    }
    let session = {
        let r = st.next_random("session");
        tokens::random_string(&r, 32)
    };
    drop(st);
    deliver(mode, redirect_uri, &origin_of_redirect, &pairs)
        // Auth0 sets its session cookies on /authorize (cookie names per Auth0's cookie docs;
        // attributes are a guess).
        .with_header(
            "set-cookie",
            &format!("auth0={session}; Path=/; Expires=Wed, 30 Dec 2026 10:00:00 GMT; HttpOnly; Secure; SameSite=None"),
        )
        .with_header(
            "set-cookie",
            &format!("auth0_compat={session}; Path=/; Expires=Wed, 30 Dec 2026 10:00:00 GMT; HttpOnly; Secure"),
        )
}

fn encode(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn deliver(mode: Mode, redirect_uri: &str, origin: &str, pairs: &[(String, String)]) -> Response {
    match mode {
        Mode::Query => {
            let sep = if redirect_uri.contains('?') { '&' } else { '?' };
            redirect(&format!("{redirect_uri}{sep}{}", encode(pairs)))
        }
        Mode::Fragment => redirect(&format!("{redirect_uri}#{}", encode(pairs))),
        Mode::FormPost => {
            // §3.1: 200 HTML page, hidden fields, form action = redirect_uri, auto-submitted.
            let inputs: String = pairs
                .iter()
                .map(|(k, v)| {
                    format!(
                        "<input type=\"hidden\" name=\"{}\" value=\"{}\" />",
                        html_escape(k),
                        html_escape(v)
                    )
                })
                .collect();
            Response::html(
                200,
                format!(
                    "<html><head><title>Submit This Form</title></head><body onload=\"javascript:document.forms[0].submit()\"><form method=\"post\" action=\"{}\">{inputs}</form></body></html>",
                    html_escape(redirect_uri)
                ),
            )
            .with_header("cache-control", "no-cache, no-store")
        }
        Mode::WebMessage => {
            // §2.6: postMessage {type:'authorization_response', response:{…}}. Minimal page.
            let mut resp = serde_json::Map::new();
            for (k, v) in pairs {
                resp.insert(k.clone(), json!(v));
            }
            let msg = json!({"type": "authorization_response", "response": resp});
            // Escape `<` so the JSON cannot close the script element.
            let msg_text = msg.to_string().replace('<', "\\u003c");
            let origin_js = json!(origin).to_string().replace('<', "\\u003c");
            Response::html(
                200,
                format!(
                    "<!DOCTYPE html><html><head><title>Authorization Response</title></head><body><script type=\"text/javascript\">(function(window, document) {{ var targetOrigin = {origin_js}; var authorizationResponse = {msg_text}; window.parent.postMessage(authorizationResponse, targetOrigin); }})(this, this.document);</script></body></html>"
                ),
            )
            .with_header("cache-control", "no-cache, no-store")
        }
    }
}

fn redirect(location: &str) -> Response {
    let mut r = Response::html(
        302,
        format!("Found. Redirecting to {}", html_escape(location)),
    );
    r.headers.push(("location".into(), location.to_string()));
    r
}

fn error_page(status: u16, code: &str, desc: &str) -> Response {
    Response::html(
        status,
        format!(
            "<!DOCTYPE html><html><head><title>Error</title></head><body><h1>Oops!, something went wrong</h1><p>{}: {}</p></body></html>",
            html_escape(code),
            html_escape(desc)
        ),
    )
}
