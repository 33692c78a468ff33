//! Synthetic but real TLS sessions (records sealed with `ring` under known secrets) for the
//! cases the corpus does not cover: HelloRetryRequest, 0-RTT with and without the early secret,
//! KeyUpdate in both directions, AES-256-GCM / ChaCha20-Poly1305 under TLS 1.3, and TLS 1.2
//! AES-CBC records with encrypt-then-MAC and MAC-then-encrypt.

use authtap::capture::keylog::KeyLog;
use authtap::capture::tls::cipher::{seal13, RecordCipher};
use authtap::capture::tls::keys::{self, Suite};
use authtap::capture::tls::{TlsConn, TlsOutput, Undecryptable, HANDSHAKE_HRR_RANDOM};
use authtap::capture::Dir;
use cbc::cipher::{block_padding::NoPadding, BlockEncryptMut, KeyIvInit};
use ring::hmac;

const RANDOM: [u8; 32] = [0x42; 32];

fn hx(b: &[u8]) -> String {
    hex::encode(b)
}

fn hs_msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, 0, (body.len() >> 8) as u8, body.len() as u8];
    m.extend_from_slice(body);
    m
}

fn record(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![ty, 3, 3, (body.len() >> 8) as u8, body.len() as u8];
    r.extend_from_slice(body);
    r
}

fn client_hello(early: bool) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend(RANDOM);
    b.push(0);
    b.extend([0, 6, 0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 1, 0]);
    let mut ext = vec![0, 43, 0, 3, 2, 3, 4];
    if early {
        ext.extend([0, 42, 0, 0]);
    }
    b.extend((ext.len() as u16).to_be_bytes());
    b.extend(ext);
    record(22, &hs_msg(1, &b))
}

fn server_hello(suite: u16, random: [u8; 32]) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend(random);
    b.push(0);
    b.extend(suite.to_be_bytes());
    b.push(0);
    b.extend([0, 6, 0, 43, 0, 2, 3, 4]);
    record(22, &hs_msg(2, &b))
}

struct Keys13 {
    suite: Suite,
    secrets: [Vec<u8>; 5], // early, c hs, s hs, c ap, s ap
}

impl Keys13 {
    fn new(suite_id: u16) -> Self {
        let suite = keys::suite(suite_id).expect("suite");
        let n = suite.hash.len();
        let secrets = [1u8, 2, 3, 4, 5].map(|i| vec![i; n]);
        Keys13 { suite, secrets }
    }
    fn keylog(&self, with_early: bool) -> KeyLog {
        let r = hx(&RANDOM);
        let labels = [
            "CLIENT_EARLY_TRAFFIC_SECRET",
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            "CLIENT_TRAFFIC_SECRET_0",
            "SERVER_TRAFFIC_SECRET_0",
        ];
        let mut text = String::new();
        for (i, (l, s)) in labels.iter().zip(&self.secrets).enumerate() {
            if i == 0 && !with_early {
                continue;
            }
            text.push_str(&format!("{l} {r} {}\n", hx(s)));
        }
        let mut kl = KeyLog::new();
        kl.add_text(text.as_bytes());
        kl
    }
    fn seal(&self, secret: &[u8], seq: u64, ty: u8, data: &[u8]) -> Vec<u8> {
        let (k, iv) = keys::tls13_key_iv(&self.suite, secret);
        seal13(&self.suite, &k, iv, seq, ty, data).expect("seal")
    }
}

fn plaintext(out: &[TlsOutput], want: Dir) -> Vec<u8> {
    out.iter()
        .filter_map(|o| match o {
            TlsOutput::Plaintext { dir, data, .. } if *dir == want => Some(data.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Full TLS 1.3 session: optional HRR, optional 0-RTT, handshake, app data, KeyUpdate.
fn session13(
    suite_id: u16,
    hrr: bool,
    early: bool,
    keylog_early: bool,
) -> (TlsConn, Vec<TlsOutput>) {
    let k = Keys13::new(suite_id);
    let kl = k.keylog(keylog_early);
    let mut c = TlsConn::new();
    let mut out = Vec::new();
    let push = |c: &mut TlsConn, d: Dir, b: &[u8], out: &mut Vec<TlsOutput>| {
        out.extend(c.push(d, b, 0, &kl));
    };
    push(
        &mut c,
        Dir::ClientToServer,
        &client_hello(early && !hrr),
        &mut out,
    );
    if early && !hrr {
        let mut e = record(20, &[1]);
        e.extend(k.seal(&k.secrets[0], 0, 23, b"GET /early HTTP/1.1\r\n\r\n"));
        e.extend(k.seal(&k.secrets[0], 1, 22, &hs_msg(5, &[])));
        push(&mut c, Dir::ClientToServer, &e, &mut out);
    }
    if hrr {
        push(
            &mut c,
            Dir::ServerToClient,
            &server_hello(suite_id, HANDSHAKE_HRR_RANDOM),
            &mut out,
        );
        let mut again = record(20, &[1]);
        again.extend(client_hello(false));
        push(&mut c, Dir::ClientToServer, &again, &mut out);
    }
    let mut s = server_hello(suite_id, [7; 32]);
    s.extend(record(20, &[1]));
    let mut flight = hs_msg(8, &[0, 0]);
    flight.extend(hs_msg(20, &[9; 32]));
    s.extend(k.seal(&k.secrets[2], 0, 22, &flight));
    s.extend(k.seal(&k.secrets[4], 0, 23, b"HTTP/1.1 200 OK\r\n"));
    push(&mut c, Dir::ServerToClient, &s, &mut out);
    let mut cl = k.seal(&k.secrets[1], 0, 22, &hs_msg(20, &[8; 32]));
    cl.extend(k.seal(&k.secrets[3], 0, 23, b"GET /one HTTP/1.1\r\n\r\n"));
    // KeyUpdate from the client, then data under the next secret.
    cl.extend(k.seal(&k.secrets[3], 1, 22, &hs_msg(24, &[1])));
    let next = keys::tls13_next_secret(k.suite.hash, &k.secrets[3]);
    cl.extend(k.seal(&next, 0, 23, b"GET /two HTTP/1.1\r\n\r\n"));
    push(&mut c, Dir::ClientToServer, &cl, &mut out);
    out.extend(c.finish(&kl));
    (c, out)
}

#[test]
fn tls13_all_suites_with_key_update() {
    for suite in [0x1301u16, 0x1302, 0x1303] {
        let (c, out) = session13(suite, false, false, false);
        assert_eq!(
            plaintext(&out, Dir::ClientToServer),
            b"GET /one HTTP/1.1\r\n\r\nGET /two HTTP/1.1\r\n\r\n".to_vec(),
            "suite {suite:04x}"
        );
        assert_eq!(
            plaintext(&out, Dir::ServerToClient),
            b"HTTP/1.1 200 OK\r\n".to_vec()
        );
        assert_eq!(c.stats.key_updates, 1);
        assert_eq!(c.facts().suite, Some(suite));
    }
}

#[test]
fn hello_retry_request_is_followed() {
    let (c, out) = session13(0x1302, true, false, false);
    assert!(c.stats.hello_retry);
    assert_eq!(
        plaintext(&out, Dir::ClientToServer),
        b"GET /one HTTP/1.1\r\n\r\nGET /two HTTP/1.1\r\n\r\n".to_vec()
    );
    assert!(out
        .iter()
        .all(|o| !matches!(o, TlsOutput::Undecryptable { .. })));
}

#[test]
fn early_data_with_its_secret_is_decrypted() {
    let (c, out) = session13(0x1301, false, true, true);
    assert_eq!(
        plaintext(&out, Dir::ClientToServer),
        b"GET /early HTTP/1.1\r\n\r\nGET /one HTTP/1.1\r\n\r\nGET /two HTTP/1.1\r\n\r\n".to_vec()
    );
    assert_eq!(c.stats.early_data_skipped, 0);
}

#[test]
fn early_data_without_its_secret_is_skipped_and_counted() {
    let (c, out) = session13(0x1301, false, true, false);
    assert_eq!(
        plaintext(&out, Dir::ClientToServer),
        b"GET /one HTTP/1.1\r\n\r\nGET /two HTTP/1.1\r\n\r\n".to_vec()
    );
    assert_eq!(c.stats.early_data_skipped, 2);
    assert_eq!(c.stats.failed_records, 0);
}

#[test]
fn unsupported_suite_is_named() {
    let kl = Keys13::new(0x1301).keylog(false);
    let mut c = TlsConn::new();
    c.push(Dir::ClientToServer, &client_hello(false), 0, &kl);
    let out = c.push(Dir::ServerToClient, &server_hello(0x1304, [7; 32]), 0, &kl);
    assert!(out.iter().any(|o| matches!(
        o,
        TlsOutput::Undecryptable {
            reason: Undecryptable::UnsupportedSuite(0x1304),
            ..
        }
    )));
    assert_eq!(
        Undecryptable::UnsupportedSuite(0x1304).to_string(),
        "unsupported cipher suite 0x1304"
    );
}

/// TLS 1.2 AES-128-CBC-SHA256 record, built by hand (explicit IV), either MAC-then-encrypt or
/// encrypt-then-MAC (RFC 7366).
fn cbc12_record(
    key: &[u8; 16],
    mac_key: &[u8],
    seq: u64,
    iv: [u8; 16],
    data: &[u8],
    etm: bool,
) -> Vec<u8> {
    let mac_of = |ty_len: usize, content: &[u8]| {
        let k = hmac::Key::new(hmac::HMAC_SHA256, mac_key);
        let mut ctx = hmac::Context::with_key(&k);
        ctx.update(&seq.to_be_bytes());
        ctx.update(&[23, 3, 3]);
        ctx.update(&(ty_len as u16).to_be_bytes());
        ctx.update(content);
        ctx.sign().as_ref().to_vec()
    };
    let mut plain = data.to_vec();
    if !etm {
        plain.extend(mac_of(data.len(), data));
    }
    let pad = 15 - plain.len() % 16;
    plain.extend(std::iter::repeat_n(pad as u8, pad + 1));
    let n = plain.len();
    cbc::Encryptor::<aes::Aes128>::new(key.into(), &iv.into())
        .encrypt_padded_mut::<NoPadding>(&mut plain, n)
        .expect("block multiple");
    let mut body = iv.to_vec();
    body.extend(plain);
    if etm {
        let m = mac_of(body.len(), &body);
        body.extend(m);
    }
    body
}

#[test]
fn tls12_cbc_encrypt_then_mac_and_mac_then_encrypt() {
    let suite = keys::suite(0x003C).expect("AES128-SHA256");
    let key = [3u8; 16];
    let mac_key = [4u8; 32];
    for etm in [false, true] {
        let mut rc =
            RecordCipher::tls12(&suite, 0x0303, &mac_key, &key, &[0; 16], etm).expect("cipher");
        for (seq, msg) in [
            (0u64, &b"first record"[..]),
            (1, b"second, a bit longer record!!"),
        ] {
            let body = cbc12_record(&key, &mac_key, seq, [seq as u8 + 9; 16], msg, etm);
            let header = [23, 3, 3, (body.len() >> 8) as u8, body.len() as u8];
            let mut out = Vec::new();
            assert_eq!(
                rc.open(header, &body, &mut out),
                Ok(23),
                "etm={etm} seq={seq}"
            );
            assert_eq!(out, msg.to_vec());
        }
        // A record MACed for the wrong sequence number must fail and leave the state alone.
        let body = cbc12_record(&key, &mac_key, 5, [1; 16], b"replayed", etm);
        let header = [23, 3, 3, (body.len() >> 8) as u8, body.len() as u8];
        assert!(rc.open(header, &body, &mut Vec::new()).is_err());
        assert_eq!(rc.seq(), 2);
    }
}
