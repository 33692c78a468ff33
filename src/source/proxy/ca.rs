//! The proxy's root CA: create or load it from `--ca-dir`, mint leaf certificates for
//! intercepted hosts, and explain how to trust it.
//!
//! Owns the CA files (`authtap-ca.pem`, `authtap-ca.key` with mode 0600) and the bounded leaf
//! cache. Must not print or log the private key, and must not accept a key file that other users
//! can read. Known limits: the CA certificate is rebuilt from its key and fixed subject at load
//! time (rcgen cannot parse certificates without `x509-parser`), so leaves chain to the stored
//! certificate through subject name and key identifier, which is all verifiers use. All leaves
//! share one ECDSA P-256 key generated at start (each leaf gets its own random serial).

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

/// File name of the CA certificate (PEM) inside the CA directory.
pub const CERT_FILE: &str = "authtap-ca.pem";
/// File name of the CA private key (PEM, mode 0600) inside the CA directory.
pub const KEY_FILE: &str = "authtap-ca.key";
/// Subject common name of the root CA; fixed so the certificate can be rebuilt from its key.
const CA_COMMON_NAME: &str = "authtap local debugging CA";
const CA_ORG: &str = "authtap";

/// Why the CA could not be created, loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("no CA directory given and the platform has no data directory; pass --ca-dir DIR")]
    NoDataDir,
    #[error("creating CA directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "refusing to use CA key {path}: it is readable by other users (mode {mode:o}); \
         anyone who can read it can intercept your TLS traffic. Fix with `chmod 600 {path}`"
    )]
    KeyWorldReadable { path: PathBuf, mode: u32 },
    #[error("no CA in {dir}: {missing} is missing; run `authtap ca init --ca-dir {dir}`")]
    Missing { dir: PathBuf, missing: PathBuf },
    #[error("CA key {path} is not a PEM private key rcgen can use: {source}")]
    BadKey { path: PathBuf, source: rcgen::Error },
    #[error("generating {what}: {source}")]
    Generate {
        what: &'static str,
        source: rcgen::Error,
    },
    #[error("building TLS server config for leaf {host}: {source}")]
    Tls { host: String, source: rustls::Error },
}

/// The default CA directory: the platform data dir + `authtap`.
pub fn default_dir() -> Result<PathBuf, CaError> {
    dirs::data_dir()
        .map(|d| d.join("authtap"))
        .ok_or(CaError::NoDataDir)
}

/// Paths of the CA files in `dir`.
pub fn paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join(CERT_FILE), dir.join(KEY_FILE))
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    dn.push(DnType::OrganizationName, CA_ORG);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2034, 1, 1);
    params
}

/// Whether the CA was created by this call or already existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New,
    Existing,
}

/// Create the CA in `dir` if it does not exist yet. Never overwrites an existing key.
pub fn init(dir: &Path) -> Result<Created, CaError> {
    let (cert_path, key_path) = paths(dir);
    if key_path.exists() {
        // Validate what is there (permissions, parseable) rather than silently trusting it.
        let ca = load(dir)?;
        if !cert_path.exists() {
            write_file(&cert_path, ca.cert_pem.as_bytes(), 0o644)?;
        }
        return Ok(Created::Existing);
    }
    fs::create_dir_all(dir).map_err(|source| CaError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let key = KeyPair::generate().map_err(|source| CaError::Generate {
        what: "CA key",
        source,
    })?;
    let cert = ca_params()
        .self_signed(&key)
        .map_err(|source| CaError::Generate {
            what: "CA certificate",
            source,
        })?;
    write_file(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
    write_file(&cert_path, cert.pem().as_bytes(), 0o644)?;
    Ok(Created::New)
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), CaError> {
    let mut opts = fs::OpenOptions::new();
    if mode & 0o077 == 0 {
        // A private file (the CA key) is only ever created, never written through an existing
        // file or a planted symlink, which would keep someone else's mode or location.
        opts.write(true).create_new(true);
    } else {
        opts.write(true).create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let werr = |source| CaError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut f = opts.open(path).map_err(werr)?;
    f.write_all(data).map_err(werr)?;
    f.sync_all().map_err(werr)
}

/// Refuse a key that other users can read.
fn check_key_mode(path: &Path) -> Result<(), CaError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(path).map_err(|source| CaError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o004 != 0 {
            return Err(CaError::KeyWorldReadable {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// A loaded root CA.
pub struct LoadedCa {
    pub cert_pem: String,
    cert: Certificate,
    key: KeyPair,
}

impl std::fmt::Debug for LoadedCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is deliberately absent.
        f.debug_struct("LoadedCa").finish_non_exhaustive()
    }
}

/// Load the CA from `dir` (the key must not be world-readable).
pub fn load(dir: &Path) -> Result<LoadedCa, CaError> {
    let (cert_path, key_path) = paths(dir);
    if !key_path.exists() {
        return Err(CaError::Missing {
            dir: dir.to_path_buf(),
            missing: key_path,
        });
    }
    check_key_mode(&key_path)?;
    let key_pem = fs::read_to_string(&key_path).map_err(|source| CaError::Read {
        path: key_path.clone(),
        source,
    })?;
    let key = KeyPair::from_pem(&key_pem).map_err(|source| CaError::BadKey {
        path: key_path.clone(),
        source,
    })?;
    let cert = ca_params()
        .self_signed(&key)
        .map_err(|source| CaError::Generate {
            what: "CA certificate",
            source,
        })?;
    let cert_pem = match fs::read_to_string(&cert_path) {
        Ok(pem) => pem,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let pem = cert.pem();
            write_file(&cert_path, pem.as_bytes(), 0o644)?;
            pem
        }
        Err(source) => {
            return Err(CaError::Read {
                path: cert_path,
                source,
            })
        }
    };
    Ok(LoadedCa {
        cert_pem,
        cert,
        key,
    })
}

/// How to make common clients trust the CA at `cert_path`.
pub fn trust_instructions(cert_path: &Path) -> String {
    let p = cert_path.display();
    format!(
        "CA certificate: {p}\n\
         The private key next to it is mode 0600 and never printed. Trust the certificate only\n\
         in the clients you are debugging, and run them with HTTPS_PROXY=http://127.0.0.1:8080.\n\
         \n\
         curl:     curl --cacert {p} -x http://127.0.0.1:8080 https://YOUR_TENANT.auth0.com/...\n\
         \x20         or export CURL_CA_BUNDLE={p}\n\
         Node:     export NODE_EXTRA_CA_CERTS={p}\n\
         Python:   export SSL_CERT_FILE={p} REQUESTS_CA_BUNDLE={p}\n\
         Java:     keytool -importcert -noprompt -alias authtap -file {p} \\\n\
         \x20           -keystore authtap-truststore.jks -storepass changeit\n\
         \x20         then run java with -Djavax.net.ssl.trustStore=authtap-truststore.jks\n\
         Chrome/Chromium (Linux, NSS):\n\
         \x20         certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n authtap -i {p}\n\
         Firefox:  Settings → Privacy & Security → Certificates → View Certificates →\n\
         \x20         Authorities → Import {p}, tick \"Trust this CA to identify websites\"\n\
         \x20         (or certutil -d sql:PROFILE_DIR -A -t C,, -n authtap -i {p})\n\
         \n\
         Remove the trust again when you are done debugging.\n"
    )
}

/// Mints and caches per-host TLS server configs signed by the root CA.
pub struct LeafMinter {
    ca: LoadedCa,
    leaf_key: KeyPair,
    leaf_key_der: Vec<u8>,
    cache: Mutex<LruCache>,
    alpn: Vec<Vec<u8>>,
}

impl std::fmt::Debug for LeafMinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafMinter").finish_non_exhaustive()
    }
}

/// Counters the cache exposes to metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct CacheStats {
    pub hits: u64,
    pub minted: u64,
    pub evicted: u64,
    pub len: usize,
}

struct LruCache {
    cap: usize,
    tick: u64,
    map: HashMap<String, (Arc<ServerConfig>, u64)>,
    stats: CacheStats,
}

impl LruCache {
    fn get(&mut self, host: &str) -> Option<Arc<ServerConfig>> {
        self.tick += 1;
        let tick = self.tick;
        let hit = self.map.get_mut(host).map(|(cfg, used)| {
            *used = tick;
            cfg.clone()
        });
        if hit.is_some() {
            self.stats.hits += 1;
        }
        hit
    }

    fn insert(&mut self, host: String, cfg: Arc<ServerConfig>) {
        self.tick += 1;
        if self.map.len() >= self.cap && !self.map.contains_key(&host) {
            // O(n) scan on eviction only; n is the (small) cap.
            if let Some(oldest) = self
                .map
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            {
                self.map.remove(&oldest);
                self.stats.evicted += 1;
            }
        }
        self.map.insert(host, (cfg, self.tick));
        self.stats.minted += 1;
        self.stats.len = self.map.len();
    }
}

impl LeafMinter {
    /// `cap` bounds the number of cached leaf configs (least recently used is evicted).
    pub fn new(ca: LoadedCa, cap: usize) -> Result<Self, CaError> {
        let leaf_key = KeyPair::generate().map_err(|source| CaError::Generate {
            what: "leaf key",
            source,
        })?;
        let leaf_key_der = leaf_key.serialize_der();
        Ok(Self {
            ca,
            leaf_key,
            leaf_key_der,
            cache: Mutex::new(LruCache {
                cap: cap.max(1),
                tick: 0,
                map: HashMap::new(),
                stats: CacheStats::default(),
            }),
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        })
    }

    pub fn ca_cert_pem(&self) -> &str {
        &self.ca.cert_pem
    }

    pub fn stats(&self) -> CacheStats {
        self.cache.lock().map(|c| c.stats).unwrap_or_default()
    }

    /// A server config presenting a leaf for `host`, minted on first use and cached.
    pub fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, CaError> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if let Ok(mut cache) = self.cache.lock() {
            if let Some(cfg) = cache.get(&host) {
                return Ok(cfg);
            }
        }
        let cfg = Arc::new(self.mint(&host)?);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(host, cfg.clone());
        }
        Ok(cfg)
    }

    fn mint(&self, host: &str) -> Result<ServerConfig, CaError> {
        let gen_err = |source| CaError::Generate {
            what: "leaf certificate",
            source,
        };
        let mut params = CertificateParams::new(vec![host.to_string()]).map_err(gen_err)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        // Browsers reject leaves valid for more than 398 days; use yesterday .. +90 days.
        let now = chrono::Utc::now();
        let from = now - chrono::Duration::days(1);
        let to = now + chrono::Duration::days(90);
        use chrono::Datelike;
        // chrono always yields a valid calendar date, so date_time_ymd cannot panic here.
        params.not_before = rcgen::date_time_ymd(from.year(), from.month() as u8, from.day() as u8);
        params.not_after = rcgen::date_time_ymd(to.year(), to.month() as u8, to.day() as u8);
        let mut serial = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut serial).map_err(
            |_| CaError::Generate {
                what: "leaf serial number",
                source: rcgen::Error::RingUnspecified,
            },
        )?;
        serial[0] &= 0x7f;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        let leaf = params
            .signed_by(&self.leaf_key, &self.ca.cert, &self.ca.key)
            .map_err(gen_err)?;
        let chain = vec![leaf.der().clone(), self.ca.cert.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key_der.clone()));
        let mut cfg =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|source| CaError::Tls {
                    host: host.to_string(),
                    source,
                })?
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .map_err(|source| CaError::Tls {
                    host: host.to_string(),
                    source,
                })?;
        cfg.alpn_protocols = self.alpn.clone();
        Ok(cfg)
    }

    /// The CA certificate in DER, for tests and clients that want it.
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.cert.der().clone()
    }
}
