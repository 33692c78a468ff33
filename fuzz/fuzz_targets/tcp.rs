//! Fuzz TCP reassembly and everything above it: the input is a list of segments
//! (direction, sequence offset, flags, payload) on one connection, fed to the pipeline.
#![no_main]
use authtap::capture::keylog::KeyLog;
use authtap::capture::packet::Segment;
use authtap::capture::pipeline::{Pipeline, PipelineConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let c: std::net::SocketAddr = "10.0.0.1:40000".parse().unwrap_or_else(|_| unreachable!());
    let s: std::net::SocketAddr = "10.0.0.2:80".parse().unwrap_or_else(|_| unreachable!());
    let mut p = Pipeline::new(0, PipelineConfig::default());
    let keys = KeyLog::default();
    let mut rest = data;
    let mut ts = 0i64;
    // Each record: 1 byte flags (bit 0 server->client, 1 ack, 2 syn, 3 fin, 4 rst, 5-7 time step),
    // 2 bytes relative seq (big endian), 1 byte length, payload.
    while let [flags, s0, s1, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(n);
        rest = next;
        let from_client = flags & 1 == 0;
        let (src, dst) = if from_client { (c, s) } else { (s, c) };
        // Relative sequence number (as tshark shows it) from a base just below the wrap point,
        // so seeds built from real captures are coherent streams and wrap-around is exercised.
        let seq = u32::from(u16::from_be_bytes([*s0, *s1])).wrapping_add(u32::MAX - 300);
        let seg = Segment {
            src,
            dst,
            seq,
            ack: (flags & 2 != 0).then_some(1),
            syn: flags & 4 != 0,
            fin: flags & 8 != 0,
            rst: flags & 16 != 0,
            payload,
            cut: false,
        };
        ts += i64::from(flags >> 5) * 1_000_000;
        p.push_segment(&seg, ts, &keys, &mut |_| {});
    }
    let _ = p.finish(&keys, &mut |_| {});
});
