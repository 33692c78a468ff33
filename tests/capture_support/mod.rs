//! Shared test support for the capture tests: reading a capture file's frames (to drive
//! `capture::pipeline`, `capture::tcp` or `capture::tls` directly).
#![allow(dead_code, clippy::unwrap_used)]

use authtap::model::Micros;
use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError};
use std::io::Read;
use std::path::Path;

/// Frames of a (possibly gzipped) pcap or pcapng: (link type, capture time, bytes). DSBs and
/// other blocks are ignored.
pub fn frames(path: &Path) -> Vec<(i32, Micros, Vec<u8>)> {
    let mut raw = std::fs::read(path).unwrap();
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        raw = out;
    }
    let mut reader = pcap_parser::create_reader(1 << 20, &raw[..]).unwrap();
    let mut frames = Vec::new();
    let mut legacy_linktype = 1;
    let mut idb: Vec<i32> = Vec::new();
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => legacy_linktype = h.network.0,
                    PcapBlockOwned::Legacy(b) => frames.push((
                        legacy_linktype,
                        b.ts_sec as i64 * 1_000_000 + b.ts_usec as i64,
                        b.data.to_vec(),
                    )),
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => idb.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(i)) => idb.push(i.linktype.0),
                    PcapBlockOwned::NG(Block::EnhancedPacket(e)) => {
                        let lt = idb.get(e.if_id as usize).copied().unwrap_or(1);
                        let n = (e.caplen as usize).min(e.data.len());
                        let ts = ((e.ts_high as i64) << 32) | e.ts_low as i64;
                        frames.push((lt, ts, e.data[..n].to_vec()));
                    }
                    _ => {}
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if reader.refill().is_err() {
                    break;
                }
            }
            Err(e) => panic!("{}: {e:?}", path.display()),
        }
    }
    frames
}
