//! The tenant's RS256 signing key (TEST ONLY) and its JWKS.
//!
//! Owns: loading the committed PEM key `keys/TEST-ONLY-signing-key.pem`, the `kid`, the JWKS
//! document and the encoding/decoding keys. The key is public in the repository and must
//! never be used for anything but tests and fixtures. Limits: one key, no rotation.
//! JWKS shape (`kty`, `use`, `alg`, `kid`, `n`, `e`) follows auth0-facts.md §3.3 [RP-JWT];
//! Auth0 also publishes `x5t`/`x5c` — the mock omits them (no certificate for the key).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};

/// The committed test-only private key (PKCS#8 PEM).
pub const TEST_SIGNING_KEY_PEM: &str = include_str!("../keys/TEST-ONLY-signing-key.pem");

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("test signing key: PEM/PKCS#8 parse failed: {0}")]
    Parse(String),
    #[error("test signing key: jsonwebtoken rejected the key: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
}

#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub n_b64: String,
    pub e_b64: String,
    pub encoding: jsonwebtoken::EncodingKey,
    pub decoding: jsonwebtoken::DecodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish()
    }
}

impl SigningKey {
    pub fn test_key() -> Result<Self, KeyError> {
        Self::from_pem(TEST_SIGNING_KEY_PEM)
    }

    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let private =
            rsa::RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| KeyError::Parse(e.to_string()))?;
        let n = private.n().to_bytes_be();
        let e = private.e().to_bytes_be();
        let n_b64 = URL_SAFE_NO_PAD.encode(&n);
        let e_b64 = URL_SAFE_NO_PAD.encode(&e);
        // Auth0 kids are ~22-char url-safe strings (§4.2 sample "tMQzailSAdaW4nojXxES9");
        // derive a stable one from the modulus.
        let digest = Sha256::digest(&n);
        let kid = URL_SAFE_NO_PAD.encode(&digest[..16]);
        let encoding = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes())?;
        let decoding = jsonwebtoken::DecodingKey::from_rsa_components(&n_b64, &e_b64)?;
        Ok(SigningKey {
            kid,
            n_b64,
            e_b64,
            encoding,
            decoding,
        })
    }

    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "RSA",
                "use": "sig",
                "alg": "RS256",
                "kid": self.kid,
                "n": self.n_b64,
                "e": self.e_b64,
            }]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_key_loads_and_jwks_has_kid() {
        let k = SigningKey::test_key().expect("committed key parses");
        assert_eq!(k.kid.len(), 22);
        let jwks = k.jwks();
        assert_eq!(jwks["keys"][0]["kid"], k.kid);
        assert_eq!(jwks["keys"][0]["e"], "AQAB");
    }
}
