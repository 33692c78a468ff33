//! The fixture tenant: the applications, APIs, grants and users the scenarios assume.
//!
//! Owns: every raw secret the fixtures contain (listed in fixtures/README.md so tests can
//! grep outputs for them). Must not run steps. Limits: values are fixed strings, chosen to
//! look like Auth0's (32-char client ids, `auth0|…` user ids).

use serde_json::json;

use crate::clock::Clock;
use crate::config::{Client, ClientGrant, RateLimit, User};
use crate::tenant::Tenant;

pub const DOMAIN: &str = "dev-forum.us.auth0.com";

/// Which tenant configuration a scenario needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// The forum app: a post-login Action copies app_metadata (with a CouchDB password)
    /// into ID tokens; the backend M2M clients exist.
    Forum,
    /// A well-configured SPA: no secret-bearing claims.
    Healthy,
}

#[derive(Debug, Clone)]
pub struct Env {
    pub domain: String,
    pub app_origin: String,
    pub redirect_uri: String,
    pub spa_client_id: String,
    pub backend_client_id: String,
    pub backend_secret: String,
    pub cron_client_id: String,
    pub cron_secret: String,
    pub user_id: String,
    pub other_user_id: String,
    pub couch_password: String,
    pub app_metadata_claim: String,
    /// An audience that is not registered in the tenant (for `Service not found`).
    pub unknown_audience: String,
}

impl Env {
    pub fn new(domain: &str) -> Self {
        Env {
            domain: domain.to_string(),
            app_origin: "https://forum-app.example".into(),
            redirect_uri: "https://forum-app.example/callback".into(),
            spa_client_id: "qK3fT8vNw2LxR7pZ4mYc9bHs6jDa1eGu".into(),
            backend_client_id: "Bk7mQ2wX9rT4yU8iO3pL6aS1dF5gH0jK".into(),
            backend_secret: "m2mS3cr3t_vQ9x-Lr2Wd7Kp4Zt8Hn1Bc6Fy0Js5Ga3Ue7Ri2Oo4Pq9Mw1Nx8Lk6"
                .into(),
            cron_client_id: "Cr0nW0rk3rJ0bQ9zX8cV7bN6mL5kJ4hG".into(),
            cron_secret: "cr0nS3cr3t_Yt5Gb8Nh2Mj7Ku4Il1Op9Az3Sx6Dc0Fv5Gb8Hn2Jm7Kl4Qw1Er9Ty".into(),
            user_id: "auth0|6561f0c2a9d3e4b5c6d7e8f9".into(),
            other_user_id: "auth0|65620a11b2c3d4e5f6a7b8c9".into(),
            couch_password: "CouchPw-7Hq2x9Lm-Zr4Tk8".into(),
            app_metadata_claim: "https://dev-forum.example/app_metadata".into(),
            unknown_audience: "https://api.dev-forum.example/".into(),
        }
    }

    pub fn management_audience(&self) -> String {
        format!("https://{}/api/v2/", self.domain)
    }

    pub fn tenant_url(&self, path_and_query: &str) -> String {
        format!("https://{}{}", self.domain, path_and_query)
    }

    /// The CouchDB connection string stored in the user's app_metadata.
    pub fn couch_url(&self) -> String {
        format!(
            "https://forum_app:{}@couch.dev-forum.example:6984/forum",
            self.couch_password
        )
    }
}

/// Builds the tenant the scenarios expect.
pub fn fixture_tenant(env: &Env, profile: Profile, clock: Clock) -> Tenant {
    let t = Tenant::new(&env.domain).with_clock(clock);
    t.add_client(Client::spa(
        &env.spa_client_id,
        "Forum SPA",
        &[env.redirect_uri.as_str(), env.app_origin.as_str()],
    ));
    let mut backend = Client::m2m(&env.backend_client_id, "Forum Backend", &env.backend_secret);
    backend.rate_limit = Some(RateLimit {
        limit: 5,
        window_secs: 60,
    });
    t.add_client(backend);
    let mut cron = Client::m2m(
        &env.cron_client_id,
        "Nightly Cleanup Cron",
        &env.cron_secret,
    );
    cron.access_token_lifetime = Some(2);
    t.add_client(cron);
    t.add_client_grant(ClientGrant {
        client_id: env.backend_client_id.clone(),
        audience: env.management_audience(),
        scopes: vec!["read:users".into(), "update:users".into()],
    });
    t.add_client_grant(ClientGrant {
        client_id: env.cron_client_id.clone(),
        audience: env.management_audience(),
        scopes: vec!["read:users".into()],
    });
    let app_metadata = match profile {
        Profile::Forum => json!({
            "plan": "pro",
            "couchdb": {
                "username": "forum_app",
                "password": env.couch_password,
                "url": env.couch_url(),
            }
        }),
        Profile::Healthy => json!({"plan": "pro"}),
    };
    t.add_user(User {
        user_id: env.user_id.clone(),
        email: "sam.rivera@dev-forum.example".into(),
        name: "Sam Rivera".into(),
        nickname: "sam.rivera".into(),
        picture: "https://s.gravatar.com/avatar/0f1e2d3c4b5a69788796a5b4c3d2e1f0?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2Fsr.png".into(),
        password: "Sam-Forum-Passw0rd!".into(),
        connection: "Username-Password-Authentication".into(),
        user_metadata: json!({"theme": "light"}),
        app_metadata,
        created_at: "2026-10-02T08:15:41.233Z".into(),
    });
    t.add_user(User {
        user_id: env.other_user_id.clone(),
        email: "alex.chen@dev-forum.example".into(),
        name: "Alex Chen".into(),
        nickname: "alex.chen".into(),
        picture: "https://s.gravatar.com/avatar/a1b2c3d4e5f60718293a4b5c6d7e8f90?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2Fac.png".into(),
        password: "Alex-Forum-Passw0rd!".into(),
        connection: "Username-Password-Authentication".into(),
        user_metadata: json!({}),
        app_metadata: json!({"plan": "free"}),
        created_at: "2026-10-05T17:02:09.871Z".into(),
    });
    t.set_session_user(&env.user_id);
    if profile == Profile::Forum {
        t.set_app_metadata_claim(Some(&env.app_metadata_claim));
    }
    t
}
