//! Rule `rate-limited`: Auth0 answered 429, with the limit, the remaining budget, the reset time
//! (as a date) and the endpoint.
//!
//! Looks at API calls (with their `x-ratelimit-*` headers), token grants and other Authentication
//! API endpoints. One finding per flow and endpoint; repeats are counted by the diagnoser.

use super::support::{date, secs, status_phrase};
use super::{Draft, RuleInfo};
use crate::correlate::Link;
use crate::model::{AuthEvent, EventKind, RateLimit, Severity};

pub const INFO: RuleInfo = RuleInfo {
    id: "rate-limited",
    severity: Severity::Warning,
    summary: "429 from Auth0, with the limit, reset time and endpoint",
    detects: "Any 429 Too Many Requests from the Management or Authentication API.",
    why: "Auth0 rate-limits per tenant and per endpoint group; `x-ratelimit-limit`, `x-ratelimit-remaining` \
          and `x-ratelimit-reset` (Unix seconds) tell the budget and when it refills (auth0-facts §2.4).",
    fix: "Back off until `x-ratelimit-reset` (or `Retry-After`), cache tokens and read results instead of \
          calling per request, and batch writes.",
    example: "GET /api/v2/users → 429 {\"message\":\"Global limit has been reached\"}, x-ratelimit-remaining: 0",
};

fn budget(rl: Option<&RateLimit>, at_secs: Option<i64>) -> String {
    let Some(rl) = rl else {
        return "No x-ratelimit-* headers were captured.".into();
    };
    let mut parts = Vec::new();
    if let Some(l) = rl.limit {
        parts.push(format!("limit {l}"));
    }
    if let Some(r) = rl.remaining {
        parts.push(format!("remaining {r}"));
    }
    if let Some(reset) = rl.reset {
        let wait = at_secs
            .map(|t| format!(" ({} s after the request)", reset - t))
            .unwrap_or_default();
        parts.push(format!("resets at {}{wait}", date(reset)));
    }
    if let Some(ra) = &rl.retry_after {
        parts.push(format!("Retry-After {ra}"));
    }
    if parts.is_empty() {
        "The rate-limit headers carried no values.".into()
    } else {
        format!("Rate-limit headers: {}.", parts.join(", "))
    }
}

/// The dedup cause of the draft `check` would return (none when it returns none), without
/// formatting the draft: the diagnoser skips `check` for repeats.
pub fn cause(ev: &AuthEvent, _link: &Link) -> Option<String> {
    let (method, endpoint) = match &ev.kind {
        EventKind::ApiCall(c) if c.status == Some(429) => (&*c.method, &*c.endpoint),
        EventKind::TokenGrant(g) if g.status == Some(429) => ("POST", "/oauth/token"),
        EventKind::AuthOther {
            endpoint,
            status: Some(429),
            ..
        } => (&*ev.at.method, endpoint.as_str()),
        _ => return None,
    };
    Some(format!("{method} {endpoint}"))
}

pub fn check(ev: &AuthEvent, _link: &Link) -> Vec<Draft> {
    let (method, endpoint, status, answer, rl) = match &ev.kind {
        EventKind::ApiCall(c) if c.status == Some(429) => (
            c.method.to_string(),
            c.endpoint.to_string(),
            c.status,
            status_phrase(c.status, c.error.as_ref()),
            c.ratelimit.as_ref(),
        ),
        EventKind::TokenGrant(g) if g.status == Some(429) => (
            "POST".to_string(),
            "/oauth/token".to_string(),
            g.status,
            "429".to_string(),
            None,
        ),
        EventKind::AuthOther {
            endpoint,
            status: Some(429),
            ..
        } => (
            ev.at.method.to_string(),
            endpoint.clone(),
            Some(429),
            "429".to_string(),
            None,
        ),
        _ => return Vec::new(),
    };
    let _ = status;
    let reset = rl
        .and_then(|r| r.reset)
        .map(|r| format!(" until {}", date(r)))
        .unwrap_or_default();
    vec![Draft {
        cause: format!("{method} {endpoint}"),
        title: format!("Rate limited on {method} {endpoint}"),
        explanation: format!(
            "Auth0 answered {answer} (Too Many Requests) on {method} {endpoint} of {}. {} \
             (auth0-facts §2.4)",
            ev.host,
            budget(rl, secs(&ev.at))
        ),
        fix: format!(
            "Wait{reset} before retrying (honour `Retry-After`/`x-ratelimit-reset`, with exponential \
             backoff), cache Management API tokens (they live 24 h) and responses instead of calling per \
             request, and batch user updates (e.g. /api/v2/jobs/users-imports)."
        ),
        evidence: vec![ev.at.clone()],
    }]
}

#[cfg(test)]
mod tests {
    use crate::correlate::testkit::*;
    use crate::diagnose::testrun::*;
    use crate::model::{Credential, EventKind as K, RateLimit};

    #[test]
    fn limit_remaining_and_reset_date_are_named() {
        let mut c = mgmt_call(
            "GET",
            "/api/v2/users",
            &["read:users"],
            Credential::Bearer(m2m_jwt(&mgmt_aud(), "read:users", NOW + 600)),
            Some(429),
        );
        c.error = Some(auth0_error(
            429,
            "Too Many Requests",
            "Global limit has been reached",
            Some("too_many_requests"),
        ));
        c.ratelimit = Some(RateLimit {
            limit: Some(50),
            remaining: Some(0),
            reset: Some(NOW + 30),
            retry_after: None,
        });
        let events: Vec<_> = (0..2)
            .map(|i| ev(i, "GET", "/api/v2/users", Some(429), K::ApiCall(c.clone())))
            .collect();
        let f = run(&events);
        let hit = of(&f, "rate-limited");
        assert_eq!(hit.len(), 1);
        let e = &hit[0].explanation;
        assert!(e.contains("limit 50") && e.contains("remaining 0"), "{e}");
        assert!(e.contains("resets at 2027-01-15 08:00:30 UTC"), "{e}");
        assert!(e.contains("Seen 2 times"));
    }

    #[test]
    fn other_statuses_do_not_fire() {
        let c = mgmt_call(
            "GET",
            "/api/v2/users",
            &["read:users"],
            Credential::Bearer(m2m_jwt(&mgmt_aud(), "read:users", NOW + 600)),
            Some(200),
        );
        assert!(of(
            &run(&[ev(0, "GET", "/api/v2/users", Some(200), K::ApiCall(c))]),
            "rate-limited"
        )
        .is_empty());
    }
}
