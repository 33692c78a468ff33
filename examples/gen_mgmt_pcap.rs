//! Write a plaintext pcap of Auth0 Management API traffic for the capture benchmark.
//! Usage: gen_mgmt_pcap OUT.pcap SIZE_MB
//!
//! Shape (see benches/capture/README in RESULTS.md): keep-alive HTTP/1.1 connections from 64
//! clients to one API front end on port 80, 100 calls per connection, every call with a
//! `Authorization: Bearer <JWT>`; a mix of GET/PATCH/POST on /api/v2/users with 200/201/401/403/429
//! answers; one data segment per message plus a pure ACK every 8th call. The sizes are tuned to
//! about 530 bytes per packet and 880 requests per MB. Deterministic (no randomness).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::too_many_arguments
)]

use std::io::{BufWriter, Write};

use base64::Engine;

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn jwt(i: u64) -> String {
    let header = b64(br#"{"alg":"RS256","typ":"JWT","kid":"bench-key-1"}"#);
    let claims = format!(
        r#"{{"iss":"https://bench.eu.auth0.com/","sub":"client-{}@clients","aud":"https://bench.eu.auth0.com/api/v2/","iat":1700000000,"exp":1700086400,"scope":"read:users update:users"}}"#,
        i % 16
    );
    let sig: Vec<u8> = (0..256u32).map(|k| (k as u64 * 31 + i) as u8).collect();
    format!("{header}.{}.{}", b64(claims.as_bytes()), b64(&sig))
}

struct Writer<W: Write> {
    w: W,
    written: u64,
    packets: u64,
}

impl<W: Write> Writer<W> {
    fn packet(
        &mut self,
        ts: u64,
        src: ([u8; 4], u16),
        dst: ([u8; 4], u16),
        seq: u32,
        ack: u32,
        flags: &str,
        payload: &[u8],
    ) {
        let mut b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src.0, dst.0, 64)
            .tcp(src.1, dst.1, seq, 64240);
        if flags.contains('S') {
            b = b.syn();
        }
        if flags.contains('F') {
            b = b.fin();
        }
        if flags.contains('A') {
            b = b.ack(ack);
        }
        if flags.contains('P') {
            b = b.psh();
        }
        let mut frame = Vec::with_capacity(payload.len() + 64);
        b.write(&mut frame, payload).unwrap();
        let len = frame.len() as u32;
        self.w
            .write_all(&((ts / 1_000_000) as u32).to_le_bytes())
            .unwrap();
        self.w
            .write_all(&((ts % 1_000_000) as u32).to_le_bytes())
            .unwrap();
        self.w.write_all(&len.to_le_bytes()).unwrap();
        self.w.write_all(&len.to_le_bytes()).unwrap();
        self.w.write_all(&frame).unwrap();
        self.written += 16 + u64::from(len);
        self.packets += 1;
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: gen_mgmt_pcap OUT.pcap SIZE_MB");
        std::process::exit(2);
    }
    let target: u64 = args[2].parse::<u64>().unwrap() * 1_000_000;
    let f = std::fs::File::create(&args[1]).unwrap();
    let mut w = Writer {
        w: BufWriter::with_capacity(1 << 20, f),
        written: 0,
        packets: 0,
    };
    // pcap header, µs, Ethernet
    let hdr: [u32; 6] = [0xa1b2c3d4, 0x0004_0002, 0, 0, 262144, 1];
    for (k, v) in hdr.iter().enumerate() {
        if k == 1 {
            w.w.write_all(&2u16.to_le_bytes()).unwrap();
            w.w.write_all(&4u16.to_le_bytes()).unwrap();
        } else {
            w.w.write_all(&v.to_le_bytes()).unwrap();
        }
    }
    w.written = 24;
    let server = ([10, 1, 0, 1], 80u16);
    let tokens: Vec<String> = (0..16).map(jwt).collect();
    let mut ts: u64 = 1_700_000_000_000_000;
    let mut calls: u64 = 0;
    let mut conn: u32 = 0;
    'outer: loop {
        // 64 clients, each connection carries 100 calls.
        let client = (
            [10, 0, (conn / 250) as u8 % 250, (conn % 250) as u8 + 1],
            20000 + (conn % 40000) as u16,
        );
        conn += 1;
        let (mut cseq, mut sseq) = (
            1000u32.wrapping_mul(conn),
            5000u32.wrapping_mul(conn).wrapping_add(u32::MAX / 2),
        );
        w.packet(ts, client, server, cseq, 0, "S", b"");
        w.packet(ts + 50, server, client, sseq, cseq + 1, "SA", b"");
        cseq += 1;
        sseq += 1;
        w.packet(ts + 100, client, server, cseq, sseq, "A", b"");
        for k in 0..100u64 {
            let i = calls;
            calls += 1;
            ts += 1_000;
            let user = format!("auth0|{:024x}", i * 7919 % 1_000_003);
            let tok = &tokens[(i % 16) as usize];
            let (req, status, body): (String, &str, String) = match i % 10 {
                0..=5 => (
                    format!("GET /api/v2/users/{user} HTTP/1.1\r\nHost: bench.eu.auth0.com\r\nAuthorization: Bearer {tok}\r\nAccept: application/json\r\n\r\n"),
                    "200 OK",
                    format!(r#"{{"user_id":"{user}","email":"user{i}@example.com","name":"User {i}","logins_count":{}}}"#, i % 97),
                ),
                6 | 7 => {
                    let b = format!(r#"{{"user_metadata":{{"plan":"pro","seq":{i}}}}}"#);
                    (
                        format!("PATCH /api/v2/users/{user} HTTP/1.1\r\nHost: bench.eu.auth0.com\r\nAuthorization: Bearer {tok}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}", b.len()),
                        "200 OK",
                        format!(r#"{{"user_id":"{user}","user_metadata":{{"plan":"pro"}}}}"#),
                    )
                }
                8 => (
                    format!("GET /api/v2/users?q=email%3A%22user{i}%40example.com%22&search_engine=v3 HTTP/1.1\r\nHost: bench.eu.auth0.com\r\nAuthorization: Bearer {tok}\r\nAccept: application/json\r\n\r\n"),
                    "403 Forbidden",
                    r#"{"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: read:users","errorCode":"insufficient_scope"}"#.to_string(),
                ),
                _ => (
                    format!("GET /api/v2/users/{user}/roles HTTP/1.1\r\nHost: bench.eu.auth0.com\r\nAuthorization: Bearer {tok}\r\nAccept: application/json\r\n\r\n"),
                    "429 Too Many Requests",
                    r#"{"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached","errorCode":"too_many_requests"}"#.to_string(),
                ),
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nx-ratelimit-remaining: {}\r\n\r\n{body}",
                body.len(),
                49 - i % 50
            );
            w.packet(ts, client, server, cseq, sseq, "AP", req.as_bytes());
            cseq = cseq.wrapping_add(req.len() as u32);
            w.packet(ts + 300, server, client, sseq, cseq, "AP", resp.as_bytes());
            sseq = sseq.wrapping_add(resp.len() as u32);
            if k % 8 == 7 {
                w.packet(ts + 350, client, server, cseq, sseq, "A", b"");
            }
            if w.written >= target {
                break 'outer;
            }
        }
        w.packet(ts + 400, client, server, cseq, sseq, "AF", b"");
        w.packet(ts + 450, server, client, sseq, cseq + 1, "AF", b"");
        w.packet(ts + 500, client, server, cseq + 1, sseq + 1, "A", b"");
    }
    w.w.flush().unwrap();
    let mb = w.written as f64 / 1e6;
    println!(
        "wrote {} bytes, {} packets ({:.0} B/packet), {} requests ({:.0} per MB), {} connections",
        w.written,
        w.packets,
        w.written as f64 / w.packets as f64,
        calls,
        calls as f64 / mb,
        conn
    );
}
