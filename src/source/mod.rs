//! Sources: turn files, packets and proxied connections into `Exchange`s. All I/O lives here.

pub mod har;
pub mod pcap;
