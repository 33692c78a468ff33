//! Runtime state of a tenant: configuration plus issued codes, tokens, refresh tokens,
//! rate-limit windows and the deterministic secret generator.
//!
//! Owns: bounded tables (each capped at `TABLE_CAP` entries; overflow evicts the oldest
//! entry and is counted in `evictions`). Must not sign tokens or build responses.
//! Limits: secrets are derived from SHA-256(domain, label, counter) so fixture runs are
//! byte-for-byte reproducible — they are NOT unpredictable and only fit a test tenant.

use std::collections::{HashMap, VecDeque};

use sha2::{Digest, Sha256};

use crate::config::{AppMetadataClaim, Client, ClientGrant, ResourceServer, User};

pub const TABLE_CAP: usize = 4096;

/// A FIFO-evicting map with a hard cap.
#[derive(Debug)]
pub struct BoundedMap<V> {
    map: HashMap<String, V>,
    order: VecDeque<String>,
    pub evictions: u64,
}

impl<V> Default for BoundedMap<V> {
    fn default() -> Self {
        BoundedMap {
            map: HashMap::new(),
            order: VecDeque::new(),
            evictions: 0,
        }
    }
}

impl<V> BoundedMap<V> {
    pub fn insert(&mut self, key: String, value: V) {
        if !self.map.contains_key(&key) {
            while self.map.len() >= TABLE_CAP {
                match self.order.pop_front() {
                    Some(old) => {
                        if self.map.remove(&old).is_some() {
                            self.evictions += 1;
                        }
                    }
                    None => break,
                }
            }
            self.order.push_back(key.clone());
        }
        self.map.insert(key, value);
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key)
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        let v = self.map.remove(key);
        if v.is_some() {
            self.order.retain(|k| k != key);
        }
        v
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// An authorization code waiting to be exchanged.
#[derive(Debug, Clone)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: String,
    pub scope: Vec<String>,
    pub audience: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub expires_at: i64,
}

/// An opaque (`/userinfo`-only) access token.
#[derive(Debug, Clone)]
pub struct OpaqueToken {
    pub user_id: String,
    pub client_id: String,
    pub scope: Vec<String>,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct RefreshGrant {
    pub client_id: String,
    pub user_id: String,
    pub scope: Vec<String>,
    pub audience: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: i64,
    pub used: u32,
}

#[derive(Debug, Default)]
pub struct State {
    pub clients: Vec<Client>,
    pub grants: Vec<ClientGrant>,
    pub apis: Vec<ResourceServer>,
    pub users: Vec<User>,
    pub session_user: Option<String>,
    pub app_metadata_claim: Option<AppMetadataClaim>,
    pub codes: BoundedMap<CodeGrant>,
    pub opaque: BoundedMap<OpaqueToken>,
    pub refresh: BoundedMap<RefreshGrant>,
    pub windows: BoundedMap<Window>,
    pub counter: u64,
    pub seed: String,
}

impl State {
    /// Next deterministic 32 bytes for `label`.
    pub fn next_random(&mut self, label: &str) -> [u8; 32] {
        self.counter += 1;
        let mut h = Sha256::new();
        h.update(self.seed.as_bytes());
        h.update([0]);
        h.update(label.as_bytes());
        h.update(self.counter.to_be_bytes());
        h.finalize().into()
    }

    pub fn client(&self, id: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.client_id == id)
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.user_id == id)
    }

    pub fn user_mut(&mut self, id: &str) -> Option<&mut User> {
        self.users.iter_mut().find(|u| u.user_id == id)
    }

    pub fn api(&self, identifier: &str) -> Option<&ResourceServer> {
        self.apis.iter().find(|a| a.identifier == identifier)
    }

    pub fn grant(&self, client_id: &str, audience: &str) -> Option<&ClientGrant> {
        self.grants
            .iter()
            .find(|g| g.client_id == client_id && g.audience == audience)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_map_evicts_oldest_and_counts() {
        let mut m = BoundedMap::default();
        for i in 0..(TABLE_CAP + 3) {
            m.insert(format!("k{i}"), i);
        }
        assert_eq!(m.len(), TABLE_CAP);
        assert_eq!(m.evictions, 3);
        assert!(m.get("k0").is_none());
        assert!(m.get(&format!("k{}", TABLE_CAP + 2)).is_some());
    }

    #[test]
    fn randomness_is_deterministic_per_seed() {
        let mut a = State {
            seed: "x".into(),
            ..State::default()
        };
        let mut b = State {
            seed: "x".into(),
            ..State::default()
        };
        assert_eq!(a.next_random("code"), b.next_random("code"));
        assert_ne!(a.next_random("code"), a.next_random("code"));
    }
}
