//! HPACK (RFC 7541) decoder for passive HTTP/2: integers, literals, Huffman strings, the static
//! table and a capped dynamic table. One decoder per direction of a connection.
//!
//! Owns: turning header blocks into (name, value) lists while keeping the dynamic table in step
//! with the encoder. Must not: allocate without bound. Written here instead of using the
//! `hpack` crate because that crate is unmaintained, panics on truncated table-size updates
//! (an `unwrap` in `update_max_dynamic_size`) and rebuilds its Huffman tables per string.
//! Limits: a decoded header list larger than `MAX_HEADER_LIST` bytes (RFC 7541 size: name +
//! value + 32 each) stops being emitted (the block is still processed so the table stays in
//! sync) and is reported; dynamic table size is capped at `MAX_TABLE_SIZE`.

use std::borrow::Cow;
use std::collections::VecDeque;

/// Largest decoded header list we hand out (HPACK-bomb guard).
pub const MAX_HEADER_LIST: usize = 256 * 1024;
/// Largest dynamic table we agree to keep, whatever the peer announces.
pub const MAX_TABLE_SIZE: usize = 64 * 1024;

/// Why a header block failed to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HpackError {
    #[error("HPACK integer truncated or too large at byte {0}")]
    Integer(usize),
    #[error("HPACK string truncated at byte {0}")]
    StringTruncated(usize),
    #[error("HPACK Huffman string invalid at byte {0}")]
    Huffman(usize),
    #[error("HPACK index {index} out of range at byte {at}")]
    Index { index: usize, at: usize },
    #[error("HPACK table size update to {size} exceeds the allowed {max} at byte {at}")]
    TableSize { size: usize, max: usize, at: usize },
}

/// Result of decoding one header block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Block {
    pub headers: Vec<(String, String)>,
    /// Headers were dropped because the list exceeded `MAX_HEADER_LIST`.
    pub truncated: bool,
}

const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// Huffman code lengths of symbols 0..=256 (256 = EOS), RFC 7541 Appendix B. The code is
/// canonical, so the codes follow from the lengths.
const HUFFMAN_LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5,
    5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6,
    6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22,
    23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22,
    21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20,
    22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
    21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22,
    22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

struct Huffman {
    /// Per length 1..=30: first canonical code, number of codes, offset into `symbols`.
    first: [u32; 31],
    count: [u32; 31],
    offset: [u32; 31],
    symbols: Vec<u16>,
}

fn huffman() -> &'static Huffman {
    static H: std::sync::OnceLock<Huffman> = std::sync::OnceLock::new();
    H.get_or_init(|| {
        let mut symbols: Vec<u16> = (0..257u16).collect();
        symbols.sort_by_key(|&s| (HUFFMAN_LENGTHS.get(s as usize).copied().unwrap_or(30), s));
        let mut h = Huffman {
            first: [0; 31],
            count: [0; 31],
            offset: [0; 31],
            symbols,
        };
        for &l in HUFFMAN_LENGTHS.iter() {
            if let Some(c) = h.count.get_mut(l as usize) {
                *c += 1;
            }
        }
        let mut code = 0u32;
        let mut off = 0u32;
        for l in 1..31 {
            h.first[l] = code;
            h.offset[l] = off;
            code = (code + h.count[l]) << 1;
            off += h.count[l];
        }
        h
    })
}

fn huffman_decode(src: &[u8], at: usize, out: &mut Vec<u8>) -> Result<(), HpackError> {
    let h = huffman();
    let mut code = 0u32;
    let mut len = 0usize;
    for &byte in src {
        for i in (0..8).rev() {
            code = (code << 1) | ((byte >> i) & 1) as u32;
            len += 1;
            if len > 30 {
                return Err(HpackError::Huffman(at));
            }
            let rel = code.wrapping_sub(h.first[len]);
            if code >= h.first[len] && rel < h.count[len] {
                let sym = h
                    .symbols
                    .get((h.offset[len] + rel) as usize)
                    .copied()
                    .ok_or(HpackError::Huffman(at))?;
                if sym == 256 {
                    return Err(HpackError::Huffman(at)); // EOS inside a string
                }
                out.push(sym as u8);
                code = 0;
                len = 0;
            }
        }
    }
    // Padding: at most 7 bits, all ones.
    if len > 7 || code != (1u32 << len) - 1 {
        return Err(HpackError::Huffman(at));
    }
    Ok(())
}

/// Decode an HPACK integer with an N-bit prefix at `buf[*pos]`.
fn integer(buf: &[u8], pos: &mut usize, prefix: u8) -> Result<usize, HpackError> {
    let at = *pos;
    let mask = ((1u16 << prefix) - 1) as u8;
    let first = *buf.get(*pos).ok_or(HpackError::Integer(at))? & mask;
    *pos += 1;
    if first < mask {
        return Ok(first as usize);
    }
    let mut value = mask as usize;
    let mut shift = 0u32;
    loop {
        let b = *buf.get(*pos).ok_or(HpackError::Integer(at))?;
        *pos += 1;
        value = value
            .checked_add(((b & 0x7f) as usize) << shift)
            .ok_or(HpackError::Integer(at))?;
        if b & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
        if shift > 28 {
            return Err(HpackError::Integer(at));
        }
    }
}

fn string(buf: &[u8], pos: &mut usize) -> Result<Vec<u8>, HpackError> {
    let at = *pos;
    let huff = buf.get(*pos).map(|b| b & 0x80 != 0).unwrap_or(false);
    let len = integer(buf, pos, 7)?;
    let end = pos
        .checked_add(len)
        .ok_or(HpackError::StringTruncated(at))?;
    let raw = buf.get(*pos..end).ok_or(HpackError::StringTruncated(at))?;
    *pos = end;
    if huff {
        let mut out = Vec::with_capacity(len + len / 2);
        huffman_decode(raw, at, &mut out)?;
        Ok(out)
    } else {
        Ok(raw.to_vec())
    }
}

/// Borrow entry `index` (1-based; static table first, then the dynamic one).
fn entry(
    table: &VecDeque<(Vec<u8>, Vec<u8>)>,
    index: usize,
    at: usize,
) -> Result<(&[u8], &[u8]), HpackError> {
    if index == 0 {
        return Err(HpackError::Index { index, at });
    }
    if let Some((n, v)) = STATIC.get(index - 1) {
        return Ok((n.as_bytes(), v.as_bytes()));
    }
    table
        .get(index - 1 - STATIC.len())
        .map(|(n, v)| (n.as_slice(), v.as_slice()))
        .ok_or(HpackError::Index { index, at })
}

/// Append one decoded field to `block` unless the list is over `MAX_HEADER_LIST`; fields past
/// the cap are only measured, never copied.
fn emit(
    block: &mut Block,
    list_size: &mut usize,
    lists_truncated: &mut u64,
    name: &[u8],
    value: &[u8],
) {
    *list_size += name.len() + value.len() + 32;
    if *list_size > MAX_HEADER_LIST {
        if !block.truncated {
            *lists_truncated += 1;
        }
        block.truncated = true;
        return;
    }
    block.headers.push((
        String::from_utf8_lossy(name).into_owned(),
        String::from_utf8_lossy(value).into_owned(),
    ));
}

/// HPACK decoder state for one direction.
#[derive(Debug, Clone)]
pub struct Decoder {
    table: VecDeque<(Vec<u8>, Vec<u8>)>,
    size: usize,
    max_size: usize,
    /// Upper bound the encoder may set (SETTINGS_HEADER_TABLE_SIZE of the receiver, capped).
    allowed_max: usize,
    /// Header lists cut at `MAX_HEADER_LIST`.
    pub lists_truncated: u64,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            table: VecDeque::new(),
            size: 0,
            max_size: 4096,
            allowed_max: 4096,
            lists_truncated: 0,
        }
    }
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The receiver announced SETTINGS_HEADER_TABLE_SIZE.
    pub fn set_allowed_max(&mut self, n: usize) {
        self.allowed_max = n.min(MAX_TABLE_SIZE);
    }

    fn evict(&mut self) {
        while self.size > self.max_size {
            match self.table.pop_back() {
                Some((n, v)) => self.size -= n.len() + v.len() + 32,
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }

    fn insert(&mut self, name: Vec<u8>, value: Vec<u8>) {
        let sz = name.len() + value.len() + 32;
        if sz > self.max_size {
            self.table.clear();
            self.size = 0;
            return;
        }
        self.size += sz;
        self.table.push_front((name, value));
        self.evict();
    }

    /// Decode one complete header block (HEADERS + CONTINUATION fragments joined).
    pub fn decode(&mut self, buf: &[u8]) -> Result<Block, HpackError> {
        let mut block = Block::default();
        let mut list_size = 0usize;
        let mut pos = 0usize;
        while pos < buf.len() {
            let at = pos;
            let b = buf.get(pos).copied().unwrap_or(0);
            if b & 0x80 != 0 {
                let index = integer(buf, &mut pos, 7)?;
                let (name, value) = entry(&self.table, index, at)?;
                emit(
                    &mut block,
                    &mut list_size,
                    &mut self.lists_truncated,
                    name,
                    value,
                );
            } else if b & 0xE0 == 0x20 {
                let size = integer(buf, &mut pos, 5)?;
                if size > self.allowed_max.max(4096) {
                    return Err(HpackError::TableSize {
                        size,
                        max: self.allowed_max.max(4096),
                        at,
                    });
                }
                self.max_size = size;
                self.evict();
            } else {
                let (prefix, indexing) = if b & 0xC0 == 0x40 {
                    (6, true)
                } else {
                    (4, false)
                };
                let index = integer(buf, &mut pos, prefix)?;
                let name: Cow<[u8]> = if index == 0 {
                    Cow::Owned(string(buf, &mut pos)?)
                } else {
                    Cow::Borrowed(entry(&self.table, index, at)?.0)
                };
                let value = string(buf, &mut pos)?;
                emit(
                    &mut block,
                    &mut list_size,
                    &mut self.lists_truncated,
                    &name,
                    &value,
                );
                if indexing {
                    let name = name.into_owned();
                    self.insert(name, value);
                }
            }
        }
        Ok(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap_or_default()
    }

    /// RFC 7541 C.4: three requests with Huffman coding and a shared dynamic table.
    #[test]
    fn rfc7541_c4_requests_with_huffman() {
        let mut d = Decoder::new();
        let b1 = d
            .decode(&h("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"))
            .expect("c4.1");
        assert_eq!(
            b1.headers,
            vec![
                (":method".into(), "GET".into()),
                (":scheme".into(), "http".into()),
                (":path".into(), "/".into()),
                (":authority".into(), "www.example.com".into()),
            ]
        );
        let b2 = d.decode(&h("8286 84be 5886 a8eb 1064 9cbf")).expect("c4.2");
        assert_eq!(
            b2.headers[3],
            (":authority".into(), "www.example.com".into())
        );
        assert_eq!(b2.headers[4], ("cache-control".into(), "no-cache".into()));
        let b3 = d
            .decode(&h(
                "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
            ))
            .expect("c4.3");
        assert_eq!(b3.headers[2], (":path".into(), "/index.html".into()));
        assert_eq!(b3.headers[4], ("custom-key".into(), "custom-value".into()));
    }

    #[test]
    fn bomb_is_capped_and_table_stays_in_sync() {
        let mut d = Decoder::new();
        // Insert one 4000-byte value, then reference it 1000 times (4 MB decoded).
        let mut blk = vec![0x40, 0x01, b'x', 0x7f];
        let mut n = 4000usize - 127;
        blk.push(0x80 | (n & 0x7f) as u8);
        n >>= 7;
        blk.push(n as u8);
        blk.extend(std::iter::repeat_n(b'a', 4000));
        blk.extend(std::iter::repeat_n(0xBE, 1000)); // index 62
        let b = d.decode(&blk).expect("decodes");
        assert!(b.truncated);
        assert!(b.headers.len() < 100);
        assert_eq!(d.lists_truncated, 1);
        assert_eq!(
            d.decode(&[0xBE]).expect("still indexed").headers[0].1.len(),
            4000
        );
    }

    #[test]
    fn malformed_blocks_are_errors() {
        let mut d = Decoder::new();
        assert!(matches!(d.decode(&[0x80]), Err(HpackError::Index { .. })));
        assert!(matches!(
            d.decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(HpackError::Integer(_))
        ));
        assert!(matches!(
            d.decode(&[0x3f, 0xe1, 0xff, 0x03]),
            Err(HpackError::TableSize { .. })
        ));
        assert!(matches!(d.decode(&[0x3f]), Err(HpackError::Integer(_))));
        assert!(matches!(
            d.decode(&[0x40, 0x05, b'a']),
            Err(HpackError::StringTruncated(_))
        ));
        assert!(matches!(
            d.decode(&[0x00, 0x81, 0x00, 0x00]),
            Err(HpackError::Huffman(_))
        ));
    }
}
