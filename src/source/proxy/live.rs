//! The analysis thread of the proxy: turns tapped records into `model::Exchange`s, pushes them
//! through `Engine`, and writes findings (terminal), events (JSON lines) and the HAR as they
//! happen. Runs on its own OS thread so the engine's synchronous work never stalls the proxy.
//!
//! Owns the engine, the redactor and the output writers. Must not keep exchanges after they are
//! written (memory stays flat; the engine's own tables are capped by `EngineConfig::flow_cap`).
//! The queue feeding it is bounded; the proxy drops (and counts) records when it is full.
//! Findings print through `sink::terminal::render_finding`, the same shape `analyze` uses.
//! On Linux the thread lowers its own scheduling priority (nice +10): when the CPUs are busy,
//! forwarding threads win the CPU and analysis catches up later (its queue is bounded and
//! drops are counted), which keeps analysis out of the proxy's latency tail. While busy it
//! drains the queue and then pauses `BUSY_PAUSE` instead of parking on it, so forwarding threads
//! do not pay a wake-up per record; the events stream is flushed whenever the queue is drained.

use std::io::Write;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderMap, Version};

use super::stats::ProxyStats;
use super::tap::{Captured, Tapped};
use crate::decode::body::decode_body;
use crate::engine::{Engine, EngineConfig};
use crate::model::{Body, Exchange, Finding, Headers, Origin, Request, Response, TlsInfo};
use crate::redact::Redactor;
use crate::sink::events::EventsWriter;
use crate::sink::prometheus::Metrics;

/// Something the proxy reports to the analysis thread.
#[derive(Debug)]
pub enum LiveMsg {
    Exchange(Box<Tapped>),
    Notice(Notice),
}

/// A proxy-level event worth telling the user about (e.g. a client refusing our certificate).
#[derive(Debug, Clone)]
pub struct Notice {
    pub time: i64,
    pub kind: &'static str,
    pub host: String,
    pub message: String,
}

/// Where the human-readable live output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    Stdout,
    Stderr,
    Discard,
}

impl Console {
    fn writer(&self) -> Box<dyn Write> {
        match self {
            Console::Stdout => Box::new(std::io::stdout().lock()),
            Console::Stderr => Box::new(std::io::stderr().lock()),
            Console::Discard => Box::new(std::io::sink()),
        }
    }
}

pub struct LiveConfig {
    pub tenants: Vec<String>,
    pub include_secrets: bool,
    pub body_cap: usize,
    pub flow_cap: usize,
    pub console: Console,
    pub events: Option<Box<dyn Write + Send>>,
    pub har: Option<Box<dyn HarSink + Send>>,
    pub flush_every: Duration,
}

/// What the analysis thread needs from a HAR writer.
pub trait HarSink {
    fn add(&mut self, ex: &Exchange, redactor: &Redactor) -> std::io::Result<()>;
    /// Make what was written so far durable and readable (timer, long runs).
    fn checkpoint(&mut self) -> std::io::Result<()>;
    /// Close the document (shutdown).
    fn finish(&mut self) -> std::io::Result<()>;
}

/// What the analysis thread did, for the run summary.
#[derive(Debug, Default, Clone)]
pub struct LiveSummary {
    pub exchanges: u64,
    pub findings: u64,
    pub notices: u64,
}

/// Run until every sender is gone; then flush and return the summary. `metrics: None`
/// (`--metrics-listen off`) skips all metric recording.
pub fn run(
    rx: Receiver<LiveMsg>,
    mut cfg: LiveConfig,
    stats: Arc<ProxyStats>,
    metrics: Option<Arc<Metrics>>,
) -> LiveSummary {
    if !lower_priority() {
        tracing::debug!(
            "could not lower the analysis thread's priority; it runs at normal priority"
        );
    }
    let mut engine = Engine::new(EngineConfig {
        tenants: cfg.tenants.clone(),
        jwks: Vec::new(),
        flow_cap: cfg.flow_cap,
    });
    let mut redactor = Redactor::new(cfg.include_secrets);
    let mut events = cfg.events.take().map(EventsWriter::new);
    let mut summary = LiveSummary::default();
    let mut index = 0usize;
    let mut next_checkpoint = Instant::now() + cfg.flush_every;
    let mut busy = false;
    loop {
        if Instant::now() >= next_checkpoint {
            // On a timer, busy or idle (a long busy run must not wait for a quiet moment).
            next_checkpoint = Instant::now() + cfg.flush_every;
            if let Some(h) = cfg.har.as_mut() {
                if h.checkpoint().is_err() {
                    note_har_error(&stats);
                }
            }
        }
        let msg = match rx.try_recv() {
            Ok(m) => m,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                // The queue is drained: a good moment to flush the events stream.
                if let Some(w) = events.as_mut() {
                    let _ = w.flush();
                }
                if busy {
                    // Busy: let records pile up for a moment instead of parking on the queue,
                    // which would make every forwarded request pay a futex wake-up.
                    busy = false;
                    std::thread::sleep(BUSY_PAUSE);
                    continue;
                }
                match rx.recv_timeout(cfg.flush_every) {
                    Ok(m) => m,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        };
        busy = true;
        match msg {
            LiveMsg::Exchange(t) => {
                let ex = to_exchange(*t, index, cfg.body_cap);
                index += 1;
                summary.exchanges += 1;
                let pushed =
                    crate::ingest::exchange(&mut engine, &mut redactor, metrics.as_deref(), &ex);
                engine.maintain(ex.started);
                if let Some(m) = &metrics {
                    m.set_flows_active(engine.flows_active());
                }
                if let Some(w) = events.as_mut() {
                    if w.exchange(&ex, &redactor).is_err() {
                        note_events_error(&stats);
                    }
                }
                if let Some(h) = cfg.har.as_mut() {
                    if h.add(&ex, &redactor).is_err() {
                        note_har_error(&stats);
                    }
                }
                emit_findings(
                    &pushed.findings,
                    &redactor,
                    &mut events,
                    &cfg.console,
                    &stats,
                );
                summary.findings += pushed.findings.len() as u64;
            }
            LiveMsg::Notice(n) => {
                summary.notices += 1;
                let mut out = cfg.console.writer();
                let _ = writeln!(
                    out,
                    "authtap: warning: {} ({}): {}",
                    n.host,
                    n.kind,
                    redactor.scrub(&n.message)
                );
                if let Some(w) = events.as_mut() {
                    if w.notice(n.time, n.kind, &n.host, &n.message, &redactor)
                        .and_then(|_| w.flush())
                        .is_err()
                    {
                        note_events_error(&stats);
                    }
                }
            }
        }
    }
    let last = engine.finish();
    if let Some(m) = &metrics {
        m.observe_findings(&last);
    }
    summary.findings += last.len() as u64;
    emit_findings(&last, &redactor, &mut events, &cfg.console, &stats);
    if let Some(h) = cfg.har.as_mut() {
        if h.finish().is_err() {
            note_har_error(&stats);
        }
    }
    if let Some(w) = events.as_mut() {
        let _ = w.flush();
    }
    summary
}

/// How long the analysis thread waits, after draining its queue while busy, before looking again
/// (instead of parking on the queue). Live output lags by at most this much under load, and the
/// forwarding threads skip a futex wake-up per record.
pub const BUSY_PAUSE: Duration = Duration::from_millis(1);

/// Nice value of the analysis thread (Linux): forwarding threads keep the default 0.
pub const ANALYSIS_NICE: i32 = 10;

/// Lower the calling thread's priority to `ANALYSIS_NICE` (never raises it: a thread already
/// nicer stays so); false if the platform or the kernel refused.
#[cfg(target_os = "linux")]
fn lower_priority() -> bool {
    let tid = rustix::thread::gettid();
    match rustix::process::getpriority_process(Some(tid)) {
        Ok(current) if current >= ANALYSIS_NICE => true,
        _ => rustix::process::setpriority_process(Some(tid), ANALYSIS_NICE).is_ok(),
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() -> bool {
    false
}

fn note_har_error(stats: &ProxyStats) {
    if let Ok(mut l) = stats.live.lock() {
        l.har_write_errors += 1;
    }
}

fn note_events_error(stats: &ProxyStats) {
    if let Ok(mut l) = stats.live.lock() {
        l.events_write_errors += 1;
    }
}

fn emit_findings<W: Write>(
    findings: &[Finding],
    redactor: &Redactor,
    events: &mut Option<EventsWriter<W>>,
    console: &Console,
    stats: &ProxyStats,
) {
    if findings.is_empty() {
        return;
    }
    let mut out = console.writer();
    for f in findings {
        let _ = write!(out, "{}", format_finding(f, redactor, console));
        if let Some(w) = events.as_mut() {
            if w.finding(f, redactor).is_err() {
                note_events_error(stats);
            }
        }
    }
    let _ = out.flush();
}

/// A finding in the same shape as `analyze` prints it (no raw secrets).
pub fn format_finding(f: &Finding, r: &Redactor, console: &Console) -> String {
    use std::io::IsTerminal;
    let color = std::env::var_os("NO_COLOR").is_none()
        && match console {
            Console::Stdout => std::io::stdout().is_terminal(),
            Console::Stderr => std::io::stderr().is_terminal(),
            Console::Discard => false,
        };
    crate::sink::terminal::render_finding(f, r, crate::sink::terminal::Style { color })
}

fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/?",
    }
}

fn headers(h: &HeaderMap) -> Headers {
    h.iter()
        .map(|(n, v)| (n.as_str(), String::from_utf8_lossy(v.as_bytes())))
        .collect()
}

fn body(
    which: &str,
    h: &HeaderMap,
    cap: &Captured,
    body_cap: usize,
    notes: &mut Vec<String>,
) -> Body {
    let enc = h
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let decoded = decode_body(enc, &cap.data, body_cap);
    if let Some(e) = decoded.error {
        // A copy cut at the cap usually ends mid-stream; say so rather than blame the server.
        let why = if cap.capped || !cap.complete {
            " (the tapped copy is incomplete)"
        } else {
            ""
        };
        notes.push(format!("{which} body: {e}{why}"));
    }
    if cap.capped {
        notes.push(format!(
            "{which} body truncated at {body_cap} bytes ({} bytes streamed)",
            cap.seen
        ));
    }
    if decoded.truncated {
        notes.push(format!(
            "{which} body decoded output truncated at {body_cap} bytes"
        ));
    }
    if !cap.complete {
        notes.push(format!(
            "{which} body ended early after {} bytes (peer disconnected or stream reset)",
            cap.seen
        ));
    }
    Body {
        data: decoded.data,
        truncated: cap.capped || decoded.truncated || !cap.complete,
        mime: h
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|m| m.to_owned().into()),
    }
}

/// Build the shared `Exchange` from one tapped record.
pub fn to_exchange(t: Tapped, index: usize, body_cap: usize) -> Exchange {
    let mut notes = Vec::new();
    let req_body = body(
        "request",
        &t.request_headers,
        &t.request_body,
        body_cap,
        &mut notes,
    );
    let mut url = t.uri.to_string();
    if let Some(i) = url.find('#') {
        url.truncate(i);
    }
    let response = t.response.as_ref().map(|r| Response {
        status: r.status.as_u16(),
        status_text: r.status.canonical_reason().unwrap_or("").into(),
        http_version: version_str(r.version).into(),
        headers: headers(&r.headers),
        body: body("response", &r.headers, &r.body, body_cap, &mut notes),
    });
    if let Some(e) = &t.error {
        notes.push(format!("no upstream response: {e}"));
    }
    if let Some(tls) = t.upstream_tls {
        notes.push(format!(
            "upstream {} over {tls}{}",
            t.upstream_addr.as_deref().unwrap_or("?"),
            t.upstream_alpn
                .as_deref()
                .map(|a| format!(" (ALPN {a})"))
                .unwrap_or_default()
        ));
    }
    let started = t
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_micros()).ok());
    Exchange {
        input: 0,
        index,
        started,
        duration_ms: Some(t.duration.as_secs_f64() * 1000.0),
        request: Request {
            method: t.method.as_str().to_string().into(),
            url,
            http_version: version_str(t.version).into(),
            headers: headers(&t.request_headers),
            body: req_body,
        },
        response,
        origin: Origin {
            connection: Some(t.conn.connection.as_str().into()),
            server_addr: t.upstream_addr.as_deref().map(Into::into),
            tls: t.conn.intercepted_tls.then(|| TlsInfo {
                sni: t.conn.sni.clone(),
                version: t.conn.client_tls_version.map(str::to_owned),
                alpn: t.conn.client_alpn.clone(),
                decrypted: true,
            }),
        },
        notes,
    }
}

#[cfg(all(test, target_os = "linux"))]
mod priority_tests {
    #[test]
    fn lowering_priority_applies_to_the_calling_thread_only() {
        let before = rustix::process::getpriority_process(None).unwrap_or(0);
        let (nice, ok) = std::thread::spawn(|| {
            let ok = super::lower_priority();
            let tid = rustix::thread::gettid();
            (
                rustix::process::getpriority_process(Some(tid)).unwrap_or(0),
                ok,
            )
        })
        .join()
        .unwrap_or((0, false));
        assert!(ok, "setpriority refused");
        assert!(nice >= super::ANALYSIS_NICE, "nice {nice}");
        let after = rustix::process::getpriority_process(None).unwrap_or(0);
        assert_eq!(before, after, "the calling thread keeps its priority");
    }
}
