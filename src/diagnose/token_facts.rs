//! Facts about a JWT that the hot rules read on every API call (issuer host, `exp`, whether the
//! audience is the Management API), worked out once per claims object instead of searching the
//! claims map on each call.
//!
//! Owns a small per-thread memo keyed by the address of the token's shared claims
//! (`Arc<serde_json::Value>`). Each entry holds a clone of that `Arc`, so the address cannot be
//! reused by other claims while the entry exists, and a hit is exactly a fresh computation.
//! Tokens decoded once and shared (the classifier's token memo) hit.
//! Must not judge anything or hold anything but claims it was shown. Known limit: at `CAP`
//! entries the memo is cleared (counted in `resets`), and tokens over `MAX_TOKEN_LEN` are not
//! memoised, so it keeps alive at most `CAP + 1` claims objects of small tokens.

use std::cell::RefCell;
use std::collections::HashMap;
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

/// Claims objects remembered per thread before the memo is cleared (counted in `resets`).
pub const CAP: usize = 256;
/// Tokens longer than this are not memoised (their facts are computed each time), so the
/// claims the memo keeps alive stay small: at most `CAP + 1` claims of tokens this long.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

#[derive(Default)]
struct Memo {
    /// Claims address → (the claims, their facts). The held `Arc` keeps the address from
    /// being reused while the entry exists.
    by_addr: HashMap<usize, (Arc<serde_json::Value>, Rc<Facts>), foldhash::fast::FixedState>,
    /// The entry used last (the rules of one event ask for the same token in turn): checked
    /// before hashing. Holds its claims too, so the address stays theirs.
    last: Option<(Arc<serde_json::Value>, Rc<Facts>)>,
    /// Facts computed (misses).
    computed: u64,
    /// Times the memo held `CAP` entries and was cleared.
    resets: u64,
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo::default());
}

/// The facts of `t`'s claims; `None` when `t` is not a JWT.
pub fn of(t: &Token) -> Option<Rc<Facts>> {
    let claims = &t.jwt.as_ref()?.claims;
    if t.raw.len() > MAX_TOKEN_LEN {
        return Some(Rc::new(Facts::compute(t)));
    }
    let addr = Arc::as_ptr(claims) as usize;
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if let Some((held, facts)) = &m.last {
            if Arc::ptr_eq(held, claims) {
                return Some(Rc::clone(facts));
            }
        }
        if let Some((held, facts)) = m.by_addr.get(&addr) {
            if Arc::ptr_eq(held, claims) {
                let facts = Rc::clone(facts);
                m.last = Some((Arc::clone(claims), Rc::clone(&facts)));
                return Some(facts);
            }
        }
        let facts = Rc::new(Facts::compute(t));
        m.computed += 1;
        if m.by_addr.len() >= CAP {
            m.by_addr.clear();
            m.resets += 1;
        }
        m.by_addr
            .insert(addr, (Arc::clone(claims), Rc::clone(&facts)));
        m.last = Some((Arc::clone(claims), Rc::clone(&facts)));
        Some(facts)
    })
}

/// Facts computed on this thread so far (misses).
pub fn computed() -> u64 {
    MEMO.with(|m| m.borrow().computed)
}

/// Times this thread's memo was full and cleared.
pub fn resets() -> u64 {
    MEMO.with(|m| m.borrow().resets)
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
        // Many distinct claims objects (more than the cap): each answer is its own.
        let before = resets();
        for i in 0..(CAP * 2 + 1) {
            let aud = format!("https://api{i}.example.com/");
            let t = access_jwt(&aud, "read:x");
            let f = of(&t).expect("jwt");
            assert_eq!(*f, Facts::compute(&t), "{i}");
            assert!(!f.mgmt_audience);
        }
        assert!(resets() >= before + 2, "the cap cleared the memo");
    }

    #[test]
    fn long_tokens_are_not_held() {
        let long = "x".repeat(MAX_TOKEN_LEN);
        let t = access_jwt(&format!("https://{HOST}/api/v2/{long}"), "read:users");
        assert!(t.raw.len() > MAX_TOKEN_LEN);
        let before = computed();
        let a = of(&t).expect("jwt");
        let b = of(&t).expect("jwt");
        assert_eq!(*a, Facts::compute(&t));
        assert!(!Rc::ptr_eq(&a, &b), "computed afresh each time");
        assert_eq!(computed(), before, "never entered the memo");
    }

    #[test]
    fn opaque_tokens_have_no_facts() {
        let t = crate::decode::jwt::decode("not-a-jwt-at-all", TokenRole::Access);
        assert!(of(&t).is_none());
    }
}
