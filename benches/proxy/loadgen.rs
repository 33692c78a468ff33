//! Load generator and TLS upstream for `benches/proxy/run.sh` (not a criterion bench).
//!
//! `loadgen serve --out-dir DIR` starts a local rustls upstream (HTTP/1.1 + h2) whose leaf names
//! `tenant.auth0.com` and `localhost`, writes its CA to DIR/upstream-ca.pem and prints `PORT <n>`.
//! `loadgen run --url URL --ca PEM [--proxy ADDR] [--connections N] [--duration S] [--warmup S]`
//! opens N keep-alive HTTPS/1.1 connections (through the proxy with CONNECT, or direct to
//! 127.0.0.1) and sends sequential GETs on each; prints one JSON line with throughput and latency
//! percentiles (`requests`: measured after warm-up; `sent`: every answered request, warm-up
//! included). Latency samples are capped at 4 M per run.
//! `loadgen relay --out-dir DIR --upstream PORT --upstream-ca PEM` is the floor for the proxy
//! rows: the least an intercepting hyper + rustls proxy can do. It answers CONNECT, terminates
//! TLS with its own leaf (CA in DIR/relay-ca.pem), serves HTTP/1.1 with hyper and forwards every
//! request over one shared h2 connection to the upstream (no tap, no analysis, no pool, no
//! header rewriting), on one current-thread runtime like `authtap proxy`. Prints `PORT <n>`.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MAX_SAMPLES: usize = 4_000_000;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("relay") {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        return rt.block_on(relay(&args));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            arg(&args, "--threads")
                .and_then(|t| t.parse().ok())
                .unwrap_or(1),
        )
        .enable_all()
        .build()
        .unwrap();
    match args.get(1).map(String::as_str) {
        Some("serve") => rt.block_on(serve(&args)),
        Some("run") => rt.block_on(run(&args)),
        _ => {
            eprintln!("usage: loadgen serve --out-dir DIR | loadgen run --url URL --ca PEM [--proxy ADDR] [--connections N] [--duration S] | loadgen relay --out-dir DIR --upstream PORT --upstream-ca PEM");
            std::process::exit(2);
        }
    }
}

/// A fresh CA (written to `ca_file` as PEM) and a rustls server config whose leaf, signed by it,
/// names `tenant.auth0.com` and `localhost`, offering `alpn`.
fn server_config(ca_file: &std::path::Path, alpn: &[&[u8]]) -> rustls::ServerConfig {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "authtap bench CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut lp = CertificateParams::new(vec![
        "tenant.auth0.com".to_string(),
        "localhost".to_string(),
    ])
    .unwrap();
    lp.distinguished_name
        .push(DnType::CommonName, "tenant.auth0.com");
    let leaf = lp.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    std::fs::write(ca_file, ca.pem()).unwrap();
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
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    cfg
}

async fn serve(args: &[String]) {
    let out = std::path::PathBuf::from(arg(args, "--out-dir").unwrap_or_else(|| ".".into()));
    let cfg = server_config(&out.join("upstream-ca.pem"), &[b"h2", b"http/1.1"]);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("PORT {}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    let body = Bytes::from(vec![b'x'; 1024]);
    let mut accepted = 0u64;
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        accepted += 1;
        // One line per accepted connection: run.sh counts upstream connections from these.
        println!("ACCEPTED {accepted}");
        let _ = std::io::stdout().flush();
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let body = body.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let svc = service_fn(move |_req: Request<Incoming>| {
                let body = body.clone();
                async move {
                    let mut r = Response::new(Full::new(body));
                    r.headers_mut()
                        .insert("content-type", "application/octet-stream".parse().unwrap());
                    Ok::<_, Infallible>(r)
                }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), svc)
                .await;
        });
    }
}

/// A TLS connector trusting only the CA in `ca_pem`, offering `alpn`.
fn client_tls(ca_pem: &str, alpn: &[u8]) -> tokio_rustls::TlsConnector {
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
    cfg.alpn_protocols = vec![alpn.to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
}

async fn connect(
    proxy: Option<SocketAddr>,
    host: &str,
    port: u16,
    tls: &tokio_rustls::TlsConnector,
) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Empty<Bytes>>> {
    let mut tcp = match proxy {
        Some(p) => TcpStream::connect(p).await?,
        None => TcpStream::connect(("127.0.0.1", port)).await?,
    };
    tcp.set_nodelay(true)?;
    if proxy.is_some() {
        tcp.write_all(
            format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n").as_bytes(),
        )
        .await?;
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if tcp.read(&mut b).await? == 0 {
                anyhow::bail!("proxy closed during CONNECT");
            }
            head.push(b[0]);
        }
        if !head.starts_with(b"HTTP/1.1 200") && !head.starts_with(b"HTTP/1.0 200") {
            anyhow::bail!("CONNECT refused: {}", String::from_utf8_lossy(&head));
        }
    }
    let stream = tls
        .connect(ServerName::try_from(host.to_string())?, tcp)
        .await?;
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(send)
}

async fn run(args: &[String]) {
    let url: Uri = arg(args, "--url").unwrap().parse().unwrap();
    let host = url.host().unwrap().to_string();
    let port = url.port_u16().unwrap_or(443);
    let proxy: Option<SocketAddr> = arg(args, "--proxy").map(|p| p.parse().unwrap());
    let conns: usize = arg(args, "--connections")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let duration = Duration::from_secs_f64(
        arg(args, "--duration")
            .and_then(|d| d.parse().ok())
            .unwrap_or(5.0),
    );
    let warmup = Duration::from_secs_f64(
        arg(args, "--warmup")
            .and_then(|d| d.parse().ok())
            .unwrap_or(1.0),
    );
    let tls = client_tls(&arg(args, "--ca").unwrap(), b"http/1.1");
    let path = url
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or("/".into());
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let per_task_cap = MAX_SAMPLES / conns.max(1);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let tls = tls.clone();
        let host = host.clone();
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples: Vec<u32> = Vec::new();
            let mut errors = 0u64;
            let mut sent = 0u64;
            let mut send = None;
            while Instant::now() < end {
                if send.is_none() {
                    match connect(proxy, &host, port, &tls).await {
                        Ok(s) => send = Some(s),
                        Err(_) => {
                            errors += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    }
                }
                let Some(s) = send.as_mut() else { continue };
                let req = Request::get(&path)
                    .header("host", &host)
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                let t0 = Instant::now();
                let ok = match s.send_request(req).await {
                    Ok(resp) => match resp.into_body().collect().await {
                        Ok(b) => b.to_bytes().len() == 1024 || path != "/1k",
                        Err(_) => false,
                    },
                    Err(_) => false,
                };
                if !ok {
                    errors += 1;
                    send = None;
                    continue;
                }
                sent += 1;
                if t0 >= measure_from && t0 < end && samples.len() < per_task_cap {
                    samples.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                }
            }
            (samples, errors, sent)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut sent = 0;
    for t in tasks {
        let (s, e, n) = t.await.unwrap();
        all.extend(s);
        errors += e;
        sent += n;
    }
    all.sort_unstable();
    let pct = |p: f64| -> u32 {
        if all.is_empty() {
            return 0;
        }
        let i = ((all.len() as f64 - 1.0) * p).round() as usize;
        all.get(i).copied().unwrap_or(0)
    };
    println!(
        "{{\"connections\":{conns},\"requests\":{},\"sent\":{sent},\"errors\":{errors},\"rps\":{:.1},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"max_us\":{}}}",
        all.len(),
        all.len() as f64 / duration.as_secs_f64(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        all.last().copied().unwrap_or(0)
    );
}

/// The bare relay (see the header): CONNECT, TLS termination, hyper HTTP/1.1 server, one shared
/// h2 upstream connection.
async fn relay(args: &[String]) {
    let out = std::path::PathBuf::from(arg(args, "--out-dir").unwrap_or_else(|| ".".into()));
    let up_port: u16 = arg(args, "--upstream").unwrap().parse().unwrap();
    let tls_up = client_tls(&arg(args, "--upstream-ca").unwrap(), b"h2");
    let tcp = TcpStream::connect(("127.0.0.1", up_port)).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let up = tls_up
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (h2, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(up))
        .await
        .unwrap();
    tokio::spawn(conn);
    let cfg = server_config(&out.join("relay-ca.pem"), &[b"http/1.1"]);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("PORT {}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    loop {
        let Ok((mut tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let h2 = h2.clone();
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if tcp.read(&mut b).await.unwrap_or(0) == 0 {
                    return;
                }
                head.push(b[0]);
            }
            if tcp
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .is_err()
            {
                return;
            }
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let svc = service_fn(move |req: Request<Incoming>| {
                let mut h2 = h2.clone();
                async move {
                    let (mut parts, body) = req.into_parts();
                    parts.uri = format!("https://localhost:{up_port}{}", parts.uri)
                        .parse()
                        .unwrap();
                    parts.version = http::Version::HTTP_2;
                    parts.headers.remove("host");
                    h2.send_request(Request::from_parts(parts, body)).await
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .await;
        });
    }
}
