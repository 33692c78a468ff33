//! Link, IP and TCP header decoding: one captured frame → one borrowed TCP segment.
//!
//! Owns: stripping the link layer (Ethernet with VLAN tags, Linux cooked SLL and SLL2, raw
//! IPv4/IPv6, BSD NULL/loopback), laxly slicing IPv4/IPv6 with `etherparse`, and reading the TCP
//! header. Must not: copy payload bytes, allocate, or panic on any frame; every frame that yields
//! no segment says why (`Skip`), so the caller can count it.
//! Known limits: IP fragments are not reassembled (counted as `Skip::Fragment`); tunnels
//! (GRE, VXLAN, IP-in-IP) are not unwrapped; frames cut by the snap length keep the TCP payload
//! bytes that were captured (`Segment::cut` is set).

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Link-layer header types (DLT / LINKTYPE values) this decoder understands.
pub mod linktype {
    pub const NULL: i32 = 0;
    pub const ETHERNET: i32 = 1;
    pub const RAW_OPENBSD: i32 = 12;
    pub const RAW_BSD: i32 = 14;
    pub const RAW: i32 = 101;
    pub const LOOP: i32 = 108;
    pub const LINUX_SLL: i32 = 113;
    pub const IPV4: i32 = 228;
    pub const IPV6: i32 = 229;
    pub const LINUX_SLL2: i32 = 276;
}

/// One TCP segment, borrowing its payload from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    /// Acknowledgment number when the ACK flag is set.
    pub ack: Option<u32>,
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub payload: &'a [u8],
    /// The frame was shorter than the IP header said (snap length, or damage): the payload is cut.
    pub cut: bool,
}

/// Why a frame produced no TCP segment. Each is counted by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skip {
    /// Link type this decoder does not know.
    UnsupportedLinkType,
    /// Link header shorter than its fixed size.
    LinkTruncated,
    /// Not IPv4/IPv6 (ARP, LLDP, ...).
    NotIp,
    /// IP header broken or cut.
    IpMalformed,
    /// Not TCP (UDP, ICMP, ...).
    NotTcp,
    /// A non-first IP fragment, or a fragmented first piece.
    Fragment,
    /// TCP header broken or cut.
    TcpMalformed,
}

/// Decode one frame captured with link type `linktype`.
#[inline]
pub fn decode(linktype: i32, frame: &[u8]) -> Result<Segment<'_>, Skip> {
    if linktype == linktype::ETHERNET {
        if let Some(seg) = ether_ipv4_tcp(frame) {
            return Ok(seg);
        }
    }
    decode_sliced(linktype, frame)
}

/// Fast path for the common frame: Ethernet II (no VLAN) + unfragmented IPv4 + TCP, every
/// length consistent and nothing cut. `None` for anything else (the general decoder then
/// decides, so odd frames are classified exactly as before). Gives what `decode_sliced` gives.
#[inline]
fn ether_ipv4_tcp(frame: &[u8]) -> Option<Segment<'_>> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ip = frame.get(14..)?;
    let ver_ihl = *ip.first()?;
    let ihl = usize::from(ver_ihl & 0x0f) * 4;
    if ver_ihl >> 4 != 4 || ihl < 20 {
        return None;
    }
    let total = usize::from(be16(ip, 2)?);
    let frag = be16(ip, 6)?;
    // More-fragments flag or a fragment offset: let the general decoder count it.
    if total < ihl || total > ip.len() || frag & 0x3fff != 0 || *ip.get(9)? != 6 {
        return None;
    }
    let tcp = ip.get(ihl..total)?;
    let doff = usize::from(*tcp.get(12)? >> 4) * 4;
    if doff < 20 || doff > tcp.len() {
        return None;
    }
    let flags = *tcp.get(13)?;
    let ack = flags & 0x10 != 0;
    let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
    let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(tcp.get(at..at + 4)?.try_into().ok()?))
    };
    Some(Segment {
        src: SocketAddr::new(IpAddr::V4(Ipv4Addr::from(src)), be16(tcp, 0)?),
        dst: SocketAddr::new(IpAddr::V4(Ipv4Addr::from(dst)), be16(tcp, 2)?),
        seq: u32_at(4)?,
        ack: if ack { Some(u32_at(8)?) } else { None },
        syn: flags & 0x02 != 0,
        fin: flags & 0x01 != 0,
        rst: flags & 0x04 != 0,
        payload: tcp.get(doff..)?,
        cut: false,
    })
}

/// The general decoder (every link type, through `etherparse`).
fn decode_sliced(linktype: i32, frame: &[u8]) -> Result<Segment<'_>, Skip> {
    let sliced = match linktype {
        linktype::ETHERNET => {
            LaxSlicedPacket::from_ethernet(frame).map_err(|_| Skip::LinkTruncated)?
        }
        linktype::RAW
        | linktype::RAW_BSD
        | linktype::RAW_OPENBSD
        | linktype::IPV4
        | linktype::IPV6 => LaxSlicedPacket::from_ip(frame).map_err(|_| Skip::IpMalformed)?,
        linktype::LINUX_SLL => {
            // 16-byte header; protocol (ethertype) in the last two bytes.
            let proto = be16(frame, 14).ok_or(Skip::LinkTruncated)?;
            let rest = frame.get(16..).ok_or(Skip::LinkTruncated)?;
            from_ether_type(proto, rest)?
        }
        linktype::LINUX_SLL2 => {
            // 20-byte header; protocol (ethertype) in the first two bytes.
            let proto = be16(frame, 0).ok_or(Skip::LinkTruncated)?;
            let rest = frame.get(20..).ok_or(Skip::LinkTruncated)?;
            from_ether_type(proto, rest)?
        }
        linktype::NULL | linktype::LOOP => {
            // 4-byte address family: host byte order for NULL, network order for LOOP. Accept
            // either order: AF_INET is 2 everywhere, AF_INET6 is 24, 28 or 30 depending on the OS.
            let head: [u8; 4] = frame
                .get(..4)
                .and_then(|h| h.try_into().ok())
                .ok_or(Skip::LinkTruncated)?;
            let le = u32::from_le_bytes(head);
            let be = u32::from_be_bytes(head);
            let family = if le < 256 { le } else { be };
            let rest = frame.get(4..).ok_or(Skip::LinkTruncated)?;
            match family {
                2 => from_ether_type(0x0800, rest)?,
                24 | 28 | 30 => from_ether_type(0x86DD, rest)?,
                _ => return Err(Skip::NotIp),
            }
        }
        _ => return Err(Skip::UnsupportedLinkType),
    };
    segment_of(&sliced)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

fn from_ether_type(proto: u16, rest: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    match proto {
        0x0800 | 0x86DD | 0x8100 | 0x88A8 | 0x9100 => {
            Ok(LaxSlicedPacket::from_ether_type(EtherType(proto), rest))
        }
        _ => Err(Skip::NotIp),
    }
}

fn segment_of<'a>(p: &LaxSlicedPacket<'a>) -> Result<Segment<'a>, Skip> {
    let (src_ip, dst_ip, payload) = match &p.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            (
                IpAddr::V4(Ipv4Addr::from(h.source())),
                IpAddr::V4(Ipv4Addr::from(h.destination())),
                v4.payload(),
            )
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            (
                IpAddr::V6(Ipv6Addr::from(h.source())),
                IpAddr::V6(Ipv6Addr::from(h.destination())),
                v6.payload(),
            )
        }
        None => {
            return Err(match p.stop_err {
                Some(_) => Skip::IpMalformed,
                None => Skip::NotIp,
            })
        }
    };
    if payload.fragmented {
        return Err(Skip::Fragment);
    }
    if payload.ip_number != etherparse::IpNumber::TCP {
        return Err(Skip::NotTcp);
    }
    let tcp = match &p.transport {
        Some(TransportSlice::Tcp(t)) => t,
        _ => return Err(Skip::TcpMalformed),
    };
    Ok(Segment {
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.ack().then(|| tcp.acknowledgment_number()),
        syn: tcp.syn(),
        fin: tcp.fin(),
        rst: tcp.rst(),
        payload: tcp.payload(),
        cut: payload.incomplete,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Set the TCP flags named in `flags` (`S`, `F`, `R`, `A`; `A` acknowledges `ack`).
    fn with_flags(
        mut b: etherparse::PacketBuilderStep<etherparse::TcpHeader>,
        flags: &str,
        ack: u32,
    ) -> etherparse::PacketBuilderStep<etherparse::TcpHeader> {
        if flags.contains('S') {
            b = b.syn();
        }
        if flags.contains('F') {
            b = b.fin();
        }
        if flags.contains('R') {
            b = b.rst();
        }
        if flags.contains('A') {
            b = b.ack(ack);
        }
        b
    }

    /// Build an IPv4 + TCP packet (no link layer) for tests.
    pub(crate) fn ipv4_tcp(
        src: ([u8; 4], u16),
        dst: ([u8; 4], u16),
        seq: u32,
        flags: &str,
        payload: &[u8],
    ) -> Vec<u8> {
        let b = etherparse::PacketBuilder::ipv4(src.0, dst.0, 64).tcp(src.1, dst.1, seq, 65535);
        let b = with_flags(b, flags, 1);
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn raw_ipv4_tcp() {
        let pkt = ipv4_tcp(([10, 0, 0, 1], 5000), ([10, 0, 0, 2], 80), 7, "SA", b"hi");
        let s = decode(linktype::RAW, &pkt).unwrap();
        assert_eq!(s.src.to_string(), "10.0.0.1:5000");
        assert_eq!(s.dst.to_string(), "10.0.0.2:80");
        assert_eq!(s.seq, 7);
        assert!(s.syn && !s.fin);
        assert_eq!(s.ack, Some(1));
        assert_eq!(s.payload, b"hi");
    }

    #[test]
    fn link_layers() {
        let ip = ipv4_tcp(([1, 2, 3, 4], 1), ([5, 6, 7, 8], 2), 0, "", b"x");
        // Ethernet + VLAN tag
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x08, 0x00]);
        eth.extend_from_slice(&ip);
        assert_eq!(decode(linktype::ETHERNET, &eth).unwrap().payload, b"x");
        // SLL
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&ip);
        assert_eq!(decode(linktype::LINUX_SLL, &sll).unwrap().payload, b"x");
        // SLL2
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.extend_from_slice(&ip);
        assert_eq!(decode(linktype::LINUX_SLL2, &sll2).unwrap().payload, b"x");
        // NULL, little-endian AF_INET
        let mut null = vec![2, 0, 0, 0];
        null.extend_from_slice(&ip);
        assert_eq!(decode(linktype::NULL, &null).unwrap().payload, b"x");
        // LOOP, big-endian AF_INET
        let mut lo = vec![0, 0, 0, 2];
        lo.extend_from_slice(&ip);
        assert_eq!(decode(linktype::LOOP, &lo).unwrap().payload, b"x");
    }

    #[test]
    fn ipv6_tcp() {
        let b = etherparse::PacketBuilder::ipv6([0; 16], [1; 16], 64).tcp(1234, 443, 9, 100);
        let mut out = Vec::new();
        b.write(&mut out, b"\x16\x03\x01").unwrap();
        let s = decode(linktype::IPV6, &out).unwrap();
        assert!(s.src.is_ipv6());
        assert_eq!(s.dst.port(), 443);
        assert_eq!(s.payload, b"\x16\x03\x01");
    }

    #[test]
    fn skips_are_reasons_not_panics() {
        assert_eq!(decode(999, b"abc"), Err(Skip::UnsupportedLinkType));
        assert_eq!(
            decode(linktype::LINUX_SLL, b"short"),
            Err(Skip::LinkTruncated)
        );
        assert_eq!(decode(linktype::NULL, &[7, 0, 0, 0, 1]), Err(Skip::NotIp));
        assert_eq!(decode(linktype::RAW, &[0x45, 0, 0]), Err(Skip::IpMalformed));
        let udp = {
            let b = etherparse::PacketBuilder::ipv4([1; 4], [2; 4], 5).udp(1, 2);
            let mut v = Vec::new();
            b.write(&mut v, b"x").unwrap();
            v
        };
        assert_eq!(decode(linktype::RAW, &udp), Err(Skip::NotTcp));
        // Cut TCP payload: keep what is there.
        let pkt = ipv4_tcp(([1, 1, 1, 1], 1), ([2, 2, 2, 2], 2), 0, "", b"hello world");
        let cut = &pkt[..pkt.len() - 5];
        let s = decode(linktype::RAW, cut).unwrap();
        assert_eq!(s.payload, b"hello ");
        assert!(s.cut);
        // Every prefix of a valid frame decodes or skips without panicking.
        for n in 0..pkt.len() {
            let _ = decode(linktype::RAW, &pkt[..n]);
        }
    }

    /// The Ethernet/IPv4/TCP fast path agrees with the general decoder on every frame it
    /// accepts, including damaged and odd ones (bytes flipped at random, deterministic seed).
    #[test]
    fn fast_path_matches_general_decoder() {
        let mut frames = Vec::new();
        for (flags, payload) in [
            ("S", &b""[..]),
            ("SA", b""),
            ("A", b"GET / HTTP/1.1\r\n\r\n"),
            ("FA", b"x"),
            ("R", b""),
        ] {
            let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .tcp(40000, 80, 0xfffffff0, 64240);
            let b = with_flags(b, flags, 77);
            let mut f = Vec::new();
            b.write(&mut f, payload).unwrap();
            frames.push(f);
        }
        let mut accepted = 0;
        let mut state = 0x1234_5678u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        for base in &frames {
            assert_eq!(
                ether_ipv4_tcp(base),
                decode_sliced(linktype::ETHERNET, base).ok()
            );
            for _ in 0..4000 {
                let mut f = base.clone();
                for _ in 0..1 + next() % 3 {
                    let at = next() % f.len();
                    f[at] = (next() & 0xff) as u8;
                }
                if next() % 4 == 0 {
                    f.truncate(next() % f.len());
                } else if next() % 4 == 0 {
                    f.extend_from_slice(&[0; 6]);
                }
                if let Some(fast) = ether_ipv4_tcp(&f) {
                    accepted += 1;
                    assert_eq!(
                        Ok(fast),
                        decode_sliced(linktype::ETHERNET, &f),
                        "frame {f:02x?}"
                    );
                }
            }
        }
        assert!(accepted > 1000, "the fast path took only {accepted} frames");
    }
}
