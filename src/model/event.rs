//! `AuthEvent`: the OAuth/Auth0 meaning of one exchange, produced by `crate::auth::classify`.
//!
//! An exchange yields zero or more events (an /authorize that answers with a redirect carrying a
//! code yields both `Authorize` and `AuthorizeResult`). Events hold raw secrets (codes, tokens);
//! redact before output.

use serde::Serialize;

use super::{Evidence, Token};

/// Which Auth0 API an exchange belongs to (metric label `api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    Authentication,
    Management,
    Other,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Authentication => "authentication",
            Api::Management => "management",
            Api::Other => "other",
        }
    }
}

/// An OAuth error (`error` / `error_description`), from a redirect, a form_post page or JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OAuthError {
    pub error: String,
    pub description: Option<String>,
}

/// Management API error body `{statusCode, error, message, errorCode}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Auth0Error {
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub message: Option<String>,
    pub error_code: Option<String>,
}

/// `x-ratelimit-*` / `Retry-After` headers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// Unix seconds when the bucket refills.
    pub reset: Option<i64>,
    pub retry_after: Option<String>,
}

/// Tokens returned together (token JSON, or an implicit-grant fragment).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenSet {
    pub access_token: Option<Token>,
    pub id_token: Option<Token>,
    pub refresh_token: Option<Token>,
    /// `scope` as returned (space separated in the wire format). `None` when absent.
    pub scope: Option<Vec<String>>,
    pub expires_in: Option<i64>,
    pub token_type: Option<String>,
}

impl TokenSet {
    pub fn is_empty(&self) -> bool {
        self.access_token.is_none() && self.id_token.is_none() && self.refresh_token.is_none()
    }

    pub fn tokens(&self) -> impl Iterator<Item = &Token> {
        [&self.access_token, &self.id_token, &self.refresh_token]
            .into_iter()
            .flatten()
    }
}

/// Parameters of an /authorize request (query, or form body for POST).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizeRequest {
    pub client_id: Option<String>,
    /// `response_type` split on spaces, e.g. ["token", "id_token"].
    pub response_type: Vec<String>,
    pub response_mode: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Vec<String>,
    pub audience: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub connection: Option<String>,
    pub organization: Option<String>,
}

/// How an authorize result travelled back to the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultVia {
    LocationQuery,
    LocationFragment,
    FormPost,
    WebMessage,
    /// An error page rendered by Auth0 (no redirect).
    ErrorPage,
}

/// The answer to an authorize: code, tokens or error.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizeResult {
    pub via: ResultVia,
    pub state: Option<String>,
    pub code: Option<String>,
    pub tokens: TokenSet,
    pub error: Option<OAuthError>,
}

/// A POST /oauth/token request and its answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenGrant {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_present: bool,
    /// Authorization code being exchanged. Secret.
    pub code: Option<String>,
    pub code_verifier_present: bool,
    pub redirect_uri: Option<String>,
    pub audience: Option<String>,
    /// Requested scope, when the request named one.
    pub scope: Option<Vec<String>>,
    pub realm: Option<String>,
    /// Refresh token presented (refresh_token grant).
    pub refresh_token: Option<Token>,
    pub status: Option<u16>,
    pub issued: TokenSet,
    pub error: Option<OAuthError>,
}

/// How a request to an API carried its credential.
#[derive(Debug, Clone, PartialEq)]
pub enum Credential {
    /// No Authorization header and no token in the URL.
    None,
    /// The export removed the Authorization header (sanitized HAR), so the credential is unknown.
    Stripped,
    Bearer(Token),
    /// `access_token` in the query string.
    QueryToken(Token),
    /// An Authorization header that is not `Bearer <token>`; `reason` says how.
    Malformed {
        reason: String,
    },
}

/// A call to a protected API: the Management API, /userinfo, or a custom API.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiCall {
    pub api: Api,
    /// Upper case; borrowed from the exchange (no copy) when it already was.
    pub method: std::borrow::Cow<'static, str>,
    /// Endpoint template, e.g. `/api/v2/users/{id}`; the raw path when unknown. Templates are
    /// borrowed from the static catalogue (no copy per call).
    pub endpoint: std::borrow::Cow<'static, str>,
    /// Whether `endpoint` came from the scope catalogue.
    pub known_endpoint: bool,
    /// Scopes the endpoint accepts, from the static catalogue (no copy per call).
    pub accepted_scopes: &'static [&'static str],
    /// The catalogue says all listed scopes are needed (else any one of them).
    pub needs_all_scopes: bool,
    /// Names (from the static template) and values of the template's `{...}` segments, in
    /// order (e.g. `("id", user id)`).
    pub path_params: Vec<(&'static str, String)>,
    /// Top-level keys of a JSON request body (e.g. PATCH fields).
    pub body_fields: Vec<String>,
    pub credential: Credential,
    pub status: Option<u16>,
    pub error: Option<Auth0Error>,
    /// Scopes named in a 403 "Insufficient scope" message.
    pub expected_scopes: Option<Vec<String>>,
    pub ratelimit: Option<RateLimit>,
}

/// What an exchange means to Auth0.
// API calls are nearly every event; boxing the large variants would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    Authorize(AuthorizeRequest),
    AuthorizeResult(AuthorizeResult),
    TokenGrant(TokenGrant),
    ApiCall(ApiCall),
    /// A JWKS document (the raw JSON) from `/.well-known/jwks.json`.
    Jwks(String),
    /// OpenID discovery document: its issuer.
    Discovery {
        issuer: Option<String>,
    },
    Logout,
    Revoke {
        status: Option<u16>,
    },
    /// Another Authentication API endpoint (login pages, /co/authenticate, /mfa/*...) with its template.
    AuthOther {
        endpoint: String,
        status: Option<u16>,
        error: Option<OAuthError>,
    },
    /// Something the input cannot show; `reason` is a sentence, `fix` how to capture it.
    EvidenceGap {
        reason: String,
        fix: String,
    },
}

/// One event: what it means, where it happened, and on which tenant host.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthEvent {
    pub at: Evidence,
    /// Host the request went to (tenant domain), normalised. Shared: consecutive exchanges to
    /// the same host hand out the same string.
    pub host: std::sync::Arc<str>,
    pub kind: EventKind,
}
