//! Rule `tenant-mismatch`: the token's issuer (`iss`) is another tenant or domain than the one
//! called, e.g. a token obtained on a custom domain used on the canonical `*.auth0.com` domain.
//!
//! Judges JWT access tokens sent to Auth0's own APIs (Management API, /userinfo): their host
//! must equal the `iss` host (auth0-facts §2.2 "All requests … must use the same domain", §6).
//! Skips ID tokens (their own rule) and custom APIs, whose hosts are unrelated to the issuer.

use super::support::{fp, iss_host, status_phrase};
use super::{Draft, RuleInfo};
use crate::correlate::{presented_token, Link};
use crate::model::{Api, AuthEvent, EventKind, Severity, TokenRole};

pub const INFO: RuleInfo = RuleInfo {
    id: "tenant-mismatch",
    severity: Severity::Error,
    summary: "the token's issuer is another tenant or domain than the one called",
    detects: "A JWT sent to the Management API or /userinfo on a host different from the host in its `iss`.",
    why: "With custom domains, `iss` is the domain the token was obtained on, and Auth0 requires the API \
          to be called on that same domain; a token from another tenant is simply invalid there \
          (auth0-facts §2.2, §6).",
    fix: "Call the API on the issuer's domain, or obtain the token from the domain you call.",
    example: "token with iss https://login.example.com/ sent to https://example.us.auth0.com/api/v2/users → 401",
};

pub fn check(ev: &AuthEvent, link: &Link) -> Vec<Draft> {
    let EventKind::ApiCall(call) = &ev.kind else {
        return Vec::new();
    };
    if call.api == Api::Other {
        return Vec::new();
    }
    let Some(t) = presented_token(&call.credential) else {
        return Vec::new();
    };
    let role = link.token.as_ref().map(|i| i.role).unwrap_or(t.role);
    if role == TokenRole::Id {
        return Vec::new();
    }
    // Same host (the common case): decided without allocating.
    // (The issuer host is read from the memoised facts of the token's claims.)
    let same = super::token_facts::of(t).is_some_and(|f| {
        f.iss_host
            .as_deref()
            .is_some_and(|h| h.eq_ignore_ascii_case(&ev.host))
    });
    if same {
        return Vec::new();
    }
    let Some(iss) = iss_host(t) else {
        return Vec::new();
    };
    let called = ev.host.to_ascii_lowercase();
    if iss == called {
        return Vec::new();
    }
    let custom = !iss.ends_with(".auth0.com") || !called.ends_with(".auth0.com");
    let why = if custom {
        "One of them is a custom domain: Auth0 requires the token to be obtained and used on the same \
         domain, so a custom-domain token is rejected on the canonical domain and vice versa \
         (auth0-facts §2.2, §6)."
    } else {
        "These are different tenants: a tenant only accepts tokens it issued itself (auth0-facts §2.2)."
    };
    vec![Draft {
        cause: format!("{iss} -> {called}"),
        title: format!("Token from {iss} used on {called}"),
        explanation: format!(
            "{} {} on `{called}` sent token {} issued by `https://{iss}/`; the call got {}. {why}",
            call.method,
            call.endpoint,
            fp(t),
            status_phrase(call.status, call.error.as_ref())
        ),
        fix: format!(
            "Call `https://{iss}{}` (the issuer's domain), or obtain the token from `https://{called}/` \
             so issuer and API host match.",
            call.endpoint
        ),
        evidence: vec![ev.at.clone()],
    }]
}

#[cfg(test)]
mod tests {
    use crate::correlate::testkit::*;
    use crate::diagnose::testrun::*;
    use crate::model::{Credential, EventKind as K};

    #[test]
    fn custom_domain_token_on_canonical_domain_fires() {
        let t = jwt_token(
            rs256(),
            serde_json::json!({"iss": "https://login.example.com/", "aud": mgmt_aud(), "scope": "read:current_user", "sub": "auth0|1", "exp": NOW + 60}),
            crate::model::TokenRole::Access,
        );
        let c = mgmt_call(
            "GET",
            "/api/v2/users/{id}",
            &["read:current_user"],
            Credential::Bearer(t),
            Some(401),
        );
        let f = run(&[ev(0, "GET", USER_PATH, Some(401), K::ApiCall(c))]);
        let hit = of(&f, "tenant-mismatch");
        assert_eq!(hit.len(), 1);
        assert!(hit[0].explanation.contains("custom domain"));
        assert!(hit[0]
            .fix
            .contains("https://login.example.com/api/v2/users/{id}"));
    }

    #[test]
    fn same_host_does_not_fire() {
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
            "tenant-mismatch"
        )
        .is_empty());
    }
}
