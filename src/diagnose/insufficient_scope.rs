//! Rule `insufficient-scope`: an API endpoint needs a scope the token lacks.
//!
//! Observed: a 403 `insufficient_scope` (expected scopes from the message, else the catalogue).
//! Predicted: the token's scopes do not satisfy the endpoint's catalogue scopes and the call did
//! not succeed (no response, or a non-2xx other than 400/401/429, whose causes come first).
//! Never fires on 2xx. Skips ID and opaque tokens (their own rules explain those calls) and
//! tokens for another audience (`audience-mismatch`). Names the current_user alternative for
//! user tokens (auth0-facts §1.3) and the PATCH fields current_user tokens cannot change.

use super::support::{
    fp, has_mgmt_audience, is_current_user_scope, is_user_token, mgmt_audience, scopes,
    status_phrase, token_scopes,
};
use super::{Draft, RuleInfo};
use crate::correlate::Issuance;
use crate::correlate::{presented_token, Link};
use crate::model::{Api, ApiCall, AuthEvent, EventKind, Severity, Token, TokenFormat, TokenRole};

pub const INFO: RuleInfo = RuleInfo {
    id: "insufficient-scope",
    severity: Severity::Error,
    summary: "the API endpoint needs a scope the token lacks (observed 403, or predicted from the scope catalogue)",
    detects: "A 403 `insufficient_scope` from the Management API, or a call that did not succeed whose \
              token scopes do not include any scope the endpoint accepts (per the Management API scope table).",
    why: "Each Management API endpoint accepts a fixed set of scopes; a token without one of them is \
          refused with 403 \"Insufficient scope, expected any of: …\" (auth0-facts §1.2, §2.3). User tokens \
          can only carry current_user scopes, which only some endpoints accept (§1.3).",
    fix: "Request a scope the endpoint accepts: for a user's token the current_user scope (e.g. \
          update:current_user_metadata for PATCH /api/v2/users/{id}); for an M2M token add the scope to \
          its client grant.",
    example: "PATCH /api/v2/users/{id} with scope `openid profile email` → 403 Insufficient scope, expected \
              any of: update:users,update:users_app_metadata,update:current_user_metadata",
};

fn observed(call: &ApiCall) -> bool {
    call.status == Some(403)
        && (call.expected_scopes.is_some()
            || call.error.as_ref().is_some_and(|e| {
                e.error_code.as_deref() == Some("insufficient_scope")
                    || e.message
                        .as_deref()
                        .is_some_and(|m| m.starts_with("Insufficient scope"))
            }))
}

fn satisfies(have: &[String], needed: &[String], all: bool) -> bool {
    if all {
        needed.iter().all(|n| have.contains(n))
    } else {
        needed.iter().any(|n| have.contains(n))
    }
}

/// What decided that the rule applies (computed once, used to build the draft).
struct Gate<'a> {
    call: &'a ApiCall,
    token: Option<&'a Token>,
    iss: Option<&'a Issuance>,
    is_observed: bool,
    needed: Vec<String>,
    have: Option<Vec<String>>,
}

/// `Some` exactly when `check` returns a draft.
fn gate<'a>(ev: &'a AuthEvent, link: &'a Link) -> Option<Gate<'a>> {
    let call = admitted(ev, link)?;
    let token = presented_token(&call.credential);
    let iss = link.token.as_deref();
    Some(Gate {
        call,
        token,
        iss,
        is_observed: observed(call),
        needed: needed_of(call),
        have: token.and_then(|t| token_scopes(t, iss)),
    })
}

/// Scopes the endpoint needs: those the error named, else the catalogue's.
fn needed_of(call: &ApiCall) -> Vec<String> {
    call.expected_scopes
        .clone()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| call.accepted_scopes.iter().map(|s| s.to_string()).collect())
}

/// Whether `gate` lets the event through, decided without building its scope lists (this
/// runs for every failed API call; the lists are built only for a prediction).
fn admitted<'a>(ev: &'a AuthEvent, link: &'a Link) -> Option<&'a ApiCall> {
    let EventKind::ApiCall(call) = &ev.kind else {
        return None;
    };
    // Never on success (observed needs a 403, predictions skip 2xx).
    if call.status.is_some_and(|s| (200..300).contains(&s)) {
        return None;
    }
    if observed(call) {
        return Some(call);
    }
    // Prediction: only for a JWT access token for this API, a catalogued endpoint and a call
    // that did not succeed for another known reason.
    let t = presented_token(&call.credential)?;
    let iss = link.token.as_deref();
    let role = iss.map(|i| i.role).unwrap_or(t.role);
    let failed = match call.status {
        None => true,
        Some(s) => !(200..300).contains(&s) && !matches!(s, 400 | 401 | 429),
    };
    let needed_empty = match &call.expected_scopes {
        Some(e) if !e.is_empty() => false,
        _ => call.accepted_scopes.is_empty(),
    };
    if !failed
        || !call.known_endpoint
        || needed_empty
        || t.format != TokenFormat::Jwt
        || role == TokenRole::Id
        || !(call.api != Api::Management || has_mgmt_audience(t))
    {
        return None;
    }
    match token_scopes(t, iss) {
        Some(h) if !satisfies(&h, &needed_of(call), call.needs_all_scopes) => Some(call),
        _ => None,
    }
}

fn cause_of(call: &ApiCall) -> String {
    format!("{} {}", call.method, call.endpoint)
}

/// The dedup cause of the draft `check` would return (none when it returns none), without
/// formatting the draft: the diagnoser skips `check` for repeats.
pub fn cause(ev: &AuthEvent, link: &Link) -> Option<String> {
    admitted(ev, link).map(cause_of)
}

pub fn check(ev: &AuthEvent, link: &Link) -> Vec<Draft> {
    let Some(Gate {
        call,
        token,
        iss,
        is_observed,
        needed,
        have,
    }) = gate(ev, link)
    else {
        return Vec::new();
    };
    // Unknown token (e.g. a sanitized export): give both fixes.
    let user = (token.is_some() || iss.is_some()).then(|| is_user_token(token, iss));
    let any = if call.needs_all_scopes {
        "all of"
    } else {
        "any of"
    };
    let mut explanation = if is_observed {
        format!(
            "{} {} answered {}: ",
            call.method,
            call.endpoint,
            status_phrase(call.status, call.error.as_ref())
        )
    } else {
        format!(
            "{} {} ({}) will be refused with 403 insufficient_scope: ",
            call.method,
            call.endpoint,
            status_phrase(call.status, call.error.as_ref())
        )
    };
    explanation.push_str(&format!(
        "the token {} carries {}, but the endpoint needs {any} {} (auth0-facts §1.2, §2.3).",
        token.map(fp).unwrap_or_else(|| "(unknown)".into()),
        have.as_deref()
            .map(scopes)
            .unwrap_or_else(|| "unknown scopes".into()),
        scopes(&needed)
    ));
    if let Some(i) = iss {
        if let Some(req) = &i.requested_scope {
            explanation.push_str(&format!(
                " It was requested with {} ({} grant).",
                scopes(req),
                i.grant
            ));
        }
    }
    let cu: Vec<&str> = call
        .accepted_scopes
        .iter()
        .copied()
        .chain(needed.iter().map(String::as_str))
        .filter(|s| is_current_user_scope(s))
        .collect();
    let audience = mgmt_audience(&ev.host, token);
    let m2m_fix = || {
        let client = iss
            .and_then(|i| i.client_id.clone())
            .or_else(|| {
                token
                    .and_then(|t| t.jwt.as_ref())
                    .and_then(|j| j.claim_str("azp").map(str::to_string))
            })
            .unwrap_or_else(|| "this client".into());
        format!(
            "Add {} to the client grant of {client} for `{audience}` (Dashboard > Applications > APIs > \
             Machine to Machine Applications), request it in `scope`, and get a new token.",
            needed
                .iter()
                .find(|s| !is_current_user_scope(s))
                .map(|s| format!("`{s}`"))
                .unwrap_or_else(|| scopes(&needed))
        )
    };
    let fix = if user != Some(false) && call.api == Api::Management {
        if user == Some(true) {
            explanation.push_str(
            " This is a user's token: Auth0 grants user tokens for the Management API only the \
             current_user scopes (auth0-facts §1.3).",
            );
        }
        match cu.first() {
            Some(alt) => {
                let mut f = format!(
                    "Request `{alt}` (with `audience={audience}`) instead of any-user scopes; it lets the \
                     signed-in user call {} {} on their own user only.",
                    call.method, call.endpoint
                );
                let touches_other = call.method.eq_ignore_ascii_case("PATCH")
                    && call.body_fields.iter().any(|b| b != "user_metadata");
                if *alt == "update:current_user_metadata" && touches_other {
                    let others: Vec<&str> = call
                        .body_fields
                        .iter()
                        .filter(|b| b.as_str() != "user_metadata")
                        .map(String::as_str)
                        .collect();
                    f.push_str(&format!(
                        " With it only `user_metadata` can change; this request also sets `{}`, which \
                         must be done from your backend with an M2M token.",
                        others.join("`, `")
                    ));
                }
                f
            }
            None => format!(
                "{} {} cannot be called with a user's token: call it from your backend with an M2M \
                 token (client_credentials, `audience={audience}`) whose client grant includes {}.",
                call.method,
                call.endpoint,
                needed.first().map(|s| format!("`{s}`")).unwrap_or_default()
            ),
        }
    } else {
        m2m_fix()
    };
    let fix = if user.is_none() && call.api == Api::Management {
        format!(
            "If this is a user's token: {fix} If it is an M2M token: {}",
            m2m_fix()
        )
    } else {
        fix
    };
    vec![Draft {
        cause: cause_of(call),
        title: format!(
            "Insufficient scope for {} {}{}",
            call.method,
            call.endpoint,
            if is_observed { "" } else { " (predicted)" }
        ),
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

    fn patch(t: crate::model::Token, status: Option<u16>) -> crate::model::ApiCall {
        let mut c = mgmt_call(
            "PATCH",
            "/api/v2/users/{id}",
            PATCH_USER,
            Credential::Bearer(t),
            status,
        );
        c.body_fields = vec!["user_metadata".into()];
        c
    }

    #[test]
    fn observed_403_names_current_user_alternative() {
        let at = access_jwt(&mgmt_aud(), "openid profile email");
        let mut c = patch(at, Some(403));
        c.error = Some(auth0_error(403, "Forbidden", "Insufficient scope, expected any of: update:users,update:users_app_metadata,update:current_user_metadata", Some("insufficient_scope")));
        c.expected_scopes = Some(PATCH_USER.iter().map(|s| s.to_string()).collect());
        let f = run(&[ev(0, "PATCH", USER_PATH, Some(403), K::ApiCall(c))]);
        let hit = of(&f, "insufficient-scope");
        assert_eq!(hit.len(), 1);
        assert!(
            hit[0].fix.contains("`update:current_user_metadata`"),
            "{}",
            hit[0].fix
        );
        assert!(hit[0].explanation.contains("user's token"));
        assert!(!hit[0].title.contains("predicted"));
    }

    #[test]
    fn predicted_when_no_response_and_scopes_miss() {
        let at = access_jwt(&mgmt_aud(), "openid profile");
        let mut c = patch(at, None);
        c.body_fields = vec!["user_metadata".into(), "app_metadata".into()];
        let f = run(&[ev(0, "PATCH", USER_PATH, None, K::ApiCall(c))]);
        let hit = of(&f, "insufficient-scope");
        assert_eq!(hit.len(), 1);
        assert!(hit[0].title.contains("predicted"));
        assert!(hit[0].fix.contains("`app_metadata`"), "{}", hit[0].fix);
    }

    #[test]
    fn never_predicted_on_success() {
        let at = access_jwt(&mgmt_aud(), "openid profile");
        let f = run(&[ev(
            0,
            "PATCH",
            USER_PATH,
            Some(200),
            K::ApiCall(patch(at, Some(200))),
        )]);
        assert!(of(&f, "insufficient-scope").is_empty());
    }

    #[test]
    fn m2m_fix_names_client_grant_and_no_current_user_scope() {
        let t = m2m_jwt(&mgmt_aud(), "read:users", NOW + 3600);
        let mut c = mgmt_call(
            "DELETE",
            "/api/v2/users/{id}",
            &["delete:users", "delete:current_user"],
            Credential::Bearer(t),
            Some(403),
        );
        c.error = Some(auth0_error(
            403,
            "Forbidden",
            "Insufficient scope, expected any of: delete:users,delete:current_user",
            Some("insufficient_scope"),
        ));
        let f = run(&[ev(0, "DELETE", USER_PATH, Some(403), K::ApiCall(c))]);
        let hit = of(&f, "insufficient-scope");
        assert_eq!(hit.len(), 1);
        assert!(
            hit[0].fix.contains("`delete:users`") && hit[0].fix.contains("M2mBackendClient0001"),
            "{}",
            hit[0].fix
        );
    }

    #[test]
    fn sufficient_scope_does_not_fire_even_on_other_403() {
        let at = access_jwt(&mgmt_aud(), "update:current_user_metadata");
        let mut c = patch(at, Some(403));
        c.error = Some(auth0_error(
            403,
            "Forbidden",
            "User to be acted on does not match subject in bearer token.",
            None,
        ));
        assert!(of(
            &run(&[ev(0, "PATCH", USER_PATH, Some(403), K::ApiCall(c))]),
            "insufficient-scope"
        )
        .is_empty());
    }

    #[test]
    fn stripped_credential_403_gives_both_fixes() {
        let mut c = mgmt_call(
            "PATCH",
            "/api/v2/users/{id}",
            PATCH_USER,
            Credential::Stripped,
            Some(403),
        );
        c.error = Some(auth0_error(403, "Forbidden", "Insufficient scope, expected any of: update:users,update:users_app_metadata,update:current_user_metadata", Some("insufficient_scope")));
        let f = run(&[ev(0, "PATCH", USER_PATH, Some(403), K::ApiCall(c))]);
        let hit = of(&f, "insufficient-scope");
        assert_eq!(hit.len(), 1);
        assert!(
            hit[0]
                .fix
                .starts_with("If this is a user's token: Request `update:current_user_metadata`"),
            "{}",
            hit[0].fix
        );
        assert!(
            hit[0]
                .fix
                .contains("If it is an M2M token: Add `update:users`"),
            "{}",
            hit[0].fix
        );
    }
}
