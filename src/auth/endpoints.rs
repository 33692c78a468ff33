//! Path → endpoint template for tenant hosts: the Authentication API endpoints (auth0-facts.md
//! §3) and every Management API operation (via `scopes::catalogue`).
//!
//! Owns the CLOSED set of endpoint templates that may appear in metric labels: `templates()`
//! lists all of them, and `resolve` never returns anything else (never a raw path). Must not look
//! at bodies or headers. Known limits: SAML/WS-Fed (`/samlp/*`, `/wsfed/*`) and legacy endpoints
//! are folded into `other`.

use super::scopes::{catalogue, Matched};
use crate::model::Api;

/// Template for a non-tenant host, or a tenant path we do not know.
pub const OTHER: &str = "other";
/// Template for an `/api/v2/*` path that is not in the scope catalogue.
pub const MGMT_UNKNOWN: &str = "/api/v2/{unknown}";

/// What an Authentication API endpoint is, for the classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthEndpoint {
    Authorize,
    AuthorizeResume,
    Login,
    LoginCallback,
    UniversalLogin,
    UsernamePasswordLogin,
    CoAuthenticate,
    Token,
    Revoke,
    Userinfo,
    Discovery,
    Jwks,
    WellKnownOther,
    Logout,
    OidcLogout,
    Mfa,
    PasswordlessStart,
    DbConnections,
    DeviceCode,
    /// `/oauth/par`: pushed authorization request (§3.3).
    PushedAuthorization,
}

/// Exact paths, with their template and kind.
const EXACT: &[(&str, AuthEndpoint)] = &[
    ("/authorize", AuthEndpoint::Authorize),
    ("/authorize/resume", AuthEndpoint::AuthorizeResume),
    ("/login", AuthEndpoint::Login),
    ("/login/callback", AuthEndpoint::LoginCallback),
    (
        "/usernamepassword/login",
        AuthEndpoint::UsernamePasswordLogin,
    ),
    ("/co/authenticate", AuthEndpoint::CoAuthenticate),
    ("/oauth/token", AuthEndpoint::Token),
    ("/oauth/revoke", AuthEndpoint::Revoke),
    ("/oauth/device/code", AuthEndpoint::DeviceCode),
    ("/oauth/par", AuthEndpoint::PushedAuthorization),
    ("/userinfo", AuthEndpoint::Userinfo),
    ("/.well-known/openid-configuration", AuthEndpoint::Discovery),
    ("/.well-known/jwks.json", AuthEndpoint::Jwks),
    ("/v2/logout", AuthEndpoint::Logout),
    ("/oidc/logout", AuthEndpoint::OidcLogout),
    ("/mfa/challenge", AuthEndpoint::Mfa),
    ("/mfa/associate", AuthEndpoint::Mfa),
    ("/mfa/authenticators", AuthEndpoint::Mfa),
    ("/passwordless/start", AuthEndpoint::PasswordlessStart),
    ("/dbconnections/signup", AuthEndpoint::DbConnections),
    (
        "/dbconnections/change_password",
        AuthEndpoint::DbConnections,
    ),
];

/// Prefix families, templated with one trailing parameter.
const PREFIXES: &[(&str, &str, AuthEndpoint)] = &[
    ("/u/", "/u/{page}", AuthEndpoint::UniversalLogin),
    (
        "/mfa/authenticators/",
        "/mfa/authenticators/{id}",
        AuthEndpoint::Mfa,
    ),
    ("/mfa/", "/mfa/{other}", AuthEndpoint::Mfa),
    (
        "/.well-known/",
        "/.well-known/{other}",
        AuthEndpoint::WellKnownOther,
    ),
    (
        "/dbconnections/",
        "/dbconnections/{other}",
        AuthEndpoint::DbConnections,
    ),
];

/// Where a tenant path landed.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    Auth {
        kind: AuthEndpoint,
        template: &'static str,
    },
    Management {
        template: &'static str,
        matched: Option<Matched>,
    },
    Unknown,
}

impl Resolved {
    pub fn api(&self) -> Api {
        match self {
            Resolved::Auth { .. } | Resolved::Unknown => Api::Authentication,
            Resolved::Management { .. } => Api::Management,
        }
    }

    pub fn template(&self) -> &'static str {
        match self {
            Resolved::Auth { template, .. } | Resolved::Management { template, .. } => template,
            Resolved::Unknown => OTHER,
        }
    }
}

/// Path of a URL without scheme, host, query or fragment (`/` when empty).
pub fn path_of(url: &str) -> &str {
    path_after_scheme(url, scheme_end(url))
}

/// [`path_of`] with the URL's [`scheme_end`] already known.
pub fn path_after_scheme(url: &str, scheme_end: Option<usize>) -> &str {
    let rest = match scheme_end {
        Some(i) => {
            let after = url.get(i + 3..).unwrap_or("");
            match memchr::memchr(b'/', after.as_bytes()) {
                Some(j) => after.get(j..).unwrap_or("/"),
                None => "/",
            }
        }
        None => url,
    };
    let end = memchr::memchr2(b'?', b'#', rest.as_bytes()).unwrap_or(rest.len());
    let p = rest.get(..end).unwrap_or("/");
    if p.is_empty() {
        "/"
    } else {
        p
    }
}

/// Resolve a path on a tenant host.
/// Byte offset of the first `://` in `url` (`str::find("://")` without building a substring
/// searcher, which cost more than the search on these short URLs).
pub fn scheme_end(url: &str) -> Option<usize> {
    // A plain scan: the separator is a few bytes in (`https://`), where a memchr call costs
    // more than the loop; a URL without one (a bare path) is short.
    url.as_bytes().windows(3).position(|w| w == b"://")
}

pub fn resolve(method: &str, path: &str) -> Resolved {
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    if trimmed == "/api/v2" || trimmed.starts_with("/api/v2/") {
        let matched = catalogue().lookup(method, trimmed);
        // Unknown method on a known path (OPTIONS, a typo'd verb): template by path alone.
        let template = match &matched {
            Some(m) => m.op.template,
            None => catalogue()
                .methods_for(trimmed)
                .first()
                .map(|o| o.template)
                .unwrap_or(MGMT_UNKNOWN),
        };
        return Resolved::Management { template, matched };
    }
    if let Some((t, kind)) = EXACT.iter().find(|(t, _)| *t == trimmed) {
        return Resolved::Auth {
            kind: *kind,
            template: t,
        };
    }
    for (prefix, template, kind) in PREFIXES {
        if let Some(rest) = trimmed.strip_prefix(prefix) {
            if !rest.is_empty() {
                return Resolved::Auth {
                    kind: *kind,
                    template,
                };
            }
        }
    }
    Resolved::Unknown
}

/// Every template `resolve` can return (plus `other`): the closed set for metric labels.
pub fn templates() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = EXACT.iter().map(|(t, _)| *t).collect();
    out.extend(PREFIXES.iter().map(|(_, t, _)| *t));
    let mut mgmt: Vec<&'static str> = catalogue()
        .operations()
        .iter()
        .map(|o| o.template)
        .collect();
    mgmt.sort_unstable();
    mgmt.dedup();
    out.extend(mgmt);
    out.push(MGMT_UNKNOWN);
    out.push(OTHER);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_of_strips_host_query_fragment() {
        assert_eq!(path_of("https://t.auth0.com/authorize?x=1#y"), "/authorize");
        assert_eq!(path_of("https://t.auth0.com"), "/");
        assert_eq!(path_of("https://t.auth0.com?x"), "/");
        assert_eq!(path_of("/oauth/token?x"), "/oauth/token");
    }

    #[test]
    fn scheme_end_is_the_first_separator() {
        for u in [
            "https://t.auth0.com/x",
            "a:b://c",
            "no scheme",
            ":",
            "x:/",
            "x://",
            "::://",
            "é://ü",
            "",
        ] {
            assert_eq!(scheme_end(u), u.find("://"), "{u:?}");
        }
    }

    #[test]
    fn authentication_endpoints() {
        let cases = [
            ("GET", "/authorize", "/authorize"),
            ("GET", "/authorize/resume", "/authorize/resume"),
            ("GET", "/u/login/password", "/u/{page}"),
            ("POST", "/u/login", "/u/{page}"),
            ("GET", "/.well-known/jwks.json", "/.well-known/jwks.json"),
            (
                "GET",
                "/.well-known/openid-configuration",
                "/.well-known/openid-configuration",
            ),
            ("GET", "/.well-known/security.txt", "/.well-known/{other}"),
            ("POST", "/mfa/challenge", "/mfa/challenge"),
            (
                "DELETE",
                "/mfa/authenticators/sms|dev_123",
                "/mfa/authenticators/{id}",
            ),
            ("POST", "/dbconnections/signup", "/dbconnections/signup"),
            ("POST", "/oauth/token/", "/oauth/token"),
        ];
        for (m, p, t) in cases {
            let r = resolve(m, p);
            assert_eq!(r.template(), t, "{m} {p}");
            assert_eq!(r.api(), Api::Authentication);
        }
    }

    #[test]
    fn management_templating_and_unknown() {
        let r = resolve("GET", "/api/v2/users/auth0|123/roles");
        assert_eq!(r.template(), "/api/v2/users/{id}/roles");
        assert_eq!(r.api(), Api::Management);
        assert_eq!(
            resolve("PATCH", "/api/v2/users/{id}").template(),
            "/api/v2/users/{id}"
        );
        let put = resolve("PUT", "/api/v2/users/auth0|1");
        assert_eq!(put.template(), "/api/v2/users/{id}");
        assert!(matches!(put, Resolved::Management { matched: None, .. }));
        let u = resolve("GET", "/api/v2/definitely/not/here");
        assert_eq!(u.template(), MGMT_UNKNOWN);
        assert_eq!(resolve("GET", "/favicon.ico"), Resolved::Unknown);
    }

    #[test]
    fn every_resolution_is_in_the_closed_set() {
        let set = templates();
        for p in [
            "/u/x",
            "/api/v2/users/1",
            "/api/v2/zzz",
            "/nope",
            "/",
            "/userinfo",
        ] {
            let t = resolve("GET", p).template();
            assert!(set.contains(&t), "{t}");
        }
    }
}
