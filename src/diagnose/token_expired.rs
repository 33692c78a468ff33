//! Rule `token-expired`: a token was used after its `exp` (or the API said "Expired token").
//!
//! `exp` comes from the JWT, else from the issuance (issue time + `expires_in`). Compares with
//! the request time of the exchange, so it needs timestamps; without them only the API's own
//! "Expired token" answer is used. Never reads a clock.

use super::support::{date, fp, role_name, secs, status_phrase};
use super::{Draft, RuleInfo};
use crate::correlate::{presented_token, Link};
use crate::model::{AuthEvent, EventKind, Severity};

pub const INFO: RuleInfo = RuleInfo {
    id: "token-expired",
    severity: Severity::Error,
    summary: "the token was used after `exp`",
    detects: "An API call whose token's `exp` (or issue time + `expires_in`) is before the request time, \
              or a 401 \"Expired token received for JSON Web Token validation\".",
    why: "Auth0 access tokens cannot be revoked, so they are short-lived: Management API tokens last \
          86400 s by default, implicit ones 7200 s; after `exp` every API rejects them (auth0-facts §1.4, \
          §2.2, §4.2).",
    fix: "Get a new token before `exp`: cache it with its expiry and renew early (refresh token, \
          getTokenSilently, or a new client_credentials grant).",
    example: "GET /api/v2/users with a token whose exp passed 2 h ago → 401 Expired token received for JSON Web Token validation",
};

fn human(d: i64) -> String {
    match d {
        d if d < 120 => format!("{d} s"),
        d if d < 7200 => format!("{} min", d / 60),
        d if d < 172_800 => format!("{} h", d / 3600),
        d => format!("{} days", d / 86400),
    }
}

pub fn check(ev: &AuthEvent, link: &Link) -> Vec<Draft> {
    let EventKind::ApiCall(call) = &ev.kind else {
        return Vec::new();
    };
    let Some(t) = presented_token(&call.credential) else {
        return Vec::new();
    };
    let exp = super::token_facts::of(t)
        .and_then(|f| f.exp)
        .or_else(|| link.token.as_ref().and_then(|i| i.exp));
    let when = secs(&ev.at);
    let said = call
        .error
        .as_ref()
        .and_then(|e| e.message.as_deref())
        .is_some_and(|m| m.contains("Expired token") || m.contains("Token has expired"));
    let late = exp.zip(when).filter(|(e, w)| e < w);
    if late.is_none() && !said {
        return Vec::new();
    }
    let role = link.token.as_ref().map(|i| i.role).unwrap_or(t.role);
    let mut explanation = format!(
        "{} {} sent {} {}",
        call.method,
        call.endpoint,
        role_name(role),
        fp(t)
    );
    match (late, exp) {
        (Some((e, w)), _) => explanation.push_str(&format!(
            " that expired at {} (`exp`), {} before the request at {}",
            date(e),
            human(w - e),
            date(w)
        )),
        (None, Some(e)) => explanation.push_str(&format!(" (`exp` {})", date(e))),
        (None, None) => {}
    }
    explanation.push_str(&format!(
        "; the call got {}. Expired tokens are rejected by every API (auth0-facts §2.2).",
        status_phrase(call.status, call.error.as_ref())
    ));
    let m2m = link
        .token
        .as_ref()
        .is_some_and(|i| i.grant == "client_credentials")
        || t.jwt
            .as_ref()
            .is_some_and(|j| j.claim_str("gty") == Some("client-credentials"));
    let fix = if m2m {
        "Cache the M2M token with its expiry and request a new one (client_credentials) shortly before \
         `exp` (default lifetime 86400 s, auth0-facts §1.4); don't reuse a token from a config file."
            .to_string()
    } else {
        "Renew the token before `exp`: use the SDK's getTokenSilently / a refresh token \
         (`offline_access` + refresh token rotation), and check `expires_in` before calling the API."
            .to_string()
    };
    vec![Draft {
        cause: t.fingerprint.clone(),
        title: format!("Expired token sent to {} {}", call.method, call.endpoint),
        explanation,
        fix,
        evidence: vec![ev.at.clone()],
    }]
}

#[cfg(test)]
mod tests {
    use crate::correlate::testkit::*;
    use crate::diagnose::testrun::*;
    use crate::model::{Credential, EventKind as K};

    #[test]
    fn exp_before_request_time_fires_with_dates() {
        let t = m2m_jwt(&mgmt_aud(), "read:users", NOW - 7200);
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
            "Expired token received for JSON Web Token validation",
            None,
        ));
        let f = run(&[ev(0, "GET", "/api/v2/users", Some(401), K::ApiCall(c))]);
        let hit = of(&f, "token-expired");
        assert_eq!(hit.len(), 1);
        assert!(
            hit[0].explanation.contains("2 h before"),
            "{}",
            hit[0].explanation
        );
        assert!(hit[0].fix.contains("client_credentials"));
    }

    #[test]
    fn expired_message_alone_fires() {
        let t = opaque_token(
            "Xy7pQ2rS9tU4vW1xZ3aB5cD8eF0gH6iJ",
            crate::model::TokenRole::Access,
        );
        let mut c = mgmt_call("GET", "/userinfo", &[], Credential::Bearer(t), Some(401));
        c.error = Some(auth0_error(
            401,
            "Unauthorized",
            "Expired token received for JSON Web Token validation",
            None,
        ));
        assert_eq!(
            of(
                &run(&[ev(0, "GET", "/userinfo", Some(401), K::ApiCall(c))]),
                "token-expired"
            )
            .len(),
            1
        );
    }

    #[test]
    fn valid_token_does_not_fire() {
        let t = m2m_jwt(&mgmt_aud(), "read:users", NOW + 60);
        let c = mgmt_call(
            "GET",
            "/api/v2/users",
            &["read:users"],
            Credential::Bearer(t),
            Some(200),
        );
        assert!(of(
            &run(&[ev(0, "GET", "/api/v2/users", Some(200), K::ApiCall(c))]),
            "token-expired"
        )
        .is_empty());
    }
}
