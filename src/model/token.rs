//! Tokens as observed on the wire: raw value, fingerprint, format and decoded JWT parts.
//!
//! Decoding lives in `crate::decode::jwt`; this file only holds the result. `raw` is a secret:
//! outputs show `fingerprint` unless the user passed `--include-secrets`.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// First 12 hex digits of SHA-256: how every secret is shown (DESIGN.md §3.4).
pub fn fingerprint(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    hex::encode(&digest[..6])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenFormat {
    /// Three dot-separated parts, a JWS.
    Jwt,
    /// Five parts: an encrypted JWT (Auth0 issues these with `alg: dir` as opaque tokens).
    Jwe,
    /// Anything else, e.g. the legacy 32-character opaque access token.
    Opaque,
}

/// What a token is, as far as the traffic tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenRole {
    Access,
    Id,
    Refresh,
    Unknown,
}

/// Result of checking a JWS signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Verification {
    /// No JWKS known for the issuer (yet).
    NotVerified,
    Valid {
        kid: Option<String>,
    },
    Invalid {
        reason: String,
    },
    /// `alg: none`.
    Unsigned,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Jwt {
    /// Shared, not copied, when a cached token is handed out again.
    pub header: std::sync::Arc<serde_json::Value>,
    pub claims: std::sync::Arc<serde_json::Value>,
    pub verification: Verification,
}

impl Jwt {
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(|v| v.as_str())
    }

    /// `aud` as a list (it may be a string or an array).
    pub fn audiences(&self) -> Vec<String> {
        match self.claims.get("aud") {
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// `scope` (space separated) plus `permissions` (array), deduplicated, in order.
    pub fn scopes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if let Some(s) = self.claim_str("scope") {
            out.extend(s.split_whitespace().map(str::to_string));
        }
        if let Some(serde_json::Value::Array(p)) = self.claims.get("permissions") {
            for v in p.iter().filter_map(|v| v.as_str()) {
                if !out.iter().any(|o| o == v) {
                    out.push(v.to_string());
                }
            }
        }
        out
    }

    pub fn exp(&self) -> Option<i64> {
        self.claims.get("exp").and_then(|v| v.as_i64())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The raw token. Secret. Shared, not copied, when a memoised token is handed out again
    /// (every API call of a busy client carries the same bearer token).
    pub raw: std::sync::Arc<str>,
    pub fingerprint: String,
    pub format: TokenFormat,
    pub role: TokenRole,
    pub jwt: Option<Jwt>,
}
