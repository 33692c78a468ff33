//! Bench generator for `benches/metrics/live_capture.sh`: writes a pcap of a Management-API-like
//! workload over TLS, plus the SSLKEYLOGFILE that decrypts it, for `tcpreplay` to replay onto `lo`
//! while `authtap capture --keylog` watches. Not a test.
//!
//! Usage: `live_gen OUT.pcap OUT.keys PACKETS` (writes at least PACKETS frames, whole connections
//! only, so every loop of the replay starts and ends clean; prints `packets= connections=
//! exchanges= bytes=` on stdout).
//!
//! Traffic shape (what a backend calling Auth0 looks like on an MTU-1500 link): Ethernet/IPv4/TCP
//! with 1448-byte segments and delayed ACKs (a pure ACK per two data segments and at the end of
//! each message), 16 keep-alive connections open at a time, 5 to 40 exchanges each, then
//! close_notify and FIN. 75 % of the connections are TLS 1.3 (TLS_AES_128_GCM_SHA256; half ALPN h2,
//! half http/1.1), 25 % TLS 1.2 (ECDHE-RSA-AES128-GCM-SHA256, http/1.1, `CLIENT_RANDOM` key log
//! line). Records are really encrypted (`ring`) under random secrets. Exchanges: client-credentials
//! `POST /oauth/token` (a signed-looking JWT comes back), `GET /api/v2/users/{id}`, user search,
//! `PATCH /api/v2/users/{id}`, `GET .../roles`, Auth0's 403 `insufficient_scope` and 429 bodies
//! with `x-ratelimit-*` headers.
//! Frames carry destination MAC 02:00:00:00:00:01, so on `lo` the kernel's IP stack discards them
//! (PACKET_OTHERHOST) while packet sockets (libpcap) still see them: the replay provokes no RSTs.
//! Known limits: one tenant, deterministic PRNG; no retransmissions or loss.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use authtap::capture::tls::{cipher::seal13, keys};
use base64::Engine as _;
use ring::aead;
use std::io::{BufWriter, Write};

#[path = "../support/pcap_writer.rs"]
mod pcap_writer;
use pcap_writer::{Layout, PcapWriter as Pcap};

const TENANT: &str = "tenant.eu.auth0.com";
const MSS: usize = 1448;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        for x in b.iter_mut() {
            *x = self.next() as u8;
        }
        b
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One frame from `from` to `to`; the ACK number is sent only with the ACK flag.
fn tcp<W: Write>(p: &mut Pcap<W>, from: &Side, to: &Side, flags: u8, payload: &[u8]) {
    let ack = if flags & 0x10 != 0 { to.seq } else { 0 };
    p.tcp(from.addr, to.addr, from.seq, ack, flags, payload);
}

/// Record protection of one direction.
enum Prot {
    Clear,
    Tls13 {
        key: Vec<u8>,
        iv: [u8; 12],
    },
    Tls12 {
        key: Box<aead::LessSafeKey>,
        salt: [u8; 4],
    },
}

struct Side {
    addr: ([u8; 4], u16),
    seq: u32,
    prot: Prot,
    rec_seq: u64,
}

impl Side {
    fn seal(&mut self, ty: u8, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in plain.chunks(16384) {
            match &self.prot {
                Prot::Clear => {
                    out.extend([ty, 3, 3]);
                    out.extend((chunk.len() as u16).to_be_bytes());
                    out.extend_from_slice(chunk);
                }
                Prot::Tls13 { key, iv } => {
                    let suite = keys::suite(0x1301).unwrap();
                    out.extend(seal13(&suite, key, *iv, self.rec_seq, ty, chunk).unwrap());
                }
                Prot::Tls12 { key, salt } => {
                    let explicit = self.rec_seq.to_be_bytes();
                    let mut nonce = [0u8; 12];
                    nonce[..4].copy_from_slice(salt);
                    nonce[4..].copy_from_slice(&explicit);
                    let mut aad = [0u8; 13];
                    aad[..8].copy_from_slice(&explicit);
                    aad[8] = ty;
                    aad[9] = 3;
                    aad[10] = 3;
                    aad[11..].copy_from_slice(&(chunk.len() as u16).to_be_bytes());
                    let mut body = chunk.to_vec();
                    key.seal_in_place_append_tag(
                        aead::Nonce::assume_unique_for_key(nonce),
                        aead::Aad::from(aad),
                        &mut body,
                    )
                    .unwrap();
                    out.extend([ty, 3, 3]);
                    out.extend(((8 + body.len()) as u16).to_be_bytes());
                    out.extend(explicit);
                    out.extend(body);
                }
            }
            self.rec_seq += 1;
        }
        out
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Proto {
    H1,
    H2,
}

struct Conn {
    c: Side,
    s: Side,
    proto: Proto,
    enc_c: hpack::Encoder<'static>,
    enc_s: hpack::Encoder<'static>,
    next_stream: u32,
    left: u32,
}

/// Sends `data` from `from` to `to` in MSS segments; the receiver ACKs every second segment and
/// the last one (delayed ACK).
fn send<W: Write>(p: &mut Pcap<W>, from: &mut Side, to: &mut Side, data: &[u8]) {
    let n = data.len().div_ceil(MSS);
    for (i, chunk) in data.chunks(MSS).enumerate() {
        tcp(p, from, to, 0x18, chunk);
        from.seq = from.seq.wrapping_add(chunk.len() as u32);
        if i % 2 == 1 || i + 1 == n {
            tcp(p, to, from, 0x10, &[]);
        }
    }
}

fn hs_msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![
        ty,
        (body.len() >> 16) as u8,
        (body.len() >> 8) as u8,
        body.len() as u8,
    ];
    m.extend_from_slice(body);
    m
}

fn frame(ty: u8, flags: u8, sid: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![
        (payload.len() >> 16) as u8,
        (payload.len() >> 8) as u8,
        payload.len() as u8,
        ty,
        flags,
    ];
    f.extend(sid.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn client_hello(rng: &mut Rng, random: &[u8; 32], tls13: bool, alpn: &[u8]) -> Vec<u8> {
    let mut ext = Vec::new();
    let mut sn = vec![0u8];
    sn.extend((TENANT.len() as u16).to_be_bytes());
    sn.extend(TENANT.as_bytes());
    let mut snl = (sn.len() as u16).to_be_bytes().to_vec();
    snl.extend(sn);
    ext.extend([0, 0]);
    ext.extend((snl.len() as u16).to_be_bytes());
    ext.extend(snl);
    let mut al = vec![alpn.len() as u8];
    al.extend(alpn);
    ext.extend([0, 16]);
    ext.extend(((al.len() + 2) as u16).to_be_bytes());
    ext.extend((al.len() as u16).to_be_bytes());
    ext.extend(al);
    ext.extend([0, 10, 0, 4, 0, 2, 0, 29]); // supported_groups x25519
    ext.extend([0, 13, 0, 4, 0, 2, 8, 4]); // signature_algorithms rsa_pss_rsae_sha256
    if tls13 {
        ext.extend([0, 43, 0, 3, 2, 3, 4]);
        ext.extend([0, 51, 0, 38, 0, 36, 0, 29, 0, 32]);
        ext.extend(rng.bytes::<32>());
    } else {
        ext.extend([0, 23, 0, 0]); // extended_master_secret
    }
    let mut ch = vec![3, 3];
    ch.extend(random);
    ch.push(32);
    ch.extend(rng.bytes::<32>());
    if tls13 {
        ch.extend([0, 2, 0x13, 0x01, 1, 0]);
    } else {
        ch.extend([0, 2, 0xc0, 0x2f, 1, 0]);
    }
    ch.extend((ext.len() as u16).to_be_bytes());
    ch.extend(ext);
    hs_msg(1, &ch)
}

fn open_conn<W: Write>(p: &mut Pcap<W>, rng: &mut Rng, n: u32, keylog: &mut impl Write) -> Conn {
    let client = ([10, 1, (n >> 8) as u8, n as u8], 32768 + (n % 28000) as u16);
    let server = ([10, 0, 0, 80], 443);
    let tls13 = rng.below(4) != 0;
    let proto = if tls13 && rng.below(2) == 0 {
        Proto::H2
    } else {
        Proto::H1
    };
    let alpn: &[u8] = if proto == Proto::H2 {
        b"h2"
    } else {
        b"http/1.1"
    };
    let random: [u8; 32] = rng.bytes();
    let mut c = Side {
        addr: client,
        seq: rng.next() as u32,
        prot: Prot::Clear,
        rec_seq: 0,
    };
    let mut s = Side {
        addr: server,
        seq: rng.next() as u32,
        prot: Prot::Clear,
        rec_seq: 0,
    };
    // TCP handshake.
    tcp(p, &c, &s, 0x02, &[]);
    c.seq = c.seq.wrapping_add(1);
    tcp(p, &s, &c, 0x12, &[]);
    s.seq = s.seq.wrapping_add(1);
    tcp(p, &c, &s, 0x10, &[]);
    let ch = c.seal(22, &client_hello(rng, &random, tls13, alpn));
    c.rec_seq = 0;
    send(p, &mut c, &mut s, &ch);

    let server_random: [u8; 32] = rng.bytes();
    let mut sh = vec![3, 3];
    sh.extend(server_random);
    sh.push(32);
    sh.extend(rng.bytes::<32>());
    if tls13 {
        let suite = keys::suite(0x1301).unwrap();
        let secrets: Vec<[u8; 32]> = (0..4).map(|_| rng.bytes()).collect();
        for (label, sec) in [
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            "CLIENT_TRAFFIC_SECRET_0",
            "SERVER_TRAFFIC_SECRET_0",
        ]
        .iter()
        .zip(&secrets)
        {
            writeln!(keylog, "{label} {} {}", hex(&random), hex(sec)).unwrap();
        }
        let prot = |sec: &[u8]| {
            let (key, iv) = keys::tls13_key_iv(&suite, sec);
            Prot::Tls13 { key, iv }
        };
        sh.extend([0x13, 0x01, 0]);
        let mut sext = vec![0, 43, 0, 2, 3, 4, 0, 51, 0, 36, 0, 29, 0, 32];
        sext.extend(rng.bytes::<32>());
        sh.extend((sext.len() as u16).to_be_bytes());
        sh.extend(sext);
        let mut out = s.seal(22, &hs_msg(2, &sh));
        out.extend([20, 3, 3, 0, 1, 1]);
        s.prot = prot(&secrets[1]);
        s.rec_seq = 0;
        let mut ee = vec![0, 16];
        let mut al = vec![alpn.len() as u8];
        al.extend(alpn);
        ee.extend(((al.len() + 2) as u16).to_be_bytes());
        ee.extend((al.len() as u16).to_be_bytes());
        ee.extend(al);
        let mut eeb = (ee.len() as u16).to_be_bytes().to_vec();
        eeb.extend(ee);
        let mut flight = hs_msg(8, &eeb);
        flight.extend(hs_msg(11, &[0u8; 1400]));
        flight.extend(hs_msg(15, &[0u8; 260]));
        flight.extend(hs_msg(20, &rng.bytes::<32>()));
        out.extend(s.seal(22, &flight));
        send(p, &mut s, &mut c, &out);
        c.prot = prot(&secrets[0]);
        c.rec_seq = 0;
        let mut fin = vec![20, 3, 3, 0, 1, 1];
        fin.extend(c.seal(22, &hs_msg(20, &rng.bytes::<32>())));
        send(p, &mut c, &mut s, &fin);
        c.prot = prot(&secrets[2]);
        c.rec_seq = 0;
        s.prot = prot(&secrets[3]);
        s.rec_seq = 0;
    } else {
        let suite = keys::suite(0xc02f).unwrap();
        let master: [u8; 48] = {
            let a: [u8; 32] = rng.bytes();
            let b: [u8; 16] = rng.bytes();
            let mut m = [0u8; 48];
            m[..32].copy_from_slice(&a);
            m[32..].copy_from_slice(&b);
            m
        };
        writeln!(keylog, "CLIENT_RANDOM {} {}", hex(&random), hex(&master)).unwrap();
        let kb = keys::key_block12(&suite, 0x0303, &master, &random, &server_random);
        let prot = |key: &[u8], iv: &[u8]| {
            let mut salt = [0u8; 4];
            salt.copy_from_slice(iv);
            Prot::Tls12 {
                key: Box::new(aead::LessSafeKey::new(
                    aead::UnboundKey::new(&aead::AES_128_GCM, key).unwrap(),
                )),
                salt,
            }
        };
        sh.extend([0xc0, 0x2f, 0]);
        let mut sext = vec![0, 23, 0, 0, 0, 16];
        sext.extend(((alpn.len() + 3) as u16).to_be_bytes());
        sext.extend(((alpn.len() + 1) as u16).to_be_bytes());
        sext.push(alpn.len() as u8);
        sext.extend(alpn);
        sh.extend((sext.len() as u16).to_be_bytes());
        sh.extend(sext);
        let mut flight = hs_msg(2, &sh);
        flight.extend(hs_msg(11, &[0u8; 1400]));
        let mut ske = vec![3, 0, 29, 32];
        ske.extend(rng.bytes::<32>());
        ske.extend([8, 4, 1, 0]);
        ske.extend([0u8; 256]);
        flight.extend(hs_msg(12, &ske));
        flight.extend(hs_msg(14, &[]));
        let out = s.seal(22, &flight);
        send(p, &mut s, &mut c, &out);
        let mut cke = vec![32];
        cke.extend(rng.bytes::<32>());
        let mut out = c.seal(22, &hs_msg(16, &cke));
        out.extend([20, 3, 3, 0, 1, 1]);
        c.prot = prot(&kb.client_key, &kb.client_iv);
        c.rec_seq = 0;
        out.extend(c.seal(22, &hs_msg(20, &rng.bytes::<12>())));
        send(p, &mut c, &mut s, &out);
        let mut out = vec![20, 3, 3, 0, 1, 1];
        s.prot = prot(&kb.server_key, &kb.server_iv);
        s.rec_seq = 0;
        out.extend(s.seal(22, &hs_msg(20, &rng.bytes::<12>())));
        send(p, &mut s, &mut c, &out);
    }
    let mut conn = Conn {
        c,
        s,
        proto,
        enc_c: hpack::Encoder::new(),
        enc_s: hpack::Encoder::new(),
        next_stream: 1,
        left: 5 + rng.below(36) as u32,
    };
    if proto == Proto::H2 {
        let mut pre = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        pre.extend(frame(4, 0, 0, &[0, 3, 0, 0, 0, 100, 0, 4, 0, 0x60, 0, 0]));
        let rec = conn.c.seal(23, &pre);
        send(p, &mut conn.c, &mut conn.s, &rec);
        let mut st = frame(4, 0, 0, &[0, 3, 0, 0, 0, 128]);
        st.extend(frame(4, 1, 0, &[]));
        let rec = conn.s.seal(23, &st);
        send(p, &mut conn.s, &mut conn.c, &rec);
    }
    conn
}

fn b64(v: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

/// A JWT shaped like an Auth0 Management API access token (the signature is random bytes).
fn jwt(rng: &mut Rng, client: u64, scope: &str) -> String {
    let header = br#"{"alg":"RS256","typ":"JWT","kid":"bench-key-1"}"#;
    let iat = 1_767_225_600 + rng.below(3600);
    let payload = format!(
        r#"{{"iss":"https://{TENANT}/","sub":"m2mclient{client:04}@clients","aud":"https://{TENANT}/api/v2/","iat":{iat},"exp":{},"scope":"{scope}","gty":"client-credentials","azp":"m2mclient{client:04}"}}"#,
        iat + 86400
    );
    format!(
        "{}.{}.{}",
        b64(header),
        b64(payload.as_bytes()),
        b64(&rng.bytes::<32>().repeat(8))
    )
}

struct Req {
    method: &'static str,
    path: String,
    auth: Option<String>,
    body: Vec<u8>,
    ctype: &'static str,
}

struct Resp {
    status: u16,
    body: Vec<u8>,
    extra: Vec<(&'static str, String)>,
}

fn user_json(rng: &mut Rng, id: u64) -> String {
    let pad = "n".repeat(200 + rng.below(1500) as usize);
    format!(
        r#"{{"created_at":"2025-03-01T10:00:00.000Z","email":"user{id}@example.com","email_verified":true,"identities":[{{"connection":"Username-Password-Authentication","provider":"auth0","user_id":"{id}","isSocial":false}}],"name":"User {id}","nickname":"user{id}","picture":"https://s.gravatar.com/avatar/{id}.png","updated_at":"2026-11-01T10:00:00.000Z","user_id":"auth0|{id}","user_metadata":{{"notes":"{pad}"}},"app_metadata":{{"plan":"pro"}},"last_login":"2026-11-20T09:00:00.000Z","logins_count":{}}}"#,
        rng.below(500)
    )
}

fn workload(rng: &mut Rng, tokens: &[String]) -> (Req, Resp) {
    let id = 100_000 + rng.below(900_000);
    let client = rng.below(tokens.len() as u64);
    let bearer = || Some(format!("Bearer {}", tokens[client as usize]));
    let ratelimit = |rng: &mut Rng| {
        vec![
            ("x-ratelimit-limit", "50".to_string()),
            ("x-ratelimit-remaining", rng.below(50).to_string()),
            ("x-ratelimit-reset", "1767225660".to_string()),
        ]
    };
    let roll = rng.below(100);
    let auth_err = |status: u16, error: &str, msg: &str, code: &str| {
        format!(
            r#"{{"statusCode":{status},"error":"{error}","message":"{msg}","errorCode":"{code}"}}"#
        )
        .into_bytes()
    };
    match roll {
        0..=9 => {
            let body = format!(
                "grant_type=client_credentials&client_id=m2mclient{client:04}&client_secret={}&audience=https%3A%2F%2F{TENANT}%2Fapi%2Fv2%2F",
                hex(&rng.bytes::<24>())
            );
            let token = jwt(rng, client, "read:users update:users read:roles");
            (
                Req {
                    method: "POST",
                    path: "/oauth/token".into(),
                    auth: None,
                    body: body.into_bytes(),
                    ctype: "application/x-www-form-urlencoded",
                },
                Resp {
                    status: 200,
                    body: format!(
                        r#"{{"access_token":"{token}","scope":"read:users update:users read:roles","expires_in":86400,"token_type":"Bearer"}}"#
                    )
                    .into_bytes(),
                    extra: vec![("cache-control", "no-store".into())],
                },
            )
        }
        10..=49 => (
            Req {
                method: "GET",
                path: format!("/api/v2/users/auth0%7C{id}"),
                auth: bearer(),
                body: Vec::new(),
                ctype: "",
            },
            Resp {
                status: 200,
                body: user_json(rng, id).into_bytes(),
                extra: ratelimit(rng),
            },
        ),
        50..=59 => {
            let n = 3 + rng.below(8);
            let users: Vec<String> = (0..n).map(|k| user_json(rng, id + k)).collect();
            (
                Req {
                    method: "GET",
                    path: format!(
                        "/api/v2/users?q=email%3A%22user{id}%40example.com%22&search_engine=v3&per_page=10"
                    ),
                    auth: bearer(),
                    body: Vec::new(),
                    ctype: "",
                },
                Resp {
                    status: 200,
                    body: format!("[{}]", users.join(",")).into_bytes(),
                    extra: ratelimit(rng),
                },
            )
        }
        60..=74 => (
            Req {
                method: "PATCH",
                path: format!("/api/v2/users/auth0%7C{id}"),
                auth: bearer(),
                body: br#"{"app_metadata":{"plan":"enterprise","seats":25}}"#.to_vec(),
                ctype: "application/json",
            },
            Resp {
                status: 200,
                body: user_json(rng, id).into_bytes(),
                extra: ratelimit(rng),
            },
        ),
        75..=84 => (
            Req {
                method: "GET",
                path: format!("/api/v2/users/auth0%7C{id}/roles"),
                auth: bearer(),
                body: Vec::new(),
                ctype: "",
            },
            Resp {
                status: 200,
                body: br#"[{"id":"rol_8mXBtxfvnDXrqpXV","name":"admin","description":"Administrators"}]"#
                    .to_vec(),
                extra: ratelimit(rng),
            },
        ),
        85..=94 => (
            Req {
                method: "DELETE",
                path: format!("/api/v2/users/auth0%7C{id}"),
                auth: bearer(),
                body: Vec::new(),
                ctype: "",
            },
            Resp {
                status: 403,
                body: auth_err(
                    403,
                    "Forbidden",
                    "Insufficient scope, expected any of: delete:users",
                    "insufficient_scope",
                ),
                extra: ratelimit(rng),
            },
        ),
        _ => (
            Req {
                method: "GET",
                path: format!("/api/v2/users/auth0%7C{id}"),
                auth: bearer(),
                body: Vec::new(),
                ctype: "",
            },
            Resp {
                status: 429,
                body: auth_err(
                    429,
                    "Too Many Requests",
                    "Global limit has been reached",
                    "too_many_requests",
                ),
                extra: vec![
                    ("x-ratelimit-limit", "50".into()),
                    ("x-ratelimit-remaining", "0".into()),
                    ("x-ratelimit-reset", "1767225660".into()),
                    ("retry-after", "1".into()),
                ],
            },
        ),
    }
}

fn exchange<W: Write>(p: &mut Pcap<W>, rng: &mut Rng, conn: &mut Conn, tokens: &[String]) {
    let (req, resp) = workload(rng, tokens);
    let clen = req.body.len().to_string();
    let rlen = resp.body.len().to_string();
    let status = resp.status.to_string();
    match conn.proto {
        Proto::H1 => {
            let mut r = format!(
                "{} {} HTTP/1.1\r\nHost: {TENANT}\r\nUser-Agent: node-auth0/4.3.1\r\nAccept: application/json\r\n",
                req.method, req.path
            );
            if let Some(a) = &req.auth {
                r.push_str(&format!("Authorization: {a}\r\n"));
            }
            if !req.body.is_empty() {
                r.push_str(&format!(
                    "Content-Type: {}\r\nContent-Length: {clen}\r\n",
                    req.ctype
                ));
            }
            r.push_str("Connection: keep-alive\r\n\r\n");
            let mut plain = r.into_bytes();
            plain.extend_from_slice(&req.body);
            let rec = conn.c.seal(23, &plain);
            send(p, &mut conn.c, &mut conn.s, &rec);
            let mut h = format!(
                "HTTP/1.1 {status} {}\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {rlen}\r\nConnection: keep-alive\r\n",
                match resp.status {
                    200 => "OK",
                    403 => "Forbidden",
                    _ => "Too Many Requests",
                }
            );
            for (k, v) in &resp.extra {
                h.push_str(&format!("{k}: {v}\r\n"));
            }
            h.push_str("\r\n");
            let mut plain = h.into_bytes();
            plain.extend_from_slice(&resp.body);
            let rec = conn.s.seal(23, &plain);
            send(p, &mut conn.s, &mut conn.c, &rec);
        }
        Proto::H2 => {
            let sid = conn.next_stream;
            conn.next_stream += 2;
            let mut hdrs: Vec<(&[u8], &[u8])> = vec![
                (b":method", req.method.as_bytes()),
                (b":scheme", b"https"),
                (b":authority", TENANT.as_bytes()),
                (b":path", req.path.as_bytes()),
                (b"accept", b"application/json"),
                (b"user-agent", b"node-auth0/4.3.1"),
            ];
            if let Some(a) = &req.auth {
                hdrs.push((b"authorization", a.as_bytes()));
            }
            if !req.body.is_empty() {
                hdrs.push((b"content-type", req.ctype.as_bytes()));
                hdrs.push((b"content-length", clen.as_bytes()));
            }
            let hb = conn.enc_c.encode(hdrs);
            let mut plain = frame(1, if req.body.is_empty() { 0x5 } else { 0x4 }, sid, &hb);
            if !req.body.is_empty() {
                plain.extend(frame(0, 1, sid, &req.body));
            }
            let rec = conn.c.seal(23, &plain);
            send(p, &mut conn.c, &mut conn.s, &rec);
            let mut rh: Vec<(&[u8], &[u8])> = vec![
                (b":status", status.as_bytes()),
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", rlen.as_bytes()),
            ];
            for (k, v) in &resp.extra {
                rh.push((k.as_bytes(), v.as_bytes()));
            }
            let hb = conn.enc_s.encode(rh);
            let mut plain = frame(1, 0x4, sid, &hb);
            let chunks: Vec<&[u8]> = resp.body.chunks(16000).collect();
            for (i, c) in chunks.iter().enumerate() {
                plain.extend(frame(0, u8::from(i + 1 == chunks.len()), sid, c));
            }
            let rec = conn.s.seal(23, &plain);
            send(p, &mut conn.s, &mut conn.c, &rec);
        }
    }
}

fn close<W: Write>(p: &mut Pcap<W>, mut c: Conn) {
    let alert = c.c.seal(21, &[1, 0]);
    send(p, &mut c.c, &mut c.s, &alert);
    tcp(p, &c.c, &c.s, 0x11, &[]);
    c.c.seq = c.c.seq.wrapping_add(1);
    tcp(p, &c.s, &c.c, 0x11, &[]);
    c.s.seq = c.s.seq.wrapping_add(1);
    tcp(p, &c.c, &c.s, 0x10, &[]);
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.len() != 3 {
        eprintln!("usage: live_gen OUT.pcap OUT.keys PACKETS");
        std::process::exit(2);
    }
    let want: u64 = args[2].parse().unwrap_or(200_000);
    let mut p = Pcap::new(
        BufWriter::with_capacity(1 << 20, std::fs::File::create(&args[0]).unwrap()),
        Layout {
            // dst 02:00:00:00:00:01 is not lo's MAC, so the IP stack ignores replayed frames.
            macs: ([0x02, 0, 0, 0, 0, 1], [0x02, 0, 0, 0, 0, 2]),
            window: 0x01f5,
            step_us: 20,
            snaplen: 65535,
        },
    );
    let mut keylog = BufWriter::new(std::fs::File::create(&args[1]).unwrap());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let tokens: Vec<String> = (0..8)
        .map(|c| jwt(&mut rng, c, "read:users update:users read:roles"))
        .collect();
    let (mut n, mut exchanges) = (0u32, 0u64);
    let mut conns: Vec<Conn> = Vec::new();
    while p.frames < want || !conns.is_empty() {
        if conns.len() < 16 && p.frames < want {
            conns.push(open_conn(&mut p, &mut rng, n, &mut keylog));
            n += 1;
        }
        let i = rng.below(conns.len() as u64) as usize;
        exchange(&mut p, &mut rng, &mut conns[i], &tokens);
        exchanges += 1;
        conns[i].left -= 1;
        if conns[i].left == 0 {
            let c = conns.swap_remove(i);
            close(&mut p, c);
        }
    }
    p.flush();
    keylog.flush().unwrap();
    println!(
        "packets={} connections={n} exchanges={exchanges} bytes={}",
        p.frames, p.bytes
    );
}
