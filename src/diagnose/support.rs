//! Small shared vocabulary for rule texts: how tokens, exchanges, scopes, times and Management
//! API audiences are named in explanations, plus the current_user scope alternatives.
//!
//! Must never print a raw token, code or secret: tokens are named `fp:<fingerprint>` and
//! exchanges by method + path (no query string, which may hold codes). Pure functions only.

use crate::correlate::Issuance;
use crate::model::{Auth0Error, Evidence, Token, TokenRole};

/// How a token is named in findings.
pub fn fp(t: &Token) -> String {
    format!("fp:{}", t.fingerprint)
}

/// "ID token", "access token"...
pub fn role_name(role: TokenRole) -> &'static str {
    match role {
        TokenRole::Access => "access token",
        TokenRole::Id => "ID token",
        TokenRole::Refresh => "refresh token",
        TokenRole::Unknown => "token",
    }
}

/// Host of an absolute URL, lowercased.
pub fn host_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
}

/// Path of an absolute URL without query or fragment (those may carry secrets).
pub fn path_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => u.path().to_string(),
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_string(),
    }
}

/// "GET /authorize (input 0, exchange #3)".
pub fn exchange(e: &Evidence) -> String {
    format!(
        "{} {} (input {}, exchange #{})",
        e.method,
        path_of(&e.url),
        e.input,
        e.index
    )
}

/// Scopes as shown in text: `a b c`.
pub fn scopes(list: &[String]) -> String {
    if list.is_empty() {
        "(none)".to_string()
    } else {
        format!("`{}`", list.join(" "))
    }
}

/// Unix seconds as "2027-01-15 08:00:00 UTC".
pub fn date(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| format!("{secs} (Unix seconds)"))
}

/// Request time of an exchange in Unix seconds.
pub fn secs(e: &Evidence) -> Option<i64> {
    e.time.map(|t| t.div_euclid(1_000_000))
}

/// `401 "Invalid token"`, or just the status.
pub fn status_phrase(status: Option<u16>, error: Option<&Auth0Error>) -> String {
    let msg = error.and_then(|e| e.message.as_deref());
    match (status, msg) {
        (Some(s), Some(m)) => format!("{s} \"{m}\""),
        (Some(s), None) => s.to_string(),
        (None, Some(m)) => format!("\"{m}\""),
        (None, None) => "no response in the capture".to_string(),
    }
}

/// Whether an audience is the Management API (`https://HOST/api/v2/`).
pub fn is_mgmt_audience(aud: &str) -> bool {
    aud.trim_end_matches('/').ends_with("/api/v2")
}

/// Host of the token's `iss` (`https://HOST/`), when it is a JWT. Cheap: no URL parsing.
pub fn iss_host(t: &Token) -> Option<String> {
    iss_host_raw(t).map(str::to_ascii_lowercase)
}

/// [`iss_host`] before lowercasing (borrowed from the token; compare it ignoring ASCII case).
pub fn iss_host_raw(t: &Token) -> Option<&str> {
    let iss = t.jwt.as_ref().and_then(|j| j.claim_str("iss"))?;
    let rest = iss
        .strip_prefix("https://")
        .or_else(|| iss.strip_prefix("http://"))?;
    // Byte searches (memchr): this runs for every API call with a JWT.
    let end = memchr::memchr3(b'/', b'?', b'#', rest.as_bytes()).unwrap_or(rest.len());
    let host = rest.get(..end).unwrap_or_default();
    let host = match memchr::memrchr(b'@', host.as_bytes()) {
        Some(at) => host.get(at + 1..).unwrap_or_default(),
        None => host,
    };
    // Compare like the classifier's hosts: no port, no trailing dot, lowercase.
    let host = match memchr::memrchr(b':', host.as_bytes()) {
        Some(c) => match (host.get(..c), host.get(c + 1..)) {
            (Some(h), Some(port))
                if !h.contains(']') && port.bytes().all(|b| b.is_ascii_digit()) =>
            {
                h
            }
            _ => host,
        },
        None => host,
    };
    let host = host.trim_end_matches('.');
    (!host.is_empty()).then_some(host)
}

/// Whether any `aud` entry of a JWT is a Management API audience (no allocation).
pub fn has_mgmt_audience(t: &Token) -> bool {
    match t.jwt.as_ref().and_then(|j| j.claims.get("aud")) {
        Some(serde_json::Value::String(a)) => is_mgmt_audience(a),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str())
            .any(is_mgmt_audience),
        _ => false,
    }
}

/// The Management API audience to tell the user: the canonical `*.auth0.com` domain when known
/// (it stays canonical on custom domains, auth0-facts §4.1/§6), else the called host.
pub fn mgmt_audience(called_host: &str, token: Option<&Token>) -> String {
    let canonical = token
        .and_then(iss_host)
        .filter(|h| h.ends_with(".auth0.com"))
        .or_else(|| {
            let h = called_host.to_ascii_lowercase();
            h.ends_with(".auth0.com").then_some(h)
        });
    match canonical {
        Some(h) => format!("https://{h}/api/v2/"),
        None => format!(
            "https://<your tenant>.<region>.auth0.com/api/v2/ (the canonical tenant domain, not {called_host})"
        ),
    }
}

/// Whether a token acts for a user (not a client_credentials/M2M token).
pub fn is_user_token(t: Option<&Token>, iss: Option<&Issuance>) -> bool {
    if iss.is_some_and(|i| i.grant == "client_credentials") {
        return false;
    }
    let Some(jwt) = t.and_then(|t| t.jwt.as_ref()) else {
        return iss.is_some();
    };
    let gty_cc = jwt.claim_str("gty") == Some("client-credentials");
    let sub_client = jwt
        .claim_str("sub")
        .is_some_and(|s| s.ends_with("@clients"));
    !(gty_cc || sub_client)
}

/// The current_user scope a user token may carry instead of an any-user Management API scope
/// (auth0-facts §1.3, MGMT-OAS and the migration matrix).
pub fn current_user_alternative(scope: &str) -> Option<&'static str> {
    match scope {
        "read:users" => Some("read:current_user"),
        "update:users" => Some("update:current_user_metadata"),
        "create:users_app_metadata" | "update:users_app_metadata" | "delete:users_app_metadata" => {
            None
        }
        "delete:users" => Some("delete:current_user"),
        "create:device_credentials" => Some("create:current_user_device_credentials"),
        "delete:device_credentials" => Some("delete:current_user_device_credentials"),
        _ => None,
    }
}

/// Whether a scope is one of the current_user scopes (allowed on user tokens).
pub fn is_current_user_scope(scope: &str) -> bool {
    scope.contains("current_user")
}

/// Scopes a token carries: its JWT `scope`/`permissions`, else the granted scope at issuance.
pub fn token_scopes(t: &Token, iss: Option<&Issuance>) -> Option<Vec<String>> {
    if let Some(j) = &t.jwt {
        if j.claims.get("scope").is_some() || j.claims.get("permissions").is_some() {
            return Some(j.scopes());
        }
    }
    iss.and_then(|i| i.granted_scope.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_names_drop_query_strings() {
        let e = Evidence {
            input: 0,
            index: 7,
            time: None,
            method: "GET".into(),
            url: "https://t.auth0.com/cb?code=SECRETCODE123".into(),
            status: None,
        };
        assert_eq!(exchange(&e), "GET /cb (input 0, exchange #7)");
    }

    #[test]
    fn management_audience_prefers_canonical_host() {
        assert_eq!(
            mgmt_audience("Dev-X.eu.auth0.com", None),
            "https://dev-x.eu.auth0.com/api/v2/"
        );
        assert!(mgmt_audience("login.example.com", None).contains("canonical"));
        assert!(is_mgmt_audience("https://a.auth0.com/api/v2/"));
        assert!(is_mgmt_audience("https://a.auth0.com/api/v2"));
        assert!(!is_mgmt_audience("https://api.example.com"));
    }

    #[test]
    fn iss_host_is_read_without_url_parsing() {
        let t = |iss: &str| {
            crate::model::Token {
            raw: "".into(),
            fingerprint: String::new(),
            format: crate::model::TokenFormat::Jwt,
            role: TokenRole::Access,
            jwt: Some(crate::model::Jwt {
                header: serde_json::json!({}).into(),
                claims: serde_json::json!({"iss": iss, "aud": ["https://x", "https://T.auth0.com/api/v2/"]}).into(),
                verification: crate::model::Verification::NotVerified,
            }),
        }
        };
        assert_eq!(
            iss_host(&t("https://Login.Example.com/")).as_deref(),
            Some("login.example.com")
        );
        assert_eq!(iss_host(&t("not a url")), None);
        assert_eq!(
            iss_host(&t("https://dev.us.auth0.com:8443/")).as_deref(),
            Some("dev.us.auth0.com")
        );
        assert!(has_mgmt_audience(&t("https://a/")));
    }

    #[test]
    fn dates_render_in_utc() {
        assert_eq!(date(1_675_452_600), "2023-02-03 19:30:00 UTC");
    }

    #[test]
    fn current_user_alternatives() {
        assert_eq!(
            current_user_alternative("update:users"),
            Some("update:current_user_metadata")
        );
        assert_eq!(
            current_user_alternative("read:users"),
            Some("read:current_user")
        );
        assert_eq!(current_user_alternative("update:users_app_metadata"), None);
    }
}
