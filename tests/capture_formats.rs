//! Container and link-layer variants: pcap (µs/ns, both byte orders), pcapng (several sections
//! of both byte orders, several interfaces, `if_tsresol`, EPB/SPB, Decryption Secrets Block),
//! gzip-wrapped files, and link types Ethernet+VLAN, SLL, SLL2, raw IPv6 and BSD NULL.
#![allow(clippy::unwrap_used)]

use std::io::Write;

use authtap::capture::keylog::KeyLog;
use authtap::capture::packet::linktype;
use authtap::capture::CaptureOutput;
use authtap::model::Exchange;
use authtap::source::pcap::{read_capture, CaptureStats};

const REQ: &[u8] = b"GET /userinfo HTTP/1.1\r\nHost: t.auth0.com\r\n\r\n";
const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";

/// Raw IPv4 packets of one request/response (no handshake).
fn ip_packets() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (src, dst, sp, dp, payload) in [
        ([10, 0, 0, 1], [10, 0, 0, 2], 50000, 80, REQ),
        ([10, 0, 0, 2], [10, 0, 0, 1], 80, 50000, RESP),
    ] {
        let b = etherparse::PacketBuilder::ipv4(src, dst, 64)
            .tcp(sp, dp, 1, 1000)
            .ack(1);
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        out.push(v);
    }
    out
}

fn with_link(lt: i32, ip: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    match lt {
        linktype::ETHERNET => {
            f.extend_from_slice(&[
                2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0x00, 0x07, 0x08, 0x00,
            ]);
        }
        linktype::LINUX_SLL => {
            f.extend_from_slice(&[0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00]);
        }
        linktype::LINUX_SLL2 => {
            f.extend_from_slice(&[
                0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
            ]);
        }
        linktype::NULL => f.extend_from_slice(&2u32.to_le_bytes()),
        _ => {}
    }
    f.extend_from_slice(ip);
    f
}

fn pcap(lt: i32, nanos: bool, big: bool, frames: &[Vec<u8>], ts: &[(u32, u32)]) -> Vec<u8> {
    let w32 = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = Vec::new();
    out.extend_from_slice(&w32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    out.extend_from_slice(&w16(2));
    out.extend_from_slice(&w16(4));
    out.extend_from_slice(&w32(0));
    out.extend_from_slice(&w32(0));
    out.extend_from_slice(&w32(65535));
    out.extend_from_slice(&w32(lt as u32));
    for (f, (s, frac)) in frames.iter().zip(ts) {
        out.extend_from_slice(&w32(*s));
        out.extend_from_slice(&w32(*frac));
        out.extend_from_slice(&w32(f.len() as u32));
        out.extend_from_slice(&w32(f.len() as u32));
        out.extend_from_slice(f);
    }
    out
}

struct Ng {
    big: bool,
    out: Vec<u8>,
}

impl Ng {
    fn w32(&self, v: u32) -> [u8; 4] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn block(&mut self, t: u32, body: &[u8]) {
        let mut body = body.to_vec();
        while body.len() % 4 != 0 {
            body.push(0);
        }
        let n = 12 + body.len() as u32;
        let (a, b) = (self.w32(t), self.w32(n));
        self.out.extend_from_slice(&a);
        self.out.extend_from_slice(&b);
        self.out.extend_from_slice(&body);
        let c = self.w32(n);
        self.out.extend_from_slice(&c);
    }
    fn section(&mut self, big: bool) {
        self.big = big;
        let mut b = self.w32(0x1a2b_3c4d).to_vec();
        let (maj, min) = if big {
            (1u16.to_be_bytes(), 0u16.to_be_bytes())
        } else {
            (1u16.to_le_bytes(), 0u16.to_le_bytes())
        };
        b.extend_from_slice(&maj);
        b.extend_from_slice(&min);
        b.extend_from_slice(&(-1i64).to_le_bytes());
        self.block(0x0a0d_0d0a, &b);
    }
    fn idb(&mut self, lt: u16, tsresol: Option<u8>) {
        let h16 = |v: u16, big: bool| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut b = h16(lt, self.big).to_vec();
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&self.w32(65535));
        if let Some(r) = tsresol {
            b.extend_from_slice(&h16(9, self.big));
            b.extend_from_slice(&h16(1, self.big));
            b.extend_from_slice(&[r, 0, 0, 0]);
            b.extend_from_slice(&[0, 0, 0, 0]);
        }
        self.block(1, &b);
    }
    fn epb(&mut self, iface: u32, ts: u64, frame: &[u8]) {
        let mut b = self.w32(iface).to_vec();
        b.extend_from_slice(&self.w32((ts >> 32) as u32));
        b.extend_from_slice(&self.w32(ts as u32));
        b.extend_from_slice(&self.w32(frame.len() as u32));
        b.extend_from_slice(&self.w32(frame.len() as u32));
        b.extend_from_slice(frame);
        self.block(6, &b);
    }
    fn spb(&mut self, frame: &[u8]) {
        let mut b = self.w32(frame.len() as u32).to_vec();
        b.extend_from_slice(frame);
        self.block(3, &b);
    }
    fn dsb(&mut self, text: &[u8]) {
        let mut b = self.w32(0x544c_534b).to_vec();
        b.extend_from_slice(&self.w32(text.len() as u32));
        b.extend_from_slice(text);
        self.block(10, &b);
    }
}

fn read(bytes: &[u8]) -> (CaptureStats, Vec<Exchange>) {
    let mut keys = KeyLog::default();
    let mut ex = Vec::new();
    let st = read_capture(bytes, 0, &mut keys, |o| {
        if let CaptureOutput::Exchange(e) = o {
            ex.push(e);
        }
    })
    .unwrap();
    (st, ex)
}

fn assert_pair(ex: &[Exchange], started: i64) {
    assert_eq!(ex.len(), 1, "{ex:?}");
    assert_eq!(
        ex[0].request.url,
        "https://t.auth0.com/userinfo".replace("https", "http")
    );
    assert_eq!(ex[0].status(), Some(200));
    assert_eq!(ex[0].started, Some(started));
}

#[test]
fn pcap_micro_and_nano_both_byte_orders() {
    let frames: Vec<Vec<u8>> = ip_packets()
        .iter()
        .map(|p| with_link(linktype::ETHERNET, p))
        .collect();
    for big in [false, true] {
        let (st, ex) = read(&pcap(
            linktype::ETHERNET,
            false,
            big,
            &frames,
            &[(1000, 250), (1001, 0)],
        ));
        assert_eq!(st.packets, 2);
        assert_pair(&ex, 1_000_000_250);
        assert_eq!(ex[0].duration_ms, Some(999.75));
        let (_, ex) = read(&pcap(
            linktype::ETHERNET,
            true,
            big,
            &frames,
            &[(1000, 250_000), (1001, 0)],
        ));
        assert_pair(&ex, 1_000_000_250);
    }
}

#[test]
fn link_types() {
    for lt in [
        linktype::ETHERNET,
        linktype::LINUX_SLL,
        linktype::LINUX_SLL2,
        linktype::NULL,
        linktype::RAW,
    ] {
        let frames: Vec<Vec<u8>> = ip_packets().iter().map(|p| with_link(lt, p)).collect();
        let (st, ex) = read(&pcap(lt, false, false, &frames, &[(5, 0), (6, 0)]));
        assert_pair(&ex, 5_000_000);
        assert_eq!(st.malformed(), 0, "link type {lt}");
    }
    // Raw IPv6
    let mut frames = Vec::new();
    for (src, dst, sp, dp, payload) in [
        ([1u8; 16], [2u8; 16], 50000, 80, REQ),
        ([2u8; 16], [1u8; 16], 80, 50000, RESP),
    ] {
        let b = etherparse::PacketBuilder::ipv6(src, dst, 64)
            .tcp(sp, dp, 1, 1000)
            .ack(1);
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        frames.push(v);
    }
    let (_, ex) = read(&pcap(
        linktype::IPV6,
        false,
        false,
        &frames,
        &[(7, 0), (8, 0)],
    ));
    assert_eq!(ex.len(), 1);
    assert_eq!(
        ex[0].origin.server_addr.as_deref(),
        Some("[202:202:202:202:202:202:202:202]:80")
    );
}

#[test]
fn pcapng_sections_interfaces_tsresol_spb_and_secrets() {
    let pk = ip_packets();
    let mut ng = Ng {
        big: false,
        out: Vec::new(),
    };
    // Section 1 (little-endian): interface 0 Ethernet µs, interface 1 raw IP with ns resolution.
    ng.section(false);
    ng.idb(1, None);
    ng.idb(101, Some(9));
    ng.dsb(b"CLIENT_RANDOM 00 11\n");
    ng.epb(1, 2_000_000_000_500, &pk[0]);
    ng.epb(0, 2_000_001_000, &with_link(linktype::ETHERNET, &pk[1]));
    // Section 2 (big-endian): the interface list starts again; SPB uses interface 0.
    ng.section(true);
    ng.idb(101, None);
    let mut pk2 = Vec::new();
    for (src, dst, sp, dp, payload) in [
        ([10, 0, 0, 3], [10, 0, 0, 2], 50001, 80, REQ),
        ([10, 0, 0, 2], [10, 0, 0, 3], 80, 50001, RESP),
    ] {
        let b = etherparse::PacketBuilder::ipv4(src, dst, 64)
            .tcp(sp, dp, 1, 1000)
            .ack(1);
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        pk2.push(v);
    }
    ng.epb(0, 3_000_000_000, &pk2[0]);
    ng.spb(&pk2[1]);
    let (st, ex) = read(&ng.out);
    assert_eq!(st.packets, 4);
    assert_eq!(st.secrets_blocks, 1);
    assert_eq!(ex.len(), 2, "{ex:?}");
    assert_eq!(ex[0].started, Some(2_000_000_000)); // 2e12 + 500 ns → µs
    assert_eq!(ex[0].duration_ms, Some(1.0)); // 2_000_001_000 µs on interface 0
    assert_eq!(ex[1].started, Some(3_000_000_000));
    assert_eq!(
        ex[1].origin.connection.as_deref(),
        Some("10.0.0.3:50001 -> 10.0.0.2:80")
    );
    assert_eq!(ex[1].status(), Some(200));
}

#[test]
fn gzip_wrapped_pcap() {
    let frames: Vec<Vec<u8>> = ip_packets()
        .iter()
        .map(|p| with_link(linktype::RAW, p))
        .collect();
    let plain = pcap(linktype::RAW, false, false, &frames, &[(1, 0), (2, 0)]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let (st, ex) = read(&gz);
    assert_pair(&ex, 1_000_000);
    assert!(st.notes().is_empty() || !st.notes()[0].contains("gzip"));
    // Cut gzip: the packets before the cut are read, and the cut is noted.
    let (st, _) = read(&gz[..gz.len() - 12]);
    assert!(
        st.notes()
            .iter()
            .any(|n| n.contains("gzip stream ends early")),
        "{:?}",
        st.notes()
    );
}
