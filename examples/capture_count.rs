//! Read one capture with `authtap::source::pcap::read_capture` and print counts (benchmark and
//! debugging aid until `authtap analyze` reads captures). Usage: capture_count FILE [-v]
#![allow(clippy::print_stdout, clippy::print_stderr)]

use authtap::capture::keylog::KeyLog;
use authtap::capture::CaptureOutput;
use authtap::source::pcap::read_capture;
use std::io::Write;

// Same allocator as the `authtap` binary, so the numbers match what `analyze` pays.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: capture_count FILE [-v]");
        return std::process::ExitCode::from(2);
    };
    let verbose = args.next().as_deref() == Some("-v");
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{path}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut keys = KeyLog::default();
    let (mut exchanges, mut responses, mut tls) = (0u64, 0u64, 0u64);
    let res = read_capture(file, 0, &mut keys, |o| match o {
        CaptureOutput::Exchange(ex) => {
            exchanges += 1;
            if ex.response.is_some() {
                responses += 1;
            }
            if verbose {
                println!(
                    "{} {} {} -> {:?} {:?}",
                    ex.index,
                    ex.request.method,
                    ex.request.url,
                    ex.status(),
                    ex.notes
                );
            }
        }
        CaptureOutput::TlsUndecrypted { .. } => tls += 1,
    });
    match res {
        Ok(stats) => {
            let mut out = std::io::stdout();
            let _ = writeln!(
                out,
                "packets={} bytes={} requests={} responses={} tls_undecrypted={}",
                stats.packets, stats.bytes, exchanges, responses, tls
            );
            for n in stats.notes() {
                let _ = writeln!(out, "note: {n}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
