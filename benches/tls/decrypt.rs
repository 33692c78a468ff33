//! Bench driver: streams a pcap/pcapng through packet decoding, TCP reassembly, TLS decryption
//! and HTTP/1 / HTTP/2 parsing with a key log, and prints bytes, exchanges, elapsed time and
//! throughput. Not a test; run by `benches/tls/run.sh` (which also measures peak RSS and tshark).
//!
//! Usage: `cargo bench --bench tls_decrypt -- CAPTURE KEYLOG`
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use authtap::capture::keylog::KeyLog;
use authtap::capture::packet;
use authtap::capture::tcp::{Close, ConnMeta, StreamSink, TcpCaps, TcpTable};
use authtap::capture::tls::app::{TlsApp, TlsAppOutput};
use authtap::capture::tls::looks_like_client_hello;
use authtap::capture::Dir;
use authtap::model::Micros;
use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError};
use std::time::Instant;

#[derive(Default)]
struct Ctx {
    keys: KeyLog,
    exchanges: u64,
    statuses: [u64; 6],
    undecrypted: u64,
    body_bytes: u64,
}

impl Ctx {
    fn take(&mut self, out: &mut Vec<TlsAppOutput>) {
        for o in out.drain(..) {
            match o {
                TlsAppOutput::Pair(p, _) => {
                    self.exchanges += 1;
                    if let Some(r) = &p.response {
                        self.statuses[(r.status / 100).min(5) as usize] += 1;
                        self.body_bytes += r.body.data.len() as u64;
                    }
                }
                TlsAppOutput::Undecrypted { .. } => self.undecrypted += 1,
            }
        }
    }
}

enum Sink {
    Tls(Box<TlsApp>),
    Undecided(String),
    Other,
}

impl StreamSink<Ctx> for Sink {
    fn open(meta: &ConnMeta, _ts: Micros, _ctx: &mut Ctx) -> Self {
        Sink::Undecided(meta.server.to_string())
    }
    fn data(&mut self, dir: Dir, data: &[u8], ts: Micros, ctx: &mut Ctx) {
        if let Sink::Undecided(server) = self {
            *self = if dir == Dir::ClientToServer && looks_like_client_hello(data) {
                Sink::Tls(Box::new(TlsApp::new(server.clone())))
            } else {
                Sink::Other
            };
        }
        if let Sink::Tls(t) = self {
            let mut out = Vec::new();
            t.push(dir, data, ts, &ctx.keys, &mut out);
            ctx.take(&mut out);
        }
    }
    fn gap(&mut self, _dir: Dir, _len: u64, _ts: Micros, _ctx: &mut Ctx) {}
    fn end(&mut self, dir: Dir, ts: Micros, ctx: &mut Ctx) {
        if let Sink::Tls(t) = self {
            let mut out = Vec::new();
            t.end(dir, ts, &mut out);
            ctx.take(&mut out);
        }
    }
    fn close(self, _why: Close, ts: Micros, ctx: &mut Ctx) {
        if let Sink::Tls(mut t) = self {
            let mut out = Vec::new();
            t.close(ts, &ctx.keys, &mut out);
            ctx.take(&mut out);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (Some(cap), Some(keys)) = (args.first(), args.get(1)) else {
        eprintln!("usage: tls_decrypt CAPTURE KEYLOG");
        std::process::exit(2);
    };
    let start = Instant::now();
    let mut ctx = Ctx::default();
    ctx.keys.add_text(&std::fs::read(keys).unwrap());
    let file = std::fs::File::open(cap).unwrap();
    let size = file.metadata().unwrap().len();
    let mut reader = pcap_parser::create_reader(1 << 20, file).unwrap();
    let mut table: TcpTable<Sink> = TcpTable::new(TcpCaps::default());
    let mut linktype = 1;
    let mut idb: Vec<i32> = Vec::new();
    let mut last = 0;
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                let frame: Option<(i32, Micros, &[u8])> = match &block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        linktype = h.network.0;
                        None
                    }
                    PcapBlockOwned::Legacy(b) => Some((
                        linktype,
                        b.ts_sec as i64 * 1_000_000 + b.ts_usec as i64,
                        b.data,
                    )),
                    PcapBlockOwned::NG(Block::InterfaceDescription(i)) => {
                        idb.push(i.linktype.0);
                        None
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(e)) => Some((
                        idb.get(e.if_id as usize).copied().unwrap_or(1),
                        ((e.ts_high as i64) << 32) | e.ts_low as i64,
                        &e.data[..(e.caplen as usize).min(e.data.len())],
                    )),
                    PcapBlockOwned::NG(Block::DecryptionSecrets(d)) => {
                        ctx.keys
                            .add_text(&d.data[..(d.secrets_len as usize).min(d.data.len())]);
                        None
                    }
                    _ => None,
                };
                if let Some((lt, ts, data)) = frame {
                    if let Ok(seg) = packet::decode(lt, data) {
                        table.push(&seg, ts, &mut ctx);
                    }
                    last = ts;
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if reader.refill().is_err() {
                    break;
                }
            }
            Err(e) => {
                eprintln!("read error: {e:?}");
                break;
            }
        }
    }
    table.finish(last, &mut ctx);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "bytes={size} exchanges={} status_2xx={} status_4xx={} undecrypted={} response_body_bytes={} seconds={secs:.3} MB_per_s={:.1}",
        ctx.exchanges,
        ctx.statuses[2],
        ctx.statuses[4],
        ctx.undecrypted,
        ctx.body_bytes,
        size as f64 / 1e6 / secs
    );
}
