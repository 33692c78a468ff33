//! Events + flow links → Findings. One file per rule (each with its tests beside it), the rule
//! table `RULES` (DESIGN.md §4 order, ids are a contract), and the `Diagnoser` that runs them.
//!
//! The diagnoser is incremental: `on_event` returns the findings that event produced, so the live
//! proxy can print them as they happen; `finish` runs whole-input checks (signatures of tokens
//! seen before their JWKS). Findings are deduplicated per (rule, flow, cause): a repeat does not
//! produce a new finding, it raises the repeat count shown in the explanation of the stored
//! finding (`findings()` returns the final list). Bounded: at most `MAX_FINDINGS` findings (the
//! rest counted in `dropped`) and `MAX_EVIDENCE` evidence entries per finding.
//! Imports `model` and `correlate` (for `Link`); never prints, never sees raw output paths.
//! Findings never contain raw tokens, codes or secrets: tokens are named `fp:<fingerprint>`.

use std::collections::{HashMap, HashSet};

use foldhash::fast::RandomState;

use crate::correlate::{presented_token, Link};
use crate::model::{
    AuthEvent, EventKind, Evidence, Finding, FlowId, Severity, Token, Verification,
};

pub mod support;
pub mod token_facts;

pub mod audience_mismatch;
pub mod authorize_error;
pub mod evidence_missing;
pub mod id_token_as_access_token;
pub mod implicit_grant;
pub mod insufficient_scope;
pub mod malformed_authorization_header;
pub mod missing_pkce;
pub mod missing_state;
pub mod opaque_access_token;
pub mod rate_limited;
pub mod scope_not_granted;
pub mod sensitive_claim;
pub mod tenant_mismatch;
pub mod token_endpoint_error;
pub mod token_expired;
pub mod token_in_url;
pub mod unsigned_token;

/// Static description of a rule, for `authtap rules` and the docs.
#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    /// What the rule looks at in the traffic.
    pub detects: &'static str,
    /// Why Auth0 behaves this way (with auth0-facts.md sections).
    pub why: &'static str,
    /// The usual fix.
    pub fix: &'static str,
    /// A short example of traffic that triggers it.
    pub example: &'static str,
}

/// Every rule, in DESIGN.md §4 order.
pub const RULES: &[RuleInfo] = &[
    id_token_as_access_token::INFO,
    opaque_access_token::INFO,
    scope_not_granted::INFO,
    insufficient_scope::INFO,
    audience_mismatch::INFO,
    tenant_mismatch::INFO,
    token_expired::INFO,
    sensitive_claim::INFO,
    implicit_grant::INFO,
    missing_pkce::INFO,
    missing_state::INFO,
    token_in_url::INFO,
    malformed_authorization_header::INFO,
    unsigned_token::INFO,
    rate_limited::INFO,
    token_endpoint_error::INFO,
    authorize_error::INFO,
    evidence_missing::INFO,
];

/// Look a rule up by id.
pub fn rule(id: &str) -> Option<&'static RuleInfo> {
    RULES.iter().find(|r| r.id == id)
}

/// A rule's verdict before deduplication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// What distinguishes this problem within its flow (a token fingerprint, an endpoint...).
    pub cause: String,
    pub title: String,
    pub explanation: String,
    pub fix: String,
    pub evidence: Vec<Evidence>,
}

type Check = fn(&AuthEvent, &Link) -> Vec<Draft>;

/// A rule's dedup cause for an event, computed without building the draft (`Some` exactly
/// when the rule's check returns one draft, with that cause and `[ev.at]` as evidence).
type Cause = fn(&AuthEvent, &Link) -> Option<String>;

/// Rules that fire on every repeat of a busy failure (429s, 403s): for a repeat of a known
/// finding the diagnoser only counts it, without formatting a draft that would be thrown away.
const CAUSES: &[(&str, Cause)] = &[
    (insufficient_scope::INFO.id, insufficient_scope::cause),
    (rate_limited::INFO.id, rate_limited::cause),
];

/// Rules that judge only the content of a token (claims, signature): on an API call they run
/// once per presented token, since repeats of the same token cannot change their verdict.
const TOKEN_CONTENT_RULES: &[&str] = &[sensitive_claim::INFO.id, unsigned_token::INFO.id];

/// Rules that only judge authorize requests/results and token grants: they return nothing for
/// an API call (the commonest event), so `on_event` does not run them for one (a test checks
/// they really return nothing for API calls).
const NOT_FOR_API_CALLS: &[&str] = &[
    implicit_grant::INFO.id,
    scope_not_granted::INFO.id,
    missing_pkce::INFO.id,
    missing_state::INFO.id,
    authorize_error::INFO.id,
    token_endpoint_error::INFO.id,
];

/// Fingerprints remembered for `TOKEN_CONTENT_RULES`; when full the set is cleared (only costs
/// a re-check, never a missed finding).
const MAX_JUDGED_TOKENS: usize = 100_000;

/// Per-event checks, in `RULES` order (unsigned-token also has a whole-input part).
const CHECKS: &[(&RuleInfo, Check)] = &[
    (
        &id_token_as_access_token::INFO,
        id_token_as_access_token::check,
    ),
    (&opaque_access_token::INFO, opaque_access_token::check),
    (&scope_not_granted::INFO, scope_not_granted::check),
    (&insufficient_scope::INFO, insufficient_scope::check),
    (&audience_mismatch::INFO, audience_mismatch::check),
    (&tenant_mismatch::INFO, tenant_mismatch::check),
    (&token_expired::INFO, token_expired::check),
    (&sensitive_claim::INFO, sensitive_claim::check),
    (&implicit_grant::INFO, implicit_grant::check),
    (&missing_pkce::INFO, missing_pkce::check),
    (&missing_state::INFO, missing_state::check),
    (&token_in_url::INFO, token_in_url::check),
    (
        &malformed_authorization_header::INFO,
        malformed_authorization_header::check,
    ),
    (&unsigned_token::INFO, unsigned_token::check),
    (&rate_limited::INFO, rate_limited::check),
    (&token_endpoint_error::INFO, token_endpoint_error::check),
    (&authorize_error::INFO, authorize_error::check),
    (&evidence_missing::INFO, evidence_missing::check),
];

/// For each entry of `CHECKS`: its `CAUSES` shortcut, whether it is one of the
/// `TOKEN_CONTENT_RULES`, and whether it can fire for an API call (not in `NOT_FOR_API_CALLS`);
/// looked up once, not by comparing rule ids for every event.
fn check_traits() -> &'static [(Option<Cause>, bool, bool)] {
    static TRAITS: std::sync::OnceLock<Vec<(Option<Cause>, bool, bool)>> =
        std::sync::OnceLock::new();
    TRAITS.get_or_init(|| {
        CHECKS
            .iter()
            .map(|(info, _)| {
                (
                    CAUSES
                        .iter()
                        .find(|(id, _)| *id == info.id)
                        .map(|(_, c)| *c),
                    TOKEN_CONTENT_RULES.contains(&info.id),
                    !NOT_FOR_API_CALLS.contains(&info.id),
                )
            })
            .collect()
    })
}

/// Most findings kept per run.
pub const MAX_FINDINGS: usize = 10_000;
/// Most evidence entries per finding.
pub const MAX_EVIDENCE: usize = 8;

#[derive(Debug)]
struct Stored {
    finding: Finding,
    base_explanation: String,
    count: u64,
    evidence_dropped: u64,
}

/// Runs every rule on each event, deduplicates, and keeps the final findings.
#[derive(Debug, Default)]
pub struct Diagnoser {
    seen: HashMap<(&'static str, Option<FlowId>, String), usize, RandomState>,
    stored: Vec<Stored>,
    /// Bearer fingerprints whose content rules already ran.
    judged: HashSet<String, RandomState>,
    pending: unsigned_token::Pending,
    /// Findings not kept because `MAX_FINDINGS` was reached.
    pub dropped: u64,
}

impl Diagnoser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Findings this event produced that were not already reported (repeats only count).
    pub fn on_event(&mut self, ev: &AuthEvent, link: &Link) -> Vec<Finding> {
        let mut out = Vec::new();
        let repeat_bearer = match &ev.kind {
            EventKind::ApiCall(call) => presented_token(&call.credential).is_some_and(|t| {
                if self.judged.contains(&t.fingerprint) {
                    return true;
                }
                if self.judged.len() >= MAX_JUDGED_TOKENS {
                    self.judged.clear();
                }
                self.judged.insert(t.fingerprint.clone());
                false
            }),
            _ => false,
        };
        let api_call = matches!(ev.kind, EventKind::ApiCall(_));
        for ((info, check), (cause, token_content, for_api_calls)) in
            CHECKS.iter().zip(check_traits())
        {
            if (repeat_bearer && *token_content) || (api_call && !*for_api_calls) {
                continue;
            }
            if let Some(cause_of) = cause {
                let known = cause_of(ev, link)
                    .and_then(|cause| self.seen.get(&(info.id, link.flow, cause)).copied());
                if let Some(i) = known {
                    self.repeat(i, std::slice::from_ref(&ev.at));
                    continue;
                }
            }
            let drafts = check(ev, link);
            if drafts.is_empty() {
                continue;
            }
            for draft in drafts {
                if let Some(f) = self.admit(info, link.flow, draft) {
                    out.push(f);
                }
            }
        }
        self.pending.observe(ev, link);
        out
    }

    /// A repeat of stored finding `i`: count it and keep its new evidence (capped, and copied
    /// only when it is listed: most repeats find the evidence list full).
    fn repeat(&mut self, i: usize, evidence: &[Evidence]) {
        if let Some(s) = self.stored.get_mut(i) {
            s.count += 1;
            for e in evidence {
                let dup = s
                    .finding
                    .evidence
                    .iter()
                    .any(|x| x.input == e.input && x.index == e.index);
                if dup {
                    continue;
                }
                if s.finding.evidence.len() < MAX_EVIDENCE {
                    s.finding.evidence.push(e.clone());
                } else {
                    s.evidence_dropped += 1;
                }
            }
            // The repeat count is written into the explanation by `findings()`, not here:
            // repeats are the common case in busy traffic.
        }
    }

    /// Admit a finding produced outside `on_event` (e.g. an undecryptable TLS session).
    pub fn admit(&mut self, info: &RuleInfo, flow: Option<FlowId>, d: Draft) -> Option<Finding> {
        let key = (info.id, flow, d.cause.clone());
        if let Some(&i) = self.seen.get(&key) {
            self.repeat(i, &d.evidence);
            return None;
        }
        if self.stored.len() >= MAX_FINDINGS {
            self.dropped += 1;
            return None;
        }
        let mut evidence: Vec<Evidence> = Vec::new();
        for e in d.evidence {
            let dup = evidence
                .iter()
                .any(|x| x.input == e.input && x.index == e.index);
            if !dup && evidence.len() < MAX_EVIDENCE {
                evidence.push(e);
            }
        }
        let finding = Finding {
            rule: info.id,
            severity: info.severity,
            title: d.title,
            explanation: d.explanation.clone(),
            fix: d.fix,
            flow,
            evidence,
        };
        self.seen.insert(key, self.stored.len());
        self.stored.push(Stored {
            finding: finding.clone(),
            base_explanation: d.explanation,
            count: 1,
            evidence_dropped: 0,
        });
        Some(finding)
    }

    /// Whole-input checks: tokens seen before any usable key are verified now with `verify`.
    /// Returns only the new findings.
    pub fn finish(&mut self, verify: &mut dyn FnMut(&Token) -> Verification) -> Vec<Finding> {
        let mut out = Vec::new();
        for (flow, draft) in self.pending.finish(verify) {
            if let Some(f) = self.admit(&unsigned_token::INFO, flow, draft) {
                out.push(f);
            }
        }
        out
    }

    /// Every finding so far, deduplicated, with repeat counts in the explanations.
    pub fn findings(&self) -> Vec<Finding> {
        self.stored
            .iter()
            .map(|s| {
                let mut f = s.finding.clone();
                if s.count > 1 {
                    f.explanation = format!(
                        "{} Seen {} times{}.",
                        s.base_explanation,
                        s.count,
                        if s.evidence_dropped > 0 {
                            format!("; evidence lists the first {MAX_EVIDENCE} exchanges")
                        } else {
                            String::new()
                        }
                    );
                }
                f
            })
            .collect()
    }

    /// Unverified tokens not kept for the final signature check (cap reached).
    pub fn unverified_dropped(&self) -> u64 {
        self.pending.dropped
    }
}

#[cfg(test)]
pub(crate) mod testrun {
    //! Runs hand-built events through the correlator and the diagnoser.
    use super::*;
    use crate::correlate::{CorrelateConfig, Correlator};

    pub fn run(events: &[AuthEvent]) -> Vec<Finding> {
        let mut c = Correlator::new(CorrelateConfig::default());
        let mut d = Diagnoser::new();
        for ev in events {
            let link = c.observe(ev);
            d.on_event(ev, &link);
        }
        d.finish(&mut |_t: &Token| Verification::NotVerified);
        d.findings()
    }

    pub fn of<'a>(findings: &'a [Finding], rule: &str) -> Vec<&'a Finding> {
        findings.iter().filter(|f| f.rule == rule).collect()
    }

    /// Every text field of every finding, for "no raw secret" assertions.
    pub fn all_text(findings: &[Finding]) -> String {
        findings
            .iter()
            .map(|f| format!("{}\n{}\n{}\n", f.title, f.explanation, f.fix))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testrun::*;
    use super::*;
    use crate::correlate::testkit::*;
    use crate::model::{Credential, EventKind as K, TokenSet};

    #[test]
    fn rules_table_matches_design_ids_and_severities() {
        let expected = [
            ("id-token-as-access-token", Severity::Error),
            ("opaque-access-token", Severity::Error),
            ("scope-not-granted", Severity::Warning),
            ("insufficient-scope", Severity::Error),
            ("audience-mismatch", Severity::Error),
            ("tenant-mismatch", Severity::Error),
            ("token-expired", Severity::Error),
            ("sensitive-claim", Severity::Error),
            ("implicit-grant", Severity::Warning),
            ("missing-pkce", Severity::Warning),
            ("missing-state", Severity::Warning),
            ("token-in-url", Severity::Error),
            ("malformed-authorization-header", Severity::Error),
            ("unsigned-token", Severity::Error),
            ("rate-limited", Severity::Warning),
            ("token-endpoint-error", Severity::Error),
            ("authorize-error", Severity::Error),
            ("evidence-missing", Severity::Info),
        ];
        let got: Vec<_> = RULES.iter().map(|r| (r.id, r.severity)).collect();
        assert_eq!(got, expected);
        assert_eq!(CHECKS.len(), RULES.len());
        for (a, b) in CHECKS.iter().zip(RULES) {
            assert_eq!(a.0.id, b.id);
        }
    }

    /// The rules `on_event` skips for API calls really return nothing for them: API calls of
    /// every credential and status, linked to flows that did fire those rules (implicit grant,
    /// no state, no PKCE), checked directly.
    #[test]
    fn rules_skipped_for_api_calls_never_fire_on_them() {
        use crate::correlate::{CorrelateConfig, Correlator};
        let mut c = Correlator::new(CorrelateConfig::default());
        // A flow whose /authorize fires implicit-grant and missing-state.
        let a = authorize(
            None,
            "token id_token",
            "openid read:users",
            Some(&mgmt_aud()),
        );
        c.observe(&ev(0, "GET", "/authorize", Some(302), K::Authorize(a)));
        let at = access_jwt(&mgmt_aud(), "openid");
        let creds = [
            Credential::Bearer(at.clone()),
            Credential::Bearer(id_jwt(serde_json::json!({}))),
            Credential::QueryToken(at),
            Credential::None,
            Credential::Stripped,
            Credential::Malformed { reason: "x".into() },
        ];
        let mut judged = 0;
        for (i, cred) in creds.into_iter().enumerate() {
            for status in [
                None,
                Some(200),
                Some(400),
                Some(401),
                Some(403),
                Some(429),
                Some(500),
            ] {
                let call = mgmt_call(
                    "GET",
                    "/api/v2/users/{id}",
                    &["read:users"],
                    cred.clone(),
                    status,
                );
                let e = ev(i + 1, "GET", "/api/v2/users/x", status, K::ApiCall(call));
                let link = c.observe(&e);
                for ((info, check), (_, _, for_api_calls)) in CHECKS.iter().zip(check_traits()) {
                    if !*for_api_calls {
                        assert!(check(&e, &link).is_empty(), "{} on {status:?}", info.id);
                        judged += 1;
                    }
                }
            }
        }
        assert_eq!(judged, 6 * 7 * NOT_FOR_API_CALLS.len());
        assert_eq!(NOT_FOR_API_CALLS.len(), 6);
    }

    /// A healthy SPA: code + PKCE, with audience and the scopes it uses, then a 200.
    #[test]
    fn healthy_code_pkce_flow_fires_nothing() {
        let mut a = authorize(
            Some("st-8f3a"),
            "code",
            "openid profile email read:current_user update:current_user_metadata",
            Some(&mgmt_aud()),
        );
        a.code_challenge = Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into());
        a.code_challenge_method = Some("S256".into());
        let scope = "openid profile email read:current_user update:current_user_metadata";
        let at = access_jwt(&mgmt_aud(), scope);
        let idt = id_jwt(serde_json::json!({}));
        let mut set: TokenSet = token_set(Some(at.clone()), Some(idt), Some(scope));
        set.expires_in = Some(86400);
        let mut patch = mgmt_call(
            "PATCH",
            "/api/v2/users/{id}",
            PATCH_USER,
            Credential::Bearer(at.clone()),
            Some(200),
        );
        patch.body_fields = vec!["user_metadata".into()];
        let events = [
            ev(0, "GET", "/authorize", Some(302), K::Authorize(a)),
            ev(
                1,
                "GET",
                "/callback",
                Some(200),
                K::AuthorizeResult(code_result("st-8f3a", "c0de-abcdef-123456")),
            ),
            ev(
                2,
                "POST",
                "/oauth/token",
                Some(200),
                K::TokenGrant(code_grant("c0de-abcdef-123456", true, false, set)),
            ),
            ev(
                3,
                "GET",
                USER_PATH,
                Some(200),
                K::ApiCall(mgmt_call(
                    "GET",
                    "/api/v2/users/{id}",
                    &["read:users", "read:current_user", "read:user_idp_tokens"],
                    Credential::Bearer(at.clone()),
                    Some(200),
                )),
            ),
            ev(4, "PATCH", USER_PATH, Some(200), K::ApiCall(patch)),
        ];
        let findings = run(&events);
        assert!(findings.is_empty(), "healthy flow produced {findings:#?}");
    }

    /// The shortcut for repeats must agree with the rules: a cause exactly when the check
    /// yields a draft, and the same cause.
    #[test]
    fn causes_agree_with_checks() {
        use crate::correlate::{CorrelateConfig, Correlator};
        const USERS: &[&str] = &["read:users"];
        let at = access_jwt(&mgmt_aud(), "read:current_user");
        let kinds = |status: Option<u16>, msg: Option<&str>, cred: Credential| {
            let mut c = mgmt_call("GET", "/api/v2/users", USERS, cred, status);
            if let (Some(s), Some(m)) = (status, msg) {
                c.error = Some(auth0_error(s, "E", m, None));
                c.expected_scopes = errors_expected(m);
            }
            K::ApiCall(c)
        };
        let events = [
            ev(
                0,
                "GET",
                "/api/v2/users",
                Some(429),
                kinds(
                    Some(429),
                    Some("Global limit has been reached"),
                    Credential::Bearer(at.clone()),
                ),
            ),
            ev(
                1,
                "GET",
                "/api/v2/users",
                Some(403),
                kinds(
                    Some(403),
                    Some("Insufficient scope, expected any of: read:users"),
                    Credential::Bearer(at.clone()),
                ),
            ),
            ev(
                2,
                "GET",
                "/api/v2/users",
                Some(403),
                kinds(
                    Some(403),
                    Some("Insufficient scope, expected any of: read:users"),
                    Credential::None,
                ),
            ),
            ev(
                3,
                "GET",
                "/api/v2/users",
                None,
                kinds(None, None, Credential::Bearer(at.clone())),
            ),
            ev(
                4,
                "GET",
                "/api/v2/users",
                Some(200),
                kinds(Some(200), None, Credential::Bearer(at.clone())),
            ),
            ev(
                5,
                "GET",
                "/api/v2/users",
                Some(401),
                kinds(Some(401), Some("Invalid token"), Credential::Stripped),
            ),
            ev(
                6,
                "POST",
                "/oauth/token",
                Some(429),
                K::TokenGrant(crate::model::TokenGrant {
                    status: Some(429),
                    ..Default::default()
                }),
            ),
            ev(
                7,
                "POST",
                "/co/authenticate",
                Some(429),
                K::AuthOther {
                    endpoint: "/co/authenticate".into(),
                    status: Some(429),
                    error: None,
                },
            ),
        ];
        let mut c = Correlator::new(CorrelateConfig::default());
        let mut fired = 0;
        for e in &events {
            let link = c.observe(e);
            for (id, cause) in CAUSES {
                let check = CHECKS
                    .iter()
                    .find(|(info, _)| info.id == *id)
                    .map(|(_, check)| check(e, &link))
                    .unwrap_or_default();
                assert!(check.len() <= 1);
                let from_check = check.first().map(|d| d.cause.clone());
                assert_eq!(
                    cause(e, &link),
                    from_check,
                    "rule {id}, event {}",
                    e.at.index
                );
                if let Some(d) = check.first() {
                    assert_eq!(d.evidence, vec![e.at.clone()]);
                    fired += 1;
                }
            }
        }
        assert!(fired >= 4, "the sample must exercise both rules ({fired})");
    }

    /// What the classifier reads from an "Insufficient scope" message (kept local: diagnose
    /// does not import auth).
    fn errors_expected(message: &str) -> Option<Vec<String>> {
        message
            .strip_prefix("Insufficient scope, expected any of: ")
            .map(|l| l.split(',').map(str::to_string).collect())
    }

    #[test]
    fn repeats_are_counted_not_duplicated() {
        let idt = id_jwt(serde_json::json!({}));
        let call = || {
            let mut c = mgmt_call(
                "PATCH",
                "/api/v2/users/{id}",
                PATCH_USER,
                Credential::Bearer(idt.clone()),
                Some(401),
            );
            c.error = Some(auth0_error(401, "Unauthorized", "Invalid token", None));
            K::ApiCall(c)
        };
        let events: Vec<_> = (0..3)
            .map(|i| ev(i, "PATCH", USER_PATH, Some(401), call()))
            .collect();
        let f = run(&events);
        let hits = of(&f, "id-token-as-access-token");
        assert_eq!(hits.len(), 1);
        assert!(
            hits[0].explanation.ends_with("Seen 3 times."),
            "{}",
            hits[0].explanation
        );
        assert_eq!(hits[0].evidence.len(), 3);
    }
}
