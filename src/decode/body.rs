//! Capped HTTP body decoding: `Content-Encoding` gzip / x-gzip / deflate / br (and stacks of
//! them, e.g. `gzip, br`), used by the capture HTTP parsers and the proxy.
//!
//! Owns: turning an encoded body into at most `cap` decoded bytes, saying whether the cap was hit
//! and, if the stream was broken, where decoding stopped. Must not: allocate more than `cap`
//! bytes of output per layer, panic on any input, or drop a partial result silently.
//! Known limits: `compress` / `zstd` are not decoded (the body is kept encoded and the reason is
//! returned); `deflate` is tried as zlib first and then as raw deflate (some servers omit the
//! zlib header). Decoding is all-at-once, not streaming: the caller already holds the body.

use std::io::Read;

/// Default cap on decoded output (8 MiB).
pub const DEFAULT_DECODED_CAP: usize = 8 << 20;

/// Why decoding stopped before the end of the encoded body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{encoding} body is corrupt after {decoded} decoded bytes ({detail})")]
    Corrupt {
        encoding: &'static str,
        decoded: usize,
        detail: String,
    },
    #[error("content-encoding {0:?} is not supported; body kept encoded")]
    Unsupported(String),
    #[error("content-encoding lists {0} codings (more than {MAX_CODINGS}); body kept encoded")]
    TooManyCodings(usize),
}

/// Most codings applied to one body that are undone; real servers use one.
pub const MAX_CODINGS: usize = 4;

/// Result of decoding: the bytes that could be produced, plus why it stopped early (if it did).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decoded {
    pub data: Vec<u8>,
    /// Output reached `cap`; the rest was not decoded.
    pub truncated: bool,
    pub error: Option<DecodeError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Identity,
    Gzip,
    Deflate,
    Brotli,
}

fn parse_coding(token: &str) -> Result<Coding, DecodeError> {
    let t = token.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("identity") {
        Ok(Coding::Identity)
    } else if t.eq_ignore_ascii_case("gzip") || t.eq_ignore_ascii_case("x-gzip") {
        Ok(Coding::Gzip)
    } else if t.eq_ignore_ascii_case("deflate") {
        Ok(Coding::Deflate)
    } else if t.eq_ignore_ascii_case("br") {
        Ok(Coding::Brotli)
    } else {
        Err(DecodeError::Unsupported(t.chars().take(40).collect()))
    }
}

/// Decode `data` per a `Content-Encoding` header value (codings listed in the order they were
/// applied, so they are removed right to left). `None` or `identity` returns the data as is
/// (still capped). On an unsupported coding the data is returned undecoded with the error.
pub fn decode_body(content_encoding: Option<&str>, data: &[u8], cap: usize) -> Decoded {
    let mut codings: Vec<Result<Coding, DecodeError>> = match content_encoding {
        Some(v) => v
            .split(',')
            .map(parse_coding)
            .filter(|c| !matches!(c, Ok(Coding::Identity)))
            .collect(),
        None => Vec::new(),
    };
    if codings.len() > MAX_CODINGS {
        codings = vec![Err(DecodeError::TooManyCodings(codings.len()))];
    }
    let mut out = Decoded::default();
    if let Some(Err(e)) = codings.iter().find(|c| c.is_err()) {
        out.data = data[..data.len().min(cap)].to_vec();
        out.truncated = data.len() > cap;
        out.error = Some(e.clone());
        return out;
    }
    let mut current: std::borrow::Cow<'_, [u8]> = std::borrow::Cow::Borrowed(data);
    for coding in codings.iter().rev().filter_map(|c| c.as_ref().ok()) {
        let step = decode_one(*coding, &current, cap);
        out.truncated |= step.truncated;
        current = std::borrow::Cow::Owned(step.data);
        if step.error.is_some() {
            out.error = step.error;
            break;
        }
    }
    if current.len() > cap {
        out.truncated = true;
        out.data = current[..cap].to_vec();
    } else {
        out.data = current.into_owned();
    }
    out
}

fn decode_one(coding: Coding, data: &[u8], cap: usize) -> Decoded {
    match coding {
        Coding::Identity => Decoded {
            data: data.to_vec(),
            truncated: false,
            error: None,
        },
        Coding::Gzip => read_capped(flate2::read::MultiGzDecoder::new(data), cap, "gzip"),
        Coding::Deflate => {
            let zlib = read_capped(flate2::read::ZlibDecoder::new(data), cap, "deflate");
            if zlib.error.is_some() && zlib.data.is_empty() {
                // Many servers send raw deflate without the zlib wrapper.
                read_capped(flate2::read::DeflateDecoder::new(data), cap, "deflate")
            } else {
                zlib
            }
        }
        Coding::Brotli => read_capped(brotli::Decompressor::new(data, 4096), cap, "br"),
    }
}

/// Read at most `cap` bytes from a decoder; one extra byte tells whether the cap was hit.
fn read_capped<R: Read>(reader: R, cap: usize, encoding: &'static str) -> Decoded {
    let mut data = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    let mut limited = reader.take(limit);
    let mut chunk = [0u8; 16 * 1024];
    let mut error = None;
    loop {
        match limited.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(chunk.get(..n).unwrap_or(&[])),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                error = Some(DecodeError::Corrupt {
                    encoding,
                    decoded: data.len(),
                    detail: e.to_string(),
                });
                break;
            }
        }
    }
    let truncated = data.len() > cap;
    data.truncate(cap);
    Decoded {
        data,
        truncated,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_roundtrip_and_cap() {
        let plain = b"hello hello hello hello".repeat(100);
        let enc = gzip(&plain);
        let d = decode_body(Some("gzip"), &enc, 1 << 20);
        assert_eq!(d.data, plain);
        assert!(!d.truncated);
        assert!(d.error.is_none());
        let d = decode_body(Some("x-gzip"), &enc, 10);
        assert_eq!(d.data, &plain[..10]);
        assert!(d.truncated);
    }

    #[test]
    fn deflate_zlib_and_raw() {
        let plain = b"{\"a\":1}".repeat(50);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&plain).unwrap();
        assert_eq!(
            decode_body(Some("deflate"), &z.finish().unwrap(), 1 << 20).data,
            plain
        );
        let mut r = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        r.write_all(&plain).unwrap();
        let d = decode_body(Some("deflate"), &r.finish().unwrap(), 1 << 20);
        assert_eq!(d.data, plain);
        assert!(d.error.is_none());
    }

    #[test]
    fn brotli_and_stacked() {
        let plain = b"brotli body ".repeat(30);
        let mut br = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
            w.write_all(&plain).unwrap();
        }
        assert_eq!(decode_body(Some("br"), &br, 1 << 20).data, plain);
        // gzip applied first, then br: decode br then gzip.
        let g = gzip(&plain);
        let mut both = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut both, 4096, 5, 22);
            w.write_all(&g).unwrap();
        }
        assert_eq!(decode_body(Some("gzip, br"), &both, 1 << 20).data, plain);
    }

    #[test]
    fn corrupt_keeps_prefix_and_reason() {
        let plain = b"abcdefghij".repeat(1000);
        let mut enc = gzip(&plain);
        let n = enc.len();
        enc.truncate(n / 2);
        let d = decode_body(Some("gzip"), &enc, 1 << 20);
        assert!(matches!(
            d.error,
            Some(DecodeError::Corrupt {
                encoding: "gzip",
                ..
            })
        ));
        assert!(plain.starts_with(&d.data));
        let d = decode_body(Some("compress"), b"xyz", 2);
        assert_eq!(d.data, b"xy");
        assert!(d.truncated);
        assert_eq!(d.error, Some(DecodeError::Unsupported("compress".into())));
    }
}
