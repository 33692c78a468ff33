//! The in-process Auth0 tenant: configuration API, request dispatch and token issuance.
//!
//! Owns: `Tenant::new`, `Tenant::handle(&Request) -> Response`, the headers every response
//! carries (`date`, `x-auth0-requestid`, CORS), and the user-flow scope/token rules shared by
//! `/authorize` and `/oauth/token`. Must not do network I/O (see `server.rs`).
//! Limits: one signing key; Universal Login pages are skipped — `/authorize` answers as if
//! the browser already had an SSO session for `session_user` (a mock simplification; real
//! Auth0 redirects to `/u/login` first, auth0-facts.md §3.1).

use std::sync::{Mutex, MutexGuard};

use serde_json::{json, Value};

use crate::clock::{http_date, Clock};
use crate::config::{AppMetadataClaim, Client, ClientGrant, ResourceServer, User};
use crate::http::{Request, Response};
use crate::keys::SigningKey;
use crate::scopes::{CURRENT_USER_SCOPES, OIDC_SCOPES};
use crate::state::{OpaqueToken, RefreshGrant, State};
use crate::tokens;

/// Default ID token lifetime, 36,000 s (auth0-facts.md §4.3).
pub const ID_TOKEN_LIFETIME: i64 = 36_000;
/// Implicit-flow access token lifetime, 7,200 s (§4.2 sample, §4.5).
pub const IMPLICIT_LIFETIME: i64 = 7_200;
/// Default API / Management API / code-flow userinfo token lifetime, 86,400 s (§4.5).
pub const DEFAULT_LIFETIME: i64 = 86_400;

pub struct Tenant {
    domain: String,
    clock: Clock,
    key: SigningKey,
    state: Mutex<State>,
}

/// Tokens minted for one user-flow grant.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub access_token: Option<String>,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
    pub expires_in: i64,
    pub scope: Vec<String>,
}

/// What a user-flow token request asks for.
pub(crate) struct UserGrant<'a> {
    pub client: &'a Client,
    pub user_id: &'a str,
    pub scope: &'a [String],
    pub audience: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub implicit: bool,
    pub want_access: bool,
    pub want_id: bool,
    pub gty: Option<&'a str>,
}

impl Tenant {
    /// A tenant for `domain` (e.g. `dev-forum.us.auth0.com`) with the built-in Management
    /// API registered, the committed test key and the system clock.
    pub fn new(domain: &str) -> Self {
        #[allow(clippy::expect_used)]
        let key = SigningKey::test_key()
            .expect("committed test key parses (covered by keys::tests::test_key_loads)");
        let state = State {
            seed: domain.to_string(),
            apis: vec![ResourceServer {
                identifier: format!("https://{domain}/api/v2/"),
                name: "Auth0 Management API".into(),
                scopes: Vec::new(),
                token_lifetime: DEFAULT_LIFETIME,
                // Users cannot get refresh tokens for the Management API (mock assumption,
                // consistent with the SPA docs cited in §1.3).
                allow_offline_access: false,
                is_management: true,
            }],
            ..State::default()
        };
        Tenant {
            domain: domain.to_string(),
            clock: Clock::System,
            key,
            state: Mutex::new(state),
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn issuer(&self) -> String {
        format!("https://{}/", self.domain)
    }

    pub fn management_audience(&self) -> String {
        format!("https://{}/api/v2/", self.domain)
    }

    pub fn userinfo_audience(&self) -> String {
        format!("https://{}/userinfo", self.domain)
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    pub fn jwks(&self) -> Value {
        self.key.jwks()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another handler panicked; the data is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add_client(&self, c: Client) {
        self.lock().clients.push(c);
    }

    pub fn add_user(&self, u: User) {
        self.lock().users.push(u);
    }

    pub fn add_client_grant(&self, g: ClientGrant) {
        self.lock().grants.push(g);
    }

    pub fn add_api(&self, a: ResourceServer) {
        self.lock().apis.push(a);
    }

    /// The user whose SSO session `/authorize` assumes.
    pub fn set_session_user(&self, user_id: &str) {
        self.lock().session_user = Some(user_id.to_string());
    }

    pub fn set_app_metadata_claim(&self, claim: Option<&str>) {
        self.lock().app_metadata_claim = claim.map(|c| AppMetadataClaim {
            claim: c.to_string(),
        });
    }

    /// Signs arbitrary claims with the tenant key (tests use it for forged/odd tokens).
    pub fn sign_claims(&self, claims: &Value) -> String {
        tokens::sign(&self.key, claims)
    }

    /// Number of table evictions so far (codes, opaque tokens, refresh tokens, windows).
    pub fn evictions(&self) -> u64 {
        let st = self.lock();
        st.codes.evictions + st.opaque.evictions + st.refresh.evictions + st.windows.evictions
    }

    /// Answers one request.
    pub fn handle(&self, req: &Request) -> Response {
        let path = req.path();
        let method = req.method.to_ascii_uppercase();
        let mut resp = if method == "OPTIONS" {
            cors_preflight(req)
        } else {
            match (method.as_str(), path.as_str()) {
                ("GET", "/authorize") => crate::endpoints::authorize::handle(self, req),
                ("POST", "/oauth/token") => crate::endpoints::token::handle(self, req),
                ("GET", "/userinfo") | ("POST", "/userinfo") => {
                    crate::endpoints::oidc::userinfo(self, req)
                }
                ("GET", "/.well-known/openid-configuration") => {
                    crate::endpoints::oidc::discovery(self)
                }
                ("GET", "/.well-known/jwks.json") => Response::json(200, &self.jwks()).with_header(
                    "cache-control",
                    "public, max-age=15, stale-while-revalidate=15, stale-if-error=86400",
                ),
                (_, p) if p.starts_with("/api/v2/") || p == "/api/v2" => {
                    crate::endpoints::management::handle(self, req)
                }
                // Guess: Auth0's hapi-style 404 for unknown routes.
                _ => Response::json(
                    404,
                    &json!({"statusCode": 404, "error": "Not Found", "message": "Not Found"}),
                ),
            }
        };
        self.finish(req, &mut resp);
        resp
    }

    fn finish(&self, req: &Request, resp: &mut Response) {
        let id = {
            let mut st = self.lock();
            let r = st.next_random("request-id");
            hex::encode(&r[..10])
        };
        resp.headers
            .insert(0, ("date".into(), http_date(self.clock.now_secs())));
        resp.headers.push(("x-auth0-requestid".into(), id));
        if let Some(origin) = req.get_header("origin") {
            if req.method != "OPTIONS" {
                resp.headers
                    .push(("access-control-allow-origin".into(), origin.to_string()));
                resp.headers.push((
                    "access-control-expose-headers".into(),
                    "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset".into(),
                ));
            }
        }
        if resp.get_header("content-length").is_none() {
            resp.headers
                .push(("content-length".into(), resp.body.len().to_string()));
        }
    }

    /// Scopes a user flow receives. OIDC scopes are kept; for the Management API only the
    /// current_user scopes survive — everything else is silently dropped (auth0-facts.md
    /// §1.3, [observed] auth0.js#909; the general rule is partly UNCONFIRMED there); for a
    /// custom API the scopes it defines; with no audience only OIDC scopes.
    pub(crate) fn grant_user_scopes(
        st: &State,
        requested: &[String],
        audience: Option<&str>,
    ) -> Vec<String> {
        let api = audience.and_then(|a| st.api(a));
        requested
            .iter()
            .filter(|s| {
                let s = s.as_str();
                if s == "offline_access" {
                    return api.map(|a| a.allow_offline_access).unwrap_or(true);
                }
                if OIDC_SCOPES.contains(&s) {
                    return true;
                }
                match api {
                    Some(a) if a.is_management => CURRENT_USER_SCOPES.contains(&s),
                    Some(a) => a.scopes.iter().any(|x| x == s),
                    None => false,
                }
            })
            .fold(Vec::new(), |mut acc, s| {
                if !acc.contains(s) {
                    acc.push(s.clone());
                }
                acc
            })
    }

    /// Mints the tokens of one user-flow grant.
    pub(crate) fn issue_user_tokens(&self, st: &mut State, g: &UserGrant<'_>) -> Issued {
        let now = self.clock.now_secs();
        let has_openid = g.scope.iter().any(|s| s == "openid");
        let mut issued = Issued {
            access_token: None,
            id_token: None,
            refresh_token: None,
            expires_in: 0,
            scope: g.scope.to_vec(),
        };
        if g.want_access {
            match g.audience {
                None => {
                    // No audience → /userinfo-only opaque token (§4.1).
                    let lifetime = if g.implicit {
                        IMPLICIT_LIFETIME
                    } else {
                        DEFAULT_LIFETIME
                    };
                    let r = st.next_random("opaque");
                    let tok = tokens::opaque(&r);
                    st.opaque.insert(
                        tok.clone(),
                        OpaqueToken {
                            user_id: g.user_id.to_string(),
                            client_id: g.client.client_id.clone(),
                            scope: g.scope.to_vec(),
                            expires_at: now + lifetime,
                        },
                    );
                    issued.access_token = Some(tok);
                    issued.expires_in = lifetime;
                }
                Some(aud) => {
                    let api_lifetime = st
                        .api(aud)
                        .map(|a| a.token_lifetime)
                        .unwrap_or(DEFAULT_LIFETIME);
                    let mut lifetime = if g.implicit {
                        api_lifetime.min(IMPLICIT_LIFETIME)
                    } else {
                        api_lifetime
                    };
                    if let Some(o) = g.client.access_token_lifetime {
                        lifetime = o;
                    }
                    // With `openid`, aud becomes [API, https://{tenant}/userinfo] (§4.1).
                    let aud_claim = if has_openid {
                        json!([aud, self.userinfo_audience()])
                    } else {
                        json!(aud)
                    };
                    let mut claims = json!({
                        "iss": self.issuer(),
                        "sub": g.user_id,
                        "aud": aud_claim,
                        "iat": now,
                        "exp": now + lifetime,
                        "azp": g.client.client_id,
                        "scope": g.scope.join(" "),
                    });
                    if let (Some(gty), Some(obj)) = (g.gty, claims.as_object_mut()) {
                        obj.insert("gty".into(), json!(gty));
                    }
                    issued.access_token = Some(tokens::sign(&self.key, &claims));
                    issued.expires_in = lifetime;
                }
            }
        }
        if g.want_id && has_openid {
            issued.id_token = Some(self.id_token(st, g, now, issued.access_token.as_deref()));
        }
        let offline = g.scope.iter().any(|s| s == "offline_access") && !g.implicit;
        if offline {
            let r = st.next_random("refresh");
            let rt = tokens::random_string(&r, 40);
            st.refresh.insert(
                rt.clone(),
                RefreshGrant {
                    client_id: g.client.client_id.clone(),
                    user_id: g.user_id.to_string(),
                    scope: g.scope.to_vec(),
                    audience: g.audience.map(str::to_string),
                },
            );
            issued.refresh_token = Some(rt);
        }
        issued
    }

    fn id_token(
        &self,
        st: &mut State,
        g: &UserGrant<'_>,
        now: i64,
        access_token: Option<&str>,
    ) -> String {
        let sid = {
            let r = st.next_random("sid");
            tokens::random_string(&r, 32)
        };
        let mut claims = serde_json::Map::new();
        let user = st.user(g.user_id).cloned();
        let has = |s: &str| g.scope.iter().any(|x| x == s);
        if let Some(u) = &user {
            if has("profile") {
                claims.insert("nickname".into(), json!(u.nickname));
                claims.insert("name".into(), json!(u.name));
                claims.insert("picture".into(), json!(u.picture));
                claims.insert("updated_at".into(), json!(u.created_at));
            }
            if has("email") {
                claims.insert("email".into(), json!(u.email));
                claims.insert("email_verified".into(), json!(true));
            }
            if let Some(c) = &st.app_metadata_claim {
                claims.insert(c.claim.clone(), u.app_metadata.clone());
            }
        }
        claims.insert("iss".into(), json!(self.issuer()));
        claims.insert("aud".into(), json!(g.client.client_id));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + ID_TOKEN_LIFETIME));
        claims.insert("sub".into(), json!(g.user_id));
        claims.insert("sid".into(), json!(sid));
        if let Some(at) = access_token {
            claims.insert("at_hash".into(), json!(tokens::at_hash(at)));
        }
        if let Some(n) = g.nonce {
            claims.insert("nonce".into(), json!(n));
        }
        tokens::sign(&self.key, &Value::Object(claims))
    }
}

/// CORS preflight answer (Auth0 answers preflights for Allowed Web Origins; the mock allows
/// every origin — a simplification).
fn cors_preflight(req: &Request) -> Response {
    let origin = req.get_header("origin").unwrap_or("*").to_string();
    let methods = req
        .get_header("access-control-request-method")
        .unwrap_or("GET")
        .to_string();
    let headers = req
        .get_header("access-control-request-headers")
        .unwrap_or("authorization,content-type")
        .to_string();
    Response::new(204)
        .with_header("access-control-allow-origin", &origin)
        .with_header("access-control-allow-methods", &methods)
        .with_header("access-control-allow-headers", &headers)
        .with_header("access-control-max-age", "86400")
        .with_header("vary", "origin")
}

/// Splits a space-separated scope string into distinct scopes, keeping order.
pub(crate) fn split_scope(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in s.split_whitespace() {
        if !out.iter().any(|x| x == p) {
            out.push(p.to_string());
        }
    }
    out
}

pub(crate) fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
