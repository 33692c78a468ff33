//! Input format detection from content (never from the file name): HAR, pcap, pcapng, or gzip of
//! any of them.
//!
//! Owns: opening a file (`-` is standard input), sniffing its first bytes, unwrapping one layer of gzip (streamed through
//! `flate2::read::MultiGzDecoder`, so concatenated members work) and sniffing again, and handing
//! back a reader that replays the sniffed bytes.
//! Also tells a TLS key log given as an input (an error that says to pass it with `--keylog`)
//! and a capture or HAR given as a key log ([`open_keylog`]).
//! Must not: read more than `SNIFF_MAX` bytes ahead, or parse the format itself.
//! Known limits: only one gzip layer is removed; HAR is recognised by an optional UTF-8 BOM,
//! whitespace and `{` (a JSON file that is not a HAR is rejected later by the HAR reader).

use std::fmt;
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};

/// How many leading bytes may be examined (whitespace before a HAR's `{` counts).
pub const SNIFF_MAX: usize = 64 * 1024;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const PCAPNG_SHB: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x4d, 0x3c, 0xb2, 0xa1],
];
const BOM: [u8; 3] = [0xef, 0xbb, 0xbf];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Har,
    Pcap,
    Pcapng,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Har => "har",
            Format::Pcap => "pcap",
            Format::Pcapng => "pcapng",
        })
    }
}

/// An input whose format is known, positioned at its first byte.
pub struct Opened {
    pub format: Format,
    /// The file was gzip-compressed; `reader` yields the decompressed bytes.
    pub compressed: bool,
    pub reader: Box<dyn Read + Send>,
}

impl Opened {
    /// `har`, `pcap`, `pcapng`, with `+gzip` when compressed (the JSON report's `format`).
    pub fn format_name(&self) -> String {
        format_name(self.format, self.compressed)
    }
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("format", &self.format)
            .field("compressed", &self.compressed)
            .finish_non_exhaustive()
    }
}

pub fn format_name(format: Format, compressed: bool) -> String {
    if compressed {
        format!("{format}+gzip")
    } else {
        format.to_string()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{}: cannot open: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: read error while detecting the format{}: {source}", path.display(), if *.compressed { " (inside gzip)" } else { "" })]
    Read {
        path: PathBuf,
        compressed: bool,
        #[source]
        source: io::Error,
    },
    #[error("{}: byte 0{}: expected HAR JSON, pcap or pcapng, found {found}{}", path.display(), if *.compressed { " of the gzip content" } else { "" }, if *.keylog { " (this looks like a TLS key log: pass it with --keylog FILE)" } else { "" })]
    Unknown {
        path: PathBuf,
        compressed: bool,
        found: String,
        /// The content looks like an SSLKEYLOGFILE.
        keylog: bool,
    },
    #[error("{}: byte 0{}: this is a {}, not a TLS key log (lines such as `CLIENT_RANDOM <64 hex digits> <96 hex digits>`); pass captures and HAR files to `authtap analyze` as FILE arguments", path.display(), if *.compressed { " of the gzip content" } else { "" }, match format { Format::Har => "HAR file", Format::Pcap => "pcap capture", Format::Pcapng => "pcapng capture" })]
    NotKeyLog {
        path: PathBuf,
        compressed: bool,
        format: Format,
    },
}

/// What the first bytes say.
enum Sniffed {
    Gzip,
    Known(Format),
    /// What the first bytes are, and whether they look like a key log.
    Unknown(String, bool),
}

fn describe(prefix: &[u8]) -> String {
    let Some(first_non_ws) = prefix.iter().position(|b| !b.is_ascii_whitespace()) else {
        return if prefix.is_empty() {
            "end of file (empty input)".into()
        } else {
            "only whitespace".into()
        };
    };
    let head = &prefix[first_non_ws..prefix.len().min(first_non_ws + 8)];
    if head.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("`{}`", String::from_utf8_lossy(head))
    } else {
        let hex: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
        format!("bytes {}", hex.join(" "))
    }
}

fn sniff(prefix: &[u8]) -> Sniffed {
    if prefix.starts_with(&GZIP_MAGIC) {
        return Sniffed::Gzip;
    }
    if prefix.starts_with(&PCAPNG_SHB) {
        return Sniffed::Known(Format::Pcapng);
    }
    if PCAP_MAGICS.iter().any(|m| prefix.starts_with(m)) {
        return Sniffed::Known(Format::Pcap);
    }
    let body = prefix.strip_prefix(&BOM[..]).unwrap_or(prefix);
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Sniffed::Known(Format::Har),
        _ => Sniffed::Unknown(describe(body), looks_like_keylog(body)),
    }
}

/// Does the text start like an SSLKEYLOGFILE: NSS's header comment, or a first line the key log
/// parser takes as a key log line?
fn looks_like_keylog(prefix: &[u8]) -> bool {
    let text = prefix.trim_ascii_start();
    text.starts_with(b"# SSL/TLS secrets log file")
        || crate::capture::keylog::is_keylog_line(
            text.split(|b| *b == b'\n').next().unwrap_or_default(),
        )
}

/// Read up to `SNIFF_MAX` bytes: at least 4, and past any leading whitespace.
fn read_prefix(reader: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut prefix = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let body = prefix.strip_prefix(&BOM[..]).unwrap_or(&prefix[..]);
        let decided = prefix.len() >= 4 && body.iter().any(|b| !b.is_ascii_whitespace());
        if decided || prefix.len() >= SNIFF_MAX {
            return Ok(prefix);
        }
        let n = match reader.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(prefix);
        }
        prefix.extend_from_slice(&chunk[..n]);
    }
}

/// A stream after sniffing: one gzip layer removed, its format (or what its first bytes are,
/// and whether they look like a key log), and a reader that replays them.
struct Sniffing {
    format: Result<Format, (String, bool)>,
    compressed: bool,
    reader: Box<dyn Read + Send>,
}

fn sniff_stream(mut reader: Box<dyn Read + Send>, path: &Path) -> Result<Sniffing, OpenError> {
    let read_err = |compressed: bool| {
        move |source| OpenError::Read {
            path: path.to_path_buf(),
            compressed,
            source,
        }
    };
    let prefix = read_prefix(&mut reader).map_err(read_err(false))?;
    let sniffed = sniff(&prefix);
    let mut reader: Box<dyn Read + Send> = Box::new(Cursor::new(prefix).chain(reader));
    let compressed = matches!(sniffed, Sniffed::Gzip);
    let sniffed = if compressed {
        reader = Box::new(flate2::read::MultiGzDecoder::new(reader));
        let prefix = read_prefix(&mut reader).map_err(read_err(true))?;
        let sniffed = sniff(&prefix);
        reader = Box::new(Cursor::new(prefix).chain(reader));
        sniffed
    } else {
        sniffed
    };
    let format = match sniffed {
        Sniffed::Known(format) => Ok(format),
        Sniffed::Unknown(found, keylog) => Err((found, keylog)),
        Sniffed::Gzip => Err(("a second gzip layer".into(), false)),
    };
    Ok(Sniffing {
        format,
        compressed,
        reader,
    })
}

/// Detect the format of any stream; `path` only names it in errors.
pub fn detect(reader: Box<dyn Read + Send>, path: &Path) -> Result<Opened, OpenError> {
    let s = sniff_stream(reader, path)?;
    match s.format {
        Ok(format) => Ok(Opened {
            format,
            compressed: s.compressed,
            reader: s.reader,
        }),
        Err((found, keylog)) => Err(OpenError::Unknown {
            path: path.to_path_buf(),
            compressed: s.compressed,
            found,
            keylog,
        }),
    }
}

/// `-` is standard input (e.g. `tcpdump -U -w - | authtap analyze -`); anything else a file.
fn open_file(path: &Path) -> Result<Box<dyn Read + Send>, OpenError> {
    if path == Path::new("-") {
        return Ok(Box::new(io::stdin()));
    }
    File::open(path)
        .map(|f| Box::new(f) as Box<dyn Read + Send>)
        .map_err(|source| OpenError::Open {
            path: path.to_path_buf(),
            source,
        })
}

/// Open `path` and detect its format from content.
pub fn open(path: &Path) -> Result<Opened, OpenError> {
    detect(open_file(path)?, path)
}

/// Open a key log named by `--keylog` (gzip removed): any text is handed back for the key log
/// parser to judge line by line; a capture or HAR is refused, since it is surely the wrong file.
pub fn open_keylog(path: &Path) -> Result<Box<dyn Read + Send>, OpenError> {
    let s = sniff_stream(open_file(path)?, path)?;
    match s.format {
        Ok(format) => Err(OpenError::NotKeyLog {
            path: path.to_path_buf(),
            compressed: s.compressed,
            format,
        }),
        Err(_) => Ok(s.reader),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn detect_bytes(data: &[u8]) -> Result<(Opened, Vec<u8>), OpenError> {
        let mut opened = detect(Box::new(Cursor::new(data.to_vec())), Path::new("in.bin"))?;
        let mut all = Vec::new();
        opened
            .reader
            .read_to_end(&mut all)
            .map_err(|source| OpenError::Read {
                path: "in.bin".into(),
                compressed: opened.compressed,
                source,
            })?;
        Ok((opened, all))
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn detects_each_format_and_replays_the_bytes() {
        let har = b"\xef\xbb\xbf \n {\"log\":{}}".to_vec();
        let (o, all) = detect_bytes(&har).unwrap();
        assert_eq!(
            (o.format, o.compressed, o.format_name()),
            (Format::Har, false, "har".into())
        );
        assert_eq!(all, har);
        for magic in PCAP_MAGICS {
            let mut data = magic.to_vec();
            data.extend([0u8; 20]);
            let (o, all) = detect_bytes(&data).unwrap();
            assert_eq!(o.format, Format::Pcap);
            assert_eq!(all, data);
        }
        let (o, _) = detect_bytes(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]).unwrap();
        assert_eq!(o.format_name(), "pcapng");
    }

    #[test]
    fn gzip_is_unwrapped_and_sniffed_again() {
        let har = b"{\"log\":{\"entries\":[]}}";
        let mut two = gzip(&har[..10]);
        two.extend(gzip(&har[10..]));
        let (o, all) = detect_bytes(&two).unwrap();
        assert_eq!(o.format_name(), "har+gzip");
        assert_eq!(all, har);
        let pcapng = gzip(&[0x0a, 0x0d, 0x0d, 0x0a, 1, 2, 3, 4]);
        assert_eq!(
            detect_bytes(&pcapng).unwrap().0.format_name(),
            "pcapng+gzip"
        );
    }

    #[test]
    fn unknown_and_empty_inputs_name_the_file_and_byte_0() {
        let err = detect_bytes(b"").unwrap_err().to_string();
        assert_eq!(
            err,
            "in.bin: byte 0: expected HAR JSON, pcap or pcapng, found end of file (empty input)"
        );
        let err = detect_bytes(b"\x89PNG\r\n\x1a\n....")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "in.bin: byte 0: expected HAR JSON, pcap or pcapng, found bytes 89 50 4e 47 0d 0a 1a 0a"
        );
        let err = detect_bytes(&gzip(b"hello")).unwrap_err().to_string();
        assert!(
            err.contains("byte 0 of the gzip content") && err.contains("`hello`"),
            "{err}"
        );
    }

    #[test]
    fn a_key_log_given_as_input_says_to_use_keylog() {
        let random = "ab".repeat(32);
        for text in [
            format!("CLIENT_RANDOM {random} {}\n", "cd".repeat(48)),
            format!(
                "\nSERVER_HANDSHAKE_TRAFFIC_SECRET {random} {}",
                "cd".repeat(32)
            ),
            "# SSL/TLS secrets log file, generated by NSS\n".to_string(),
        ] {
            let err = detect_bytes(text.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("pass it with --keylog FILE"), "{err}");
            let err = detect_bytes(&gzip(text.as_bytes()))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("gzip content") && err.contains("--keylog"),
                "{err}"
            );
        }
        // Words that only start like a label, or a label without a client random, are not.
        for text in ["CLIENT_RANDOMS are nice", "CLIENT_RANDOM xyz", "hello"] {
            let err = detect_bytes(text.as_bytes()).unwrap_err().to_string();
            assert!(!err.contains("--keylog"), "{err}");
        }
    }

    #[test]
    fn open_keylog_refuses_captures_and_hars_and_unwraps_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, data: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, data).unwrap();
            path
        };
        let text = b"CLIENT_RANDOM 00 11\n";
        for (name, data, kind) in [
            (
                "a.pcap",
                vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0],
                "a pcap capture",
            ),
            (
                "a.pcapng",
                gzip(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0]),
                "a pcapng capture",
            ),
            ("a.har", b" {\"log\": {}}".to_vec(), "a HAR file"),
        ] {
            let err = match open_keylog(&write(name, &data)) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("{name} accepted as a key log"),
            };
            assert!(
                err.contains(&format!("this is {kind}, not a TLS key log")),
                "{err}"
            );
        }
        for data in [text.to_vec(), gzip(text), b"junk".to_vec(), Vec::new()] {
            let mut all = Vec::new();
            open_keylog(&write("k.log", &data))
                .unwrap()
                .read_to_end(&mut all)
                .unwrap();
            let expected: &[u8] = if data.starts_with(&GZIP_MAGIC) || data == text {
                text
            } else {
                &data
            };
            assert_eq!(all, expected);
        }
    }

    #[test]
    fn missing_file_is_an_open_error_naming_it() {
        let err = open(Path::new("/nonexistent/x.har"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/nonexistent/x.har: cannot open"), "{err}");
    }
}
