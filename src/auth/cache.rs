//! Bounded memos of decoded bearer tokens and their signature checks, and of what an API
//! call's error answer says (`ErrorMemo`).
//!
//! Management API traffic reuses a handful of tokens for thousands of calls; decoding (base64,
//! JSON, SHA-256 fingerprint) and RSA verification per call dominate classification otherwise.
//! Owns: raw token → decoded `Token`, `Authorization` header value → `Credential` (what
//! `credential::from_authorization` makes of it) and raw token → `Verification`. Must not
//! change results:
//! a hit returns exactly what a fresh decode/verify would. Known limits: at `CAP` entries, or
//! once its keys hold `KEY_BYTES`, a memo is cleared (counted in `resets`), so crafted long
//! tokens cannot grow it past a few MiB; verifications are forgotten whenever keys change.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use super::errors;
use super::params::split_list;
use crate::decode::jwt::{decode, KeyStore};
use crate::model::{Auth0Error, Credential, Response, Token, TokenRole, Verification};

/// Entries kept per map before it is cleared.
pub const CAP: usize = 4096;
/// Tokens longer than this are not memoised (they are rare and would bloat the memo).
const MAX_KEY_LEN: usize = 16 * 1024;
/// Key bytes each memo holds before it is cleared (real tokens are ~1–2 KB, so `CAP` is hit
/// first; this bounds a memo fed many distinct long tokens).
pub const KEY_BYTES: usize = 4 << 20;

#[derive(Debug, Default)]
pub struct TokenCache {
    /// Raw token → (role asked for, decoded token). Looked up by `&str`, no allocation on hits.
    /// Keys are long bearer tokens: hashed with foldhash (seeded per run, tokens are
    /// attacker-controlled) rather than SipHash, which dominated lookups.
    decoded: HashMap<String, (RoleKey, Token), RandomState>,
    decoded_bytes: usize,
    verified: HashMap<String, Verification, RandomState>,
    verified_bytes: usize,
    /// `Authorization` header value → its credential: one sampled hash and compare per API
    /// call instead of re-checking the header's shape and hashing its whole token again.
    credentials: SampledMemo<Credential>,
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
        if self.decoded.len() >= CAP || self.decoded_bytes + raw.len() > KEY_BYTES {
            self.decoded.clear();
            self.decoded_bytes = 0;
            self.resets += 1;
        }
        self.decoded_bytes += raw.len();
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
        if self.credentials.len >= CAP || self.credentials.bytes + value.len() > KEY_BYTES {
            self.credentials.clear();
            self.resets += 1;
        }
        self.credentials.insert(value, c.clone());
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
        if self.verified.len() >= CAP || self.verified_bytes + token.raw.len() > KEY_BYTES {
            self.verified.clear();
            self.verified_bytes = 0;
            self.resets += 1;
        }
        self.verified_bytes += token.raw.len();
        self.verified.insert(token.raw.to_string(), v.clone());
        v
    }

    /// Forget verifications (a JWKS was added).
    pub fn keys_changed(&mut self) {
        self.verified.clear();
        self.verified_bytes = 0;
    }
}

/// A memo keyed by long strings (bearer headers are ~1 KB) that hashes only a sample of each
/// key: its length, its first 16 and last 32 bytes and eight words spread over the middle
/// (foldhash, seeded per run). Keys with the same sample share a bucket and are told apart by
/// comparing them whole, so a hit is exact. A bucket holds at most `BUCKET` keys; a key that
/// finds its bucket full is not memoised (crafted keys sharing a sample cost a fresh
/// computation each, never a long scan).
#[derive(Debug)]
struct SampledMemo<V> {
    buckets: HashMap<u64, Vec<(Box<str>, V)>, foldhash::fast::FixedState>,
    seed: RandomState,
    len: usize,
    /// Bytes of the keys held.
    bytes: usize,
}

impl<V> Default for SampledMemo<V> {
    fn default() -> Self {
        Self {
            buckets: HashMap::default(),
            seed: RandomState::default(),
            len: 0,
            bytes: 0,
        }
    }
}

/// Keys per `SampledMemo` bucket.
const BUCKET: usize = 4;

impl<V> SampledMemo<V> {
    fn sample(&self, key: &str) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let b = key.as_bytes();
        let mut h = self.seed.build_hasher();
        h.write_usize(b.len());
        if b.len() <= 128 {
            h.write(b);
        } else {
            // Fixed-size word reads (plain loads, no copy calls) gathered into one buffer and
            // hashed in one call (many small writes cost more).
            let word = |at: usize| -> u64 {
                b.get(at..at + 8)
                    .and_then(|s| <[u8; 8]>::try_from(s).ok())
                    .map_or(0, u64::from_le_bytes)
            };
            let step = (b.len() - 48) / 8;
            let tail = b.len() - 32;
            let words: [u64; 14] = [
                word(0),
                word(8),
                word(16),
                word(16 + step),
                word(16 + 2 * step),
                word(16 + 3 * step),
                word(16 + 4 * step),
                word(16 + 5 * step),
                word(16 + 6 * step),
                word(16 + 7 * step),
                word(tail),
                word(tail + 8),
                word(tail + 16),
                word(tail + 24),
            ];
            let mut sample = [0u8; 112];
            for (dst, w) in sample.chunks_exact_mut(8).zip(words) {
                dst.copy_from_slice(&w.to_le_bytes());
            }
            h.write(&sample);
        }
        h.finish()
    }

    fn get(&self, key: &str) -> Option<&V> {
        self.buckets
            .get(&self.sample(key))?
            .iter()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| v)
    }

    /// Remember `key` (not already present); skipped when its bucket is full.
    fn insert(&mut self, key: &str, value: V) {
        let bucket = self.buckets.entry(self.sample(key)).or_default();
        if bucket.len() < BUCKET {
            bucket.push((key.into(), value));
            self.len += 1;
            self.bytes += key.len();
        }
    }

    fn clear(&mut self) {
        self.buckets.clear();
        self.len = 0;
        self.bytes = 0;
    }
}

/// What an API call's answer of status ≥ 400 says about the failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorFacts {
    /// `errors::parse_mgmt_error` of the body (the credential heuristic reads this).
    pub parsed: Option<Auth0Error>,
    /// `parsed`, else built from a `WWW-Authenticate` error.
    pub error: Option<Auth0Error>,
    /// On a 403: the scopes the error names (message or code), plus a `WWW-Authenticate`
    /// `scope`.
    pub expected_scopes: Option<Vec<String>>,
}

impl ErrorFacts {
    /// Computed afresh (what `ErrorMemo::get` returns).
    pub fn of(r: &Response) -> Self {
        let parsed = errors::parse_mgmt_error(&r.body.data);
        let www = r
            .headers
            .get("www-authenticate")
            .and_then(errors::parse_www_authenticate);
        let mut error = parsed.clone();
        if error.is_none() {
            if let Some((e, desc, _)) = &www {
                error = Some(Auth0Error {
                    status_code: Some(r.status),
                    error: Some(r.status_text.to_string()).filter(|s| !s.is_empty()),
                    message: desc.clone().or_else(|| Some(e.clone())),
                    error_code: Some(e.clone()),
                });
            }
        }
        let expected_scopes = error
            .as_ref()
            .filter(|_| r.status == 403)
            .and_then(|e| {
                e.message
                    .as_deref()
                    .and_then(errors::insufficient_scopes)
                    .or_else(|| {
                        e.error_code
                            .as_deref()
                            .and_then(errors::insufficient_scopes)
                    })
            })
            .map(|mut v| {
                if let Some((_, _, Some(sc))) = &www {
                    for s in split_list(sc) {
                        if !v.contains(&s) {
                            v.push(s);
                        }
                    }
                }
                v
            });
        Self {
            parsed,
            error,
            expected_scopes,
        }
    }
}

/// Error bodies longer than this are not memoised.
const MAX_ERROR_BODY: usize = 4096;
/// Error answers remembered before the memo is cleared.
pub const ERROR_CAP: usize = 1024;

/// Bounded memo of `ErrorFacts::of`, keyed by body. An entry is used only when the status,
/// status text and `WWW-Authenticate` value match too, so a hit is exactly a fresh result.
#[derive(Debug, Default)]
pub struct ErrorMemo {
    by_body: HashMap<Vec<u8>, ErrorEntry, RandomState>,
    /// Times the memo hit `ERROR_CAP` and was cleared.
    pub resets: u64,
    pub hits: u64,
}

#[derive(Debug)]
struct ErrorEntry {
    status: u16,
    status_text: String,
    www: Option<String>,
    facts: ErrorFacts,
}

impl ErrorMemo {
    /// `ErrorFacts::of(r)`; a hit is borrowed from the memo (the caller clones only the parts
    /// it keeps).
    pub fn get(&mut self, r: &Response) -> std::borrow::Cow<'_, ErrorFacts> {
        use std::borrow::Cow;
        if r.body.data.len() > MAX_ERROR_BODY {
            return Cow::Owned(ErrorFacts::of(r));
        }
        let www = super::header::get(&r.headers, "www-authenticate", "WWW-Authenticate");
        let hit = self.by_body.get(r.body.data.as_slice()).is_some_and(|e| {
            e.status == r.status && e.status_text == r.status_text && e.www.as_deref() == www
        });
        if hit {
            self.hits += 1;
            return match self.by_body.get(r.body.data.as_slice()) {
                Some(e) => Cow::Borrowed(&e.facts),
                None => Cow::Owned(ErrorFacts::of(r)),
            };
        }
        let facts = ErrorFacts::of(r);
        if self.by_body.len() >= ERROR_CAP {
            self.by_body.clear();
            self.resets += 1;
        }
        self.by_body.insert(
            r.body.data.clone(),
            ErrorEntry {
                status: r.status,
                status_text: r.status_text.to_string(),
                www: www.map(str::to_string),
                facts: facts.clone(),
            },
        );
        Cow::Owned(facts)
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
    fn long_distinct_tokens_stay_within_the_byte_budget() {
        let mut c = TokenCache::default();
        let keys = KeyStore::default();
        let n = 2 * KEY_BYTES / MAX_KEY_LEN + 1;
        for i in 0..n {
            let raw = format!("{i:08}{}", "x".repeat(MAX_KEY_LEN - 8));
            let t = c.decode(&raw, TokenRole::Unknown);
            c.authorization(&format!("Bearer {}", &raw[..MAX_KEY_LEN - 7]));
            c.verify(&keys, &t);
            assert!(c.decoded_bytes <= KEY_BYTES && c.verified_bytes <= KEY_BYTES);
            assert!(c.credentials.bytes <= KEY_BYTES);
        }
        assert!(c.decoded.len() < n, "cleared before holding every token");
        assert!(
            c.resets >= 3,
            "each memo was cleared at least once: {}",
            c.resets
        );
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
    fn sampled_memo_tells_keys_with_the_same_sample_apart() {
        let mut m: SampledMemo<usize> = SampledMemo::default();
        // Same length, head, tail and sampled words; they differ only between samples.
        let base = "h".repeat(16) + &"m".repeat(500) + &"t".repeat(32);
        let keys: Vec<String> = (0..BUCKET + 2)
            .map(|i| {
                let mut k = base.clone().into_bytes();
                k[30] = b'a' + i as u8; // between the sampled words at 16 and 78
                String::from_utf8(k).unwrap_or_default()
            })
            .collect();
        assert_eq!(m.sample(&keys[0]), m.sample(&keys[1]));
        for (i, k) in keys.iter().enumerate() {
            m.insert(k, i);
        }
        // The bucket is capped: the last two were not memoised.
        assert_eq!(m.len, BUCKET);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(m.get(k).copied(), (i < BUCKET).then_some(i), "{i}");
        }
        assert_eq!(m.get("short"), None);
        m.insert("short", 7);
        assert_eq!(m.get("short"), Some(&7));
        assert_eq!(m.get("shorT"), None);
        m.clear();
        assert_eq!(m.get("short"), None);
    }

    #[test]
    fn error_memo_matches_fresh_parses() {
        use crate::model::{Body, Headers};
        let resp = |status: u16, text: &str, www: Option<&str>, body: &str| {
            let mut headers = Headers::default();
            if let Some(w) = www {
                headers.push("WWW-Authenticate", w);
            }
            Response {
                status,
                status_text: text.to_string().into(),
                headers,
                body: Body {
                    data: body.as_bytes().to_vec(),
                    ..Body::default()
                },
                ..Response::default()
            }
        };
        let scope403 = r#"{"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: read:users","errorCode":"insufficient_scope"}"#;
        let cases = [
            resp(403, "Forbidden", None, scope403),
            // Same body, other status / text / header: must not reuse the 403's facts.
            resp(401, "Forbidden", None, scope403),
            resp(403, "", None, scope403),
            resp(
                403,
                "Forbidden",
                Some(r#"Bearer error="insufficient_scope", scope="read:roles""#),
                scope403,
            ),
            resp(
                401,
                "Unauthorized",
                Some(r#"Bearer error="invalid_token", error_description="expired""#),
                "",
            ),
            resp(
                403,
                "Forbidden",
                Some(r#"Bearer error="insufficient_scope""#),
                "",
            ),
            resp(
                429,
                "Too Many Requests",
                None,
                r#"{"statusCode":429,"message":"Global limit has been reached"}"#,
            ),
            resp(500, "", None, "<html>oops</html>"),
        ];
        let mut m = ErrorMemo::default();
        for round in 0..2 {
            for r in &cases {
                assert_eq!(
                    m.get(r).into_owned(),
                    ErrorFacts::of(r),
                    "round {round}: {r:?}"
                );
            }
        }
        assert!(m.hits > 0);
        let f = ErrorFacts::of(&cases[3]);
        assert_eq!(
            f.expected_scopes,
            Some(vec!["read:users".to_string(), "read:roles".to_string()])
        );
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
