//! Bench driver: runs a pcap/pcapng through the real capture pipeline
//! (`source::pcap::read_capture`: reader, TCP reassembly, TLS decryption, HTTP/1 / HTTP/2) with
//! a key log, streaming from the file, and prints bytes, exchanges, elapsed time and throughput.
//! Not a test; run by `benches/tls/run.sh` (which also measures peak RSS and tshark).
//!
//! Usage: `cargo bench --bench tls_decrypt -- CAPTURE KEYLOG`
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use authtap::capture::keylog::KeyLog;
use authtap::capture::CaptureOutput;
use authtap::source::pcap::read_capture;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (Some(cap), Some(keys_path)) = (args.first(), args.get(1)) else {
        eprintln!("usage: tls_decrypt CAPTURE KEYLOG");
        std::process::exit(2);
    };
    let start = Instant::now();
    let mut keys = KeyLog::new();
    keys.add_text(&std::fs::read(keys_path).unwrap());
    let file = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(cap).unwrap());
    let size = std::fs::metadata(cap).unwrap().len();
    let (mut exchanges, mut s2, mut s4, mut undecrypted, mut body) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let stats = read_capture(file, 0, &mut keys, |o| match o {
        CaptureOutput::Exchange(e) => {
            exchanges += 1;
            if let Some(r) = &e.response {
                match r.status / 100 {
                    2 => s2 += 1,
                    4 => s4 += 1,
                    _ => {}
                }
                body += r.body.data.len() as u64;
            }
        }
        CaptureOutput::TlsUndecrypted { .. } => undecrypted += 1,
    })
    .unwrap();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "bytes={size} packets={} exchanges={exchanges} status_2xx={s2} status_4xx={s4} undecrypted={undecrypted} response_body_bytes={body} seconds={secs:.3} MB_per_s={:.1}",
        stats.packets,
        size as f64 / 1e6 / secs
    );
}
