//! Fidelity against the real TLS captures in `../shared/corpus` (EXPECTED.tsv): with the key log
//! file, and with the embedded pcapng DSB, `read_capture` must yield tshark's
//! `h1_requests + h2_requests`; without keys (DSBs stripped with `editcap --discard-all-secrets`)
//! it must yield zero exchanges and a `TlsUndecrypted` for every TLS session. Skips with a printed
//! reason when the corpus (or, for the stripped-DSB case, editcap) is missing.
//!
//! Requests are counted through the real pipeline (`source::pcap::read_capture`: reader, TCP,
//! `conn` dispatch, the TLS and HTTP/2 plugins). TLS-level facts that produce no exchange (the
//! TLS 1.0 session with an incomplete request, sessions per suite of the legacy capture) are
//! checked by driving `TlsConn` directly over `capture::tcp`. Legacy `tls2/dump.pcapng` (73
//! suites incl. RC4/3DES/export) is a bonus: its decrypted count is printed and must not regress.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use authtap::capture::keylog::KeyLog;
use authtap::capture::packet;
use authtap::capture::tcp::{Close, ConnMeta, StreamSink, TcpCaps, TcpTable};
use authtap::capture::tls::{looks_like_client_hello, TlsConn, TlsOutput};
use authtap::capture::{CaptureOutput, Dir};
use authtap::model::Micros;
use authtap::source::pcap::read_capture;
use capture_support::frames;
use std::path::{Path, PathBuf};

mod capture_support;

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if p.join("EXPECTED.tsv").exists() {
        Some(p)
    } else {
        println!("SKIP: ../shared/corpus/EXPECTED.tsv not found; corpus fidelity not checked");
        None
    }
}

/// Result of the real pipeline on one file.
struct Run {
    exchanges: usize,
    undecrypted: Vec<String>,
    decrypted_connections: usize,
}

fn pipeline(path: &Path, mut keys: KeyLog) -> Run {
    let file = std::fs::File::open(path).unwrap();
    let mut exchanges = 0;
    let mut undecrypted = Vec::new();
    let mut conns = std::collections::BTreeSet::new();
    read_capture(file, 0, &mut keys, |o| match o {
        CaptureOutput::Exchange(e) => {
            exchanges += 1;
            assert!(e.request.url.starts_with("https://"), "{}", e.request.url);
            if e.origin.tls.as_ref().map(|t| t.decrypted).unwrap_or(false) {
                conns.insert(e.origin.connection.clone());
            }
        }
        CaptureOutput::TlsUndecrypted { reason, .. } => undecrypted.push(reason),
    })
    .unwrap();
    Run {
        exchanges,
        undecrypted,
        decrypted_connections: conns.len(),
    }
}

/// (version, suite, plaintext bytes, reason) per TLS connection, from `TlsConn` alone.
type Session = (Option<String>, Option<u16>, u64, Option<String>);

struct Ctx {
    keys: KeyLog,
    sessions: Vec<Session>,
}

enum Sink {
    Tls(Box<TlsConn>, Option<String>),
    Undecided,
    Other,
}

impl StreamSink<Ctx> for Sink {
    fn open(_meta: &ConnMeta, _ts: Micros, _ctx: &mut Ctx) -> Self {
        Sink::Undecided
    }
    fn data(&mut self, dir: Dir, data: &[u8], ts: Micros, ctx: &mut Ctx) {
        if let Sink::Undecided = self {
            *self = if dir == Dir::ClientToServer && looks_like_client_hello(data) {
                Sink::Tls(Box::new(TlsConn::new()), None)
            } else {
                Sink::Other
            };
        }
        if let Sink::Tls(t, reason) = self {
            for o in t.push(dir, data, ts, &ctx.keys) {
                if let TlsOutput::Undecryptable { reason: r, .. } = o {
                    *reason = Some(r.to_string());
                }
            }
        }
    }
    fn gap(&mut self, _dir: Dir, _len: u64, _ts: Micros, _ctx: &mut Ctx) {}
    fn end(&mut self, _dir: Dir, _ts: Micros, _ctx: &mut Ctx) {}
    fn close(self, _why: Close, _ts: Micros, ctx: &mut Ctx) {
        if let Sink::Tls(mut t, mut reason) = self {
            for o in t.finish(&ctx.keys) {
                if let TlsOutput::Undecryptable { reason: r, .. } = o {
                    reason = Some(r.to_string());
                }
            }
            let f = t.facts();
            ctx.sessions
                .push((f.version.clone(), f.suite, t.stats.plaintext_bytes, reason));
        }
    }
}

fn sessions(path: &Path, keys: KeyLog) -> Vec<Session> {
    let mut table: TcpTable<Sink> = TcpTable::new(TcpCaps::default());
    let mut ctx = Ctx {
        keys,
        sessions: Vec::new(),
    };
    let mut last = 0;
    for (lt, ts, frame) in frames(path) {
        if let Ok(seg) = packet::decode(lt, &frame) {
            table.push(&seg, ts, &mut ctx);
        }
        last = ts;
    }
    table.finish(last, &mut ctx);
    ctx.sessions
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
        let (keys, how) = if row.keylog == "(embedded DSB)" {
            (KeyLog::new(), "DSB")
        } else {
            (keylog_file(&corpus.join(&row.keylog)), "keylog")
        };
        let r = pipeline(&corpus.join(&row.capture), keys);
        println!(
            "{} [{how}]: {} requests (tshark {expected}); {} decrypted connections with exchanges; undecrypted: {:?}",
            row.capture, r.exchanges, r.decrypted_connections, r.undecrypted
        );
        checked += 1;
        if bonus(&row.capture) {
            if r.exchanges > expected {
                failures.push(format!(
                    "{}: {} > tshark {expected}",
                    row.capture, r.exchanges
                ));
            }
            if r.exchanges + r.undecrypted.len() < 73 {
                failures.push(format!("{}: sessions silently lost", row.capture));
            }
        } else if r.exchanges != expected {
            failures.push(format!(
                "{} [{how}]: {} requests, tshark {expected}; reasons {:?}",
                row.capture, r.exchanges, r.undecrypted
            ));
        }
    }
    assert!(checked > 10, "only {checked} rows checked");
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Strip DSBs with editcap (as tshark's own negative check did); `None` when editcap is absent
/// or cannot rewrite the file.
fn without_secrets(path: &Path) -> Option<PathBuf> {
    let out = std::env::temp_dir().join(format!(
        "authtap-nokeys-{}-{}",
        std::process::id(),
        path.file_name()?.to_string_lossy().replace(".gz", "")
    ));
    let ok = std::process::Command::new("editcap")
        .arg("--discard-all-secrets")
        .arg(path)
        .arg(&out)
        .output()
        .ok()?
        .status
        .success();
    ok.then_some(out)
}

#[test]
fn corpus_without_keys_yields_nothing_and_says_why() {
    let Some(corpus) = corpus() else { return };
    let mut seen = std::collections::BTreeSet::new();
    for row in rows(&corpus) {
        if !seen.insert(row.capture.clone()) {
            continue;
        }
        let path = corpus.join(&row.capture);
        let (path, tmp) = if row.keylog == "(embedded DSB)" {
            match without_secrets(&path) {
                Some(p) => (p.clone(), Some(p)),
                None => {
                    println!("SKIP {}: editcap could not strip its DSB", row.capture);
                    continue;
                }
            }
        } else {
            (path, None)
        };
        let r = pipeline(&path, KeyLog::new());
        if let Some(t) = tmp {
            let _ = std::fs::remove_file(t);
        }
        println!(
            "{} [no keys]: {} requests, {} undecrypted: {:?}",
            row.capture,
            r.exchanges,
            r.undecrypted.len(),
            r.undecrypted.first()
        );
        assert_eq!(r.exchanges, 0, "{}", row.capture);
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
    let path = corpus.join("wireshark/tls12-dsb.pcapng");
    let mut both = keylog_file(&corpus.join("wireshark/tls12-dsb-1.keys"));
    both.merge(&keylog_file(&corpus.join("wireshark/tls12-dsb-2.keys")));
    assert_eq!(pipeline(&path, both).exchanges, 2);
    assert_eq!(pipeline(&path, KeyLog::new()).exchanges, 2);
}

/// TLS 1.0 + DHE-RSA-AES256-SHA (chained CBC IVs, MD5/SHA-1 PRF): the client's 19 plaintext bytes
/// ("GET /test HTTP/1.0\n", an incomplete request, so tshark's default count is 0 too).
#[test]
fn tls10_cbc_session_decrypts() {
    let Some(corpus) = corpus() else { return };
    let s = sessions(
        &corpus.join("wireshark/dhe1.pcapng.gz"),
        keylog_file(&corpus.join("wireshark/dhe1_keylog.dat")),
    );
    assert_eq!(s.len(), 1);
    let (version, suite, plain, reason) = &s[0];
    assert_eq!(version.as_deref(), Some("TLS 1.0"));
    assert_eq!(*suite, Some(0x0039));
    assert_eq!(*plain, 19);
    assert_eq!(*reason, None);
}

/// Bonus: the 73-suite legacy capture. Prints how many sessions decrypt and asserts every
/// other session has a stated reason.
#[test]
fn tls2_legacy_suites_bonus() {
    let Some(corpus) = corpus() else { return };
    let s = sessions(
        &corpus.join("tls-decryption/tls2/dump.pcapng"),
        keylog_file(&corpus.join("tls-decryption/tls2/premaster.txt")),
    );
    let decrypted = s.iter().filter(|x| x.2 > 0).count();
    let reasons: Vec<_> = s.iter().filter_map(|x| x.3.clone()).collect();
    println!(
        "tls2/dump.pcapng: {decrypted} of {} sessions decrypted; not decrypted: {reasons:?}",
        s.len()
    );
    assert_eq!(s.len(), 73);
    assert_eq!(decrypted + reasons.len(), 73);
    assert!(decrypted >= 64, "regression: {decrypted} < 64");
}

/// Cleartext HTTP/2 from the corpus: prior knowledge (nghttp2, draft h2-14 era; tshark needs
/// `-d tcp.port==3000,http2` and sees 6 requests / 1 response) and `Upgrade: h2c` (1 HTTP/1
/// request + 1 HTTP/2 request).
#[test]
fn corpus_cleartext_http2() {
    let Some(corpus) = corpus() else { return };
    let count = |name: &str| {
        let mut keys = KeyLog::new();
        let (mut req, mut resp) = (0, 0);
        read_capture(
            std::fs::File::open(corpus.join(name)).unwrap(),
            0,
            &mut keys,
            |o| {
                if let CaptureOutput::Exchange(e) = o {
                    req += 1;
                    resp += usize::from(e.response.is_some());
                }
            },
        )
        .unwrap();
        (req, resp)
    };
    assert_eq!(count("wireshark/packet-h2-14_headers.pcapng"), (6, 1));
    assert_eq!(count("scapy/http2_h2c.pcap").0, 2);
}
