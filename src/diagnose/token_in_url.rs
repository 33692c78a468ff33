//! Rule `token-in-url`: an access token was sent in a URL query string (`?access_token=`).
//!
//! One finding per flow and endpoint. Names the token by fingerprint only.

use super::support::{fp, status_phrase};
use super::{Draft, RuleInfo};
use crate::model::{AuthEvent, Credential, EventKind, Severity};

use crate::correlate::Link;

pub const INFO: RuleInfo = RuleInfo {
    id: "token-in-url",
    severity: Severity::Error,
    summary: "an access token was sent in a URL query string",
    detects: "An API call that carries its token as the `access_token` query parameter.",
    why: "URLs are written to server and proxy logs, browser history and Referer headers, so the token \
          leaks to everyone who can read them; Auth0 APIs expect `Authorization: Bearer` (auth0-facts §1.5).",
    fix: "Send the token in the `Authorization: Bearer <token>` header, and treat the exposed token as \
          leaked until it expires.",
    example: "GET /userinfo?access_token=eyJ…",
};

pub fn check(ev: &AuthEvent, _link: &Link) -> Vec<Draft> {
    let EventKind::ApiCall(call) = &ev.kind else {
        return Vec::new();
    };
    let Credential::QueryToken(t) = &call.credential else {
        return Vec::new();
    };
    vec![Draft {
        cause: format!("{} {}", call.method, call.endpoint),
        title: format!("Access token in the URL of {} {}", call.method, call.endpoint),
        explanation: format!(
            "{} {} carried token {} in the `access_token` query parameter (answer: {}). URLs land in \
             server and proxy logs, browser history and Referer headers, so the token leaks to anyone \
             who reads them.",
            call.method,
            call.endpoint,
            fp(t),
            status_phrase(call.status, call.error.as_ref())
        ),
        fix: "Send it as `Authorization: Bearer <access_token>` instead of `?access_token=`, and scrub the \
              logs that recorded the URL; the token stays valid until its `exp`."
            .into(),
        evidence: vec![ev.at.clone()],
    }]
}

#[cfg(test)]
mod tests {
    use crate::correlate::testkit::*;
    use crate::diagnose::testrun::*;
    use crate::model::{Credential, EventKind as K};

    #[test]
    fn query_token_fires_without_raw_value() {
        let t = access_jwt(&mgmt_aud(), "read:current_user");
        let c = mgmt_call(
            "GET",
            "/api/v2/users/{id}",
            &["read:current_user"],
            Credential::QueryToken(t.clone()),
            Some(200),
        );
        let f = run(&[ev(0, "GET", USER_PATH, Some(200), K::ApiCall(c))]);
        assert_eq!(of(&f, "token-in-url").len(), 1);
        assert!(!all_text(&f).contains(&*t.raw));
    }

    #[test]
    fn header_token_does_not_fire() {
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
            "token-in-url"
        )
        .is_empty());
    }
}
