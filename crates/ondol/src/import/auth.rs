//! Authorizers and usage plans found by an importer, written as ondol's
//! `[authorizers.NAME]` and `[usage_plans.NAME]`. An authorizer the importer cannot
//! map is an error, never a route left open: a route that was protected must stay so.

use toml_edit::{value, Array, Item, Table};

/// What an authorizer checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `iss` and accepted audiences.
    Jwt {
        issuer: String,
        audience: Vec<String>,
    },
    /// A function of the app (its key) and how long its answers are reused (seconds).
    Lambda { function: String, ttl: u64 },
}

/// One authorizer as ondol's manifest takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Def {
    pub kind: Kind,
    /// `$request.header.NAME` / `$request.querystring.NAME`; empty: the default.
    pub identity: Vec<String>,
}

/// A usage plan: steady rate, burst and a quota `(limit, period)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub rate: Option<f64>,
    pub burst: Option<u64>,
    pub quota: Option<(u64, String)>,
}

/// The authorizers and plans of an import, by ondol name, each with where it came from.
#[derive(Default)]
pub struct Auths {
    authorizers: Vec<(String, Def, String)>,
    plans: Vec<(String, Plan, String)>,
}

impl Auths {
    /// Adds `def` as `name`; the same name twice must mean the same authorizer.
    pub fn add(&mut self, name: &str, def: Def, from: &str) -> Result<(), String> {
        match self.authorizers.iter().find(|(n, _, _)| n == name) {
            Some((_, d, _)) if *d == def => Ok(()),
            Some((_, _, at)) => Err(format!(
                "authorizer {name} is also defined, differently, at {at}; rename one"
            )),
            None => {
                self.authorizers.push((name.into(), def, from.into()));
                Ok(())
            }
        }
    }

    pub fn add_plan(&mut self, name: &str, plan: Plan, from: &str) {
        self.plans.push((name.into(), plan, from.into()));
    }

    /// `[authorizers]` and `[usage_plans]` into `doc`.
    pub fn render(self, doc: &mut toml_edit::DocumentMut) {
        let mut a = implicit();
        for (name, d, from) in self.authorizers {
            a.insert(&name, Item::Table(authorizer_table(&d, &from)));
        }
        if !a.is_empty() {
            doc.insert("authorizers", Item::Table(a));
        }
        let mut p = implicit();
        for (name, plan, from) in self.plans {
            p.insert(&name, Item::Table(plan_table(&plan, &from)));
        }
        if !p.is_empty() {
            doc.insert("usage_plans", Item::Table(p));
        }
    }
}

fn implicit() -> Table {
    let mut t = Table::new();
    t.set_implicit(true);
    t
}

fn authorizer_table(d: &Def, from: &str) -> Table {
    let mut t = Table::new();
    t.decor_mut().set_prefix(format!("\n# from {from}\n"));
    match &d.kind {
        Kind::Jwt { issuer, audience } => {
            t["type"] = value("jwt");
            t["issuer"] = value(issuer);
            t["audience"] = value(Array::from_iter(audience));
            if let Some(s) = d.identity.first() {
                t["identity_source"] = value(s);
            }
        }
        Kind::Lambda { function, ttl } => {
            t["type"] = value("lambda");
            t["function"] = value(function);
            if !d.identity.is_empty() {
                t["identity_source"] = value(Array::from_iter(&d.identity));
            }
            if *ttl > 0 {
                t["ttl"] = value(format!("{ttl}s"));
            }
        }
    }
    t
}

fn plan_table(p: &Plan, from: &str) -> Table {
    let mut t = Table::new();
    t.decor_mut().set_prefix(format!("\n# from {from}\n"));
    if let Some(r) = p.rate {
        t["rate"] = value(r);
    }
    if let Some(b) = p.burst {
        t["burst"] = value(b as i64);
    }
    if let Some((limit, period)) = &p.quota {
        let mut q = toml_edit::InlineTable::new();
        q.insert("limit", (*limit as i64).into());
        q.insert("period", period.as_str().into());
        t["quota"] = value(q);
    }
    t
}

/// A REST API identity source (`method.request.header.Auth`) as HTTP API's.
pub fn rest_identity(s: &str) -> Result<String, String> {
    let s = s.trim();
    if let Some(n) = s.strip_prefix("method.request.header.") {
        return Ok(format!("$request.header.{n}"));
    }
    if let Some(n) = s.strip_prefix("method.request.querystring.") {
        return Ok(format!("$request.querystring.{n}"));
    }
    if s.starts_with("$request.header.") || s.starts_with("$request.querystring.") {
        return Ok(s.to_string());
    }
    Err(format!(
        "identity source {s:?}: ondol reads headers and query strings only"
    ))
}

/// A quota period as API Gateway spells it (`DAY`) as ondol's (`day`).
pub fn period(p: &str) -> Result<String, String> {
    match p.to_ascii_lowercase().as_str() {
        x @ ("day" | "week" | "month") => Ok(x.to_string()),
        _ => Err(format!("quota period {p:?}: expected DAY, WEEK or MONTH")),
    }
}

/// Sets a route's `auth` and `scopes`.
pub fn protect(t: &mut Table, name: &str, scopes: &[String]) {
    t["auth"] = value(name);
    if !scopes.is_empty() {
        t["scopes"] = value(Array::from_iter(scopes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_sources_and_periods() {
        assert_eq!(
            rest_identity("method.request.header.Authorization").unwrap(),
            "$request.header.Authorization"
        );
        assert_eq!(
            rest_identity("method.request.querystring.t").unwrap(),
            "$request.querystring.t"
        );
        assert!(rest_identity("context.identity.sourceIp").is_err());
        assert_eq!(period("MONTH").unwrap(), "month");
        assert!(period("YEAR").is_err());
    }

    #[test]
    fn one_name_one_authorizer() {
        let mut a = Auths::default();
        let jwt = |i: &str| Def {
            kind: Kind::Jwt {
                issuer: i.into(),
                audience: vec!["a".into()],
            },
            identity: vec![],
        };
        a.add("u", jwt("https://a/"), "x").unwrap();
        a.add("u", jwt("https://a/"), "y").unwrap();
        assert!(a
            .add("u", jwt("https://b/"), "z")
            .unwrap_err()
            .contains("at x"));
    }
}
