//! HTTPS on the front door (`ondol serve --https`): rustls (TLS 1.2 and 1.3) with
//! a certificate per host chosen by SNI, HTTP/2 and HTTP/1.1 over ALPN, and what
//! the plain listener does for it (ACME HTTP-01 answers, redirects to HTTPS).
//! Certificates come from files (`--certificate`) or from an ACME directory.

pub mod acme;
pub mod certs;
pub mod domains;
pub mod front;

use std::collections::{BTreeSet, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use http::header::HOST;
use hyper::body::Incoming;
use ondol_core::conn::ConnStats;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

pub use certs::CertStore;
use domains::Domains;
use front::Front;

/// `ondol serve`'s HTTPS flags.
#[derive(clap::Args, Clone, Debug)]
pub struct TlsArgs {
    /// Serve HTTPS (HTTP/2 and HTTP/1.1) on this address too, e.g. 0.0.0.0:443. Off by default.
    #[arg(long, env = "ONDOL_HTTPS")]
    pub https: Option<SocketAddr>,
    /// A certificate and key for a host, HOST=CERT.pem,KEY.pem (repeatable); other hosts get one from ACME.
    #[arg(long = "certificate", requires = "https", value_name = "HOST=CERT.pem,KEY.pem", value_parser = certs::parse_flag)]
    pub certificates: Vec<(String, String, String)>,
    /// Send Strict-Transport-Security (one year) on HTTPS responses.
    #[arg(long, requires = "https")]
    pub hsts: bool,
    /// The ACME directory certificates are ordered from.
    #[arg(long, env = "ONDOL_ACME_DIRECTORY", default_value = acme::LETS_ENCRYPT)]
    pub acme_directory: String,
    /// A CA certificate (PEM) to trust for the ACME directory's own HTTPS (step-ca, Pebble...).
    #[arg(long, env = "ONDOL_ACME_CA")]
    pub acme_ca: Option<PathBuf>,
    /// Contact address given to the ACME directory (expiry notices).
    #[arg(long, env = "ONDOL_ACME_EMAIL")]
    pub acme_email: Option<String>,
    /// The challenge answered: tls-alpn-01 (on --https) or http-01 (on --http).
    #[arg(long, value_enum, default_value = "tls-alpn-01")]
    pub acme_challenge: acme::Challenge,
    /// Do not order certificates: serve only those given with --certificate.
    #[arg(long)]
    pub no_acme: bool,
}

/// What `ondol serve` runs for HTTPS.
pub struct Https {
    pub front: Arc<Front>,
    pub domains: Arc<Domains>,
    /// The TLS listener (none without `--https`).
    pub listener: Option<(tokio::net::TcpListener, TlsAcceptor)>,
    acme: Option<acme::Config>,
    hosts: tokio::sync::watch::Receiver<BTreeSet<String>>,
}

impl Https {
    /// Loads `--certificate` files and binds `--https` (or uses `bound`, the
    /// listener a takeover inherited).
    pub async fn setup(
        a: &TlsArgs,
        data_dir: &Path,
        hosts: tokio::sync::watch::Receiver<BTreeSet<String>>,
        bound: Option<tokio::net::TcpListener>,
    ) -> anyhow::Result<Self> {
        let certs = Arc::new(CertStore::default());
        let mut files = HashSet::new();
        for (host, cert, key) in &a.certificates {
            let c = certs::load_files(cert.as_ref(), key.as_ref(), certs::Source::File)
                .with_context(|| format!("--certificate for {host}"))?;
            certs.install(host, c);
            files.insert(host.clone());
        }
        let listener = match (a.https, bound) {
            (Some(_), Some(l)) => Some((l, acceptor(certs.clone())?)),
            (Some(addr), None) => Some((
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding the HTTPS front door on {addr}"))?,
                acceptor(certs.clone())?,
            )),
            (None, _) => None,
        };
        let https_port = match &listener {
            Some((l, _)) => l.local_addr()?.port(),
            None => 443,
        };
        let acme = (listener.is_some() && !a.no_acme).then(|| acme::Config {
            directory: a.acme_directory.clone(),
            ca: a.acme_ca.clone(),
            email: a.acme_email.clone(),
            challenge: a.acme_challenge,
            dir: data_dir.join("tls"),
        });
        let domains = Domains::new(certs.clone(), files, hosts.clone(), acme.is_some());
        let front = Front {
            certs,
            tokens: Default::default(),
            // Without --https nothing redirects: no host has a certificate served.
            https_port,
            hsts: a.hsts,
        };
        Ok(Self {
            front: Arc::new(front),
            domains: Arc::new(domains),
            listener,
            acme,
            hosts,
        })
    }

    /// Starts ordering and renewing certificates (with `--https`, unless `--no-acme`).
    pub fn start_acme(&self, stop: tokio::sync::watch::Receiver<bool>) {
        if let Some(cfg) = self.acme.clone() {
            // The ACME client's rustls takes the process default: make it ring, the one built in.
            let _ = rustls::crypto::ring::default_provider().install_default();
            tracing::info!(directory = %cfg.directory, challenge = ?cfg.challenge, "TLS: certificates from ACME");
            let (front, domains, hosts) =
                (self.front.clone(), self.domains.clone(), self.hosts.clone());
            tokio::spawn(acme::run(cfg, front, domains, hosts, stop));
        }
    }
}

/// The ALPN protocol of TLS-ALPN-01 validation (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The longest a TLS handshake may take (less if `--header-timeout` is shorter).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The acceptor for `--https`: TLS 1.2+, certificates from `certs` by SNI.
pub fn acceptor(certs: Arc<CertStore>) -> anyhow::Result<TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec(), ACME_TLS_ALPN.to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Completes the handshake within `limit` (and `HANDSHAKE_TIMEOUT`); `None` when
/// it failed, timed out, or was an ACME TLS-ALPN-01 check, which carries no HTTP.
pub async fn handshake<IO>(
    acceptor: &TlsAcceptor,
    io: IO,
    limit: Duration,
    stats: &ConnStats,
    peer: SocketAddr,
) -> Option<TlsStream<IO>>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match tokio::time::timeout(limit.min(HANDSHAKE_TIMEOUT), acceptor.accept(io)).await {
        Ok(Ok(stream)) if stream.get_ref().1.alpn_protocol() == Some(ACME_TLS_ALPN) => {
            tracing::debug!(%peer, "answered a TLS-ALPN-01 validation");
            None
        }
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            stats.header_timeouts.fetch_add(1, Relaxed);
            tracing::debug!(%peer, "closed: TLS handshake not finished in time");
            None
        }
    }
}

/// Makes a request that came over TLS look it: an absolute `https` URI (HTTP/1.1
/// sends only the path) and a `Host` header (HTTP/2 sends `:authority` instead),
/// so routing and `x-forwarded-proto` see the same thing for both.
pub fn mark_https(req: &mut http::Request<Incoming>) {
    let authority = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            let h = req.headers().get(HOST)?;
            h.to_str().ok().map(str::to_owned)
        });
    let Some(authority) = authority else { return };
    if !req.headers().contains_key(HOST) {
        if let Ok(v) = http::HeaderValue::from_str(&authority) {
            req.headers_mut().insert(HOST, v);
        }
    }
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
    if let Ok(uri) = http::Uri::builder()
        .scheme("https")
        .authority(authority.as_str())
        .path_and_query(pq)
        .build()
    {
        *req.uri_mut() = uri;
    }
}
