//! Auth0 error bodies and rate-limit headers.
//!
//! Owns parsing of: Management API errors `{statusCode, error, message, errorCode}` (auth0-facts.md
//! §2.1, with the hapi `attributes.error` variant of §2.2); OAuth errors `{error,
//! error_description}` (§2.5) and the `/dbconnections` shape `{code, description}` (§3.3); the
//! `WWW-Authenticate: Bearer error=...` header; every 403 "Insufficient scope" wording (§2.3)
//! with a tolerant regex; `x-ratelimit-*`, `Retry-After` and `Auth0-RateLimit` headers (§2.4).
//! Must not decide what an error means for the user (that is `diagnose`). Known limits: bodies
//! over `MAX_JSON` bytes are not parsed; HTML error pages are only scanned for OAuth error codes.

use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use crate::model::{Auth0Error, Headers, OAuthError, RateLimit};

/// Largest body parsed as JSON here (Management API payloads are ≤ 1 MB, §1.5).
pub const MAX_JSON: usize = 2 * 1024 * 1024;

/// Parse a JSON object body, if it is one and not too large.
pub fn json_object(body: &[u8]) -> Option<serde_json::Map<String, Value>> {
    if body.len() > MAX_JSON {
        return None;
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    match serde_json::from_slice::<Value>(body).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn s(map: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Management API error body (§2.1). Needs at least `message`, `error` or `errorCode`.
pub fn parse_mgmt_error(body: &[u8]) -> Option<Auth0Error> {
    let m = json_object(body)?;
    let message = s(&m, "message").or_else(|| {
        m.get("attributes")
            .and_then(|a| a.get("error"))
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let err = Auth0Error {
        status_code: m
            .get("statusCode")
            .and_then(Value::as_u64)
            .and_then(|n| u16::try_from(n).ok()),
        error: s(&m, "error"),
        message,
        error_code: s(&m, "errorCode"),
    };
    (err.message.is_some() || err.error.is_some() || err.error_code.is_some()).then_some(err)
}

/// OAuth error from a JSON body: `{error, error_description}`, or `{code, description}` as the
/// `/dbconnections` endpoints answer. `error` must be a string (Management bodies use `error` for
/// the HTTP reason phrase, so callers pick the parser by endpoint).
pub fn parse_oauth_error(body: &[u8]) -> Option<OAuthError> {
    let m = json_object(body)?;
    if let Some(error) = s(&m, "error") {
        return Some(OAuthError {
            error,
            description: s(&m, "error_description").or_else(|| s(&m, "message")),
        });
    }
    let code = s(&m, "code")?;
    Some(OAuthError {
        error: code,
        description: s(&m, "description").or_else(|| s(&m, "message")),
    })
}

/// OAuth error codes Auth0 renders on HTML error pages (§2.6).
const PAGE_ERRORS: &[&str] = &[
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "login_required",
    "consent_required",
    "interaction_required",
    "too_many_requests",
];

/// An OAuth error read from an HTML error page (no redirect), e.g. "Callback URL mismatch"
/// (§2.6), which Auth0 reports as `unauthorized_client`.
pub fn parse_error_page(html: &str) -> Option<OAuthError> {
    if html.contains("Callback URL mismatch") {
        return Some(OAuthError {
            error: "unauthorized_client".into(),
            description: Some(
                "Callback URL mismatch. The provided redirect_uri is not in the list of allowed callback URLs."
                    .into(),
            ),
        });
    }
    let code = PAGE_ERRORS.iter().find(|c| html.contains(**c))?;
    Some(OAuthError {
        error: (*code).to_string(),
        description: None,
    })
}

/// `WWW-Authenticate: Bearer error="invalid_token", error_description="..."` → (error, description, scope).
pub fn parse_www_authenticate(value: &str) -> Option<(String, Option<String>, Option<String>)> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = RE
        .get_or_init(|| Regex::new(r#"(?i)\b(error|error_description|scope)\s*=\s*"([^"]*)""#).ok())
        .as_ref()?;
    let (mut error, mut desc, mut scope) = (None, None, None);
    for c in re.captures_iter(value) {
        let (Some(k), Some(v)) = (c.get(1), c.get(2)) else {
            continue;
        };
        let v = v.as_str().to_string();
        match k.as_str().to_ascii_lowercase().as_str() {
            "error" => error = Some(v),
            "error_description" => desc = Some(v),
            _ => scope = Some(v),
        }
    }
    Some((error?, desc, scope))
}

/// Scopes named in an "Insufficient scope" message (§2.3). `None` when the message is not an
/// insufficient-scope message; `Some(vec![])` when it is but names no scope ("Insufficient
/// scope."). Tolerates `;`/`,`/`(`, "expected", "expected any of:", "expected all of:", and
/// lists separated by commas, spaces, `and`, `or`.
pub fn insufficient_scopes(message: &str) -> Option<Vec<String>> {
    static HEAD: OnceLock<Option<Regex>> = OnceLock::new();
    static SCOPE: OnceLock<Option<Regex>> = OnceLock::new();
    let head = HEAD
        .get_or_init(|| Regex::new(r"(?i)insufficient[ _]scope").ok())
        .as_ref()?;
    let scope_re = SCOPE
        .get_or_init(|| Regex::new(r"[A-Za-z0-9_-]+:[A-Za-z0-9_.:-]*[A-Za-z0-9_-]").ok())
        .as_ref()?;
    let m = head.find(message)?;
    let rest = message.get(m.end()..).unwrap_or("");
    let lower = rest.to_ascii_lowercase();
    let list = match lower.find("expected") {
        Some(i) => rest.get(i + "expected".len()..).unwrap_or(""),
        None => "",
    };
    let mut out: Vec<String> = Vec::new();
    for sc in scope_re.find_iter(list) {
        let sc = sc.as_str().to_string();
        if !out.contains(&sc) {
            out.push(sc);
        }
    }
    Some(out)
}

/// Rate-limit headers, if any is present (§2.4).
pub fn parse_ratelimit(h: &Headers) -> Option<RateLimit> {
    // One pass over the headers (this runs for every API call), keeping the first value of
    // each name, as `Headers::get` would.
    // Lowercase names and their other usual spelling (compared byte for byte first).
    const NAMES: [(&str, &str); 5] = [
        ("x-ratelimit-limit", "X-RateLimit-Limit"),
        ("x-ratelimit-remaining", "X-RateLimit-Remaining"),
        ("x-ratelimit-reset", "X-RateLimit-Reset"),
        ("retry-after", "Retry-After"),
        ("auth0-ratelimit", "Auth0-RateLimit"),
    ];
    let mut found: [Option<&str>; 5] = [None; 5];
    for (name, value) in h.iter() {
        // Every name above starts with 'x', 'r' or 'a' and is 11 to 21 bytes long.
        if !(11..=21).contains(&name.len())
            || !matches!(
                name.as_bytes().first(),
                Some(b'x' | b'X' | b'r' | b'R' | b'a' | b'A')
            )
        {
            continue;
        }
        for (slot, (lower, usual)) in found.iter_mut().zip(NAMES) {
            if slot.is_none() && super::header::name_is(name, lower, usual) {
                *slot = Some(value);
                break;
            }
        }
    }
    let [limit, remaining, reset, retry_after, auth0] = found;
    let num = |v: Option<&str>| v.and_then(|v| v.trim().parse::<u64>().ok());
    let mut rl = RateLimit {
        limit: num(limit),
        remaining: num(remaining),
        reset: reset.and_then(|v| v.trim().parse::<i64>().ok()),
        retry_after: retry_after.map(|v| v.trim().to_string()),
    };
    // Custom rate-limit policies: `Auth0-RateLimit: client;q=10;t=1;r=9` (q quota, r remaining).
    if let Some(v) = auth0 {
        for part in v.split(';') {
            match part.trim().split_once('=') {
                Some(("q", q)) if rl.limit.is_none() => rl.limit = q.trim().parse().ok(),
                Some(("r", r)) if rl.remaining.is_none() => rl.remaining = r.trim().parse().ok(),
                _ => {}
            }
        }
    }
    let any = rl.limit.is_some()
        || rl.remaining.is_some()
        || rl.reset.is_some()
        || rl.retry_after.is_some();
    any.then_some(rl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn management_errors_from_reference() {
        // §2.2 opaque token → 400.
        let e = parse_mgmt_error(br#"{"statusCode":400,"error":"Bad Request","message":"Bad HTTP authentication header format","errorCode":"Bearer"}"#).expect("400");
        assert_eq!(e.status_code, Some(400));
        assert_eq!(e.error_code.as_deref(), Some("Bearer"));
        // §2.2 ID token → 401 with attributes.
        let e = parse_mgmt_error(br#"{"statusCode":401,"error":"Unauthorized","message":"Invalid token","attributes":{"error":"Invalid token"}}"#).expect("401");
        assert_eq!(e.message.as_deref(), Some("Invalid token"));
        assert_eq!(e.error_code, None);
        // attributes only
        let e = parse_mgmt_error(br#"{"statusCode":401,"attributes":{"error":"Expired token received for JSON Web Token validation"}}"#).expect("attr");
        assert!(e.message.unwrap_or_default().starts_with("Expired token"));
        // §2.4 429.
        let e = parse_mgmt_error(br#"{"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached","errorCode":"too_many_requests"}"#).expect("429");
        assert_eq!(e.error_code.as_deref(), Some("too_many_requests"));
        assert!(parse_mgmt_error(b"Unauthorized").is_none());
        assert!(parse_mgmt_error(b"{\"statusCode\": 1e999}").is_none());
        assert!(parse_mgmt_error(b"[1,2]").is_none());
    }

    #[test]
    fn insufficient_scope_403_body() {
        let e = parse_mgmt_error(br#"{"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: read:users,read:current_user,read:user_idp_tokens","errorCode":"insufficient_scope"}"#).expect("403");
        assert_eq!(
            insufficient_scopes(e.message.as_deref().unwrap_or("")),
            Some(vec![
                "read:users".to_string(),
                "read:current_user".to_string(),
                "read:user_idp_tokens".to_string()
            ])
        );
    }

    #[test]
    fn every_insufficient_scope_wording() {
        // Every wording from auth0-facts.md §2.3 and the spec prose variants (§1.2 table).
        let cases: &[(&str, &[&str])] = &[
            ("Insufficient scope, expected any of: read:grants", &["read:grants"]),
            ("Insufficient scope, expected any of: read:users,read:current_user,read:user_idp_tokens", &["read:users", "read:current_user", "read:user_idp_tokens"]),
            ("403 Forbidden: Insufficient scope, expected any of: create:user_tickets", &["create:user_tickets"]),
            ("Insufficient scope, expected any of: create:email_templates", &["create:email_templates"]),
            ("Insufficient scope; expected all of: read:users, read:roles, read:role_members.", &["read:users", "read:roles", "read:role_members"]),
            ("Insufficient scope; expected any of: update:users,update:users_app_metadata,update:current_user_metadata.", &["update:users", "update:users_app_metadata", "update:current_user_metadata"]),
            ("Insufficient scope, expected: read:actions.", &["read:actions"]),
            ("Insufficient scope; expected: update:users, update:current_user_identities.", &["update:users", "update:current_user_identities"]),
            ("Insufficient scope; expected read:connections and any of: read:clients or read:client_summary.", &["read:connections", "read:clients", "read:client_summary"]),
            ("Insufficient scope; expected: read:connections and any of: read:clients or read:client_summary.", &["read:connections", "read:clients", "read:client_summary"]),
            ("Insufficient scope (expected read:stats).", &["read:stats"]),
            ("Insufficient scope; expected all of: create:signing_keys update:signing_keys.", &["create:signing_keys", "update:signing_keys"]),
            ("Insufficient scope; expected create:encryption_keys and update:encryption_keys.", &["create:encryption_keys", "update:encryption_keys"]),
            ("Insufficient scope; expected any of: read:self_service_profiles, read:self-service-profiles.", &["read:self_service_profiles", "read:self-service-profiles"]),
            ("insufficient_scope", &[]),
            ("Insufficient scope.", &[]),
            ("Insufficient scope", &[]),
        ];
        for (msg, want) in cases {
            let got = insufficient_scopes(msg).unwrap_or_else(|| panic!("not recognised: {msg}"));
            let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            assert_eq!(got, want, "{msg}");
        }
        assert_eq!(insufficient_scopes("Invalid token"), None);
    }

    #[test]
    fn every_spec_wording_in_reference_table_parses() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/reference/auth0-management-scopes.json"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            // Skip: the shared reference is not present on this machine.
            return;
        };
        let rows: Vec<Value> = serde_json::from_str(&text).expect("reference json");
        let mut checked = 0;
        for r in rows {
            let msgs: Vec<String> = match r.get("insufficient_scope_message") {
                Some(Value::String(m)) => vec![m.clone()],
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => continue,
            };
            for m in msgs {
                let got = insufficient_scopes(&m).expect("recognised");
                if m.contains("expected") {
                    assert!(!got.is_empty(), "no scopes from {m}");
                    for g in &got {
                        assert!(m.contains(g.as_str()), "{g} not in {m}");
                    }
                }
                checked += 1;
            }
        }
        assert!(checked > 400, "checked {checked}");
    }

    #[test]
    fn oauth_errors() {
        let e = parse_oauth_error(br#"{"error":"access_denied","error_description":"Client has not been granted scopes: read:users"}"#).expect("oauth");
        assert_eq!(e.error, "access_denied");
        let e = parse_oauth_error(br#"{"name":"BadRequestError","code":"user_exists","description":"The user already exists.","statusCode":400}"#).expect("db");
        assert_eq!(e.error, "user_exists");
        assert!(parse_oauth_error(br#"{"access_token":"x"}"#).is_none());
        let e = parse_error_page("<html><p>Callback URL mismatch. The provided redirect_uri is not in the list</p></html>").expect("page");
        assert_eq!(e.error, "unauthorized_client");
    }

    #[test]
    fn www_authenticate_header() {
        let (e, d, sc) = parse_www_authenticate(r#"Bearer realm="x", error="insufficient_scope", error_description="Insufficient scope", scope="read:users""#).expect("hdr");
        assert_eq!(e, "insufficient_scope");
        assert_eq!(d.as_deref(), Some("Insufficient scope"));
        assert_eq!(sc.as_deref(), Some("read:users"));
        assert!(parse_www_authenticate("Bearer realm=\"x\"").is_none());
    }

    #[test]
    fn ratelimit_headers() {
        let mut h = Headers::default();
        h.push("X-RateLimit-Limit", "1000");
        h.push("x-ratelimit-remaining", "0");
        h.push("X-RateLimit-Reset", "1675452600");
        h.push("Retry-After", "12");
        let rl = parse_ratelimit(&h).expect("rl");
        assert_eq!(
            (rl.limit, rl.remaining, rl.reset),
            (Some(1000), Some(0), Some(1675452600))
        );
        assert_eq!(rl.retry_after.as_deref(), Some("12"));
        let mut c = Headers::default();
        c.push("Auth0-RateLimit", "client;q=10;t=1;r=9");
        let rl = parse_ratelimit(&c).expect("custom");
        assert_eq!((rl.limit, rl.remaining), (Some(10), Some(9)));
        assert!(parse_ratelimit(&Headers::default()).is_none());
    }

    /// The one-pass scan agrees with looking each name up (first value wins, even when it
    /// does not parse; other headers are ignored).
    #[test]
    fn ratelimit_takes_the_first_value_of_each_name() {
        let mut h = Headers::default();
        h.push("Content-Type", "application/json");
        h.push("x-ratelimit-limit", "junk");
        h.push("X-RATELIMIT-LIMIT", "50");
        h.push("retry-after", " 7 ");
        h.push("Retry-After", "9");
        h.push("x-ratelimit-remaining-extra", "3");
        h.push("auth0-ratelimit", "client;q=10;r=2");
        let rl = parse_ratelimit(&h).expect("rl");
        let first = |n: &str| h.get(n).and_then(|v| v.trim().parse::<u64>().ok());
        assert_eq!(rl.limit, first("x-ratelimit-limit").or(Some(10)));
        assert_eq!(rl.limit, Some(10), "unparsable first limit, so q= fills it");
        assert_eq!(rl.remaining, Some(2));
        assert_eq!(rl.retry_after.as_deref(), Some("7"));
        assert_eq!(rl.reset, None);
    }
}
