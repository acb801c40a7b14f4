//! The hosts the deployed apps claim and, for each, what `ondol domains` and
//! `GET /ondol/v1/domains` tell: does its DNS point at this server (resolved from
//! here), and is its certificate issued, pending or failed (with the CA's error
//! and what to do). State changes are logged as they happen.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use ondol_core::manifest::{AppHttp, FrontDoor, UrlRoute};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::certs::{CertStore, Source};

/// Unix seconds now.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn rfc3339(t: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(t, 0).map(|d| d.to_rfc3339())
}

/// A failed attempt: the error, advice, and when the next try is.
#[derive(Debug, Clone)]
pub struct Failure {
    pub error: String,
    pub hint: &'static str,
    pub attempts: u32,
    pub retry_at: i64,
}

impl Failure {
    pub fn from_error(e: &anyhow::Error, attempts: u32, retry_at: i64) -> Self {
        let error = format!("{e:#}");
        Self {
            hint: hint(&error),
            error,
            attempts,
            retry_at,
        }
    }
}

/// What to do about an ACME error, from the problem type the CA names.
fn hint(error: &str) -> &'static str {
    let e = error.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| e.contains(w));
    if has(&["ratelimited", "rate limit"]) {
        "the CA's rate limit was reached: ondol retries later by itself"
    } else if has(&["rejectedidentifier", "policy forbids", "caa"]) {
        "the CA will not issue for this name (an internal name, or a CAA record forbids it): use a public name or --certificate"
    } else if has(&[
        "creating an account",
        "acme client",
        "restoring the acme account",
    ]) {
        "the ACME directory could not be reached or refused the account: check --acme-directory and --acme-ca"
    } else if has(&["dns", "nxdomain", "no valid a records", "servfail"]) {
        "the CA could not resolve the name: add an A/AAAA record pointing at this server"
    } else if has(&["connection", "connect", "timeout", "refused"]) {
        "the CA could not reach this server at the address the name resolves to: check the DNS record points here and ports 80 (HTTP-01) / 443 (TLS-ALPN-01) are open and forwarded to ondol"
    } else if has(&["unauthorized", "incorrect", "mismatch"]) {
        "something else answered the challenge: is another proxy or server in front of ondol for this name?"
    } else {
        "ondol retries with backoff; if it keeps failing, check the server log"
    }
}

#[derive(Debug, Clone)]
enum Phase {
    Pending(&'static str),
    Issued { not_after: i64, renew_at: i64 },
    Failed(Failure),
}

/// Every claimed host's certificate state.
#[derive(Debug)]
pub struct Domains {
    certs: Arc<CertStore>,
    /// Hosts whose certificate is a file (`--certificate`).
    files: HashSet<String>,
    hosts: watch::Receiver<BTreeSet<String>>,
    phases: RwLock<HashMap<String, Phase>>,
    acme: bool,
}

impl Domains {
    pub fn new(
        certs: Arc<CertStore>,
        files: HashSet<String>,
        hosts: watch::Receiver<BTreeSet<String>>,
        acme: bool,
    ) -> Self {
        Self {
            certs,
            files,
            hosts,
            phases: Default::default(),
            acme,
        }
    }

    pub fn is_file_backed(&self, host: &str) -> bool {
        self.files.contains(host)
    }

    fn set(&self, host: &str, phase: Phase) -> Option<Phase> {
        let mut p = self.phases.write().unwrap_or_else(|e| e.into_inner());
        p.insert(host.to_owned(), phase)
    }

    fn phase(&self, host: &str) -> Option<Phase> {
        let p = self.phases.read().unwrap_or_else(|e| e.into_inner());
        p.get(host).cloned()
    }

    pub fn issued(&self, host: &str, not_after: i64, renew_at: i64) {
        let was = self.set(
            host,
            Phase::Issued {
                not_after,
                renew_at,
            },
        );
        if !matches!(was, Some(Phase::Issued { not_after: n, .. }) if n == not_after) {
            tracing::info!(
                host,
                expires = rfc3339(not_after).unwrap_or_default(),
                renews = rfc3339(renew_at).unwrap_or_default(),
                "TLS: certificate issued and served"
            );
        }
    }

    /// A host being ordered; one that failed before keeps its failure on show
    /// until an attempt succeeds.
    pub fn pending(&self, host: &str, doing: &'static str) {
        if !matches!(self.phase(host), Some(Phase::Failed(_))) {
            self.set(host, Phase::Pending(doing));
        }
    }

    pub fn failed(&self, host: &str, f: Failure) {
        tracing::warn!(
            host, error = %f.error, what_to_do = f.hint, attempts = f.attempts,
            retry_at = rfc3339(f.retry_at).unwrap_or_default(),
            "TLS: certificate not issued"
        );
        self.set(host, Phase::Failed(f));
    }

    /// When a failed host may be tried again.
    pub fn retry_at(&self, host: &str) -> Option<i64> {
        match self.phase(host)? {
            Phase::Failed(f) => Some(f.retry_at),
            _ => None,
        }
    }

    /// Failed attempts in a row.
    pub fn attempts(&self, host: &str) -> u32 {
        match self.phase(host) {
            Some(Phase::Failed(f)) => f.attempts,
            _ => 0,
        }
    }

    /// The report for every claimed host and every file-backed one.
    pub async fn report(&self) -> Vec<Report> {
        let mut hosts: BTreeSet<String> = self.hosts.borrow().clone();
        hosts.extend(self.files.iter().cloned());
        let mut out = Vec::new();
        for host in hosts {
            let dns = dns_check(&host).await;
            let certificate = self.certificate(&host);
            out.push(Report {
                host,
                dns,
                certificate,
            });
        }
        out
    }

    fn certificate(&self, host: &str) -> CertReport {
        let installed = self.certs.get(host);
        let mut r = CertReport {
            source: installed.as_ref().map(|c| c.source),
            expires: installed.as_ref().and_then(|c| rfc3339(c.not_after)),
            ..Default::default()
        };
        match (self.phase(host), &installed) {
            (_, Some(c)) if c.source == Source::File => {
                r.status = "issued".into();
                r.says = format!(
                    "certificate from file, expires {}",
                    r.expires.clone().unwrap_or_default()
                );
            }
            (Some(Phase::Issued { renew_at, .. }), _) => {
                r.status = "issued".into();
                r.renews = rfc3339(renew_at);
                r.says = format!("issued, renews {}", r.renews.clone().unwrap_or_default());
            }
            (Some(Phase::Failed(f)), _) => {
                r.status = "failed".into();
                r.next_attempt = rfc3339(f.retry_at);
                r.says = format!("failed ({} attempts): {} — {}", f.attempts, f.error, f.hint);
                r.error = Some(f.error);
                r.what_to_do = Some(f.hint.into());
            }
            (Some(Phase::Pending(doing)), _) => {
                r.status = "pending".into();
                r.says = format!("pending: {doing}");
            }
            (None, _) if self.acme => {
                r.status = "pending".into();
                r.says = "pending: waiting for its turn".into();
            }
            (None, _) => {
                r.status = "none".into();
                r.says = "no certificate (ACME is off: give one with --certificate)".into();
            }
        }
        r
    }
}

/// One host, as `ondol domains` shows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    pub host: String,
    pub dns: Dns,
    pub certificate: CertReport,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CertReport {
    /// `issued`, `pending`, `failed` or `none`.
    pub status: String,
    pub source: Option<Source>,
    pub expires: Option<String>,
    pub renews: Option<String>,
    pub error: Option<String>,
    pub what_to_do: Option<String>,
    pub next_attempt: Option<String>,
    /// All of the above in one sentence.
    pub says: String,
}

/// Where a host's name resolves, seen from this server.
#[derive(Debug, Serialize, Deserialize)]
pub struct Dns {
    pub addresses: Vec<String>,
    pub points_here: bool,
    pub says: String,
}

/// Resolves `host` with the system resolver and compares with our addresses.
pub async fn dns_check(host: &str) -> Dns {
    let lookup = tokio::net::lookup_host((host, 443));
    let found = tokio::time::timeout(Duration::from_secs(3), lookup).await;
    let addrs: Vec<IpAddr> = match found {
        Ok(Ok(a)) => a
            .map(|s| s.ip())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        Ok(Err(e)) => return unresolved(format!("({e}): add an A/AAAA record pointing here")),
        Err(_) => return unresolved("(the lookup timed out)".into()),
    };
    let local = local_addresses();
    let points_here = addrs.iter().any(|a| a.is_loopback() || local.contains(a));
    let list = addrs.iter().map(IpAddr::to_string).collect::<Vec<_>>();
    let says = if points_here {
        format!("points here ({})", list.join(", "))
    } else {
        format!(
            "resolves to {}, not an address of this server: fine behind NAT or a load balancer that forwards to it, otherwise fix the record",
            list.join(", ")
        )
    };
    Dns {
        addresses: list,
        points_here,
        says,
    }
}

fn unresolved(why: String) -> Dns {
    Dns {
        addresses: vec![],
        points_here: false,
        says: format!("does not resolve from this server {why}"),
    }
}

/// This machine's interface addresses.
pub fn local_addresses() -> HashSet<IpAddr> {
    let mut out = HashSet::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed;
        // ifa_addr, when set, points at a sockaddr of the family it names.
        unsafe {
            let addr = (*cur).ifa_addr;
            if !addr.is_null() {
                match i32::from((*addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(addr as *const libc::sockaddr_in);
                        out.insert(IpAddr::from(
                            u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                        ));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(addr as *const libc::sockaddr_in6);
                        out.insert(IpAddr::from(sin6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            cur = (*cur).ifa_next;
        }
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    out
}

/// `GET /ondol/v1/domains`.
pub fn router(domains: Arc<Domains>) -> Router {
    Router::new()
        .route("/ondol/v1/domains", get(list))
        .with_state(domains)
}

async fn list(State(d): State<Arc<Domains>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "Domains": d.report().await }))
}

/// The front door, noting which hosts the deployed apps claim.
pub struct ClaimedHosts {
    pub inner: Arc<dyn FrontDoor>,
    pub tx: watch::Sender<BTreeSet<String>>,
}

impl FrontDoor for ClaimedHosts {
    fn check(&self, apps: &[AppHttp], urls: &[UrlRoute]) -> Result<(), String> {
        self.inner.check(apps, urls)
    }

    fn serve(&self, apps: Vec<AppHttp>, urls: Vec<UrlRoute>) {
        let hosts: BTreeSet<String> = apps
            .iter()
            .flat_map(|a| {
                let routes = a.routes.iter().filter_map(|r| r.host.clone());
                a.hosts.iter().cloned().chain(routes)
            })
            .map(|h| h.to_ascii_lowercase())
            .filter(|h| is_dns_name(h))
            .collect();
        self.tx.send_if_modified(|old| {
            let changed = *old != hosts;
            *old = hosts;
            changed
        });
        self.inner.serve(apps, urls)
    }
}

/// A name a CA could issue for: dotted labels, no wildcard, not an IP address.
fn is_dns_name(h: &str) -> bool {
    h.contains('.')
        && h.parse::<IpAddr>().is_err()
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dns_names_are_claimed() {
        assert!(is_dns_name("api.example.com"));
        assert!(!is_dns_name("*.example.com"));
        assert!(!is_dns_name("127.0.0.1"));
        assert!(!is_dns_name("localhost"));
    }

    #[test]
    fn hints_follow_the_problem_type() {
        assert!(hint("urn:ietf:params:acme:error:connection: refused").contains("could not reach"));
        assert!(hint("urn:ietf:params:acme:error:rateLimited").contains("rate limit"));
        assert!(hint("urn:ietf:params:acme:error:dns NXDOMAIN").contains("resolve"));
    }

    #[tokio::test]
    async fn dns_says_whether_a_name_points_here() {
        let here = dns_check("localhost").await;
        assert!(here.points_here, "{}", here.says);
        let nowhere = dns_check("no-such-host.invalid").await;
        assert!(!nowhere.points_here && nowhere.says.contains("does not resolve"));
    }

    #[test]
    fn loopback_is_local() {
        assert!(local_addresses().contains(&IpAddr::from([127, 0, 0, 1])));
    }
}
