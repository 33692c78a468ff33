//! Rule `token-endpoint-error`: POST /oauth/token failed; explains the OAuth error in the user's
//! own values (grant type, client, audience, scopes) with the fix (auth0-facts §2.5, §1.4).
//!
//! Device-flow polling answers (`authorization_pending`, `slow_down`) are normal and ignored; a
//! 429 is explained by `rate-limited` as well. Error descriptions are quoted (they hold no
//! secrets); codes and secrets from the request are never quoted.

use super::support::{exchange, scopes};
use super::{Draft, RuleInfo};
use crate::correlate::{Anomaly, Link, Outcome};
use crate::model::{AuthEvent, EventKind, Severity, TokenGrant};

pub const INFO: RuleInfo = RuleInfo {
    id: "token-endpoint-error",
    severity: Severity::Error,
    summary: "/oauth/token failed (invalid_grant, access_denied, unauthorized_client, ...), explained",
    detects: "A POST /oauth/token answered with an OAuth error or a 4xx/5xx status.",
    why: "The token endpoint refuses requests for reasons such as a reused or expired code, a wrong PKCE \
          verifier, a revoked refresh token, a missing client grant or scopes for an M2M app, an audience \
          that is no API, or a grant type not enabled on the application (auth0-facts §2.5, §1.4).",
    fix: "Depends on the error; each finding names the exact change (enable the grant type, create the \
          client grant, add the scopes, fix the audience, redeem codes once).",
    example: "POST /oauth/token grant_type=client_credentials → 403 {\"error\":\"access_denied\",\"error_description\":\"Client has not been granted scopes: delete:users\"}",
};

fn explain(g: &TokenGrant, desc: &str, error: &str, link: &Link, host: &str) -> (String, String) {
    let client = g.client_id.as_deref().unwrap_or("(unknown client)");
    let grant = g.grant_type.as_deref().unwrap_or("(none)");
    let aud = g.audience.clone().unwrap_or_else(|| "(none)".into());
    let d = desc.to_ascii_lowercase();
    match error {
        "invalid_grant" if link.outcome == Outcome::Anomaly(crate::correlate::Phase::GrantFailed, Anomaly::CodeRedeemedTwice) => (
            "This authorization code was already redeemed earlier in the capture; codes are single-use.".into(),
            "Redeem each code once (guard against double callbacks / React strict-mode double effects) and start a new login to get a new code.".into(),
        ),
        "invalid_grant" if d.contains("wrong email or password") || d.contains("verification code") => (
            "The user's credentials (or one-time code) were wrong.".into(),
            "Check the username/password or OTP; repeated failures can trigger brute-force protection.".into(),
        ),
        "invalid_grant" if d.contains("refresh") => (
            "The refresh token is unknown, revoked, expired or already rotated (with rotation, each refresh token works once), or its user was deleted.".into(),
            "Send the latest refresh token from the previous response (rotation), or log the user in again; with refresh token rotation store the new refresh_token every time.".into(),
        ),
        "invalid_grant" if d.contains("verifier") => (
            "The `code_verifier` does not match the `code_challenge` sent to /authorize.".into(),
            "Send the same verifier whose SHA-256 (base64url, no padding) was the code_challenge; keep it per login, not per page load.".into(),
        ),
        "invalid_grant" if d.contains("redirect") => (
            "The `redirect_uri` sent to /oauth/token differs from the one used at /authorize.".into(),
            "Send exactly the same `redirect_uri` in both requests.".into(),
        ),
        "invalid_grant" => (
            "The grant (authorization code, refresh token or credentials) is invalid or expired; authorization codes are single-use and expire after a few minutes.".into(),
            "Redeem codes right away and once; otherwise restart the login.".into(),
        ),
        "access_denied" if d.contains("has not been granted scopes") => {
            let missing = desc.split_once(':').map(|(_, s)| s.trim()).unwrap_or("");
            let plural = missing.contains([',', ' ']);
            (
                format!("Client {client} asked for scopes its client grant for `{aud}` does not include (requested: {}).", g.scope.as_deref().map(scopes).unwrap_or_else(|| "(none)".into())),
                format!(
                    "In Dashboard > Applications > APIs > {aud} > Machine to Machine Applications, authorize client {client} and tick `{missing}`; or stop requesting {}.",
                    if plural { "them" } else { "it" }
                ),
            )
        }
        "access_denied" if d.contains("service not enabled") || d.contains("service not found") => (
            format!("No API with identifier `{aud}` exists on {host}; the audience must match an API identifier exactly (including the trailing slash)."),
            format!("Use an existing API identifier as `audience` (the Management API is `https://{host}/api/v2/`), or create the API in Dashboard > Applications > APIs."),
        ),
        "access_denied" if d.contains("not authorized to access") || d == "unauthorized" || d.contains("client-grant") => (
            format!("Client {client} has no client grant for `{aud}`, so Auth0 will not issue it tokens for that API (auth0-facts §1.4)."),
            format!("Authorize client {client} for `{aud}` with the scopes it needs (Dashboard > Applications > APIs > Machine to Machine Applications, or POST /api/v2/client-grants)."),
        ),
        "access_denied" => (
            "Auth0 denied the request: a Rule/Action called `api.access.deny` (its text is the description), the user is blocked, or the API refused the client.".into(),
            "Check the tenant logs (type `f*`/`fece`) and your Actions for the denial reason.".into(),
        ),
        "unauthorized_client" => (
            format!("Application {client} is not allowed to use grant_type `{grant}` (public applications cannot use client_credentials; third-party apps need explicit grants)."),
            format!("Enable `{grant}` in Dashboard > Applications > {client} > Advanced Settings > Grant Types, or use a confidential (Machine to Machine) application for client_credentials."),
        ),
        "invalid_client" => (
            format!("Client authentication failed for {client}: wrong client_id/client_secret, or the application's Token Endpoint Authentication Method does not match how the secret was sent."),
            "Use the application's current client secret and the authentication method configured for it (Post, Basic or None for public apps).".into(),
        ),
        "invalid_scope" => (
            "The `scope` parameter is malformed or names scopes that cannot be requested.".into(),
            "Send `scope` as one space-separated string of scopes the API defines.".into(),
        ),
        "unsupported_grant_type" => (
            format!("`{grant}` is not a grant type Auth0 supports at /oauth/token."),
            "Use authorization_code, client_credentials, refresh_token, password or an Auth0 extension grant URI.".into(),
        ),
        "mfa_required" => (
            "The user must complete multi-factor authentication; the answer carries an mfa_token.".into(),
            "Continue with /mfa/challenge and an MFA grant, or use Universal Login so Auth0 handles MFA.".into(),
        ),
        "too_many_requests" | "too_many_attempts" => (
            "Rate limit or brute-force protection was hit.".into(),
            "Back off and retry later; cache tokens instead of requesting one per call.".into(),
        ),
        "invalid_request" => (
            "A required parameter is missing or malformed.".into(),
            "Compare the request body with the documented parameters of this grant type (auth0-facts §3.2).".into(),
        ),
        _ => (
            "Auth0 refused the token request.".into(),
            "Check the error description and the tenant logs for this client.".into(),
        ),
    }
}

pub fn check(ev: &AuthEvent, link: &Link) -> Vec<Draft> {
    let EventKind::TokenGrant(g) = &ev.kind else {
        return Vec::new();
    };
    let failed_status = g.status.is_some_and(|s| s >= 400);
    if g.error.is_none() && !failed_status {
        return Vec::new();
    }
    let error = g.error.as_ref().map(|e| e.error.as_str()).unwrap_or("");
    if matches!(error, "authorization_pending" | "slow_down") {
        return Vec::new();
    }
    let desc = g
        .error
        .as_ref()
        .and_then(|e| e.description.clone())
        .unwrap_or_default();
    let (meaning, fix) = explain(g, &desc, error, link, &ev.host);
    let status = g
        .status
        .map(|s| s.to_string())
        .unwrap_or_else(|| "an error".into());
    let shown = if error.is_empty() {
        format!("HTTP {status}")
    } else if desc.is_empty() {
        format!("{status} `{error}`")
    } else {
        format!("{status} `{error}`: \"{desc}\"")
    };
    vec![Draft {
        cause: format!("{error}|{desc}|{status}"),
        title: format!(
            "Token request failed: {}",
            if error.is_empty() { status.as_str() } else { error }
        ),
        explanation: format!(
            "{} (grant_type={}, client {}, audience {}) answered {shown}. {meaning} (auth0-facts §2.5)",
            exchange(&ev.at),
            g.grant_type.as_deref().unwrap_or("(none)"),
            g.client_id.as_deref().unwrap_or("(unknown)"),
            g.audience.as_deref().unwrap_or("(none)"),
        ),
        fix,
        evidence: vec![ev.at.clone()],
    }]
}

#[cfg(test)]
mod tests {
    use crate::correlate::testkit::*;
    use crate::diagnose::testrun::*;
    use crate::model::{EventKind as K, OAuthError, TokenGrant};

    fn failed(grant: &str, error: &str, desc: &str, status: u16) -> crate::model::AuthEvent {
        let g = TokenGrant {
            grant_type: Some(grant.into()),
            client_id: Some("M2mBackendClient0001".into()),
            client_secret_present: true,
            audience: Some(mgmt_aud()),
            scope: Some(vec!["delete:users".into()]),
            status: Some(status),
            error: Some(OAuthError {
                error: error.into(),
                description: Some(desc.into()),
            }),
            ..TokenGrant::default()
        };
        ev(0, "POST", "/oauth/token", Some(status), K::TokenGrant(g))
    }

    #[test]
    fn scopes_not_granted_names_client_grant() {
        let f = run(&[failed(
            "client_credentials",
            "access_denied",
            "Client has not been granted scopes: delete:users",
            403,
        )]);
        let hit = of(&f, "token-endpoint-error");
        assert_eq!(hit.len(), 1);
        assert!(
            hit[0].fix.contains("Machine to Machine Applications")
                && hit[0].fix.contains("M2mBackendClient0001")
        );
        assert!(hit[0]
            .explanation
            .contains("Client has not been granted scopes: delete:users"));
    }

    #[test]
    fn unauthorized_client_names_grant_type() {
        let f = run(&[failed(
            "client_credentials",
            "unauthorized_client",
            "Grant type 'client_credentials' not allowed for the client.",
            403,
        )]);
        assert!(of(&f, "token-endpoint-error")[0]
            .fix
            .contains("Grant Types"));
    }

    #[test]
    fn service_not_enabled_names_audience() {
        let f = run(&[failed(
            "client_credentials",
            "access_denied",
            "Service not enabled within domain: https://api.typo.example",
            403,
        )]);
        assert!(of(&f, "token-endpoint-error")[0]
            .explanation
            .contains("No API with identifier"));
    }

    #[test]
    fn success_and_device_polling_do_not_fire() {
        let f = run(&[failed(
            "urn:ietf:params:oauth:grant-type:device_code",
            "authorization_pending",
            "",
            403,
        )]);
        assert!(of(&f, "token-endpoint-error").is_empty());
        let ok = TokenGrant {
            grant_type: Some("client_credentials".into()),
            status: Some(200),
            issued: token_set(
                Some(m2m_jwt(&mgmt_aud(), "read:users", NOW + 60)),
                None,
                None,
            ),
            ..TokenGrant::default()
        };
        assert!(of(
            &run(&[ev(0, "POST", "/oauth/token", Some(200), K::TokenGrant(ok))]),
            "token-endpoint-error"
        )
        .is_empty());
    }
}
