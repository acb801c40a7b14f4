//! The compiled route table: host + method + path → route, with matchit doing the
//! path matching. The most specific route wins: per segment, exact beats a
//! parameter beats a greedy parameter; on equal paths a method beats ANY.
//!
//! Stages: `$default` is served at the root of every host; a named stage at
//! `/<stage>/…` of every host (the prefix is stripped before matching, as REST API
//! stages do) and at the root of its own hosts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use ondol_core::front_stats::{FrontDoorStats, RouteStats};
use ondol_core::manifest::{AppHttp, Cors, Route, UrlRoute, UsagePlan};
use parking_lot::Mutex;

/// A token bucket: `rps` refill, `burst` capacity.
pub struct Bucket {
    tokens: f64,
    last: Instant,
    rps: f64,
    burst: f64,
}

impl Bucket {
    pub(crate) fn new(rps: f64, burst: u32) -> Self {
        Self {
            tokens: f64::from(burst),
            last: Instant::now(),
            rps,
            burst: f64::from(burst),
        }
    }

    /// Takes a token, or says how many seconds until one is there.
    pub fn take(&mut self) -> Result<(), u64> {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rps).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - self.tokens) / self.rps).ceil().max(1.0) as u64)
        }
    }
}

/// Where a matched request goes.
pub struct Target {
    pub route: Route,
    pub cors: Option<Arc<Cors>>,
    pub max_body: u64,
    pub bucket: Option<Mutex<Bucket>>,
    /// Pattern specificity, segment by segment (2 exact, 1 param, 0 greedy).
    rank: Vec<u8>,
    /// A Function URL's qualifier.
    pub qualifier: Option<String>,
    /// A Function URL with `AuthType = AWS_IAM`: refused (signatures are not checked).
    pub iam: bool,
    pub stage: Arc<str>,
    pub variables: Option<Arc<BTreeMap<String, String>>>,
    /// Its requests' counters (shared by every route with the same key).
    pub stats: Arc<RouteStats>,
    /// Billed as an API Gateway request in `ondol cost` (a route); a Function URL
    /// costs nothing beyond its invocation on AWS.
    pub billed: bool,
    /// The route's authorizer, if any.
    pub auth: Option<Arc<crate::auth::Guard>>,
    /// The app it belongs to and its usage plans, for API keys.
    pub app: Arc<str>,
    pub plans: Arc<BTreeMap<String, UsagePlan>>,
}

#[derive(Default)]
struct HostTable {
    by_method: HashMap<String, matchit::Router<usize>>,
    any: matchit::Router<usize>,
    default: Option<usize>,
}

/// One stage's routes: a host's own, then the host-less ones.
#[derive(Default)]
struct Routes {
    hosts: HashMap<String, HostTable>,
    all: HostTable,
}

#[derive(Default)]
pub struct Table {
    targets: Vec<Target>,
    /// The `$default` stage.
    root: Routes,
    /// Named stages, by name (their path prefix).
    stages: HashMap<String, Routes>,
    /// A stage's own hosts → the stage.
    stage_hosts: HashMap<String, String>,
    /// A stage's own hosts → the routes of the apps whose stage claims the host.
    host_routes: HashMap<String, Routes>,
    urls: HashMap<String, usize>,
}

pub struct Matched<'a> {
    pub target: &'a Target,
    /// Path parameters, percent-decoded.
    pub params: Vec<(String, String)>,
    /// The path the route matched: without the stage prefix when there was one.
    pub path: &'a str,
    /// The stage prefix (`/prod`) the request came in under, if any.
    pub prefix: Option<&'a str>,
}

fn rank(path: &str) -> Vec<u8> {
    path.split('/')
        .skip(1)
        .map(|s| match (s.starts_with('{'), s.ends_with("+}")) {
            (false, _) => 2,
            (true, false) => 1,
            (true, true) => 0,
        })
        .collect()
}

/// `/site/{proxy+}` → matchit's `/site/{*proxy}`.
fn to_matchit(path: &str) -> String {
    path.split('/')
        .map(
            |s| match s.strip_prefix('{').and_then(|x| x.strip_suffix("+}")) {
                Some(name) => format!("{{*{name}}}"),
                None => s.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// Two `$default` routes for the same requests: names the other one's app,
/// stage and route, and the ways out.
fn default_clash(r: &Route, me: &Owner<'_>, other: &Owner<'_>) -> String {
    let (app, i) = (me.app, me.i);
    let on = r
        .host
        .as_deref()
        .map(|h| format!(" of host {h}"))
        .unwrap_or_default();
    if other.app == app {
        return format!("routes[{i}].route: app {app}: $default{on} is defined twice");
    }
    format!(
        "routes[{i}].route: app {app}: $default{on} clashes with app {} (stage {}), \
         whose routes[{}].route is also $default{on}: only one app can take the \
         requests no route matches; deploy one of them to a named stage (a path \
         prefix), give one a `host`, or remove one of the $default routes",
        other.app, other.stage, other.i
    )
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Where a route was written: its app, the app's stage and its place in the
/// app's `routes` (as in the manifest), by target index.
struct Owner<'a> {
    app: &'a str,
    stage: &'a str,
    i: usize,
}

/// Adds one route to a stage's routes; an error names the clash, keyed by the
/// route's place in its app (`routes[i].route`, as in the manifest).
fn insert(routes: &mut Routes, r: &Route, idx: usize, owners: &[Owner<'_>]) -> Result<(), String> {
    let Owner { app, i, .. } = owners[idx];
    let host = match &r.host {
        Some(h) => routes.hosts.entry(h.clone()).or_default(),
        None => &mut routes.all,
    };
    let Some(path) = &r.path else {
        return match host.default.replace(idx) {
            Some(prev) => Err(default_clash(r, &owners[idx], &owners[prev])),
            None => Ok(()),
        };
    };
    let router = match &r.method {
        Some(m) => host.by_method.entry(m.clone()).or_default(),
        None => &mut host.any,
    };
    router.insert(to_matchit(path), idx).map_err(|e| {
        format!(
            "routes[{i}].route: app {app}: route \"{}\" clashes with another route: {e}",
            r.key
        )
    })
}

impl Table {
    /// Compiles every app's routes and the Function URLs; an error names the clash.
    pub fn build(apps: &[AppHttp], urls: &[UrlRoute]) -> Result<Self, String> {
        let mut t = Table::default();
        let mut owners = Vec::new();
        for app in apps {
            let named = app.stage != ondol_core::manifest::DEFAULT_STAGE;
            for h in &app.hosts {
                if let Some(other) = t.stage_hosts.insert(h.clone(), app.stage.clone()) {
                    if other != app.stage {
                        return Err(format!(
                            "app {} stage {}: host {h} already serves stage {other}",
                            app.app, app.stage
                        ));
                    }
                }
            }
            let cors = app.cors.clone().map(Arc::new);
            let stage: Arc<str> = Arc::from(app.stage.as_str());
            let variables = (!app.variables.is_empty()).then(|| Arc::new(app.variables.clone()));
            let (name, plans): (Arc<str>, _) = (
                Arc::from(app.app.as_str()),
                Arc::new(app.usage_plans.clone()),
            );
            for (i, r) in app.routes.iter().enumerate() {
                let idx = t.targets.len();
                owners.push(Owner {
                    app: &app.app,
                    stage: &app.stage,
                    i,
                });
                t.targets.push(Target {
                    route: r.clone(),
                    cors: cors.clone(),
                    max_body: app.max_request_body,
                    bucket: r
                        .rate_limit
                        .map(|rl| Mutex::new(Bucket::new(rl.rps, rl.burst))),
                    rank: r.path.as_deref().map(rank).unwrap_or_default(),
                    qualifier: r.qualifier.clone(),
                    iam: false,
                    stage: stage.clone(),
                    variables: variables.clone(),
                    stats: Arc::default(),
                    billed: true,
                    auth: crate::auth::guard(app, r)?,
                    app: name.clone(),
                    plans: plans.clone(),
                });
                let routes = if named {
                    t.stages.entry(app.stage.clone()).or_default()
                } else {
                    &mut t.root
                };
                insert(routes, r, idx, &owners)?;
                // A stage's own hosts serve only the apps that claim them.
                if r.host.is_none() {
                    for h in &app.hosts {
                        insert(t.host_routes.entry(h.clone()).or_default(), r, idx, &owners)?;
                    }
                }
            }
        }
        for u in urls {
            let idx = t.targets.len();
            t.targets.push(Target {
                route: Route {
                    key: "$default".into(),
                    method: None,
                    path: None,
                    host: None,
                    function: u.function.clone(),
                    qualifier: u.qualifier.clone(),
                    payload: ondol_core::manifest::PayloadFormat::V2,
                    timeout_ms: None,
                    rate_limit: None,
                    auth: None,
                    api_key_required: false,
                },
                cors: u.cors.clone().map(Arc::new),
                max_body: 6 * 1024 * 1024,
                bucket: None,
                rank: Vec::new(),
                qualifier: u.qualifier.clone(),
                iam: u.auth_type == "AWS_IAM",
                stage: Arc::from(ondol_core::manifest::DEFAULT_STAGE),
                variables: None,
                stats: Arc::default(),
                billed: false,
                auth: None,
                app: Arc::from(""),
                plans: Arc::default(),
            });
            t.urls.insert(u.url_id.clone(), idx);
        }
        // A stage's prefix hides any `$default` route under it, and a stage's host
        // any route written for that host: both are refused rather than shadowed.
        for target in &t.targets {
            let r = &target.route;
            if &*target.stage != ondol_core::manifest::DEFAULT_STAGE {
                continue;
            }
            let first = r
                .path
                .as_deref()
                .and_then(|p| p.split('/').nth(1))
                .filter(|s| !s.starts_with('{'));
            if let Some(seg) = first.filter(|s| t.stages.contains_key(*s)) {
                return Err(format!(
                    "route \"{}\" is under the path prefix of stage {seg}; rename the stage or the route",
                    r.key
                ));
            }
            if let Some(h) = r.host.as_ref().filter(|h| t.stage_hosts.contains_key(*h)) {
                return Err(format!(
                    "route \"{}\" is for host {h}, which serves stage {}",
                    r.key, t.stage_hosts[h]
                ));
            }
        }
        Ok(t)
    }

    /// The stage routes a request goes to, with the path to match and the prefix
    /// that was stripped.
    fn stage_of<'a>(&self, host: &str, path: &'a str) -> (&Routes, &'a str, Option<&'a str>) {
        if let Some(r) = self.host_routes.get(host) {
            return (r, path, None);
        }
        // A host with `$default` routes of its own is that app's domain: no prefixes.
        if !self.stages.is_empty() && !self.root.hosts.contains_key(host) {
            let rest = &path[1.min(path.len())..];
            let (seg, tail) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            if let Some(r) = self.stages.get(seg) {
                return (r, tail, Some(&path[..seg.len() + 1]));
            }
        }
        (&self.root, path, None)
    }

    /// Gives each route the counters of its key from `reg` (a Function URL's
    /// key is `url:<function>`), so they outlive this table.
    pub fn attach_stats(&mut self, reg: &FrontDoorStats) {
        let urls: std::collections::HashSet<usize> = self.urls.values().copied().collect();
        for (i, t) in self.targets.iter_mut().enumerate() {
            t.stats = if urls.contains(&i) {
                reg.route(&format!("url:{}", t.route.function))
            } else {
                reg.route(&t.route.key)
            };
        }
    }

    /// The Function URL a host names (`<url-id>.lambda-url.<anything>`).
    pub fn url(&self, host: &str) -> Option<&Target> {
        let (id, rest) = host.split_once('.')?;
        if !rest.starts_with("lambda-url.") {
            return None;
        }
        self.urls.get(id).map(|&i| &self.targets[i])
    }

    /// The route for a request; a host's own routes before the host-less ones.
    pub fn find<'a>(&'a self, host: &str, method: &str, path: &'a str) -> Option<Matched<'a>> {
        let (routes, path, prefix) = self.stage_of(host, path);
        routes
            .hosts
            .get(host)
            .and_then(|h| self.find_in(h, method, path, prefix))
            .or_else(|| self.find_in(&routes.all, method, path, prefix))
    }

    /// Whether any route of any method matches the path (for CORS preflights).
    pub fn any_method(&self, host: &str, path: &str) -> Option<&Target> {
        let (routes, path, _) = self.stage_of(host, path);
        let tables = routes
            .hosts
            .get(host)
            .into_iter()
            .chain(std::iter::once(&routes.all));
        for h in tables {
            let found = h
                .by_method
                .values()
                .chain(std::iter::once(&h.any))
                .find_map(|r| r.at(path).ok().map(|m| *m.value));
            if let Some(i) = found.or(h.default) {
                return Some(&self.targets[i]);
            }
        }
        None
    }

    fn find_in<'a>(
        &'a self,
        h: &HostTable,
        method: &str,
        path: &'a str,
        prefix: Option<&'a str>,
    ) -> Option<Matched<'a>> {
        let exact = h.by_method.get(method).and_then(|r| r.at(path).ok());
        let any = h.any.at(path).ok();
        let pick = match (exact, any) {
            (Some(e), Some(a)) => {
                if self.targets[*a.value].rank > self.targets[*e.value].rank {
                    a
                } else {
                    e
                }
            }
            (Some(m), None) | (None, Some(m)) => m,
            (None, None) => {
                let i = h.default?;
                return Some(Matched {
                    target: &self.targets[i],
                    params: Vec::new(),
                    path,
                    prefix,
                });
            }
        };
        let params = pick
            .params
            .iter()
            .map(|(k, v)| (k.to_string(), decode(v)))
            .collect();
        Some(Matched {
            target: &self.targets[*pick.value],
            params,
            path,
            prefix,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ondol_core::manifest::Manifest;

    fn table(routes: &str) -> Table {
        let text = format!("app = \"a\"\n[functions.f]\nruntime = \"python3.11\"\nhandler = \"a.b\"\ncode = \"f\"\n{routes}");
        let d = Manifest::parse(&text, "t")
            .unwrap()
            .resolve(std::path::Path::new("/"), "t")
            .unwrap();
        Table::build(&[d.http], &[]).unwrap()
    }

    fn key<'a>(t: &'a Table, m: &str, p: &'a str) -> Option<&'a str> {
        t.find("h", m, p).map(|x| x.target.route.key.as_str())
    }

    #[test]
    fn most_specific_wins() {
        let t = table(
            r#"
[[routes]]
route = "GET /items/{id}"
function = "f"
[[routes]]
route = "ANY /items/special"
function = "f"
[[routes]]
route = "ANY /items/{proxy+}"
function = "f"
[[routes]]
route = "GET /items/{id}/detail"
function = "f"
[[routes]]
route = "$default"
function = "f"
"#,
        );
        assert_eq!(key(&t, "GET", "/items/7"), Some("GET /items/{id}"));
        assert_eq!(key(&t, "GET", "/items/special"), Some("ANY /items/special"));
        assert_eq!(key(&t, "POST", "/items/7"), Some("ANY /items/{proxy+}"));
        assert_eq!(
            key(&t, "GET", "/items/7/detail"),
            Some("GET /items/{id}/detail")
        );
        assert_eq!(key(&t, "GET", "/items/a/b/c"), Some("ANY /items/{proxy+}"));
        assert_eq!(key(&t, "GET", "/elsewhere"), Some("$default"));
        let m = t.find("h", "GET", "/items/a%20b").unwrap();
        assert_eq!(m.params, vec![("id".to_string(), "a b".to_string())]);
    }

    #[test]
    fn stages_by_prefix_and_host() {
        let text = "app = \"a\"\n[functions.f]\nruntime = \"python3.11\"\nhandler = \"a.b\"\ncode = \"f\"\n[[routes]]\nroute = \"GET /items/{id}\"\nfunction = \"f\"\n[stages.prod]\nhosts = [\"api.example.com\"]\n";
        let d = Manifest::parse(text, "t")
            .unwrap()
            .resolve(std::path::Path::new("/"), "t")
            .unwrap();
        let root = d.for_stage("$default").unwrap().http;
        let prod = d.for_stage("prod").unwrap().http;
        let t = Table::build(&[root.clone(), prod.clone()], &[]).unwrap();
        let m = t.find("h", "GET", "/prod/items/7").unwrap();
        assert_eq!(
            (&*m.target.stage, m.path, m.prefix),
            ("prod", "/items/7", Some("/prod"))
        );
        assert_eq!(m.target.qualifier.as_deref(), Some("prod"));
        let m = t.find("api.example.com", "GET", "/items/7").unwrap();
        assert_eq!(
            (&*m.target.stage, m.path, m.prefix),
            ("prod", "/items/7", None)
        );
        let m = t.find("h", "GET", "/items/7").unwrap();
        assert_eq!(
            (&*m.target.stage, m.target.qualifier.as_deref()),
            ("$default", Some("live"))
        );
        assert!(t.find("h", "GET", "/prod").is_none());
        assert!(t.find("h", "GET", "/dev/items/7").is_none());
        // A stage named like a route's first segment would hide the route.
        let mut items = prod.clone();
        items.stage = "items".into();
        items.hosts.clear();
        let e = Table::build(&[root.clone(), items], &[]).err().unwrap();
        assert!(e.contains("path prefix of stage items"), "{e}");
        // Two apps' prod stages on their own hosts, with the same route: each host
        // serves its own app.
        let mut other = prod.clone();
        other.app = "b".into();
        other.hosts = vec!["b.example.com".into()];
        for r in &mut other.routes {
            r.function = "b-f".into();
        }
        let mut other_root = root.clone();
        other_root.app = "b".into();
        other_root.routes.clear();
        let e = Table::build(
            &[
                root.clone(),
                prod.clone(),
                other_root.clone(),
                other.clone(),
            ],
            &[],
        )
        .err();
        assert!(e.is_some_and(|e| e.contains("clashes")), "both under /prod");
        for r in &mut other.routes {
            r.path = Some("/other/{id}".into());
        }
        let t = Table::build(&[root, prod, other_root, other], &[]).unwrap();
        let f = |h, p| t.find(h, "GET", p).map(|m| m.target.route.function.clone());
        assert_eq!(f("b.example.com", "/other/1").as_deref(), Some("b-f"));
        assert_eq!(f("b.example.com", "/items/1"), None);
        assert_eq!(f("api.example.com", "/other/1"), None);
        assert_eq!(f("h", "/prod/other/1").as_deref(), Some("b-f"));
    }

    #[test]
    fn buckets_refill() {
        let mut b = Bucket::new(1000.0, 2);
        assert!(b.take().is_ok() && b.take().is_ok());
        assert!(b.take().is_err());
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(b.take().is_ok());
    }
}
