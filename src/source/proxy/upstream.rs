//! Upstream side of the proxy: a pooled hyper-util client whose connector honours `--resolve`,
//! verifies certificates with webpki + native roots + `--upstream-ca`, and speaks HTTP/2 when the
//! server offers it over ALPN.
//!
//! Must not ever disable certificate verification. Connect errors are typed (`UpstreamError`) so
//! the proxy can answer 502 with an explanation. Known limits: no upstream proxy chaining, no
//! client certificates, Happy Eyeballs is a plain in-order fallback over resolved addresses. An
//! upstream that offers h2 is multiplexed over one pooled connection; an HTTP/1.1-only upstream
//! gets up to one connection per concurrently busy client request (bounded by
//! `--max-connections`; idle ones beyond `pool_idle_per_host` are closed). There is no separate
//! per-host cap on busy HTTP/1.1 upstream connections yet.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Why an upstream connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("request URI {uri} has no host")]
    NoHost { uri: String },
    #[error("unsupported scheme {scheme:?} in {uri}")]
    Scheme { scheme: String, uri: String },
    #[error("resolving {host}:{port}: {source}")]
    Resolve {
        host: String,
        port: u16,
        source: io::Error,
    },
    #[error("resolving {host}:{port}: no addresses")]
    NoAddress { host: String, port: u16 },
    #[error("connecting to {host}:{port} at {addr}: {source}")]
    Connect {
        host: String,
        port: u16,
        addr: SocketAddr,
        source: io::Error,
    },
    #[error("connecting to {host}:{port}: no answer within {secs} s")]
    Timeout { host: String, port: u16, secs: u64 },
    #[error("{host:?} is not a valid TLS server name")]
    ServerName { host: String },
    #[error("TLS handshake with {host}:{port} failed: {source}{hint}")]
    Tls {
        host: String,
        port: u16,
        source: io::Error,
        hint: &'static str,
    },
}

/// Why the upstream TLS trust store could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("reading --upstream-ca {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("--upstream-ca {path} holds no PEM certificate")]
    Empty { path: PathBuf },
    #[error("--upstream-ca {path}: certificate #{index} rejected: {source}")]
    Rejected {
        path: PathBuf,
        index: usize,
        source: rustls::Error,
    },
    #[error("building upstream TLS config: {0}")]
    Config(rustls::Error),
}

/// `--resolve` entries: (lower-case host, port) → address.
pub type ResolveMap = HashMap<(String, u16), SocketAddr>;

/// Build the upstream client TLS config: webpki roots, native roots, then `extra` PEM files.
pub fn client_tls_config(extra: &[PathBuf]) -> Result<ClientConfig, TrustError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A broken system root is skipped; webpki roots still apply.
        let _ = roots.add(cert);
    }
    for path in extra {
        let pem = std::fs::read(path).map_err(|source| TrustError::Read {
            path: path.clone(),
            source,
        })?;
        let mut n = 0usize;
        for (index, cert) in rustls_pemfile::certs(&mut pem.as_slice()).enumerate() {
            let cert = cert.map_err(|source| TrustError::Read {
                path: path.clone(),
                source,
            })?;
            roots.add(cert).map_err(|source| TrustError::Rejected {
                path: path.clone(),
                index,
                source,
            })?;
            n += 1;
        }
        if n == 0 {
            return Err(TrustError::Empty { path: path.clone() });
        }
    }
    let mut cfg =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(TrustError::Config)?
            .with_root_certificates(roots)
            .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// What the connector learned about an upstream connection; attached to responses.
#[derive(Debug, Clone)]
pub struct UpstreamInfo {
    pub addr: SocketAddr,
    pub tls_version: Option<&'static str>,
    pub alpn: Option<String>,
}

/// Connects to upstream servers for the pooled client.
#[derive(Clone)]
pub struct Connector {
    tls: TlsConnector,
    resolve: Arc<ResolveMap>,
    timeout: Duration,
}

impl Connector {
    pub fn new(tls: ClientConfig, resolve: ResolveMap, timeout: Duration) -> Self {
        Self {
            tls: TlsConnector::from(Arc::new(tls)),
            resolve: Arc::new(resolve),
            timeout,
        }
    }

    /// Addresses for `host:port`, honouring `--resolve`.
    pub async fn addresses(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, UpstreamError> {
        let key = (host.trim_end_matches('.').to_ascii_lowercase(), port);
        if let Some(addr) = self.resolve.get(&key) {
            return Ok(vec![*addr]);
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
            .await
            .map_err(|source| UpstreamError::Resolve {
                host: host.to_string(),
                port,
                source,
            })?
            .collect();
        if addrs.is_empty() {
            return Err(UpstreamError::NoAddress {
                host: host.to_string(),
                port,
            });
        }
        Ok(addrs)
    }

    /// A TCP connection to `host:port` (first address that answers), within the timeout.
    pub async fn tcp(
        &self,
        host: &str,
        port: u16,
    ) -> Result<(TcpStream, SocketAddr), UpstreamError> {
        let addrs = self.addresses(host, port).await?;
        let attempt = async {
            let mut last = None;
            for addr in addrs {
                match TcpStream::connect(addr).await {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        return Ok((s, addr));
                    }
                    Err(source) => {
                        last = Some(UpstreamError::Connect {
                            host: host.to_string(),
                            port,
                            addr,
                            source,
                        })
                    }
                }
            }
            Err(last.unwrap_or(UpstreamError::NoAddress {
                host: host.to_string(),
                port,
            }))
        };
        tokio::time::timeout(self.timeout, attempt)
            .await
            .unwrap_or(Err(UpstreamError::Timeout {
                host: host.to_string(),
                port,
                secs: self.timeout.as_secs(),
            }))
    }

    async fn connect(self, uri: Uri) -> Result<UpstreamStream, UpstreamError> {
        let host = uri
            .host()
            .ok_or_else(|| UpstreamError::NoHost {
                uri: uri.to_string(),
            })?
            .to_string();
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            other => {
                return Err(UpstreamError::Scheme {
                    scheme: other.unwrap_or("").to_string(),
                    uri: uri.to_string(),
                })
            }
        };
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let (tcp, addr) = self.tcp(&host, port).await?;
        if !tls {
            return Ok(UpstreamStream::Plain(tcp, addr));
        }
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let name = ServerName::try_from(bare)
            .map_err(|_| UpstreamError::ServerName { host: host.clone() })?;
        let handshake = self.tls.connect(name, tcp);
        let stream = match tokio::time::timeout(self.timeout, handshake).await {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => {
                let hint = tls_hint(&source);
                return Err(UpstreamError::Tls {
                    host,
                    port,
                    source,
                    hint,
                });
            }
            Err(_) => {
                return Err(UpstreamError::Timeout {
                    host,
                    port,
                    secs: self.timeout.as_secs(),
                })
            }
        };
        Ok(UpstreamStream::Tls(Box::new(stream), addr))
    }
}

fn tls_hint(err: &io::Error) -> &'static str {
    match err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(cert)) => match cert {
            rustls::CertificateError::UnknownIssuer | rustls::CertificateError::BadSignature => {
                " (the upstream certificate is not signed by a trusted root; add its CA with \
                 --upstream-ca FILE; authtap never disables verification)"
            }
            rustls::CertificateError::NotValidForName => {
                " (the upstream certificate does not name this host; check --resolve)"
            }
            rustls::CertificateError::Expired => " (the upstream certificate has expired)",
            _ => " (the upstream certificate was rejected)",
        },
        Some(rustls::Error::AlertReceived(_)) => " (the upstream server aborted the handshake)",
        _ => "",
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<UpstreamStream>;
    type Error = UpstreamError;
    type Future =
        Pin<Box<dyn Future<Output = Result<TokioIo<UpstreamStream>, UpstreamError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect(uri).await.map(TokioIo::new) })
    }
}

/// A plain or TLS upstream connection.
pub enum UpstreamStream {
    Plain(TcpStream, SocketAddr),
    Tls(Box<TlsStream<TcpStream>>, SocketAddr),
}

impl UpstreamStream {
    pub fn info(&self) -> UpstreamInfo {
        match self {
            UpstreamStream::Plain(_, addr) => UpstreamInfo {
                addr: *addr,
                tls_version: None,
                alpn: None,
            },
            UpstreamStream::Tls(s, addr) => {
                let (_, conn) = s.get_ref();
                UpstreamInfo {
                    addr: *addr,
                    tls_version: conn.protocol_version().map(tls_version_name),
                    alpn: conn
                        .alpn_protocol()
                        .map(|p| String::from_utf8_lossy(p).into_owned()),
                }
            }
        }
    }
}

pub fn tls_version_name(v: rustls::ProtocolVersion) -> &'static str {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3",
        rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2",
        _ => "TLS (other)",
    }
}

impl Connection for UpstreamStream {
    fn connected(&self) -> Connected {
        let info = self.info();
        let h2 = info.alpn.as_deref() == Some("h2");
        let c = Connected::new().extra(info);
        if h2 {
            c.negotiated_h2()
        } else {
            c
        }
    }
}

impl AsyncRead for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s, _) => Pin::new(s).poll_read(cx, buf),
            UpstreamStream::Tls(s, _) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(s, _) => Pin::new(s).poll_write(cx, buf),
            UpstreamStream::Tls(s, _) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(s, _) => Pin::new(s).poll_write_vectored(cx, bufs),
            UpstreamStream::Tls(s, _) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            UpstreamStream::Plain(s, _) => s.is_write_vectored(),
            UpstreamStream::Tls(s, _) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s, _) => Pin::new(s).poll_flush(cx),
            UpstreamStream::Tls(s, _) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s, _) => Pin::new(s).poll_shutdown(cx),
            UpstreamStream::Tls(s, _) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Parse one `--resolve HOST:PORT:ADDR` (ADDR may be `[v6]` or `v6` or `v4`, with optional `:port`
/// ignored as in curl's syntax the port comes from the middle field).
pub fn parse_resolve(spec: &str) -> Result<((String, u16), SocketAddr), ResolveSpecError> {
    let bad = |why: &'static str| ResolveSpecError {
        spec: spec.to_string(),
        why,
    };
    let (host, rest) = spec.split_once(':').ok_or(bad("expected HOST:PORT:ADDR"))?;
    let (port, addr) = rest.split_once(':').ok_or(bad("expected HOST:PORT:ADDR"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| bad("PORT is not a number 0-65535"))?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = addr.parse().map_err(|_| bad("ADDR is not an IP address"))?;
    if host.is_empty() {
        return Err(bad("HOST is empty"));
    }
    Ok((
        (host.trim_end_matches('.').to_ascii_lowercase(), port),
        SocketAddr::new(ip, port),
    ))
}

#[derive(Debug, thiserror::Error)]
#[error("--resolve {spec:?}: {why}")]
pub struct ResolveSpecError {
    pub spec: String,
    pub why: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_spec_parses_v4_and_v6() {
        let ((h, p), a) = parse_resolve("Tenant.Auth0.com:443:127.0.0.1").expect("v4");
        assert_eq!((h.as_str(), p), ("tenant.auth0.com", 443));
        assert_eq!(a, "127.0.0.1:443".parse().expect("addr"));
        let (_, a) = parse_resolve("x:8443:[::1]").expect("v6");
        assert_eq!(a, "[::1]:8443".parse().expect("addr"));
    }

    #[test]
    fn resolve_spec_rejects_garbage() {
        assert!(parse_resolve("nohost").is_err());
        assert!(parse_resolve("h:99999:127.0.0.1").is_err());
        assert!(parse_resolve("h:443:not-an-ip").is_err());
    }
}
