//! Rule `missing-state`: an /authorize request has no `state`.
//!
//! One finding per flow. Without `state`, the result cannot be joined to its request by
//! authtap either, which the flow label shows. Limit: whether the app checks `state` on the
//! callback is invisible in traffic.

use super::support::exchange;
use super::{Draft, RuleInfo};
use crate::correlate::Link;
use crate::model::{AuthEvent, EventKind, Severity};

pub const INFO: RuleInfo = RuleInfo {
    id: "missing-state",
    severity: Severity::Warning,
    summary: "an authorize request has no `state`",
    detects: "An /authorize request without a `state` parameter.",
    why: "`state` binds the redirect back to the browser session that started the login; without it an \
          attacker can feed the callback a code or token of their own (login CSRF). Auth0 echoes `state` \
          unchanged in the result (auth0-facts §3.1, §2.6).",
    fix: "Send a fresh random `state` on every /authorize and compare it on the callback (the Auth0 SDKs \
          do this for you).",
    example: "GET /authorize?response_type=code&client_id=abc&redirect_uri=… (no state)",
};

pub fn check(ev: &AuthEvent, _link: &Link) -> Vec<Draft> {
    let EventKind::Authorize(req) = &ev.kind else {
        return Vec::new();
    };
    if req.state.as_deref().is_some_and(|s| !s.is_empty()) {
        return Vec::new();
    }
    let client = req.client_id.as_deref().unwrap_or("unknown");
    vec![Draft {
        cause: "state".into(),
        title: format!("Authorize request without state for client {client}"),
        explanation: format!(
            "{} for client {client} has no `state`, so the callback cannot prove it answers a login this \
             browser started (login CSRF); Auth0 only echoes the `state` it is given (auth0-facts §3.1).",
            exchange(&ev.at)
        ),
        fix: "Generate a random `state` per login (at least 128 bits), store it in the session, send it on \
              /authorize and reject callbacks whose `state` differs; or let auth0-spa-js / auth0.js manage it."
            .into(),
        evidence: vec![ev.at.clone()],
    }]
}

#[cfg(test)]
mod tests {
    use crate::correlate::testkit::*;
    use crate::diagnose::testrun::*;
    use crate::model::EventKind as K;

    #[test]
    fn missing_state_fires() {
        let f = run(&[ev(
            0,
            "GET",
            "/authorize",
            Some(302),
            K::Authorize(authorize(None, "code", "openid", None)),
        )]);
        assert_eq!(of(&f, "missing-state").len(), 1);
    }

    #[test]
    fn present_state_does_not_fire() {
        let f = run(&[ev(
            0,
            "GET",
            "/authorize",
            Some(302),
            K::Authorize(authorize(Some("xyz"), "code", "openid", None)),
        )]);
        assert!(of(&f, "missing-state").is_empty());
    }
}
