//! Token minting and checking: RS256 JWTs, legacy 32-character opaque tokens, `at_hash`
//! and PKCE S256.
//!
//! Owns: the wire shape of tokens (auth0-facts.md §4.1–§4.3). Must not decide *which*
//! claims a grant gets (the endpoints do). Limits: RS256 only; no JWE opaque tokens (the
//! mock issues the older dot-less 32-char form, §4.1 "older").

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::keys::SigningKey;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenCheck {
    #[error("not a JWT (expected three dot-separated segments)")]
    NotJwt,
    #[error("JWT signature or header invalid")]
    BadSignature,
}

/// Signs `claims` as a compact RS256 JWT with header `{"alg":"RS256","typ":"JWT","kid":…}`
/// (Auth0 access-token profile header, §4.2).
pub fn sign(key: &SigningKey, claims: &serde_json::Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    // RS256 signing with a valid key and a serializable Value cannot fail; fall back to an
    // empty string rather than panicking should it ever happen.
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap_or_default()
}

/// Verifies the signature and returns the claims; does not check `exp`/`aud` (callers do,
/// against the tenant clock).
pub fn verify(key: &SigningKey, token: &str) -> Result<serde_json::Value, TokenCheck> {
    if token.split('.').count() != 3 {
        return Err(TokenCheck::NotJwt);
    }
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_exp = false;
    v.validate_aud = false;
    v.validate_nbf = false;
    v.required_spec_claims.clear();
    jsonwebtoken::decode::<serde_json::Value>(token, &key.decoding, &v)
        .map(|d| d.claims)
        .map_err(|_| TokenCheck::BadSignature)
}

/// A legacy opaque access token: 32 url-safe characters, no dots (§4.1).
pub fn opaque(random: &[u8; 32]) -> String {
    let s = URL_SAFE_NO_PAD.encode(&random[..24]);
    s.chars().take(32).collect()
}

/// Url-safe random string of `len` chars (codes, secrets, session ids).
pub fn random_string(random: &[u8; 32], len: usize) -> String {
    URL_SAFE_NO_PAD
        .encode(random)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(len)
        .collect()
}

/// OIDC `at_hash`: base64url of the left half of SHA-256(access_token).
pub fn at_hash(access_token: &str) -> String {
    let d = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&d[..16])
}

/// PKCE S256 challenge for a verifier (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_roundtrip_and_tamper() {
        let key = SigningKey::test_key().expect("key");
        let t = sign(&key, &serde_json::json!({"sub": "auth0|1", "exp": 5}));
        assert_eq!(t.split('.').count(), 3);
        let claims = verify(&key, &t).expect("valid");
        assert_eq!(claims["sub"], "auth0|1");
        let mut bad = t.clone();
        bad.pop();
        bad.push(if t.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(verify(&key, &bad), Err(TokenCheck::BadSignature));
        assert_eq!(verify(&key, "abc"), Err(TokenCheck::NotJwt));
    }

    #[test]
    fn opaque_is_32_chars_without_dots() {
        let t = opaque(&[7u8; 32]);
        assert_eq!(t.len(), 32);
        assert!(!t.contains('.'));
    }

    #[test]
    fn pkce_s256_matches_independent_computation() {
        // Expected value computed independently with Python's hashlib + base64url.
        assert_eq!(
            s256("dBjftJeZ4CVP-mJ0Ea5fNlNl2jEw27iHLHRKjn2YnA"),
            "rSJTau6ZaVHuPKOYsZfoqt8zwhIqE638j75YEVj4XAI"
        );
    }
}
