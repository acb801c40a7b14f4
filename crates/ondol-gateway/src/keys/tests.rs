//! Keys admitted, refused and counted, without a server.

use super::*;
use crate::table::Table;
use http::HeaderValue;
use ondol_core::manifest::Manifest;

const VALUE: &str = "k3yk3yk3yk3yk3yk3yk3yk3yk3yk3yk3yk3yk3yk";

fn table() -> Table {
    let text =
        "app = \"a\"\n[functions.f]\nruntime = \"python3.11\"\nhandler = \"a.b\"\ncode = \"f\"\n\
        [[routes]]\nroute = \"GET /x\"\nfunction = \"f\"\napi_key_required = true\n\
        [usage_plans.tiny]\nrate = 1000\nburst = 2\nquota = { limit = 3, period = \"day\" }\n";
    let d = Manifest::parse(text, "t")
        .unwrap()
        .resolve(std::path::Path::new("/"), "t")
        .unwrap();
    Table::build(&[d.http], &[]).unwrap()
}

fn key(plan: Option<&str>, app: Option<&str>) -> ApiKey {
    ApiKey {
        id: "abcdefghij".into(),
        name: "k".into(),
        prefix: VALUE[..8].into(),
        hash: hex::encode(digest(VALUE)),
        app: app.map(Into::into),
        plan: plan.map(Into::into),
        created: String::new(),
    }
}

fn with(value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("x-api-key", HeaderValue::from_str(value).unwrap());
    h
}

fn status(r: Result<Admitted, Refused>) -> u16 {
    r.map_or_else(|r| r.status().0.as_u16(), |_| 200)
}

#[test]
fn refuses_missing_wrong_huge_and_revoked() {
    let t = table();
    let target = t.find("h", "GET", "/x").unwrap().target;
    let keys = Keys::default();
    keys.set_keys(vec![key(None, None)]);
    assert_eq!(status(keys.admit(target, &HeaderMap::new())), 403);
    assert_eq!(status(keys.admit(target, &with(&VALUE[1..]))), 403);
    assert_eq!(status(keys.admit(target, &with(&"a".repeat(10_000)))), 403);
    let ok = keys.admit(target, &with(VALUE)).ok().unwrap();
    assert_eq!(ok.id, "abcdefghij");
    keys.set_keys(vec![key(None, Some("other"))]);
    assert_eq!(
        status(keys.admit(target, &with(VALUE))),
        403,
        "another app's key"
    );
    keys.set_keys(vec![key(Some("missing"), Some("a"))]);
    assert_eq!(
        status(keys.admit(target, &with(VALUE))),
        403,
        "unknown plan"
    );
    keys.set_keys(Vec::new());
    assert_eq!(status(keys.admit(target, &with(VALUE))), 403, "revoked");
}

#[test]
fn throttles_then_quota_and_counters_survive_a_change() {
    let t = table();
    let target = t.find("h", "GET", "/x").unwrap().target;
    let keys = Keys::default();
    keys.set_keys(vec![key(Some("tiny"), Some("a"))]);
    assert_eq!(status(keys.admit(target, &with(VALUE))), 200);
    assert_eq!(status(keys.admit(target, &with(VALUE))), 200);
    let r = keys.admit(target, &with(VALUE)).err().unwrap();
    assert!(matches!(r, Refused::Throttled(1)), "{r:?}");
    std::thread::sleep(std::time::Duration::from_millis(5));
    // Another key added: this one keeps its count.
    let mut other = key(None, None);
    other.id = "other".into();
    other.hash = hex::encode(digest("x"));
    keys.set_keys(vec![key(Some("tiny"), Some("a")), other]);
    assert_eq!(status(keys.admit(target, &with(VALUE))), 200);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let r = keys.admit(target, &with(VALUE)).err().unwrap();
    assert!(matches!(r, Refused::OverQuota(_)), "{r:?}");
    assert!(r.status().2.is_some_and(|w| w >= 1));
    let dirty = keys.usage(true);
    assert_eq!(dirty.len(), 1);
    assert_eq!(dirty[0].1.used, 3);
    assert!(keys.usage(true).is_empty(), "flushed once");
    // A restart: counters come back from the store.
    let fresh = Keys::default();
    fresh.set_keys(vec![key(Some("tiny"), Some("a"))]);
    fresh.seed_usage(dirty);
    assert_eq!(status(fresh.admit(target, &with(VALUE))), 429);
}
