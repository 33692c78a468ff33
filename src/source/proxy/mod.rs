//! `authtap proxy`: a forward MITM proxy for Auth0 traffic with live findings (issue 5).
//!
//! Layout: `ca` (root CA, leaf minting + cache), `glob` (`--intercept`), `upstream` (verified
//! pooled client, `--resolve`), `server` (accept loop, CONNECT, forwarding), `tap` (capped body
//! copies, decoded with `crate::decode::body`), `rewind` (peek after CONNECT), `live`
//! (analysis thread: engine, terminal lines, events, HAR via `har_out`), `stats` + `admin` (`/metrics`,
//! `/healthz`). This file owns the resolved `ProxyConfig`, start-up and graceful shutdown.
//!
//! Must not: bind anything but loopback unless asked (and then it warns), disable upstream
//! verification, keep unbounded history. Known limits: see each file's header.

pub mod admin;
pub mod ca;
pub mod glob;
pub mod har_out;
pub mod live;
pub mod rewind;
pub mod server;
pub mod stats;
pub mod tap;
pub mod upstream;

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::cli::ProxyArgs;
use live::{Console, HarSink, LiveConfig, LiveSummary};
use server::{Limits, Shared, DRAINING, STOPPED};
use stats::ProxyStats;
use tap::TapCounters;
use upstream::{Connector, ResolveMap};

/// Hosts intercepted when no `--intercept` is given (plus every `--tenant`).
pub const DEFAULT_INTERCEPT: &str = "*.auth0.com";

/// Where `--events` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventsTarget {
    Stdout,
    File(PathBuf),
}

/// Resolved, validated proxy settings.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub listen: SocketAddr,
    /// `None` (`--metrics-listen off`) disables the metrics listener and metric recording: the
    /// analysis thread then updates no registry at all.
    pub metrics_listen: Option<SocketAddr>,
    /// Host globs to intercept (defaults already applied).
    pub intercept: Vec<String>,
    pub tenants: Vec<String>,
    pub ca_dir: PathBuf,
    pub har_out: Option<PathBuf>,
    pub events: Option<EventsTarget>,
    pub upstream_ca: Vec<PathBuf>,
    pub resolve: ResolveMap,
    pub max_connections: usize,
    pub body_cap: usize,
    /// Forwarding threads (`--workers`): 1 is a current-thread runtime.
    pub workers: usize,
    pub include_secrets: bool,
    /// Time a client has to send a complete request head (slowloris guard).
    pub header_timeout: Duration,
    /// Time a client has to complete the TLS handshake after CONNECT.
    pub handshake_timeout: Duration,
    /// Time to connect (TCP + TLS) to an upstream.
    pub connect_timeout: Duration,
    /// Time in-flight connections get to finish after SIGINT/SIGTERM.
    pub drain_timeout: Duration,
    /// Largest request head accepted (bigger gets 431).
    pub max_header_bytes: usize,
    pub leaf_cache: usize,
    /// Tapped exchanges waiting for analysis; more are dropped and counted.
    pub tap_queue: usize,
    /// HAR/events flush period.
    pub flush_every: Duration,
    pub flow_cap: usize,
    pub console: Console,
    pub pool_idle_per_host: usize,
}

/// Why the proxy settings are invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--{flag} {value:?} is not an IP:PORT address (e.g. 127.0.0.1:8080)")]
    Addr { flag: &'static str, value: String },
    #[error(transparent)]
    Resolve(#[from] upstream::ResolveSpecError),
    #[error(transparent)]
    Ca(#[from] ca::CaError),
    #[error("--max-connections must be at least 1")]
    NoConnections,
}

impl ProxyConfig {
    /// Defaults for everything, listening on `127.0.0.1:0` (tests) with the CA in `ca_dir`.
    pub fn for_tests(ca_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            intercept: vec![DEFAULT_INTERCEPT.to_string()],
            tenants: Vec::new(),
            ca_dir,
            har_out: None,
            events: None,
            upstream_ca: Vec::new(),
            resolve: ResolveMap::new(),
            max_connections: 4096,
            workers: 1,
            body_cap: 1 << 20,
            include_secrets: false,
            header_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            leaf_cache: 1024,
            // ~17 ms of analysis at full speed; bounds the memory held by queued records (each
            // ~2-3 KiB with a 1 KiB body) when analysis falls behind. Overflow is counted.
            tap_queue: 1024,
            flush_every: Duration::from_secs(5),
            flow_cap: 10_000,
            console: Console::Discard,
            pool_idle_per_host: 64,
        }
    }

    /// Resolve the CLI arguments (syntax already checked by clap).
    pub fn from_args(args: &ProxyArgs) -> Result<Self, ConfigError> {
        let listen: SocketAddr = args.listen.parse().map_err(|_| ConfigError::Addr {
            flag: "listen",
            value: args.listen.clone(),
        })?;
        let metrics_listen = parse_metrics_listen(&args.metrics_listen)?;
        if args.max_connections == 0 {
            return Err(ConfigError::NoConnections);
        }
        let mut intercept = if args.intercept.is_empty() {
            vec![DEFAULT_INTERCEPT.to_string()]
        } else {
            args.intercept.clone()
        };
        intercept.extend(args.tenant.iter().cloned());
        let resolve = args
            .resolve
            .iter()
            .map(|s| upstream::parse_resolve(s))
            .collect::<Result<ResolveMap, _>>()?;
        let ca_dir = match &args.ca_dir {
            Some(d) => d.clone(),
            None => ca::default_dir()?,
        };
        let events = args.events.as_ref().map(|e| {
            if e == "-" {
                EventsTarget::Stdout
            } else {
                EventsTarget::File(PathBuf::from(e))
            }
        });
        let console = if events == Some(EventsTarget::Stdout) {
            Console::Stderr
        } else {
            Console::Stdout
        };
        Ok(Self {
            listen,
            metrics_listen,
            intercept,
            tenants: args.tenant.clone(),
            ca_dir,
            har_out: args.har_out.clone(),
            events,
            upstream_ca: args.upstream_ca.clone(),
            resolve,
            max_connections: args.max_connections,
            workers: usize::from(args.workers),
            body_cap: args.body_cap,
            include_secrets: args.include_secrets,
            console,
            ..Self::for_tests(PathBuf::new())
        })
    }

    /// Security warnings the user must see (non-loopback listeners).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if !self.listen.ip().is_loopback() {
            w.push(format!(
                "the proxy listens on {}, which is not loopback: anyone who can reach it can \
                 route traffic through it and have it decrypted with your CA",
                self.listen
            ));
        }
        if let Some(m) = self.metrics_listen.filter(|m| !m.ip().is_loopback()) {
            w.push(format!("/metrics listens on {m}, which is not loopback"));
        }
        w
    }
}

/// `--metrics-listen ADDR`, or `off` for no listener and no metric recording.
pub fn parse_metrics_listen(value: &str) -> Result<Option<SocketAddr>, ConfigError> {
    if value.eq_ignore_ascii_case(METRICS_OFF) {
        return Ok(None);
    }
    value.parse().map(Some).map_err(|_| ConfigError::Addr {
        flag: "metrics-listen",
        value: value.to_string(),
    })
}

/// The `--metrics-listen` value that turns metrics off.
pub const METRICS_OFF: &str = "off";

/// A running proxy. Dropping it without `shutdown` leaves the tasks running until the runtime ends.
pub struct ProxyHandle {
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    /// PEM of the root CA clients must trust.
    pub ca_cert_pem: String,
    pub ca_cert_path: PathBuf,
    pub stats: Arc<ProxyStats>,
    phase: watch::Sender<u8>,
    permits: Arc<Semaphore>,
    max_connections: usize,
    drain_timeout: Duration,
    accept: tokio::task::JoinHandle<()>,
    live_done: tokio::sync::oneshot::Receiver<LiveSummary>,
    shared: Option<Arc<Shared>>,
}

impl ProxyHandle {
    /// Stop accepting, let in-flight exchanges finish (up to the drain timeout), close the rest,
    /// then flush events/HAR and return what the analysis thread saw.
    pub async fn shutdown(mut self) -> anyhow::Result<LiveSummary> {
        let _ = self.phase.send(DRAINING);
        let _ = (&mut self.accept).await;
        let deadline = Instant::now() + self.drain_timeout;
        while self.permits.available_permits() < self.max_connections && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.phase.send(STOPPED);
        // Drop our reference to the shared state (its queue sender and client pool).
        self.shared.take();
        match tokio::time::timeout(Duration::from_secs(10), self.live_done).await {
            Ok(Ok(summary)) => Ok(summary),
            Ok(Err(_)) => anyhow::bail!("the analysis thread ended without a summary (it panicked)"),
            Err(_) => anyhow::bail!(
                "the analysis thread did not finish within 10 s after shutdown; events/HAR may be incomplete"
            ),
        }
    }
}

fn open_events(target: &EventsTarget) -> anyhow::Result<Box<dyn Write + Send>> {
    Ok(match target {
        EventsTarget::Stdout => Box::new(std::io::stdout()),
        EventsTarget::File(p) => Box::new(std::io::BufWriter::new(
            crate::sink::private_file::create(p)
                .with_context(|| format!("creating --events file {}", p.display()))?,
        )),
    })
}

fn open_har(path: &std::path::Path) -> anyhow::Result<Box<dyn HarSink + Send>> {
    Ok(Box::new(har_out::HarFile::create(path).with_context(
        || format!("creating --har-out file {}", path.display()),
    )?))
}

/// Start the proxy: load (or create) the CA, bind the listeners and spawn the tasks.
pub async fn start(config: ProxyConfig) -> anyhow::Result<ProxyHandle> {
    let (cert_path, key_path) = ca::paths(&config.ca_dir);
    if !key_path.exists() {
        ca::init(&config.ca_dir)
            .with_context(|| format!("creating the proxy CA in {}", config.ca_dir.display()))?;
    }
    let loaded = ca::load(&config.ca_dir)?;
    let minter = Arc::new(ca::LeafMinter::new(loaded, config.leaf_cache)?);
    let tls = upstream::client_tls_config(&config.upstream_ca)?;
    let connector = Connector::new(tls, config.resolve.clone(), config.connect_timeout);
    let client = Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(config.pool_idle_per_host)
        .build(connector.clone());

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding the proxy listener on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let metrics_listener = match config.metrics_listen {
        Some(m) => Some(
            TcpListener::bind(m)
                .await
                .with_context(|| format!("binding --metrics-listen {m}"))?,
        ),
        None => None,
    };
    let metrics_addr = match &metrics_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };

    let events = match &config.events {
        Some(t) => Some(open_events(t)?),
        None => None,
    };
    let har = match &config.har_out {
        Some(p) => Some(open_har(p)?),
        None => None,
    };

    let stats = Arc::new(ProxyStats::default());
    let tap_counters = Arc::new(TapCounters::default());
    let (live_tx, live_rx) = std::sync::mpsc::sync_channel(config.tap_queue.max(1));
    let (done_tx, live_done) = tokio::sync::oneshot::channel();
    let live_cfg = LiveConfig {
        tenants: config.tenants.clone(),
        include_secrets: config.include_secrets,
        body_cap: config.body_cap,
        flow_cap: config.flow_cap,
        console: config.console,
        events,
        har,
        flush_every: config.flush_every,
    };
    let live_stats = stats.clone();
    // No listener, no registry: nobody could read it, so nothing records into it.
    let metrics = metrics_listener
        .as_ref()
        .map(|_| Arc::new(crate::sink::prometheus::Metrics::new()));
    let live_metrics = metrics.clone();
    std::thread::Builder::new()
        .name("authtap-live".into())
        .spawn(move || {
            let summary = live::run(live_rx, live_cfg, live_stats, live_metrics);
            let _ = done_tx.send(summary);
        })
        .context("starting the analysis thread")?;

    let (phase_tx, phase_rx) = watch::channel(server::RUNNING);
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let shared = Arc::new(Shared {
        limits: Limits {
            body_cap: config.body_cap,
            header_timeout: config.header_timeout,
            handshake_timeout: config.handshake_timeout,
            max_header_bytes: config.max_header_bytes,
            h2_max_streams: 256,
        },
        intercept: glob::HostGlobs::new(&config.intercept),
        minter: minter.clone(),
        client,
        connector,
        live_tx,
        tap_counters: tap_counters.clone(),
        stats: stats.clone(),
        phase: phase_rx.clone(),
    });
    if let (Some(l), Some(metrics)) = (metrics_listener, metrics) {
        let sources = Arc::new(admin::MetricsSources {
            stats: stats.clone(),
            tap: tap_counters,
            minter: minter.clone(),
            metrics,
        });
        tokio::spawn(admin::serve(l, sources, phase_rx.clone()));
    }
    let accept = tokio::spawn(server::accept_loop(
        listener,
        shared.clone(),
        permits.clone(),
    ));
    Ok(ProxyHandle {
        addr,
        metrics_addr,
        ca_cert_pem: minter.ca_cert_pem().to_string(),
        ca_cert_path: cert_path,
        stats,
        phase: phase_tx,
        permits,
        max_connections: config.max_connections,
        drain_timeout: config.drain_timeout,
        accept,
        live_done,
        shared: Some(shared),
    })
}

/// Run the proxy until `shutdown` completes, then drain and flush.
pub async fn run_proxy(config: ProxyConfig, shutdown: impl Future) -> anyhow::Result<()> {
    let console = config.console;
    let intercept = config.intercept.join(", ");
    let warnings = config.warnings();
    let handle = start(config).await?;
    let mut err = std::io::stderr().lock();
    for w in warnings {
        let _ = writeln!(err, "authtap: warning: {w}");
    }
    let _ = writeln!(
        err,
        "authtap proxy listening on http://{} (intercepting {intercept}); CA {}{}",
        handle.addr,
        handle.ca_cert_path.display(),
        handle
            .metrics_addr
            .map(|m| format!("; metrics on http://{m}/metrics"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        err,
        "Point clients at it with HTTPS_PROXY=http://{} and trust the CA (`authtap ca show`).",
        handle.addr
    );
    drop(err);
    shutdown.await;
    let summary = handle.shutdown().await?;
    if console != Console::Discard {
        let _ = writeln!(
            std::io::stderr(),
            "authtap proxy stopped: {} exchanges analysed, {} findings.",
            summary.exchanges,
            summary.findings
        );
    }
    Ok(())
}

/// Wait for Ctrl-C or SIGTERM. The handlers are installed when this is called (inside the
/// runtime), not when the future is first polled, so a signal that arrives while the proxy is
/// still starting stops it cleanly instead of killing the process.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            let term = async {
                match term {
                    Some(mut t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let int = async {
                match int {
                    Some(mut i) => {
                        i.recv().await;
                    }
                    None => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            };
            tokio::select! {
                _ = term => {}
                _ = int => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Opt this process out of transparent huge pages (Linux). The proxy's memory is many small
/// per-connection allocations; an allocator that asks for huge pages (mimalloc does, with
/// `MADV_HUGEPAGE`) then turns each touched 4 KiB into a resident 2 MiB page, which raised
/// peak RSS with 1,000 connections by ~20 MiB in `benches/proxy/run.sh`. False if refused.
#[cfg(target_os = "linux")]
pub fn disable_huge_pages() -> bool {
    rustix::thread::disable_transparent_huge_pages(true).is_ok()
}

#[cfg(not(target_os = "linux"))]
pub fn disable_huge_pages() -> bool {
    false
}

/// `authtap proxy`: resolve the arguments, build a runtime and run until Ctrl-C/SIGTERM.
pub fn run(args: &ProxyArgs) -> anyhow::Result<()> {
    let config = ProxyConfig::from_args(args)?;
    // Before the runtime's threads start and before any connection allocates.
    if !disable_huge_pages() {
        tracing::debug!("could not opt out of transparent huge pages");
    }
    // One forwarding thread by default: every wake-up between a client connection's task and the
    // shared upstream HTTP/2 connection then stays on that thread (no cross-thread futex
    // wake-ups), which costs less CPU per request than work-stealing over several threads.
    let mut builder = if config.workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(config.workers);
        b
    };
    let rt = builder
        .enable_all()
        .thread_name("authtap-proxy")
        .build()
        .context("building the tokio runtime")?;
    rt.block_on(async {
        let stop = shutdown_signal();
        run_proxy(config, stop).await
    })
}
