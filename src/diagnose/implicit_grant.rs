//! Rule `implicit-grant`: an /authorize asked for `response_type` containing `token`, so the
//! access token travels in the redirect URL fragment.
//!
//! Also fires for a fragment result carrying an access token whose /authorize was not captured.
//! `response_type=id_token` alone (OIDC form_post login) is not flagged: no access token travels.

use super::support::exchange;
use super::{Draft, RuleInfo};
use crate::correlate::{authorize_label, Link};
use crate::model::{AuthEvent, EventKind, ResultVia, Severity};

pub const INFO: RuleInfo = RuleInfo {
    id: "implicit-grant",
    severity: Severity::Warning,
    summary: "`response_type` contains `token`: tokens travel in URLs; use code + PKCE",
    detects: "An /authorize request whose `response_type` includes `token` (e.g. `token id_token`), or an \
              access token returned in a redirect fragment.",
    why: "With the implicit grant Auth0 returns the access token in the redirect URL fragment \
          (`#access_token=…`, auth0-facts §3.1): it lands in browser history and can leak through \
          scripts and Referer; it cannot issue refresh tokens. OAuth 2.0 Security BCP deprecates it.",
    fix: "Use `response_type=code` with PKCE (`code_challenge`, `code_challenge_method=S256`), e.g. \
          auth0-spa-js or auth0.js with `responseType: 'code'`.",
    example: "GET /authorize?response_type=token%20id_token&client_id=abc → 302 Location: …/callback#access_token=…",
};

pub fn check(ev: &AuthEvent, link: &Link) -> Vec<Draft> {
    // Built only when the rule fires (this runs for every event).
    let fix = || {
        "Switch to `response_type=code` with PKCE: send `code_challenge` + \
         `code_challenge_method=S256` on /authorize and `code_verifier` on /oauth/token \
         (auth0-spa-js does this by default; with auth0.js set `responseType: 'code'`)."
            .to_string()
    };
    match &ev.kind {
        EventKind::Authorize(req) if req.response_type.iter().any(|r| r == "token") => {
            vec![Draft {
                cause: "implicit".into(),
                title: format!("Implicit grant used by client {}", req.client_id.as_deref().unwrap_or("unknown")),
                explanation: format!(
                    "{} runs an {}: the access token comes back in the redirect URL fragment, where \
                     browser history, extensions and scripts can read it, and no refresh token can be \
                     issued (auth0-facts §3.1).",
                    exchange(&ev.at),
                    authorize_label(req)
                ),
                fix: fix(),
                evidence: vec![ev.at.clone()],
            }]
        }
        EventKind::AuthorizeResult(res)
            if link.authorize.is_none()
                && res.via == ResultVia::LocationFragment
                && res.tokens.access_token.is_some() =>
        {
            vec![Draft {
                cause: "implicit".into(),
                title: "Access token returned in a URL fragment".into(),
                explanation: format!(
                    "{} returned an access token in the redirect URL fragment (implicit grant; its \
                     /authorize was not captured). Tokens in URLs leak through history, scripts and \
                     Referer (auth0-facts §3.1).",
                    exchange(&ev.at)
                ),
                fix: fix(),
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
    use crate::model::EventKind as K;

    #[test]
    fn token_response_type_fires_once_per_flow() {
        let events = [
            ev(
                0,
                "GET",
                "/authorize",
                Some(302),
                K::Authorize(authorize(Some("s"), "token id_token", "openid", None)),
            ),
            ev(
                0,
                "GET",
                "/authorize",
                Some(302),
                K::AuthorizeResult(implicit_result("s", Some(jwe_token()), None, None)),
            ),
        ];
        let f = run(&events);
        let hit = of(&f, "implicit-grant");
        assert_eq!(hit.len(), 1);
        assert!(hit[0].explanation.contains("response_type=token id_token"));
    }

    #[test]
    fn orphan_fragment_with_access_token_fires() {
        let f = run(&[ev(
            0,
            "GET",
            "/callback",
            Some(200),
            K::AuthorizeResult(implicit_result("s", Some(jwe_token()), None, None)),
        )]);
        assert_eq!(of(&f, "implicit-grant").len(), 1);
    }

    #[test]
    fn code_and_id_token_only_do_not_fire() {
        let f = run(&[
            ev(
                0,
                "GET",
                "/authorize",
                Some(302),
                K::Authorize(authorize(Some("a"), "code", "openid", None)),
            ),
            ev(
                1,
                "GET",
                "/authorize",
                Some(302),
                K::Authorize(authorize(Some("b"), "id_token", "openid", None)),
            ),
        ]);
        assert!(of(&f, "implicit-grant").is_empty());
    }
}
