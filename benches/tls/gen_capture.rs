//! Bench generator: writes a pcap of TLS 1.3 (TLS_AES_128_GCM_SHA256) connections carrying
//! HTTP/2 Auth0 Management API traffic, with real records encrypted under random secrets, plus
//! the matching SSLKEYLOGFILE. Not a test; run by `benches/tls/run.sh`.
//!
//! Usage: `cargo bench --bench tls_gen -- OUT.pcap OUT.keys SIZE_MB`
//! Each connection: TCP handshake, ClientHello (SNI, ALPN h2), ServerHello (supported_versions
//! 1.3), the server's encrypted handshake flight and the client's encrypted Finished under the
//! handshake secrets, then HTTP/2 (preface, SETTINGS, HPACK via the `hpack` encoder) under the
//! application secrets: `GET /api/v2/users/{id}` and friends with Bearer tokens, 200/403/429
//! answers with Auth0-shaped JSON bodies. Segments are 1448-byte TCP payloads over Ethernet/IPv4.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use authtap::capture::tls::{cipher::seal13, keys};
use std::io::{BufWriter, Write};

#[path = "../support/pcap_writer.rs"]
mod pcap_writer;
use pcap_writer::{Layout, PcapWriter as Pcap};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        for x in b.iter_mut() {
            *x = self.next() as u8;
        }
        b
    }
}

struct Side {
    addr: ([u8; 4], u16),
    seq: u32,
    key: Vec<u8>,
    iv: [u8; 12],
    rec_seq: u64,
}

struct Conn {
    c: Side,
    s: Side,
    enc_c: hpack::Encoder<'static>,
    enc_s: hpack::Encoder<'static>,
    next_stream: u32,
    app_c: ([u8; 16], [u8; 12]),
    app_s: ([u8; 16], [u8; 12]),
}

fn send<W: Write>(p: &mut Pcap<W>, from: &mut Side, to: &Side, data: &[u8]) {
    for chunk in data.chunks(1448) {
        p.tcp(from.addr, to.addr, from.seq, to.seq, 0x18, chunk);
        from.seq = from.seq.wrapping_add(chunk.len() as u32);
    }
}

fn seal(side: &mut Side, ty: u8, plain: &[u8]) -> Vec<u8> {
    let suite = keys::suite(0x1301).unwrap();
    let mut out = Vec::new();
    for chunk in plain.chunks(16384) {
        out.extend(seal13(&suite, &side.key, side.iv, side.rec_seq, ty, chunk).unwrap());
        side.rec_seq += 1;
    }
    out
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

fn open_conn<W: Write>(p: &mut Pcap<W>, rng: &mut Rng, n: u32, keylog: &mut impl Write) -> Conn {
    let suite = keys::suite(0x1301).unwrap();
    let client = ([10, 1, (n >> 8) as u8, n as u8], 40000 + (n % 20000) as u16);
    let server = ([10, 0, 0, 80], 443);
    let random: [u8; 32] = rng.bytes();
    let secrets: Vec<[u8; 32]> = (0..4).map(|_| rng.bytes()).collect();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    for (label, s) in [
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
    ]
    .iter()
    .zip(&secrets)
    {
        writeln!(keylog, "{label} {} {}", hex(&random), hex(s)).unwrap();
    }
    let kiv = |s: &[u8]| {
        let (k, iv) = keys::tls13_key_iv(&suite, s);
        (k, iv)
    };
    let (chk, chiv) = kiv(&secrets[0]);
    let (shk, shiv) = kiv(&secrets[1]);
    let (cak, caiv) = kiv(&secrets[2]);
    let (sak, saiv) = kiv(&secrets[3]);
    let mut c = Side {
        addr: client,
        seq: rng.next() as u32,
        key: chk,
        iv: chiv,
        rec_seq: 0,
    };
    let mut s = Side {
        addr: server,
        seq: rng.next() as u32,
        key: shk,
        iv: shiv,
        rec_seq: 0,
    };
    p.tcp(c.addr, s.addr, c.seq, 0, 0x02, &[]);
    c.seq = c.seq.wrapping_add(1);
    p.tcp(s.addr, c.addr, s.seq, c.seq, 0x12, &[]);
    s.seq = s.seq.wrapping_add(1);
    p.tcp(c.addr, s.addr, c.seq, s.seq, 0x10, &[]);
    // ClientHello: SNI, ALPN h2, supported_versions 1.3
    let sni = b"tenant.eu.auth0.com";
    let mut ext = Vec::new();
    let mut sn = vec![0u8];
    sn.extend((sni.len() as u16).to_be_bytes());
    sn.extend(sni);
    let mut snl = (sn.len() as u16).to_be_bytes().to_vec();
    snl.extend(sn);
    ext.extend([0, 0]);
    ext.extend((snl.len() as u16).to_be_bytes());
    ext.extend(snl);
    ext.extend([0, 16, 0, 5, 0, 3, 2, b'h', b'2']);
    ext.extend([0, 43, 0, 3, 2, 3, 4]);
    ext.extend([0, 51, 0, 38, 0, 36, 0, 29, 0, 32]);
    ext.extend(rng.bytes::<32>());
    let mut ch = vec![3, 3];
    ch.extend(random);
    ch.push(32);
    ch.extend(rng.bytes::<32>());
    ch.extend([0, 2, 0x13, 0x01, 1, 0]);
    ch.extend((ext.len() as u16).to_be_bytes());
    ch.extend(ext);
    let chm = hs_msg(1, &ch);
    let mut rec = vec![22, 3, 1];
    rec.extend((chm.len() as u16).to_be_bytes());
    rec.extend(chm);
    send(p, &mut c, &s, &rec);
    // ServerHello + encrypted flight
    let mut sh = vec![3, 3];
    sh.extend(rng.bytes::<32>());
    sh.push(32);
    sh.extend(rng.bytes::<32>());
    sh.extend([0x13, 0x01, 0]);
    let mut sext = vec![0, 43, 0, 2, 3, 4, 0, 51, 0, 36, 0, 29, 0, 32];
    sext.extend(rng.bytes::<32>());
    sh.extend((sext.len() as u16).to_be_bytes());
    sh.extend(sext);
    let shm = hs_msg(2, &sh);
    let mut out = vec![22, 3, 3];
    out.extend((shm.len() as u16).to_be_bytes());
    out.extend(shm);
    out.extend([20, 3, 3, 0, 1, 1]);
    let mut flight = hs_msg(8, &[0, 9, 0, 16, 0, 5, 0, 3, 2, b'h', b'2']);
    flight.extend(hs_msg(11, &[0u8; 900]));
    flight.extend(hs_msg(15, &[0u8; 260]));
    flight.extend(hs_msg(20, &rng.bytes::<32>()));
    out.extend(seal(&mut s, 22, &flight));
    send(p, &mut s, &c, &out);
    let mut fin = vec![20, 3, 3, 0, 1, 1];
    fin.extend(seal(&mut c, 22, &hs_msg(20, &rng.bytes::<32>())));
    send(p, &mut c, &s, &fin);
    let mut cak16 = [0u8; 16];
    cak16.copy_from_slice(&cak);
    let mut sak16 = [0u8; 16];
    sak16.copy_from_slice(&sak);
    // switch to application keys
    c.key = cak.clone();
    c.iv = caiv;
    c.rec_seq = 0;
    s.key = sak.clone();
    s.iv = saiv;
    s.rec_seq = 0;
    let mut conn = Conn {
        c,
        s,
        enc_c: hpack::Encoder::new(),
        enc_s: hpack::Encoder::new(),
        next_stream: 1,
        app_c: (cak16, caiv),
        app_s: (sak16, saiv),
    };
    let mut pre = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    pre.extend(frame(4, 0, 0, &[0, 3, 0, 0, 0, 100, 0, 4, 0, 0x60, 0, 0]));
    let rec = seal(&mut conn.c, 23, &pre);
    send(p, &mut conn.c, &conn.s, &rec);
    let mut st = frame(4, 0, 0, &[0, 3, 0, 0, 0, 128]);
    st.extend(frame(4, 1, 0, &[]));
    let rec = seal(&mut conn.s, 23, &st);
    send(p, &mut conn.s, &conn.c, &rec);
    let _ = (&conn.app_c, &conn.app_s);
    conn
}

fn exchange<W: Write>(p: &mut Pcap<W>, rng: &mut Rng, conn: &mut Conn, token: &str) {
    let sid = conn.next_stream;
    conn.next_stream += 2;
    let id = rng.next() % 1_000_000;
    let kind = rng.next() % 20;
    let path = match kind {
        0 => "/api/v2/users?q=email%3A%22a%40example.com%22&search_engine=v3".to_string(),
        1 => format!("/api/v2/users/auth0%7C{id}/roles"),
        _ => format!("/api/v2/users/auth0%7C{id}"),
    };
    let auth = format!("Bearer {token}");
    let req: Vec<(&[u8], &[u8])> = vec![
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":authority", b"tenant.eu.auth0.com"),
        (b":path", path.as_bytes()),
        (b"authorization", auth.as_bytes()),
        (b"accept", b"application/json"),
        (b"user-agent", b"node-auth0/4.3.1"),
    ];
    let hb = conn.enc_c.encode(req);
    let rec = seal(&mut conn.c, 23, &frame(1, 0x5, sid, &hb));
    send(p, &mut conn.c, &conn.s, &rec);
    let (status, body): (&[u8], Vec<u8>) = match kind {
        3 => (b"403", br#"{"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: read:users","errorCode":"insufficient_scope"}"#.to_vec()),
        4 => (b"429", br#"{"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached","errorCode":"too_many_requests"}"#.to_vec()),
        _ => {
            let mut b = format!(r#"{{"user_id":"auth0|{id}","email":"user{id}@example.com","email_verified":true,"name":"User {id}","identities":[{{"provider":"auth0","user_id":"{id}","connection":"Username-Password-Authentication","isSocial":false}}],"app_metadata":{{"plan":"pro"}},"user_metadata":{{"notes":""#).into_bytes();
            let pad = 2000 + (rng.next() % 12000) as usize;
            b.extend(std::iter::repeat_n(b'x', pad));
            b.extend(br#""}}"#);
            (b"200", b)
        }
    };
    let remaining = format!("{}", rng.next() % 50);
    let len = format!("{}", body.len());
    let resp: Vec<(&[u8], &[u8])> = vec![
        (b":status", status),
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", len.as_bytes()),
        (b"x-ratelimit-limit", b"50"),
        (b"x-ratelimit-remaining", remaining.as_bytes()),
        (b"x-ratelimit-reset", b"1767225660"),
    ];
    let hb = conn.enc_s.encode(resp);
    let mut plain = frame(1, 0x4, sid, &hb);
    let chunks: Vec<&[u8]> = body.chunks(16000).collect();
    for (i, c) in chunks.iter().enumerate() {
        plain.extend(frame(0, if i + 1 == chunks.len() { 1 } else { 0 }, sid, c));
    }
    let rec = seal(&mut conn.s, 23, &plain);
    send(p, &mut conn.s, &conn.c, &rec);
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let out = args
        .first()
        .cloned()
        .unwrap_or_else(|| "tls-bench.pcap".into());
    let keys_path = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "tls-bench.keys".into());
    let size_mb: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(300);
    let mut p = Pcap::new(
        BufWriter::with_capacity(1 << 20, std::fs::File::create(&out).unwrap()),
        Layout {
            macs: ([0x02, 0, 0, 0, 0, 2], [0x02, 0, 0, 0, 0, 1]),
            window: 0xffff,
            step_us: 37,
            snaplen: 262144,
        },
    );
    let mut keylog = BufWriter::new(std::fs::File::create(&keys_path).unwrap());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let token = format!(
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.{}.sig",
        "e".repeat(400)
    );
    let mut n = 0u32;
    let mut exchanges = 0u64;
    let concurrent = 8;
    let mut conns: Vec<Conn> = Vec::new();
    while p.bytes < size_mb * 1_000_000 {
        if conns.len() < concurrent {
            conns.push(open_conn(&mut p, &mut rng, n, &mut keylog));
            n += 1;
        }
        let i = (rng.next() % conns.len() as u64) as usize;
        exchange(&mut p, &mut rng, &mut conns[i], &token);
        exchanges += 1;
        if conns[i].next_stream > 801 {
            let mut c = conns.swap_remove(i);
            let rec = seal(&mut c.c, 21, &[1, 0]);
            send(&mut p, &mut c.c, &c.s, &rec);
            p.tcp(c.c.addr, c.s.addr, c.c.seq, c.s.seq, 0x11, &[]);
            p.tcp(
                c.s.addr,
                c.c.addr,
                c.s.seq,
                c.c.seq.wrapping_add(1),
                0x11,
                &[],
            );
        }
    }
    for mut c in conns {
        p.tcp(c.c.addr, c.s.addr, c.c.seq, c.s.seq, 0x11, &[]);
        c.c.seq = c.c.seq.wrapping_add(1);
        p.tcp(c.s.addr, c.c.addr, c.s.seq, c.c.seq, 0x11, &[]);
    }
    p.flush();
    keylog.flush().unwrap();
    eprintln!(
        "wrote {out}: {} bytes, {n} connections, {exchanges} exchanges; keys in {keys_path}",
        p.bytes
    );
    println!("{exchanges}");
}
