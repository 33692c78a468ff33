//! `authtap capture`: passive live capture → the shared pipeline → findings, `--events`, /metrics.
//!
//! Owns: composing the live source (`source::live`, feature `live`), the key log tailer, the
//! sans-I/O capture pipeline, the engine and the sinks (terminal findings on stderr, JSON lines
//! to `--events`, the Prometheus registry served on `--metrics-listen`), and shutdown on Ctrl-C
//! or SIGTERM (frames the kernel captured before the stop are still read and analysed).
//! Two threads: the capture thread reads libpcap and runs the pipeline (TCP, TLS, HTTP); it hands
//! the decoded exchanges to the analysis thread (engine, metrics, events, findings) through a
//! bounded queue (`source::handoff`) and never waits for it, so a slow analysis cannot make the
//! kernel drop packets (which would break TCP streams and TLS sessions).
//! Must not: parse packets or decide findings itself; print a secret (events and findings go
//! through `Redactor`; key log lines are never shown).
//! Known limits: one interface per process; frames are read in batches of `BATCH` (packet/byte
//! and drop counters are synced to the registry once a second, not per packet); when the queue is
//! full (`QUEUE_BATCHES` batches or about `QUEUE_BYTES` bytes) the newest batch of exchanges is
//! dropped and counted as `authtap_dropped_total{stage="analysis",reason="buffer"}`; the key log
//! is polled every `KEYLOG_EVERY` between batches; records wait for their keys (up to
//! `tls::PENDING_CAP` per connection), even after the connection closed (`pipeline::PARK_GRACE`,
//! checked against the wall clock once a second, or until the capture ends).

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::cli::CaptureArgs;
use crate::sink::prometheus::Metrics;

/// Frames read per batch.
pub const BATCH: usize = 512;
/// Batches of decoded output the analysis queue holds.
pub const QUEUE_BATCHES: usize = 8192;
/// Bytes (estimated) the analysis queue holds.
pub const QUEUE_BYTES: usize = 64 << 20;

/// What a finished capture run saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureSummary {
    pub packets: u64,
    /// Exchanges analysed (decoded and handed to the engine).
    pub exchanges: u64,
    pub findings: u64,
    pub kernel_dropped: u64,
    /// Pipeline outputs (exchanges, undecryptable-session notices) the full analysis queue refused.
    pub analysis_dropped: u64,
}

/// Handed to the `ready` callback once the interface is open and /metrics is listening.
#[derive(Debug, Clone)]
pub struct Ready {
    pub metrics: Arc<Metrics>,
    pub metrics_addr: SocketAddr,
}

/// Runs until Ctrl-C (SIGINT) or SIGTERM.
pub fn run(args: &CaptureArgs) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    run_until(args, stop, |_| {}).map(|_| ())
}

#[cfg(not(feature = "live"))]
pub fn run_until(
    args: &CaptureArgs,
    stop: Arc<AtomicBool>,
    ready: impl FnOnce(&Ready),
) -> anyhow::Result<CaptureSummary> {
    let _ = (args, stop, ready);
    Err(crate::source::live::LiveError::NotBuilt.into())
}

/// Runs until `stop` is set (or a signal arrives); `ready` is called once capture started.
#[cfg(feature = "live")]
pub fn run_until(
    args: &CaptureArgs,
    stop: Arc<AtomicBool>,
    ready: impl FnOnce(&Ready),
) -> anyhow::Result<CaptureSummary> {
    imp::run_until(args, stop, ready)
}

#[cfg(feature = "live")]
mod imp {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use anyhow::Context as _;

    use super::*;
    use crate::capture::keylog::KeyLog;
    use crate::capture::pipeline::{CaptureStats, Pipeline, PipelineConfig};
    use crate::capture::CaptureOutput;
    use crate::engine::{Engine, EngineConfig};
    use crate::model::{now_micros, Finding};
    use crate::redact::Redactor;
    use crate::sink::events::EventsWriter;
    use crate::sink::prometheus::server;
    use crate::source::handoff::{handoff, HandoffRx};
    use crate::source::keylog_tail::KeylogTail;
    use crate::source::live::{LiveCapture, LiveConfig};
    use crate::telemetry::{DropReason, DropStage};

    /// Flows kept by the engine.
    const FLOW_CAP: usize = 10_000;
    /// How often kernel stats and pipeline counters are synced to the registry.
    const SYNC_EVERY: Duration = Duration::from_secs(1);
    /// How often the key log is polled (the TLS layer holds records until their keys arrive).
    const KEYLOG_EVERY: Duration = Duration::from_millis(10);
    /// Decoded outputs are handed over once this many are pending, or `HANDOFF_EVERY` after the
    /// first of them (fewer, larger batches cost less to queue).
    const HANDOFF_ITEMS: usize = 256;
    const HANDOFF_EVERY: Duration = Duration::from_millis(5);

    /// `--events` destination (`-` is stdout): the shared JSON-lines writer, redacted.
    fn open_events(spec: &str) -> anyhow::Result<EventsWriter<Box<dyn Write + Send>>> {
        let out: Box<dyn Write + Send> = if spec == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(std::io::BufWriter::new(
                crate::sink::private_file::create(std::path::Path::new(spec))
                    .with_context(|| format!("creating events file {spec}"))?,
            ))
        };
        Ok(EventsWriter::new(out))
    }

    /// Everything downstream of the pipeline.
    struct Sinks {
        engine: Engine,
        metrics: Arc<Metrics>,
        redactor: Redactor,
        events: Option<EventsWriter<Box<dyn Write + Send>>>,
        findings_to_stdout: bool,
        summary: CaptureSummary,
    }

    impl Sinks {
        fn output(&mut self, out: CaptureOutput) -> anyhow::Result<()> {
            match out {
                CaptureOutput::Exchange(ex) => {
                    self.summary.exchanges += 1;
                    let pushed = crate::ingest::exchange(
                        &mut self.engine,
                        &mut self.redactor,
                        Some(&self.metrics),
                        &ex,
                    );
                    self.engine.maintain(ex.started);
                    if let Some(events) = &mut self.events {
                        events
                            .exchange(&ex, &self.redactor)
                            .context("writing --events")?;
                    }
                    self.findings(&pushed.findings)?;
                }
                CaptureOutput::TlsUndecrypted {
                    input,
                    sni,
                    server,
                    reason,
                    time,
                } => {
                    let findings =
                        self.engine
                            .note_undecrypted(input, sni.as_deref(), &server, &reason, time);
                    self.metrics.observe_findings(&findings);
                    self.findings(&findings)?;
                }
            }
            Ok(())
        }

        fn findings(&mut self, findings: &[Finding]) -> anyhow::Result<()> {
            for f in findings {
                self.summary.findings += 1;
                if let Some(events) = &mut self.events {
                    events
                        .finding(f, &self.redactor)
                        .context("writing --events")?;
                }
                let text = crate::sink::terminal::render_finding(
                    f,
                    &self.redactor,
                    crate::sink::terminal::Style::default(),
                );
                // With `--events -` stdout carries JSON lines; findings text goes to stderr.
                let res = if self.findings_to_stdout {
                    std::io::stdout().write_all(text.as_bytes())
                } else {
                    std::io::stderr().write_all(text.as_bytes())
                };
                res.context("writing findings")?;
            }
            Ok(())
        }

        fn flush(&mut self) -> anyhow::Result<()> {
            if let Some(e) = &mut self.events {
                e.flush().context("flushing --events")?;
            }
            Ok(())
        }
    }

    /// Pushes the pipeline's counters into the registry (as increases); capture thread.
    fn sync_pipeline(
        metrics: &Metrics,
        stats: &CaptureStats,
        keys: &KeyLog,
        tail: Option<&KeylogTail>,
        queue_dropped: u64,
    ) {
        metrics.sync_capture_totals(stats.packets, stats.bytes);
        let t = &stats.tcp;
        metrics.sync_dropped_total(DropStage::Tcp, DropReason::Gap, t.gaps);
        metrics.sync_dropped_total(DropStage::Tcp, DropReason::Truncated, t.buffer_cap_hits);
        metrics.sync_dropped_total(DropStage::Tcp, DropReason::TableFull, t.evicted_cap);
        metrics.sync_dropped_total(DropStage::Tcp, DropReason::Malformed, stats.malformed());
        let h = &stats.conn.http1;
        metrics.sync_dropped_total(DropStage::Http, DropReason::Truncated, h.bodies_truncated);
        metrics.sync_dropped_total(DropStage::Http, DropReason::TableFull, h.pending_cap_hits);
        metrics.sync_dropped_total(
            DropStage::Tls,
            DropReason::NoKey,
            stats.conn.tls_undecrypted,
        );
        // Key log lines that could not be used: unparsable, or longer than the tailer's cap.
        metrics.sync_dropped_total(
            DropStage::Tls,
            DropReason::Malformed,
            keys.skipped_lines + tail.map_or(0, |t| t.overlong_lines),
        );
        metrics.sync_tls_sessions(stats.conn.tls_sessions, stats.conn.tls_undecrypted);
        metrics.sync_dropped_total(DropStage::Analysis, DropReason::Buffer, queue_dropped);
    }

    /// Pushes the engine's counters into the registry; analysis thread.
    fn sync_engine(metrics: &Metrics, engine: &Engine) {
        metrics.sync_dropped_total(
            DropStage::Flows,
            DropReason::TableFull,
            engine.flows_evicted(),
        );
        metrics.set_flows_active(engine.flows_active());
    }

    /// Estimated heap bytes of one pipeline output, for the queue's byte cap.
    fn approx_bytes(o: &CaptureOutput) -> usize {
        let headers = |h: &crate::model::Headers| -> usize {
            h.iter().map(|(k, v)| k.len() + v.len() + 48).sum()
        };
        match o {
            CaptureOutput::Exchange(ex) => {
                let req = &ex.request;
                let resp = ex.response.as_ref().map_or(0, |r| {
                    r.body.data.len() + headers(&r.headers) + r.status_text.len()
                });
                512 + req.url.len() + req.body.data.len() + headers(&req.headers) + resp
            }
            CaptureOutput::TlsUndecrypted { .. } => 256,
        }
    }

    /// The analysis thread: everything downstream of the pipeline, until the queue closes.
    fn analyse(
        mut sinks: Sinks,
        rx: HandoffRx<CaptureOutput>,
    ) -> (CaptureSummary, anyhow::Result<()>) {
        let mut last_sync = Instant::now();
        let result = (|| {
            while let Some(batch) = rx.recv() {
                for o in batch {
                    sinks.output(o)?;
                }
                sinks.flush()?;
                if last_sync.elapsed() >= SYNC_EVERY {
                    last_sync = Instant::now();
                    sync_engine(&sinks.metrics, &sinks.engine);
                }
            }
            let late = sinks.engine.finish();
            sinks.metrics.observe_findings(&late);
            sinks.findings(&late)?;
            sinks.flush()
        })();
        sync_engine(&sinks.metrics, &sinks.engine);
        (sinks.summary, result)
    }

    pub fn run_until(
        args: &CaptureArgs,
        stop: Arc<AtomicBool>,
        ready: impl FnOnce(&Ready),
    ) -> anyhow::Result<CaptureSummary> {
        let metrics_addr: SocketAddr = args.metrics_listen.parse().with_context(|| {
            format!(
                "--metrics-listen {:?} is not an address like 127.0.0.1:9464",
                args.metrics_listen
            )
        })?;
        if !metrics_addr.ip().is_loopback() {
            tracing::warn!(%metrics_addr, "Metrics listener is reachable from other hosts.");
        }
        if let Some(path) = args.keylog.as_ref().filter(|p| p.exists()) {
            // A key log may not exist yet (it is waited for); one that does must not be a
            // capture or HAR given to the wrong option.
            crate::source::detect::open_keylog(path).context("--keylog")?;
        }
        let live_config = LiveConfig::new(&args.interface, &args.bpf);
        // After a stop, frames the kernel already holds are still read: libpcap hands over a
        // block of frames when it fills or when the read timeout expires.
        let drain = Duration::from_millis(u64::try_from(live_config.timeout_ms).unwrap_or(0) + 20);
        let mut live = LiveCapture::open(&live_config)?;
        let linktype = live.linktype();

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("starting the metrics server runtime")?;
        let metrics = Arc::new(Metrics::new());
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(metrics_addr))
            .with_context(|| format!("binding --metrics-listen {metrics_addr}"))?;
        let bound = listener
            .local_addr()
            .context("reading the metrics address")?;
        let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
        rt.spawn(server::serve(listener, metrics.clone(), async {
            let _ = server_stopped.await;
        }));
        {
            let on_int = stop.clone();
            rt.spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                on_int.store(true, Ordering::Relaxed);
            });
            #[cfg(unix)]
            {
                let on_term = stop.clone();
                rt.spawn(async move {
                    use tokio::signal::unix::{signal, SignalKind};
                    if let Ok(mut term) = signal(SignalKind::terminate()) {
                        term.recv().await;
                        on_term.store(true, Ordering::Relaxed);
                    }
                });
            }
        }

        let mut keys = KeyLog::default();
        let mut tail = args.keylog.as_ref().map(KeylogTail::new);
        let mut pipeline = Pipeline::new(0, PipelineConfig::default());
        let events = match &args.events {
            Some(spec) => Some(open_events(spec)?),
            None => None,
        };
        let sinks = Sinks {
            engine: Engine::new(EngineConfig {
                tenants: args.tenant.clone(),
                jwks: Vec::new(),
                flow_cap: FLOW_CAP,
            }),
            metrics: metrics.clone(),
            redactor: Redactor::new(args.include_secrets),
            findings_to_stdout: args.events.as_deref() != Some("-"),
            events,
            summary: CaptureSummary::default(),
        };
        tracing::info!(interface = %args.interface, bpf = %args.bpf, metrics = %bound, "Capture started.");
        ready(&Ready {
            metrics: metrics.clone(),
            metrics_addr: bound,
        });

        let (queue, rx) = handoff::<CaptureOutput>(QUEUE_BATCHES, QUEUE_BYTES);
        let analysis = std::thread::Builder::new()
            .name("authtap-analysis".into())
            .spawn(move || analyse(sinks, rx))
            .context("starting the analysis thread")?;

        let mut outs: Vec<CaptureOutput> = Vec::new();
        let mut out_bytes = 0usize;
        let mut pending_since: Option<Instant> = None;
        let mut last_sync = Instant::now();
        // The first iteration polls the key log at once.
        let mut last_keylog = Instant::now()
            .checked_sub(KEYLOG_EVERY)
            .unwrap_or_else(Instant::now);
        let mut kernel_dropped = 0;
        let mut drain_until: Option<Instant> = None;
        let result: anyhow::Result<()> = (|| {
            loop {
                match drain_until {
                    None if stop.load(Ordering::Relaxed) => {
                        drain_until = Some(Instant::now() + drain);
                    }
                    Some(t) if Instant::now() >= t => break,
                    _ => {}
                }
                if let Some(t) = tail
                    .as_mut()
                    .filter(|_| last_keylog.elapsed() >= KEYLOG_EVERY)
                {
                    last_keylog = Instant::now();
                    match t.poll() {
                        Ok(lines) if !lines.is_empty() => {
                            keys.add_text(&lines);
                            // Connections that closed before their keys were read get them now.
                            pipeline.poll_parked(now_micros(), &keys, &mut |o| {
                                out_bytes += approx_bytes(&o);
                                outs.push(o);
                            });
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "Key log not readable; retrying."),
                    }
                }
                let n = live.read_batch(BATCH, |frame| {
                    pipeline.push_frame(
                        linktype,
                        frame.data,
                        frame.wire_len,
                        frame.ts,
                        &keys,
                        &mut |o| {
                            out_bytes += approx_bytes(&o);
                            outs.push(o);
                        },
                    )
                })?;
                if outs.is_empty() {
                    pending_since = None;
                } else {
                    let since = *pending_since.get_or_insert_with(Instant::now);
                    if n == 0 || outs.len() >= HANDOFF_ITEMS || since.elapsed() >= HANDOFF_EVERY {
                        pending_since = None;
                        // A refused batch is counted by the queue; the analysis thread having
                        // stopped (an --events write failed) ends the capture with its error.
                        if queue
                            .offer(std::mem::take(&mut outs), std::mem::take(&mut out_bytes))
                            .is_err()
                        {
                            break;
                        }
                    }
                }
                if last_sync.elapsed() >= SYNC_EVERY {
                    last_sync = Instant::now();
                    pipeline.poll_parked(now_micros(), &keys, &mut |o| {
                        out_bytes += approx_bytes(&o);
                        outs.push(o);
                    });
                    if let Ok(k) = live.stats() {
                        metrics.set_kernel_drops(k.dropped, k.if_dropped);
                        kernel_dropped = k.dropped + k.if_dropped;
                    }
                    sync_pipeline(
                        &metrics,
                        &pipeline.stats(),
                        &keys,
                        tail.as_ref(),
                        queue.dropped_items(),
                    );
                }
            }
            Ok(())
        })();

        // Flush what is still open (waiting for the queue: no packets arrive any more), then
        // let the analysis thread finish and report.
        if let Some(Ok(lines)) = tail.as_mut().map(KeylogTail::poll) {
            keys.add_text(&lines);
        }
        let stats = pipeline.finish(&keys, &mut |o| outs.push(o));
        let _ = queue.finish(std::mem::take(&mut outs), 0);
        if let Ok(k) = live.stats() {
            metrics.set_kernel_drops(k.dropped, k.if_dropped);
            kernel_dropped = k.dropped + k.if_dropped;
        }
        let analysis_dropped = queue.dropped_items();
        sync_pipeline(&metrics, &stats, &keys, tail.as_ref(), analysis_dropped);
        drop(queue);
        let (analysed, analysis_result) = analysis
            .join()
            .map_err(|_| anyhow::anyhow!("the analysis thread panicked"))?;
        let _ = stop_server.send(());
        rt.shutdown_timeout(Duration::from_millis(200));
        result?;
        analysis_result?;
        let mut summary = analysed;
        summary.packets = stats.packets;
        summary.kernel_dropped = kernel_dropped;
        summary.analysis_dropped = analysis_dropped;
        let mut err = std::io::stderr();
        let _ = writeln!(
            err,
            "authtap capture: {} packets, {} exchanges, {} findings, {} dropped by the kernel, \
             {} decoded outputs dropped by the full analysis queue",
            summary.packets,
            summary.exchanges,
            summary.findings,
            summary.kernel_dropped,
            summary.analysis_dropped
        );
        for note in stats.notes() {
            let _ = writeln!(err, "  note: {note}");
        }
        Ok(summary)
    }
}
