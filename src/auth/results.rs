//! Authorize results and issued tokens: where codes, tokens and errors come back.
//!
//! Owns reading an `AuthorizeResult` from a `Location` header (query or fragment), a form_post
//! page, a web_message page (auth0-facts.md §3.1 "How results come back", §2.6), or a form_post
//! POST arriving at the app's callback; and reading a `TokenSet` from token JSON (§3.2).
//! Must not decide whether a result is good (rules do). Known limits: a Location that points back
//! to the tenant itself (relative, or a tenant host) is an internal hop, never a result.

use serde_json::Value;

use super::credential::Decode;
use super::errors::json_object;
use super::params::split_list;
use crate::decode::form;
use crate::decode::html;
use crate::decode::jwt::decode;
use crate::model::{AuthorizeResult, OAuthError, ResultVia, TokenRole, TokenSet};

type Pairs = [(String, String)];

fn get<'a>(pairs: &'a Pairs, name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Whether fields carry an authorize result (a code, a token or an error).
pub fn has_result(pairs: &Pairs) -> bool {
    ["code", "access_token", "id_token", "error"]
        .iter()
        .any(|k| get(pairs, k).is_some())
}

/// Tokens from result fields (implicit fragment, form_post, web_message).
pub fn token_set_from_pairs(pairs: &Pairs, dec: Decode<'_>) -> TokenSet {
    TokenSet {
        access_token: get(pairs, "access_token").map(|t| dec(t, TokenRole::Access)),
        id_token: get(pairs, "id_token").map(|t| dec(t, TokenRole::Id)),
        refresh_token: get(pairs, "refresh_token").map(|t| dec(t, TokenRole::Refresh)),
        scope: get(pairs, "scope").map(split_list),
        expires_in: get(pairs, "expires_in").and_then(|v| v.trim().parse().ok()),
        token_type: get(pairs, "token_type").map(str::to_string),
    }
}

/// Tokens from an `/oauth/token` JSON answer.
pub fn token_set_from_json(body: &[u8]) -> Option<TokenSet> {
    token_set_from_json_with(body, &mut decode)
}

/// [`token_set_from_json`] with the caller's decoder (the classifier's memo).
pub fn token_set_from_json_with(body: &[u8], dec: Decode<'_>) -> Option<TokenSet> {
    let m = json_object(body)?;
    let s = |k: &str| m.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
    let set = TokenSet {
        access_token: s("access_token").map(|t| dec(t, TokenRole::Access)),
        id_token: s("id_token").map(|t| dec(t, TokenRole::Id)),
        refresh_token: s("refresh_token").map(|t| dec(t, TokenRole::Refresh)),
        scope: s("scope").map(split_list),
        expires_in: m.get("expires_in").and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        }),
        token_type: s("token_type").map(str::to_string),
    };
    Some(set)
}

/// An authorize result from fields, when they carry one.
pub fn from_pairs(via: ResultVia, pairs: &Pairs, dec: Decode<'_>) -> Option<AuthorizeResult> {
    if !has_result(pairs) {
        return None;
    }
    Some(AuthorizeResult {
        via,
        state: get(pairs, "state").map(str::to_string),
        code: get(pairs, "code").map(str::to_string),
        tokens: token_set_from_pairs(pairs, dec),
        error: get(pairs, "error").map(|e| OAuthError {
            error: e.to_string(),
            description: get(pairs, "error_description").map(str::to_string),
        }),
    })
}

/// Result carried by a redirect. `is_tenant_host` filters internal hops back to Auth0.
pub fn from_location(
    location: &str,
    is_tenant_host: &dyn Fn(&str) -> bool,
) -> Option<AuthorizeResult> {
    from_location_with(location, is_tenant_host, &mut decode)
}

/// [`from_location`] with the caller's decoder (the classifier's memo).
pub fn from_location_with(
    location: &str,
    is_tenant_host: &dyn Fn(&str) -> bool,
    dec: Decode<'_>,
) -> Option<AuthorizeResult> {
    let loc = location.trim();
    let host = match loc.split_once("://") {
        Some((_, rest)) => rest.split(['/', '?', '#']).next().unwrap_or(""),
        // Relative (or scheme-relative) redirect: same host, an internal hop — unless it is
        // scheme-relative to another host.
        None => match loc.strip_prefix("//") {
            Some(rest) => rest.split(['/', '?', '#']).next().unwrap_or(""),
            None => return None,
        },
    };
    let host = host.rsplit('@').next().unwrap_or(host);
    if is_tenant_host(host) {
        return None;
    }
    if let Some(frag) = form::fragment_of(loc) {
        if let Some(r) = from_pairs(ResultVia::LocationFragment, &form::parse(frag).pairs, dec) {
            return Some(r);
        }
    }
    let q = form::query_of(loc)?;
    from_pairs(ResultVia::LocationQuery, &form::parse(q).pairs, dec)
}

/// Result carried by an HTML page: form_post (hidden inputs) or web_message (postMessage).
pub fn from_page(body: &str) -> Option<AuthorizeResult> {
    from_page_with(body, &mut decode)
}

/// [`from_page`] with the caller's decoder (the classifier's memo).
pub fn from_page_with(body: &str, dec: Decode<'_>) -> Option<AuthorizeResult> {
    if let Some(f) = html::form_post_fields(body) {
        if let Some(r) = from_pairs(ResultVia::FormPost, &f.fields, dec) {
            return Some(r);
        }
    }
    let w = html::web_message_fields(body)?;
    from_pairs(ResultVia::WebMessage, &w.fields, dec)
}

/// A form_post result arriving at the app: a POST whose form body has `state` plus a code,
/// a token or an error.
pub fn from_callback_post(method: &str, body_text: &str, is_form: bool) -> Option<AuthorizeResult> {
    from_callback_post_with(method, body_text, is_form, &mut decode)
}

/// [`from_callback_post`] with the caller's decoder (the classifier's memo).
pub fn from_callback_post_with(
    method: &str,
    body_text: &str,
    is_form: bool,
    dec: Decode<'_>,
) -> Option<AuthorizeResult> {
    if !method.eq_ignore_ascii_case("POST") || !is_form {
        return None;
    }
    let f = form::parse(body_text);
    get(&f.pairs, "state")?;
    from_pairs(ResultVia::FormPost, &f.pairs, dec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TokenFormat;

    fn tenant(h: &str) -> bool {
        h.ends_with("auth0.com")
    }

    #[test]
    fn implicit_fragment() {
        // §3.1: fragment response for implicit grant.
        let loc = "https://app.example.com/callback#access_token=eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL3QvYXBpL3YyLyJ9.sig&id_token=eyJhbGciOiJSUzI1NiJ9.eyJub25jZSI6Im4ifQ.sig&token_type=Bearer&expires_in=7200&state=st4te&scope=openid%20profile";
        let r = from_location(loc, &tenant).expect("result");
        assert_eq!(r.via, ResultVia::LocationFragment);
        assert_eq!(r.state.as_deref(), Some("st4te"));
        assert_eq!(r.tokens.expires_in, Some(7200));
        assert_eq!(
            r.tokens.scope,
            Some(vec!["openid".into(), "profile".into()])
        );
        let id = r.tokens.id_token.expect("id");
        assert_eq!((id.format, id.role), (TokenFormat::Jwt, TokenRole::Id));
        assert!(r.tokens.access_token.is_some());
    }

    #[test]
    fn code_in_query_and_error_redirect() {
        let r = from_location(
            "https://app.example.com/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz",
            &tenant,
        )
        .expect("code");
        assert_eq!(
            (r.via, r.code.as_deref()),
            (ResultVia::LocationQuery, Some("SplxlOBeZQQYbYS6WxSbIA"))
        );
        // §2.6 unknown audience.
        let r = from_location("http://localhost:8080/?error=access_denied&error_description=Service%20not%20found%3A%20https%3A%2F%2Fauth0-jwt-authorizer&state=s", &tenant).expect("err");
        let e = r.error.expect("error");
        assert_eq!(e.error, "access_denied");
        assert_eq!(
            e.description.as_deref(),
            Some("Service not found: https://auth0-jwt-authorizer")
        );
    }

    #[test]
    fn internal_hops_are_not_results() {
        assert!(from_location("/u/login?state=hKFo2SBz", &tenant).is_none());
        assert!(from_location(
            "https://dev-x.us.auth0.com/authorize/resume?state=x&code=y",
            &tenant
        )
        .is_none());
        assert!(from_location("https://app.example.com/cb?state=x", &tenant).is_none());
        assert!(from_location("//app.example.com/cb?code=c&state=x", &tenant).is_some());
    }

    #[test]
    fn pages_and_callback_posts() {
        let page = r#"<form method="post" action="https://app/cb"><input type="hidden" name="id_token" value="a.b.c"/><input type="hidden" name="state" value="s"/></form>"#;
        let r = from_page(page).expect("form_post");
        assert_eq!(r.via, ResultVia::FormPost);
        assert!(r.tokens.id_token.is_some());
        let r = from_callback_post("POST", "code=abc&state=s", true).expect("cb");
        assert_eq!(r.code.as_deref(), Some("abc"));
        assert!(
            from_callback_post("POST", "code=abc", true).is_none(),
            "state is required"
        );
        assert!(from_callback_post("GET", "code=abc&state=s", true).is_none());
        assert!(from_callback_post("POST", "state=s&foo=bar", true).is_none());
    }

    #[test]
    fn token_json() {
        // §3.2 example.
        let set = token_set_from_json(br#"{"access_token":"eyJhbGciOiJSUzI1NiJ9.eyJzY29wZSI6Im9wZW5pZCJ9.x","expires_in":86400,"scope":"openid offline_access","id_token":"eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJjIn0.y","refresh_token":"v1.MRrT","token_type":"Bearer"}"#).expect("json");
        assert_eq!(set.expires_in, Some(86400));
        assert_eq!(set.scope.as_ref().map(Vec::len), Some(2));
        assert_eq!(
            set.refresh_token.as_ref().map(|t| t.role),
            Some(TokenRole::Refresh)
        );
        assert_eq!(set.tokens().count(), 3);
        // Legacy opaque access token (no audience).
        let set = token_set_from_json(br#"{"access_token":"Jq2XuLrQ3KH9tBxWIQ9xN2QkOmhEyn1v","expires_in":"7200","token_type":"Bearer"}"#).expect("json");
        assert_eq!(
            set.access_token.map(|t| t.format),
            Some(TokenFormat::Opaque)
        );
        assert_eq!(set.expires_in, Some(7200));
        assert_eq!(set.scope, None);
        assert!(token_set_from_json(b"not json").is_none());
    }
}
