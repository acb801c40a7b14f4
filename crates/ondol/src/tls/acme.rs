//! Certificates from an ACME directory (Let's Encrypt by default) for every host
//! the deployed apps claim: one order per host, answered by HTTP-01 on the plain
//! listener or TLS-ALPN-01 on the TLS one, renewed once a third of the lifetime is
//! left, retried with exponential backoff. The account key and certificates live
//! in `<data dir>/tls` (mode 0600) and are reused across restarts.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use rustls::pki_types::PrivateKeyDer;
use rustls::sign::CertifiedKey;
use tokio::sync::watch;

use super::certs::{self, Source};
use super::domains::{now, Domains, Failure};
use super::front::Front;

/// Let's Encrypt's production directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// First retry after a failure; doubled each time up to `MAX_BACKOFF`.
const FIRST_BACKOFF: i64 = 5;
const MAX_BACKOFF: i64 = 3600;

/// Which challenge the client answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Challenge {
    /// HTTP-01 on the plain listener (the CA connects to port 80 of the host).
    #[value(name = "http-01")]
    Http01,
    /// TLS-ALPN-01 on the TLS listener (the CA connects to port 443 of the host).
    #[value(name = "tls-alpn-01")]
    TlsAlpn01,
}

/// How to reach the ACME directory.
#[derive(Debug, Clone)]
pub struct Config {
    pub directory: String,
    /// A CA certificate (PEM) to trust for the directory's own HTTPS.
    pub ca: Option<PathBuf>,
    pub email: Option<String>,
    pub challenge: Challenge,
    /// `<data dir>/tls`.
    pub dir: PathBuf,
}

/// Runs until `stop`: issues and renews certificates for the hosts in `hosts`.
pub async fn run(
    cfg: Config,
    front: Arc<Front>,
    domains: Arc<Domains>,
    mut hosts: watch::Receiver<BTreeSet<String>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut account = None;
    loop {
        let wanted: Vec<String> = hosts.borrow_and_update().iter().cloned().collect();
        let mut wake = now() + 60;
        for host in wanted {
            if let Some(at) = step(&cfg, &front, &domains, &mut account, &host).await {
                wake = wake.min(at);
            }
        }
        let wait = Duration::from_secs(wake.saturating_sub(now()).max(1) as u64);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            r = hosts.changed() => if r.is_err() { return },
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Looks after one host; returns when it next needs attention.
async fn step(
    cfg: &Config,
    front: &Front,
    domains: &Domains,
    account: &mut Option<Account>,
    host: &str,
) -> Option<i64> {
    if domains.is_file_backed(host) {
        return None;
    }
    if front.certs.get(host).is_none() {
        if let Ok(c) = load_saved(&cfg.dir, host) {
            tracing::info!(
                host,
                expires = c.not_after,
                "TLS: reusing the saved certificate"
            );
            front.certs.install(host, c);
        }
    }
    let cert = front.certs.get(host);
    if let Some(c) = &cert {
        let renew_at = renew_at(c.not_before, c.not_after);
        if now() < renew_at {
            domains.issued(host, c.not_after, renew_at);
            return Some(renew_at);
        }
    }
    if let Some(at) = domains.retry_at(host).filter(|at| *at > now()) {
        return Some(at);
    }
    if domains.attempts(host) == 0 && cert.is_none() {
        let dns = super::domains::dns_check(host).await;
        tracing::info!(host, dns = %dns.says, "TLS: ordering a certificate");
    }
    domains.pending(host, "ordering a certificate");
    match issue(cfg, front, account, host).await {
        Ok(c) => {
            let renew_at = renew_at(c.not_before, c.not_after);
            domains.issued(host, c.not_after, renew_at);
            front.certs.install(host, c);
            Some(renew_at)
        }
        Err(e) => {
            let attempts = domains.attempts(host) + 1;
            let backoff = (FIRST_BACKOFF << attempts.min(20).saturating_sub(1)).min(MAX_BACKOFF);
            let failure = Failure::from_error(&e, attempts, now() + backoff);
            domains.failed(host, failure);
            Some(now() + backoff)
        }
    }
}

/// Renew once a third of the lifetime is left.
pub fn renew_at(not_before: i64, not_after: i64) -> i64 {
    not_after - (not_after - not_before).max(3) / 3
}

/// Orders, validates and saves a certificate for `host`.
async fn issue(
    cfg: &Config,
    front: &Front,
    account: &mut Option<Account>,
    host: &str,
) -> Result<certs::Installed> {
    if account.is_none() {
        *account = Some(load_account(cfg).await?);
    }
    let Some(acct) = account.as_ref() else {
        bail!("no ACME account");
    };
    let ids = [Identifier::Dns(host.to_owned())];
    let mut order = acct
        .new_order(&NewOrder::new(&ids))
        .await
        .context("creating the order")?;
    let mut tokens = Vec::new();
    let answered = answer(cfg, front, &mut order, host, &mut tokens).await;
    let status = match answered {
        Ok(()) => order
            .poll_ready(&RetryPolicy::new().timeout(Duration::from_secs(90)))
            .await
            .context("waiting for validation"),
        Err(e) => Err(e),
    };
    front.certs.set_challenge(host, None);
    for token in tokens {
        front.set_token(&token, None);
    }
    if status? != OrderStatus::Ready {
        bail!("{}", validation_error(&mut order).await);
    }
    let key_pem = order.finalize().await.context("finalizing the order")?;
    let chain_pem = order
        .poll_certificate(&RetryPolicy::new().timeout(Duration::from_secs(90)))
        .await
        .context("downloading the certificate")?;
    let cert = certs::parse(chain_pem.as_bytes(), key_pem.as_bytes(), Source::Acme)?;
    save_private(&cert_path(&cfg.dir, host, "pem"), chain_pem.as_bytes())?;
    save_private(&cert_path(&cfg.dir, host, "key"), key_pem.as_bytes())?;
    tracing::info!(host, expires = cert.not_after, "TLS: certificate issued");
    Ok(cert)
}

/// Sets up the chosen challenge of every pending authorization and tells the CA.
async fn answer(
    cfg: &Config,
    front: &Front,
    order: &mut instant_acme::Order,
    host: &str,
    tokens: &mut Vec<String>,
) -> Result<()> {
    let mut authzs = order.authorizations();
    while let Some(authz) = authzs.next().await {
        let mut authz = authz.context("reading the authorization")?;
        if authz.status != AuthorizationStatus::Pending {
            continue;
        }
        let kind = match cfg.challenge {
            Challenge::Http01 => ChallengeType::Http01,
            Challenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
        };
        let Some(mut ch) = authz.challenge(kind.clone()) else {
            bail!("the CA does not offer the {kind:?} challenge (try --acme-challenge with the other kind)");
        };
        let ka = ch.key_authorization();
        match cfg.challenge {
            Challenge::Http01 => {
                front.set_token(&ch.token, Some(ka.as_str().to_owned()));
                tokens.push(ch.token.clone());
            }
            Challenge::TlsAlpn01 => {
                let key = alpn_certificate(host, ka.digest().as_ref())?;
                front.certs.set_challenge(host, Some(Arc::new(key)));
            }
        }
        ch.set_ready().await.context("telling the CA to validate")?;
    }
    Ok(())
}

/// The self-signed certificate TLS-ALPN-01 asks for (RFC 8737 §3).
fn alpn_certificate(host: &str, digest: &[u8]) -> Result<CertifiedKey> {
    let mut params = rcgen::CertificateParams::new(vec![host.to_owned()])?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let kp = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&kp)?;
    let key = PrivateKeyDer::Pkcs8(kp.serialize_der().into());
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)?;
    Ok(CertifiedKey::new(vec![cert.der().clone()], signer))
}

/// What the CA said about a failed validation.
async fn validation_error(order: &mut instant_acme::Order) -> String {
    let mut authzs = order.authorizations();
    while let Some(Ok(mut authz)) = authzs.next().await {
        if let Ok(state) = authz.refresh().await {
            if let Some(p) = state.challenges.iter().find_map(|c| c.error.as_ref()) {
                return p.to_string();
            }
        }
    }
    "the CA refused the order without saying why".into()
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SavedAccount {
    directory: String,
    credentials: AccountCredentials,
}

/// The saved account for this directory, or a new one (saved 0600).
async fn load_account(cfg: &Config) -> Result<Account> {
    let builder = || match &cfg.ca {
        Some(ca) => Account::builder_with_root(ca)
            .with_context(|| format!("reading --acme-ca {}", ca.display())),
        None => Account::builder().context("setting up the ACME client"),
    };
    let path = cfg.dir.join("account.json");
    if let Ok(text) = std::fs::read(&path) {
        let saved: SavedAccount =
            serde_json::from_slice(&text).with_context(|| format!("reading {}", path.display()))?;
        if saved.directory == cfg.directory {
            return builder()?
                .from_credentials(saved.credentials)
                .await
                .context("restoring the ACME account");
        }
    }
    let contact = cfg.email.as_ref().map(|e| format!("mailto:{e}"));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let new = NewAccount {
        contact: &contacts,
        terms_of_service_agreed: true,
        only_return_existing: false,
    };
    let (account, credentials) = builder()?
        .create(&new, cfg.directory.clone(), None)
        .await
        .with_context(|| format!("creating an account at {}", cfg.directory))?;
    let saved = SavedAccount {
        directory: cfg.directory.clone(),
        credentials,
    };
    save_private(&path, &serde_json::to_vec_pretty(&saved)?)?;
    tracing::info!(directory = %cfg.directory, "TLS: ACME account created");
    Ok(account)
}

fn cert_path(dir: &Path, host: &str, ext: &str) -> PathBuf {
    dir.join("certs").join(format!("{host}.{ext}"))
}

/// The certificate saved for `host` by an earlier run.
fn load_saved(dir: &Path, host: &str) -> Result<certs::Installed> {
    certs::load_files(
        &cert_path(dir, host, "pem"),
        &cert_path(dir, host, "key"),
        Source::Acme,
    )
}

/// Writes `bytes` readable by the owner only (keys and account credentials).
fn save_private(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}
