//! `mock-tenant` binary: serve the fixture tenant, generate HAR fixtures, or drive a scenario
//! with curl against a served tenant. Test tooling only; prints to stdout/stderr by design.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use mock_tenant::clock::Clock;
use mock_tenant::curl::{CurlDriver, HttpVersion};
use mock_tenant::scenario::secrets::Recording;
use mock_tenant::scenario::{fixture_tenant, Env, Profile, Scenario};
use mock_tenant::server::{spawn, ServeOptions};
use mock_tenant::tls::TlsVersions;

#[derive(Parser)]
#[command(
    name = "mock-tenant",
    about = "Offline Auth0 tenant for authtap tests (TEST ONLY)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProfileArg {
    Forum,
    Healthy,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the fixture tenant until killed. Prints `port <N>` on the first line.
    Serve {
        #[arg(long, default_value = mock_tenant::scenario::env::DOMAIN)]
        domain: String,
        #[arg(long)]
        tls: bool,
        /// TLS 1.2 only (default offers 1.3 and 1.2).
        #[arg(long)]
        tls12: bool,
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Bind address (default 127.0.0.1).
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// Write the test CA certificate as DIR/ca.pem.
        #[arg(long)]
        ca_out: Option<PathBuf>,
        /// Log TLS secrets to $SSLKEYLOGFILE (rustls KeyLogFile). Also on whenever
        /// SSLKEYLOGFILE is set in the environment.
        #[arg(long)]
        keylog: bool,
        #[arg(long, value_enum, default_value = "forum")]
        profile: ProfileArg,
    },
    /// Write the deterministic HAR fixtures.
    GenFixtures {
        #[arg(long, default_value = "fixtures")]
        out: PathBuf,
    },
    /// Run a scenario with curl against a served tenant.
    Drive {
        #[arg(long)]
        scenario: String,
        #[arg(long)]
        port: u16,
        #[arg(long, default_value = mock_tenant::scenario::env::DOMAIN)]
        domain: String,
        /// Use HTTPS and trust this CA.
        #[arg(long)]
        cacert: Option<PathBuf>,
        #[arg(long = "http1.1")]
        http1: bool,
        #[arg(long)]
        http2: bool,
        #[arg(long)]
        http2_prior_knowledge: bool,
        /// Write every raw secret the run put on the wire to FILE (one per line).
        #[arg(long)]
        secrets_out: Option<PathBuf>,
        /// Extra argument for every curl call (repeatable), e.g.
        /// `--curl-arg=--tls13-ciphers --curl-arg=TLS_AES_128_GCM_SHA256`.
        #[arg(long = "curl-arg", allow_hyphen_values = true)]
        curl_args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Serve {
            domain,
            tls,
            tls12,
            port,
            bind,
            ca_out,
            keylog,
            profile,
        } => {
            let ip: std::net::IpAddr = match bind.parse() {
                Ok(ip) => ip,
                Err(e) => {
                    eprintln!("mock-tenant: --bind {bind}: {e}");
                    return ExitCode::from(2);
                }
            };
            if !ip.is_loopback() {
                eprintln!("mock-tenant: WARNING binding {ip}, not loopback: this is a test tenant with public keys");
            }
            let env = Env::new(&domain);
            let profile = match profile {
                ProfileArg::Forum => Profile::Forum,
                ProfileArg::Healthy => Profile::Healthy,
            };
            let tenant = Arc::new(fixture_tenant(&env, profile, Clock::System));
            let opts = ServeOptions {
                addr: SocketAddr::new(ip, port),
                tls,
                tls_versions: if tls12 {
                    TlsVersions::Tls12Only
                } else {
                    TlsVersions::Default
                },
                ca_out,
                keylog: keylog || std::env::var_os("SSLKEYLOGFILE").is_some(),
            };
            let server = match spawn(tenant, opts) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("mock-tenant: {e}");
                    return ExitCode::from(2);
                }
            };
            // writeln! instead of println!: a closed stdout must not panic the server.
            let mut out = std::io::stdout();
            let _ = writeln!(out, "port {}", server.port());
            let _ = writeln!(
                out,
                "url {}://{}:{}/ (curl --resolve {}:{}:127.0.0.1{})",
                if tls { "https" } else { "http" },
                domain,
                server.port(),
                domain,
                server.port(),
                server
                    .ca_path
                    .as_ref()
                    .map(|p| format!(" --cacert {}", p.display()))
                    .unwrap_or_default()
            );
            let _ = out.flush();
            server.wait();
            ExitCode::SUCCESS
        }
        Cmd::GenFixtures { out } => match mock_tenant::fixtures::gen_fixtures(&out) {
            Ok(paths) => {
                for p in paths {
                    println!("wrote {}", p.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("mock-tenant: {e}");
                ExitCode::from(1)
            }
        },
        Cmd::Drive {
            scenario,
            port,
            domain,
            cacert,
            http1,
            http2,
            http2_prior_knowledge,
            secrets_out,
            curl_args,
        } => {
            let sc = match Scenario::parse(&scenario) {
                Some(s) => s,
                None => {
                    eprintln!("mock-tenant: unknown scenario `{scenario}` (forum-thread, m2m, healthy-spa)");
                    return ExitCode::from(2);
                }
            };
            let version = if http2_prior_knowledge {
                HttpVersion::Http2PriorKnowledge
            } else if http2 && !http1 {
                HttpVersion::Http2
            } else {
                HttpVersion::Http1
            };
            let https = cacert.is_some();
            let mut d = CurlDriver::new(&domain, port, https, cacert, version);
            d.extra_args = curl_args;
            let env = Env::new(&domain);
            let mut rec = Recording::new(&mut d, &env);
            let result = sc.run(&env, &mut rec);
            if let Some(path) = secrets_out {
                if let Err(e) = std::fs::write(&path, rec.to_text()) {
                    eprintln!("mock-tenant: writing {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
            match result {
                Ok(()) => {
                    println!("scenario {} ok", sc.name());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("mock-tenant: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
