//! Rule `audience-mismatch`: the token's `aud` does not include the API being called.
//!
//! Fires for JWT access tokens sent to the Management API whose `aud` has no `…/api/v2/` entry,
//! and for any API that answered "Bad audience" (auth0-facts §2.2). Skips ID tokens (their own
//! rule) and opaque tokens (no readable `aud`). Limit: custom APIs are only judged by their
//! "Bad audience" answer, since their identifiers are unknown to authtap.

use super::support::{exchange, fp, mgmt_audience, status_phrase};
use super::{Draft, RuleInfo};
use crate::correlate::{presented_token, Link};
use crate::model::{Api, AuthEvent, EventKind, Severity, TokenRole};

pub const INFO: RuleInfo = RuleInfo {
    id: "audience-mismatch",
    severity: Severity::Error,
    summary: "the token's `aud` does not include the API being called",
    detects: "A JWT access token sent to the Management API without `https://TENANT/api/v2/` in its `aud`, \
              or any API answering 401 \"Bad audience: …\".",
    why: "Auth0 access tokens are minted for one API (the `audience` of the request) plus /userinfo; any \
          other API rejects them with 401 \"Bad audience\" (auth0-facts §2.2, §4.1).",
    fix: "Request a token with `audience` set to the API you call (`https://TENANT/api/v2/` for the \
          Management API); use separate tokens for separate APIs.",
    example: "token for audience https://api.example.com sent to GET /api/v2/users → 401 Bad audience: https://api.example.com",
};

pub fn check(ev: &AuthEvent, link: &Link) -> Vec<Draft> {
    let EventKind::ApiCall(call) = &ev.kind else {
        return Vec::new();
    };
    let Some(t) = presented_token(&call.credential) else {
        return Vec::new();
    };
    let Some(j) = &t.jwt else { return Vec::new() };
    let role = link.token.as_ref().map(|i| i.role).unwrap_or(t.role);
    if role == TokenRole::Id {
        return Vec::new();
    }
    let said_bad = call
        .error
        .as_ref()
        .and_then(|e| e.message.as_deref())
        .is_some_and(|m| m.contains("Bad audience"));
    let mgmt_wrong =
        call.api == Api::Management && !super::token_facts::of(t).is_some_and(|f| f.mgmt_audience);
    if !(said_bad || mgmt_wrong) {
        return Vec::new();
    }
    let auds = j.audiences();
    let wanted = if call.api == Api::Management {
        mgmt_audience(&ev.host, Some(t))
    } else {
        "<your API identifier>".to_string()
    };
    let mut explanation = format!(
        "{} {} sent access token {} whose `aud` is {}, but this API only accepts tokens for `{wanted}`; \
         the call got {} (auth0-facts §2.2).",
        call.method,
        call.endpoint,
        fp(t),
        if auds.is_empty() {
            "missing".to_string()
        } else {
            format!("`{}`", auds.join(", "))
        },
        status_phrase(call.status, call.error.as_ref())
    );
    let mut evidence = vec![ev.at.clone()];
    if let Some(i) = &link.token {
        explanation.push_str(&format!(
            " It was issued by {} with audience {}.",
            exchange(&i.at),
            i.requested_audience
                .as_deref()
                .map(|a| format!("`{a}`"))
                .unwrap_or_else(|| "(none)".into())
        ));
        evidence.push(i.at.clone());
    }
    vec![Draft {
        cause: t.fingerprint.clone(),
        title: format!(
            "Token audience does not match {} {}",
            call.method, call.endpoint
        ),
        explanation,
        fix: format!(
            "Request the token with `audience={wanted}`; a token carries one API audience (plus \
             /userinfo), so get a separate token for each API you call."
        ),
        evidence,
    }]
}

#[cfg(test)]
mod tests {
    use crate::correlate::testkit::*;
    use crate::diagnose::testrun::*;
    use crate::model::{Api, Credential, EventKind as K};

    #[test]
    fn custom_api_token_on_management_api_fires() {
        let t = access_jwt("https://api.example.com", "read:users");
        let mut c = mgmt_call(
            "GET",
            "/api/v2/users",
            &["read:users"],
            Credential::Bearer(t),
            Some(401),
        );
        c.error = Some(auth0_error(
            401,
            "Unauthorized",
            "Bad audience: https://api.example.com",
            None,
        ));
        let f = run(&[ev(0, "GET", "/api/v2/users", Some(401), K::ApiCall(c))]);
        let hit = of(&f, "audience-mismatch");
        assert_eq!(hit.len(), 1);
        assert!(hit[0].fix.contains(&format!("audience={}", mgmt_aud())));
        assert!(hit[0].explanation.contains("https://api.example.com"));
    }

    #[test]
    fn bad_audience_answer_from_custom_api_fires() {
        let t = access_jwt("https://orders.example.com", "read:orders");
        let mut c = mgmt_call("GET", "/orders", &[], Credential::Bearer(t), Some(401));
        c.api = Api::Other;
        c.error = Some(auth0_error(
            401,
            "Unauthorized",
            "Bad audience: https://orders.example.com",
            None,
        ));
        assert_eq!(
            of(
                &run(&[ev(0, "GET", "/orders", Some(401), K::ApiCall(c))]),
                "audience-mismatch"
            )
            .len(),
            1
        );
    }

    #[test]
    fn management_token_does_not_fire() {
        let t = access_jwt(&mgmt_aud(), "read:current_user");
        let c = mgmt_call(
            "GET",
            "/api/v2/users/{id}",
            &["read:current_user"],
            Credential::Bearer(t),
            Some(200),
        );
        assert!(of(
            &run(&[ev(0, "GET", USER_PATH, Some(200), K::ApiCall(c))]),
            "audience-mismatch"
        )
        .is_empty());
    }
}
