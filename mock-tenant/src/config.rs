//! Tenant configuration: applications (clients), client grants, APIs (resource servers),
//! users and knobs such as rate limits.
//!
//! Owns: plain configuration data and its builders. Must not hold runtime state (codes,
//! issued tokens, counters live in `state.rs`). Limits: no RBAC, no connections other than
//! one database realm per user, no organizations.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppType {
    /// SPA / native: no secret, cannot use client_credentials (auth0-facts.md §1.4).
    Public,
    /// Regular web app / M2M: has a secret.
    Confidential,
}

/// A per-client Management API rate limit: `limit` requests per `window_secs`.
/// Mock knob: Auth0's limits are per tenant/endpoint and plan-dependent (§2.4); the mock
/// applies one configurable window per client so a scenario can reach a 429 quickly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u32,
    pub window_secs: i64,
}

#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub secret: Option<String>,
    pub app_type: AppType,
    pub callbacks: Vec<String>,
    /// Mock knob: override the access-token lifetime for tokens issued to this client.
    /// Auth0 configures lifetimes per API (§4.5); the override exists so a scenario can
    /// produce a genuinely expired token within seconds of wall time.
    pub access_token_lifetime: Option<i64>,
    pub rate_limit: Option<RateLimit>,
}

impl Client {
    pub fn spa(client_id: &str, name: &str, callbacks: &[&str]) -> Self {
        Client {
            client_id: client_id.into(),
            name: name.into(),
            secret: None,
            app_type: AppType::Public,
            callbacks: callbacks.iter().map(|s| s.to_string()).collect(),
            access_token_lifetime: None,
            rate_limit: None,
        }
    }

    pub fn m2m(client_id: &str, name: &str, secret: &str) -> Self {
        Client {
            client_id: client_id.into(),
            name: name.into(),
            secret: Some(secret.into()),
            app_type: AppType::Confidential,
            callbacks: Vec::new(),
            access_token_lifetime: None,
            rate_limit: None,
        }
    }
}

/// A client grant: which scopes of an API a client may get with client_credentials.
#[derive(Debug, Clone)]
pub struct ClientGrant {
    pub client_id: String,
    pub audience: String,
    pub scopes: Vec<String>,
}

/// An API registered in the tenant (Auth0 "resource server").
#[derive(Debug, Clone)]
pub struct ResourceServer {
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// Default 86,400 s (§4.5).
    pub token_lifetime: i64,
    pub allow_offline_access: bool,
    /// True for the built-in Management API (`https://{domain}/api/v2/`).
    pub is_management: bool,
}

#[derive(Debug, Clone)]
pub struct User {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub nickname: String,
    pub picture: String,
    pub password: String,
    pub connection: String,
    pub user_metadata: Value,
    pub app_metadata: Value,
    pub created_at: String,
}

impl User {
    /// The profile object `/api/v2/users/{id}` returns (shape of Auth0's user object; the
    /// exact field set is a reasonable subset, a guess beyond auth0-facts.md).
    pub fn management_view(&self) -> Value {
        let provider = self.user_id.split('|').next().unwrap_or("auth0");
        let id_part = self.user_id.split('|').nth(1).unwrap_or(&self.user_id);
        serde_json::json!({
            "created_at": self.created_at,
            "email": self.email,
            "email_verified": true,
            "identities": [{
                "connection": self.connection,
                "provider": provider,
                "user_id": id_part,
                "isSocial": false
            }],
            "name": self.name,
            "nickname": self.nickname,
            "picture": self.picture,
            "updated_at": self.created_at,
            "user_id": self.user_id,
            "user_metadata": self.user_metadata,
            "app_metadata": self.app_metadata,
        })
    }
}

/// Emulates a post-login Action `api.idToken.setCustomClaim(NS, event.user.app_metadata)`:
/// when set, ID tokens carry the user's whole `app_metadata` under this namespaced claim
/// (namespacing rules: auth0-facts.md §4.4).
#[derive(Debug, Clone)]
pub struct AppMetadataClaim {
    pub claim: String,
}
