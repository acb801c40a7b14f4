//! Console sign-in. A browser cannot sign requests with SigV4, so when the API
//! requires credentials the console trades the access key and secret for a
//! session cookie (HttpOnly, SameSite=Strict, 12 h). A request carrying that
//! cookie and `x-ondol-console: 1` (a header no other site's page can send
//! without a CORS preflight, which this API never grants) passes as signed.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use http::HeaderMap;
use parking_lot::Mutex;
use rand::RngCore;

pub const COOKIE: &str = "ondol_console";
pub const HEADER: &str = "x-ondol-console";
/// How long a session lasts after sign-in.
pub const TTL: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at once; past it the one closest to expiry goes.
const MAX_SESSIONS: usize = 1024;
/// Failed sign-ins allowed per `FAILURE_WINDOW`, node-wide, against guessing.
const MAX_FAILURES: usize = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Instant>>,
    failures: Mutex<VecDeque<Instant>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sessions({})", self.live.lock().len())
    }
}

/// The session token in a request's `Cookie` headers.
fn token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

impl Sessions {
    /// A new session's token.
    pub fn open(&self) -> String {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        let now = Instant::now();
        let mut live = self.live.lock();
        live.retain(|_, until| *until > now);
        if live.len() >= MAX_SESSIONS {
            if let Some(k) = live.iter().min_by_key(|(_, u)| **u).map(|(k, _)| k.clone()) {
                live.remove(&k);
            }
        }
        live.insert(token.clone(), now + TTL);
        token
    }

    /// Whether the request carries a live session and the console's header.
    pub fn valid(&self, headers: &HeaderMap) -> bool {
        if headers.get(HEADER).map(|v| v.as_bytes()) != Some(b"1") {
            return false;
        }
        let Some(t) = token(headers) else {
            return false;
        };
        self.live
            .lock()
            .get(t)
            .is_some_and(|until| *until > Instant::now())
    }

    /// Ends the request's session, if it has one.
    pub fn close(&self, headers: &HeaderMap) {
        if let Some(t) = token(headers) {
            self.live.lock().remove(t);
        }
    }

    /// Counts a failed sign-in; true when too many failed lately.
    pub fn failed(&self) -> bool {
        let now = Instant::now();
        let mut f = self.failures.lock();
        while f.front().is_some_and(|t| now - *t > FAILURE_WINDOW) {
            f.pop_front();
        }
        f.push_back(now);
        f.len() > MAX_FAILURES
    }

    /// Whether sign-ins are refused now, before the secret is even compared.
    pub fn locked(&self) -> bool {
        let now = Instant::now();
        let f = self.failures.lock();
        f.iter().filter(|t| now - **t <= FAILURE_WINDOW).count() >= MAX_FAILURES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str, console: bool) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::COOKIE, cookie.parse().unwrap());
        if console {
            h.insert(HEADER, "1".parse().unwrap());
        }
        h
    }

    #[test]
    fn a_session_needs_its_cookie_and_the_header() {
        let s = Sessions::default();
        let t = s.open();
        assert!(s.valid(&headers(&format!("a=b; {COOKIE}={t}"), true)));
        assert!(!s.valid(&headers(&format!("{COOKIE}={t}"), false)));
        assert!(!s.valid(&headers(&format!("{COOKIE}={t}x"), true)));
        s.close(&headers(&format!("{COOKIE}={t}"), true));
        assert!(!s.valid(&headers(&format!("{COOKIE}={t}"), true)));
    }

    #[test]
    fn guessing_is_locked_out() {
        let s = Sessions::default();
        for _ in 0..MAX_FAILURES {
            assert!(!s.failed());
        }
        assert!(s.locked());
        assert!(s.failed());
    }
}
