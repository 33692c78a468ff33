//! Fidelity against the real TLS captures in `../shared/corpus` (EXPECTED.tsv): with the key log
//! file, and with the embedded pcapng DSB, our request count must equal tshark's
//! `h1_requests + h2_requests`; without keys we must yield zero exchanges and report every TLS
//! session as undecrypted. Skips with a printed reason when the corpus is missing.
//!
//! The harness drives the real engines: pcap-parser for the file, `capture::packet` +
//! `capture::tcp` for reassembly, `capture::tls::app::TlsApp` (TLS + HTTP/1 / HTTP/2) per
//! connection. Legacy `tls2/dump.pcapng` (73 suites incl. RC4/3DES/export) is a bonus: its
//! decrypted count is printed and must not exceed tshark's, and every session we cannot
//! decrypt must carry a reason.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use authtap::capture::keylog::KeyLog;
use authtap::capture::packet;
use authtap::capture::tcp::{Close, ConnMeta, StreamSink, TcpCaps, TcpTable};
use authtap::capture::tls::app::{TlsApp, TlsAppOutput};
use authtap::capture::tls::looks_like_client_hello;
use authtap::capture::Dir;
use authtap::model::Micros;
use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError};
use std::io::Read;
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if p.join("EXPECTED.tsv").exists() {
        Some(p)
    } else {
        println!("SKIP: ../shared/corpus/EXPECTED.tsv not found; corpus fidelity not checked");
        None
    }
}

struct Packets {
    frames: Vec<(i32, Micros, Vec<u8>)>,
    dsb: KeyLog,
    dsb_blocks: usize,
}

fn read_file(path: &Path) -> Packets {
    let mut raw = std::fs::read(path).unwrap();
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        raw = out;
    }
    let mut reader = pcap_parser::create_reader(1 << 20, &raw[..]).unwrap();
    let mut frames = Vec::new();
    let mut dsb = KeyLog::new();
    let mut dsb_blocks = 0;
    let mut legacy_linktype = 1;
    let mut idb_linktypes: Vec<i32> = Vec::new();
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => legacy_linktype = h.network.0,
                    PcapBlockOwned::Legacy(b) => frames.push((
                        legacy_linktype,
                        b.ts_sec as i64 * 1_000_000 + b.ts_usec as i64,
                        b.data.to_vec(),
                    )),
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => idb_linktypes.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        idb_linktypes.push(idb.linktype.0)
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let lt = idb_linktypes.get(epb.if_id as usize).copied().unwrap_or(1);
                        let n = (epb.caplen as usize).min(epb.data.len());
                        let ts = ((epb.ts_high as i64) << 32) | epb.ts_low as i64;
                        frames.push((lt, ts, epb.data[..n].to_vec()));
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        let lt = idb_linktypes.first().copied().unwrap_or(1);
                        frames.push((lt, 0, spb.data.to_vec()));
                    }
                    PcapBlockOwned::NG(Block::DecryptionSecrets(d)) => {
                        if d.secrets_type.0 == 0x544c_534b {
                            dsb_blocks += 1;
                            let n = (d.secrets_len as usize).min(d.data.len());
                            dsb.add_text(&d.data[..n]);
                        }
                    }
                    _ => {}
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if reader.refill().is_err() {
                    break;
                }
            }
            Err(e) => panic!("{}: {e:?}", path.display()),
        }
    }
    Packets {
        frames,
        dsb,
        dsb_blocks,
    }
}

struct Ctx {
    keys: KeyLog,
    out: Vec<TlsAppOutput>,
    tls_conns: usize,
    /// (version, suite, plaintext bytes, protocol) per closed TLS connection.
    sessions: Vec<(Option<String>, Option<u16>, u64, &'static str)>,
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
                ctx.tls_conns += 1;
                Sink::Tls(Box::new(TlsApp::new(server.clone())))
            } else if dir == Dir::ClientToServer {
                Sink::Other
            } else {
                return;
            };
        }
        if let Sink::Tls(t) = self {
            t.push(dir, data, ts, &ctx.keys, &mut ctx.out);
        }
    }
    fn gap(&mut self, _dir: Dir, _len: u64, _ts: Micros, _ctx: &mut Ctx) {}
    fn end(&mut self, dir: Dir, ts: Micros, ctx: &mut Ctx) {
        if let Sink::Tls(t) = self {
            t.end(dir, ts, &mut ctx.out);
        }
    }
    fn close(self, _why: Close, ts: Micros, ctx: &mut Ctx) {
        if let Sink::Tls(mut t) = self {
            t.close(ts, &ctx.keys, &mut ctx.out);
            let f = t.tls.facts();
            ctx.sessions.push((
                f.version.clone(),
                f.suite,
                t.tls.stats.plaintext_bytes,
                t.protocol(),
            ));
        }
    }
}

struct RunResult {
    sessions: Vec<(Option<String>, Option<u16>, u64, &'static str)>,
    pairs: usize,
    undecrypted: Vec<String>,
    tls_conns: usize,
}

fn run(pk: &Packets, keys: KeyLog) -> RunResult {
    let mut table: TcpTable<Sink> = TcpTable::new(TcpCaps::default());
    let mut ctx = Ctx {
        keys,
        out: Vec::new(),
        tls_conns: 0,
        sessions: Vec::new(),
    };
    let mut last = 0;
    for (lt, ts, frame) in &pk.frames {
        if let Ok(seg) = packet::decode(*lt, frame) {
            table.push(&seg, *ts, &mut ctx);
        }
        last = *ts;
    }
    table.finish(last, &mut ctx);
    let mut r = RunResult {
        pairs: 0,
        undecrypted: Vec::new(),
        tls_conns: ctx.tls_conns,
        sessions: ctx.sessions,
    };
    for o in ctx.out {
        match o {
            TlsAppOutput::Pair(..) => r.pairs += 1,
            TlsAppOutput::Undecrypted { reason, .. } => r.undecrypted.push(reason.to_string()),
        }
    }
    r
}

fn keylog_file(path: &Path) -> KeyLog {
    let mut k = KeyLog::new();
    k.add_text(&std::fs::read(path).unwrap());
    k
}

struct Row {
    capture: String,
    keylog: String,
    options: String,
    expected: usize,
}

fn rows(corpus: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(corpus.join("EXPECTED.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("capture\t"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let h1: usize = f.get(4)?.parse().ok()?;
            let h2: usize = f.get(6)?.parse().ok()?;
            Some(Row {
                capture: f.first()?.to_string(),
                keylog: f.get(1)?.to_string(),
                options: f.get(2)?.to_string(),
                expected: h1 + h2,
            })
        })
        .filter(|r| r.keylog != "-")
        .collect()
}

fn bonus(capture: &str) -> bool {
    capture.starts_with("tls-decryption/tls2/")
}

#[test]
fn corpus_request_counts_match_tshark() {
    let Some(corpus) = corpus() else { return };
    let all = rows(&corpus);
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in all.iter().filter(|r| r.options == "-") {
        let expected = row.expected;
        let pk = read_file(&corpus.join(&row.capture));
        let (keys, how) = if row.keylog == "(embedded DSB)" {
            assert!(pk.dsb_blocks > 0, "{}: no DSB found", row.capture);
            let mut k = KeyLog::new();
            k.merge(&pk.dsb);
            (k, "DSB")
        } else {
            (keylog_file(&corpus.join(&row.keylog)), "keylog")
        };
        let r = run(&pk, keys);
        println!(
            "{} [{how}]: {} requests (tshark {expected}); {} TLS connections; undecrypted: {:?}",
            row.capture, r.pairs, r.tls_conns, r.undecrypted
        );
        checked += 1;
        if bonus(&row.capture) {
            if r.pairs > expected {
                failures.push(format!("{}: {} > tshark {expected}", row.capture, r.pairs));
            }
            if r.pairs + r.undecrypted.len() < r.tls_conns.min(expected) {
                failures.push(format!("{}: sessions silently lost", row.capture));
            }
        } else if r.pairs != expected {
            failures.push(format!(
                "{} [{how}]: {} requests, tshark {expected}; reasons {:?}",
                row.capture, r.pairs, r.undecrypted
            ));
        }
    }
    assert!(checked > 10, "only {checked} rows checked");
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn corpus_without_keys_yields_nothing_and_says_why() {
    let Some(corpus) = corpus() else { return };
    let mut seen = std::collections::BTreeSet::new();
    for row in rows(&corpus) {
        if !seen.insert(row.capture.clone()) {
            continue;
        }
        let pk = read_file(&corpus.join(&row.capture));
        let r = run(&pk, KeyLog::new());
        println!(
            "{} [no keys]: {} requests, {} TLS connections, {} undecrypted",
            row.capture,
            r.pairs,
            r.tls_conns,
            r.undecrypted.len()
        );
        assert_eq!(r.pairs, 0, "{}", row.capture);
        assert!(r.tls_conns > 0, "{}: no TLS seen", row.capture);
        assert!(
            !r.undecrypted.is_empty(),
            "{}: undecrypted sessions not reported",
            row.capture
        );
    }
}

#[test]
fn dsb_and_keylog_agree_on_tls12_dsb() {
    let Some(corpus) = corpus() else { return };
    let pk = read_file(&corpus.join("wireshark/tls12-dsb.pcapng"));
    let mut both = keylog_file(&corpus.join("wireshark/tls12-dsb-1.keys"));
    both.merge(&keylog_file(&corpus.join("wireshark/tls12-dsb-2.keys")));
    let mut dsb = KeyLog::new();
    dsb.merge(&pk.dsb);
    assert_eq!(run(&pk, both).pairs, 2);
    assert_eq!(run(&pk, dsb).pairs, 2);
}

/// TLS 1.0 + DHE-RSA-AES256-SHA (chained CBC IVs, MD5/SHA-1 PRF): the client's 19 plaintext bytes
/// ("GET /test HTTP/1.0\n", an incomplete request, so tshark's default count is 0 too).
#[test]
fn tls10_cbc_session_decrypts() {
    let Some(corpus) = corpus() else { return };
    let pk = read_file(&corpus.join("wireshark/dhe1.pcapng.gz"));
    let r = run(&pk, keylog_file(&corpus.join("wireshark/dhe1_keylog.dat")));
    assert_eq!(r.sessions.len(), 1);
    let (version, suite, plain, proto) = &r.sessions[0];
    assert_eq!(version.as_deref(), Some("TLS 1.0"));
    assert_eq!(*suite, Some(0x0039));
    assert_eq!(*plain, 19);
    assert_eq!(*proto, "h1");
    assert!(r.undecrypted.is_empty());
}

/// Bonus: the 73-suite legacy capture. Prints how many sessions decrypt and asserts every
/// other session has a stated reason.
#[test]
fn tls2_legacy_suites_bonus() {
    let Some(corpus) = corpus() else { return };
    let pk = read_file(&corpus.join("tls-decryption/tls2/dump.pcapng"));
    let r = run(
        &pk,
        keylog_file(&corpus.join("tls-decryption/tls2/premaster.txt")),
    );
    let decrypted = r.sessions.iter().filter(|s| s.2 > 0).count();
    println!(
        "tls2/dump.pcapng: {decrypted} of {} sessions decrypted, {} requests; not decrypted: {:?}",
        r.sessions.len(),
        r.pairs,
        r.undecrypted
    );
    assert_eq!(r.sessions.len(), 73);
    assert_eq!(decrypted + r.undecrypted.len(), 73);
    assert!(decrypted >= 64, "regression: {decrypted} < 64");
}
