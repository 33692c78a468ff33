//! Token registry: token fingerprint → the facts of its issuance (flow, grant, requested
//! scope/audience, granted scope, client, role, expiry, the exchange that issued it).
//!
//! Owns only this map. Keys are fingerprints, never raw tokens. Bounded: past `cap` entries the
//! oldest registration is dropped (FIFO) and counted in `evicted`; a later use of a dropped token
//! then starts an Unlinked flow, which reports say. Must not decide anything about findings.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::model::{Evidence, FlowId, TokenRole};

/// Default number of tokens remembered.
pub const DEFAULT_TOKEN_CAP: usize = 50_000;

/// How and where one token was issued.
#[derive(Debug, Clone, PartialEq)]
pub struct Issuance {
    pub flow: FlowId,
    /// `implicit`, `authorization_code`, `client_credentials`, `refresh_token`, `password`...
    pub grant: String,
    /// Scope the authorize/token request asked for (`None` when it named none).
    pub requested_scope: Option<Vec<String>>,
    /// `audience` the authorize/token request named.
    pub requested_audience: Option<String>,
    /// `scope` of the answer, else the access token's own scopes when it is a JWT.
    pub granted_scope: Option<Vec<String>>,
    pub client_id: Option<String>,
    pub role: TokenRole,
    /// Unix seconds: the JWT `exp`, else issue time + `expires_in`.
    pub exp: Option<i64>,
    /// Tenant host the token came from.
    pub host: String,
    /// The exchange that returned the token.
    pub at: Evidence,
}

/// Capped fingerprint → issuance map.
#[derive(Debug)]
pub struct TokenRegistry {
    cap: usize,
    /// foldhash (per-run seed): looked up for every API call.
    map: HashMap<String, Arc<Issuance>, foldhash::fast::RandomState>,
    order: VecDeque<String>,
    /// Registrations dropped because the registry was full.
    pub evicted: u64,
}

impl TokenRegistry {
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            map: HashMap::default(),
            order: VecDeque::new(),
            evicted: 0,
        }
    }

    /// Remember a token. A token seen again keeps its first issuance (the first answer that
    /// carried it is where it was minted).
    pub fn insert(&mut self, fingerprint: &str, issuance: Issuance) {
        if self.map.contains_key(fingerprint) {
            return;
        }
        while self.map.len() >= self.cap {
            match self.order.pop_front() {
                Some(old) => {
                    if self.map.remove(&old).is_some() {
                        self.evicted += 1;
                    }
                }
                None => break,
            }
        }
        self.order.push_back(fingerprint.to_string());
        self.map.insert(fingerprint.to_string(), Arc::new(issuance));
    }

    pub fn get(&self, fingerprint: &str) -> Option<&Arc<Issuance>> {
        self.map.get(fingerprint)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuance(flow: FlowId) -> Issuance {
        Issuance {
            flow,
            grant: "implicit".into(),
            requested_scope: None,
            requested_audience: None,
            granted_scope: None,
            client_id: None,
            role: TokenRole::Access,
            exp: None,
            host: "t.auth0.com".into(),
            at: Evidence {
                input: 0,
                index: 0,
                time: None,
                method: "GET".into(),
                url: "https://t.auth0.com/authorize".into(),
                status: Some(302),
            },
        }
    }

    #[test]
    fn full_registry_drops_oldest_and_counts() {
        let mut r = TokenRegistry::new(2);
        r.insert("a", issuance(1));
        r.insert("b", issuance(2));
        r.insert("c", issuance(3));
        assert_eq!(r.len(), 2);
        assert_eq!(r.evicted, 1);
        assert!(r.get("a").is_none());
        assert_eq!(r.get("c").map(|i| i.flow), Some(3));
    }

    #[test]
    fn first_issuance_wins() {
        let mut r = TokenRegistry::new(4);
        r.insert("a", issuance(1));
        r.insert("a", issuance(9));
        assert_eq!(r.get("a").map(|i| i.flow), Some(1));
        assert_eq!(r.len(), 1);
    }
}
