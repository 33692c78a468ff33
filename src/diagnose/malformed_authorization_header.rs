//! Rule `malformed-authorization-header`: the Authorization header is not `Bearer <token>`, or a
//! Management API call had no credential at all and was refused.
//!
//! The classifier's `reason` says what was wrong; it describes the shape, never the value.
//! A missing header fires only on a 401 from the Management API ("Missing authentication").

use super::support::status_phrase;
use super::{Draft, RuleInfo};
use crate::correlate::Link;
use crate::model::{Api, AuthEvent, Credential, EventKind, Severity};

pub const INFO: RuleInfo = RuleInfo {
    id: "malformed-authorization-header",
    severity: Severity::Error,
    summary: "the Authorization header is not `Bearer <token>`",
    detects: "An API call whose Authorization header has another scheme, no token, extra parts, quotes or a \
              serialized object, or a Management API call with no Authorization header answered 401.",
    why: "The Management API parses `Authorization: Bearer <jwt>` strictly; anything else is refused with \
          400 \"Bad HTTP authentication header format\" (errorCode `Bearer`), and no header at all with 401 \
          \"Missing authentication\" (auth0-facts §2.2).",
    fix: "Send exactly `Authorization: Bearer <access_token>`: one space, no quotes, no JSON, no second \
          `Bearer`.",
    example: "Authorization: Bearer {\"access_token\": …} → 400 Bad HTTP authentication header format",
};

pub fn check(ev: &AuthEvent, _link: &Link) -> Vec<Draft> {
    let EventKind::ApiCall(call) = &ev.kind else {
        return Vec::new();
    };
    // Only the two arms below need the phrase (most calls match neither).
    let answer = || status_phrase(call.status, call.error.as_ref());
    match &call.credential {
        Credential::Malformed { reason } => vec![Draft {
            cause: reason.clone(),
            title: format!("Malformed Authorization header on {} {}", call.method, call.endpoint),
            explanation: format!(
                "{} {} sent an Authorization header that is not `Bearer <token>`: {reason}. The call got \
                 {answer}; Auth0 refuses such headers with 400 \"Bad HTTP authentication header format\" \
                 (auth0-facts §2.2).",
                call.method,
                call.endpoint,
                answer = answer()
            ),
            fix: "Send exactly `Authorization: Bearer <access_token>` (the `access_token` string from the \
                  token response, not the whole JSON object, one space, no quotes)."
                .into(),
            evidence: vec![ev.at.clone()],
        }],
        Credential::None if call.api == Api::Management && call.status == Some(401) => {
            vec![Draft {
                cause: "missing".into(),
                title: format!("No Authorization header on {} {}", call.method, call.endpoint),
                explanation: format!(
                    "{} {} had no Authorization header and got {answer}: the Management API needs a \
                     bearer token on every call (\"Missing authentication\", auth0-facts §2.2).",
                    call.method,
                    call.endpoint,
                    answer = answer()
                ),
                fix: "Send `Authorization: Bearer <access_token>` with an access token for the Management \
                      API audience."
                    .into(),
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
    use crate::model::{Credential, EventKind as K};

    #[test]
    fn malformed_header_fires_with_reason() {
        let mut c = mgmt_call(
            "GET",
            "/api/v2/users",
            &["read:users"],
            Credential::Malformed {
                reason: "scheme is `Basic`, not `Bearer`".into(),
            },
            Some(400),
        );
        c.error = Some(auth0_error(
            400,
            "Bad Request",
            "Bad HTTP authentication header format",
            Some("Bearer"),
        ));
        let f = run(&[ev(0, "GET", "/api/v2/users", Some(400), K::ApiCall(c))]);
        let hit = of(&f, "malformed-authorization-header");
        assert_eq!(hit.len(), 1);
        assert!(hit[0].explanation.contains("scheme is `Basic`"));
    }

    #[test]
    fn missing_header_401_fires_but_200_and_bearer_do_not() {
        let c = mgmt_call(
            "GET",
            "/api/v2/users",
            &["read:users"],
            Credential::None,
            Some(401),
        );
        assert_eq!(
            of(
                &run(&[ev(0, "GET", "/api/v2/users", Some(401), K::ApiCall(c))]),
                "malformed-authorization-header"
            )
            .len(),
            1
        );
        let ok = mgmt_call(
            "GET",
            "/api/v2/users",
            &["read:users"],
            Credential::Bearer(m2m_jwt(&mgmt_aud(), "read:users", NOW + 60)),
            Some(200),
        );
        assert!(of(
            &run(&[ev(0, "GET", "/api/v2/users", Some(200), K::ApiCall(ok))]),
            "malformed-authorization-header"
        )
        .is_empty());
    }
}
