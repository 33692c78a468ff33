//! `authtap token [JWT|-] [--jwks FILE] [--format text|json]`: decode and explain one token.
//!
//! Owns reading the token (argument, or stdin when `-`/absent; a pasted `Bearer ` prefix is
//! dropped), the optional JWKS file, and the explanation: format, role guess, header, claims with
//! secret-looking values masked (by name via `crate::redact`, or by value shape: URLs with
//! credentials, `password=` connection strings, PEM keys, AWS keys — at any depth, e.g. inside a
//! namespaced `https://ns/app_metadata` object), iat/exp as dates, expiry, scopes, audience and
//! signature state. The raw token is never printed, only its fingerprint (unless
//! `--include-secrets`). Must not analyse traffic. Known limits: JWE payloads cannot be read.

use std::io::{Read, Write};
use std::sync::OnceLock;

use anyhow::Context;
use regex::Regex;
use serde_json::{json, Map, Value};

use crate::cli::{Format, TokenArgs};
use crate::decode::jwt::{compact_header, decode, guess_role, KeyStore, VerifyOutcome};
use crate::model::{Token, TokenFormat, TokenRole, Verification};
use crate::redact::{is_secret_param, looks_secret_key, Redactor};

/// Largest token read from stdin.
const MAX_INPUT: u64 = 1024 * 1024;

pub fn run(args: &TokenArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let raw = match args.jwt.as_deref() {
        Some(t) if t != "-" => t.to_string(),
        _ => {
            let mut s = String::new();
            std::io::stdin()
                .take(MAX_INPUT)
                .read_to_string(&mut s)
                .context("reading the token from stdin")?;
            s
        }
    };
    let jwks = match &args.jwks {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("{}: cannot read JWKS file", p.display()))?,
        ),
        None => None,
    };
    let now = chrono::Utc::now().timestamp();
    let jwks_ref = jwks.as_deref().map(|j| {
        (
            args.jwks
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            j,
        )
    });
    explain(&raw, jwks_ref, args.format, args.include_secrets, now, out)
}

fn secret_value_re() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]+:[^@\s/]+@)|\b(password|pwd|passwd)\s*=|-----BEGIN [A-Z ]*PRIVATE KEY|\bAKIA[0-9A-Z]{16}\b|\b(sk_live|sk_test|xox[bp])_?[A-Za-z0-9-]{10,}",
        )
        .ok()
    })
    .as_ref()
}

/// Whether a claim value looks like a secret whatever its name.
pub fn looks_secret_value(v: &str) -> bool {
    secret_value_re().is_some_and(|re| re.is_match(v))
}

/// Claims with secret-looking values replaced by their display form; `paths` collects where.
fn mask(value: &Value, path: &str, red: &Redactor, paths: &mut Vec<String>) -> Value {
    match value {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let by_name = is_secret_param(k) || looks_secret_key(k);
                let shown = match v {
                    Value::String(s) if by_name || looks_secret_value(s) => {
                        paths.push(p.clone());
                        Value::String(red.show(s))
                    }
                    Value::Number(_) | Value::Bool(_) if by_name => {
                        paths.push(p.clone());
                        Value::String(red.show(&v.to_string()))
                    }
                    _ => mask(v, &p, red, paths),
                };
                out.insert(k.clone(), shown);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| mask(v, &format!("{path}[{i}]"), red, paths))
                .collect(),
        ),
        Value::String(s) if looks_secret_value(s) => {
            paths.push(path.to_string());
            Value::String(red.show(s))
        }
        other => other.clone(),
    }
}

fn date(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| format!("(out of range: {ts})"))
}

fn span(secs: i64) -> String {
    let s = secs.unsigned_abs();
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

fn role_str(r: TokenRole) -> &'static str {
    match r {
        TokenRole::Access => "access token",
        TokenRole::Id => "ID token",
        TokenRole::Refresh => "refresh token",
        TokenRole::Unknown => "unknown",
    }
}

fn role_why(t: &Token) -> &'static str {
    let Some(j) = &t.jwt else {
        return "not a JWT: Auth0 issues opaque/JWE access tokens when no `audience` was requested (auth0-facts.md §4.1)";
    };
    if j.claims.get("nonce").is_some() || j.claims.get("at_hash").is_some() {
        return "has `nonce`/`at_hash`, which only ID tokens carry";
    }
    match guess_role(t) {
        TokenRole::Id => {
            "`aud` is a client id (not an API URL) and there is no scope/permissions/gty"
        }
        _ => "`aud` names an API, or it carries scope/permissions/gty",
    }
}

fn verification_json(v: &VerifyOutcome) -> Value {
    let mut obj = serde_json::to_value(&v.verification).unwrap_or(Value::Null);
    if let (Value::Object(m), Some(r)) = (&mut obj, &v.reason) {
        m.insert("reason".into(), Value::String(r.clone()));
    }
    obj
}

fn verification_text(v: &VerifyOutcome) -> String {
    let base = match &v.verification {
        Verification::NotVerified => "not verified".to_string(),
        Verification::Valid { kid } => {
            format!("valid signature (kid {})", kid.as_deref().unwrap_or("none"))
        }
        Verification::Invalid { reason } => format!("INVALID: {reason}"),
        Verification::Unsigned => "UNSIGNED (alg: none)".to_string(),
    };
    match &v.reason {
        Some(r) if !matches!(v.verification, Verification::Unsigned) => format!("{base} — {r}"),
        _ => base,
    }
}

/// Explain one token. `jwks` is (file name, content). `now` is Unix seconds.
pub fn explain(
    input: &str,
    jwks: Option<(String, &str)>,
    format: Format,
    include_secrets: bool,
    now: i64,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut raw = input.trim();
    if let Some(rest) = raw
        .strip_prefix("Bearer ")
        .or_else(|| raw.strip_prefix("bearer "))
    {
        raw = rest.trim();
    }
    if raw.is_empty() {
        anyhow::bail!("no token given: pass it as an argument or on stdin");
    }
    let red = Redactor::new(include_secrets);
    let token = decode(raw, TokenRole::Unknown);
    let mut keys = KeyStore::new();
    if let Some((name, text)) = jwks {
        keys.add_jwks(text)
            .with_context(|| format!("{name}: not a usable JWKS"))?;
    }
    let ver = keys.verify_explained(&token);
    let shown_token = red.show(raw);
    let mut masked_paths = Vec::new();
    let header = token
        .jwt
        .as_ref()
        .map(|j| (*j.header).clone())
        .or_else(|| compact_header(raw));
    let claims = token
        .jwt
        .as_ref()
        .map(|j| mask(&j.claims, "", &red, &mut masked_paths));
    let jwt = token.jwt.as_ref();
    let iat = jwt
        .and_then(|j| j.claims.get("iat"))
        .and_then(Value::as_i64);
    let exp = jwt.and_then(|j| j.exp());
    let scopes = jwt.map(|j| j.scopes()).unwrap_or_default();
    let audience = jwt.map(|j| j.audiences()).unwrap_or_default();
    let issuer = jwt.and_then(|j| j.claim_str("iss")).map(str::to_string);
    let format_str = match token.format {
        TokenFormat::Jwt => "jwt",
        TokenFormat::Jwe => "jwe",
        TokenFormat::Opaque => "opaque",
    };

    match format {
        Format::Json => {
            let doc = json!({
                "token": shown_token,
                "fingerprint": token.fingerprint,
                "format": format_str,
                "role": token.role,
                "role_reason": role_why(&token),
                "header": header,
                "claims": claims,
                "masked_claims": masked_paths,
                "issuer": issuer,
                "audience": audience,
                "scopes": scopes,
                "issued_at": iat.map(date),
                "expires_at": exp.map(date),
                "expired": exp.map(|e| e <= now),
                "verification": verification_json(&ver),
            });
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        }
        Format::Text => {
            writeln!(out, "token      {shown_token}")?;
            let fmt_line = match token.format {
                TokenFormat::Jwt => "JWT (signed, 3 parts)".to_string(),
                TokenFormat::Jwe => "JWE (encrypted, 5 parts): Auth0's opaque access token for /userinfo; request an `audience` to get a JWT (auth0-facts.md §4.1)".to_string(),
                TokenFormat::Opaque => format!("opaque ({} characters, not a JWT)", raw.chars().count()),
            };
            writeln!(out, "format     {fmt_line}")?;
            writeln!(
                out,
                "role       {} ({})",
                role_str(token.role),
                role_why(&token)
            )?;
            if let Some(h) = &header {
                writeln!(out, "header     {h}")?;
            }
            if let Some(Value::Object(c)) = &claims {
                writeln!(out, "claims")?;
                let width = c.keys().map(|k| k.len()).max().unwrap_or(0).min(40);
                for (k, v) in c {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    writeln!(out, "  {k:<width$}  {v}")?;
                }
            } else if let Some(c) = &claims {
                writeln!(out, "claims     {c}")?;
            }
            if !masked_paths.is_empty() {
                writeln!(
                    out,
                    "masked     {} (secret-looking values; tokens must not carry them)",
                    masked_paths.join(", ")
                )?;
            }
            if let Some(i) = issuer {
                writeln!(out, "issuer     {i}")?;
            }
            if !audience.is_empty() {
                writeln!(out, "audience   {}", audience.join(", "))?;
            }
            if jwt.is_some() {
                let sc = if scopes.is_empty() {
                    "(none)".to_string()
                } else {
                    scopes.join(" ")
                };
                writeln!(out, "scopes     {sc}")?;
            }
            if let Some(i) = iat {
                writeln!(out, "issued     {} ({} ago)", date(i), span(now - i))?;
            }
            if let Some(e) = exp {
                let state = if e <= now {
                    format!("EXPIRED {} ago", span(now - e))
                } else {
                    format!("valid for {} more", span(e - now))
                };
                writeln!(out, "expires    {} ({state})", date(e))?;
            }
            writeln!(out, "signature  {}", verification_text(&ver))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn b64(v: &Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn run_text(tok: &str, fmt: Format) -> String {
        let mut out = Vec::new();
        explain(tok, None, fmt, false, 1_700_000_000, &mut out).expect("explain");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn id_token_with_secret_app_metadata_is_masked() {
        let claims = json!({
            "iss":"https://dev-x.us.auth0.com/","sub":"auth0|123","aud":"AbCClientId",
            "iat":1_699_990_000,"exp":1_699_999_000,"nonce":"n",
            "https://example.com/app_metadata": {"couchdb": {"url": "https://admin:hunter2pass@db.example.com:6984", "db_password": "S3cr3tP4ss"}, "plan": "pro"}
        });
        let tok = format!(
            "{}.{}.c2ln",
            b64(&json!({"alg":"RS256","kid":"k"})),
            b64(&claims)
        );
        for fmt in [Format::Text, Format::Json] {
            let text = run_text(&tok, fmt);
            assert!(!text.contains("hunter2pass"), "{text}");
            assert!(!text.contains("S3cr3tP4ss"), "{text}");
            assert!(!text.contains(&tok), "raw token printed");
            assert!(text.contains("pro"));
            assert!(
                text.contains("https://example.com/app_metadata.couchdb.db_password"),
                "{text}"
            );
        }
        let text = run_text(&tok, Format::Text);
        assert!(text.contains("ID token"));
        assert!(text.contains("EXPIRED"));
        assert!(text.contains(&crate::model::fingerprint(&tok)));
    }

    #[test]
    fn json_output_fields() {
        let claims = json!({"iss":"https://t.auth0.com/","aud":["https://api.example.com","https://t.auth0.com/userinfo"],"scope":"openid read:patients","exp":1_800_000_000,"iat":1_700_000_000});
        let tok = format!(
            "Bearer {}.{}.c2ln",
            b64(&json!({"alg":"RS256"})),
            b64(&claims)
        );
        let v: Value = serde_json::from_str(&run_text(&tok, Format::Json)).expect("json");
        assert_eq!(v["format"], "jwt");
        assert_eq!(v["role"], "access");
        assert_eq!(v["expired"], false);
        assert_eq!(v["audience"][1], "https://t.auth0.com/userinfo");
        assert_eq!(v["scopes"][1], "read:patients");
        assert_eq!(v["verification"]["state"], "not_verified");
        assert!(v["token"].as_str().unwrap_or("").starts_with("fp:"));
    }

    #[test]
    fn jwe_opaque_and_unsigned() {
        let jwe = format!(
            "{}..iv.ct.tag",
            b64(&json!({"alg":"dir","enc":"A256GCM","iss":"https://t.us.auth0.com/"}))
        );
        let t = run_text(&jwe, Format::Text);
        assert!(t.contains("JWE"));
        assert!(t.contains("A256GCM"));
        let t = run_text("Jq2XuLrQ3KH9tBxWIQ9xN2QkOmhEyn1v", Format::Text);
        assert!(t.contains("opaque (32 characters"));
        assert!(!t.contains("Jq2XuLrQ3KH9tBxWIQ9xN2QkOmhEyn1v"));
        let none = format!(
            "{}.{}.",
            b64(&json!({"alg":"none"})),
            b64(&json!({"sub":"x"}))
        );
        assert!(run_text(&none, Format::Text).contains("UNSIGNED"));
    }

    #[test]
    fn verifies_with_jwks_and_reports_bad_jwks() {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!(
            "../decode/testdata/rsa_test_key.pem"
        ))
        .expect("key");
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        h.kid = Some("test-rsa-1".into());
        let tok = jsonwebtoken::encode(&h, &json!({"aud":"https://x/","scope":"a:b"}), &key)
            .expect("sign");
        let jwks = include_str!("../decode/testdata/rsa_test_jwks.json");
        let mut out = Vec::new();
        explain(
            &tok,
            Some(("jwks.json".into(), jwks)),
            Format::Text,
            false,
            0,
            &mut out,
        )
        .expect("ok");
        assert!(String::from_utf8_lossy(&out).contains("valid signature (kid test-rsa-1)"));
        let err = explain(
            &tok,
            Some(("bad.json".into(), "{")),
            Format::Text,
            false,
            0,
            &mut Vec::new(),
        )
        .expect_err("bad jwks");
        assert!(format!("{err:#}").contains("bad.json"));
        assert!(explain("  ", None, Format::Text, false, 0, &mut Vec::new()).is_err());
    }

    #[test]
    fn include_secrets_shows_values() {
        let tok = format!(
            "{}.{}.c2ln",
            b64(&json!({"alg":"RS256"})),
            b64(&json!({"aud":"c","db_password":"S3cr3tP4ss"}))
        );
        let mut out = Vec::new();
        explain(&tok, None, Format::Text, true, 0, &mut out).expect("ok");
        assert!(String::from_utf8_lossy(&out).contains("S3cr3tP4ss"));
    }
}
