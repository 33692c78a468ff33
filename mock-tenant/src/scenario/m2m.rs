//! `m2m`: a backend service using client_credentials against the Management API.
//!
//! Steps: token (scopes from the client grant) → search users 200 → DELETE another user 403
//! insufficient scope → token request for a scope the grant lacks 403 access_denied → a
//! burst of reads that ends in 429 with `x-ratelimit-*` → a second client whose 2-second
//! token is used after it expired → 401 expired.

use serde_json::json;

use crate::http::Request;
use crate::scenario::{expect, need_json, Env, Initiator, ScenarioError, Step, Transport};

const UA: &str = "node-auth0/4.10.0 (node.js/v20.18.0)";

fn backend(method: &str, url: &str) -> Request {
    Request::new(method, url)
        .header("user-agent", UA)
        .header("accept", "application/json")
}

fn step(name: &str, request: Request) -> Step {
    Step {
        name: name.to_string(),
        request,
        initiator: Initiator::Backend,
    }
}

pub fn run(env: &Env, t: &mut dyn Transport) -> Result<(), ScenarioError> {
    let token_url = env.tenant_url("/oauth/token");
    let mgmt = env.management_audience();
    let enc = |id: &str| url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>();

    let name = "client_credentials token";
    let r = expect(
        t,
        step(
            name,
            backend("POST", &token_url).json_body(&json!({
                "client_id": env.backend_client_id,
                "client_secret": env.backend_secret,
                "audience": mgmt,
                "grant_type": "client_credentials"
            })),
        ),
        200,
    )?;
    let at = need_json(name, &r, "access_token")?;
    t.wait_ms(150);

    expect(
        t,
        step(
            "search users by email",
            backend(
                "GET",
                &env.tenant_url(
                    "/api/v2/users?q=email%3A%22sam.rivera%40dev-forum.example%22&search_engine=v3",
                ),
            )
            .bearer(&at),
        ),
        200,
    )?;
    t.wait_ms(400);
    expect(
        t,
        step(
            "delete a user without delete:users",
            backend(
                "DELETE",
                &env.tenant_url(&format!("/api/v2/users/{}", enc(&env.other_user_id))),
            )
            .bearer(&at),
        ),
        403,
    )?;
    t.wait_ms(900);
    expect(
        t,
        step(
            "token asking for a scope the grant lacks",
            backend("POST", &token_url).json_body(&json!({
                "client_id": env.backend_client_id,
                "client_secret": env.backend_secret,
                "audience": mgmt,
                "grant_type": "client_credentials",
                "scope": "read:users delete:users"
            })),
        ),
        403,
    )?;
    t.wait_ms(700);
    // Burst: the backend client's window allows 5 calls; two were used above.
    let user_url = env.tenant_url(&format!("/api/v2/users/{}", enc(&env.user_id)));
    for i in 0..3 {
        expect(
            t,
            step(
                &format!("burst read {}", i + 1),
                backend("GET", &user_url).bearer(&at),
            ),
            200,
        )?;
        t.wait_ms(12);
    }
    let r = expect(
        t,
        step(
            "burst read 4 (rate limited)",
            backend("GET", &user_url).bearer(&at),
        ),
        429,
    )?;
    if r.get_header("x-ratelimit-reset").is_none() {
        return Err(ScenarioError::Missing {
            step: "burst read 4".into(),
            what: "x-ratelimit-reset".into(),
        });
    }
    t.wait_ms(1_500);

    let name = "cron client_credentials token (2 s lifetime)";
    let r = expect(
        t,
        step(
            name,
            backend("POST", &token_url).json_body(&json!({
                "client_id": env.cron_client_id,
                "client_secret": env.cron_secret,
                "audience": mgmt,
                "grant_type": "client_credentials"
            })),
        ),
        200,
    )?;
    let cron = need_json(name, &r, "access_token")?;
    t.wait_ms(3_000);
    expect(
        t,
        step(
            "cron reads a user with its expired token",
            backend("GET", &user_url).bearer(&cron),
        ),
        401,
    )?;
    Ok(())
}
