//! Benchmark helper: read HAR files with the streamed reader and print what was read.
//!
//! Owns nothing but this measurement: format detection + `read_har`, counting exchanges and body
//! bytes (so nothing is optimised away). Used by `benches/har/run.sh` until `authtap analyze` is
//! wired; not part of the shipped binary. Prints one line per file:
//! `path format exchanges malformed bytes seconds MB/s`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::time::Instant;

use authtap::source::detect;
use authtap::source::har::read_har;

fn main() -> ExitCode {
    let mut status = ExitCode::SUCCESS;
    for path in std::env::args_os().skip(1) {
        let path = std::path::PathBuf::from(path);
        let start = Instant::now();
        let opened = match detect::open(&path) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("har_count: {e}");
                status = ExitCode::from(2);
                continue;
            }
        };
        let format = opened.format_name();
        let mut exchanges = 0u64;
        let mut body_bytes = 0u64;
        match read_har(opened.reader, 0, |ex| {
            exchanges += 1;
            body_bytes += ex.request.body.data.len() as u64;
            body_bytes += ex.response.map_or(0, |r| r.body.data.len() as u64);
        }) {
            Ok(stats) => {
                let secs = start.elapsed().as_secs_f64();
                println!(
                    "{} {format} exchanges={exchanges} malformed={} bytes={} body_bytes={body_bytes} seconds={secs:.3} MB/s={:.1}",
                    path.display(),
                    stats.malformed_count,
                    stats.bytes,
                    stats.bytes as f64 / 1e6 / secs
                );
            }
            Err(e) => {
                eprintln!("har_count: {}: {e}", path.display());
                status = ExitCode::from(2);
            }
        }
    }
    status
}
