//! Driver that runs scenario steps as `curl` subprocesses against a served tenant, for
//! packet captures.
//!
//! Owns: turning a `Step` into curl arguments (`--resolve DOMAIN:PORT:127.0.0.1`, `--cacert`,
//! `--http1.1`/`--http2`), and parsing curl's `-D` header dump. Must not touch the tenant
//! directly (it may live in another process). Limits: app-origin pages and CORS preflights
//! are skipped (`browser_extras` is false); waits really sleep.

use std::path::PathBuf;
use std::process::Command;

use crate::http::Response;
use crate::scenario::{ScenarioError, Step, Transport};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVersion {
    Http1,
    /// `--http2` (ALPN over TLS; Upgrade: h2c over plain HTTP).
    Http2,
    /// `--http2-prior-knowledge` (plain HTTP only).
    Http2PriorKnowledge,
}

pub struct CurlDriver {
    pub domain: String,
    pub port: u16,
    pub https: bool,
    pub cacert: Option<PathBuf>,
    pub version: HttpVersion,
    pub curl: String,
    /// Waits longer than this are shortened (human think-time in browser scenarios);
    /// 3.5 s keeps the 3 s token-expiry wait of `m2m` real.
    pub max_wait_ms: u64,
    /// Extra arguments passed to every curl call (e.g. `--tls13-ciphers X`).
    pub extra_args: Vec<String>,
    workdir: PathBuf,
    counter: u32,
}

impl CurlDriver {
    pub fn new(
        domain: &str,
        port: u16,
        https: bool,
        cacert: Option<PathBuf>,
        version: HttpVersion,
    ) -> Self {
        let workdir =
            std::env::temp_dir().join(format!("mock-tenant-curl-{}-{}", std::process::id(), port));
        CurlDriver {
            domain: domain.to_string(),
            port,
            https,
            cacert,
            version,
            curl: "curl".into(),
            max_wait_ms: 3_500,
            extra_args: Vec::new(),
            workdir,
            counter: 0,
        }
    }

    fn rewrite(&self, url: &str) -> String {
        let prefix = format!("https://{}/", self.domain);
        match url.strip_prefix(&prefix) {
            Some(rest) => format!(
                "{}://{}:{}/{}",
                if self.https { "https" } else { "http" },
                self.domain,
                self.port,
                rest
            ),
            None => url.to_string(),
        }
    }
}

impl Drop for CurlDriver {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.workdir);
    }
}

/// Parses a curl `-D` dump; the last header block wins (after 100-continue).
pub fn parse_header_dump(dump: &str) -> Option<(u16, Vec<(String, String)>)> {
    let block = dump
        .split("\r\n\r\n")
        .filter(|b| b.starts_with("HTTP/"))
        .last()?;
    let mut lines = block.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some((status, headers))
}

impl Transport for CurlDriver {
    fn send(&mut self, step: Step) -> Result<Response, ScenarioError> {
        let terr = |detail: String| ScenarioError::Transport {
            step: step.name.clone(),
            detail,
        };
        std::fs::create_dir_all(&self.workdir).map_err(|e| terr(format!("workdir: {e}")))?;
        self.counter += 1;
        let hdr = self.workdir.join(format!("{}.hdr", self.counter));
        let out = self.workdir.join(format!("{}.body", self.counter));
        let inp = self.workdir.join(format!("{}.in", self.counter));
        let req = &step.request;
        let mut cmd = Command::new(&self.curl);
        cmd.arg("-sS")
            .arg("--path-as-is")
            .arg("--resolve")
            .arg(format!("{}:{}:127.0.0.1", self.domain, self.port));
        if let Some(ca) = &self.cacert {
            cmd.arg("--cacert").arg(ca);
        }
        match self.version {
            HttpVersion::Http1 => {
                cmd.arg("--http1.1");
            }
            HttpVersion::Http2 => {
                cmd.arg("--http2");
            }
            HttpVersion::Http2PriorKnowledge => {
                cmd.arg("--http2-prior-knowledge");
            }
        }
        cmd.args(&self.extra_args);
        cmd.arg("-X").arg(&req.method);
        for (k, v) in &req.headers {
            if k.eq_ignore_ascii_case("host") || k.eq_ignore_ascii_case("content-length") {
                continue;
            }
            cmd.arg("-H").arg(format!("{k}: {v}"));
        }
        if !req.body.is_empty() {
            std::fs::write(&inp, &req.body).map_err(|e| terr(format!("body file: {e}")))?;
            cmd.arg("--data-binary").arg(format!("@{}", inp.display()));
        }
        cmd.arg("-D")
            .arg(&hdr)
            .arg("-o")
            .arg(&out)
            .arg(self.rewrite(&req.url));
        let status = cmd
            .output()
            .map_err(|e| terr(format!("spawning {}: {e}", self.curl)))?;
        if !status.status.success() {
            return Err(terr(format!(
                "curl exited with {}: {}",
                status.status,
                String::from_utf8_lossy(&status.stderr).trim()
            )));
        }
        let dump = std::fs::read_to_string(&hdr).map_err(|e| terr(format!("header dump: {e}")))?;
        let (code, headers) =
            parse_header_dump(&dump).ok_or_else(|| terr("unparsable header dump".into()))?;
        let body = std::fs::read(&out).unwrap_or_default();
        Ok(Response {
            status: code,
            headers,
            body,
        })
    }

    fn wait_ms(&mut self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms.min(self.max_wait_ms)));
    }

    fn browser_extras(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_dump_takes_last_block() {
        let d = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nX-RateLimit-Limit: 5\r\n\r\n";
        let (s, h) = parse_header_dump(d).expect("parses");
        assert_eq!(s, 403);
        assert!(h.contains(&("x-ratelimit-limit".to_string(), "5".to_string())));
        assert!(parse_header_dump("garbage").is_none());
    }
}
