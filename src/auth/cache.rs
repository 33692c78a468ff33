//! Bounded memo of decoded bearer tokens and their signature checks.
//!
//! Management API traffic reuses a handful of tokens for thousands of calls; decoding (base64,
//! JSON, SHA-256 fingerprint) and RSA verification per call dominate classification otherwise.
//! Owns: raw token → decoded `Token`, `Authorization` header value → `Credential` (what
//! `credential::from_authorization` makes of it) and raw token → `Verification`. Must not
//! change results:
//! a hit returns exactly what a fresh decode/verify would. Known limits: at `CAP` entries the
//! memo is cleared (counted in `resets`); verifications are forgotten whenever keys change.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use crate::decode::jwt::{decode, KeyStore};
use crate::model::{Credential, Token, TokenRole, Verification};

/// Entries kept per map before it is cleared.
pub const CAP: usize = 4096;
/// Tokens longer than this are not memoised (they are rare and would bloat the memo).
const MAX_KEY_LEN: usize = 16 * 1024;

#[derive(Debug, Default)]
pub struct TokenCache {
    /// Raw token → (role asked for, decoded token). Looked up by `&str`, no allocation on hits.
    /// Keys are long bearer tokens: hashed with foldhash (seeded per run, tokens are
    /// attacker-controlled) rather than SipHash, which dominated lookups.
    decoded: HashMap<String, (RoleKey, Token), RandomState>,
    verified: HashMap<String, Verification, RandomState>,
    /// `Authorization` header value → its credential: one hash and compare per API call
    /// instead of re-checking the header's shape and hashing its token again.
    credentials: HashMap<String, Credential, RandomState>,
    /// Times a map hit `CAP` and was cleared.
    pub resets: u64,
    pub hits: u64,
}

/// `TokenRole` as a hashable key (the model type does not derive Hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct RoleKey(u8);

impl From<TokenRole> for RoleKey {
    fn from(r: TokenRole) -> Self {
        RoleKey(match r {
            TokenRole::Access => 0,
            TokenRole::Id => 1,
            TokenRole::Refresh => 2,
            TokenRole::Unknown => 3,
        })
    }
}

impl TokenCache {
    /// `decode::jwt::decode`, memoised.
    pub fn decode(&mut self, raw: &str, role: TokenRole) -> Token {
        if raw.len() > MAX_KEY_LEN {
            return decode(raw, role);
        }
        let role_key = RoleKey::from(role);
        if let Some((r, t)) = self.decoded.get(raw) {
            if *r == role_key {
                self.hits += 1;
                return t.clone();
            }
        }
        let t = decode(raw, role);
        if self.decoded.len() >= CAP {
            self.decoded.clear();
            self.resets += 1;
        }
        self.decoded.insert(raw.to_string(), (role_key, t.clone()));
        t
    }

    /// `credential::from_authorization` with this memo's decoding, memoised by header value.
    pub fn authorization(&mut self, value: &str) -> Credential {
        if value.len() > MAX_KEY_LEN {
            return super::credential::from_authorization(value, &mut |t, r| self.decode(t, r));
        }
        if let Some(c) = self.credentials.get(value) {
            self.hits += 1;
            return c.clone();
        }
        let c = super::credential::from_authorization(value, &mut |t, r| self.decode(t, r));
        if self.credentials.len() >= CAP {
            self.credentials.clear();
            self.resets += 1;
        }
        self.credentials.insert(value.to_string(), c.clone());
        c
    }

    /// `KeyStore::verify`, memoised until `keys_changed`.
    pub fn verify(&mut self, keys: &KeyStore, token: &Token) -> Verification {
        if token.raw.len() > MAX_KEY_LEN {
            return keys.verify(token);
        }
        if let Some(v) = self.verified.get(&*token.raw) {
            self.hits += 1;
            return v.clone();
        }
        let v = keys.verify(token);
        if self.verified.len() >= CAP {
            self.verified.clear();
            self.resets += 1;
        }
        self.verified.insert(token.raw.to_string(), v.clone());
        v
    }

    /// Forget verifications (a JWKS was added).
    pub fn keys_changed(&mut self) {
        self.verified.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_return_the_same_token_and_cap_clears() {
        let mut c = TokenCache::default();
        let a = c.decode("Jq2XuLrQ3KH9tBxWIQ9xN2QkOmhEyn1v", TokenRole::Unknown);
        let b = c.decode("Jq2XuLrQ3KH9tBxWIQ9xN2QkOmhEyn1v", TokenRole::Unknown);
        assert_eq!(a, b);
        assert_eq!(c.hits, 1);
        // The role is part of the key.
        let r = c.decode("Jq2XuLrQ3KH9tBxWIQ9xN2QkOmhEyn1v", TokenRole::Refresh);
        assert_eq!(r.role, TokenRole::Refresh);
        for i in 0..CAP + 1 {
            c.decode(&format!("tok{i}"), TokenRole::Unknown);
        }
        assert_eq!(c.resets, 1);
        assert!(c.decoded.len() <= CAP);
    }

    #[test]
    fn authorization_memo_agrees_with_a_fresh_check() {
        let mut c = TokenCache::default();
        for v in [
            "Bearer abc.def.ghi",
            "bearer abc.def.ghi",
            "Bearer  abc.def.ghi",
            "Bearer undefined",
            "[REDACTED]",
            "Basic dXNlcjpwYXNz",
            "",
        ] {
            let fresh = super::super::credential::from_authorization(v, &mut decode);
            assert_eq!(c.authorization(v), fresh, "{v:?}");
            let hits = c.hits;
            assert_eq!(c.authorization(v), fresh, "{v:?} (memoised)");
            assert_eq!(c.hits, hits + 1);
        }
        // A memoised bearer shares the raw token instead of copying it.
        let (a, b) = (
            c.authorization("Bearer abc.def.ghi"),
            c.authorization("Bearer abc.def.ghi"),
        );
        match (a, b) {
            (Credential::Bearer(a), Credential::Bearer(b)) => {
                assert!(std::sync::Arc::ptr_eq(&a.raw, &b.raw))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn verification_forgotten_when_keys_change() {
        let mut c = TokenCache::default();
        let t = decode("e30.e30.x", TokenRole::Unknown);
        let empty = KeyStore::new();
        assert_eq!(c.verify(&empty, &t), Verification::NotVerified);
        let mut keys = KeyStore::new();
        keys.add_jwks(include_str!("../decode/testdata/rsa_test_jwks.json"))
            .expect("jwks");
        c.keys_changed();
        // "{}" header has no alg: still not verified, but computed afresh (no hit).
        let hits = c.hits;
        let _ = c.verify(&keys, &t);
        assert_eq!(c.hits, hits);
    }
}
