//! Rule `scope-not-granted`: scopes asked for at /authorize or /oauth/token are missing from
//! what Auth0 granted (the answer's `scope`, else the access token's `scope`/`permissions`).
//!
//! For a user's Management API token it explains that only current_user scopes can be granted
//! (auth0-facts §1.3) and names the current_user alternative of each dropped scope. Fires only
//! when both the requested and the granted scopes are known. Must not fire on failed grants
//! (`token-endpoint-error` covers those).

use super::support::{
    current_user_alternative, exchange, is_current_user_scope, is_mgmt_audience, mgmt_audience,
    scopes,
};
use super::{Draft, RuleInfo};
use crate::correlate::Link;
use crate::model::{AuthEvent, EventKind, Severity, TokenSet};

pub const INFO: RuleInfo = RuleInfo {
    id: "scope-not-granted",
    severity: Severity::Warning,
    summary: "scopes requested at /authorize or /oauth/token are missing from the granted scope",
    detects: "A successful authorize result or token grant whose `scope` (or the access token's \
              `scope`/`permissions`) lacks scopes the request asked for.",
    why: "Auth0 silently drops scopes it will not grant: scopes the API does not define, scopes the \
          user or client was not given (RBAC, client grants), and, for user tokens for the Management \
          API, every scope that is not a current_user scope (auth0-facts §1.3, §1.4).",
    fix: "Ask for scopes that can be granted: for a user's Management API token the current_user form \
          (update:users → update:current_user_metadata, read:users → read:current_user); otherwise grant \
          the scope to the client/user, or call from a backend with an M2M token.",
    example: "/authorize?audience=https://T/api/v2/&scope=openid profile email update:users → \
              #scope=openid profile email (update:users dropped) → later 403 insufficient_scope",
};

fn granted_of(set: &TokenSet) -> Option<Vec<String>> {
    set.scope.clone().or_else(|| {
        set.access_token
            .as_ref()
            .and_then(|t| t.jwt.as_ref())
            .filter(|j| j.claims.get("scope").is_some() || j.claims.get("permissions").is_some())
            .map(|j| j.scopes())
    })
}

pub fn check(ev: &AuthEvent, link: &Link) -> Vec<Draft> {
    let auth = link.authorize.as_ref().map(|a| &a.request);
    let (set, requested, audience, grant, client, where_) = match &ev.kind {
        EventKind::AuthorizeResult(res) if res.error.is_none() && !res.tokens.is_empty() => (
            &res.tokens,
            auth.map(|a| a.scope.clone()).unwrap_or_default(),
            auth.and_then(|a| a.audience.clone()),
            "implicit",
            auth.and_then(|a| a.client_id.clone()),
            link.authorize
                .as_ref()
                .map(|a| exchange(&a.at))
                .unwrap_or_else(|| "the /authorize request".to_string()),
        ),
        EventKind::TokenGrant(g) if g.error.is_none() && !g.issued.is_empty() => (
            &g.issued,
            g.scope
                .clone()
                .filter(|s| !s.is_empty())
                .or_else(|| auth.map(|a| a.scope.clone()))
                .unwrap_or_default(),
            g.audience
                .clone()
                .or_else(|| auth.and_then(|a| a.audience.clone())),
            g.grant_type.as_deref().unwrap_or("unknown"),
            g.client_id
                .clone()
                .or_else(|| auth.and_then(|a| a.client_id.clone())),
            match (&g.scope, &link.authorize) {
                (Some(_), _) | (None, None) => exchange(&ev.at),
                (None, Some(a)) => exchange(&a.at),
            },
        ),
        _ => return Vec::new(),
    };
    let Some(granted) = granted_of(set) else {
        return Vec::new();
    };
    let missing: Vec<String> = requested
        .iter()
        .filter(|s| !granted.contains(s))
        .cloned()
        .collect();
    if missing.is_empty() {
        return Vec::new();
    }
    let token_aud_mgmt = set
        .access_token
        .as_ref()
        .and_then(|t| t.jwt.as_ref())
        .is_some_and(|j| j.audiences().iter().any(|a| is_mgmt_audience(a)));
    let mgmt = audience.as_deref().is_some_and(is_mgmt_audience) || token_aud_mgmt;
    let user_token = grant != "client_credentials";
    let client = client.unwrap_or_else(|| "unknown".to_string());
    let mut explanation = format!(
        "{where_} asked for scope {}{} for client {client}, but Auth0 granted only {}: {} {} dropped without an error.",
        scopes(&requested),
        audience
            .as_deref()
            .map(|a| format!(" with audience `{a}`"))
            .unwrap_or_default(),
        scopes(&granted),
        scopes(&missing),
        if missing.len() == 1 { "was" } else { "were" }
    );
    let fix;
    if mgmt && user_token {
        explanation.push_str(
            " This is a user's token for the Management API: it acts as the signed-in user, so Auth0 \
             only grants the current_user scopes (read:current_user, update:current_user_metadata, \
             update:current_user_identities, delete:current_user, create:/delete:current_user_device_credentials; \
             auth0-facts §1.3).",
        );
        let mut mapped = Vec::new();
        let mut backend = Vec::new();
        for s in missing.iter().filter(|s| !is_current_user_scope(s)) {
            match current_user_alternative(s) {
                Some(alt) => mapped.push(format!("`{s}` → `{alt}`")),
                None => backend.push(s.clone()),
            }
        }
        if !mapped.is_empty() {
            explanation.push_str(&format!(" Instead ask for: {}.", mapped.join(", ")));
        }
        if !backend.is_empty() {
            explanation.push_str(&format!(
                " {} {} no current_user form.",
                scopes(&backend),
                if backend.len() == 1 { "has" } else { "have" }
            ));
        }
        let replaced: Vec<String> = requested
            .iter()
            .filter_map(|s| {
                if granted.contains(s) || is_current_user_scope(s) {
                    Some(s.clone())
                } else {
                    current_user_alternative(s).map(str::to_string)
                }
            })
            .collect();
        let mut f = format!(
            "Request `scope={}` with `audience={}`.",
            replaced.join(" "),
            audience
                .clone()
                .unwrap_or_else(|| mgmt_audience(&ev.host, None))
        );
        if !backend.is_empty() {
            f.push_str(&format!(
                " For {} call the Management API from your backend with an M2M token \
                 (client_credentials, auth0-facts §1.4).",
                scopes(&backend)
            ));
        }
        fix = f;
    } else if !user_token {
        explanation.push_str(
            " For client_credentials, Auth0 grants only the scopes in the client grant of this \
             application for that API (auth0-facts §1.4).",
        );
        fix = format!(
            "Authorize client {client} for {} in Dashboard > Applications > APIs > Machine to Machine \
             Applications (the client grant), then request a new token.",
            scopes(&missing)
        );
    } else {
        explanation.push_str(
            " Auth0 drops scopes the API does not define, scopes the user was not given (RBAC \
             permissions), and scopes removed by Rules/Actions.",
        );
        fix = format!(
            "Define {} on the API and give them to the user (RBAC), or stop requesting them and check \
             the granted `scope` before calling the API.",
            scopes(&missing)
        );
    }
    if missing.iter().any(|s| s == "offline_access") {
        explanation.push_str(if grant == "implicit" {
            " `offline_access` is never granted to the implicit grant: it cannot issue refresh tokens \
             (auth0-facts §3.1)."
        } else {
            " `offline_access` is granted only when the API allows offline access (API Settings > \
             Allow Offline Access) and the application may use the refresh_token grant."
        });
    }
    let mut evidence = vec![ev.at.clone()];
    if let Some(a) = &link.authorize {
        evidence.push(a.at.clone());
    }
    let mut cause = missing.clone();
    cause.sort();
    vec![Draft {
        cause: cause.join(" "),
        title: format!("Scopes not granted: {}", missing.join(" ")),
        explanation,
        fix,
        evidence,
    }]
}

#[cfg(test)]
mod tests {
    use crate::correlate::testkit::*;
    use crate::diagnose::testrun::*;
    use crate::model::{EventKind as K, TokenGrant};

    #[test]
    fn user_mgmt_token_names_current_user_alternative() {
        let scope = "openid profile email update:users";
        let at = access_jwt(&mgmt_aud(), "openid profile email");
        let events = [
            ev(
                0,
                "GET",
                "/authorize",
                Some(302),
                K::Authorize(authorize(
                    Some("s"),
                    "token id_token",
                    scope,
                    Some(&mgmt_aud()),
                )),
            ),
            ev(
                0,
                "GET",
                "/authorize",
                Some(302),
                K::AuthorizeResult(implicit_result(
                    "s",
                    Some(at),
                    None,
                    Some("openid profile email"),
                )),
            ),
        ];
        let f = run(&events);
        let hit = of(&f, "scope-not-granted");
        assert_eq!(hit.len(), 1);
        let e = &hit[0].explanation;
        assert!(
            e.contains("`update:users` → `update:current_user_metadata`"),
            "{e}"
        );
        assert!(e.contains("current_user"));
        assert!(
            hit[0]
                .fix
                .contains("scope=openid profile email update:current_user_metadata"),
            "{}",
            hit[0].fix
        );
    }

    #[test]
    fn granted_from_jwt_when_answer_has_no_scope() {
        let at = m2m_jwt(&mgmt_aud(), "read:users", NOW + 3600);
        let g = TokenGrant {
            grant_type: Some("client_credentials".into()),
            client_id: Some("M2mBackendClient0001".into()),
            client_secret_present: true,
            audience: Some(mgmt_aud()),
            scope: Some(vec!["read:users".into(), "delete:users".into()]),
            status: Some(200),
            issued: token_set(Some(at), None, None),
            ..TokenGrant::default()
        };
        let f = run(&[ev(0, "POST", "/oauth/token", Some(200), K::TokenGrant(g))]);
        let hit = of(&f, "scope-not-granted");
        assert_eq!(hit.len(), 1);
        assert!(hit[0].fix.contains("Machine to Machine"));
        assert!(hit[0].title.contains("delete:users"));
    }

    #[test]
    fn all_granted_does_not_fire() {
        let scope = "openid profile update:current_user_metadata";
        let at = access_jwt(&mgmt_aud(), scope);
        let events = [
            ev(
                0,
                "GET",
                "/authorize",
                Some(302),
                K::Authorize(authorize(Some("s"), "token", scope, Some(&mgmt_aud()))),
            ),
            ev(
                0,
                "GET",
                "/authorize",
                Some(302),
                K::AuthorizeResult(implicit_result("s", Some(at), None, Some(scope))),
            ),
        ];
        assert!(of(&run(&events), "scope-not-granted").is_empty());
    }

    #[test]
    fn unknown_granted_scope_does_not_fire() {
        let events = [
            ev(
                0,
                "GET",
                "/authorize",
                Some(302),
                K::Authorize(authorize(Some("s"), "token", "openid read:x", None)),
            ),
            ev(
                0,
                "GET",
                "/authorize",
                Some(302),
                K::AuthorizeResult(implicit_result("s", Some(jwe_token()), None, None)),
            ),
        ];
        assert!(of(&run(&events), "scope-not-granted").is_empty());
    }

    #[test]
    fn offline_access_on_implicit_is_explained() {
        let events = [
            ev(
                0,
                "GET",
                "/authorize",
                Some(302),
                K::Authorize(authorize(Some("s"), "token", "openid offline_access", None)),
            ),
            ev(
                0,
                "GET",
                "/authorize",
                Some(302),
                K::AuthorizeResult(implicit_result(
                    "s",
                    Some(jwe_token()),
                    None,
                    Some("openid"),
                )),
            ),
        ];
        let f = run(&events);
        let hit = of(&f, "scope-not-granted");
        assert_eq!(hit.len(), 1);
        assert!(
            hit[0]
                .explanation
                .contains("never granted to the implicit grant"),
            "{}",
            hit[0].explanation
        );
    }
}
