//! Facts about a JWT that the hot rules read on every API call (issuer host, `exp`, whether the
//! audience is the Management API), worked out once per claims object instead of searching the
//! claims map on each call.
//!
//! Owns a small per-thread memo: `SLOTS` direct-mapped entries keyed by the address of the
//! token's shared claims (`Arc<serde_json::Value>`). Each entry holds a clone of that `Arc`, so
//! the address cannot be reused by other claims while the entry exists, and a hit is exactly a
//! fresh computation. Tokens decoded once and shared (the classifier's token memo) hit; two live
//! tokens mapped to the same slot just take turns (recomputed, never wrong).
//! Must not judge anything or hold anything but claims it was shown. Known limit: bounded by
//! construction (`SLOTS` entries, each one claims object); recomputations are counted per thread.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use crate::model::Token;

/// What the rules read of a JWT's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// `support::iss_host_raw` (host of `iss`, not lowercased).
    pub iss_host: Option<Box<str>>,
    /// `Jwt::exp`.
    pub exp: Option<i64>,
    /// `support::has_mgmt_audience`.
    pub mgmt_audience: bool,
}

impl Facts {
    /// Computed afresh from the token (what `of` returns).
    pub fn compute(t: &Token) -> Self {
        Self {
            iss_host: super::support::iss_host_raw(t).map(Box::from),
            exp: t.jwt.as_ref().and_then(|j| j.exp()),
            mgmt_audience: super::support::has_mgmt_audience(t),
        }
    }
}

/// Memo entries per thread.
pub const SLOTS: usize = 64;

type Slot = Option<(Arc<serde_json::Value>, Rc<Facts>)>;

struct Memo {
    slots: Vec<Slot>,
    /// Facts computed (misses), for tests and tuning.
    computed: u64,
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo {
        slots: vec![None; SLOTS],
        computed: 0,
    });
}

/// The facts of `t`'s claims; `None` when `t` is not a JWT.
pub fn of(t: &Token) -> Option<Rc<Facts>> {
    let claims = &t.jwt.as_ref()?.claims;
    // Address bits above the allocation alignment pick the slot.
    let slot = (Arc::as_ptr(claims) as usize >> 4) % SLOTS;
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if let Some(Some((held, facts))) = m.slots.get(slot) {
            if Arc::ptr_eq(held, claims) {
                return Some(Rc::clone(facts));
            }
        }
        let facts = Rc::new(Facts::compute(t));
        m.computed += 1;
        if let Some(s) = m.slots.get_mut(slot) {
            *s = Some((Arc::clone(claims), Rc::clone(&facts)));
        }
        Some(facts)
    })
}

/// Facts computed on this thread so far (misses).
pub fn computed() -> u64 {
    MEMO.with(|m| m.borrow().computed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::testkit::*;
    use crate::model::TokenRole;

    #[test]
    fn memoised_facts_equal_fresh_ones_and_are_shared() {
        let a = access_jwt(&format!("https://{HOST}/api/v2/"), "read:users");
        let fresh = Facts::compute(&a);
        assert_eq!(fresh.iss_host.as_deref(), Some(HOST));
        assert!(fresh.mgmt_audience);
        let before = computed();
        let first = of(&a).expect("jwt");
        // A clone shares the claims: a hit.
        let second = of(&a.clone()).expect("jwt");
        assert_eq!(*first, fresh);
        assert!(Rc::ptr_eq(&first, &second));
        assert_eq!(computed(), before + 1);
    }

    #[test]
    fn equal_looking_tokens_with_other_claims_are_not_confused() {
        // Many distinct claims objects (more than the slots): each answer is its own.
        for i in 0..(SLOTS * 3) {
            let aud = format!("https://api{i}.example.com/");
            let t = access_jwt(&aud, "read:x");
            let f = of(&t).expect("jwt");
            assert_eq!(*f, Facts::compute(&t), "{i}");
            assert!(!f.mgmt_audience);
        }
    }

    #[test]
    fn opaque_tokens_have_no_facts() {
        let t = crate::decode::jwt::decode("not-a-jwt-at-all", TokenRole::Access);
        assert!(of(&t).is_none());
    }
}
