//! Command-line syntax (clap derive). Checks syntax only and reads no files; `config` resolves it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "authtap",
    version,
    about = "Watches HTTP traffic to Auth0 and explains auth failures"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyze HAR, pcap or pcapng files (optionally gzip-compressed) and report findings.
    Analyze(AnalyzeArgs),
    /// Run a local MITM debugging proxy for Auth0 hosts, with live findings and /metrics.
    Proxy(ProxyArgs),
    /// Passively capture traffic from a network interface (needs the `live` feature).
    Capture(CaptureArgs),
    /// Create or show the proxy's root CA and how to trust it.
    Ca(CaArgs),
    /// Decode and explain one token (secrets masked). Reads stdin when JWT is `-` or absent.
    Token(TokenArgs),
    /// List the rules, or explain one.
    Rules(RulesArgs),
    /// Which scopes a Management API endpoint accepts.
    Scopes(ScopesArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Never,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// TLS key log file (SSLKEYLOGFILE format). Repeatable.
    #[arg(long, value_name = "FILE")]
    pub keylog: Vec<PathBuf>,
    /// Custom domain of an Auth0 tenant (besides *.auth0.com). Repeatable.
    #[arg(long, value_name = "DOMAIN")]
    pub tenant: Vec<String>,
    /// JWKS file used to verify token signatures.
    #[arg(long, value_name = "FILE")]
    pub jwks: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report here instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit with code 1 when a finding reaches this severity.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
    /// Write every exchange as a HAR 1.2 file (redacted unless --include-secrets).
    #[arg(long, value_name = "FILE")]
    pub har_out: Option<PathBuf>,
    /// Write metrics in the node_exporter textfile-collector format.
    #[arg(long, value_name = "FILE")]
    pub metrics_out: Option<PathBuf>,
    /// Show tokens, codes, passwords and cookies in clear in every output.
    #[arg(long)]
    pub include_secrets: bool,
    /// Force colour off in the text report (NO_COLOR is honoured too).
    #[arg(long)]
    pub no_color: bool,
    /// HAR, pcap or pcapng files; the format is detected from content. `-` reads standard input.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: String,
    /// Where /metrics and /healthz listen, or `off` for no listener and no metric recording.
    #[arg(long, default_value = "127.0.0.1:9464", value_name = "ADDR|off")]
    pub metrics_listen: String,
    /// Host glob to intercept (default: *.auth0.com plus every --tenant). Repeatable.
    #[arg(long, value_name = "GLOB")]
    pub intercept: Vec<String>,
    #[arg(long, value_name = "DOMAIN")]
    pub tenant: Vec<String>,
    /// Where the root CA lives (default: the platform data dir).
    #[arg(long, value_name = "DIR")]
    pub ca_dir: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub har_out: Option<PathBuf>,
    /// Write findings and exchanges as JSON lines to FILE, or `-` for stdout.
    #[arg(long, value_name = "FILE|-")]
    pub events: Option<String>,
    /// Extra root certificates (PEM) trusted for upstream connections.
    #[arg(long, value_name = "FILE")]
    pub upstream_ca: Vec<PathBuf>,
    /// Send HOST:PORT to ADDR instead of resolving it. Repeatable.
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    pub resolve: Vec<String>,
    /// Maximum concurrent client connections.
    #[arg(long, default_value_t = 4096)]
    pub max_connections: usize,
    /// Bytes of each body copied for analysis.
    #[arg(long, default_value_t = 1 << 20)]
    pub body_cap: usize,
    /// Threads that forward traffic. 1 (the default) runs every connection on one thread, which
    /// costs the least CPU per request; analysis always has its own thread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: u16,
    #[arg(long)]
    pub include_secrets: bool,
}

#[derive(Debug, Args)]
pub struct CaptureArgs {
    #[arg(long, short = 'i', value_name = "IF")]
    pub interface: String,
    #[arg(long, value_name = "FILE")]
    pub keylog: Option<PathBuf>,
    #[arg(
        long,
        default_value = "tcp port 443 or tcp port 80",
        value_name = "EXPR"
    )]
    pub bpf: String,
    #[arg(long, value_name = "DOMAIN")]
    pub tenant: Vec<String>,
    #[arg(long, default_value = "127.0.0.1:9464", value_name = "ADDR")]
    pub metrics_listen: String,
    #[arg(long, value_name = "FILE|-")]
    pub events: Option<String>,
    #[arg(long)]
    pub include_secrets: bool,
}

#[derive(Debug, Args)]
pub struct CaArgs {
    #[command(subcommand)]
    pub action: CaAction,
    #[arg(long, value_name = "DIR", global = true)]
    pub ca_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CaAction {
    /// Create the root CA if it does not exist, and print how to trust it.
    Init,
    /// Print the CA certificate and how to trust it.
    Show,
    /// Print the CA certificate's path.
    Path,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The token, or `-` to read it from stdin.
    pub jwt: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub jwks: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[arg(long)]
    pub include_secrets: bool,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Rule id to explain.
    pub rule: Option<String>,
}

#[derive(Debug, Args)]
pub struct ScopesArgs {
    /// HTTP method, e.g. PATCH.
    pub method: String,
    /// Path, e.g. /api/v2/users/auth0|123 or /api/v2/users/{id}.
    pub path: String,
}
