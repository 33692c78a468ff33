//! Test support for the proxy tests: a local TLS upstream (rustls, HTTP/1.1 + HTTP/2 via ALPN)
//! with its own test CA, a proxy started on 127.0.0.1:0, and curl helpers.
//! Never uses fixed ports. Everything stops when the returned guards drop.
#![allow(dead_code, clippy::unwrap_used, clippy::print_stderr)]

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use authtap::source::proxy::{ProxyConfig, ProxyHandle};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const TENANT: &str = "tenant.auth0.com";
pub const OTHER: &str = "other.example";

/// A running TLS upstream.
pub struct Upstream {
    pub addr: SocketAddr,
    pub ca_pem_path: PathBuf,
    pub leaf_der: CertificateDer<'static>,
    _stop: oneshot::Sender<()>,
}

/// Files that live as long as the test.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Deterministic pseudo-random bytes.
pub fn pattern(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x & 0xff) as u8
        })
        .collect()
}

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let method = req.method().clone();
    let auth = req
        .headers()
        .get("authorization")
        .map(|v| v.to_str().unwrap_or("").to_string());
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut resp = match path.as_str() {
        "/big" => {
            let n: usize = query
                .strip_prefix("n=")
                .and_then(|n| n.parse().ok())
                .unwrap_or(300_000);
            Response::new(Full::new(Bytes::from(pattern(n))))
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(800)).await;
            Response::new(Full::new(Bytes::from_static(b"slow done")))
        }
        "/gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(br#"{"access_token":"gzippedSecretToken123456","token_type":"Bearer"}"#)
                .unwrap();
            let mut r = Response::new(Full::new(Bytes::from(e.finish().unwrap())));
            r.headers_mut()
                .insert("content-encoding", "gzip".parse().unwrap());
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            r
        }
        "/oauth/token" => {
            let mut r = Response::new(Full::new(Bytes::from_static(
                br#"{"access_token":"opaqueUpstreamSecretToken987","token_type":"Bearer","expires_in":86400}"#,
            )));
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            r.headers_mut().insert(
                "set-cookie",
                "did=cookieSecretValue555; Path=/; HttpOnly"
                    .parse()
                    .unwrap(),
            );
            r
        }
        _ => {
            let text = format!(
                "method={method} path={path} query={query} body_len={} body_sum={} auth={}\n",
                body.len(),
                body.iter().map(|b| *b as u64).sum::<u64>(),
                auth.is_some()
            );
            let mut r = Response::new(Full::new(Bytes::from(text)));
            r.headers_mut().insert("x-upstream", "yes".parse().unwrap());
            r.headers_mut()
                .insert("content-type", "text/plain".parse().unwrap());
            r
        }
    };
    if path == "/status404" {
        *resp.status_mut() = StatusCode::NOT_FOUND;
    }
    Ok(resp)
}

/// Start a TLS upstream whose leaf names `TENANT` and `OTHER`, signed by a fresh test CA.
pub async fn start_upstream(scratch: &Scratch) -> Upstream {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "authtap test upstream CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params =
        CertificateParams::new(vec![TENANT.to_string(), OTHER.to_string()]).unwrap();
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, TENANT);
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    let ca_pem_path = scratch.path("upstream-ca.pem");
    std::fs::write(&ca_pem_path, ca.pem()).unwrap();

    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone(), ca.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    )
    .unwrap();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = tokio::select! {
                _ = &mut stop_rx => break,
                r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service_fn(handle))
                    .await;
            });
        }
    });
    Upstream {
        addr,
        ca_pem_path,
        leaf_der: leaf.der().clone(),
        _stop: stop_tx,
    }
}

/// A proxy config that trusts the upstream's CA and resolves both test hosts to it.
pub fn proxy_config(scratch: &Scratch, up: &Upstream) -> ProxyConfig {
    let mut cfg = ProxyConfig::for_tests(scratch.path("ca"));
    cfg.upstream_ca = vec![up.ca_pem_path.clone()];
    for host in [TENANT, OTHER] {
        cfg.resolve
            .insert((host.to_string(), up.addr.port()), up.addr);
    }
    cfg.events = Some(authtap::source::proxy::EventsTarget::File(
        scratch.path("events.jsonl"),
    ));
    cfg
}

pub async fn start_proxy(cfg: ProxyConfig) -> ProxyHandle {
    authtap::source::proxy::start(cfg).await.unwrap()
}

/// Output of one curl run.
pub struct Curl {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub headers: String,
}

/// Run curl with `args` (blocking, on a blocking thread), collecting body and headers.
pub async fn curl(args: Vec<String>) -> Curl {
    tokio::task::spawn_blocking(move || {
        let hdr = tempfile::NamedTempFile::new().unwrap();
        let out = std::process::Command::new("curl")
            .args(["-sS", "--max-time", "20", "-D"])
            .arg(hdr.path())
            .args(&args)
            .output()
            .unwrap();
        Curl {
            status: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            headers: std::fs::read_to_string(hdr.path()).unwrap_or_default(),
        }
    })
    .await
    .unwrap()
}

pub fn s(x: impl ToString) -> String {
    x.to_string()
}

/// curl arguments to reach `https://host:port/path` through the proxy, trusting the authtap CA.
pub fn via_proxy(
    proxy: &ProxyHandle,
    ca_pem: &Path,
    host: &str,
    port: u16,
    path: &str,
) -> Vec<String> {
    vec![
        s("-x"),
        format!("http://{}", proxy.addr),
        s("--cacert"),
        ca_pem.display().to_string(),
        format!("https://{host}:{port}{path}"),
    ]
}

/// curl arguments to reach the upstream directly.
pub fn direct(up: &Upstream, host: &str, path: &str) -> Vec<String> {
    vec![
        s("--resolve"),
        format!("{host}:{}:127.0.0.1", up.addr.port()),
        s("--cacert"),
        up.ca_pem_path.display().to_string(),
        format!("https://{host}:{}{path}", up.addr.port()),
    ]
}

/// Status line and headers minus those that legitimately differ per response (date).
/// Only the last header block counts: the proxy's CONNECT answer precedes the real response.
pub fn stable_headers(raw: &str) -> Vec<String> {
    let normalized = raw.replace("\r\n", "\n");
    let last = normalized
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .last()
        .unwrap_or("")
        .to_string();
    let mut v: Vec<String> = last
        .lines()
        .map(|l| l.trim_end().to_ascii_lowercase())
        .filter(|l| !l.is_empty() && !l.starts_with("date:"))
        .collect();
    v.sort();
    v
}

/// Read the events file as JSON values.
pub fn read_events(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A rustls client config trusting exactly the PEM certificates in `ca_pem`.
pub fn client_config(ca_pem: &Path, alpn: &[&[u8]]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca_pem).unwrap();
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    cfg
}

/// CONNECT through the proxy to `host:port` and complete TLS trusting `ca_pem`.
pub async fn tls_via_proxy(
    proxy: SocketAddr,
    host: &str,
    port: u16,
    ca_pem: &Path,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(proxy).await.unwrap();
    let req = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tcp.read(&mut b).await.unwrap();
        assert_eq!(
            n,
            1,
            "proxy closed during CONNECT: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    tokio_rustls::TlsConnector::from(Arc::new(client_config(ca_pem, &[b"http/1.1"])))
        .connect(host.to_string().try_into().unwrap(), tcp)
        .await
        .unwrap()
}
