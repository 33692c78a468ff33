//! Metric names and label enums, in one place (DESIGN.md §4 "Metrics", STYLE habit 7).
//!
//! Owns: every `authtap_*` family name, its help text, histogram buckets, and the closed sets
//! every label value is drawn from (method, status class, failure reason, grant, token kind and
//! format, drop stage and reason), plus the pure functions that map observed traffic onto them.
//! Must not: hold state, touch a registry, or let a raw path, token, user id or email become a
//! label value. Anything outside a closed set becomes `other`.
//! The `scope` label set is the Management API scope catalogue (`crate::auth::scopes`) plus OIDC
//! scopes. Known limits: the failure reason is read from Auth0's error bodies as documented in
//! `reference/auth0-facts.md` §2; a message Auth0 words differently maps to `other`.

use crate::model::{Auth0Error, OAuthError, TokenFormat};

/// Family names. Counters end in `_total`; units are base units (seconds).
pub mod names {
    pub const HTTP_EXCHANGES_TOTAL: &str = "authtap_http_exchanges_total";
    pub const AUTH_FAILURES_TOTAL: &str = "authtap_auth_failures_total";
    pub const FINDINGS_TOTAL: &str = "authtap_findings_total";
    pub const SCOPE_MISMATCHES_TOTAL: &str = "authtap_scope_mismatches_total";
    pub const TOKENS_OBSERVED_TOTAL: &str = "authtap_tokens_observed_total";
    pub const TOKEN_LIFETIME_SECONDS: &str = "authtap_token_lifetime_seconds";
    pub const HTTP_REQUEST_DURATION_SECONDS: &str = "authtap_http_request_duration_seconds";
    pub const RATELIMIT_REMAINING: &str = "authtap_ratelimit_remaining";
    pub const CAPTURE_PACKETS_TOTAL: &str = "authtap_capture_packets_total";
    pub const CAPTURE_BYTES_TOTAL: &str = "authtap_capture_bytes_total";
    pub const DROPPED_TOTAL: &str = "authtap_dropped_total";
    pub const TLS_SESSIONS_TOTAL: &str = "authtap_tls_sessions_total";
    pub const FLOWS_ACTIVE: &str = "authtap_flows_active";
    pub const BUILD_INFO: &str = "authtap_build_info";

    /// Every family authtap exports, in exposition order.
    pub const ALL: &[&str] = &[
        HTTP_EXCHANGES_TOTAL,
        AUTH_FAILURES_TOTAL,
        FINDINGS_TOTAL,
        SCOPE_MISMATCHES_TOTAL,
        TOKENS_OBSERVED_TOTAL,
        TOKEN_LIFETIME_SECONDS,
        HTTP_REQUEST_DURATION_SECONDS,
        RATELIMIT_REMAINING,
        CAPTURE_PACKETS_TOTAL,
        CAPTURE_BYTES_TOTAL,
        DROPPED_TOTAL,
        TLS_SESSIONS_TOTAL,
        FLOWS_ACTIVE,
        BUILD_INFO,
    ];
}

/// Help texts, one per family.
pub mod help {
    pub const HTTP_EXCHANGES_TOTAL: &str =
        "HTTP exchanges seen, by Auth0 API, endpoint template, method and status class.";
    pub const AUTH_FAILURES_TOTAL: &str =
        "Failed Auth0 calls (4xx/5xx or OAuth error), by API, endpoint template, status and reason.";
    pub const FINDINGS_TOTAL: &str = "Findings reported, by rule id and severity.";
    pub const SCOPE_MISMATCHES_TOTAL: &str =
        "Scopes requested but not granted (not_granted) or needed by an endpoint but missing (insufficient).";
    pub const TOKENS_OBSERVED_TOTAL: &str =
        "Tokens seen being issued, by token kind, format and grant.";
    pub const TOKEN_LIFETIME_SECONDS: &str =
        "Lifetime of issued tokens (exp - iat, or expires_in), in seconds.";
    pub const HTTP_REQUEST_DURATION_SECONDS: &str =
        "Duration of HTTP exchanges with Auth0, by API, in seconds.";
    pub const RATELIMIT_REMAINING: &str =
        "Last x-ratelimit-remaining value returned by Auth0, by API.";
    pub const CAPTURE_PACKETS_TOTAL: &str = "Packets read by the capture source.";
    pub const CAPTURE_BYTES_TOTAL: &str = "Bytes read by the capture source.";
    pub const DROPPED_TOTAL: &str =
        "Things authtap dropped or could not keep, by pipeline stage and reason.";
    pub const TLS_SESSIONS_TOTAL: &str = "TLS sessions seen, by whether they could be decrypted.";
    pub const FLOWS_ACTIVE: &str = "Flows currently held in the correlation table.";
    pub const BUILD_INFO: &str = "Build information; the value is always 1.";
}

/// Latency buckets (seconds) for `authtap_http_request_duration_seconds`.
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Lifetime buckets (seconds): 1 min .. 30 days, covering Auth0's defaults (ID token 36000 s,
/// Management API token 86400 s, SPA access token 7200 s).
pub const LIFETIME_BUCKETS: &[f64] = &[
    60.0, 300.0, 900.0, 3600.0, 7200.0, 36000.0, 86400.0, 604800.0, 2592000.0,
];

/// At most this many distinct `endpoint` label values; further ones become `other`.
/// The scope catalogue holds ~250 templates, plus the Authentication API's own.
pub const ENDPOINT_LABEL_CAP: usize = 600;
/// At most this many distinct `scope` label values; further ones become `other`.
pub const SCOPE_LABEL_CAP: usize = 400;
/// Longest endpoint template accepted as a label value.
pub const ENDPOINT_MAX_LEN: usize = 120;

pub const OTHER: &str = "other";

/// `method` label: a fixed list, else `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MethodLabel {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Other,
}

impl MethodLabel {
    pub fn from_method(method: &str) -> Self {
        match method.to_ascii_uppercase().as_str() {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            "OPTIONS" => Self::Options,
            _ => Self::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
            Self::Other => OTHER,
        }
    }
}

/// `status_class` label: `1xx`..`5xx`, or `none` when no response was seen.
pub fn status_class(status: Option<u16>) -> &'static str {
    match status {
        Some(100..=199) => "1xx",
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        Some(_) => OTHER,
        None => "none",
    }
}

/// `status` label: the three-digit code when it is a valid HTTP status, else `other`.
pub fn status_label(status: Option<u16>) -> String {
    match status {
        Some(s @ 100..=599) => s.to_string(),
        _ => OTHER.to_string(),
    }
}

/// `endpoint` label: only templates (starting with `/`, short, no query, no raw ids) pass;
/// the caller additionally caps the number of distinct values (`ENDPOINT_LABEL_CAP`).
pub fn endpoint_shape_ok(endpoint: &str) -> bool {
    endpoint.starts_with('/')
        && endpoint.len() <= ENDPOINT_MAX_LEN
        && endpoint
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-.{}".contains(&b))
}

/// `reason` label of `authtap_auth_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    InvalidToken,
    BadHeaderFormat,
    InsufficientScope,
    ExpiredToken,
    BadAudience,
    RateLimited,
    InvalidGrant,
    AccessDenied,
    UnauthorizedClient,
    Other,
}

impl FailureReason {
    pub const ALL: [FailureReason; 10] = [
        Self::InvalidToken,
        Self::BadHeaderFormat,
        Self::InsufficientScope,
        Self::ExpiredToken,
        Self::BadAudience,
        Self::RateLimited,
        Self::InvalidGrant,
        Self::AccessDenied,
        Self::UnauthorizedClient,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidToken => "invalid_token",
            Self::BadHeaderFormat => "bad_header_format",
            Self::InsufficientScope => "insufficient_scope",
            Self::ExpiredToken => "expired_token",
            Self::BadAudience => "bad_audience",
            Self::RateLimited => "rate_limited",
            Self::InvalidGrant => "invalid_grant",
            Self::AccessDenied => "access_denied",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::Other => OTHER,
        }
    }

    /// Reason of a Management API (or other JSON API) failure from its status and Auth0 error
    /// body (`auth0-facts.md` §2.2–2.4).
    pub fn from_api_error(status: Option<u16>, err: Option<&Auth0Error>) -> Self {
        let code = err
            .and_then(|e| e.error_code.as_deref())
            .unwrap_or("")
            .to_ascii_lowercase();
        let msg = err
            .and_then(|e| e.message.as_deref())
            .unwrap_or("")
            .to_ascii_lowercase();
        let error = err
            .and_then(|e| e.error.as_deref())
            .unwrap_or("")
            .to_ascii_lowercase();
        if status == Some(429)
            || code == "too_many_requests"
            || msg.contains("limit has been reached")
        {
            Self::RateLimited
        } else if code == "insufficient_scope" || msg.starts_with("insufficient scope") {
            Self::InsufficientScope
        } else if msg.contains("bad http authentication header format") || code == "bearer" {
            Self::BadHeaderFormat
        } else if msg.contains("expired token") || msg.contains("jwt expired") {
            Self::ExpiredToken
        } else if msg.contains("bad audience") || msg.contains("audience invalid") {
            Self::BadAudience
        } else if code == "invalid_token"
            || msg.starts_with("invalid token")
            || msg.contains("invalid signature")
            || msg.contains("token has expired or signature is invalid")
            || msg.contains("access token is considered invalid")
        {
            Self::InvalidToken
        } else if let Some(r) = Self::from_oauth_code(&error) {
            r
        } else if let Some(r) = Self::from_oauth_code(&code) {
            r
        } else {
            Self::Other
        }
    }

    /// Reason of an OAuth error (`error` field of /oauth/token JSON or an authorize redirect).
    pub fn from_oauth_error(status: Option<u16>, err: Option<&OAuthError>) -> Self {
        let code = err
            .map(|e| e.error.to_ascii_lowercase())
            .unwrap_or_default();
        if let Some(r) = Self::from_oauth_code(&code) {
            return r;
        }
        if status == Some(429) {
            Self::RateLimited
        } else {
            Self::Other
        }
    }

    fn from_oauth_code(code: &str) -> Option<Self> {
        Some(match code {
            "invalid_token" => Self::InvalidToken,
            "insufficient_scope" => Self::InsufficientScope,
            "expired_token" => Self::ExpiredToken,
            "too_many_requests" => Self::RateLimited,
            "invalid_grant" => Self::InvalidGrant,
            "access_denied" => Self::AccessDenied,
            "unauthorized_client" => Self::UnauthorizedClient,
            _ => return None,
        })
    }
}

/// `kind` label of `authtap_scope_mismatches_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    NotGranted,
    Insufficient,
}

impl ScopeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotGranted => "not_granted",
            Self::Insufficient => "insufficient",
        }
    }
}

/// Scopes that are not in the Management API catalogue but are standard and bounded.
pub const OIDC_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
];

/// Whether `scope` may be a `scope` label value: a scope of the Management API catalogue
/// (`crate::auth::scopes`), or a standard OIDC scope. Everything else is `other`.
pub fn known_scope(scope: &str) -> bool {
    use std::collections::HashSet;
    use std::sync::OnceLock;
    static KNOWN: OnceLock<HashSet<&'static str>> = OnceLock::new();
    OIDC_SCOPES.contains(&scope)
        || KNOWN
            .get_or_init(|| {
                crate::auth::scopes::catalogue()
                    .operations()
                    .iter()
                    .flat_map(|op| op.scopes.iter().copied())
                    .collect()
            })
            .contains(scope)
}

/// `token` label of `authtap_tokens_observed_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    Access,
    Id,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Id => "id",
            Self::Refresh => "refresh",
        }
    }
}

/// `format` label.
pub fn format_label(format: TokenFormat) -> &'static str {
    match format {
        TokenFormat::Jwt => "jwt",
        TokenFormat::Jwe => "jwe",
        TokenFormat::Opaque => "opaque",
    }
}

/// `grant` label: the grant type that issued a token, from a closed list.
pub fn grant_label(grant_type: Option<&str>) -> &'static str {
    match grant_type.unwrap_or("") {
        "authorization_code" => "authorization_code",
        "client_credentials" => "client_credentials",
        "refresh_token" => "refresh_token",
        "password" => "password",
        "http://auth0.com/oauth/grant-type/password-realm" => "password_realm",
        "urn:ietf:params:oauth:grant-type:device_code" => "device_code",
        "urn:ietf:params:oauth:grant-type:token-exchange" => "token_exchange",
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => "jwt_bearer",
        "http://auth0.com/oauth/grant-type/passwordless/otp" => "passwordless",
        g if g.starts_with("http://auth0.com/oauth/grant-type/mfa-") => "mfa",
        _ => OTHER,
    }
}

/// Grant label for tokens returned directly from /authorize (implicit or hybrid flows).
pub const GRANT_IMPLICIT: &str = "implicit";

/// `stage` label of `authtap_dropped_total`: where in the pipeline something was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropStage {
    /// The kernel or libpcap (pcap stats `dropped` / `if_dropped`).
    Kernel,
    Tcp,
    Tls,
    Http,
    Flows,
    Proxy,
    Metrics,
    /// `authtap capture`: decoded exchanges refused by the full queue between the capture thread
    /// and the analysis thread (the packets themselves were processed).
    Analysis,
}

impl DropStage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kernel => "kernel",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Http => "http",
            Self::Flows => "flows",
            Self::Proxy => "proxy",
            Self::Metrics => "metrics",
            Self::Analysis => "analysis",
        }
    }
}

/// `reason` label of `authtap_dropped_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Kernel ring buffer full (pcap `ps_drop`).
    Buffer,
    /// Dropped by the interface or driver (pcap `ps_ifdrop`).
    Interface,
    /// A table hit its cap and evicted an entry.
    TableFull,
    /// A body or stream hit its byte cap and was truncated.
    Truncated,
    /// Bytes that could not be parsed.
    Malformed,
    /// A gap in a TCP stream (missed segments).
    Gap,
    /// TLS records without a key to decrypt them.
    NoKey,
    /// A label value beyond its cardinality cap, folded into `other`.
    LabelCap,
    Other,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buffer => "buffer",
            Self::Interface => "interface",
            Self::TableFull => "table_full",
            Self::Truncated => "truncated",
            Self::Malformed => "malformed",
            Self::Gap => "gap",
            Self::NoKey => "no_key",
            Self::LabelCap => "label_cap",
            Self::Other => OTHER,
        }
    }
}

/// `rule` label: a rule id is lowercase-kebab; anything else becomes `other`.
pub fn rule_label(rule: &str) -> &str {
    if !rule.is_empty()
        && rule.len() <= 64
        && rule
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        rule
    } else {
        OTHER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_err(code: Option<&str>, msg: &str) -> Auth0Error {
        Auth0Error {
            status_code: None,
            error: None,
            message: Some(msg.to_string()),
            error_code: code.map(str::to_string),
        }
    }

    #[test]
    fn reasons_follow_auth0_bodies() {
        let cases = [
            (
                400,
                Some("Bearer"),
                "Bad HTTP authentication header format",
                "bad_header_format",
            ),
            (401, None, "Invalid token", "invalid_token"),
            (401, None, "Bad audience: https://x/api/v2", "bad_audience"),
            (
                401,
                None,
                "Expired token received for JSON Web Token validation",
                "expired_token",
            ),
            (
                403,
                Some("insufficient_scope"),
                "Insufficient scope, expected any of: read:users",
                "insufficient_scope",
            ),
            (
                429,
                Some("too_many_requests"),
                "Global limit has been reached",
                "rate_limited",
            ),
            (403, None, "Tenant not entitled to this feature.", "other"),
        ];
        for (status, code, msg, want) in cases {
            let e = api_err(code, msg);
            assert_eq!(
                FailureReason::from_api_error(Some(status), Some(&e)).as_str(),
                want,
                "{msg}"
            );
        }
        let oauth = OAuthError {
            error: "invalid_grant".into(),
            description: None,
        };
        assert_eq!(
            FailureReason::from_oauth_error(Some(403), Some(&oauth)),
            FailureReason::InvalidGrant
        );
        assert_eq!(
            FailureReason::from_oauth_error(Some(429), None),
            FailureReason::RateLimited
        );
        assert_eq!(
            FailureReason::from_oauth_error(Some(400), None),
            FailureReason::Other
        );
    }

    #[test]
    fn labels_are_closed() {
        assert_eq!(MethodLabel::from_method("patch").as_str(), "PATCH");
        assert_eq!(MethodLabel::from_method("PROPFIND").as_str(), "other");
        assert_eq!(status_class(Some(403)), "4xx");
        assert_eq!(status_class(None), "none");
        assert_eq!(status_label(Some(1000)), "other");
        assert!(endpoint_shape_ok("/api/v2/users/{id}"));
        assert!(!endpoint_shape_ok("/api/v2/users/auth0|123"));
        assert!(!endpoint_shape_ok("other"));
        assert!(!endpoint_shape_ok("/userinfo?x=1"));
        assert!(known_scope("update:current_user_metadata"));
        assert!(known_scope("read:users"));
        assert!(known_scope("openid"));
        assert!(!known_scope("read:users user@example.com"));
        assert!(!known_scope("update:resource_7"));
        assert!(!known_scope("write:things"));
        assert_eq!(
            grant_label(Some("authorization_code")),
            "authorization_code"
        );
        assert_eq!(
            grant_label(Some("http://auth0.com/oauth/grant-type/password-realm")),
            "password_realm"
        );
        assert_eq!(grant_label(Some("x".repeat(50).as_str())), "other");
        assert_eq!(rule_label("insufficient-scope"), "insufficient-scope");
        assert_eq!(rule_label("Bad Rule"), "other");
    }
}
