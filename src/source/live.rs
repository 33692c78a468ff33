//! Live packet capture through libpcap (`authtap capture`), behind cargo feature `live`.
//!
//! Owns: opening an interface (snap length, kernel buffer, read timeout, BPF filter), reading
//! frames in batches, libpcap's kernel statistics, and turning a permission failure into the
//! exact fix (root, or `setcap cap_net_raw,cap_net_admin+eip <binary>`).
//! Must not: parse packets (the sans-I/O `capture::pipeline` does) or keep frames beyond a batch.
//! Known limits: without the `live` feature every call returns `LiveError::NotBuilt`, so the
//! default build needs no libpcap-dev. Frames are borrowed from libpcap's ring buffer only for the
//! duration of the callback.

use crate::model::Micros;

/// How long `read_batch` sleeps when no frame is waiting. The kernel buffer (64 MiB by default)
/// holds the packets that arrive meanwhile.
pub const IDLE_NAP: std::time::Duration = std::time::Duration::from_millis(2);

/// Default capture filter: HTTPS and HTTP.
pub const DEFAULT_BPF: &str = "tcp port 443 or tcp port 80";

/// How to open the interface.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub interface: String,
    pub bpf: String,
    /// Bytes captured per frame.
    pub snaplen: i32,
    /// Kernel ring buffer, bytes. Bigger means fewer drops under bursts.
    pub buffer_bytes: i32,
    /// How long a read waits for packets before returning, in milliseconds.
    pub timeout_ms: i32,
}

impl LiveConfig {
    pub fn new(interface: impl Into<String>, bpf: impl Into<String>) -> Self {
        Self {
            interface: interface.into(),
            bpf: bpf.into(),
            snaplen: 262_144,
            buffer_bytes: 64 << 20,
            timeout_ms: 100,
        }
    }
}

/// One captured frame, borrowed from libpcap for the duration of a callback.
#[derive(Debug, Clone, Copy)]
pub struct LiveFrame<'a> {
    pub ts: Micros,
    pub data: &'a [u8],
    /// Length on the wire (more than `data.len()` when the snap length cut it).
    pub wire_len: usize,
}

/// libpcap's cumulative counters since the capture was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelStats {
    pub received: u64,
    /// Dropped because the kernel buffer was full (we did not read fast enough).
    pub dropped: u64,
    /// Dropped by the interface or its driver.
    pub if_dropped: u64,
}

/// Why live capture failed; each variant names the interface and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(
        "no permission to capture on {interface} ({detail}). Run authtap as root, or give the \
         binary the capture capabilities once: sudo setcap cap_net_raw,cap_net_admin+eip {binary}"
    )]
    Permission {
        interface: String,
        binary: String,
        detail: String,
    },
    #[error("no interface named {interface} ({detail}); list interfaces with `ip link`")]
    NoSuchInterface { interface: String, detail: String },
    #[error("invalid --bpf filter {expr:?} on {interface}: {detail}")]
    Filter {
        interface: String,
        expr: String,
        detail: String,
    },
    #[error("opening {interface} for capture: {detail}")]
    Open { interface: String, detail: String },
    #[error("reading packets from {interface}: {detail}")]
    Read { interface: String, detail: String },
    #[error(
        "this authtap was built without live capture; rebuild with `cargo build --features live` \
         (needs libpcap-dev), or use `authtap proxy`, or record with tcpdump and run `authtap analyze`"
    )]
    NotBuilt,
}

/// The running binary's path, for the `setcap` hint.
fn binary_path() -> String {
    std::env::current_exe()
        .ok()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "$(command -v authtap)".to_string())
}

/// Sorts a libpcap open/activate error message into a `LiveError`.
pub fn classify_open_error(interface: &str, detail: &str) -> LiveError {
    let lower = detail.to_ascii_lowercase();
    if lower.contains("permission") || lower.contains("not permitted") || lower.contains("eperm") {
        LiveError::Permission {
            interface: interface.to_string(),
            binary: binary_path(),
            detail: detail.to_string(),
        }
    } else if lower.contains("no such device") || lower.contains("doesn't exist") {
        LiveError::NoSuchInterface {
            interface: interface.to_string(),
            detail: detail.to_string(),
        }
    } else {
        LiveError::Open {
            interface: interface.to_string(),
            detail: detail.to_string(),
        }
    }
}

#[cfg(feature = "live")]
pub use imp::LiveCapture;

#[cfg(feature = "live")]
mod imp {
    use super::*;

    /// An open libpcap capture.
    pub struct LiveCapture {
        cap: ::pcap::Capture<::pcap::Active>,
        interface: String,
        linktype: i32,
    }

    impl std::fmt::Debug for LiveCapture {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("LiveCapture")
                .field("interface", &self.interface)
                .field("linktype", &self.linktype)
                .finish()
        }
    }

    impl LiveCapture {
        pub fn open(cfg: &LiveConfig) -> Result<Self, LiveError> {
            let iface = cfg.interface.as_str();
            let inactive = ::pcap::Capture::from_device(iface)
                .map_err(|e| classify_open_error(iface, &e.to_string()))?;
            let mut cap = inactive
                .promisc(false)
                .snaplen(cfg.snaplen)
                .buffer_size(cfg.buffer_bytes)
                .timeout(cfg.timeout_ms)
                .open()
                .map_err(|e| classify_open_error(iface, &e.to_string()))?;
            cap.filter(&cfg.bpf, true).map_err(|e| LiveError::Filter {
                interface: iface.to_string(),
                expr: cfg.bpf.clone(),
                detail: e.to_string(),
            })?;
            // Non-blocking: a quiet interface must not block shutdown (libpcap's read timeout
            // only starts with the first packet on Linux). `read_batch` naps instead.
            let cap = cap
                .setnonblock()
                .map_err(|e| classify_open_error(iface, &e.to_string()))?;
            let linktype = cap.get_datalink().0;
            Ok(Self {
                cap,
                interface: iface.to_string(),
                linktype,
            })
        }

        /// Link type of the frames (DLT/LINKTYPE number, e.g. 1 Ethernet, 113 Linux SLL).
        pub fn linktype(&self) -> i32 {
            self.linktype
        }

        pub fn interface(&self) -> &str {
            &self.interface
        }

        /// Reads at most `max` frames. When none are waiting it naps `IDLE_NAP` and returns 0,
        /// so callers can check their stop flag. Returns how many frames went to `on_frame`.
        pub fn read_batch(
            &mut self,
            max: usize,
            mut on_frame: impl FnMut(LiveFrame<'_>),
        ) -> Result<usize, LiveError> {
            let res = self.cap.dispatch(Some(max.max(1)), |p| {
                let ts = i64::from(p.header.ts.tv_sec)
                    .saturating_mul(1_000_000)
                    .saturating_add(i64::from(p.header.ts.tv_usec));
                on_frame(LiveFrame {
                    ts,
                    data: p.data,
                    wire_len: p.header.len as usize,
                })
            });
            match res {
                Ok(0) | Err(::pcap::Error::TimeoutExpired) => {
                    std::thread::sleep(IDLE_NAP);
                    Ok(0)
                }
                Ok(n) => Ok(n),
                Err(e) => Err(LiveError::Read {
                    interface: self.interface.clone(),
                    detail: e.to_string(),
                }),
            }
        }

        pub fn stats(&mut self) -> Result<KernelStats, LiveError> {
            let s = self.cap.stats().map_err(|e| LiveError::Read {
                interface: self.interface.clone(),
                detail: e.to_string(),
            })?;
            Ok(KernelStats {
                received: u64::from(s.received),
                dropped: u64::from(s.dropped),
                if_dropped: u64::from(s.if_dropped),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_error_says_exactly_what_is_needed() {
        let e = classify_open_error(
            "eth0",
            "eth0: You don't have permission to capture on that device (socket: Operation not permitted)",
        );
        let msg = e.to_string();
        assert!(matches!(e, LiveError::Permission { .. }));
        assert!(msg.contains("as root"), "{msg}");
        assert!(
            msg.contains("setcap cap_net_raw,cap_net_admin+eip "),
            "{msg}"
        );
        let e = classify_open_error(
            "nope0",
            "nope0: No such device exists (SIOCGIFHWADDR: No such device)",
        );
        assert!(matches!(e, LiveError::NoSuchInterface { .. }));
        assert!(matches!(
            classify_open_error("x", "something else"),
            LiveError::Open { .. }
        ));
    }

    #[cfg(feature = "live")]
    #[test]
    fn bad_filter_is_reported_with_the_expression() {
        // Needs capture permission; as a normal user the open itself fails with Permission.
        match LiveCapture::open(&LiveConfig::new("lo", "tcp port banana")) {
            Err(LiveError::Filter { expr, .. }) => assert_eq!(expr, "tcp port banana"),
            Err(LiveError::Permission { .. }) => {
                println!("skipped: no capture permission (not root)")
            }
            other => panic!("expected a filter error, got {other:?}"),
        }
    }
}
