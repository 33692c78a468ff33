//! JSON-lines event stream (`--events FILE|-`): one object per exchange, per finding and per
//! proxy notice, each on its own line, everything passed through `Redactor`.
//!
//! Wire format (version 1; fields are only ever added):
//! - `{"type":"exchange","v":1,"input","index","time","duration_ms","method","url","status",
//!    "http_version","request":{"headers":[[name,value]...],"body","body_truncated"},
//!    "response":{...same...} | null,"tls":{...} | null,"server":..,"notes":[...]}`
//! - `{"type":"finding","v":1,"rule","severity","title","explanation","fix","flow","evidence":[...]}`
//! - `{"type":"notice","v":1,"time","kind","host","message"}`
//!
//! Must not write a raw secret: URLs, headers and bodies are redacted structurally and free text
//! is scrubbed. Known limit: bodies are cut to `BODY_CHARS` characters per line to keep lines
//! bounded (`body_truncated` is then true).

use std::io::Write;

use serde_json::{json, Value};

use crate::model::{Body, Exchange, Finding, Headers, Micros};
use crate::redact::Redactor;

/// Longest body text (in characters) written into one event.
pub const BODY_CHARS: usize = 16 * 1024;

/// Writes events as JSON lines.
pub struct EventsWriter<W: Write> {
    out: W,
    pub written: u64,
}

impl<W: Write> EventsWriter<W> {
    pub fn new(out: W) -> Self {
        Self { out, written: 0 }
    }

    pub fn exchange(&mut self, ex: &Exchange, r: &Redactor) -> std::io::Result<()> {
        self.line(&exchange_json(ex, r))
    }

    pub fn finding(&mut self, f: &Finding, r: &Redactor) -> std::io::Result<()> {
        self.line(&finding_json(f, r))
    }

    pub fn notice(
        &mut self,
        time: Micros,
        kind: &str,
        host: &str,
        message: &str,
        r: &Redactor,
    ) -> std::io::Result<()> {
        self.line(&json!({
            "type": "notice",
            "v": 1,
            "time": time,
            "kind": kind,
            "host": host,
            "message": r.scrub(message),
        }))
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    fn line(&mut self, v: &Value) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, v)?;
        self.out.write_all(b"\n")?;
        self.written += 1;
        Ok(())
    }
}

fn headers_json(h: &Headers, r: &Redactor) -> Value {
    Value::Array(h.iter().map(|(n, v)| json!([n, r.header(n, v)])).collect())
}

fn body_json(b: &Body, r: &Redactor) -> (Value, bool) {
    if b.data.is_empty() {
        return (Value::Null, b.truncated);
    }
    let text = b.text();
    let shown = r.body(&text, b.mime.as_deref());
    let mut truncated = b.truncated;
    let shown = if shown.chars().count() > BODY_CHARS {
        truncated = true;
        shown.chars().take(BODY_CHARS).collect()
    } else {
        shown
    };
    (Value::String(shown), truncated)
}

pub fn exchange_json(ex: &Exchange, r: &Redactor) -> Value {
    let (req_body, req_trunc) = body_json(&ex.request.body, r);
    let response = ex.response.as_ref().map(|resp| {
        let (body, trunc) = body_json(&resp.body, r);
        json!({
            "status": resp.status,
            "http_version": resp.http_version,
            "headers": headers_json(&resp.headers, r),
            "body": body,
            "body_truncated": trunc,
        })
    });
    json!({
        "type": "exchange",
        "v": 1,
        "input": ex.input,
        "index": ex.index,
        "time": ex.started,
        "duration_ms": ex.duration_ms,
        "method": ex.request.method,
        "url": r.url(&ex.request.url),
        "status": ex.status(),
        "http_version": ex.request.http_version,
        "request": {
            "headers": headers_json(&ex.request.headers, r),
            "body": req_body,
            "body_truncated": req_trunc,
        },
        "response": response,
        "tls": ex.origin.tls,
        "connection": ex.origin.connection,
        "server": ex.origin.server_addr,
        "notes": ex.notes.iter().map(|n| r.scrub(n)).collect::<Vec<_>>(),
    })
}

pub fn finding_json(f: &Finding, r: &Redactor) -> Value {
    json!({
        "type": "finding",
        "v": 1,
        "rule": f.rule,
        "severity": f.severity,
        "title": r.scrub(&f.title),
        "explanation": r.scrub(&f.explanation),
        "fix": r.scrub(&f.fix),
        "flow": f.flow,
        "evidence": f.evidence.iter().map(|e| json!({
            "input": e.input,
            "index": e.index,
            "time": e.time,
            "method": e.method,
            "url": r.url(&e.url),
            "status": e.status,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Request, Response, Severity};

    fn ex() -> Exchange {
        let mut req_h = Headers::default();
        req_h.push("Authorization", "Bearer eyJraWQ.secretpayload.sig");
        req_h.push("Accept", "application/json");
        let mut resp_h = Headers::default();
        resp_h.push("Set-Cookie", "sess=topsecretcookie; Path=/");
        Exchange {
            request: Request {
                method: "POST".into(),
                url: "https://t.auth0.com/oauth/token?code=abcdefgh1234".into(),
                http_version: "HTTP/1.1".into(),
                headers: req_h,
                body: Body {
                    data: b"grant_type=client_credentials&client_secret=hunter2hunter2".to_vec(),
                    truncated: false,
                    mime: Some("application/x-www-form-urlencoded".into()),
                },
            },
            response: Some(Response {
                status: 200,
                http_version: "HTTP/1.1".into(),
                headers: resp_h,
                body: Body {
                    data: br#"{"access_token":"opaqueAccessToken123","token_type":"Bearer"}"#
                        .to_vec(),
                    truncated: false,
                    mime: Some("application/json".into()),
                },
                ..Response::default()
            }),
            ..Exchange::default()
        }
    }

    #[test]
    fn exchange_line_has_no_raw_secrets() {
        let r = Redactor::new(false);
        let mut w = EventsWriter::new(Vec::new());
        w.exchange(&ex(), &r).expect("write");
        let text = String::from_utf8(w.out).expect("utf8");
        for secret in [
            "secretpayload",
            "topsecretcookie",
            "hunter2hunter2",
            "opaqueAccessToken123",
            "abcdefgh1234",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        let v: Value = serde_json::from_str(text.trim()).expect("json line");
        assert_eq!(v["type"], "exchange");
        assert_eq!(v["status"], 200);
        assert_eq!(v["request"]["headers"][1][1], "application/json");
        assert!(text.ends_with('\n') && text.matches('\n').count() == 1);
    }

    #[test]
    fn finding_line_scrubs_registered_secrets() {
        let mut r = Redactor::new(false);
        r.register("registeredsecret42");
        let f = Finding {
            rule: "token-in-url",
            severity: Severity::Error,
            title: "t".into(),
            explanation: "you sent registeredsecret42 in the URL".into(),
            fix: "f".into(),
            flow: Some(3),
            evidence: vec![],
        };
        let v = finding_json(&f, &r);
        assert_eq!(v["rule"], "token-in-url");
        assert_eq!(v["severity"], "error");
        assert!(!v.to_string().contains("registeredsecret42"));
    }
}
