//! Bad input for the TLS, key log, HTTP/2 and HPACK engines, run as ordinary tests (the same
//! bodies as the cargo-fuzz targets in `fuzz/fuzz_targets/`, driven by proptest so they run in
//! CI without cargo-fuzz): never panic, stay within caps, and count what they reject.

use authtap::capture::hpack::{Decoder, MAX_HEADER_LIST};
use authtap::capture::http2::{H2Conn, MAX_STREAMS, PREFACE};
use authtap::capture::keylog::KeyLog;
use authtap::capture::tls::{TlsConn, TlsOutput, Undecryptable, PENDING_CAP};
use authtap::capture::Dir;
use proptest::prelude::*;

fn keys() -> KeyLog {
    let mut keys = KeyLog::new();
    let r = "01".repeat(32);
    keys.add_text(
        format!(
            "CLIENT_RANDOM {r} {}\nCLIENT_TRAFFIC_SECRET_0 {r} {}\n",
            "02".repeat(48),
            "03".repeat(32)
        )
        .as_bytes(),
    );
    keys
}

/// A syntactically valid ClientHello record with random 0x01.. and the given extensions.
fn client_hello() -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend([1u8; 32]);
    body.push(0); // session id
    body.extend([0, 2, 0x13, 0x01]); // suites
    body.extend([1, 0]); // compression
    body.extend([0, 0]); // no extensions
    let mut hs = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
    hs.extend(body);
    let mut rec = vec![22, 3, 1, (hs.len() >> 8) as u8, hs.len() as u8];
    rec.extend(hs);
    rec
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn tls_conn_survives_anything(data in proptest::collection::vec(any::<u8>(), 0..4000), step in 1usize..64) {
        let kl = keys();
        let mut conn = TlsConn::new();
        conn.push(Dir::ClientToServer, &client_hello(), 0, &kl);
        for (i, c) in data.chunks(step).enumerate() {
            let dir = if i % 2 == 0 { Dir::ServerToClient } else { Dir::ClientToServer };
            conn.push(dir, c, 0, &kl);
        }
        let out = conn.finish(&kl);
        let reports = out.iter().filter(|o| matches!(o, TlsOutput::Undecryptable { .. })).count();
        prop_assert!(reports <= 1);
    }

    #[test]
    fn keylog_survives_anything(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut kl = KeyLog::new();
        let n = kl.add_text(&data);
        let lines = data.split(|b| *b == b'\n' || *b == b'\r').count();
        prop_assert!(n + kl.skipped_lines as usize <= lines);
        // The line-by-line reader used for `--keylog` files agrees on LF-only text.
        let mut by_line = KeyLog::new();
        let loaded = by_line.add_reader(std::io::BufReader::with_capacity(64, &data[..]));
        let loaded = loaded.map_err(|e| TestCaseError::fail(e.to_string()))?;
        let lf_lines = data.split(|b| *b == b'\n').count() as u64;
        prop_assert!(loaded.accepted + loaded.malformed + loaded.ignored <= lf_lines);
        if !data.contains(&b'\r') {
            prop_assert_eq!(loaded.accepted, n as u64);
            prop_assert_eq!(by_line.len(), kl.len());
        }
    }

    #[test]
    fn http2_survives_anything(data in proptest::collection::vec(any::<u8>(), 0..4000)) {
        let mut c = H2Conn::new("https", None);
        let mut client = PREFACE.to_vec();
        client.extend_from_slice(&data[..data.len() / 2]);
        c.push(Dir::ClientToServer, &client, 0);
        c.push(Dir::ServerToClient, &data[data.len() / 2..], 0);
        c.finish();
        prop_assert!(c.open_streams() <= MAX_STREAMS);
    }

    #[test]
    fn hpack_survives_anything(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut d = Decoder::new();
        if let Ok(b) = d.decode(&data) {
            let size: usize = b.headers.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
            prop_assert!(size <= MAX_HEADER_LIST);
        }
    }
}

#[test]
fn bogus_record_length_is_desync_not_buffering() {
    let kl = keys();
    let mut conn = TlsConn::new();
    conn.push(Dir::ClientToServer, &client_hello(), 0, &kl);
    // Record header claiming 65535 bytes (> 2^14 + 2048): framing is lost, reported once.
    let out = conn.push(Dir::ServerToClient, &[22, 3, 3, 0xff, 0xff, 0, 0], 0, &kl);
    assert!(matches!(
        out.as_slice(),
        [TlsOutput::Undecryptable {
            reason: Undecryptable::Desync("server", 0),
            ..
        }]
    ));
    assert_eq!(conn.stats.desync, 1);
}

#[test]
fn never_ending_stream_without_keys_is_bounded() {
    // TLS 1.3 ServerHello for the random above but no keys for it: encrypted records pile up
    // until PENDING_CAP, then the session is reported (no key) and later bytes are dropped.
    let mut sh = vec![3, 3];
    sh.extend([9u8; 32]);
    sh.push(0);
    sh.extend([0x13, 0x01, 0]);
    sh.extend([0, 6, 0, 43, 0, 2, 3, 4]);
    let mut hs = vec![2, 0, 0, sh.len() as u8];
    hs.extend(sh);
    let mut rec = vec![22, 3, 3, 0, hs.len() as u8];
    rec.extend(hs);
    let kl = KeyLog::new();
    let mut conn = TlsConn::new();
    conn.push(Dir::ClientToServer, &client_hello(), 0, &kl);
    conn.push(Dir::ServerToClient, &rec, 0, &kl);
    let mut app = vec![23, 3, 3, 0x40, 0];
    app.extend(vec![0u8; 0x4000]);
    let mut reports = 0;
    for _ in 0..(PENDING_CAP / 0x4000 + 10) {
        for o in conn.push(Dir::ServerToClient, &app, 0, &kl) {
            if let TlsOutput::Undecryptable { reason, .. } = o {
                assert_eq!(reason, Undecryptable::NoKey);
                reports += 1;
            }
        }
    }
    assert_eq!(reports, 1);
    assert!(conn.stats.pending_dropped_bytes > 0);
    assert!(conn.is_dead());
}

#[test]
fn hpack_bomb_through_http2_is_capped_and_noted() {
    let mut c = H2Conn::new("https", Some("x".into()));
    // One 4000-byte literal added to the table, then referenced 2000 times in one block.
    let mut blk = vec![0x82, 0x87, 0x84, 0x40, 0x01, b'x', 0x7f];
    let mut n = 4000usize - 127;
    blk.push(0x80 | (n & 0x7f) as u8);
    n >>= 7;
    blk.push(n as u8);
    blk.extend(std::iter::repeat_n(b'a', 4000));
    blk.extend(std::iter::repeat_n(0xBE, 2000));
    let mut frame = vec![
        (blk.len() >> 16) as u8,
        (blk.len() >> 8) as u8,
        blk.len() as u8,
        1,
        0x5,
    ];
    frame.extend(1u32.to_be_bytes());
    frame.extend(&blk);
    let mut client = PREFACE.to_vec();
    client.extend(frame);
    c.push(Dir::ClientToServer, &client, 0);
    let pairs = c.finish();
    assert_eq!(pairs.len(), 1);
    assert!(pairs[0].request.headers.len() < 100);
    assert!(pairs[0]
        .notes
        .iter()
        .any(|n| n.contains("header list over")));
    assert_eq!(c.stats.header_lists_truncated, 1);
}
