//! Sources: turn files, packets and proxied connections into `Exchange`s. All I/O lives here.

pub mod detect;
pub mod handoff;
pub mod har;
pub mod keylog_tail;
#[cfg_attr(not(feature = "live"), allow(dead_code))]
pub mod live;
pub mod pcap;
pub mod pcap_thread;
pub mod proxy;
