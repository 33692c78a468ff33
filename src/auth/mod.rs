//! Exchange → AuthEvent: recognises Auth0 hosts and endpoints and extracts OAuth meaning.
//!
//! Owns the `Classifier` (sans-I/O: no clock, files or sockets). Submodules: `hosts` (which hosts
//! are tenants), `endpoints` (path → closed set of templates), `scopes` (+ `scopes.tsv`, the
//! Management API catalogue), `params` (query/form/JSON parameters), `results` (authorize results,
//! token JSON), `errors` (Auth0/OAuth error bodies, insufficient-scope wording, rate limits),
//! `credential` (how an API call carried its token; the sanitized-HAR heuristic).
//! Must not judge (that is `diagnose`) or print anything; events carry raw secrets, sinks redact.
//!
//! Events per endpoint (tenant hosts):
//! - `/authorize`: `Authorize`, plus `AuthorizeResult` when the answer carries a code, tokens or an
//!   error (302 Location query/fragment, form_post page, web_message page, or an error page ≥ 400).
//! - `/authorize/resume`, `/login`, `/login/callback`, `/u/{page}`: `AuthOther`, plus
//!   `AuthorizeResult` when a redirect/page to the app carries a result.
//! - `/oauth/token`: `TokenGrant` (+ `EvidenceGap` when a 2xx answer has no readable token JSON).
//! - `/oauth/revoke`: `Revoke`. `/userinfo`: `ApiCall` (api authentication).
//! - `/api/v2/*`: `ApiCall` (api management; unknown operations have `known_endpoint: false`).
//! - `/.well-known/jwks.json`: `Jwks` (2xx; its keys are also added to the classifier's key store).
//! - `/.well-known/openid-configuration`: `Discovery`. `/v2/logout`, `/oidc/logout`: `Logout`.
//! - `/co/authenticate`, `/usernamepassword/login`, `/mfa/*`, `/passwordless/start`,
//!   `/dbconnections/*`, `/oauth/device/code`, `/oauth/par`, `/.well-known/{other}`: `AuthOther`.
//! - Unknown tenant paths: nothing, except a form_post callback POST (below).
//! - `OPTIONS` (CORS preflight) anywhere: nothing.
//!
//! Non-tenant hosts: an `AuthorizeResult` (via form_post) for a POST whose form body has `state`
//! plus `code`/`id_token`/`access_token`/`error` (that is how form_post results reach the app);
//! an `ApiCall` (api other, endpoint `other`) for a request with an `Authorization: Bearer`-like
//! header or an `access_token` query parameter (a custom API). Nothing else: a GET to the app's
//! callback with `code`/`state` is not an Auth0 exchange (its result was already read from the
//! Location that led there).

pub mod cache;
pub mod credential;
pub mod endpoints;
pub mod errors;
pub mod header;
pub mod hosts;
pub mod params;
pub mod results;
pub mod scopes;

use crate::decode::jwt::{JwksError, KeyStore};
use crate::model::{
    Api, ApiCall, AuthEvent, AuthorizeRequest, Credential, EventKind, Evidence, Exchange,
    TokenGrant, TokenRole, Verification,
};

use endpoints::{AuthEndpoint, Resolved};
use hosts::TenantHosts;
use params::{from_body, from_request, is_form, json_fields, split_list};

/// Counters of what the classifier saw and skipped (for notes and self-health metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassifierStats {
    pub exchanges: u64,
    pub tenant_exchanges: u64,
    pub events: u64,
    /// JWKS documents seen in traffic that could not be used.
    pub jwks_rejected: u64,
    /// Bodies that were needed but truncated by the source's cap.
    pub truncated_bodies: u64,
}

/// Classifies exchanges for the configured tenants (custom domains) plus `*.auth0.com`.
#[derive(Debug, Default)]
pub struct Classifier {
    tenants: Vec<String>,
    hosts: TenantHosts,
    keys: KeyStore,
    cache: cache::TokenCache,
    errors: cache::ErrorMemo,
    stats: ClassifierStats,
    /// The last host seen and what it is (traffic goes to few hosts, so normalising and
    /// testing each exchange's host again would repeat the same work).
    last_host: Option<HostFacts>,
    /// Scratch list of one exchange's event kinds (kept to reuse its allocation).
    kinds: Vec<EventKind>,
}

/// A host as written in an exchange, whether it is a tenant, and its normalised form.
#[derive(Debug)]
struct HostFacts {
    raw: String,
    tenant: bool,
    normalized: std::sync::Arc<str>,
}

/// Host of an absolute URL (no userinfo), or the Host/`:authority` header.
fn host_of(ex: &Exchange) -> &str {
    host_after_scheme(ex, endpoints::scheme_end(&ex.request.url))
}

/// [`host_of`] with the URL's `endpoints::scheme_end` already known.
fn host_after_scheme(ex: &Exchange, scheme_end: Option<usize>) -> &str {
    let url = ex.request.url.as_str();
    if let Some(rest) = scheme_end.and_then(|i| url.get(i + 3..)) {
        let end = memchr::memchr3(b'/', b'?', b'#', rest.as_bytes()).unwrap_or(rest.len());
        let authority = rest.get(..end).unwrap_or("");
        // After the last '@' (userinfo); a byte search, `rsplit` costs more on every call.
        let authority = match memchr::memrchr(b'@', authority.as_bytes()) {
            Some(at) => authority.get(at + 1..).unwrap_or(""),
            None => authority,
        };
        if !authority.is_empty() {
            return authority;
        }
    }
    ex.request
        .headers
        .get("host")
        .or_else(|| ex.request.headers.get(":authority"))
        .unwrap_or("")
}

/// The request's method in upper case, borrowed when it already is (the usual case).
fn upper_method(ex: &Exchange) -> std::borrow::Cow<'static, str> {
    let m = &ex.request.method;
    if m.bytes().any(|b| b.is_ascii_lowercase()) {
        std::borrow::Cow::Owned(m.to_ascii_uppercase())
    } else {
        m.clone()
    }
}

fn evidence(ex: &Exchange) -> Evidence {
    Evidence {
        input: ex.input,
        index: ex.index,
        time: ex.started,
        method: ex.request.method.clone(),
        url: ex.request.url.clone(),
        status: ex.status(),
    }
}

impl Classifier {
    pub fn new(tenants: &[String]) -> Self {
        Self {
            tenants: tenants.to_vec(),
            hosts: TenantHosts::new(tenants),
            keys: KeyStore::new(),
            cache: cache::TokenCache::default(),
            errors: cache::ErrorMemo::default(),
            stats: ClassifierStats::default(),
            last_host: None,
            kinds: Vec::new(),
        }
    }

    /// Custom domains as configured.
    pub fn tenants(&self) -> &[String] {
        &self.tenants
    }

    /// `*.auth0.com` tenant names (incl. regional) and the `--tenant` custom domains.
    pub fn is_tenant_host(&self, host: &str) -> bool {
        self.hosts.is_tenant(host)
    }

    /// Add a JWKS (from `--jwks`); tokens classified afterwards are verified against it.
    pub fn add_jwks(&mut self, json: &str) -> Result<usize, JwksError> {
        self.cache.keys_changed();
        self.keys.add_jwks(json)
    }

    /// Keys known so far (to re-verify tokens seen before their JWKS).
    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    pub fn stats(&self) -> &ClassifierStats {
        &self.stats
    }

    /// The API and endpoint template of an exchange (for metrics and timelines). The template is
    /// always one of `endpoints::templates()`, never a raw path.
    pub fn endpoint(&self, ex: &Exchange) -> (Api, String) {
        if !self.is_tenant_host(host_of(ex)) {
            return (Api::Other, endpoints::OTHER.to_string());
        }
        let r = endpoints::resolve(&ex.request.method, endpoints::path_of(&ex.request.url));
        (r.api(), r.template().to_string())
    }

    /// Zero or more events for one exchange.
    pub fn classify(&mut self, ex: &Exchange) -> Vec<AuthEvent> {
        self.stats.exchanges += 1;
        // CORS preflights carry no credential and no parameters; they mean nothing to OAuth (and
        // would otherwise look like token requests or sanitized API calls).
        if ex.request.method.eq_ignore_ascii_case("OPTIONS") {
            return Vec::new();
        }
        // The URL's scheme separator is found once, for its host and its path.
        let scheme = endpoints::scheme_end(&ex.request.url);
        let path = endpoints::path_after_scheme(&ex.request.url, scheme);
        let host = host_after_scheme(ex, scheme);
        let (tenant, host) = match &self.last_host {
            Some(h) if h.raw == host => (h.tenant, std::sync::Arc::clone(&h.normalized)),
            _ => {
                let facts = HostFacts {
                    raw: host.to_string(),
                    tenant: self.is_tenant_host(host),
                    normalized: hosts::normalize(host).into(),
                };
                let out = (facts.tenant, std::sync::Arc::clone(&facts.normalized));
                self.last_host = Some(facts);
                out
            }
        };
        // The kinds buffer is reused from exchange to exchange (emptied below).
        let mut kinds = std::mem::take(&mut self.kinds);
        if tenant {
            self.stats.tenant_exchanges += 1;
            self.classify_tenant(ex, path, &mut kinds);
        } else {
            self.classify_foreign(ex, path, &mut kinds);
        }
        if !self.keys.is_empty() {
            for k in &mut kinds {
                self.verify_tokens(k);
            }
        }
        self.stats.events += kinds.len() as u64;
        if kinds.is_empty() {
            self.kinds = kinds;
            return Vec::new();
        }
        let at = evidence(ex);
        // The last event takes `at` by move (most exchanges yield one event).
        let mut events = Vec::with_capacity(kinds.len());
        let last = kinds.len() - 1;
        for (i, kind) in kinds.drain(..).enumerate() {
            if i < last {
                events.push(AuthEvent {
                    at: at.clone(),
                    host: host.clone(),
                    kind,
                });
            } else {
                events.push(AuthEvent { at, host, kind });
                break;
            }
        }
        self.kinds = kinds;
        events
    }

    fn verify_tokens(&mut self, kind: &mut EventKind) {
        let (keys, cache) = (&self.keys, &mut self.cache);
        let mut fix = |t: &mut crate::model::Token| {
            let pending = t
                .jwt
                .as_ref()
                .is_some_and(|j| j.verification == Verification::NotVerified);
            if pending {
                let v = cache.verify(keys, t);
                if let Some(jwt) = &mut t.jwt {
                    jwt.verification = v;
                }
            }
        };
        let tokens: Vec<&mut crate::model::Token> = match kind {
            EventKind::AuthorizeResult(r) => token_refs(&mut r.tokens),
            EventKind::TokenGrant(g) => token_refs(&mut g.issued),
            EventKind::ApiCall(c) => match &mut c.credential {
                Credential::Bearer(t) | Credential::QueryToken(t) => vec![t],
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        for t in tokens {
            fix(t);
        }
    }

    /// `path` is `endpoints::path_of(&ex.request.url)`.
    fn classify_foreign(&mut self, ex: &Exchange, path: &str, out: &mut Vec<EventKind>) {
        let body = &ex.request.body;
        if ex.request.method.eq_ignore_ascii_case("POST") && is_form(body) {
            let cache = &mut self.cache;
            if let Some(r) =
                results::from_callback_post_with("POST", &body.text(), true, &mut |t, r| {
                    cache.decode(t, r)
                })
            {
                out.push(EventKind::AuthorizeResult(r));
                return;
            }
        }
        let bearer_header = ex.request.headers.get("authorization").is_some_and(|h| {
            // The scheme compared in place (no lower-cased copy of the ~1 KB header).
            h.trim_start()
                .get(..6)
                .is_some_and(|p| p.eq_ignore_ascii_case("bearer"))
        });
        let query_token = crate::decode::form::query_of(&ex.request.url)
            .is_some_and(|q| crate::decode::form::parse(q).contains("access_token"));
        if bearer_header || query_token {
            let method = upper_method(ex);
            out.push(EventKind::ApiCall(self.api_call(
                ex,
                Api::Other,
                None,
                method,
                path,
            )));
        }
    }

    /// `path` is `endpoints::path_of(&ex.request.url)`.
    fn classify_tenant(&mut self, ex: &Exchange, path: &str, out: &mut Vec<EventKind>) {
        let method = upper_method(ex);
        let resolved = endpoints::resolve(&method, path);
        let status = ex.status();
        if let Resolved::Management { .. } = resolved {
            // Moved, not cloned: the match carries the path parameters.
            out.push(EventKind::ApiCall(self.api_call(
                ex,
                Api::Management,
                Some(resolved),
                method,
                path,
            )));
            return;
        }
        match &resolved {
            Resolved::Management { .. } => {}
            Resolved::Unknown => {
                let body = &ex.request.body;
                let cache = &mut self.cache;
                if let Some(r) = results::from_callback_post_with(
                    &method,
                    &body.text(),
                    is_form(body),
                    &mut |t, r| cache.decode(t, r),
                ) {
                    out.push(EventKind::AuthorizeResult(r));
                }
            }
            Resolved::Auth { kind, template } => match kind {
                AuthEndpoint::Authorize => {
                    out.push(EventKind::Authorize(authorize_request(ex)));
                    if let Some(r) = self.authorize_result(ex, true) {
                        out.push(EventKind::AuthorizeResult(r));
                    }
                }
                AuthEndpoint::AuthorizeResume
                | AuthEndpoint::Login
                | AuthEndpoint::LoginCallback
                | AuthEndpoint::UniversalLogin => {
                    out.push(self.auth_other(ex, template));
                    if let Some(r) = self.authorize_result(ex, false) {
                        out.push(EventKind::AuthorizeResult(r));
                    }
                }
                AuthEndpoint::Token => self.token_grant(ex, out),
                AuthEndpoint::Revoke => out.push(EventKind::Revoke { status }),
                AuthEndpoint::Userinfo => {
                    out.push(EventKind::ApiCall(self.api_call(
                        ex,
                        Api::Authentication,
                        Some(resolved.clone()),
                        method.clone(),
                        path,
                    )));
                }
                AuthEndpoint::Jwks => {
                    if let Some(resp) = ex
                        .response
                        .as_ref()
                        .filter(|r| (200..300).contains(&r.status))
                    {
                        let text = resp.body.text().into_owned();
                        self.cache.keys_changed();
                        match self.keys.add_jwks(&text) {
                            Ok(_) => out.push(EventKind::Jwks(text)),
                            Err(_) => {
                                self.stats.jwks_rejected += 1;
                                if resp.body.truncated {
                                    self.stats.truncated_bodies += 1;
                                }
                            }
                        }
                    }
                }
                AuthEndpoint::Discovery => {
                    if let Some(resp) = ex
                        .response
                        .as_ref()
                        .filter(|r| (200..300).contains(&r.status))
                    {
                        let issuer = errors::json_object(&resp.body.data).and_then(|m| {
                            m.get("issuer").and_then(|v| v.as_str()).map(str::to_string)
                        });
                        out.push(EventKind::Discovery { issuer });
                    }
                }
                AuthEndpoint::Logout | AuthEndpoint::OidcLogout => out.push(EventKind::Logout),
                AuthEndpoint::UsernamePasswordLogin
                | AuthEndpoint::CoAuthenticate
                | AuthEndpoint::Mfa
                | AuthEndpoint::PasswordlessStart
                | AuthEndpoint::DbConnections
                | AuthEndpoint::DeviceCode
                | AuthEndpoint::PushedAuthorization
                | AuthEndpoint::WellKnownOther => out.push(self.auth_other(ex, template)),
            },
        }
    }

    fn auth_other(&self, ex: &Exchange, template: &str) -> EventKind {
        let error = ex
            .response
            .as_ref()
            .filter(|r| r.status >= 400)
            .and_then(|r| errors::parse_oauth_error(&r.body.data));
        EventKind::AuthOther {
            endpoint: template.to_string(),
            status: ex.status(),
            error,
        }
    }

    /// Result of an /authorize-family answer. `error_page`: a ≥400 answer is an error page.
    fn authorize_result(
        &mut self,
        ex: &Exchange,
        error_page: bool,
    ) -> Option<crate::model::AuthorizeResult> {
        let resp = ex.response.as_ref()?;
        if (300..400).contains(&resp.status) {
            let loc = resp.headers.get("location")?;
            let (hosts, cache) = (&self.hosts, &mut self.cache);
            return results::from_location_with(loc, &|h: &str| hosts.is_tenant(h), &mut |t, r| {
                cache.decode(t, r)
            });
        }
        let text = resp.body.text();
        if (200..300).contains(&resp.status) {
            let cache = &mut self.cache;
            return results::from_page_with(&text, &mut |t, r| cache.decode(t, r));
        }
        if error_page && resp.status >= 400 {
            let error = errors::parse_oauth_error(&resp.body.data)
                .or_else(|| errors::parse_error_page(&text))
                .or_else(|| {
                    Some(crate::model::OAuthError {
                        error: format!("http_{}", resp.status),
                        description: None,
                    })
                });
            let state = params::from_request(&ex.request.url, &ex.request.body).owned("state");
            return Some(crate::model::AuthorizeResult {
                via: crate::model::ResultVia::ErrorPage,
                state,
                code: None,
                tokens: Default::default(),
                error,
            });
        }
        None
    }

    fn token_grant(&mut self, ex: &Exchange, out: &mut Vec<EventKind>) {
        let p = from_request(&ex.request.url, &ex.request.body);
        let mut g = TokenGrant {
            grant_type: p.owned("grant_type"),
            client_id: p.owned("client_id"),
            client_secret_present: p.has("client_secret") || p.has("client_assertion"),
            code: p.owned("code"),
            code_verifier_present: p.has("code_verifier"),
            redirect_uri: p.owned("redirect_uri"),
            audience: p.owned("audience"),
            scope: p.get("scope").map(split_list),
            realm: p.owned("realm"),
            refresh_token: p
                .get_nonempty("refresh_token")
                .map(|t| crate::decode::jwt::decode(t, TokenRole::Refresh)),
            status: ex.status(),
            ..TokenGrant::default()
        };
        // client_secret_basic: `Authorization: Basic base64(client_id:client_secret)` (§3.2).
        if let Some(basic) = ex
            .request
            .headers
            .get("authorization")
            .and_then(|h| h.trim().strip_prefix("Basic "))
        {
            use base64::Engine as _;
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(basic.trim()) {
                let s = String::from_utf8_lossy(&bytes);
                if let Some((id, secret)) = s.split_once(':') {
                    if g.client_id.is_none() && !id.is_empty() {
                        g.client_id = Some(crate::decode::form::decode_component(id));
                    }
                    g.client_secret_present |= !secret.is_empty();
                }
            }
        }
        let mut gap = None;
        if let Some(resp) = &ex.response {
            let ok = (200..300).contains(&resp.status);
            if ok {
                let cache = &mut self.cache;
                match results::token_set_from_json_with(&resp.body.data, &mut |t, r| {
                    cache.decode(t, r)
                }) {
                    Some(set) => g.issued = set,
                    None => {
                        if resp.body.truncated {
                            self.stats.truncated_bodies += 1;
                        }
                        gap = Some(EventKind::EvidenceGap {
                            reason: format!(
                                "the /oauth/token answer ({}) has no readable token JSON{}, so the issued tokens cannot be linked to their use",
                                resp.status,
                                if resp.body.truncated { " (body truncated at the capture cap)" } else if resp.body.data.is_empty() { " (empty body)" } else { "" }
                            ),
                            fix: "record the traffic with response bodies (in DevTools: Export HAR with content), or raise the body cap".into(),
                        });
                    }
                }
            } else {
                g.error = errors::parse_oauth_error(&resp.body.data);
            }
        }
        out.push(EventKind::TokenGrant(g));
        out.extend(gap);
    }

    /// `method` is the request's method in upper case and `path` its `endpoints::path_of`
    /// (the caller has them already).
    fn api_call(
        &mut self,
        ex: &Exchange,
        api: Api,
        resolved: Option<Resolved>,
        method: std::borrow::Cow<'static, str>,
        path: &str,
    ) -> ApiCall {
        use std::borrow::Cow;
        type Parts = (
            Cow<'static, str>,
            bool,
            &'static [&'static str],
            bool,
            Vec<(&'static str, String)>,
        );
        let (endpoint, known, accepted, all, path_params): Parts = match resolved {
            Some(Resolved::Management {
                matched: Some(m), ..
            }) => (
                Cow::Borrowed(m.op.template),
                true,
                m.op.scopes.as_slice(),
                m.op.semantics != scopes::Semantics::Any,
                m.params,
            ),
            // Unknown /api/v2 operation: the model contract keeps the raw path here (metrics use
            // `Classifier::endpoint`, which says `/api/v2/{unknown}`).
            // A known path with a method the catalogue lacks keeps its template.
            Some(Resolved::Management {
                matched: None,
                template,
            }) if template != endpoints::MGMT_UNKNOWN => {
                (Cow::Borrowed(template), false, &[], false, Vec::new())
            }
            Some(Resolved::Management { matched: None, .. }) => {
                (Cow::Owned(path.to_string()), false, &[], false, Vec::new())
            }
            // /userinfo "will work only if `openid` was granted as a scope" (auth0-facts.md §3.3).
            Some(
                r @ Resolved::Auth {
                    kind: AuthEndpoint::Userinfo,
                    ..
                },
            ) => (
                Cow::Borrowed(r.template()),
                true,
                &["openid"],
                false,
                Vec::new(),
            ),
            Some(r @ Resolved::Auth { .. }) => {
                (Cow::Borrowed(r.template()), true, &[], false, Vec::new())
            }
            _ => (
                Cow::Borrowed(endpoints::OTHER),
                false,
                &[],
                false,
                Vec::new(),
            ),
        };
        let resp = ex.response.as_ref();
        // The error body is parsed once, here, and shared with the credential heuristic; busy
        // failures repeat the same answer, so the result is memoised by body (`ErrorMemo`).
        let facts = match resp.filter(|r| r.status >= 400) {
            Some(r) => self.errors.get(r),
            None => std::borrow::Cow::Owned(cache::ErrorFacts::default()),
        };
        // An Authorization header decides alone (see `credential::of_request_with`); its
        // verdict is memoised by header value.
        let credential = match header::get(&ex.request.headers, "authorization", "Authorization") {
            Some(h) => self.cache.authorization(h),
            None => {
                let cache = &mut self.cache;
                credential::of_request_with(ex, facts.parsed.as_ref(), &mut |raw, role| {
                    cache.decode(raw, role)
                })
            }
        };
        let (error, expected_scopes) = match facts {
            Cow::Owned(f) => (f.error, f.expected_scopes),
            Cow::Borrowed(f) => (f.error.clone(), f.expected_scopes.clone()),
        };
        ApiCall {
            api,
            method,
            endpoint,
            known_endpoint: known,
            accepted_scopes: accepted,
            needs_all_scopes: all,
            path_params,
            body_fields: json_fields(&ex.request.body),
            credential,
            status: ex.status(),
            error,
            expected_scopes,
            ratelimit: resp.and_then(|r| errors::parse_ratelimit(&r.headers)),
        }
    }
}

fn token_refs(s: &mut crate::model::TokenSet) -> Vec<&mut crate::model::Token> {
    [&mut s.access_token, &mut s.id_token, &mut s.refresh_token]
        .into_iter()
        .flatten()
        .collect()
}

/// Parameters of an /authorize request (query, plus form body for POST).
fn authorize_request(ex: &Exchange) -> AuthorizeRequest {
    let mut p = params::Params::default();
    if let Some(q) = crate::decode::form::query_of(&ex.request.url) {
        p.extend_form(crate::decode::form::parse(q));
    }
    if ex.request.method.eq_ignore_ascii_case("POST") {
        p.pairs.extend(from_body(&ex.request.body).pairs);
    }
    AuthorizeRequest {
        client_id: p.owned("client_id"),
        response_type: p.get("response_type").map(split_list).unwrap_or_default(),
        response_mode: p.owned("response_mode"),
        redirect_uri: p.owned("redirect_uri"),
        scope: p.get("scope").map(split_list).unwrap_or_default(),
        // `resource` is the alternative to `audience` under the compatibility profile (§3.1).
        audience: p.owned("audience").or_else(|| p.owned("resource")),
        state: p.owned("state"),
        nonce: p.owned("nonce"),
        code_challenge: p.owned("code_challenge"),
        code_challenge_method: p.owned("code_challenge_method"),
        prompt: p.owned("prompt"),
        connection: p.owned("connection"),
        organization: p.owned("organization"),
    }
}

#[cfg(test)]
mod tests;
