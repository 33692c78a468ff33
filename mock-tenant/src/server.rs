//! Serves a `Tenant` over plain HTTP (h1, h2c prior knowledge) or TLS (ALPN h2/http1.1) on a
//! local address, on a background tokio runtime.
//!
//! Owns: the socket loop, hyper ⇄ `Request`/`Response` conversion, graceful shutdown.
//! Must not change tenant answers. Limits: request bodies capped at 1 MiB (Auth0's
//! Management API payload limit, auth0-facts.md §1.5) → 413 beyond; binds where told
//! (callers default to 127.0.0.1).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::http::{Request, Response};
use crate::tenant::Tenant;
use crate::tls::{TestPki, TlsError, TlsVersions};

pub const MAX_BODY: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("starting the tokio runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    pub tls: bool,
    pub tls_versions: TlsVersions,
    /// Directory to write `ca.pem` into (TLS only).
    pub ca_out: Option<PathBuf>,
    /// Log TLS secrets to $SSLKEYLOGFILE (rustls KeyLogFile).
    pub keylog: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: false,
            tls_versions: TlsVersions::Default,
            ca_out: None,
            keylog: false,
        }
    }
}

/// A running server; dropping it (or calling `stop`) shuts it down.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub ca_pem: Option<String>,
    pub ca_path: Option<PathBuf>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningServer {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn stop(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.thread.take() {
            let _ = h.join();
        }
    }

    /// Blocks until the server stops (it stops only on error or shutdown).
    pub fn wait(mut self) {
        if let Some(h) = self.thread.take() {
            let _ = h.join();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

/// Starts serving `tenant` on a background thread and returns once the socket is bound.
pub fn spawn(tenant: Arc<Tenant>, opts: ServeOptions) -> Result<RunningServer, ServerError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ServerError::Runtime)?;
    let std_listener =
        std::net::TcpListener::bind(opts.addr).map_err(|source| ServerError::Bind {
            addr: opts.addr,
            source,
        })?;
    let addr = std_listener
        .local_addr()
        .map_err(|source| ServerError::Bind {
            addr: opts.addr,
            source,
        })?;
    std_listener
        .set_nonblocking(true)
        .map_err(|source| ServerError::Bind { addr, source })?;
    let (acceptor, ca_pem, ca_path) = if opts.tls {
        let pki = TestPki::generate(tenant.domain())?;
        let cfg = pki.server_config(opts.tls_versions, opts.keylog)?;
        let ca_path = match &opts.ca_out {
            Some(dir) => Some(pki.write_ca(dir)?),
            None => None,
        };
        (
            Some(tokio_rustls::TlsAcceptor::from(cfg)),
            Some(pki.ca_pem.clone()),
            ca_path,
        )
    } else {
        (None, None, None)
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        rt.block_on(async move {
            let listener = match tokio::net::TcpListener::from_std(std_listener) {
                Ok(l) => l,
                Err(e) => {
                    log_startup_failure(&format!("mock-tenant: listener setup failed: {e}"));
                    return;
                }
            };
            let mut rx = rx;
            loop {
                tokio::select! {
                    _ = &mut rx => break,
                    acc = listener.accept() => {
                        let (stream, _) = match acc {
                            Ok(x) => x,
                            // e.g. EMFILE: back off instead of spinning.
                            Err(_) => {
                                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                                continue;
                            }
                        };
                        let tenant = tenant.clone();
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            match acceptor {
                                Some(a) => {
                                    if let Ok(tls) = a.accept(stream).await {
                                        serve_conn(TokioIo::new(tls), tenant, "https").await;
                                    }
                                }
                                None => serve_conn(TokioIo::new(stream), tenant, "http").await,
                            }
                        });
                    }
                }
            }
        });
        rt.shutdown_timeout(std::time::Duration::from_millis(200));
    });
    Ok(RunningServer {
        addr,
        ca_pem,
        ca_path,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}

/// Library code does not print; connection-level failures are simply dropped, this hook
/// exists so a failure to start is at least visible on stderr of the serving binary.
#[allow(clippy::print_stderr)]
fn log_startup_failure(msg: &str) {
    eprintln!("{msg}");
}

async fn serve_conn<I>(io: I, tenant: Arc<Tenant>, scheme: &'static str)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let tenant = tenant.clone();
        async move { Ok::<_, std::convert::Infallible>(answer(&tenant, scheme, req).await) }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(io, svc)
        .await;
}

async fn answer(
    tenant: &Tenant,
    scheme: &str,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => {
            return to_hyper(Response::json(
                413,
                &serde_json::json!({"statusCode": 413, "error": "Request Entity Too Large", "message": "Payload content length greater than maximum allowed: 1048576"}),
            ))
        }
    };
    let authority = parts
        .uri
        .authority()
        .map(|a| a.to_string())
        .or_else(|| {
            parts
                .headers
                .get(hyper::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_else(|| tenant.domain().to_string());
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).to_string(),
            )
        })
        .collect();
    let r = Request {
        method: parts.method.as_str().to_string(),
        url: format!("{scheme}://{authority}{pq}"),
        headers,
        body,
    };
    to_hyper(tenant.handle(&r))
}

fn to_hyper(resp: Response) -> hyper::Response<Full<Bytes>> {
    let mut b = hyper::Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        // hyper manages framing itself.
        if k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding") {
            continue;
        }
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(Full::new(Bytes::from(resp.body)))
        .unwrap_or_else(|_| {
            let mut r = hyper::Response::new(Full::new(Bytes::from_static(b"bad response")));
            *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
}
