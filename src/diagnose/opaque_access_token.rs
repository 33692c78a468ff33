//! Rule `opaque-access-token`: an opaque (legacy 32-character or JWE `alg: dir`) access token
//! was sent to the Management API, which needs a JWT.
//!
//! The root cause is the authorize/token request that issued the token without `audience`; when
//! the issuance was captured the finding names that exchange. Does not fire for /userinfo (opaque
//! tokens are meant for it) nor for ID tokens (another rule). Limit: custom APIs are not checked,
//! since whether they accept opaque tokens is unknown.

use super::support::{exchange, fp, mgmt_audience, role_name, status_phrase};
use super::{Draft, RuleInfo};
use crate::correlate::{presented_token, Link};
use crate::model::{Api, AuthEvent, EventKind, Severity, TokenFormat, TokenRole};

pub const INFO: RuleInfo = RuleInfo {
    id: "opaque-access-token",
    severity: Severity::Error,
    summary: "an opaque (non-JWT) access token was sent to an API that needs a JWT",
    detects: "A Management API call whose bearer token is not a JWT: a ~32-character string or a \
              5-part JWE with `alg: dir`; or any API answering 400 \"Bad HTTP authentication header format\".",
    why: "Without `audience`, Auth0 assumes the token is only for /userinfo and issues an opaque token \
          (auth0-facts §4.1). The Management API cannot read it and answers 400 \"Bad HTTP authentication \
          header format\" (§2.2).",
    fix: "Add `audience=https://<tenant host>/api/v2/` to the /authorize (or /oauth/token) request that \
          obtains the token.",
    example: "GET /authorize?response_type=token id_token&scope=openid (no audience) → access_token=eyJhbGciOiJkaXIi… \
              → PATCH /api/v2/users/{id} → 400 Bad HTTP authentication header format",
};

pub fn check(ev: &AuthEvent, link: &Link) -> Vec<Draft> {
    let EventKind::ApiCall(call) = &ev.kind else {
        return Vec::new();
    };
    let Some(t) = presented_token(&call.credential) else {
        return Vec::new();
    };
    let role = link.token.as_ref().map(|i| i.role).unwrap_or(t.role);
    if t.format == TokenFormat::Jwt || role == TokenRole::Id {
        return Vec::new();
    }
    let bad_format = call
        .error
        .as_ref()
        .and_then(|e| e.message.as_deref())
        .is_some_and(|m| m.contains("Bad HTTP authentication header format"));
    if call.api != Api::Management && !bad_format {
        return Vec::new();
    }
    let shape = match t.format {
        TokenFormat::Jwe => "an encrypted JWE (`alg: dir`)",
        _ => "an opaque string",
    };
    let audience = mgmt_audience(&ev.host, None);
    let mut evidence = vec![ev.at.clone()];
    let mut explanation = format!(
        "{} {} sent {} {} that is {shape}, not a JWT, and got {}. ",
        call.method,
        call.endpoint,
        role_name(role),
        fp(t),
        status_phrase(call.status, call.error.as_ref())
    );
    let fix = match &link.token {
        Some(iss) if iss.requested_audience.is_none() => {
            explanation.push_str(&format!(
                "Root cause: the request that issued it, {} ({} grant for client {}), had no `audience`, \
                 so Auth0 issued a token meant only for /userinfo (auth0-facts §4.1).",
                exchange(&iss.at),
                iss.grant,
                iss.client_id.as_deref().unwrap_or("unknown")
            ));
            evidence.push(iss.at.clone());
            let what = if iss.grant == "implicit" {
                "/authorize request"
            } else {
                "/oauth/token request"
            };
            format!(
                "Add `audience={audience}` to the {what} at {} (auth0.js: `new auth0.WebAuth({{ ..., audience: '{audience}' }})`), \
                 then send the JWT access token it returns.",
                exchange(&iss.at)
            )
        }
        Some(iss) => {
            explanation.push_str(&format!(
                "It was issued by {} with audience `{}`, which did not yield a JWT for the Management API \
                 (auth0-facts §4.1).",
                exchange(&iss.at),
                iss.requested_audience.as_deref().unwrap_or_default()
            ));
            evidence.push(iss.at.clone());
            format!(
                "Request the token with `audience={audience}` (exactly the Management API identifier)."
            )
        }
        None => {
            explanation.push_str(
                "Its issuance is not in this capture; Auth0 issues such tokens when /authorize or \
                 /oauth/token has no `audience` (auth0-facts §4.1).",
            );
            format!(
                "Add `audience={audience}` to the /authorize or /oauth/token request that obtains this token."
            )
        }
    };
    vec![Draft {
        cause: t.fingerprint.clone(),
        title: format!(
            "Opaque access token sent to {} {}",
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
    use crate::model::{Api, Credential, EventKind as K, TokenRole};

    fn bad_call(t: crate::model::Token, idx: usize) -> crate::model::AuthEvent {
        let mut c = mgmt_call(
            "PATCH",
            "/api/v2/users/{id}",
            PATCH_USER,
            Credential::Bearer(t),
            Some(400),
        );
        c.error = Some(auth0_error(
            400,
            "Bad Request",
            "Bad HTTP authentication header format",
            Some("Bearer"),
        ));
        ev(idx, "PATCH", USER_PATH, Some(400), K::ApiCall(c))
    }

    #[test]
    fn names_the_authorize_without_audience() {
        let jwe = jwe_token();
        let events = [
            ev(
                0,
                "GET",
                "/authorize",
                Some(302),
                K::Authorize(authorize(
                    Some("s1"),
                    "token id_token",
                    "openid profile",
                    None,
                )),
            ),
            ev(
                0,
                "GET",
                "/authorize",
                Some(302),
                K::AuthorizeResult(implicit_result("s1", Some(jwe.clone()), None, None)),
            ),
            bad_call(jwe.clone(), 1),
        ];
        let f = run(&events);
        let hit = of(&f, "opaque-access-token");
        assert_eq!(hit.len(), 1);
        assert!(
            hit[0]
                .explanation
                .contains("GET /authorize (input 0, exchange #0)"),
            "{}",
            hit[0].explanation
        );
        assert!(hit[0].explanation.contains("had no `audience`"));
        assert!(hit[0].fix.contains(&format!("audience={}", mgmt_aud())));
        assert!(!all_text(&f).contains(&*jwe.raw));
    }

    #[test]
    fn legacy_opaque_without_issuance_still_fires() {
        let t = opaque_token("Xy7pQ2rS9tU4vW1xZ3aB5cD8eF0gH6iJ", TokenRole::Access);
        let f = run(&[bad_call(t, 0)]);
        assert_eq!(of(&f, "opaque-access-token").len(), 1);
    }

    #[test]
    fn opaque_token_on_userinfo_is_fine() {
        let mut c = mgmt_call(
            "GET",
            "/userinfo",
            &[],
            Credential::Bearer(jwe_token()),
            Some(200),
        );
        c.api = Api::Authentication;
        c.known_endpoint = false;
        let f = run(&[ev(0, "GET", "/userinfo", Some(200), K::ApiCall(c))]);
        assert!(of(&f, "opaque-access-token").is_empty());
    }

    #[test]
    fn jwt_access_token_does_not_fire() {
        let at = access_jwt(&mgmt_aud(), "update:current_user_metadata");
        let c = mgmt_call(
            "PATCH",
            "/api/v2/users/{id}",
            PATCH_USER,
            Credential::Bearer(at),
            Some(200),
        );
        assert!(of(
            &run(&[ev(0, "PATCH", USER_PATH, Some(200), K::ApiCall(c))]),
            "opaque-access-token"
        )
        .is_empty());
    }
}
