//! Capped decoding of tapped body copies (gzip, deflate, br) for analysis. Runs on the analysis
//! thread, never on the data path, and never writes more than `cap` bytes of output.
//! Used because `crate::decode::body` did not exist when the proxy was written; replace the call
//! site with it once it lands. Known limits: only one content-coding layer per body is undone
//! (stacked codings keep the outer result and a note).

use std::io::Read;

/// Result of decoding one body copy.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    pub data: Vec<u8>,
    /// Output reached `cap`.
    pub capped: bool,
    /// Why decoding stopped early or was skipped, if it did.
    pub note: Option<String>,
}

/// Undo `content_encoding` on `data`, producing at most `cap` bytes.
pub fn decode_capped(content_encoding: Option<&str>, data: &[u8], cap: usize) -> Decoded {
    let enc = content_encoding.unwrap_or("").trim().to_ascii_lowercase();
    let codings: Vec<&str> = enc
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    let Some(&last) = codings.last() else {
        return Decoded {
            data: data.get(..cap.min(data.len())).unwrap_or(&[]).to_vec(),
            capped: data.len() > cap,
            note: None,
        };
    };
    let mut out = match last {
        "identity" => {
            return Decoded {
                data: data.get(..cap.min(data.len())).unwrap_or(&[]).to_vec(),
                capped: data.len() > cap,
                note: None,
            }
        }
        "gzip" | "x-gzip" => read_capped(flate2::read::MultiGzDecoder::new(data), cap, "gzip"),
        "deflate" => {
            // RFC 9110 says zlib-wrapped; some servers send raw deflate.
            let z = read_capped(flate2::read::ZlibDecoder::new(data), cap, "deflate");
            if z.data.is_empty() && z.note.is_some() {
                read_capped(flate2::read::DeflateDecoder::new(data), cap, "deflate")
            } else {
                z
            }
        }
        "br" => read_capped(brotli::Decompressor::new(data, 4096), cap, "br"),
        other => Decoded {
            data: data.get(..cap.min(data.len())).unwrap_or(&[]).to_vec(),
            capped: data.len() > cap,
            note: Some(format!(
                "content-encoding {other:?} not decoded; body kept as sent"
            )),
        },
    };
    if codings.len() > 1 && out.note.is_none() {
        out.note = Some(format!(
            "stacked content-encoding {enc:?}: only the outer {last} was undone"
        ));
    }
    out
}

fn read_capped<R: Read>(reader: R, cap: usize, name: &str) -> Decoded {
    let mut data = Vec::new();
    let mut limited = reader.take(cap as u64 + 1);
    let note = match limited.read_to_end(&mut data) {
        Ok(_) => None,
        Err(e) => Some(format!(
            "{name} decoding stopped after {} bytes: {e}",
            data.len()
        )),
    };
    let capped = data.len() > cap;
    data.truncate(cap);
    Decoded { data, capped, note }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("write");
        e.finish().expect("finish")
    }

    #[test]
    fn gzip_roundtrip_and_cap() {
        let body = b"{\"access_token\":\"x\"}".repeat(100);
        let z = gzip(&body);
        assert_eq!(decode_capped(Some("gzip"), &z, 1 << 20).data, body);
        let capped = decode_capped(Some("gzip"), &z, 10);
        assert_eq!(capped.data.len(), 10);
        assert!(capped.capped);
    }

    #[test]
    fn truncated_gzip_keeps_prefix_with_note() {
        let body = b"abcdefghij".repeat(1000);
        let z = gzip(&body);
        let cut = z.get(..z.len() / 2).expect("half");
        let d = decode_capped(Some("gzip"), cut, 1 << 20);
        assert!(d.note.is_some());
        assert!(body.starts_with(&d.data));
    }

    #[test]
    fn unknown_coding_is_kept_with_note() {
        let d = decode_capped(Some("zstd"), b"raw", 100);
        assert_eq!(d.data, b"raw");
        assert!(d.note.is_some_and(|n| n.contains("zstd")));
    }
}
