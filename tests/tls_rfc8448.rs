//! RFC 8448 §3 (Simple 1-RTT Handshake) through the whole `TlsConn`: the published hellos and
//! encrypted records are fed as stream bytes with the published traffic secrets in a key log;
//! the application data must come out as the published plaintext (00 01 .. 31) both ways.

use authtap::capture::keylog::KeyLog;
use authtap::capture::tls::{cipher::RecordCipher, keys, TlsConn, TlsOutput, Undecryptable};
use authtap::capture::Dir;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).expect("hex")
}

fn record(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![ty, 3, 3, (body.len() >> 8) as u8, body.len() as u8];
    r.extend_from_slice(body);
    r
}

const CLIENT_HELLO: &str =
    "01 00 00 c0 03 03 cb 34 ec b1 e7 81 63 ba 1c 38 c6 da cb 19 6a 6d ff a2 1a 8d
 99 12 ec 18 a2 ef 62 83 02 4d ec e7 00 00 06 13 01 13 03 13 02 01 00 00 91 00
 00 00 0b 00 09 00 00 06 73 65 72 76 65 72 ff 01 00 01 00 00 0a 00 14 00 12 00
 1d 00 17 00 18 00 19 01 00 01 01 01 02 01 03 01 04 00 23 00 00 00 33 00 26 00
 24 00 1d 00 20 99 38 1d e5 60 e4 bd 43 d2 3d 8e 43 5a 7d ba fe b3 c0 6e 51 c1
 3c ae 4d 54 13 69 1e 52 9a af 2c 00 2b 00 03 02 03 04 00 0d 00 20 00 1e 04 03
 05 03 06 03 02 03 08 04 08 05 08 06 04 01 05 01 06 01 02 01 04 02 05 02 06 02
 02 02 00 2d 00 02 01 01 00 1c 00 02 40 01";
const SERVER_HELLO: &str =
    "02 00 00 56 03 03 a6 af 06 a4 12 18 60 dc 5e 6e 60 24 9c d3 4c 95 93 0c 8a c5
 cb 14 34 da c1 55 77 2e d3 e2 69 28 00 13 01 00 00 2e 00 33 00 24 00 1d 00 20
 c9 82 88 76 11 20 95 fe 66 76 2b db f7 c6 72 e1 56 d6 cc 25 3b 83 3d f1 dd 69
 b1 b0 4e 75 1f 0f 00 2b 00 02 03 04";
const SERVER_FLIGHT: &str =
    "d1 ff 33 4a 56 f5 bf f6 59 4a 07 cc 87 b5 80 23 3f 50 0f 45 e4 89 e7 f3 3a f3
 5e df 78 69 fc f4 0a a4 0a a2 b8 ea 73 f8 48 a7 ca 07 61 2e f9 f9 45 cb 96 0b
 40 68 90 51 23 ea 78 b1 11 b4 29 ba 91 91 cd 05 d2 a3 89 28 0f 52 61 34 aa dc
 7f c7 8c 4b 72 9d f8 28 b5 ec f7 b1 3b d9 ae fb 0e 57 f2 71 58 5b 8e a9 bb 35
 5c 7c 79 02 07 16 cf b9 b1 18 3e f3 ab 20 e3 7d 57 a6 b9 d7 47 76 09 ae e6 e1
 22 a4 cf 51 42 73 25 25 0c 7d 0e 50 92 89 44 4c 9b 3a 64 8f 1d 71 03 5d 2e d6
 5b 0e 3c dd 0c ba e8 bf 2d 0b 22 78 12 cb b3 60 98 72 55 cc 74 41 10 c4 53 ba
 a4 fc d6 10 92 8d 80 98 10 e4 b7 ed 1a 8f d9 91 f0 6a a6 24 82 04 79 7e 36 a6
 a7 3b 70 a2 55 9c 09 ea d6 86 94 5b a2 46 ab 66 e5 ed d8 04 4b 4c 6d e3 fc f2
 a8 94 41 ac 66 27 2f d8 fb 33 0e f8 19 05 79 b3 68 45 96 c9 60 bd 59 6e ea 52
 0a 56 a8 d6 50 f5 63 aa d2 74 09 96 0d ca 63 d3 e6 88 61 1e a5 e2 2f 44 15 cf
 95 38 d5 1a 20 0c 27 03 42 72 96 8a 26 4e d6 54 0c 84 83 8d 89 f7 2c 24 46 1a
 ad 6d 26 f5 9e ca ba 9a cb bb 31 7b 66 d9 02 f4 f2 92 a3 6a c1 b6 39 c6 37 ce
 34 31 17 b6 59 62 22 45 31 7b 49 ee da 0c 62 58 f1 00 d7 d9 61 ff b1 38 64 7e
 92 ea 33 0f ae ea 6d fa 31 c7 a8 4d c3 bd 7e 1b 7a 6c 71 78 af 36 87 90 18 e3
 f2 52 10 7f 24 3d 24 3d c7 33 9d 56 84 c8 b0 37 8b f3 02 44 da 8c 87 c8 43 f5
 e5 6e b4 c5 e8 28 0a 2b 48 05 2c f9 3b 16 49 9a 66 db 7c ca 71 e4 59 94 26 f7
 d4 61 e6 6f 99 88 2b d8 9f c5 08 00 be cc a6 2d 6c 74 11 6d bd 29 72 fd a1 fa
 80 f8 5d f8 81 ed be 5a 37 66 89 36 b3 35 58 3b 59 91 86 dc 5c 69 18 a3 96 fa
 48 a1 81 d6 b6 fa 4f 9d 62 d5 13 af bb 99 2f 2b 99 2f 67 f8 af e6 7f 76 91 3f
 a3 88 cb 56 30 c8 ca 01 e0 c6 5d 11 c6 6a 1e 2a c4 c8 59 77 b7 c7 a6 99 9b bf
 10 dc 35 ae 69 f5 51 56 14 63 6c 0b 9b 68 c1 9e d2 e3 1c 0b 3b 66 76 30 38 eb
 ba 42 f3 b3 8e dc 03 99 f3 a9 f2 3f aa 63 97 8c 31 7f c9 fa 66 a7 3f 60 f0 50
 4d e9 3b 5b 84 5e 27 55 92 c1 23 35 ee 34 0b bc 4f dd d5 02 78 40 16 e4 b3 be
 7e f0 4d da 49 f4 b4 40 a3 0c b5 d2 af 93 98 28 fd 4a e3 79 4e 44 f9 4d f5 a6
 31 ed e4 2c 17 19 bf da bf 02 53 fe 51 75 be 89 8e 75 0e dc 53 37 0d 2b";
const CLIENT_FINISHED: &str =
    "75 ec 4d c2 38 cc e6 0b 29 80 44 a7 1e 21 9c 56 cc 77 b0 51 7f e9 b9 3c 7a 4b
 fc 44 d8 7f 38 f8 03 38 ac 98 fc 46 de b3 84 bd 1c ae ac ab 68 67 d7 26 c4 05 46";
const SERVER_TICKET: &str =
    "3a 6b 8f 90 41 4a 97 d6 95 9c 34 87 68 0d e5 13 4a 2b 24 0e 6c ff ac 11 6e 95
 d4 1d 6a f8 f6 b5 80 dc f3 d1 1d 63 c7 58 db 28 9a 01 59 40 25 2f 55 71 3e 06
 1d c1 3e 07 88 91 a3 8e fb cf 57 53 ad 8e f1 70 ad 3c 73 53 d1 6d 9d a7 73 b9
 ca 7f 2b 9f a1 b6 c0 d4 a3 d0 3f 75 e0 9c 30 ba 1e 62 97 2a c4 6f 75 f7 b9 81
 be 63 43 9b 29 99 ce 13 06 46 15 13 98 91 d5 e4 c5 b4 06 f1 6e 3f c1 81 a7 7c
 a4 75 84 00 25 db 2f 0a 77 f8 1b 5a b0 5b 94 c0 13 46 75 5f 69 23 2c 86 51 9d
 86 cb ee ac 87 aa c3 47 d1 43 f9 60 5d 64 f6 50 db 4d 02 3e 70 e9 52 ca 49 fe
 51 37 12 1c 74 bc 26 97 68 7e 24 87 46 d6 df 35 30 05 f3 bc e1 86 96 12 9c 81
 53 55 6b 3b 6c 67 79 b3 7b f1 59 85 68 4f";
const CLIENT_APP: &str =
    "a2 3f 70 54 b6 2c 94 d0 af fa fe 82 28 ba 55 cb ef ac ea 42 f9 14 aa 66 bc ab
 3f 2b 98 19 a8 a5 b4 6b 39 5b d5 4a 9a 20 44 1e 2b 62 97 4e 1f 5a 62 92 a2 97
 70 14 bd 1e 3d ea e6 3a ee bb 21 69 49 15 e4";
const SERVER_APP: &str =
    "2e 93 7e 11 ef 4a c7 40 e5 38 ad 36 00 5f c4 a4 69 32 fc 32 25 d0 5f 82 aa 1b
 36 e3 0e fa f9 7d 90 e6 df fc 60 2d cb 50 1a 59 a8 fc c4 9c 4b f2 e5 f0 a2 1c
 00 47 c2 ab f3 32 54 0d d0 32 e1 67 c2 95 5d";

const RANDOM: &str = "cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7";
const C_HS: &str = "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21";
const S_HS: &str = "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38";
const C_AP: &str = "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5";
const S_AP: &str = "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643";

fn keylog(with_handshake: bool) -> KeyLog {
    let mut text = format!(
        "CLIENT_TRAFFIC_SECRET_0 {RANDOM} {C_AP}\nSERVER_TRAFFIC_SECRET_0 {RANDOM} {S_AP}\n"
    );
    if with_handshake {
        text.push_str(&format!(
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET {RANDOM} {C_HS}\r\nSERVER_HANDSHAKE_TRAFFIC_SECRET {RANDOM} {S_HS}\r\n"
        ));
    }
    let mut kl = KeyLog::new();
    kl.add_text(text.as_bytes());
    kl
}

/// The conversation as (dir, stream bytes), in wire order.
fn conversation() -> Vec<(Dir, Vec<u8>)> {
    let mut ch = vec![22u8, 3, 1];
    let chm = h(CLIENT_HELLO);
    ch.extend_from_slice(&(chm.len() as u16).to_be_bytes());
    ch.extend_from_slice(&chm);
    let mut server = record(22, &h(SERVER_HELLO));
    server.extend(record(23, &h(SERVER_FLIGHT)));
    vec![
        (Dir::ClientToServer, ch),
        (Dir::ServerToClient, server),
        (Dir::ClientToServer, record(23, &h(CLIENT_FINISHED))),
        (Dir::ServerToClient, record(23, &h(SERVER_TICKET))),
        (Dir::ClientToServer, record(23, &h(CLIENT_APP))),
        (Dir::ServerToClient, record(23, &h(SERVER_APP))),
    ]
}

fn run(kl: &KeyLog, chunk: usize) -> (TlsConn, Vec<TlsOutput>) {
    let mut conn = TlsConn::new();
    let mut out = Vec::new();
    for (dir, bytes) in conversation() {
        for piece in bytes.chunks(chunk) {
            out.extend(conn.push(dir, piece, 0, kl));
        }
    }
    out.extend(conn.finish(kl));
    (conn, out)
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

#[test]
fn rfc8448_application_data_decrypts_both_ways() {
    let expected: Vec<u8> = (0u8..=0x31).collect();
    for chunk in [1usize, 7, 100, 10_000] {
        let (conn, out) = run(&keylog(true), chunk);
        assert_eq!(
            plaintext(&out, Dir::ClientToServer),
            expected,
            "chunk {chunk}"
        );
        assert_eq!(
            plaintext(&out, Dir::ServerToClient),
            expected,
            "chunk {chunk}"
        );
        assert!(conn.facts().decrypted);
        assert_eq!(conn.facts().sni.as_deref(), Some("server"));
        assert_eq!(conn.facts().version.as_deref(), Some("TLS 1.3"));
        assert_eq!(conn.facts().suite, Some(0x1301));
        // handshake flight + ticket + client Finished + 2 app records
        assert_eq!(conn.stats.decrypted_records, 5, "chunk {chunk}");
        assert_eq!(conn.stats.failed_records, 0);
    }
}

#[test]
fn traffic_secrets_alone_suffice_for_application_data() {
    let expected: Vec<u8> = (0u8..=0x31).collect();
    let (conn, out) = run(&keylog(false), 13);
    assert_eq!(plaintext(&out, Dir::ClientToServer), expected);
    assert_eq!(plaintext(&out, Dir::ServerToClient), expected);
    assert_eq!(conn.stats.handshake_records_skipped, 2);
}

#[test]
fn without_keys_the_session_is_reported_not_silent() {
    let (conn, out) = run(&KeyLog::new(), 50);
    assert!(plaintext(&out, Dir::ClientToServer).is_empty());
    let reasons: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            TlsOutput::Undecryptable { reason, facts } => Some((reason.clone(), facts.sni.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        vec![(Undecryptable::NoKey, Some("server".to_string()))]
    );
    assert!(!conn.facts().decrypted);
}

#[test]
fn wrong_keys_are_counted_as_bad_records() {
    let mut kl = KeyLog::new();
    let wrong = "11".repeat(32);
    kl.add_text(
        format!("CLIENT_TRAFFIC_SECRET_0 {RANDOM} {wrong}\nSERVER_TRAFFIC_SECRET_0 {RANDOM} {wrong}\nCLIENT_HANDSHAKE_TRAFFIC_SECRET {RANDOM} {wrong}\nSERVER_HANDSHAKE_TRAFFIC_SECRET {RANDOM} {wrong}\n")
            .as_bytes(),
    );
    let (conn, out) = run(&kl, 1000);
    assert!(plaintext(&out, Dir::ClientToServer).is_empty());
    assert!(conn.stats.failed_records > 0);
    assert!(out.iter().any(|o| matches!(
        o,
        TlsOutput::Undecryptable {
            reason: Undecryptable::BadRecords(_),
            ..
        }
    )));
}

#[test]
fn keys_arriving_later_decrypt_pending_records() {
    let expected: Vec<u8> = (0u8..=0x31).collect();
    let mut conn = TlsConn::new();
    let mut out = Vec::new();
    let empty = KeyLog::new();
    let conv = conversation();
    for (dir, bytes) in &conv[..5] {
        out.extend(conn.push(*dir, bytes, 0, &empty));
    }
    assert!(plaintext(&out, Dir::ClientToServer).is_empty());
    let kl = keylog(true);
    let (dir, bytes) = &conv[5];
    out.extend(conn.push(*dir, bytes, 0, &kl));
    assert_eq!(plaintext(&out, Dir::ClientToServer), expected);
    assert_eq!(plaintext(&out, Dir::ServerToClient), expected);
}

#[test]
fn key_update_derives_next_secret() {
    // Build a client stream under C_AP: KeyUpdate, then a record under the updated secret.
    let suite = keys::suite(0x1301).expect("suite");
    let secret = h(C_AP);
    let (k0, iv0) = keys::tls13_key_iv(&suite, &secret);
    let next = keys::tls13_next_secret(suite.hash, &secret);
    let (k1, iv1) = keys::tls13_key_iv(&suite, &next);
    let conv = conversation();
    let mut conn = TlsConn::new();
    let kl = keylog(true);
    for (dir, bytes) in &conv[..4] {
        conn.push(*dir, bytes, 0, &kl);
    }
    let ku = keys_seal(&suite, &k0, iv0, 0, 22, &[24, 0, 0, 1, 0]);
    let data = keys_seal(&suite, &k1, iv1, 0, 23, b"after update");
    let mut out = conn.push(Dir::ClientToServer, &ku, 0, &kl);
    out.extend(conn.push(Dir::ClientToServer, &data, 0, &kl));
    assert_eq!(
        plaintext(&out, Dir::ClientToServer),
        b"after update".to_vec()
    );
    assert_eq!(conn.stats.key_updates, 1);
    let _ = RecordCipher::tls13(&suite, &k0, iv0).is_ok();
}

fn keys_seal(suite: &keys::Suite, key: &[u8], iv: [u8; 12], seq: u64, ty: u8, p: &[u8]) -> Vec<u8> {
    authtap::capture::tls::cipher::seal13(suite, key, iv, seq, ty, p).expect("seal")
}

#[test]
fn garbage_and_truncation_never_panic() {
    let kl = keylog(true);
    let conv = conversation();
    for cut in [0usize, 1, 5, 9, 50, 200] {
        let mut conn = TlsConn::new();
        for (dir, bytes) in &conv {
            let b = &bytes[..bytes.len().saturating_sub(cut)];
            conn.push(*dir, b, 0, &kl);
        }
        conn.finish(&kl);
    }
    let mut conn = TlsConn::new();
    let out = conn.push(Dir::ClientToServer, b"GET / HTTP/1.1\r\n\r\n", 0, &kl);
    assert!(matches!(
        out.first(),
        Some(TlsOutput::Undecryptable {
            reason: Undecryptable::Desync(..),
            ..
        })
    ));
}
