//! Decides what is secret and how it is shown. Every sink goes through a `Redactor`.
//!
//! Secrets are tokens, authorization codes, passwords, client secrets, code verifiers, cookies
//! and key log lines. They are shown as `fp:` + the first 12 hex digits of their SHA-256
//! (DESIGN.md §3.4) unless the user passed `--include-secrets`. Two layers:
//! 1. structural: known secret parameters in URLs, forms and JSON bodies, and secret headers;
//! 2. a safety net: every secret value the engine has seen is registered, and `scrub` replaces
//!    any occurrence of one in free text (explanations, notes, bodies).
//!
//! The registry is capped (`MAX_SECRETS`); past the cap, structural redaction still applies.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use foldhash::fast::RandomState;

use crate::decode::form::decode_component;
use crate::model::{fingerprint, AuthEvent, Credential, EventKind, TokenSet};

/// Upper bound on remembered secret values.
pub const MAX_SECRETS: usize = 100_000;
/// Values shorter than this are never registered (too likely to collide with normal text).
const MIN_SECRET_LEN: usize = 8;

/// Query/form/JSON parameter names whose values are secret.
pub const SECRET_PARAMS: &[&str] = &[
    "access_token",
    "id_token",
    "refresh_token",
    "code",
    "code_verifier",
    "client_secret",
    "client_assertion",
    "password",
    "new_password",
    "otp",
    "mfa_token",
    "binding_code",
    "assertion",
    "subject_token",
    "token",
    "ticket",
    "session_token",
    "login_ticket",
    "wctx",
];

/// Headers whose values are secret.
pub const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
    "x-access-token",
    "x-csrf-token",
];

/// Headers whose value is a URL (redacted like any URL).
pub const URL_HEADERS: &[&str] = &["location", "content-location", "referer", "origin"];

/// Shows secrets as fingerprints unless `include_secrets`.
#[derive(Debug, Default)]
pub struct Redactor {
    include_secrets: bool,
    /// Secrets remembered so far (at most `MAX_SECRETS`).
    registered: usize,
    /// Registered secrets indexed by their first `MIN_SECRET_LEN` bytes, so `scrub` costs one
    /// lookup per text position however many secrets are registered. foldhash with a per-run
    /// seed (SipHash dominated rendering reports: `scrub` looks up every byte position).
    by_prefix: HashMap<[u8; MIN_SECRET_LEN], Vec<Arc<str>>, RandomState>,
    /// The same secrets for exact membership: `register` runs for every token of every event,
    /// and JWTs share their first bytes, so scanning a prefix bucket was linear in the number
    /// of tokens. foldhash with a per-run seed (the values are attacker-controlled).
    known: HashSet<Arc<str>, RandomState>,
    /// Secrets not remembered because the registry was full.
    pub overflow: u64,
    /// The last `RECENT` shared tokens passed to `register_shared`, held (so their addresses
    /// cannot be reused by other strings while listed): a token already listed is skipped by
    /// pointer, without hashing it again (busy clients send the same token on every call).
    recent: Vec<Arc<str>>,
    /// Next slot of `recent` to overwrite once it is full.
    recent_next: usize,
}

/// Shared tokens remembered by pointer in `Redactor::recent`.
const RECENT: usize = 32;

impl Redactor {
    pub fn new(include_secrets: bool) -> Self {
        Self {
            include_secrets,
            ..Self::default()
        }
    }

    pub fn include_secrets(&self) -> bool {
        self.include_secrets
    }

    /// How one secret value is displayed.
    pub fn show(&self, secret: &str) -> String {
        if self.include_secrets {
            secret.to_string()
        } else {
            format!("fp:{}", fingerprint(secret))
        }
    }

    /// Remember a secret so `scrub` can find it in free text.
    pub fn register(&mut self, secret: &str) {
        self.register_settled(secret);
    }

    /// [`Self::register`]; false when the secret could not be remembered (registry full), so
    /// registering it again is not a no-op (it counts another overflow).
    fn register_settled(&mut self, secret: &str) -> bool {
        let Some(key) = prefix_key(secret.as_bytes()) else {
            return true; // shorter than MIN_SECRET_LEN: never registered
        };
        if self.known.contains(secret) {
            return true;
        }
        if self.registered >= MAX_SECRETS {
            self.overflow += 1;
            return false;
        }
        self.registered += 1;
        let shared: Arc<str> = Arc::from(secret);
        self.known.insert(Arc::clone(&shared));
        self.by_prefix.entry(key).or_default().push(shared);
        true
    }

    /// `register` for a token's shared raw value; repeats of a recently registered `Arc` cost
    /// a pointer comparison.
    pub fn register_shared(&mut self, secret: &Arc<str>) {
        if self.recent.iter().any(|r| Arc::ptr_eq(r, secret)) {
            return;
        }
        if !self.register_settled(secret) {
            return;
        }
        if self.recent.len() < RECENT {
            self.recent.push(Arc::clone(secret));
        } else if let Some(slot) = self.recent.get_mut(self.recent_next) {
            *slot = Arc::clone(secret);
        }
        self.recent_next = (self.recent_next + 1) % RECENT;
    }

    /// Register every secret an event carries (tokens, codes, refresh tokens).
    pub fn register_event(&mut self, ev: &AuthEvent) {
        let add_set = |r: &mut Self, set: &TokenSet| {
            for t in set.tokens() {
                r.register_shared(&t.raw);
            }
        };
        match &ev.kind {
            EventKind::AuthorizeResult(res) => {
                if let Some(c) = &res.code {
                    self.register(c);
                }
                add_set(self, &res.tokens);
            }
            EventKind::TokenGrant(g) => {
                if let Some(c) = &g.code {
                    self.register(c);
                }
                if let Some(t) = &g.refresh_token {
                    self.register_shared(&t.raw);
                }
                add_set(self, &g.issued);
            }
            EventKind::ApiCall(call) => match &call.credential {
                Credential::Bearer(t) | Credential::QueryToken(t) => self.register_shared(&t.raw),
                _ => {}
            },
            _ => {}
        }
    }

    /// Replace every registered secret found in `text` by its display form, and the password
    /// of any `scheme://user:password@host` URL (connection strings).
    pub fn scrub(&self, text: &str) -> String {
        if self.include_secrets {
            return text.to_string();
        }
        let masked = self.mask_url_passwords(text);
        if self.by_prefix.is_empty() || masked.len() < MIN_SECRET_LEN {
            return masked;
        }
        // One left-to-right pass; at each position the longest registered secret wins.
        let bytes = masked.as_bytes();
        let mut out = String::with_capacity(masked.len());
        let (mut last, mut i) = (0, 0);
        while i + MIN_SECRET_LEN <= bytes.len() {
            let hit = prefix_key(&bytes[i..])
                .and_then(|k| self.by_prefix.get(&k))
                .and_then(|cands| {
                    cands
                        .iter()
                        .filter(|s| bytes[i..].starts_with(s.as_bytes()))
                        .max_by_key(|s| s.len())
                });
            // A match starts and ends on char boundaries: the secret is itself valid UTF-8.
            match (hit, masked.get(last..i)) {
                (Some(secret), Some(before)) => {
                    out.push_str(before);
                    out.push_str(&self.show(secret));
                    i += secret.len();
                    last = i;
                }
                _ => i += 1,
            }
        }
        out.push_str(masked.get(last..).unwrap_or_default());
        out
    }

    fn mask_json_members(&self, text: &str) -> String {
        json_member()
            .replace_all(text, |c: &regex::Captures<'_>| {
                if is_secret_param(&c[2]) || looks_secret_key(&c[2]) {
                    format!("{}{}", &c[1], self.show(&c[3]))
                } else {
                    c[0].to_string()
                }
            })
            .into_owned()
    }

    fn mask_url_passwords(&self, text: &str) -> String {
        if !text.contains("://") {
            return text.to_string();
        }
        url_credentials()
            .replace_all(text, |c: &regex::Captures<'_>| {
                format!("{}{}:{}@", &c[1], &c[2], self.show(&c[3]))
            })
            .into_owned()
    }

    /// A header value as it may be shown.
    pub fn header(&self, name: &str, value: &str) -> String {
        if self.include_secrets {
            return value.to_string();
        }
        let lower = name.to_ascii_lowercase();
        if URL_HEADERS.contains(&lower.as_str()) {
            // Redirects carry codes and implicit-grant tokens in their query or fragment.
            return self.url(value);
        }
        if !SECRET_HEADERS.contains(&lower.as_str()) {
            return self.scrub(value);
        }
        match lower.as_str() {
            "authorization" | "proxy-authorization" => match value.split_once(' ') {
                Some((scheme, cred)) => format!("{scheme} {}", self.show(cred.trim())),
                None => self.show(value),
            },
            "cookie" => value
                .split(';')
                .map(|kv| match kv.trim().split_once('=') {
                    Some((k, v)) => format!("{k}={}", self.show(v)),
                    None => self.show(kv.trim()),
                })
                .collect::<Vec<_>>()
                .join("; "),
            "set-cookie" => {
                let (first, attrs) = value.split_once(';').unwrap_or((value, ""));
                let shown = match first.split_once('=') {
                    Some((k, v)) => format!("{k}={}", self.show(v)),
                    None => self.show(first),
                };
                if attrs.is_empty() {
                    shown
                } else {
                    format!("{shown};{attrs}")
                }
            }
            _ => self.show(value),
        }
    }

    /// A URL with secret query and fragment parameters replaced, and registered secrets scrubbed.
    pub fn url(&self, url: &str) -> String {
        if self.include_secrets {
            return url.to_string();
        }
        let (base, fragment) = match url.split_once('#') {
            Some((b, f)) => (b, Some(f)),
            None => (url, None),
        };
        let (path, query) = match base.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (base, None),
        };
        let mut out = self.scrub(path);
        if let Some(q) = query {
            out.push('?');
            out.push_str(&self.form(q));
        }
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(&self.form(f));
        }
        out
    }

    /// An `application/x-www-form-urlencoded` string with secret values replaced.
    pub fn form(&self, form: &str) -> String {
        if self.include_secrets {
            return form.to_string();
        }
        form.split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) if is_secret_param(&decode_component(k)) => {
                    format!("{k}={}", self.show(&decode_component(v)))
                }
                _ => self.scrub(pair),
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    /// A JSON value with secret-named members replaced (recursively), and free text scrubbed.
    pub fn json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        if self.include_secrets {
            return value.clone();
        }
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let secret_key = is_secret_param(k) || looks_secret_key(k);
                        let shown = match v {
                            Value::String(s) if secret_key => Value::String(self.show(s)),
                            // `{"otp": 123456}`: a number or bool under a secret name is secret too.
                            Value::Number(_) | Value::Bool(_) if secret_key => {
                                Value::String(self.show(&v.to_string()))
                            }
                            _ => self.json(v),
                        };
                        (k.clone(), shown)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.json(v)).collect()),
            Value::String(s) => Value::String(self.scrub(s)),
            other => other.clone(),
        }
    }

    /// A body as text: JSON and forms structurally, anything else scrubbed.
    pub fn body(&self, text: &str, mime: Option<&str>) -> String {
        if self.include_secrets {
            return text.to_string();
        }
        let mime = mime.unwrap_or("").to_ascii_lowercase();
        let trimmed = text.trim_start();
        let looks_json = trimmed.starts_with('{') || trimmed.starts_with('[');
        if mime.contains("json") || looks_json {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
                return self.json(&v).to_string();
            }
            // Truncated or broken JSON: mask `"secret_name": "value"` members textually.
            return self.scrub(&self.mask_json_members(text));
        }
        // Forms, also when the Content-Type is missing (the classifier reads those as forms too).
        let formish = mime.is_empty() && text.contains('=') && !text.contains(char::is_whitespace);
        if mime.contains("x-www-form-urlencoded") || formish {
            return self.form(text);
        }
        self.scrub(text)
    }
}

/// Whether a parameter or JSON member name carries a secret value.
pub fn is_secret_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_PARAMS.contains(&lower.as_str())
}

/// Member names that look secret even if not OAuth parameters (db passwords, API keys...).
pub fn looks_secret_key(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "pwd",
        "secret",
        "private_key",
        "privatekey",
        "api_key",
        "apikey",
        "connection_string",
        "connectionstring",
        "credential",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// `"name": "value` in JSON text (the value may be cut off by truncation).
fn json_member() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r#"("([A-Za-z0-9_\-]+)"\s*:\s*"?)([^"\s,}\]]+)"#)
            .unwrap_or_else(|_| unreachable!("static regex is valid"))
    })
}

/// `scheme://user:password@` in free text.
fn url_credentials() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"([A-Za-z][A-Za-z0-9+.\-]*://)([^\s:/@]+):([^\s@/]+)@")
            .unwrap_or_else(|_| unreachable!("static regex is valid"))
    })
}

/// The first `MIN_SECRET_LEN` bytes, the key of `Redactor::by_prefix`.
fn prefix_key(bytes: &[u8]) -> Option<[u8; MIN_SECRET_LEN]> {
    bytes.get(..MIN_SECRET_LEN)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hides_secret_params_in_query_and_fragment() {
        let r = Redactor::new(false);
        let out = r.url("https://cb.example/cb?code=abcdef123456&state=xyz#access_token=eyJhbGciOi.x.y&token_type=Bearer");
        assert!(!out.contains("abcdef123456"));
        assert!(!out.contains("eyJhbGciOi"));
        assert!(out.contains("state=xyz"));
        assert!(out.contains(&format!("code=fp:{}", fingerprint("abcdef123456"))));
    }

    #[test]
    fn registered_secrets_are_scrubbed_from_free_text() {
        let mut r = Redactor::new(false);
        r.register("supersecretvalue");
        assert_eq!(
            r.scrub("token supersecretvalue was sent"),
            format!("token fp:{} was sent", fingerprint("supersecretvalue"))
        );
    }

    #[test]
    fn shared_tokens_register_once_and_are_scrubbed() {
        let mut r = Redactor::new(false);
        let tokens: Vec<Arc<str>> = (0..RECENT + 3)
            .map(|i| Arc::from(format!("shared-token-{i:04}")))
            .collect();
        for _ in 0..3 {
            for t in &tokens {
                r.register_shared(t);
            }
        }
        // A different allocation with the same text is still known.
        r.register_shared(&Arc::from("shared-token-0000"));
        assert_eq!(r.registered, RECENT + 3);
        assert!(r.recent.len() <= RECENT);
        let out = r.scrub("a shared-token-0001 b shared-token-0034");
        assert!(!out.contains("shared-token"), "{out}");
    }

    #[test]
    fn scrub_prefers_the_longest_secret_and_keeps_unicode_intact() {
        let mut r = Redactor::new(false);
        r.register("abcdefgh");
        r.register("abcdefghijkl");
        let out = r.scrub("é abcdefghijkl ü abcdefgh");
        assert_eq!(
            out,
            format!(
                "é fp:{} ü fp:{}",
                fingerprint("abcdefghijkl"),
                fingerprint("abcdefgh")
            )
        );
    }

    #[test]
    fn location_fragment_tokens_are_hidden() {
        let r = Redactor::new(false);
        let out = r.header(
            "Location",
            "https://app/cb#access_token=abcdefgh12345&state=s1",
        );
        assert!(
            !out.contains("abcdefgh12345") && out.contains("state=s1"),
            "{out}"
        );
    }

    #[test]
    fn authorization_header_keeps_scheme() {
        let r = Redactor::new(false);
        let out = r.header("Authorization", "Bearer abc.def.ghi");
        assert_eq!(out, format!("Bearer fp:{}", fingerprint("abc.def.ghi")));
    }

    #[test]
    fn json_masks_secret_members_recursively() {
        let r = Redactor::new(false);
        let v = serde_json::json!({"a": {"db_password": "hunter22", "client_secret": "s3cr3t"}, "ok": "x"});
        let out = r.json(&v).to_string();
        assert!(!out.contains("hunter22") && !out.contains("s3cr3t"));
        assert!(out.contains("\"ok\":\"x\""));
    }

    #[test]
    fn passwords_in_connection_strings_are_masked() {
        let r = Redactor::new(false);
        let out = r.scrub("url mongodb://app:Pw-123456@db.example:27017/x");
        assert!(!out.contains("Pw-123456"), "{out}");
        assert!(out.contains("mongodb://app:fp:"));
    }

    #[test]
    fn truncated_json_and_unlabelled_forms_and_numeric_secrets_are_masked() {
        let r = Redactor::new(false);
        let cut = r.body(r#"{"access_token":"eyJhbGciOi.abc.def","refresh_tok"#, None);
        assert!(!cut.contains("eyJhbGciOi"), "{cut}");
        let form = r.body("grant_type=password&password=hunter2hunter2", None);
        assert!(!form.contains("hunter2hunter2"), "{form}");
        let num = r.body(r#"{"otp":12345678}"#, Some("application/json"));
        assert!(!num.contains("12345678"), "{num}");
    }

    #[test]
    fn include_secrets_shows_everything() {
        let r = Redactor::new(true);
        assert_eq!(
            r.url("https://x/?code=abcdefgh"),
            "https://x/?code=abcdefgh"
        );
    }
}
