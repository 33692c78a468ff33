//! Rule `unsigned-token`: a JWT with `alg: none`, or whose signature fails against the known keys
//! (a JWKS seen in the traffic or given with `--jwks`).
//!
//! Immediate part (`check`): `alg: none`, or a token the decoder already found invalid. Whole-input
//! part (`Pending`): tokens not verifiable when seen (no JWKS yet) are kept, bounded by
//! `MAX_PENDING` (overflow counted in `dropped`), and verified in `finish` with the caller's
//! verifier (the engine passes its key store, so this file needs no key handling). Holds raw
//! tokens in memory only until `finish`; never puts them in findings.

use std::collections::HashSet;

use super::support::{fp, role_name};
use super::{Draft, RuleInfo};
use crate::correlate::{presented_token, Link};
use crate::model::{AuthEvent, EventKind, Evidence, FlowId, Severity, Token, Verification};

pub const INFO: RuleInfo = RuleInfo {
    id: "unsigned-token",
    severity: Severity::Error,
    summary: "a JWT with `alg: none`, or a signature that fails against the known keys",
    detects: "A JWT whose header says `alg: none`, or whose signature does not verify with the tenant's \
              JWKS (fetched in the traffic from /.well-known/jwks.json, or passed with --jwks).",
    why: "Auth0 signs tokens with the tenant's RS256 key (or HS256 with the client secret) and publishes the \
          public keys at /.well-known/jwks.json (auth0-facts §3.3). A token that is unsigned or fails that \
          check was not issued by this tenant's current keys: forged, tampered, from another tenant, or \
          signed with a rotated key.",
    fix: "Reject such tokens: verify every JWT against the issuer's JWKS (RS256) and never accept \
          `alg: none`; find out which component produced the token.",
    example: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9. (header {\"alg\":\"none\"})",
};

/// Unverified tokens kept for `finish`.
pub const MAX_PENDING: usize = 1_000;

fn alg_none(t: &Token) -> bool {
    t.jwt.as_ref().is_some_and(|j| {
        j.header
            .get("alg")
            .and_then(|a| a.as_str())
            .is_some_and(|a| a.eq_ignore_ascii_case("none"))
    })
}

fn draft(t: &Token, v: &Verification, at: &Evidence) -> Option<Draft> {
    let what = match v {
        Verification::Unsigned => {
            "has `alg: none`: it carries no signature, so anyone can write one".to_string()
        }
        Verification::Invalid { reason } => {
            format!("has a signature that does not verify against the known keys ({reason})")
        }
        _ if alg_none(t) => {
            "has `alg: none`: it carries no signature, so anyone can write one".to_string()
        }
        _ => return None,
    };
    let iss = t
        .jwt
        .as_ref()
        .and_then(|j| j.claim_str("iss"))
        .unwrap_or("its issuer");
    Some(Draft {
        cause: t.fingerprint.clone(),
        title: format!("Unverifiable {}", role_name(t.role)),
        explanation: format!(
            "The {} {} (seen at {} {}) {what}. Auth0 signs every token with the tenant key published at \
             /.well-known/jwks.json (auth0-facts §3.3); this one was not issued by those keys.",
            role_name(t.role),
            fp(t),
            at.method,
            super::support::path_of(&at.url)
        ),
        fix: format!(
            "Do not accept this token. Verify JWTs with the JWKS of `{iss}` (RS256) and reject `alg: none`; \
             if a key was rotated, fetch the current JWKS; if another tenant issued it, use that tenant's API."
        ),
        evidence: vec![at.clone()],
    })
}

fn tokens_of(ev: &AuthEvent) -> Vec<&Token> {
    match &ev.kind {
        EventKind::AuthorizeResult(r) => r.tokens.tokens().collect(),
        EventKind::TokenGrant(g) => g.issued.tokens().collect(),
        EventKind::ApiCall(c) => presented_token(&c.credential).into_iter().collect(),
        _ => Vec::new(),
    }
}

pub fn check(ev: &AuthEvent, _link: &Link) -> Vec<Draft> {
    tokens_of(ev)
        .into_iter()
        .filter_map(|t| {
            t.jwt
                .as_ref()
                .and_then(|j| draft(t, &j.verification, &ev.at))
        })
        .collect()
}

/// JWTs not verified when seen, checked again once all keys are known.
#[derive(Debug, Default)]
pub struct Pending {
    items: Vec<(Token, Evidence, Option<FlowId>)>,
    seen: HashSet<String, foldhash::fast::RandomState>,
    /// Unverified tokens not kept because the list was full.
    pub dropped: u64,
}

impl Pending {
    pub fn observe(&mut self, ev: &AuthEvent, link: &Link) {
        // An API call presents at most one token (the common case; no list is built).
        let one;
        let tokens = match &ev.kind {
            EventKind::ApiCall(c) => {
                one = presented_token(&c.credential);
                one.as_slice()
            }
            _ => &tokens_of(ev)[..],
        };
        for &t in tokens {
            // Seen tokens first: one set lookup, before reading the JWT header.
            if self.seen.contains(&t.fingerprint) {
                continue;
            }
            let unverified = t
                .jwt
                .as_ref()
                .is_some_and(|j| j.verification == Verification::NotVerified && !alg_none(t));
            if !unverified {
                continue;
            }
            if self.items.len() >= MAX_PENDING {
                self.dropped += 1;
                continue;
            }
            self.seen.insert(t.fingerprint.clone());
            self.items.push((t.clone(), ev.at.clone(), link.flow));
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Verify every kept token; drafts for those that fail. Empties the list.
    pub fn finish(
        &mut self,
        verify: &mut dyn FnMut(&Token) -> Verification,
    ) -> Vec<(Option<FlowId>, Draft)> {
        let items = std::mem::take(&mut self.items);
        items
            .into_iter()
            .filter_map(|(t, at, flow)| {
                let v = verify(&t);
                draft(&t, &v, &at).map(|d| (flow, d))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::testkit::*;
    use crate::diagnose::testrun::*;
    use crate::diagnose::Diagnoser;
    use crate::model::{Credential, EventKind as K, TokenRole};

    fn call(t: Token) -> AuthEvent {
        let c = mgmt_call(
            "GET",
            "/api/v2/users",
            &["read:users"],
            Credential::Bearer(t),
            Some(200),
        );
        ev(0, "GET", "/api/v2/users", Some(200), K::ApiCall(c))
    }

    #[test]
    fn alg_none_fires_immediately() {
        let t = jwt_token(
            serde_json::json!({"alg": "none"}),
            serde_json::json!({"sub": "admin"}),
            TokenRole::Access,
        );
        let f = run(&[call(t)]);
        assert_eq!(of(&f, "unsigned-token").len(), 1);
        assert!(of(&f, "unsigned-token")[0]
            .explanation
            .contains("alg: none"));
    }

    #[test]
    fn pending_tokens_are_verified_at_finish() {
        let good = m2m_jwt(&mgmt_aud(), "read:users", NOW + 60);
        let bad = m2m_jwt(&mgmt_aud(), "read:users", NOW + 61);
        let mut d = Diagnoser::new();
        let link = crate::correlate::Link::none();
        assert!(d.on_event(&call(good.clone()), &link).is_empty());
        assert!(d.on_event(&call(bad.clone()), &link).is_empty());
        let bad_fp = bad.fingerprint.clone();
        let out = d.finish(&mut |t: &Token| {
            if t.fingerprint == bad_fp {
                Verification::Invalid {
                    reason: "signature mismatch for kid test-key-1".into(),
                }
            } else {
                Verification::Valid {
                    kid: Some("test-key-1".into()),
                }
            }
        });
        assert_eq!(out.len(), 1);
        assert!(out[0].explanation.contains(&format!("fp:{bad_fp}")));
        assert!(out[0].explanation.contains("signature mismatch"));
    }

    #[test]
    fn verified_and_not_verifiable_tokens_do_not_fire() {
        let mut t = m2m_jwt(&mgmt_aud(), "read:users", NOW + 60);
        if let Some(j) = t.jwt.as_mut() {
            j.verification = Verification::Valid { kid: None };
        }
        assert!(of(&run(&[call(t)]), "unsigned-token").is_empty());
        // NotVerified stays silent when no key ever shows up (run() verifies with NotVerified).
        assert!(of(
            &run(&[call(m2m_jwt(&mgmt_aud(), "read:users", NOW + 60))]),
            "unsigned-token"
        )
        .is_empty());
    }

    #[test]
    fn pending_is_bounded() {
        let mut p = Pending::default();
        let link = crate::correlate::Link::none();
        for i in 0..(MAX_PENDING as i64 + 5) {
            p.observe(&call(m2m_jwt(&mgmt_aud(), "x", NOW + i)), &link);
        }
        assert_eq!(p.len(), MAX_PENDING);
        assert_eq!(p.dropped, 5);
    }
}
