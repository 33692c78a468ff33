//! Sans-I/O capture engines: packets, TCP reassembly, key logs, TLS, HTTP/1.x and HTTP/2.
