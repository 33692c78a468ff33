//! Token decoding: JWS/JWE/opaque recognition, claims, role guessing, and signature checks
//! against a JWKS.
//!
//! Owns: `decode` (never fails; what does not parse is `Opaque`), `guess_role`, `KeyStore`
//! (JWKS keys, signature-only verification with jsonwebtoken; `exp`/`aud`/`nbf` are NOT checked
//! here, rules judge those). Must not print tokens or claims (callers redact) and must not fetch
//! keys. Known limits: JWE tokens are recognised by their header only (they cannot be decrypted,
//! so `jwt` is `None`); HS* tokens cannot be verified from a JWKS (shared secret); tokens longer
//! than `MAX_TOKEN_LEN` are not decoded; the key store keeps at most `MAX_KEYS` keys.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::model::{fingerprint, Jwt, Token, TokenFormat, TokenRole, Verification};

/// Tokens longer than this are kept opaque (Auth0 caps token payloads at 100 KB, §4.4).
pub const MAX_TOKEN_LEN: usize = 256 * 1024;
/// Keys kept by a `KeyStore`; more are counted in `KeyStore::dropped`.
pub const MAX_KEYS: usize = 64;

/// base64url, padding optional, trailing bits tolerated (some encoders emit them).
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

fn b64_json(part: &str) -> Option<Value> {
    let bytes = B64URL.decode(part.trim()).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The decoded protected header of a 3- or 5-part compact token, when it is a JSON object.
pub fn compact_header(raw: &str) -> Option<Value> {
    let first = raw.trim().split('.').next()?;
    b64_json(first).filter(Value::is_object)
}

/// Decode a raw token seen on the wire. Never fails: unparseable tokens are `Opaque`.
///
/// `role` is what the context says (`id_token` field → `Id`); `Unknown` asks `guess_role`.
/// Format detection follows auth0-facts.md §4.1: 3 segments → JWT; 5 segments with an `enc`
/// header (Auth0 uses `alg: dir`, `enc: A256GCM`) → JWE; anything else (e.g. the legacy
/// 32-character string) → opaque.
pub fn decode(raw: &str, role: TokenRole) -> Token {
    let mut token = Token {
        raw: raw.into(),
        fingerprint: fingerprint(raw),
        format: TokenFormat::Opaque,
        role,
        jwt: None,
    };
    let t = raw.trim();
    if t.len() <= MAX_TOKEN_LEN {
        let parts: Vec<&str> = t.split('.').collect();
        match parts.as_slice() {
            [h, c, _sig] => {
                if let Some(header) = b64_json(h).filter(Value::is_object) {
                    let unsigned = header
                        .get("alg")
                        .and_then(Value::as_str)
                        .is_some_and(|a| a.eq_ignore_ascii_case("none"));
                    let claims = b64_json(c).unwrap_or(Value::Null);
                    token.format = TokenFormat::Jwt;
                    token.jwt = Some(Jwt {
                        header: header.into(),
                        claims: claims.into(),
                        verification: if unsigned {
                            Verification::Unsigned
                        } else {
                            Verification::NotVerified
                        },
                    });
                }
            }
            [h, _, _, _, _] if b64_json(h).is_some_and(|v| v.get("enc").is_some()) => {
                token.format = TokenFormat::Jwe;
            }
            _ => {}
        }
    }
    if token.role == TokenRole::Unknown {
        token.role = guess_role(&token);
    }
    token
}

fn is_url_like(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("https://") || l.starts_with("http://") || l.starts_with("urn:")
}

/// Guess whether a token is an ID token or an access token (auth0-facts.md §4.2, §4.3).
///
/// ID token: has `nonce` or `at_hash`, or its `aud` is not a URL (a client id) and it carries no
/// `scope`/`permissions`/`gty`. Everything else, including opaque and JWE tokens (which Auth0
/// issues as `/userinfo`-only access tokens, §4.1), is an access token. `typ: at+jwt` (RFC 9068)
/// is always an access token.
pub fn guess_role(token: &Token) -> TokenRole {
    let Some(jwt) = &token.jwt else {
        return TokenRole::Access;
    };
    let typ = jwt.header.get("typ").and_then(Value::as_str).unwrap_or("");
    if typ.eq_ignore_ascii_case("at+jwt") {
        return TokenRole::Access;
    }
    let c = &jwt.claims;
    if c.get("nonce").is_some() || c.get("at_hash").is_some() {
        return TokenRole::Id;
    }
    let auds = jwt.audiences();
    let access_claims = ["scope", "permissions", "gty"]
        .iter()
        .any(|k| c.get(k).is_some());
    if !auds.is_empty() && !auds.iter().any(|a| is_url_like(a)) && !access_claims {
        return TokenRole::Id;
    }
    TokenRole::Access
}

/// Why a JWKS document was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwksError {
    #[error("JWKS is not JSON: {message} at line {line}, column {column}")]
    NotJson {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("JWKS has no `keys` array (expected {{\"keys\": [...]}} or a single JWK object)")]
    NoKeys,
    #[error("JWKS has {total} keys but none is usable: {first_problem}")]
    NoUsableKeys { total: usize, first_problem: String },
}

struct StoredKey {
    kid: Option<String>,
    kty: String,
    key: DecodingKey,
}

/// Verification result with the reason when it could not be decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOutcome {
    pub verification: Verification,
    /// Why the token stays `NotVerified` (no keys, HS256, unknown kid...), or the failure.
    pub reason: Option<String>,
}

/// Public keys from JWKS documents (seen in traffic or given with `--jwks`).
#[derive(Default)]
pub struct KeyStore {
    keys: Vec<StoredKey>,
    /// Keys not kept because the store was full.
    pub dropped: u64,
    /// Keys that did not parse or use an unsupported type.
    pub skipped: u64,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field(
                "kids",
                &self
                    .keys
                    .iter()
                    .map(|k| k.kid.as_deref())
                    .collect::<Vec<_>>(),
            )
            .field("dropped", &self.dropped)
            .field("skipped", &self.skipped)
            .finish()
    }
}

fn not_verified(reason: impl Into<String>) -> VerifyOutcome {
    VerifyOutcome {
        verification: Verification::NotVerified,
        reason: Some(reason.into()),
    }
}

impl KeyStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Add the keys of a JWKS document (or a single JWK). Returns how many keys were accepted
    /// (a key whose `kid` is already known replaces the old one and counts as accepted).
    pub fn add_jwks(&mut self, json: &str) -> Result<usize, JwksError> {
        let doc: Value = serde_json::from_str(json).map_err(|e| JwksError::NotJson {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        let list: Vec<Value> = match doc.get("keys") {
            Some(Value::Array(a)) => a.clone(),
            _ if doc.get("kty").is_some() => vec![doc],
            _ => return Err(JwksError::NoKeys),
        };
        let total = list.len();
        let mut accepted = 0;
        let mut first_problem: Option<String> = None;
        for (i, v) in list.into_iter().enumerate() {
            let kty = v
                .get("kty")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let parsed = serde_json::from_value::<Jwk>(v)
                .map_err(|e| format!("key {i}: {e}"))
                .and_then(|jwk| {
                    let key =
                        DecodingKey::from_jwk(&jwk).map_err(|e| format!("key {i} ({kty}): {e}"))?;
                    Ok((jwk.common.key_id.clone(), key))
                });
            match parsed {
                Ok((kid, key)) => {
                    let stored = StoredKey { kid, kty, key };
                    if let Some(slot) = self
                        .keys
                        .iter_mut()
                        .find(|k| k.kid.is_some() && k.kid == stored.kid)
                    {
                        *slot = stored;
                    } else if self.keys.len() >= MAX_KEYS {
                        self.dropped += 1;
                        continue;
                    } else {
                        self.keys.push(stored);
                    }
                    accepted += 1;
                }
                Err(p) => {
                    self.skipped += 1;
                    first_problem.get_or_insert(p);
                }
            }
        }
        if accepted == 0 && total > 0 && self.dropped == 0 {
            return Err(JwksError::NoUsableKeys {
                total,
                first_problem: first_problem.unwrap_or_default(),
            });
        }
        Ok(accepted)
    }

    /// Signature-only verification (exp/aud/nbf not checked).
    pub fn verify(&self, token: &Token) -> Verification {
        self.verify_explained(token).verification
    }

    /// Like `verify`, plus why it could not be decided.
    pub fn verify_explained(&self, token: &Token) -> VerifyOutcome {
        let Some(jwt) = &token.jwt else {
            return match token.format {
                TokenFormat::Jwe => not_verified("encrypted token (JWE); it cannot be verified"),
                _ => not_verified("not a JWT (opaque token)"),
            };
        };
        if jwt.verification == Verification::Unsigned {
            return VerifyOutcome {
                verification: Verification::Unsigned,
                reason: Some("alg is `none`: the token carries no signature".into()),
            };
        }
        let raw = token.raw.trim();
        let header = match jsonwebtoken::decode_header(raw) {
            Ok(h) => h,
            Err(e) => {
                let alg = jwt.header.get("alg").and_then(Value::as_str).unwrap_or("?");
                return not_verified(format!("header alg `{alg}` not supported: {e}"));
            }
        };
        let alg = header.alg;
        if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return not_verified(format!(
                "{alg:?} is signed with a shared secret (client secret); a JWKS cannot verify it"
            ));
        }
        if self.keys.is_empty() {
            return not_verified("no JWKS known (pass --jwks or capture /.well-known/jwks.json)");
        }
        let family = match alg {
            Algorithm::ES256 | Algorithm::ES384 => "EC",
            Algorithm::EdDSA => "OKP",
            _ => "RSA",
        };
        let candidates: Vec<&StoredKey> = match &header.kid {
            Some(kid) => self
                .keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid))
                .collect(),
            None => self.keys.iter().filter(|k| k.kty == family).collect(),
        };
        if candidates.is_empty() {
            return not_verified(match &header.kid {
                Some(kid) => format!("no key with kid `{kid}` in the known JWKS"),
                None => format!("no {family} key in the known JWKS"),
            });
        }
        let mut validation = Validation::new(alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let mut last = String::new();
        for k in candidates {
            match jsonwebtoken::decode::<Value>(raw, &k.key, &validation) {
                Ok(_) => {
                    return VerifyOutcome {
                        verification: Verification::Valid { kid: k.kid.clone() },
                        reason: None,
                    }
                }
                Err(e) => last = format!("{e}"),
            }
        }
        VerifyOutcome {
            verification: Verification::Invalid {
                reason: format!(
                    "{alg:?} signature does not verify against the known keys ({last})"
                ),
            },
            reason: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(v: &Value) -> String {
        B64URL.encode(v.to_string())
    }

    fn unsigned_jwt(header: Value, claims: Value) -> String {
        format!("{}.{}.sig", b64(&header), b64(&claims))
    }

    const TEST_KEY: &str = include_str!("testdata/rsa_test_key.pem");
    const TEST_JWKS: &str = include_str!("testdata/rsa_test_jwks.json");

    fn rs256(claims: &Value, kid: &str) -> String {
        let mut h = jsonwebtoken::Header::new(Algorithm::RS256);
        h.kid = Some(kid.to_string());
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(TEST_KEY.as_bytes()).expect("test key");
        jsonwebtoken::encode(&h, claims, &key).expect("sign")
    }

    #[test]
    fn m2m_access_token_from_reference() {
        // auth0-facts.md §4.2, real M2M token payload.
        let raw = unsigned_jwt(
            json!({"alg":"RS256","typ":"JWT","kid":"tMQzailSAdaW4nojXxES9"}),
            json!({"iss":"https://dev-ltxchcls4igzho78.us.auth0.com/","sub":"3JJeI4tmMC6v8mCVCSDnAGVf2vrnJ0BT@clients","aud":"localhost","iat":1695887942,"exp":1695974342,"azp":"3JJeI4tmMC6v8mCVCSDnAGVf2vrnJ0BT","scope":"email2","gty":"client-credentials"}),
        );
        let t = decode(&raw, TokenRole::Unknown);
        assert_eq!(t.format, TokenFormat::Jwt);
        assert_eq!(t.role, TokenRole::Access);
        let jwt = t.jwt.as_ref().expect("jwt");
        assert_eq!(jwt.exp(), Some(1695974342));
        assert_eq!(jwt.scopes(), vec!["email2"]);
        assert_eq!(jwt.verification, Verification::NotVerified);
        assert_eq!(t.fingerprint, fingerprint(&raw));
    }

    #[test]
    fn id_token_recognised() {
        // §4.3 sample.
        let raw = unsigned_jwt(
            json!({"alg":"RS256","typ":"JWT"}),
            json!({"iss":"https://t.auth0.com/","sub":"auth0|USER-ID","aud":"abcClientId","exp":1490922820,"iat":1490886820,"nonce":"crypto-value","at_hash":"IoS3ZGppJKUn3Bta_LgE2A"}),
        );
        assert_eq!(decode(&raw, TokenRole::Unknown).role, TokenRole::Id);
        // Without nonce/at_hash: aud is a client id and no scope → still an ID token.
        let raw2 = unsigned_jwt(
            json!({"alg":"RS256"}),
            json!({"aud":"abcClientId","sub":"x"}),
        );
        assert_eq!(decode(&raw2, TokenRole::Unknown).role, TokenRole::Id);
        // A context role is kept.
        assert_eq!(decode(&raw2, TokenRole::Refresh).role, TokenRole::Refresh);
    }

    #[test]
    fn user_management_token_is_access() {
        // §4.2 user-context Management API token.
        let raw = unsigned_jwt(
            json!({"alg":"RS256"}),
            json!({"iss":"https://t.auth0.com/","sub":"auth0|5a62","aud":"https://t.auth0.com/api/v2/","scope":"openid profile"}),
        );
        assert_eq!(decode(&raw, TokenRole::Unknown).role, TokenRole::Access);
    }

    #[test]
    fn jwe_and_opaque() {
        // §4.1: newer opaque token is a 5-part JWE with alg dir.
        let h = b64(&json!({"alg":"dir","enc":"A256GCM","iss":"https://t.us.auth0.com/"}));
        let jwe = format!("{h}..ldohgr_Al6mX0aZn.S8IAHBxyz.HmaxWiZ8PE0k8pF8CZdBXA");
        let t = decode(&jwe, TokenRole::Unknown);
        assert_eq!(t.format, TokenFormat::Jwe);
        assert_eq!(t.role, TokenRole::Access);
        assert!(t.jwt.is_none());
        assert_eq!(
            compact_header(&jwe).and_then(|v| v.get("enc").cloned()),
            Some(json!("A256GCM"))
        );
        let legacy = decode("Jq2XuLrQ3KH9tBxWIQ9xN2QkOmhEyn1v", TokenRole::Unknown);
        assert_eq!(legacy.format, TokenFormat::Opaque);
        let junk = decode("a.b.c", TokenRole::Unknown);
        assert_eq!(junk.format, TokenFormat::Opaque);
    }

    #[test]
    fn alg_none_is_unsigned() {
        let raw = format!(
            "{}.{}.",
            b64(&json!({"alg":"none"})),
            b64(&json!({"sub":"x","scope":"read:users","aud":"https://t/api/v2/"}))
        );
        let t = decode(&raw, TokenRole::Unknown);
        let jwt = t.jwt.as_ref().expect("jwt");
        assert_eq!(jwt.verification, Verification::Unsigned);
        let ks = KeyStore::new();
        assert_eq!(ks.verify(&t), Verification::Unsigned);
    }

    #[test]
    fn rs256_verifies_against_jwks_and_detects_tampering() {
        let mut ks = KeyStore::new();
        assert_eq!(ks.add_jwks(TEST_JWKS), Ok(1));
        let claims = json!({"iss":"https://t.auth0.com/","aud":"https://t.auth0.com/api/v2/","exp":1,"scope":"read:users"});
        let good = decode(&rs256(&claims, "test-rsa-1"), TokenRole::Unknown);
        // exp = 1 is long past: signature-only verification still says valid.
        assert_eq!(
            ks.verify(&good),
            Verification::Valid {
                kid: Some("test-rsa-1".into())
            }
        );
        let mut parts: Vec<String> = good.raw.split('.').map(str::to_string).collect();
        parts[1] = b64(&json!({"iss":"https://t.auth0.com/","scope":"read:users update:users"}));
        let forged = decode(&parts.join("."), TokenRole::Unknown);
        assert!(matches!(ks.verify(&forged), Verification::Invalid { .. }));
        let other_kid = decode(&rs256(&claims, "rotated"), TokenRole::Unknown);
        let out = ks.verify_explained(&other_kid);
        assert_eq!(out.verification, Verification::NotVerified);
        assert!(out.reason.unwrap_or_default().contains("rotated"));
    }

    #[test]
    fn hs256_and_no_keys_are_not_verified_with_reason() {
        let key = jsonwebtoken::EncodingKey::from_secret(b"client-secret");
        let raw = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &json!({"aud":"x"}),
            &key,
        )
        .expect("sign");
        let t = decode(&raw, TokenRole::Unknown);
        let mut ks = KeyStore::new();
        let out = ks.verify_explained(&t);
        assert_eq!(out.verification, Verification::NotVerified);
        assert!(out.reason.unwrap_or_default().contains("shared secret"));
        ks.add_jwks(TEST_JWKS).expect("jwks");
        assert_eq!(ks.verify(&t), Verification::NotVerified);
    }

    #[test]
    fn jwks_errors_say_what_and_where() {
        let mut ks = KeyStore::new();
        assert!(matches!(
            ks.add_jwks("{\"keys\": [}"),
            Err(JwksError::NotJson { line: 1, .. })
        ));
        assert_eq!(ks.add_jwks("{\"x\":1}"), Err(JwksError::NoKeys));
        assert!(matches!(
            ks.add_jwks(r#"{"keys":[{"kty":"RSA","n":"!!","e":"AQAB"}]}"#),
            Err(JwksError::NoUsableKeys { total: 1, .. })
        ));
        // Same kid again replaces, does not grow.
        ks.add_jwks(TEST_JWKS).expect("jwks");
        ks.add_jwks(TEST_JWKS).expect("jwks");
        assert_eq!(ks.len(), 1);
    }

    #[test]
    fn oversized_and_odd_inputs_do_not_panic() {
        let big = "a.".repeat(MAX_TOKEN_LEN);
        assert_eq!(decode(&big, TokenRole::Unknown).format, TokenFormat::Opaque);
        for s in [
            "",
            ".",
            "..",
            "....",
            "\u{0}.\u{ff}.x",
            "e30.e30.e30",
            "bnVsbA.bnVsbA.x",
        ] {
            let t = decode(s, TokenRole::Unknown);
            let _ = KeyStore::new().verify(&t);
        }
        // e30 = "{}": header object without alg → Jwt, claims {}.
        let t = decode("e30.e30.x", TokenRole::Unknown);
        assert_eq!(t.format, TokenFormat::Jwt);
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(s in ".{0,300}") {
            let t = decode(&s, TokenRole::Unknown);
            let _ = guess_role(&t);
            let _ = KeyStore::new().verify_explained(&t);
        }

        #[test]
        fn decode_never_panics_on_dotted_b64(parts in proptest::collection::vec("[A-Za-z0-9_=-]{0,40}", 1..7)) {
            let s = parts.join(".");
            let t = decode(&s, TokenRole::Unknown);
            proptest::prop_assert_eq!(t.fingerprint, fingerprint(&s));
        }
    }
}
