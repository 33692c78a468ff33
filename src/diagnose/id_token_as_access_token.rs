//! Rule `id-token-as-access-token`: an ID token was sent as the bearer token of an API call.
//!
//! Recognises the ID token by its role (decoder guess or the `id_token` slot it was issued in),
//! or, for tokens whose issuance was not captured, by ID-token-only claims (`nonce`/`at_hash`)
//! with a non-URL `aud` and no scopes. Must not fire for access tokens. Limit: an ID token
//! without `nonce`/`at_hash` whose issuance was not captured is not recognised.

use super::support::{exchange, fp, mgmt_audience, status_phrase};
use super::{Draft, RuleInfo};
use crate::correlate::{presented_token, Link};
use crate::model::{Api, AuthEvent, EventKind, Severity, Token, TokenRole};

pub const INFO: RuleInfo = RuleInfo {
    id: "id-token-as-access-token",
    severity: Severity::Error,
    summary: "an ID token was sent as a bearer token to an API",
    detects: "An API call (Management API, /userinfo or your own API) whose `Authorization: Bearer` \
              token is an ID token: it came back in the `id_token` field, or it carries `nonce`/`at_hash` \
              and its `aud` is a client id.",
    why: "An ID token tells your app who logged in; its `aud` is your client id. APIs accept only access \
          tokens whose `aud` is the API identifier, so the Management API answers 401 \"Invalid token\" \
          (auth0-facts §2.2, §4.3).",
    fix: "Send the `access_token` from the same response instead, requested with the API's audience \
          (`audience=https://TENANT/api/v2/` for the Management API).",
    example: "PATCH /api/v2/users/auth0|123 with the id_token from an implicit login → 401 {\"message\":\"Invalid token\"}",
};

fn looks_like_id_token(t: &Token) -> bool {
    let Some(j) = &t.jwt else { return false };
    let id_claims = j.claims.get("nonce").is_some() || j.claims.get("at_hash").is_some();
    let url_aud = j.audiences().iter().any(|a| a.contains("://"));
    id_claims && !url_aud && j.claims.get("scope").is_none()
}

pub fn check(ev: &AuthEvent, link: &Link) -> Vec<Draft> {
    let EventKind::ApiCall(call) = &ev.kind else {
        return Vec::new();
    };
    let Some(t) = presented_token(&call.credential) else {
        return Vec::new();
    };
    let by_issue = link.token.as_ref().map(|i| i.role);
    let is_id = match by_issue {
        Some(role) => role == TokenRole::Id,
        None => t.role == TokenRole::Id || (t.role == TokenRole::Unknown && looks_like_id_token(t)),
    };
    if !is_id {
        return Vec::new();
    }
    let aud = t
        .jwt
        .as_ref()
        .map(|j| j.audiences().join(", "))
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "your client id".to_string());
    let mut explanation = format!(
        "{} {} sent token {} as `Authorization: Bearer`, but it is an ID token (its `aud` is `{aud}`, \
         a client id, not an API). ID tokens prove who logged in to your app; APIs only accept access \
         tokens issued for their audience, so the call got {} (auth0-facts §2.2, §4.3).",
        call.method,
        call.endpoint,
        fp(t),
        status_phrase(call.status, call.error.as_ref())
    );
    let mut evidence = vec![ev.at.clone()];
    if let Some(iss) = &link.token {
        explanation.push_str(&format!(
            " It came back as `id_token` from {} ({} grant).",
            exchange(&iss.at),
            iss.grant
        ));
        evidence.push(iss.at.clone());
    }
    let fix = match call.api {
        Api::Management => format!(
            "Send the `access_token` from the same response instead of the `id_token`, and request it \
             with `audience={}` plus the scopes this call needs, so it is a JWT for the Management API.",
            mgmt_audience(&ev.host, Some(t))
        ),
        Api::Authentication | Api::Other => {
            "Send the `access_token` instead of the `id_token`, requested with `audience=<your API \
             identifier>` (for /userinfo, any access token issued with the `openid` scope)."
                .to_string()
        }
    };
    vec![Draft {
        cause: t.fingerprint.clone(),
        title: format!(
            "ID token sent as bearer token to {} {}",
            call.method, call.endpoint
        ),
        explanation,
        fix,
        evidence,
    }]
}

#[cfg(test)]
mod tests {
    use crate::correlate::testkit::*;
    use crate::diagnose::testrun::*;
    use crate::model::{Credential, EventKind as K};

    fn patch_with(t: crate::model::Token, status: u16) -> crate::model::AuthEvent {
        let mut c = mgmt_call(
            "PATCH",
            "/api/v2/users/{id}",
            PATCH_USER,
            Credential::Bearer(t),
            Some(status),
        );
        if status == 401 {
            c.error = Some(auth0_error(401, "Unauthorized", "Invalid token", None));
        }
        ev(5, "PATCH", USER_PATH, Some(status), K::ApiCall(c))
    }

    #[test]
    fn id_token_bearer_fires_with_fix_naming_the_audience() {
        let idt = id_jwt(serde_json::json!({}));
        let f = run(&[patch_with(idt.clone(), 401)]);
        let hits = of(&f, "id-token-as-access-token");
        assert_eq!(hits.len(), 1);
        assert!(hits[0].explanation.contains("401 \"Invalid token\""));
        assert!(hits[0]
            .explanation
            .contains(&format!("fp:{}", idt.fingerprint)));
        assert!(hits[0].fix.contains(&format!("audience={}", mgmt_aud())));
        assert!(!all_text(&f).contains(&*idt.raw));
    }

    #[test]
    fn unknown_role_id_token_is_recognised_by_claims() {
        let mut idt = id_jwt(serde_json::json!({}));
        idt.role = crate::model::TokenRole::Unknown;
        assert_eq!(
            of(&run(&[patch_with(idt, 401)]), "id-token-as-access-token").len(),
            1
        );
    }

    #[test]
    fn access_token_does_not_fire() {
        let at = access_jwt(&mgmt_aud(), "update:current_user_metadata");
        assert!(of(&run(&[patch_with(at, 200)]), "id-token-as-access-token").is_empty());
    }

    #[test]
    fn issuance_slot_names_the_issuing_exchange() {
        let idt = id_jwt(serde_json::json!({}));
        let events = [
            ev(
                0,
                "GET",
                "/authorize",
                Some(302),
                K::Authorize(authorize(Some("s"), "id_token token", "openid", None)),
            ),
            ev(
                1,
                "GET",
                "/authorize",
                Some(302),
                K::AuthorizeResult(implicit_result(
                    "s",
                    Some(jwe_token()),
                    Some(idt.clone()),
                    None,
                )),
            ),
            patch_with(idt, 401),
        ];
        let f = run(&events);
        let hit = of(&f, "id-token-as-access-token");
        assert_eq!(hit.len(), 1);
        assert!(hit[0]
            .explanation
            .contains("GET /authorize (input 0, exchange #1)"));
    }
}
