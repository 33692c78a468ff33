//! The correlator: finds the flow an `AuthEvent` belongs to, applies the transition table, keeps
//! the bounded flow table and token registry, and hands rules a `Link` (the flow plus the facts
//! of the earlier steps: the authorize request, the issuance of the token being used).
//!
//! Joins: authorize ↔ result by `state` (or by being the same exchange); result ↔ token grant by
//! the code's fingerprint; issuance ↔ use by token fingerprint; client_credentials grants by
//! host + `client_id`; refresh grants by the refresh token's fingerprint; API calls whose token
//! issuance was not seen join one Unlinked flow per token.
//!
//! Bounds: at most `flow_cap` flows (least recently active evicted first, every eviction counted
//! in `flows_evicted`; `evict_idle` also drops flows idle for longer than a given time); at most `exchanges_per_flow` evidence entries per flow (the rest counted
//! in `Flow::exchanges_dropped`); the token registry has its own cap. Index keys hold
//! fingerprints of codes and tokens, never raw values. Must not produce findings or output.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::registry::{Issuance, TokenRegistry, DEFAULT_TOKEN_CAP};
use super::table::{transition, Anomaly, Input, Orphan, Outcome, Phase};
use crate::model::{
    fingerprint, AuthEvent, AuthorizeRequest, Credential, EventKind, Evidence, Flow, FlowId,
    FlowKind, Micros, Token, TokenRole, TokenSet,
};

/// Default number of flows kept.
pub const DEFAULT_FLOW_CAP: usize = 10_000;
/// Default number of exchanges listed per flow.
pub const DEFAULT_EXCHANGES_PER_FLOW: usize = 200;
/// Anomalies remembered per flow.
const MAX_ANOMALIES_PER_FLOW: usize = 16;
/// Join keys (states, codes...) kept per flow; beyond it later events of the flow start new ones.
const MAX_KEYS_PER_FLOW: usize = 64;

#[derive(Debug, Clone, Copy)]
pub struct CorrelateConfig {
    pub flow_cap: usize,
    pub token_cap: usize,
    pub exchanges_per_flow: usize,
}

impl Default for CorrelateConfig {
    fn default() -> Self {
        Self {
            flow_cap: DEFAULT_FLOW_CAP,
            token_cap: DEFAULT_TOKEN_CAP,
            exchanges_per_flow: DEFAULT_EXCHANGES_PER_FLOW,
        }
    }
}

/// The /authorize request that started a flow.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizeFacts {
    pub request: AuthorizeRequest,
    pub at: Evidence,
    pub host: String,
}

/// What the correlator tells rules about one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// The flow the event joined or opened; `None` for events that join no flow.
    pub flow: Option<FlowId>,
    pub kind: Option<FlowKind>,
    /// Which line of the transition table fired.
    pub outcome: Outcome,
    /// The flow's /authorize, when captured (shared, cheap to clone).
    pub authorize: Option<Arc<AuthorizeFacts>>,
    /// For API calls and refresh grants: the issuance of the presented token, when captured.
    pub token: Option<Arc<Issuance>>,
}

impl Link {
    /// A link for an event that stands alone (used by tests and by `note_undecrypted`).
    pub fn none() -> Self {
        Self {
            flow: None,
            kind: None,
            outcome: Outcome::Ignore,
            authorize: None,
            token: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    State(String),
    /// Fingerprint of an authorization code.
    Code(String),
    /// Host + client_id of client_credentials grants.
    Client(String, String),
    /// Fingerprint of a token whose issuance was not seen.
    Unlinked(String),
    /// API calls on this host that carried no usable token (none, stripped, malformed).
    NoToken(String),
}

#[derive(Debug)]
struct FlowEntry {
    id: FlowId,
    kind: FlowKind,
    phase: Phase,
    host: Option<String>,
    client_id: Option<String>,
    label: String,
    authorize: Option<Arc<AuthorizeFacts>>,
    exchanges: Vec<Evidence>,
    exchanges_dropped: u64,
    anomalies: Vec<Anomaly>,
    keys: Vec<Key>,
    tick: u64,
    /// Time of the latest event, when the source gave one (for idle eviction).
    last_time: Option<Micros>,
}

/// The bounded flow table plus the token registry.
#[derive(Debug)]
pub struct Correlator {
    config: CorrelateConfig,
    flows: HashMap<FlowId, FlowEntry, foldhash::fast::RandomState>,
    /// (tick, flow) in touch order, oldest first (least recently active). An entry is live
    /// while its tick is the flow's current tick; older entries of a flow are skipped and
    /// dropped lazily (a touch is one push, not a tree removal and insertion), and the queue is
    /// compacted once stale entries outnumber the flows (`touch`).
    lru: VecDeque<(u64, FlowId)>,
    index: HashMap<Key, FlowId, foldhash::fast::RandomState>,
    /// `Key::Unlinked` entries of `index`, by fingerprint: looked up for every API call, by
    /// `&str` (no key is built).
    unlinked: HashMap<String, FlowId, foldhash::fast::RandomState>,
    registry: TokenRegistry,
    next_id: FlowId,
    tick: u64,
    /// The flow opened by the last /authorize, with its exchange, to join a result carried by
    /// the same exchange when it has no `state`.
    last_authorize: Option<((usize, usize), FlowId)>,
    evicted: u64,
    keys_dropped: u64,
}

fn input_of(ev: &AuthEvent) -> Input {
    match &ev.kind {
        EventKind::Authorize(_) => Input::Authorize,
        EventKind::AuthorizeResult(r) => {
            if r.error.is_some() {
                Input::ResultError
            } else if r.code.is_some() {
                Input::ResultCode
            } else {
                Input::ResultTokens
            }
        }
        EventKind::TokenGrant(g) => {
            let ok = g.error.is_none()
                && g.status.is_none_or(|s| (200..300).contains(&s))
                && !g.issued.is_empty();
            match g.grant_type.as_deref() {
                Some("authorization_code") => Input::CodeGrant { ok },
                Some("client_credentials") => Input::ClientCredentials { ok },
                Some("refresh_token") => Input::RefreshGrant { ok },
                _ => Input::OtherGrant { ok },
            }
        }
        EventKind::ApiCall(_) => Input::ApiCall,
        EventKind::Jwks(_)
        | EventKind::Discovery { .. }
        | EventKind::Logout
        | EventKind::Revoke { .. }
        | EventKind::AuthOther { .. }
        | EventKind::EvidenceGap { .. } => Input::Unjoined,
    }
}

/// The token an API call presented, if any.
pub fn presented_token(cred: &Credential) -> Option<&Token> {
    match cred {
        Credential::Bearer(t) | Credential::QueryToken(t) => Some(t),
        Credential::None | Credential::Stripped | Credential::Malformed { .. } => None,
    }
}

fn non_empty(v: &[String]) -> Option<Vec<String>> {
    if v.is_empty() {
        None
    } else {
        Some(v.to_vec())
    }
}

fn client_phrase(client: Option<&str>) -> String {
    match client {
        Some(c) => format!("for client {c}"),
        None => "for an unknown client".to_string(),
    }
}

/// "implicit grant (response_type=token id_token) for client abc" and friends.
pub fn authorize_label(req: &AuthorizeRequest) -> String {
    let rt = req.response_type.join(" ");
    let has_code = req.response_type.iter().any(|r| r == "code");
    let has_tokens = req
        .response_type
        .iter()
        .any(|r| r == "token" || r == "id_token");
    let what = match (has_code, has_tokens) {
        (true, true) => "hybrid flow",
        (true, false) if req.code_challenge.is_some() => "authorization code + PKCE",
        (true, false) => "authorization code flow",
        (false, true) => "implicit grant",
        (false, false) => "authorize request",
    };
    format!(
        "{what} (response_type={}) {}",
        if rt.is_empty() { "none" } else { &rt },
        client_phrase(req.client_id.as_deref())
    )
}

impl Correlator {
    pub fn new(config: CorrelateConfig) -> Self {
        let config = CorrelateConfig {
            flow_cap: config.flow_cap.max(1),
            token_cap: config.token_cap.max(1),
            exchanges_per_flow: config.exchanges_per_flow.max(1),
        };
        Self {
            config,
            flows: HashMap::default(),
            lru: VecDeque::new(),
            index: HashMap::default(),
            unlinked: HashMap::default(),
            registry: TokenRegistry::new(config.token_cap),
            next_id: 1,
            tick: 0,
            last_authorize: None,
            evicted: 0,
            keys_dropped: 0,
        }
    }

    /// Flows evicted from the table so far.
    pub fn flows_evicted(&self) -> u64 {
        self.evicted
    }

    /// Token registrations dropped because the registry was full.
    pub fn tokens_evicted(&self) -> u64 {
        self.registry.evicted
    }

    pub fn active_flows(&self) -> usize {
        self.flows.len()
    }

    /// Issuance facts of a token, by fingerprint.
    pub fn issuance(&self, fp: &str) -> Option<&Issuance> {
        self.registry.get(fp).map(|a| a.as_ref())
    }

    /// Anomalies noted on a flow (state reuse, code replay...).
    pub fn anomalies(&self, flow: FlowId) -> &[Anomaly] {
        self.flows
            .get(&flow)
            .map(|f| f.anomalies.as_slice())
            .unwrap_or(&[])
    }

    /// Flow summaries, oldest first.
    pub fn flows(&self) -> Vec<Flow> {
        let mut out: Vec<Flow> = self
            .flows
            .values()
            .map(|f| Flow {
                id: f.id,
                kind: f.kind,
                tenant: f.host.clone(),
                client_id: f.client_id.clone(),
                label: f.label.clone(),
                exchanges: f.exchanges.clone(),
                exchanges_dropped: f.exchanges_dropped,
            })
            .collect();
        out.sort_by_key(|f| f.id);
        out
    }

    fn lookup(&self, ev: &AuthEvent) -> (Option<FlowId>, Option<Arc<Issuance>>) {
        let live = |id: Option<&FlowId>| id.copied().filter(|id| self.flows.contains_key(id));
        match &ev.kind {
            EventKind::Authorize(req) => (
                req.state
                    .as_ref()
                    .and_then(|s| live(self.index.get(&Key::State(s.clone())))),
                None,
            ),
            EventKind::AuthorizeResult(res) => {
                let by_state = res
                    .state
                    .as_ref()
                    .and_then(|s| live(self.index.get(&Key::State(s.clone()))));
                let same_exchange = self
                    .last_authorize
                    .filter(|(at, _)| *at == (ev.at.input, ev.at.index))
                    .and_then(|(_, id)| live(Some(&id)));
                (by_state.or(same_exchange), None)
            }
            EventKind::TokenGrant(g) => match g.grant_type.as_deref() {
                Some("authorization_code") => (
                    g.code
                        .as_ref()
                        .and_then(|c| live(self.index.get(&Key::Code(fingerprint(c))))),
                    None,
                ),
                Some("client_credentials") => (
                    g.client_id.as_ref().and_then(|c| {
                        live(
                            self.index
                                .get(&Key::Client(ev.host.to_ascii_lowercase(), c.clone())),
                        )
                    }),
                    None,
                ),
                Some("refresh_token") => {
                    let iss = g
                        .refresh_token
                        .as_ref()
                        .and_then(|t| self.registry.get(&t.fingerprint))
                        .cloned();
                    (live(iss.as_ref().map(|i| &i.flow)), iss)
                }
                _ => (None, None),
            },
            EventKind::ApiCall(call) => match presented_token(&call.credential) {
                Some(t) => {
                    let iss = self.registry.get(&t.fingerprint).cloned();
                    let by_issue = live(iss.as_ref().map(|i| &i.flow));
                    let unlinked = live(self.unlinked.get(t.fingerprint.as_str()));
                    (by_issue.or(unlinked), iss)
                }
                None => (
                    live(self.index.get(&Key::NoToken(ev.host.to_ascii_lowercase()))),
                    None,
                ),
            },
            _ => (None, None),
        }
    }

    /// Join one event; returns what rules need to know about its flow.
    pub fn observe(&mut self, ev: &AuthEvent) -> Link {
        let input = input_of(ev);
        let (joined, token) = self.lookup(ev);
        let phase = joined.and_then(|id| self.flows.get(&id)).map(|f| f.phase);
        let outcome = transition(phase, input);
        let flow = match outcome {
            Outcome::Ignore => None,
            Outcome::Open(kind, p) | Outcome::Orphan(kind, p, _) => {
                Some(self.open(kind, p, ev, token.as_deref()))
            }
            Outcome::Advance(p) => joined.inspect(|id| self.set_phase(*id, p, None)),
            Outcome::Anomaly(p, a) => joined.inspect(|id| self.set_phase(*id, p, Some(a))),
        };
        let Some(id) = flow else {
            return Link {
                flow: None,
                kind: None,
                outcome,
                authorize: None,
                token,
            };
        };
        self.record(id, ev);
        self.touch(id);
        if let (Some(f), Some(t)) = (self.flows.get_mut(&id), ev.at.time) {
            f.last_time = Some(f.last_time.map_or(t, |l| l.max(t)));
        }
        let entry = self.flows.get(&id);
        Link {
            flow: Some(id),
            kind: entry.map(|f| f.kind),
            outcome,
            authorize: entry.and_then(|f| f.authorize.clone()),
            token,
        }
    }

    fn set_phase(&mut self, id: FlowId, phase: Phase, anomaly: Option<Anomaly>) {
        if let Some(f) = self.flows.get_mut(&id) {
            f.phase = phase;
            if let Some(a) = anomaly {
                if f.anomalies.len() < MAX_ANOMALIES_PER_FLOW && !f.anomalies.contains(&a) {
                    f.anomalies.push(a);
                }
            }
        }
    }

    fn open(
        &mut self,
        kind: FlowKind,
        phase: Phase,
        ev: &AuthEvent,
        token: Option<&Issuance>,
    ) -> FlowId {
        while self.flows.len() >= self.config.flow_cap {
            if !self.evict_oldest() {
                break;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let (client_id, label) = initial_label(kind, ev, token);
        self.flows.insert(
            id,
            FlowEntry {
                id,
                kind,
                phase,
                host: Some(ev.host.to_string()),
                client_id,
                label,
                authorize: None,
                exchanges: Vec::new(),
                exchanges_dropped: 0,
                anomalies: Vec::new(),
                keys: Vec::new(),
                tick: 0,
                last_time: None,
            },
        );
        // Later calls with the same token join this flow even when the token's issuing flow
        // was evicted.
        if let EventKind::ApiCall(call) = &ev.kind {
            match presented_token(&call.credential) {
                Some(t) => self.add_key(id, Key::Unlinked(t.fingerprint.clone())),
                None => self.add_key(id, Key::NoToken(ev.host.to_ascii_lowercase())),
            }
        }
        id
    }

    /// Evict flows idle since before `now - max_idle` (microseconds), walking from the least
    /// recently active; stops at the first flow that is still active or has no time. Each
    /// eviction is counted in `flows_evicted`. Returns how many were evicted. The live sources
    /// call this as time passes; batch analysis does not need it (the cap still applies).
    pub fn evict_idle(&mut self, now: Micros, max_idle: Micros) -> u64 {
        let cutoff = now.saturating_sub(max_idle);
        let mut n = 0;
        while let Some((_, id)) = self.oldest() {
            let idle = self
                .flows
                .get(&id)
                .and_then(|f| f.last_time)
                .is_some_and(|t| t < cutoff);
            if !idle || !self.evict_oldest() {
                break;
            }
            n += 1;
        }
        n
    }

    /// The least recently active flow's live `lru` entry (stale entries before it are dropped).
    fn oldest(&mut self) -> Option<(u64, FlowId)> {
        while let Some(&(tick, id)) = self.lru.front() {
            if self.flows.get(&id).is_some_and(|f| f.tick == tick) {
                return Some((tick, id));
            }
            self.lru.pop_front();
        }
        None
    }

    fn evict_oldest(&mut self) -> bool {
        let Some((_, id)) = self.oldest() else {
            return false;
        };
        self.lru.pop_front();
        if let Some(f) = self.flows.remove(&id) {
            for k in f.keys {
                match &k {
                    Key::Unlinked(fp) => {
                        if self.unlinked.get(fp) == Some(&id) {
                            self.unlinked.remove(fp);
                        }
                    }
                    _ => {
                        if self.index.get(&k) == Some(&id) {
                            self.index.remove(&k);
                        }
                    }
                }
            }
            self.evicted += 1;
        }
        if self.last_authorize.is_some_and(|(_, f)| f == id) {
            self.last_authorize = None;
        }
        true
    }

    fn touch(&mut self, id: FlowId) {
        self.tick += 1;
        let tick = self.tick;
        if let Some(f) = self.flows.get_mut(&id) {
            f.tick = tick;
            self.lru.push_back((tick, id));
        }
        // Bounded: drop stale entries once they outnumber the flows (amortised O(1) a touch).
        if self.lru.len() > 2 * self.flows.len() + 64 {
            let flows = &self.flows;
            self.lru
                .retain(|(t, id)| flows.get(id).is_some_and(|f| f.tick == *t));
        }
    }

    fn add_key(&mut self, id: FlowId, key: Key) {
        if let Some(f) = self.flows.get_mut(&id) {
            let known = f.keys.contains(&key);
            if !known && f.keys.len() >= MAX_KEYS_PER_FLOW {
                self.keys_dropped += 1;
            } else {
                if !known {
                    f.keys.push(key.clone());
                }
                match key {
                    Key::Unlinked(fp) => {
                        self.unlinked.insert(fp, id);
                    }
                    key => {
                        self.index.insert(key, id);
                    }
                }
            }
        }
    }

    /// Join keys not kept because a flow had `MAX_KEYS_PER_FLOW` already.
    pub fn keys_dropped(&self) -> u64 {
        self.keys_dropped
    }

    /// Store the event's facts on its flow: evidence, index keys, authorize facts, tokens.
    fn record(&mut self, id: FlowId, ev: &AuthEvent) {
        let cap = self.config.exchanges_per_flow;
        if let Some(f) = self.flows.get_mut(&id) {
            let same = f
                .exchanges
                .last()
                .is_some_and(|l| l.input == ev.at.input && l.index == ev.at.index);
            if !same {
                if f.exchanges.len() < cap {
                    f.exchanges.push(ev.at.clone());
                } else {
                    f.exchanges_dropped += 1;
                }
            }
        }
        match &ev.kind {
            EventKind::Authorize(req) => {
                if let Some(f) = self.flows.get_mut(&id) {
                    if f.authorize.is_none() {
                        f.authorize = Some(Arc::new(AuthorizeFacts {
                            request: req.clone(),
                            at: ev.at.clone(),
                            host: ev.host.to_string(),
                        }));
                        f.label = authorize_label(req);
                        if f.client_id.is_none() {
                            f.client_id = req.client_id.clone();
                        }
                    }
                }
                if let Some(s) = &req.state {
                    self.add_key(id, Key::State(s.clone()));
                }
                self.last_authorize = Some(((ev.at.input, ev.at.index), id));
            }
            EventKind::AuthorizeResult(res) => {
                if let Some(c) = &res.code {
                    self.add_key(id, Key::Code(fingerprint(c)));
                }
                let auth = self.flows.get(&id).and_then(|f| f.authorize.clone());
                let req = auth.as_ref().map(|a| &a.request);
                let facts = IssueFacts {
                    flow: id,
                    grant: "implicit",
                    requested_scope: req.and_then(|r| non_empty(&r.scope)),
                    requested_audience: req.and_then(|r| r.audience.clone()),
                    client_id: req.and_then(|r| r.client_id.clone()),
                    host: &ev.host,
                    at: &ev.at,
                };
                self.register_tokens(&res.tokens, &facts);
            }
            EventKind::TokenGrant(g) => {
                if g.grant_type.as_deref() == Some("client_credentials") {
                    if let Some(c) = &g.client_id {
                        self.add_key(id, Key::Client(ev.host.to_ascii_lowercase(), c.clone()));
                    }
                }
                let auth = self.flows.get(&id).and_then(|f| f.authorize.clone());
                let req = auth.as_ref().map(|a| &a.request);
                let requested_scope = g
                    .scope
                    .clone()
                    .filter(|s| !s.is_empty())
                    .or_else(|| req.and_then(|r| non_empty(&r.scope)));
                let client_id = g
                    .client_id
                    .clone()
                    .or_else(|| req.and_then(|r| r.client_id.clone()));
                if let Some(f) = self.flows.get_mut(&id) {
                    if f.client_id.is_none() {
                        f.client_id = client_id.clone();
                    }
                }
                let grant = g.grant_type.clone().unwrap_or_else(|| "unknown".into());
                let facts = IssueFacts {
                    flow: id,
                    grant: &grant,
                    requested_scope,
                    requested_audience: g
                        .audience
                        .clone()
                        .or_else(|| req.and_then(|r| r.audience.clone())),
                    client_id,
                    host: &ev.host,
                    at: &ev.at,
                };
                self.register_tokens(&g.issued, &facts);
            }
            _ => {}
        }
    }

    fn register_tokens(&mut self, set: &TokenSet, facts: &IssueFacts<'_>) {
        let granted = set.scope.clone().or_else(|| {
            set.access_token
                .as_ref()
                .and_then(|t| t.jwt.as_ref())
                .map(|j| j.scopes())
                .filter(|s| !s.is_empty())
        });
        let issued_secs = facts.at.time.map(|t| t.div_euclid(1_000_000));
        let slots = [
            (&set.access_token, TokenRole::Access),
            (&set.id_token, TokenRole::Id),
            (&set.refresh_token, TokenRole::Refresh),
        ];
        for (slot, role) in slots {
            let Some(t) = slot else { continue };
            let exp = t.jwt.as_ref().and_then(|j| j.exp()).or_else(|| {
                if role == TokenRole::Access {
                    issued_secs
                        .zip(set.expires_in)
                        .map(|(a, b)| a.saturating_add(b))
                } else {
                    None
                }
            });
            self.registry.insert(
                &t.fingerprint,
                Issuance {
                    flow: facts.flow,
                    grant: facts.grant.to_string(),
                    requested_scope: facts.requested_scope.clone(),
                    requested_audience: facts.requested_audience.clone(),
                    granted_scope: granted.clone(),
                    client_id: facts.client_id.clone(),
                    role,
                    exp,
                    host: facts.host.to_string(),
                    at: facts.at.clone(),
                },
            );
        }
    }
}

struct IssueFacts<'a> {
    flow: FlowId,
    grant: &'a str,
    requested_scope: Option<Vec<String>>,
    requested_audience: Option<String>,
    client_id: Option<String>,
    host: &'a str,
    at: &'a Evidence,
}

/// Client id and label of a new flow, from the event that opened it.
fn initial_label(
    kind: FlowKind,
    ev: &AuthEvent,
    token: Option<&Issuance>,
) -> (Option<String>, String) {
    match (&ev.kind, kind) {
        (EventKind::Authorize(req), _) => (req.client_id.clone(), authorize_label(req)),
        (EventKind::AuthorizeResult(res), _) => (
            None,
            format!(
                "login whose /authorize was not captured (result via {})",
                via_str(res.via)
            ),
        ),
        (EventKind::TokenGrant(g), FlowKind::ClientCredentials) => {
            let aud = g
                .audience
                .as_ref()
                .map(|a| format!(", audience {a}"))
                .unwrap_or_default();
            (
                g.client_id.clone(),
                format!(
                    "client_credentials grants {}{aud}",
                    client_phrase(g.client_id.as_deref())
                ),
            )
        }
        (EventKind::TokenGrant(g), _) => {
            let grant = g.grant_type.as_deref().unwrap_or("unknown");
            let note = match grant {
                "authorization_code" => " (its /authorize was not captured)",
                "refresh_token" => " (the refresh token's issuance was not captured)",
                _ => "",
            };
            (
                g.client_id.clone(),
                format!(
                    "{grant} grant {}{note}",
                    client_phrase(g.client_id.as_deref())
                ),
            )
        }
        (EventKind::ApiCall(call), _) => {
            let who = presented_token(&call.credential)
                .map(|t| format!("token fp:{}", t.fingerprint))
                .unwrap_or_else(|| format!("no usable token on {}", ev.host));
            match token {
                Some(iss) => (
                    iss.client_id.clone(),
                    format!("API calls with {who} (its {} flow was evicted)", iss.grant),
                ),
                None => (
                    None,
                    format!("API calls with {who} (issuance not captured)"),
                ),
            }
        }
        _ => (None, "other".to_string()),
    }
}

fn via_str(via: crate::model::ResultVia) -> &'static str {
    use crate::model::ResultVia as V;
    match via {
        V::LocationQuery => "redirect query",
        V::LocationFragment => "redirect fragment",
        V::FormPost => "form_post",
        V::WebMessage => "web_message",
        V::ErrorPage => "error page",
    }
}

/// Which orphan kind an outcome carries (for reports).
pub fn orphan_of(outcome: Outcome) -> Option<Orphan> {
    match outcome {
        Outcome::Orphan(_, _, o) => Some(o),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::testkit::*;
    use crate::model::{Credential, EventKind as K, TokenGrant};

    fn pkce_authorize(state: &str) -> AuthorizeRequest {
        let mut a = authorize(
            Some(state),
            "code",
            "openid profile read:current_user",
            Some(&mgmt_aud()),
        );
        a.code_challenge = Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into());
        a.code_challenge_method = Some("S256".into());
        a
    }

    #[test]
    fn code_pkce_flow_joins_by_state_code_and_fingerprint() {
        let mut c = Correlator::new(CorrelateConfig::default());
        let at = access_jwt(&mgmt_aud(), "openid profile read:current_user");
        let l1 = c.observe(&ev(
            0,
            "GET",
            "/authorize?state=s1",
            Some(302),
            K::Authorize(pkce_authorize("s1")),
        ));
        let l2 = c.observe(&ev(
            1,
            "GET",
            "/callback",
            Some(200),
            K::AuthorizeResult(code_result("s1", "code-abc-123456")),
        ));
        let l3 = c.observe(&ev(
            2,
            "POST",
            "/oauth/token",
            Some(200),
            K::TokenGrant(code_grant(
                "code-abc-123456",
                true,
                false,
                token_set(Some(at.clone()), None, None),
            )),
        ));
        let l4 = c.observe(&ev(
            3,
            "GET",
            "/api/v2/users/x",
            Some(200),
            K::ApiCall(mgmt_call(
                "GET",
                "/api/v2/users/{id}",
                &["read:current_user"],
                Credential::Bearer(at.clone()),
                Some(200),
            )),
        ));
        let id = l1.flow.expect("authorize opens a flow");
        assert_eq!([l2.flow, l3.flow, l4.flow], [Some(id); 3]);
        assert_eq!(l3.outcome, Outcome::Advance(Phase::TokensIssued));
        let iss = l4.token.expect("issuance known");
        assert_eq!(iss.grant, "authorization_code");
        assert_eq!(iss.requested_audience.as_deref(), Some(mgmt_aud().as_str()));
        assert_eq!(iss.at.index, 2);
        let flows = c.flows();
        assert_eq!(flows.len(), 1);
        assert_eq!(flows[0].exchanges.len(), 4);
        assert!(flows[0]
            .label
            .starts_with("authorization code + PKCE (response_type=code) for client "));
    }

    #[test]
    fn implicit_result_on_same_exchange_without_state_joins() {
        let mut c = Correlator::new(CorrelateConfig::default());
        let l1 = c.observe(&ev(
            0,
            "GET",
            "/authorize",
            Some(302),
            K::Authorize(authorize(None, "token id_token", "openid", None)),
        ));
        let mut res = implicit_result("x", Some(jwe_token()), None, None);
        res.state = None;
        let l2 = c.observe(&ev(
            0,
            "GET",
            "/authorize",
            Some(302),
            K::AuthorizeResult(res),
        ));
        assert_eq!(l1.flow, l2.flow);
        assert_eq!(c.flows()[0].exchanges.len(), 1, "one exchange listed once");
        assert_eq!(
            c.flows()[0].label,
            format!("implicit grant (response_type=token id_token) for client {CLIENT}")
        );
    }

    #[test]
    fn unknown_token_calls_share_one_unlinked_flow() {
        let mut c = Correlator::new(CorrelateConfig::default());
        let t = access_jwt(&mgmt_aud(), "read:users");
        let call = || {
            K::ApiCall(mgmt_call(
                "GET",
                "/api/v2/users",
                &["read:users"],
                Credential::Bearer(t.clone()),
                Some(200),
            ))
        };
        let a = c.observe(&ev(0, "GET", "/api/v2/users", Some(200), call()));
        let b = c.observe(&ev(1, "GET", "/api/v2/users", Some(200), call()));
        assert_eq!(a.flow, b.flow);
        assert_eq!(a.kind, Some(FlowKind::Unlinked));
        assert!(matches!(
            a.outcome,
            Outcome::Orphan(_, _, Orphan::CallWithoutIssuance)
        ));
        assert_eq!(b.outcome, Outcome::Advance(Phase::Calling));
        assert!(c.flows()[0]
            .label
            .contains(&format!("fp:{}", t.fingerprint)));
    }

    fn cc(client: &str) -> K {
        cc_exp(client, NOW + 100)
    }

    fn cc_exp(client: &str, exp: i64) -> K {
        K::TokenGrant(TokenGrant {
            grant_type: Some("client_credentials".into()),
            client_id: Some(client.into()),
            client_secret_present: true,
            audience: Some(mgmt_aud()),
            status: Some(200),
            issued: token_set(Some(m2m_jwt(&mgmt_aud(), "read:users", exp)), None, None),
            ..TokenGrant::default()
        })
    }

    #[test]
    fn client_credentials_group_per_client() {
        let mut c = Correlator::new(CorrelateConfig::default());
        let a = c.observe(&ev(0, "POST", "/oauth/token", Some(200), cc("A")));
        let b = c.observe(&ev(1, "POST", "/oauth/token", Some(200), cc("A")));
        let d = c.observe(&ev(2, "POST", "/oauth/token", Some(200), cc("B")));
        assert_eq!(a.flow, b.flow);
        assert_ne!(a.flow, d.flow);
        assert_eq!(a.kind, Some(FlowKind::ClientCredentials));
        assert_eq!(c.flows().len(), 2);
    }

    #[test]
    fn flow_cap_evicts_least_recent_and_counts() {
        let mut c = Correlator::new(CorrelateConfig {
            flow_cap: 2,
            ..CorrelateConfig::default()
        });
        let f1 = c
            .observe(&ev(
                0,
                "GET",
                "/authorize",
                Some(302),
                K::Authorize(authorize(Some("s1"), "code", "openid", None)),
            ))
            .flow;
        c.observe(&ev(
            1,
            "GET",
            "/authorize",
            Some(302),
            K::Authorize(authorize(Some("s2"), "code", "openid", None)),
        ));
        // s1 becomes the most recent; s2 is evicted by the third flow.
        c.observe(&ev(
            2,
            "GET",
            "/cb",
            Some(200),
            K::AuthorizeResult(code_result("s1", "code-1-abcdefgh")),
        ));
        c.observe(&ev(
            3,
            "GET",
            "/authorize",
            Some(302),
            K::Authorize(authorize(Some("s3"), "code", "openid", None)),
        ));
        assert_eq!(c.flows_evicted(), 1);
        assert_eq!(c.active_flows(), 2);
        assert!(
            c.flows().iter().any(|f| Some(f.id) == f1),
            "recently active flow kept"
        );
        let late = c.observe(&ev(
            4,
            "GET",
            "/cb",
            Some(200),
            K::AuthorizeResult(code_result("s2", "code-2-abcdefgh")),
        ));
        assert!(
            matches!(
                late.outcome,
                Outcome::Orphan(_, _, Orphan::ResultWithoutAuthorize)
            ),
            "evicted state no longer joins"
        );
        assert_eq!(c.flows_evicted(), 2);
    }

    /// Unlinked-token flows touched in rotation many times (the lazy LRU compacts itself),
    /// then a new flow evicts the least recently active one, whose token then starts anew.
    #[test]
    fn busy_rotation_keeps_lru_order_and_bounded_queue() {
        let mut c = Correlator::new(CorrelateConfig {
            flow_cap: 3,
            ..CorrelateConfig::default()
        });
        let toks: Vec<Token> = (0..4)
            .map(|i| opaque_token(&format!("opaque-token-number-{i}"), TokenRole::Access))
            .collect();
        let call = |i: usize, t: &Token| {
            ev(
                i,
                "GET",
                USER_PATH,
                Some(200),
                K::ApiCall(mgmt_call(
                    "GET",
                    "/api/v2/users/{id}",
                    &["read:users"],
                    Credential::Bearer(t.clone()),
                    Some(200),
                )),
            )
        };
        let mut flows = Vec::new();
        for i in 0..3000 {
            let link = c.observe(&call(i, &toks[i % 3]));
            if i < 3 {
                flows.push(link.flow);
            } else {
                assert_eq!(link.flow, flows[i % 3], "call {i}");
            }
            assert!(c.lru.len() <= 2 * c.flows.len() + 65);
        }
        // Last touched: token 2 (i = 2999), before it 1, then 0 (least recent).
        c.observe(&call(3000, &toks[1]));
        c.observe(&call(3001, &toks[3]));
        assert_eq!(c.flows_evicted(), 1);
        let survivors: Vec<_> = c.flows().iter().map(|f| Some(f.id)).collect();
        assert!(
            !survivors.contains(&flows[0]),
            "token 0's flow was least recent"
        );
        assert!(survivors.contains(&flows[1]) && survivors.contains(&flows[2]));
        // Token 0's join key went with its flow: its next call opens a new flow.
        let again = c.observe(&call(3002, &toks[0]));
        assert!(again.flow.is_some() && !flows.contains(&again.flow));
        assert_eq!(c.flows_evicted(), 2);
        assert!(c.unlinked.len() <= 3);
    }

    #[test]
    fn per_flow_exchange_list_is_capped_and_counted() {
        let mut c = Correlator::new(CorrelateConfig {
            exchanges_per_flow: 2,
            ..CorrelateConfig::default()
        });
        let t = access_jwt(&mgmt_aud(), "read:users");
        for i in 0..5 {
            c.observe(&ev(
                i,
                "GET",
                "/api/v2/users",
                Some(200),
                K::ApiCall(mgmt_call(
                    "GET",
                    "/api/v2/users",
                    &["read:users"],
                    Credential::Bearer(t.clone()),
                    Some(200),
                )),
            ));
        }
        let f = &c.flows()[0];
        assert_eq!(f.exchanges.len(), 2);
        assert_eq!(f.exchanges_dropped, 3);
    }

    #[test]
    fn redeeming_code_twice_is_noted() {
        let mut c = Correlator::new(CorrelateConfig::default());
        c.observe(&ev(
            0,
            "GET",
            "/authorize",
            Some(302),
            K::Authorize(authorize(Some("s1"), "code", "openid", None)),
        ));
        c.observe(&ev(
            1,
            "GET",
            "/cb",
            Some(200),
            K::AuthorizeResult(code_result("s1", "code-xyz-123456")),
        ));
        let ok = token_set(
            Some(opaque_token(
                "abcdefghijklmnopqrstuvwxyz012345",
                TokenRole::Access,
            )),
            None,
            None,
        );
        c.observe(&ev(
            2,
            "POST",
            "/oauth/token",
            Some(200),
            K::TokenGrant(code_grant("code-xyz-123456", false, true, ok)),
        ));
        let mut again = code_grant("code-xyz-123456", false, true, TokenSet::default());
        again.status = Some(403);
        let l = c.observe(&ev(
            3,
            "POST",
            "/oauth/token",
            Some(403),
            K::TokenGrant(again),
        ));
        assert_eq!(
            l.outcome,
            Outcome::Anomaly(Phase::GrantFailed, Anomaly::CodeRedeemedTwice)
        );
        assert_eq!(
            c.anomalies(l.flow.unwrap_or_default()),
            &[Anomaly::CodeRedeemedTwice]
        );
    }

    #[test]
    fn token_registry_cap_is_counted() {
        let mut c = Correlator::new(CorrelateConfig {
            token_cap: 1,
            ..CorrelateConfig::default()
        });
        c.observe(&ev(
            0,
            "POST",
            "/oauth/token",
            Some(200),
            cc_exp("A", NOW + 1),
        ));
        c.observe(&ev(
            1,
            "POST",
            "/oauth/token",
            Some(200),
            cc_exp("B", NOW + 2),
        ));
        assert_eq!(c.tokens_evicted(), 1);
    }

    #[test]
    fn idle_flows_are_evicted_and_counted() {
        let mut c = Correlator::new(CorrelateConfig::default());
        for i in 0..3 {
            let st = format!("s{i}");
            c.observe(&ev(
                i,
                "GET",
                "/authorize",
                Some(302),
                K::Authorize(authorize(Some(&st), "code", "openid", None)),
            ));
        }
        // Exchange i happens at NOW + i ms; keep only flows active within the last 1.5 ms.
        let now = NOW * 1_000_000 + 2_000;
        assert_eq!(c.evict_idle(now, 1_500), 1);
        assert_eq!(c.active_flows(), 2);
        assert_eq!(c.flows_evicted(), 1);
        assert_eq!(c.evict_idle(now, 1_500), 0, "nothing else is idle");
    }

    mod invariants {
        use super::*;
        use proptest::prelude::*;

        /// One random step over small pools of states, codes and tokens, so joins happen.
        fn step(kind: u8, a: u8, b: u8, idx: usize) -> crate::model::AuthEvent {
            let st = format!("state-{}", a % 4);
            let code = format!("code-{}-abcdefgh", b % 4);
            let tok = m2m_jwt(&mgmt_aud(), "read:users", NOW + i64::from(b % 5));
            let idt = id_jwt(
                serde_json::json!({"https://app.example/app_metadata": {"db_password": format!("pw-{b}")}}),
            );
            match kind % 8 {
                6 => ev(
                    idx,
                    "GET",
                    "/authorize",
                    Some(302),
                    K::AuthorizeResult(implicit_result(
                        &st,
                        Some(jwe_token()),
                        Some(idt),
                        Some("openid"),
                    )),
                ),
                7 => ev(
                    idx,
                    "PATCH",
                    "/api/v2/users/x",
                    Some(401),
                    K::ApiCall(mgmt_call(
                        "PATCH",
                        "/api/v2/users/{id}",
                        PATCH_USER,
                        Credential::Bearer(idt),
                        Some(401),
                    )),
                ),
                0 => ev(
                    idx,
                    "GET",
                    "/authorize",
                    Some(302),
                    K::Authorize(authorize(Some(&st), "code", "openid", None)),
                ),
                1 => ev(
                    idx,
                    "GET",
                    "/cb",
                    Some(200),
                    K::AuthorizeResult(code_result(&st, &code)),
                ),
                2 => ev(
                    idx,
                    "POST",
                    "/oauth/token",
                    Some(200),
                    K::TokenGrant(code_grant(
                        &code,
                        true,
                        false,
                        token_set(Some(tok), None, None),
                    )),
                ),
                3 => ev(
                    idx,
                    "POST",
                    "/oauth/token",
                    Some(200),
                    K::TokenGrant(TokenGrant {
                        grant_type: Some("client_credentials".into()),
                        client_id: Some(format!("client-{}", a % 3)),
                        status: Some(200),
                        issued: token_set(Some(tok), None, None),
                        ..TokenGrant::default()
                    }),
                ),
                4 => ev(
                    idx,
                    "GET",
                    "/api/v2/users",
                    Some(200),
                    K::ApiCall(mgmt_call(
                        "GET",
                        "/api/v2/users",
                        &["read:users"],
                        Credential::Bearer(tok),
                        Some(200),
                    )),
                ),
                _ => ev(
                    idx,
                    "GET",
                    "/api/v2/users",
                    Some(401),
                    K::ApiCall(mgmt_call(
                        "GET",
                        "/api/v2/users",
                        &["read:users"],
                        Credential::None,
                        Some(401),
                    )),
                ),
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            #[test]
            fn caps_hold_and_every_flow_is_accounted(
                steps in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 1..120),
                flow_cap in 1usize..6,
                per_flow in 1usize..4,
                token_cap in 1usize..5,
            ) {
                let mut c = Correlator::new(CorrelateConfig { flow_cap, token_cap, exchanges_per_flow: per_flow });
                let mut d = crate::diagnose::Diagnoser::new();
                for (i, (k, a, b)) in steps.iter().enumerate() {
                    let e = step(*k, *a, *b, i);
                    let link = c.observe(&e);
                    for f in d.on_event(&e, &link) {
                        let text = format!("{} {} {}", f.title, f.explanation, f.fix);
                        prop_assert!(!text.contains("code-"), "a code leaked: {}", text);
                        prop_assert!(!text.contains("eyJ"), "a raw JWT leaked: {}", text);
                        prop_assert!(!text.contains("pw-"), "a claim value leaked: {}", text);
                    }
                    prop_assert!(c.active_flows() <= flow_cap);
                    prop_assert!(c.registry.len() <= token_cap);
                }
                let flows = c.flows();
                let opened = c.next_id - 1;
                prop_assert_eq!(flows.len() as u64 + c.flows_evicted(), opened);
                for f in &flows {
                    prop_assert!(f.exchanges.len() <= per_flow);
                }
            }
        }
    }
}
