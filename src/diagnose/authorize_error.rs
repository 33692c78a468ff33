//! Rule `authorize-error`: /authorize returned an error (to the redirect URI, by web_message, or
//! as an Auth0 error page), explained with the fix (auth0-facts §2.6).
//!
//! Recognises `access_denied` "Service not found: <aud>", consent/login/interaction required
//! (silent auth), callback URL mismatch, unsupported response types; others get a generic text.

use super::support::exchange;
use super::{Draft, RuleInfo};
use crate::correlate::Link;
use crate::model::{AuthEvent, EventKind, Severity};

pub const INFO: RuleInfo = RuleInfo {
    id: "authorize-error",
    severity: Severity::Error,
    summary: "/authorize returned an error (e.g. `access_denied: Service not found: <aud>`), explained",
    detects: "An authorize result carrying `error`/`error_description` (query, fragment, form_post, \
              web_message) or an Auth0 error page for /authorize.",
    why: "Auth0 reports authorize failures to the redirect URI with the same response mode, or renders an \
          error page when the redirect URI itself is not allowed (auth0-facts §2.6).",
    fix: "Depends on the error: fix the `audience` (Service not found), add the callback URL, do an \
          interactive login when prompt=none fails, or enable the response type.",
    example: "302 Location: http://localhost:3000/#error=access_denied&error_description=Service%20not%20found%3A%20https%3A%2F%2Fapi",
};

fn explain(error: &str, desc: &str, link: &Link, host: &str) -> (String, String) {
    let d = desc.to_ascii_lowercase();
    let req = link.authorize.as_ref().map(|a| &a.request);
    let client = req
        .and_then(|r| r.client_id.as_deref())
        .unwrap_or("(unknown client)");
    match error {
        _ if d.contains("callback url mismatch")
            || (matches!(error, "unauthorized_client" | "invalid_request") && d.contains("redirect_uri")) => (
            format!("The `redirect_uri` {} is not in the Allowed Callback URLs of client {client}.", req.and_then(|r| r.redirect_uri.as_deref()).map(|r| format!("`{r}`")).unwrap_or_default()),
            format!("Add the exact redirect_uri to Dashboard > Applications > {client} > Allowed Callback URLs."),
        ),
        "access_denied" if d.contains("service not found") => {
            let aud = desc.split_once(':').map(|(_, a)| a.trim()).unwrap_or("");
            (
                format!("The `audience` `{aud}` is not the identifier of any API on {host}; identifiers must match exactly, trailing slash included."),
                format!("Use an existing API identifier as `audience` (the Management API is `https://{host}/api/v2/`), or create an API with identifier `{aud}` in Dashboard > Applications > APIs."),
            )
        }
        "access_denied" => (
            "The user declined consent, or a Rule/Action denied the login (its message is the description).".into(),
            "If a Rule/Action denied it, check that logic and the tenant logs; if the user cancelled, let them retry.".into(),
        ),
        "login_required" => (
            "`prompt=none` found no Auth0 session (never logged in, expired, or the session cookie was blocked as a third-party cookie).".into(),
            "Fall back to an interactive login; for SPAs use refresh tokens (rotation) or a custom domain so the session cookie is first-party.".into(),
        ),
        "consent_required" => (
            format!("Client {client} needs the user's consent for the requested scopes/audience, which `prompt=none` cannot ask for (always the case for localhost and third-party apps)."),
            "Do one interactive login so the user consents, or for a first-party app enable 'Allow Skipping User Consent' on the API (not effective on localhost).".into(),
        ),
        "interaction_required" => (
            "The login needs user interaction (MFA, a redirect Action, or a prompt) that `prompt=none` cannot show.".into(),
            "Fall back to an interactive /authorize without `prompt=none`.".into(),
        ),
        "unsupported_response_type" => (
            format!("Client {client} may not use this `response_type` (the grant type is disabled, or it is a third-party app, which cannot use implicit)."),
            "Enable the grant type in Advanced Settings > Grant Types, or better use response_type=code with PKCE.".into(),
        ),
        "timeout" => (
            "The web_message (iframe) flow timed out: the page origin is probably not in Allowed Web Origins.".into(),
            "Add the app's origin to Allowed Web Origins of the application.".into(),
        ),
        _ => (
            "Auth0 refused the authorize request.".into(),
            "Read the error description and the tenant logs for this client.".into(),
        ),
    }
}

pub fn check(ev: &AuthEvent, link: &Link) -> Vec<Draft> {
    let EventKind::AuthorizeResult(res) = &ev.kind else {
        return Vec::new();
    };
    let Some(err) = &res.error else {
        return Vec::new();
    };
    let desc = err.description.clone().unwrap_or_default();
    let (meaning, fix) = explain(&err.error, &desc, link, &ev.host);
    let mut evidence = vec![ev.at.clone()];
    let subject = match &link.authorize {
        Some(a) if a.at.index != ev.at.index || a.at.input != ev.at.input => {
            evidence.push(a.at.clone());
            format!("{} (the answer to {})", exchange(&ev.at), exchange(&a.at))
        }
        _ => exchange(&ev.at),
    };
    vec![Draft {
        cause: format!("{}|{desc}", err.error),
        title: format!("Authorize failed: {}", err.error),
        explanation: format!(
            "{subject} returned the authorize error `{}`{}. {meaning} (auth0-facts §2.6)",
            err.error,
            if desc.is_empty() {
                String::new()
            } else {
                format!(": \"{desc}\"")
            }
        ),
        fix,
        evidence,
    }]
}

#[cfg(test)]
mod tests {
    use crate::correlate::testkit::*;
    use crate::diagnose::testrun::*;
    use crate::model::{AuthorizeResult, EventKind as K, OAuthError, ResultVia, TokenSet};

    fn error_result(error: &str, desc: &str) -> K {
        K::AuthorizeResult(AuthorizeResult {
            via: ResultVia::LocationQuery,
            state: Some("s".into()),
            code: None,
            tokens: TokenSet::default(),
            error: Some(OAuthError {
                error: error.into(),
                description: Some(desc.into()),
            }),
        })
    }

    #[test]
    fn service_not_found_names_audience_and_api_identifier() {
        let events = [
            ev(
                0,
                "GET",
                "/authorize",
                Some(302),
                K::Authorize(authorize(
                    Some("s"),
                    "code",
                    "openid",
                    Some("https://api.typo"),
                )),
            ),
            ev(
                0,
                "GET",
                "/authorize",
                Some(302),
                error_result("access_denied", "Service not found: https://api.typo"),
            ),
        ];
        let f = run(&events);
        let hit = of(&f, "authorize-error");
        assert_eq!(hit.len(), 1);
        assert!(
            hit[0]
                .explanation
                .contains("`https://api.typo` is not the identifier"),
            "{}",
            hit[0].explanation
        );
        assert!(hit[0].fix.contains(&mgmt_aud()));
    }

    #[test]
    fn login_required_explains_silent_auth() {
        let f = run(&[ev(
            0,
            "GET",
            "/authorize",
            Some(302),
            error_result("login_required", "Login required"),
        )]);
        assert!(of(&f, "authorize-error")[0]
            .explanation
            .contains("prompt=none"));
    }

    #[test]
    fn successful_result_does_not_fire() {
        let f = run(&[ev(
            0,
            "GET",
            "/cb",
            Some(200),
            K::AuthorizeResult(code_result("s", "code-0123456789")),
        )]);
        assert!(of(&f, "authorize-error").is_empty());
    }

    #[test]
    fn callback_mismatch_page_names_allowed_callback_urls() {
        let f = run(&[ev(0, "GET", "/authorize", Some(400), error_result("invalid_request", "Callback URL mismatch. The provided redirect_uri is not in the list of allowed callback URLs."))]);
        assert!(of(&f, "authorize-error")[0]
            .fix
            .contains("Allowed Callback URLs"));
    }
}
