//! Rule `missing-pkce`: a public client runs the authorization code flow without PKCE.
//!
//! Public client evidence: the code is redeemed at /oauth/token with neither `client_secret`
//! nor `code_verifier` (and its /authorize, when captured, had no `code_challenge`); or an
//! /authorize for `response_type=code` with `response_mode=web_message` (a SPA) and no
//! `code_challenge`. Limit: a SPA using the query response mode whose token request was not
//! captured cannot be told apart from a confidential web app, so it is not flagged.

use super::support::exchange;
use super::{Draft, RuleInfo};
use crate::correlate::Link;
use crate::model::{AuthEvent, EventKind, Severity};

pub const INFO: RuleInfo = RuleInfo {
    id: "missing-pkce",
    severity: Severity::Warning,
    summary: "a public client runs the code flow without `code_challenge`",
    detects: "An authorization_code grant sent without client_secret and without code_verifier (so the \
              client is public and PKCE is off), or a SPA-style /authorize (response_mode=web_message) \
              for a code without code_challenge.",
    why: "A public client (SPA, mobile, CLI) cannot keep a secret, so only PKCE stops an intercepted \
          authorization code from being redeemed by someone else (auth0-facts §3.1, §3.2).",
    fix: "Send `code_challenge=BASE64URL(SHA256(verifier))` and `code_challenge_method=S256` on /authorize \
          and `code_verifier` on /oauth/token.",
    example: "POST /oauth/token grant_type=authorization_code&client_id=abc&code=… (no client_secret, no code_verifier)",
};

const FIX: &str = "Use PKCE: send `code_challenge=BASE64URL(SHA256(code_verifier))` and \
                   `code_challenge_method=S256` on /authorize and the matching `code_verifier` on \
                   /oauth/token (auth0-spa-js and the Auth0 mobile SDKs do this by default).";

/// Auth0 browser SDKs, by the `name` in the `auth0Client` parameter they add to /authorize.
const BROWSER_SDKS: &[&str] = &[
    "auth0-spa-js",
    "auth0.js",
    "auth0-react",
    "auth0-angular",
    "auth0-vue",
    "lock.js",
    "lock",
];

/// The browser SDK named by the request's `auth0Client` (base64 JSON `{"name": ...}`).
fn browser_sdk(url: &str) -> Option<String> {
    use base64::Engine as _;
    let parsed = url::Url::parse(url).ok()?;
    let value = parsed
        .query_pairs()
        .find(|(k, _)| k == "auth0Client")
        .map(|(_, v)| v.into_owned())?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim_end_matches('='))
        .or_else(|_| {
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(value.trim_end_matches('='))
        })
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(value.trim_end_matches('='))
        })
        .ok()?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let name = json.get("name")?.as_str()?;
    let bare = name.trim_start_matches("@auth0/");
    BROWSER_SDKS.contains(&bare).then(|| name.to_string())
}

pub fn check(ev: &AuthEvent, link: &Link) -> Vec<Draft> {
    let auth = link.authorize.as_ref();
    match &ev.kind {
        EventKind::TokenGrant(g)
            if g.grant_type.as_deref() == Some("authorization_code")
                && !g.client_secret_present
                && !g.code_verifier_present
                && auth.is_none_or(|a| a.request.code_challenge.is_none()) =>
        {
            let client = g.client_id.as_deref().unwrap_or("unknown");
            let mut evidence = vec![ev.at.clone()];
            let origin = match auth {
                Some(a) => {
                    evidence.push(a.at.clone());
                    format!(
                        " Its /authorize ({}) had no `code_challenge`.",
                        exchange(&a.at)
                    )
                }
                None => String::new(),
            };
            vec![Draft {
                cause: "pkce".into(),
                title: format!("Code flow without PKCE for public client {client}"),
                explanation: format!(
                    "{} redeemed an authorization code for client {client} without `client_secret` and \
                     without `code_verifier`, so this is a public client running the code flow without \
                     PKCE.{origin} Anyone who intercepts the code from the redirect can redeem it \
                     (auth0-facts §3.2).",
                    exchange(&ev.at)
                ),
                fix: FIX.to_string(),
                evidence,
            }]
        }
        EventKind::Authorize(req)
            if req.response_type.iter().any(|r| r == "code")
                && req.code_challenge.is_none()
                && (req.response_mode.as_deref() == Some("web_message")
                    || browser_sdk(&ev.at.url).is_some()) =>
        {
            let how = match browser_sdk(&ev.at.url) {
                Some(sdk) => {
                    format!("is sent by the browser SDK `{sdk}` (its `auth0Client` parameter)")
                }
                None => "asks for `response_mode=web_message`".to_string(),
            };
            vec![Draft {
                cause: "pkce".into(),
                title: format!(
                    "Code flow without PKCE for SPA client {}",
                    req.client_id.as_deref().unwrap_or("unknown")
                ),
                explanation: format!(
                    "{} asks for a code and {how}: a browser app, which cannot keep a client secret, \
                     yet it sends no `code_challenge` (auth0-facts §3.1).",
                    exchange(&ev.at)
                ),
                fix: FIX.to_string(),
                evidence: vec![ev.at.clone()],
            }]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use crate::correlate::testkit::*;
    use crate::diagnose::testrun::*;
    use crate::model::{EventKind as K, TokenRole};

    fn flow(challenge: bool, verifier: bool, secret: bool) -> Vec<crate::model::AuthEvent> {
        let mut a = authorize(Some("s"), "code", "openid", None);
        if challenge {
            a.code_challenge = Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into());
        }
        let set = token_set(
            Some(opaque_token(
                "abcdefghijklmnopqrstuvwxyz012345",
                TokenRole::Access,
            )),
            None,
            None,
        );
        vec![
            ev(0, "GET", "/authorize", Some(302), K::Authorize(a)),
            ev(
                1,
                "GET",
                "/callback",
                Some(200),
                K::AuthorizeResult(code_result("s", "code-0123456789")),
            ),
            ev(
                2,
                "POST",
                "/oauth/token",
                Some(200),
                K::TokenGrant(code_grant("code-0123456789", verifier, secret, set)),
            ),
        ]
    }

    #[test]
    fn public_client_without_pkce_fires() {
        let f = run(&flow(false, false, false));
        let hit = of(&f, "missing-pkce");
        assert_eq!(hit.len(), 1);
        assert!(hit[0]
            .explanation
            .contains("GET /authorize (input 0, exchange #0)"));
    }

    #[test]
    fn pkce_or_confidential_client_does_not_fire() {
        assert!(of(&run(&flow(true, true, false)), "missing-pkce").is_empty());
        assert!(of(&run(&flow(false, false, true)), "missing-pkce").is_empty());
    }

    #[test]
    fn spa_web_message_without_challenge_fires() {
        let mut a = authorize(Some("s"), "code", "openid", None);
        a.response_mode = Some("web_message".into());
        let f = run(&[ev(0, "GET", "/authorize", Some(200), K::Authorize(a))]);
        assert_eq!(of(&f, "missing-pkce").len(), 1);
    }

    #[test]
    fn browser_sdk_without_challenge_fires_and_server_sdk_does_not() {
        use base64::Engine as _;
        let client = |name: &str| {
            base64::engine::general_purpose::STANDARD
                .encode(format!("{{\"name\":\"{name}\",\"version\":\"9.0.0\"}}"))
        };
        let mk = |name: &str| {
            let mut e = ev(
                0,
                "GET",
                "/authorize",
                Some(302),
                K::Authorize(authorize(Some("s"), "code", "openid", None)),
            );
            e.at.url = format!(
                "https://{HOST}/authorize?response_type=code&auth0Client={}",
                url::form_urlencoded::byte_serialize(client(name).as_bytes()).collect::<String>()
            );
            e
        };
        let f = run(&[mk("auth0.js")]);
        let hit = of(&f, "missing-pkce");
        assert_eq!(hit.len(), 1);
        assert!(
            hit[0].explanation.contains("`auth0.js`"),
            "{}",
            hit[0].explanation
        );
        assert!(of(&run(&[mk("node-auth0")]), "missing-pkce").is_empty());
    }
}
