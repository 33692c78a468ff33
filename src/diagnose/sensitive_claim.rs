//! Rule `sensitive-claim`: a token carries secret-looking data (passwords, keys, connection
//! strings), found recursively, including inside namespaced objects such as
//! `https://myapp.example/app_metadata`.
//!
//! Looks at every JWT issued (authorize results, token grants) or presented (API calls). A claim
//! is flagged when its key looks secret (`crate::redact::looks_secret_key`) or its value looks
//! like a PEM private key, a URL with `user:password@`, a database connection URL (postgres,
//! mysql, mongodb, couchdb, redis…), a `Password=`/`AccountKey=` connection string, or an AWS
//! access key id. Findings name the claim PATH, never the value. Bounded: depth 16, 4096 nodes,
//! 10 paths listed per token.

use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use super::support::{fp, role_name};
use super::{Draft, RuleInfo};
use crate::correlate::{presented_token, Link};
use crate::model::{AuthEvent, EventKind, Severity, Token, TokenRole};
use crate::redact::looks_secret_key;

pub const INFO: RuleInfo = RuleInfo {
    id: "sensitive-claim",
    severity: Severity::Error,
    summary: "a token carries secret-looking data (passwords, keys, connection strings)",
    detects: "JWT claims, at any depth (including namespaced objects like `https://app/app_metadata`), \
              whose name looks secret (password, secret, private_key, api_key…) or whose value is a PEM \
              private key, a URL with credentials, a database connection string or an AWS key id.",
    why: "JWTs are only signed, not encrypted: anyone holding the token (the browser, logs, proxies, \
          third-party scripts) can read every claim. Auth0 puts into tokens whatever your Rules/Actions \
          add as custom claims (auth0-facts §4.4).",
    fix: "Stop copying secrets into claims (e.g. don't set the whole app_metadata as a claim), keep them \
          server-side, and rotate the exposed credential.",
    example: "ID token claim `https://myapp.example/app_metadata` = {\"db\": {\"password\": …}}",
};

const MAX_DEPTH: usize = 16;
const MAX_NODES: usize = 4096;
const MAX_PATHS: usize = 10;

fn patterns() -> &'static [(Regex, &'static str)] {
    static P: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    P.get_or_init(|| {
        let raw: [(&str, &'static str); 5] = [
            (r"-----BEGIN [A-Z ]*PRIVATE KEY-----", "a PEM private key"),
            (
                r"(?i)\b[a-z][a-z0-9+.\-]*://[^\s/:@]+:[^\s/@]+@",
                "a URL with a user name and password",
            ),
            (
                r"(?i)\b(postgres|postgresql|mysql|mariadb|mongodb|mongodb\+srv|couchdb|redis|rediss|amqp|amqps|mssql|sqlserver|jdbc:[a-z]+)://",
                "a database connection string",
            ),
            (
                r"(?i)\b(password|pwd|accountkey|sharedaccesskey)\s*=\s*[^;\s]+",
                "a connection string with a password or key",
            ),
            (r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", "an AWS access key id"),
        ];
        raw.iter()
            .filter_map(|(re, why)| Regex::new(re).ok().map(|r| (r, *why)))
            .collect()
    })
}

fn value_looks_secret(s: &str) -> Option<&'static str> {
    if s.to_ascii_lowercase().contains("couchdb") && s.contains('@') {
        return Some("a CouchDB connection string");
    }
    patterns()
        .iter()
        .find(|(re, _)| re.is_match(s))
        .map(|(_, why)| *why)
}

fn push_key(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == ':');
    match (path.is_empty(), plain) {
        (true, true) => key.to_string(),
        (true, false) => format!("[\"{key}\"]"),
        (false, true) => format!("{path}.{key}"),
        (false, false) => format!("{path}[\"{key}\"]"),
    }
}

struct Scan {
    hits: Vec<(String, &'static str)>,
    extra: usize,
    nodes: usize,
}

impl Scan {
    fn hit(&mut self, path: String, why: &'static str) {
        if self.hits.len() < MAX_PATHS {
            self.hits.push((path, why));
        } else {
            self.extra += 1;
        }
    }

    fn walk(&mut self, v: &Value, path: &str, depth: usize, secret_parent: bool) {
        self.nodes += 1;
        if depth > MAX_DEPTH || self.nodes > MAX_NODES {
            return;
        }
        match v {
            Value::Object(map) => {
                let before = self.hits.len() + self.extra;
                for (k, child) in map {
                    let p = push_key(path, k);
                    self.walk(child, &p, depth + 1, secret_parent || looks_secret_key(k));
                }
                if secret_parent && self.hits.len() + self.extra == before && !map.is_empty() {
                    self.hit(path.to_string(), "an object under a secret-looking name");
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    self.walk(child, &format!("{path}[{i}]"), depth + 1, secret_parent);
                }
            }
            Value::String(s) => {
                if let Some(why) = value_looks_secret(s) {
                    self.hit(path.to_string(), why);
                } else if secret_parent && !s.is_empty() {
                    self.hit(path.to_string(), "a secret-looking name");
                }
            }
            Value::Number(_) if secret_parent => {
                self.hit(path.to_string(), "a secret-looking name");
            }
            _ => {}
        }
    }
}

/// Claim paths (and why) that look secret.
pub fn secret_paths(claims: &Value) -> (Vec<(String, &'static str)>, usize) {
    let mut s = Scan {
        hits: Vec::new(),
        extra: 0,
        nodes: 0,
    };
    s.walk(claims, "", 0, false);
    (s.hits, s.extra)
}

fn draft_for(t: &Token, role: TokenRole, ev: &AuthEvent) -> Option<Draft> {
    let j = t.jwt.as_ref()?;
    let (hits, extra) = secret_paths(&j.claims);
    if hits.is_empty() {
        return None;
    }
    let list: Vec<String> = hits
        .iter()
        .map(|(p, why)| format!("`{p}` ({why})"))
        .collect();
    let more = if extra > 0 {
        format!(" and {extra} more")
    } else {
        String::new()
    };
    let mut paths: Vec<&str> = hits.iter().map(|(p, _)| p.as_str()).collect();
    paths.sort_unstable();
    Some(Draft {
        cause: paths.join(","),
        title: format!("{} carries secret-looking claims", role_name(role)),
        explanation: format!(
            "The {} {} (seen at {} {}) carries secret-looking data at claim path{} {}{more}. \
             JWTs are signed, not encrypted: anyone holding this token (the browser, logs, proxies, \
             third-party scripts) can base64-decode it and read the value. Auth0 adds whatever your \
             Rules/Actions set as custom claims (auth0-facts §4.4).",
            role_name(role),
            fp(t),
            ev.at.method,
            super::support::path_of(&ev.at.url),
            if hits.len() + extra == 1 { "" } else { "s" },
            list.join(", ")
        ),
        fix: format!(
            "Remove {} from the claims your Action/Rule adds (e.g. don't pass the whole app_metadata to \
             `api.idToken.setCustomClaim`; copy only the fields the app needs), keep secrets server-side, \
             and rotate the exposed credential now.",
            hits.first()
                .map(|(p, _)| format!("`{p}`"))
                .unwrap_or_default()
        ),
        evidence: vec![ev.at.clone()],
    })
}

pub fn check(ev: &AuthEvent, link: &Link) -> Vec<Draft> {
    let mut out = Vec::new();
    let mut from_set = |set: &crate::model::TokenSet| {
        let slots = [
            (&set.access_token, TokenRole::Access),
            (&set.id_token, TokenRole::Id),
            (&set.refresh_token, TokenRole::Refresh),
        ];
        for (slot, role) in slots {
            if let Some(d) = slot.as_ref().and_then(|t| draft_for(t, role, ev)) {
                out.push(d);
            }
        }
    };
    match &ev.kind {
        EventKind::AuthorizeResult(r) => from_set(&r.tokens),
        EventKind::TokenGrant(g) => from_set(&g.issued),
        EventKind::ApiCall(call) => {
            if let Some(t) = presented_token(&call.credential) {
                let role = link.token.as_ref().map(|i| i.role).unwrap_or(t.role);
                out.extend(draft_for(t, role, ev));
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::testkit::*;
    use crate::diagnose::testrun::*;
    use crate::model::EventKind as K;
    use serde_json::json;

    #[test]
    fn namespaced_app_metadata_password_is_named_by_path_not_value() {
        let idt = id_jwt(json!({
            "https://myapp.example/app_metadata": {
                "plan": "pro",
                "couch": {"url": "http://admin:Sup3rS3cret!@couch.internal:5984/users"},
                "db_password": "Sup3rS3cret!"
            }
        }));
        let events = [
            ev(
                0,
                "GET",
                "/authorize",
                Some(302),
                K::Authorize(authorize(Some("s"), "id_token", "openid", None)),
            ),
            ev(
                0,
                "GET",
                "/authorize",
                Some(302),
                K::AuthorizeResult(implicit_result("s", None, Some(idt.clone()), None)),
            ),
        ];
        let f = run(&events);
        let hit = of(&f, "sensitive-claim");
        assert_eq!(hit.len(), 1);
        let e = &hit[0].explanation;
        assert!(
            e.contains("[\"https://myapp.example/app_metadata\"].db_password"),
            "{e}"
        );
        assert!(
            e.contains("[\"https://myapp.example/app_metadata\"].couch.url"),
            "{e}"
        );
        assert!(!all_text(&f).contains("Sup3rS3cret"));
        assert!(!all_text(&f).contains(&*idt.raw));
    }

    #[test]
    fn value_patterns() {
        let (hits, _) = secret_paths(&json!({
            "a": "postgres://db.internal/app",
            "b": "-----BEGIN RSA PRIVATE KEY-----\nMIIE...",
            "c": ["AKIAIOSFODNN7EXAMPLE"],
            "d": "Server=x;Database=y;Password=hunter2;",
            "ok": "https://example.com/profile",
            "email": "jane@example.com",
        }));
        let paths: Vec<&str> = hits.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["a", "b", "c[0]", "d"]);
    }

    #[test]
    fn ordinary_claims_do_not_fire() {
        let idt = id_jwt(
            json!({"https://myapp.example/roles": ["admin"], "picture": "https://s.gravatar.com/avatar/x.png"}),
        );
        let f = run(&[ev(
            0,
            "GET",
            "/authorize",
            Some(302),
            K::AuthorizeResult(implicit_result("s", None, Some(idt), None)),
        )]);
        assert!(of(&f, "sensitive-claim").is_empty());
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut v = json!({"password": "x"});
        for _ in 0..200 {
            v = json!({ "n": v });
        }
        let (hits, _) = secret_paths(&v);
        assert!(hits.is_empty(), "beyond depth limit nothing is reported");
    }
}
