//! Classic pcap writer (µs timestamps, Ethernet link type) for the bench generators: one IPv4/TCP
//! frame per call, with real IP and TCP checksums. Shared by `benches/tls/gen_capture.rs` and
//! `benches/metrics/live_gen.rs` through `#[path]`; not part of authtap itself.
//! Known limits: IPv4 only, no TCP options, the IP id is the frame number (mod 2^16).

use std::io::Write;

/// One TCP endpoint: IPv4 address and port.
pub type Addr = ([u8; 4], u16);

/// What stays the same for every frame of one capture.
pub struct Layout {
    /// Destination and source MAC of every frame.
    pub macs: ([u8; 6], [u8; 6]),
    /// Advertised TCP window.
    pub window: u16,
    /// Microseconds between consecutive frames.
    pub step_us: u64,
    /// Snapshot length written in the file header.
    pub snaplen: u32,
}

pub struct PcapWriter<W: Write> {
    w: W,
    layout: Layout,
    ts: u64,
    /// Frames written so far.
    pub frames: u64,
    /// Bytes written so far, file header included.
    pub bytes: u64,
}

/// Internet checksum of `data`, starting from the partial sum `init`.
fn csum(data: &[u8], init: u32) -> u16 {
    let mut s = init;
    for c in data.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

impl<W: Write> PcapWriter<W> {
    /// Write the file header; timestamps start at 2026-01-01T00:00:00Z.
    pub fn new(mut w: W, layout: Layout) -> Self {
        w.write_all(&0xa1b2c3d4u32.to_le_bytes()).unwrap();
        w.write_all(&2u16.to_le_bytes()).unwrap();
        w.write_all(&4u16.to_le_bytes()).unwrap();
        w.write_all(&[0; 8]).unwrap();
        w.write_all(&layout.snaplen.to_le_bytes()).unwrap();
        w.write_all(&1u32.to_le_bytes()).unwrap();
        PcapWriter {
            w,
            layout,
            ts: 1_767_225_600_000_000,
            frames: 0,
            bytes: 24,
        }
    }

    /// Append one frame from `src` to `dst` (`flags` as in the TCP header; `ack` is sent as given).
    pub fn tcp(&mut self, src: Addr, dst: Addr, seq: u32, ack: u32, flags: u8, payload: &[u8]) {
        let (dst_mac, src_mac) = self.layout.macs;
        let mut f = Vec::with_capacity(54 + payload.len());
        f.extend(dst_mac);
        f.extend(src_mac);
        f.extend([0x08, 0x00]);
        let ip_len = 20 + 20 + payload.len();
        let mut ip = vec![0x45, 0, (ip_len >> 8) as u8, ip_len as u8];
        ip.extend(((self.frames & 0xffff) as u16).to_be_bytes());
        ip.extend([0x40, 0, 64, 6, 0, 0]);
        ip.extend(src.0);
        ip.extend(dst.0);
        let c = csum(&ip, 0);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let mut tcp = Vec::with_capacity(20 + payload.len());
        tcp.extend(src.1.to_be_bytes());
        tcp.extend(dst.1.to_be_bytes());
        tcp.extend(seq.to_be_bytes());
        tcp.extend(ack.to_be_bytes());
        tcp.extend([0x50, flags]);
        tcp.extend(self.layout.window.to_be_bytes());
        tcp.extend([0, 0, 0, 0]);
        tcp.extend_from_slice(payload);
        let mut pseudo = 0u32;
        for c in src.0.chunks(2).chain(dst.0.chunks(2)) {
            pseudo += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        pseudo += 6 + tcp.len() as u32;
        let c = csum(&tcp, pseudo);
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        f.extend(ip);
        f.extend(tcp);
        self.ts += self.layout.step_us;
        for h in [
            ((self.ts / 1_000_000) as u32).to_le_bytes(),
            ((self.ts % 1_000_000) as u32).to_le_bytes(),
            (f.len() as u32).to_le_bytes(),
            (f.len() as u32).to_le_bytes(),
        ] {
            self.w.write_all(&h).unwrap();
        }
        self.w.write_all(&f).unwrap();
        self.frames += 1;
        self.bytes += 16 + f.len() as u64;
    }

    pub fn flush(&mut self) {
        self.w.flush().unwrap();
    }
}
