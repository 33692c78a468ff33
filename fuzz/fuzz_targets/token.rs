//! Fuzz target: token decoding, role guessing and signature checking never panic.
//! Run: `cargo +nightly fuzz run token` (from the repository root).
#![no_main]

use authtap::decode::jwt::{decode, guess_role, KeyStore};
use authtap::model::TokenRole;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let t = decode(&s, TokenRole::Unknown);
    let _ = guess_role(&t);
    if let Some(j) = &t.jwt {
        let _ = (j.scopes(), j.audiences(), j.exp());
    }
    let mut keys = KeyStore::new();
    // The same bytes as a JWKS document: must fail cleanly, never panic.
    let _ = keys.add_jwks(&s);
    let _ = keys.verify_explained(&t);
});
