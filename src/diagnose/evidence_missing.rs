//! Rule `evidence-missing`: the input cannot show something the diagnosis needs.
//!
//! Sources: API calls whose Authorization header was stripped by a "sanitized" HAR export,
//! `EvidenceGap` events from the classifier (their own reason and fix), and TLS sessions to a
//! tenant host that could not be decrypted (`undecrypted`, called by the engine). Info only.

use super::support::{path_of, status_phrase};
use super::{Draft, RuleInfo};
use crate::correlate::Link;
use crate::model::{AuthEvent, Credential, EventKind, Evidence, Severity};

pub const INFO: RuleInfo = RuleInfo {
    id: "evidence-missing",
    severity: Severity::Info,
    summary: "the input cannot show something needed, e.g. a sanitized HAR without Authorization headers, or TLS without keys",
    detects: "API calls whose Authorization header was removed by the exporter, gaps the classifier \
              reports, and encrypted TLS sessions to tenant hosts without key material.",
    why: "Chrome and Firefox export \"sanitized\" HARs by default (no Authorization or Cookie headers), and \
          TLS traffic cannot be read without the session keys, so authtap cannot tell which token was sent.",
    fix: "Re-export the HAR with sensitive data (DevTools > Network > ⚙ 'Allow to generate HAR with \
          sensitive data'), or capture TLS keys with SSLKEYLOGFILE and pass --keylog.",
    example: "PATCH /api/v2/users/{id} → 401 in a HAR with no Authorization header",
};

/// A TLS session to a tenant host that could not be decrypted.
pub fn undecrypted(host: &str, server: &str, reason: &str, at: Evidence) -> Draft {
    Draft {
        cause: format!("tls:{host}"),
        title: format!("Encrypted traffic to {host} could not be read"),
        explanation: format!(
            "A TLS session to {host} ({server}) could not be decrypted: {reason}. Requests to the tenant \
             inside it are invisible, so findings about them are missing."
        ),
        fix: "Record the client's TLS keys and pass them with `--keylog FILE`: set `SSLKEYLOGFILE=/tmp/keys.log` \
              for curl and most OpenSSL/NSS clients, run Node with `node --tls-keylog=/tmp/keys.log app.js`, \
              start Chrome/Chromium with `--ssl-key-log-file=/tmp/keys.log`; or embed the keys into the \
              capture with `editcap --inject-secrets tls,/tmp/keys.log in.pcapng out.pcapng`. Keys must be \
              recorded while the traffic is captured."
            .into(),
        evidence: vec![at],
    }
}

pub fn check(ev: &AuthEvent, _link: &Link) -> Vec<Draft> {
    match &ev.kind {
        EventKind::ApiCall(call) if call.credential == Credential::Stripped => vec![Draft {
            cause: "stripped-authorization".into(),
            title: format!("Authorization headers removed from the export ({})", ev.host),
            explanation: format!(
                "{} {} (answer: {}) reached {} without an Authorization header in this input, although \
                 the API needs one: the HAR was exported \"sanitized\", which removes Authorization and \
                 Cookie headers. authtap cannot tell which token was sent, so token rules cannot run on \
                 these calls.",
                call.method,
                call.endpoint,
                status_phrase(call.status, call.error.as_ref()),
                ev.host
            ),
            fix: "Re-export the HAR with sensitive data: in Chrome DevTools > Network, open settings (⚙), tick \
                  'Allow to generate HAR with sensitive data', then use 'Export HAR (with sensitive data)'. \
                  authtap still redacts every token in its own output."
                .into(),
            evidence: vec![ev.at.clone()],
        }],
        EventKind::EvidenceGap { reason, fix } => vec![Draft {
            cause: reason.clone(),
            title: format!("Missing evidence at {} {}", ev.at.method, path_of(&ev.at.url)),
            explanation: reason.clone(),
            fix: fix.clone(),
            evidence: vec![ev.at.clone()],
        }],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::testkit::*;
    use crate::diagnose::testrun::*;
    use crate::model::{Credential, EventKind as K};

    #[test]
    fn stripped_headers_give_one_finding_with_reexport_fix() {
        let events: Vec<_> = (0..3)
            .map(|i| {
                ev(
                    i,
                    "PATCH",
                    USER_PATH,
                    Some(401),
                    K::ApiCall(mgmt_call(
                        "PATCH",
                        "/api/v2/users/{id}",
                        PATCH_USER,
                        Credential::Stripped,
                        Some(401),
                    )),
                )
            })
            .collect();
        let f = run(&events);
        let hit = of(&f, "evidence-missing");
        assert_eq!(hit.len(), 1);
        assert!(hit[0]
            .fix
            .contains("Allow to generate HAR with sensitive data"));
        assert!(hit[0].explanation.contains("Seen 3 times"));
    }

    #[test]
    fn evidence_gap_passes_reason_and_fix() {
        let f = run(&[ev(
            0,
            "POST",
            "/oauth/token",
            None,
            K::EvidenceGap {
                reason: "response body truncated".into(),
                fix: "raise the body cap".into(),
            },
        )]);
        assert_eq!(of(&f, "evidence-missing")[0].fix, "raise the body cap");
    }

    #[test]
    fn undecrypted_fix_names_keylog_options() {
        let d = undecrypted(
            HOST,
            "104.16.0.1:443",
            "no key for this session",
            evidence(0, "CONNECT", "https://x/", None),
        );
        assert!(
            d.fix.contains("SSLKEYLOGFILE")
                && d.fix.contains("--tls-keylog")
                && d.fix.contains("--ssl-key-log-file")
                && d.fix.contains("editcap --inject-secrets")
        );
    }

    #[test]
    fn bearer_calls_do_not_fire() {
        let c = mgmt_call(
            "GET",
            "/api/v2/users",
            &["read:users"],
            Credential::Bearer(m2m_jwt(&mgmt_aud(), "read:users", NOW + 60)),
            Some(200),
        );
        assert!(of(
            &run(&[ev(0, "GET", "/api/v2/users", Some(200), K::ApiCall(c))]),
            "evidence-missing"
        )
        .is_empty());
    }
}
