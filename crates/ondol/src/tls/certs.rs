//! The certificates the TLS listener serves: one per host (from files or ACME),
//! picked by SNI, plus the short-lived TLS-ALPN-01 validation certificates.
//! A ClientHello naming no host we hold is refused in the handshake.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::{bail, Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::ACME_TLS_ALPN;

/// Where a host's certificate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `--certificate HOST=CERT,KEY`.
    File,
    /// Issued by the ACME directory.
    Acme,
}

/// A certificate being served for a host.
#[derive(Debug, Clone)]
pub struct Installed {
    pub key: Arc<CertifiedKey>,
    /// Validity, unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub source: Source,
}

/// Certificates by host name (lower case).
#[derive(Debug, Default)]
pub struct CertStore {
    hosts: RwLock<HashMap<String, Installed>>,
    challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl CertStore {
    pub fn install(&self, host: &str, cert: Installed) {
        let mut hosts = self.hosts.write().unwrap_or_else(|e| e.into_inner());
        hosts.insert(host.to_ascii_lowercase(), cert);
    }

    pub fn get(&self, host: &str) -> Option<Installed> {
        let hosts = self.hosts.read().unwrap_or_else(|e| e.into_inner());
        hosts.get(&host.to_ascii_lowercase()).cloned()
    }

    /// Whether `host` has a certificate (and so plain HTTP redirects to HTTPS).
    pub fn has(&self, host: &str) -> bool {
        let hosts = self.hosts.read().unwrap_or_else(|e| e.into_inner());
        hosts.contains_key(host)
    }

    /// Serves `key` to TLS-ALPN-01 validators of `host` (`None` removes it).
    pub fn set_challenge(&self, host: &str, key: Option<Arc<CertifiedKey>>) {
        let mut c = self.challenges.write().unwrap_or_else(|e| e.into_inner());
        match key {
            Some(k) => c.insert(host.to_ascii_lowercase(), k),
            None => c.remove(&host.to_ascii_lowercase()),
        };
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name()?.to_ascii_lowercase();
        let acme = hello
            .alpn()
            .is_some_and(|mut protos| protos.any(|p| p == ACME_TLS_ALPN));
        if acme {
            let c = self.challenges.read().unwrap_or_else(|e| e.into_inner());
            return c.get(&name).cloned();
        }
        let found = self.get(&name).map(|c| c.key);
        if found.is_none() {
            tracing::debug!(host = %name, "TLS refused: no certificate for this name");
        }
        found
    }
}

/// Reads a PEM chain and key, checking that they belong together.
pub fn load_files(cert: &Path, key: &Path, source: Source) -> Result<Installed> {
    let cert_pem =
        std::fs::read(cert).with_context(|| format!("reading certificate {}", cert.display()))?;
    let key_pem = std::fs::read(key).with_context(|| format!("reading key {}", key.display()))?;
    parse(&cert_pem, &key_pem, source)
        .with_context(|| format!("certificate {} with key {}", cert.display(), key.display()))
}

/// A PEM chain (leaf first) and PEM private key, ready to serve.
pub fn parse(cert_pem: &[u8], key_pem: &[u8], source: Source) -> Result<Installed> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .context("the certificate file is not PEM")?;
    let Some(leaf) = chain.first() else {
        bail!("the certificate file holds no certificate");
    };
    let (not_before, not_after) = validity(leaf)?;
    let der = PrivateKeyDer::from_pem_slice(key_pem).context("the key file is not a PEM key")?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&der)
        .context("the key's type is not supported (RSA, ECDSA P-256/P-384 or Ed25519)")?;
    let key = CertifiedKey::new(chain, signer);
    key.keys_match()
        .context("the key does not belong to the certificate")?;
    Ok(Installed {
        key: Arc::new(key),
        not_before,
        not_after,
        source,
    })
}

/// A certificate's validity period, unix seconds.
pub fn validity(der: &CertificateDer<'_>) -> Result<(i64, i64)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| anyhow::anyhow!("the certificate cannot be parsed: {e}"))?;
    let v = cert.validity();
    Ok((v.not_before.timestamp(), v.not_after.timestamp()))
}

/// `HOST=CERT.pem,KEY.pem` as `--certificate` takes it.
pub fn parse_flag(s: &str) -> Result<(String, String, String), String> {
    let (host, files) = s.split_once('=').ok_or("expected HOST=CERT.pem,KEY.pem")?;
    let (cert, key) = files
        .split_once(',')
        .ok_or("expected HOST=CERT.pem,KEY.pem (the key after a comma)")?;
    let host = host.trim().to_ascii_lowercase();
    if host.is_empty() || cert.is_empty() || key.is_empty() {
        return Err("expected HOST=CERT.pem,KEY.pem".into());
    }
    Ok((host, cert.into(), key.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_needs_host_cert_and_key() {
        assert_eq!(
            parse_flag("Api.Example.com=a.pem,b.pem").unwrap(),
            ("api.example.com".into(), "a.pem".into(), "b.pem".into())
        );
        assert!(parse_flag("api.example.com=a.pem").is_err());
        assert!(parse_flag("a.pem,b.pem").is_err());
    }

    #[test]
    fn key_must_match_certificate() {
        let a = rcgen::generate_simple_self_signed(vec!["a.test".into()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["b.test".into()]).unwrap();
        let ok = parse(
            a.cert.pem().as_bytes(),
            a.signing_key.serialize_pem().as_bytes(),
            Source::File,
        );
        assert!(ok.is_ok());
        let bad = parse(
            a.cert.pem().as_bytes(),
            b.signing_key.serialize_pem().as_bytes(),
            Source::File,
        );
        assert!(format!("{:#}", bad.unwrap_err()).contains("does not belong"));
    }
}
