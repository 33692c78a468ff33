//! Composition root: config → source → engine → sinks; summary and exit outcome.
//!
//! `run` dispatches the subcommands. `analyze` reads every input in turn (one bad input is
//! reported on stderr and the run goes on, but the exit code becomes 2), feeds each exchange to
//! the shared `Engine`, registers the secrets it saw with the `Redactor`, and renders the report.
//! Nothing here parses a format or diagnoses anything; it only wires the stages together.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;

use crate::capture::CaptureOutput;
use crate::cli::{Cli, Command, Format};
use crate::config::AnalyzeConfig;
use crate::engine::{Engine, EngineConfig, Pushed};
use crate::model::{Exchange, InputSummary, Report};
use crate::redact::Redactor;
use crate::sink::har::HarWriter;
use crate::sink::prometheus::Metrics;
use crate::sink::{json, terminal};
use crate::source::detect::{self, Format as InputFormat};

/// How a run ended (the caller maps it to the exit code; see DESIGN.md §4 "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No finding reached `--fail-on`.
    Clean,
    /// At least one finding reached `--fail-on`.
    FindingsAtThreshold,
    /// At least one input could not be read (reported on stderr); the rest was analyzed.
    InputError,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Clean => 0,
            Outcome::FindingsAtThreshold => 1,
            Outcome::InputError => 2,
        }
    }
}

pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AUTHTAP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `err` and its causes on one line, each cause once: a message that already quotes its cause
/// (thiserror's `{source}`) is not followed by the same text again.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// The one-line message for an input that could not be read: `path: what went wrong`, with
/// the path once even when the error already starts with it.
fn input_error_line(path: &Path, err: &anyhow::Error) -> String {
    let text = one_line(err);
    let shown = path.display().to_string();
    if text.starts_with(&shown) {
        text
    } else {
        format!("{shown}: {text}")
    }
}

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let stdout = std::io::stdout();
    match cli.command {
        Command::Analyze(args) => analyze(AnalyzeConfig::resolve(&args)?),
        Command::Token(args) => {
            crate::cmd::token::run(&args, &mut stdout.lock())?;
            Ok(Outcome::Clean)
        }
        Command::Rules(args) => {
            crate::cmd::rules::run(&args, &mut stdout.lock())?;
            Ok(Outcome::Clean)
        }
        Command::Scopes(args) => {
            crate::cmd::scopes::run(&args, &mut stdout.lock())?;
            Ok(Outcome::Clean)
        }
        Command::Proxy(args) => {
            crate::source::proxy::run(&args)?;
            Ok(Outcome::Clean)
        }
        Command::Ca(args) => {
            crate::cmd::ca::run(&args, &mut stdout.lock())?;
            Ok(Outcome::Clean)
        }
        Command::Capture(args) => {
            crate::cmd::capture::run(&args)?;
            Ok(Outcome::Clean)
        }
    }
}

/// Everything `analyze` accumulates while reading inputs.
struct Analysis {
    engine: Engine,
    redactor: Redactor,
    har_out: Option<HarWriter<BufWriter<File>>>,
    /// First error writing `--har-out`; reported after the run.
    har_error: Option<std::io::Error>,
    /// Metrics for `--metrics-out`.
    metrics: Option<Metrics>,
    exchanges_in_input: u64,
}

impl Analysis {
    /// Returns the engine's results for the exchange, used up (the caller may free them on
    /// another thread).
    fn exchange(&mut self, ex: &Exchange) -> Pushed {
        self.exchanges_in_input += 1;
        let pushed = crate::ingest::exchange(
            &mut self.engine,
            &mut self.redactor,
            self.metrics.as_ref(),
            ex,
        );
        if let Some(w) = self.har_out.as_mut() {
            if let Err(e) = w.write(ex, &self.redactor) {
                self.har_error.get_or_insert(e);
            }
        }
        pushed
    }

    fn capture_output(&mut self, out: &CaptureOutput) -> Option<Pushed> {
        match out {
            CaptureOutput::Exchange(ex) => Some(self.exchange(ex)),
            CaptureOutput::TlsUndecrypted {
                input,
                sni,
                server,
                reason,
                time,
            } => {
                let found =
                    self.engine
                        .note_undecrypted(*input, sni.as_deref(), server, reason, *time);
                if let Some(m) = &self.metrics {
                    m.observe_findings(&found);
                }
                None
            }
        }
    }
}

/// `authtap analyze`: read every input, diagnose, render, decide the outcome.
pub fn analyze(mut cfg: AnalyzeConfig) -> anyhow::Result<Outcome> {
    let har_out = match &cfg.har_out {
        Some(path) => Some(HarWriter::new(BufWriter::new(
            crate::sink::private_file::create(path)
                .with_context(|| format!("creating {}", path.display()))?,
        ))?),
        None => None,
    };
    let mut a = Analysis {
        engine: Engine::new(EngineConfig {
            tenants: cfg.tenants.clone(),
            jwks: cfg.jwks.clone(),
            flow_cap: cfg.flow_cap,
        }),
        redactor: Redactor::new(cfg.include_secrets),
        har_out,
        har_error: None,
        metrics: cfg.metrics_out.as_ref().map(|_| Metrics::new()),
        exchanges_in_input: 0,
    };
    let mut keylog = std::mem::take(&mut cfg.keylog);
    let keylog_notes: Vec<String> = cfg
        .keylog_files
        .iter()
        .filter_map(|(path, loaded)| crate::config::keylog_note(path, loaded))
        .collect();
    for note in &keylog_notes {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("authtap: warning: {note}");
        }
    }
    let mut inputs = Vec::new();
    let mut input_error = false;

    for (idx, path) in cfg.inputs.iter().enumerate() {
        a.exchanges_in_input = 0;
        let mut summary = InputSummary {
            path: path.display().to_string(),
            ..InputSummary::default()
        };
        if let Err(err) = read_input(&mut a, &mut keylog, idx, path, &mut summary) {
            input_error = true;
            let line = input_error_line(path, &err);
            #[allow(clippy::print_stderr)]
            {
                eprintln!("authtap: error: {}", a.redactor.scrub(&line));
            }
            summary.notes.push(format!(
                "input could not be read to the end: {}",
                one_line(&err)
            ));
        }
        summary.exchanges = a.exchanges_in_input;
        if summary.format.starts_with("pcap") {
            summary.notes.extend(keylog_notes.iter().cloned());
        }
        inputs.push(summary);
    }
    let late = a.engine.finish();
    if let (Some(m), Some(path)) = (&a.metrics, &cfg.metrics_out) {
        m.observe_findings(&late);
        m.set_flows_active(a.engine.flows_active());
        m.write_textfile(path)
            .with_context(|| format!("writing metrics to {}", path.display()))?;
    }
    if let Some(first) = inputs.first_mut() {
        first.notes.extend(a.engine.notes());
    }
    if let Some(e) = a.har_error.take() {
        return Err(anyhow::Error::new(e).context("writing HAR output"));
    }
    if let Some(w) = a.har_out.take() {
        w.finish().context("writing HAR output")?;
    }

    let report = Report {
        inputs,
        flows: a.engine.flows(),
        findings: a.engine.findings(),
        flows_evicted: a.engine.flows_evicted(),
    };
    let text = match cfg.format {
        Format::Text => {
            terminal::render_report(&report, &a.redactor, terminal::Style { color: cfg.color })
        }
        Format::Json => json::render(&report, &a.redactor),
    };
    write_output(cfg.output.as_deref(), &text)?;

    if input_error {
        return Ok(Outcome::InputError);
    }
    let worst = report.findings.iter().map(|f| f.severity).max();
    Ok(match (cfg.fail_on, worst) {
        (Some(threshold), Some(w)) if w >= threshold => Outcome::FindingsAtThreshold,
        _ => Outcome::Clean,
    })
}

fn read_input(
    a: &mut Analysis,
    keylog: &mut crate::capture::keylog::KeyLog,
    idx: usize,
    path: &Path,
    summary: &mut InputSummary,
) -> anyhow::Result<()> {
    let opened = detect::open(path)?;
    summary.format = opened.format_name();
    match opened.format {
        InputFormat::Har => {
            let stats = crate::source::har::read_har(opened.reader, idx, |ex| {
                a.exchange(&ex);
            })?;
            summary.notes.extend(stats.summary_notes());
        }
        InputFormat::Pcap | InputFormat::Pcapng => {
            // Framing on a second thread when there is a second CPU; the output is the same.
            let two_cpus = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
            let stats = if two_cpus {
                crate::source::pcap_thread::read_capture_threaded(
                    opened.reader,
                    idx,
                    keylog,
                    |out| a.capture_output(out),
                )?
            } else {
                crate::source::pcap::read_capture(opened.reader, idx, keylog, |out| {
                    a.capture_output(&out);
                })?
            };
            summary.notes.extend(stats.notes());
        }
    }
    Ok(())
}

fn write_output(path: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match path {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display())),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(())
        }
    }
}
