//! Test PKI for the served tenant: a generated CA (written to a file so curl can
//! `--cacert` it) and a leaf certificate for the tenant domain, plus the rustls config.
//!
//! Owns: certificate generation (rcgen, ECDSA P-256) and ALPN `h2`, `http/1.1`; optional
//! key logging via rustls `KeyLogFile` (honours SSLKEYLOGFILE). Must not be used outside
//! tests: keys are fresh per start and the CA key is never written to disk.
//! Limits: no client auth, one leaf (tenant domain, `localhost`, 127.0.0.1).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("generating test certificates: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("building rustls server config: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("writing CA certificate to {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersions {
    /// TLS 1.3 and 1.2 (rustls default preference: 1.3).
    Default,
    /// TLS 1.2 only (for exercising TLS 1.2 decryption).
    Tls12Only,
}

pub struct TestPki {
    pub ca_pem: String,
    pub leaf_der: Vec<u8>,
    pub leaf_key_der: Vec<u8>,
}

impl TestPki {
    pub fn generate(domain: &str) -> Result<Self, TlsError> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.distinguished_name
            .push(DnType::CommonName, "authtap mock-tenant TEST-ONLY CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key)?;
        let leaf_key = KeyPair::generate()?;
        let mut leaf = CertificateParams::new(vec![domain.to_string(), "localhost".to_string()])?;
        leaf.subject_alt_names
            .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
        leaf.distinguished_name.push(DnType::CommonName, domain);
        let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key)?;
        Ok(TestPki {
            ca_pem: ca_cert.pem(),
            leaf_der: leaf_cert.der().to_vec(),
            leaf_key_der: leaf_key.serialize_der(),
        })
    }

    /// Writes `ca.pem` into `dir` and returns its path.
    pub fn write_ca(&self, dir: &Path) -> Result<PathBuf, TlsError> {
        let path = dir.join("ca.pem");
        std::fs::create_dir_all(dir)
            .and_then(|_| std::fs::write(&path, &self.ca_pem))
            .map_err(|source| TlsError::Write {
                path: path.clone(),
                source,
            })?;
        Ok(path)
    }

    pub fn server_config(
        &self,
        versions: TlsVersions,
        keylog: bool,
    ) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider);
        let builder = match versions {
            TlsVersions::Default => builder.with_safe_default_protocol_versions()?,
            TlsVersions::Tls12Only => builder.with_protocol_versions(&[&rustls::version::TLS12])?,
        };
        let mut cfg = builder.with_no_client_auth().with_single_cert(
            vec![CertificateDer::from(self.leaf_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key_der.clone())),
        )?;
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        if keylog {
            cfg.key_log = Arc::new(rustls::KeyLogFile::new());
        }
        Ok(Arc::new(cfg))
    }
}
