//! Token decoding: JWS/JWE/opaque recognition, claims, and signature checks against a JWKS.
//!
//! Placeholder interface; the auth work fills it in.

use crate::model::{fingerprint, Token, TokenFormat, TokenRole};

/// Decode a raw token seen on the wire. Never fails: unparseable tokens are `Opaque`.
pub fn decode(raw: &str, role: TokenRole) -> Token {
    Token {
        raw: raw.to_string(),
        fingerprint: fingerprint(raw),
        format: TokenFormat::Opaque,
        role,
        jwt: None,
    }
}
