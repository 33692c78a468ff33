//! TCP reassembly: segments → ordered byte streams per connection and direction (sans-I/O).
//!
//! Owns: the connection table (keyed by the address pair), sequence arithmetic with wrap-around,
//! out-of-order buffering, retransmission/overlap trimming, gaps, FIN/RST, idle eviction, and
//! deciding which side is the client. Delivers in-order bytes to a per-connection
//! [`StreamSink`] (the protocol layer, `capture::conn`). Must not: read clocks or files, parse
//! application data beyond the client/server sniff, or grow without a cap.
//!
//! Caps (all counted in [`TcpStats`], never silent):
//! - out-of-order bytes buffered per direction (`ooo_per_direction`, default 1 MiB) and over all
//!   connections (`ooo_total`, default 32 MiB): when exceeded, the hole before the lowest
//!   buffered segment is declared a gap and reassembly jumps over it;
//! - connections in the table (`max_connections`, default 50 000): when full, the least recently
//!   active 1/16 are evicted (flushed and closed);
//! - idle connections (no packet for `idle_timeout`, default 300 s of capture time) are evicted.
//!
//! Side decision: a SYN (without ACK) marks its sender as the client, a SYN+ACK its sender as
//! the server. Without a handshake, the first payload decides: an HTTP request line, the HTTP/2
//! preface or a TLS ClientHello marks the client, `HTTP/` marks the server; otherwise the
//! endpoint with the lower port is the server.
//!
//! Known limits: a stream that starts mid-way (no SYN) begins at the first segment seen, so a
//! segment of that direction that arrives later with a lower sequence number is dropped as old;
//! SYN/FIN with payload in the same segment is accepted; urgent data is not treated specially.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;

use super::packet::Segment;
use super::Dir;
use crate::model::Micros;

/// Limits of the reassembler.
#[derive(Debug, Clone)]
pub struct TcpCaps {
    pub max_connections: usize,
    pub ooo_per_direction: usize,
    pub ooo_total: usize,
    pub idle_timeout: Micros,
}

impl Default for TcpCaps {
    fn default() -> Self {
        Self {
            max_connections: 50_000,
            ooo_per_direction: 1 << 20,
            ooo_total: 32 << 20,
            idle_timeout: 300_000_000,
        }
    }
}

/// Counters of the reassembler.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpStats {
    pub segments: u64,
    pub connections: u64,
    /// Connections whose first seen segment was not a SYN/SYN+ACK.
    pub mid_stream: u64,
    pub out_of_order_segments: u64,
    /// Segments (or parts) that repeated bytes already delivered.
    pub retransmitted_segments: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
    /// Gaps forced because a reorder buffer hit its cap.
    pub buffer_cap_hits: u64,
    pub evicted_idle: u64,
    pub evicted_cap: u64,
    pub closed_fin: u64,
    pub closed_rst: u64,
    /// Segments for a connection that carried neither SYN nor payload before being seen (ignored).
    pub stray_segments: u64,
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    Fin,
    Rst,
    Idle,
    /// Evicted because the table was full.
    Capacity,
    /// End of input.
    End,
}

/// Identity of a connection, given to the sink when it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnMeta {
    /// Sequential id in order of first data.
    pub id: u64,
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// The handshake was seen (sides are certain).
    pub handshake: bool,
}

/// The protocol layer above TCP. One value per connection, created when the first byte (or gap)
/// of the connection is delivered. `C` is the caller's context (output channel, counters).
pub trait StreamSink<C>: Sized {
    fn open(meta: &ConnMeta, ts: Micros, ctx: &mut C) -> Self;
    /// In-order bytes of one direction.
    fn data(&mut self, dir: Dir, data: &[u8], ts: Micros, ctx: &mut C);
    /// `len` bytes of `dir` were never captured; the next `data` follows the hole.
    fn gap(&mut self, dir: Dir, len: u64, ts: Micros, ctx: &mut C);
    /// `dir` reached its FIN: no more bytes will come that way.
    fn end(&mut self, dir: Dir, ts: Micros, ctx: &mut C);
    /// The connection is gone; flush everything.
    fn close(self, why: Close, ts: Micros, ctx: &mut C);
}

#[derive(Debug, Default)]
struct Half {
    started: bool,
    /// Sequence number of stream offset 0.
    base: u32,
    /// Next expected stream offset.
    next: u64,
    ooo: BTreeMap<u64, Vec<u8>>,
    ooo_bytes: usize,
    fin_at: Option<u64>,
    fin_delivered: bool,
}

impl Half {
    fn start(&mut self, base: u32) {
        self.started = true;
        self.base = base;
        self.next = 0;
    }

    /// Stream offset of `seq`, relative to the next expected byte (handles wrap-around).
    fn offset_of(&self, seq: u32) -> i64 {
        let next_seq = self.base.wrapping_add(self.next as u32);
        let diff = seq.wrapping_sub(next_seq) as i32;
        i64::try_from(self.next).unwrap_or(i64::MAX) + i64::from(diff)
    }
}

struct Conn<H> {
    /// Source of the first segment seen; `half[0]` carries a → b.
    a: SocketAddr,
    b: SocketAddr,
    client_is_a: Option<bool>,
    handshake: bool,
    half: [Half; 2],
    sink: Option<H>,
    last_ts: Micros,
    id: u64,
}

impl<H> Conn<H> {
    fn dir_of(&self, h: usize) -> Dir {
        let from_a = h == 0;
        if from_a == self.client_is_a.unwrap_or(true) {
            Dir::ClientToServer
        } else {
            Dir::ServerToClient
        }
    }
}

/// The address pair of a connection, lower address first. An IPv4 pair is two packed integers
/// (`ip << 16 | port`, which orders like `SocketAddrV4`), so building, comparing and hashing a
/// key per packet is a few integer operations; other pairs keep the addresses. Order is the
/// addresses' order (IPv4 pairs before IPv6 ones, as `SocketAddr` orders them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    V4(u64, u64),
    Other(SocketAddr, SocketAddr),
}

impl Hash for Key {
    fn hash<S: Hasher>(&self, state: &mut S) {
        match *self {
            // One hasher call per packet instead of a dozen for two `SocketAddr`s.
            Key::V4(a, b) => state.write_u128((u128::from(a) << 64) | u128::from(b)),
            Key::Other(a, b) => {
                a.hash(state);
                b.hash(state);
            }
        }
    }
}

fn key_of(x: SocketAddr, y: SocketAddr) -> Key {
    match (x, y) {
        (SocketAddr::V4(a), SocketAddr::V4(b)) => {
            let pack = |s: std::net::SocketAddrV4| {
                (u64::from(s.ip().to_bits()) << 16) | u64::from(s.port())
            };
            let (p, q) = (pack(a), pack(b));
            if p <= q {
                Key::V4(p, q)
            } else {
                Key::V4(q, p)
            }
        }
        _ if x <= y => Key::Other(x, y),
        _ => Key::Other(y, x),
    }
}

/// Does `data` look like the first bytes a client sends (HTTP request line, HTTP/2 preface, TLS
/// ClientHello)?
pub fn looks_like_client_hello(data: &[u8]) -> bool {
    if let [0x16, 0x03, 0..=4, _, _, 1, ..] = data {
        return true;
    }
    // SSLv2-format ClientHello: 2-byte length with the high bit, then msg type 1.
    if let [h, _, 1, 0x03 | 0x00, ..] = data {
        if h & 0x80 != 0 {
            return true;
        }
    }
    looks_like_request_line(data)
}

/// `TOKEN SP` where TOKEN is 3–16 upper-case letters or '-' (HTTP method, incl. `PRI`).
pub fn looks_like_request_line(data: &[u8]) -> bool {
    let n = data
        .iter()
        .take(17)
        .take_while(|b| b.is_ascii_uppercase() || **b == b'-')
        .count();
    (3..=16).contains(&n) && data.get(n) == Some(&b' ')
}

/// The reassembler: a table of connections, each with two directions and a sink.
pub struct TcpTable<H> {
    /// foldhash with a per-run seed (addresses are attacker-controlled): one lookup per packet.
    conns: HashMap<Key, Conn<H>, foldhash::fast::RandomState>,
    core: Core,
    next_sweep: Option<Micros>,
}

/// Everything but the table, so a connection can be borrowed from the table while it is fed.
struct Core {
    caps: TcpCaps,
    stats: TcpStats,
    ooo_total: usize,
    next_id: u64,
}

impl<H> TcpTable<H> {
    pub fn new(caps: TcpCaps) -> Self {
        Self {
            conns: HashMap::default(),
            core: Core {
                caps,
                stats: TcpStats::default(),
                ooo_total: 0,
                next_id: 0,
            },
            next_sweep: None,
        }
    }

    pub fn stats(&self) -> &TcpStats {
        &self.core.stats
    }

    /// Connections currently tracked.
    pub fn active(&self) -> usize {
        self.conns.len()
    }

    /// Bytes currently held in reorder buffers.
    pub fn buffered_bytes(&self) -> usize {
        self.core.ooo_total
    }

    /// Feed one segment captured at `ts`.
    pub fn push<C>(&mut self, seg: &Segment<'_>, ts: Micros, ctx: &mut C)
    where
        H: StreamSink<C>,
    {
        self.core.stats.segments += 1;
        self.maybe_sweep(ts, ctx);
        let key = key_of(seg.src, seg.dst);
        let stray = !seg.syn && seg.payload.is_empty();
        if self.conns.len() >= self.core.caps.max_connections
            && !stray
            && !self.conns.contains_key(&key)
        {
            self.evict_oldest(ts, ctx);
        }
        // One hash lookup per packet on the hot path.
        let conn = match self.conns.entry(key) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                if stray {
                    // A bare ACK/FIN/RST of a connection we never saw: nothing to reassemble.
                    self.core.stats.stray_segments += 1;
                    return;
                }
                let handshake = seg.syn;
                let client_is_a = if seg.syn {
                    Some(seg.ack.is_none())
                } else {
                    None
                };
                if !handshake {
                    self.core.stats.mid_stream += 1;
                }
                self.core.stats.connections += 1;
                v.insert(Conn {
                    a: seg.src,
                    b: seg.dst,
                    client_is_a,
                    handshake,
                    half: [Half::default(), Half::default()],
                    sink: None,
                    last_ts: ts,
                    id: 0,
                })
            }
        };
        let core = &mut self.core;
        conn.last_ts = ts;
        let h = usize::from(seg.src != conn.a);
        if seg.syn {
            if conn.client_is_a.is_none() {
                // Late handshake packet (capture started after data): it still tells the sides.
                conn.client_is_a = Some((h == 0) == seg.ack.is_none());
            }
            let half = &mut conn.half[h];
            if !half.started {
                half.start(seg.seq.wrapping_add(1));
            }
        }
        if !seg.payload.is_empty() || seg.fin {
            let half = &mut conn.half[h];
            if !half.started {
                half.start(seg.seq);
            }
            // A SYN occupies one sequence number before its payload (TCP Fast Open).
            let off = half.offset_of(seg.seq.wrapping_add(u32::from(seg.syn)));
            if seg.fin {
                let fin = off.saturating_add(seg.payload.len() as i64);
                if fin >= 0 && half.fin_at.is_none() {
                    half.fin_at = Some(fin as u64);
                }
            }
            if !seg.payload.is_empty() {
                core.segment(conn, h, off, seg.payload, ts, ctx);
            }
            core.check_fin(conn, h, ts, ctx);
        }
        let why = if seg.rst {
            core.stats.closed_rst += 1;
            Close::Rst
        } else if conn.half.iter().all(|x| x.fin_delivered) {
            core.stats.closed_fin += 1;
            Close::Fin
        } else {
            return;
        };
        if let Some(conn) = self.conns.remove(&key) {
            self.core.close(conn, why, ts, ctx);
        }
    }

    /// Close every connection (end of input), in order of first appearance.
    pub fn finish<C>(&mut self, ts: Micros, ctx: &mut C)
    where
        H: StreamSink<C>,
    {
        let mut all: Vec<Conn<H>> = self.conns.drain().map(|(_, c)| c).collect();
        all.sort_by_key(|c| (c.sink.is_none(), c.id));
        for c in all {
            self.core.close(c, Close::End, ts, ctx);
        }
    }

    fn maybe_sweep<C>(&mut self, ts: Micros, ctx: &mut C)
    where
        H: StreamSink<C>,
    {
        match self.next_sweep {
            None => {
                self.next_sweep = Some(ts.saturating_add(10_000_000));
                return;
            }
            Some(t) if ts < t => return,
            Some(_) => self.next_sweep = Some(ts.saturating_add(10_000_000)),
        }
        let limit = ts.saturating_sub(self.core.caps.idle_timeout);
        let mut idle: Vec<(u64, Key)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.last_ts < limit)
            .map(|(k, c)| (c.id, *k))
            .collect();
        idle.sort();
        for (_, k) in idle {
            if let Some(c) = self.conns.remove(&k) {
                self.core.stats.evicted_idle += 1;
                self.core.close(c, Close::Idle, ts, ctx);
            }
        }
    }

    fn evict_oldest<C>(&mut self, ts: Micros, ctx: &mut C)
    where
        H: StreamSink<C>,
    {
        let mut by_age: Vec<(Micros, u64, Key)> = self
            .conns
            .iter()
            .map(|(k, c)| (c.last_ts, c.id, *k))
            .collect();
        let n = (by_age.len() / 16).max(1).min(by_age.len());
        if n == 0 {
            return;
        }
        by_age.select_nth_unstable(n - 1);
        by_age.truncate(n);
        by_age.sort();
        for (_, _, k) in by_age {
            if let Some(c) = self.conns.remove(&k) {
                self.core.stats.evicted_cap += 1;
                self.core.close(c, Close::Capacity, ts, ctx);
            }
        }
    }
}

impl Core {
    fn segment<H: StreamSink<C>, C>(
        &mut self,
        conn: &mut Conn<H>,
        h: usize,
        off: i64,
        data: &[u8],
        ts: Micros,
        ctx: &mut C,
    ) {
        let next = conn.half[h].next;
        let end = off.saturating_add(data.len() as i64);
        if end <= next as i64 {
            self.stats.retransmitted_segments += 1;
            return;
        }
        if off <= next as i64 {
            let skip = usize::try_from(next as i64 - off).unwrap_or(0);
            if skip > 0 {
                self.stats.retransmitted_segments += 1;
            }
            let fresh = data.get(skip..).unwrap_or(&[]);
            conn.half[h].next = end as u64;
            self.deliver(conn, h, fresh, ts, ctx);
            self.drain(conn, h, ts, ctx);
            return;
        }
        // A hole before this segment: buffer it.
        self.stats.out_of_order_segments += 1;
        let off = off as u64;
        let half = &mut conn.half[h];
        let keep = match half.ooo.get(&off) {
            Some(old) => old.len() < data.len(),
            None => true,
        };
        if keep {
            let old_len = half.ooo.insert(off, data.to_vec()).map_or(0, |v| v.len());
            half.ooo_bytes = half.ooo_bytes + data.len() - old_len;
            self.ooo_total = self.ooo_total + data.len() - old_len;
        } else {
            self.stats.retransmitted_segments += 1;
        }
        while conn.half[h].ooo_bytes > self.caps.ooo_per_direction
            || (self.ooo_total > self.caps.ooo_total && conn.half[h].ooo_bytes > 0)
        {
            self.stats.buffer_cap_hits += 1;
            self.jump_gap(conn, h, ts, ctx);
        }
    }

    /// Deliver buffered segments that have become contiguous.
    fn drain<H: StreamSink<C>, C>(
        &mut self,
        conn: &mut Conn<H>,
        h: usize,
        ts: Micros,
        ctx: &mut C,
    ) {
        loop {
            let next = conn.half[h].next;
            let Some(entry) = conn.half[h].ooo.first_entry() else {
                break;
            };
            if *entry.key() > next {
                break;
            }
            let off = *entry.key();
            let buf = entry.remove();
            conn.half[h].ooo_bytes -= buf.len();
            self.ooo_total -= buf.len();
            let end = off + buf.len() as u64;
            if end <= next {
                self.stats.retransmitted_segments += 1;
                continue;
            }
            let skip = usize::try_from(next - off).unwrap_or(0);
            conn.half[h].next = end;
            self.deliver(conn, h, buf.get(skip..).unwrap_or(&[]), ts, ctx);
        }
    }

    /// Declare the hole before the lowest buffered segment a gap and continue after it.
    fn jump_gap<H: StreamSink<C>, C>(
        &mut self,
        conn: &mut Conn<H>,
        h: usize,
        ts: Micros,
        ctx: &mut C,
    ) {
        let next = conn.half[h].next;
        let Some((&off, first)) = conn.half[h].ooo.iter().next() else {
            return;
        };
        if off > next {
            let sniff: Vec<u8> = first.iter().take(16).copied().collect();
            self.ensure_open(conn, h, &sniff, ts, ctx);
            let len = off - next;
            self.stats.gaps += 1;
            self.stats.gap_bytes += len;
            conn.half[h].next = off;
            let dir = conn.dir_of(h);
            if let Some(s) = conn.sink.as_mut() {
                s.gap(dir, len, ts, ctx);
            }
        }
        self.drain(conn, h, ts, ctx);
    }

    fn check_fin<H: StreamSink<C>, C>(
        &mut self,
        conn: &mut Conn<H>,
        h: usize,
        ts: Micros,
        ctx: &mut C,
    ) {
        let half = &conn.half[h];
        if half.fin_delivered || half.fin_at.is_none_or(|f| half.next < f) {
            return;
        }
        conn.half[h].fin_delivered = true;
        let dir = conn.dir_of(h);
        if let Some(s) = conn.sink.as_mut() {
            s.end(dir, ts, ctx);
        }
    }

    fn ensure_open<H: StreamSink<C>, C>(
        &mut self,
        conn: &mut Conn<H>,
        h: usize,
        first: &[u8],
        ts: Micros,
        ctx: &mut C,
    ) {
        if conn.sink.is_some() {
            return;
        }
        if conn.client_is_a.is_none() {
            let from_a = h == 0;
            let sender_is_client = if looks_like_client_hello(first) {
                true
            } else if first.starts_with(b"HTTP/") {
                false
            } else {
                // Lower port = server; the sender is the client if its port is higher.
                let (sp, dp) = if from_a {
                    (conn.a.port(), conn.b.port())
                } else {
                    (conn.b.port(), conn.a.port())
                };
                sp > dp
            };
            conn.client_is_a = Some(from_a == sender_is_client);
        }
        let (client, server) = if conn.client_is_a.unwrap_or(true) {
            (conn.a, conn.b)
        } else {
            (conn.b, conn.a)
        };
        conn.id = self.next_id;
        self.next_id += 1;
        let meta = ConnMeta {
            id: conn.id,
            client,
            server,
            handshake: conn.handshake,
        };
        conn.sink = Some(H::open(&meta, ts, ctx));
    }

    fn deliver<H: StreamSink<C>, C>(
        &mut self,
        conn: &mut Conn<H>,
        h: usize,
        data: &[u8],
        ts: Micros,
        ctx: &mut C,
    ) {
        if data.is_empty() {
            return;
        }
        self.ensure_open(conn, h, data, ts, ctx);
        let dir = conn.dir_of(h);
        if let Some(s) = conn.sink.as_mut() {
            s.data(dir, data, ts, ctx);
        }
    }

    fn close<H: StreamSink<C>, C>(
        &mut self,
        mut conn: Conn<H>,
        why: Close,
        ts: Micros,
        ctx: &mut C,
    ) {
        for h in 0..2 {
            while !conn.half[h].ooo.is_empty() {
                self.jump_gap(&mut conn, h, ts, ctx);
            }
            // Bytes announced by a FIN that never arrived.
            let half = &conn.half[h];
            if let Some(fin) = half.fin_at {
                if fin > half.next && conn.sink.is_some() {
                    let len = fin - half.next;
                    self.stats.gaps += 1;
                    self.stats.gap_bytes += len;
                    let dir = conn.dir_of(h);
                    conn.half[h].next = fin;
                    if let Some(s) = conn.sink.as_mut() {
                        s.gap(dir, len, ts, ctx);
                    }
                }
            }
            self.check_fin(&mut conn, h, ts, ctx);
        }
        if let Some(s) = conn.sink.take() {
            s.close(why, ts, ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Test sink: records everything per connection into the shared context.
    #[derive(Default, Debug)]
    struct Rec {
        c2s: Vec<u8>,
        s2c: Vec<u8>,
        events: Vec<String>,
        opened: Vec<ConnMeta>,
    }
    struct Sink;
    impl StreamSink<Rec> for Sink {
        fn open(meta: &ConnMeta, _ts: Micros, ctx: &mut Rec) -> Self {
            ctx.opened.push(meta.clone());
            Sink
        }
        fn data(&mut self, dir: Dir, data: &[u8], _ts: Micros, ctx: &mut Rec) {
            match dir {
                Dir::ClientToServer => ctx.c2s.extend_from_slice(data),
                Dir::ServerToClient => ctx.s2c.extend_from_slice(data),
            }
        }
        fn gap(&mut self, dir: Dir, len: u64, _ts: Micros, ctx: &mut Rec) {
            ctx.events.push(format!("gap {dir:?} {len}"));
        }
        fn end(&mut self, dir: Dir, _ts: Micros, ctx: &mut Rec) {
            ctx.events.push(format!("end {dir:?}"));
        }
        fn close(self, why: Close, _ts: Micros, ctx: &mut Rec) {
            ctx.events.push(format!("close {why:?}"));
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn seg<'a>(from_client: bool, seq: u32, flags: &str, payload: &'a [u8]) -> Segment<'a> {
        let (c, s) = (addr("10.0.0.1:40000"), addr("10.0.0.2:80"));
        let (src, dst) = if from_client { (c, s) } else { (s, c) };
        Segment {
            src,
            dst,
            seq,
            ack: flags.contains('A').then_some(1),
            syn: flags.contains('S'),
            fin: flags.contains('F'),
            rst: flags.contains('R'),
            payload,
            cut: false,
        }
    }

    fn run(segs: &[Segment<'_>]) -> (Rec, TcpStats) {
        let mut t: TcpTable<Sink> = TcpTable::new(TcpCaps::default());
        let mut rec = Rec::default();
        for (i, s) in segs.iter().enumerate() {
            t.push(s, i as i64, &mut rec);
        }
        t.finish(1000, &mut rec);
        (rec, t.stats().clone())
    }

    #[test]
    fn handshake_in_order_and_fin() {
        let isn = u32::MAX - 3; // wraps inside the payload
        let (rec, st) = run(&[
            seg(true, isn, "S", b""),
            seg(false, 500, "SA", b""),
            seg(true, isn.wrapping_add(1), "A", b"GET / HTTP/1.1\r\n"),
            seg(true, isn.wrapping_add(17), "AF", b"\r\n"),
            seg(false, 501, "AF", b"HTTP/1.1 200 OK\r\n\r\n"),
        ]);
        assert_eq!(rec.c2s, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(rec.s2c, b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(
            rec.events,
            ["end ClientToServer", "end ServerToClient", "close Fin"]
        );
        assert_eq!(st.closed_fin, 1);
        assert_eq!(rec.opened[0].client, addr("10.0.0.1:40000"));
        assert!(rec.opened[0].handshake);
    }

    #[test]
    fn out_of_order_retransmit_and_overlap() {
        let (rec, st) = run(&[
            seg(true, 100, "S", b""),
            seg(true, 107, "A", b"world"),
            seg(true, 101, "A", b"hello "),
            seg(true, 101, "A", b"hello "),
            seg(true, 104, "A", b"lo wor"),
            seg(true, 112, "A", b"!"),
        ]);
        assert_eq!(rec.c2s, b"hello world!");
        assert_eq!(st.out_of_order_segments, 1);
        assert_eq!(st.retransmitted_segments, 2);
        assert_eq!(st.gaps, 0);
    }

    #[test]
    fn gap_flushed_at_end_and_mid_stream_sides() {
        // No SYN; the server speaks first in the capture, but the sniff says it is the server.
        let (rec, st) = run(&[
            seg(false, 9000, "A", b"HTTP/1.1 200 OK\r\n"),
            seg(true, 1000, "A", b"GET /a HTTP/1.1\r\n"),
            seg(true, 1030, "A", b"GET /b HTTP/1.1\r\n"),
        ]);
        assert_eq!(rec.opened[0].server, addr("10.0.0.2:80"));
        assert!(!rec.opened[0].handshake);
        assert_eq!(rec.c2s, b"GET /a HTTP/1.1\r\nGET /b HTTP/1.1\r\n");
        assert_eq!(rec.events, ["gap ClientToServer 13", "close End"]);
        assert_eq!((st.gaps, st.gap_bytes, st.mid_stream), (1, 13, 1));
    }

    #[test]
    fn reorder_cap_forces_gap() {
        let mut t: TcpTable<Sink> = TcpTable::new(TcpCaps {
            ooo_per_direction: 10,
            ..TcpCaps::default()
        });
        let mut rec = Rec::default();
        t.push(&seg(true, 0, "S", b""), 0, &mut rec);
        t.push(&seg(true, 1, "A", b"ab"), 0, &mut rec);
        t.push(&seg(true, 10, "A", b"0123456789X"), 1, &mut rec);
        assert_eq!(rec.c2s, b"ab0123456789X");
        assert_eq!(rec.events, ["gap ClientToServer 7"]);
        assert_eq!(t.stats().buffer_cap_hits, 1);
        assert_eq!(t.buffered_bytes(), 0);
    }

    #[test]
    fn rst_closes_and_idle_evicts_and_cap_evicts() {
        let (rec, st) = run(&[
            seg(true, 0, "S", b""),
            seg(true, 1, "A", b"x"),
            seg(false, 5, "R", b""),
        ]);
        assert_eq!(rec.events, ["close Rst"]);
        assert_eq!(st.closed_rst, 1);

        let mut t: TcpTable<Sink> = TcpTable::new(TcpCaps {
            idle_timeout: 1_000_000,
            max_connections: 2,
            ..TcpCaps::default()
        });
        let mut rec = Rec::default();
        t.push(&seg(true, 1, "A", b"GET / HTTP/1.1\r\n"), 0, &mut rec);
        let mut other = seg(true, 1, "A", b"GET / HTTP/1.1\r\n");
        other.src = addr("10.0.0.9:1234");
        t.push(&other, 20_000_000, &mut rec);
        assert_eq!(t.stats().evicted_idle, 1);
        // Idle again for 20 s: evicted, then the new segment opens a fresh (mid-stream) entry.
        t.push(&other, 40_000_000, &mut rec);
        assert_eq!(t.stats().evicted_idle, 2);
        assert_eq!(t.active(), 1);
        for p in 0..3u16 {
            let mut s = seg(true, 1, "A", b"GET / HTTP/1.1\r\n");
            s.src = SocketAddr::new(addr("10.1.0.1:1").ip(), 2000 + p);
            t.push(&s, 40_000_001, &mut rec);
        }
        assert!(t.active() <= 2);
        assert!(t.stats().evicted_cap >= 1);
    }

    #[test]
    fn stray_ack_ignored() {
        let (rec, st) = run(&[seg(true, 5, "A", b""), seg(false, 5, "AF", b"")]);
        assert!(rec.opened.is_empty());
        assert_eq!(st.stray_segments, 2);
    }

    proptest! {
        /// Any shuffle and duplication of a stream's segments reassembles to the original bytes.
        #[test]
        fn shuffle_and_duplicates_reassemble(
            data in proptest::collection::vec(any::<u8>(), 1..3000),
            cuts in proptest::collection::vec(1usize..400, 1..40),
            isn in any::<u32>(),
            order in any::<u64>(),
            dups in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
        ) {
            // Split data into segments at the given sizes.
            let mut segs: Vec<(usize, usize)> = Vec::new();
            let mut at = 0;
            let mut i = 0;
            while at < data.len() {
                let n = cuts[i % cuts.len()].min(data.len() - at);
                segs.push((at, at + n));
                at += n;
                i += 1;
            }
            for d in &dups {
                let s = segs[d.index(segs.len())];
                segs.push(s);
            }
            // Deterministic shuffle from `order`.
            let mut rng = order;
            for k in (1..segs.len()).rev() {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let j = (rng >> 33) as usize % (k + 1);
                segs.swap(k, j);
            }
            let mut all = vec![seg(true, isn, "S", b"")];
            for (a, b) in &segs {
                all.push(seg(true, isn.wrapping_add(1).wrapping_add(*a as u32), "A", &data[*a..*b]));
            }
            let (rec, st) = run(&all);
            prop_assert_eq!(rec.c2s, data);
            prop_assert_eq!(st.gaps, 0);
        }

        /// Packed IPv4 keys are equal, ordered and symmetric exactly like the address pairs
        /// they stand for (lower address first), so eviction order is unchanged.
        #[test]
        fn v4_keys_order_like_address_pairs(
            ends in proptest::collection::vec((0u32..4, 0u16..3), 4),
        ) {
            let addr = |(ip, port): (u32, u16)| {
                SocketAddr::from((std::net::Ipv4Addr::from(0x0a00_0000 + ip), 80 + port))
            };
            let (a, b, c, d) = (addr(ends[0]), addr(ends[1]), addr(ends[2]), addr(ends[3]));
            let pair = |x: SocketAddr, y: SocketAddr| if x <= y { (x, y) } else { (y, x) };
            prop_assert_eq!(key_of(a, b), key_of(b, a));
            prop_assert_eq!(key_of(a, b).cmp(&key_of(c, d)), pair(a, b).cmp(&pair(c, d)));
            prop_assert_eq!(key_of(a, b) == key_of(c, d), pair(a, b) == pair(c, d));
        }
    }
}
