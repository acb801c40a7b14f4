//! Serverless Framework variables (`${self:custom.x}`, `${opt:stage, 'dev'}`,
//! `${sls:stage}`, `${env:X}`), resolved over the whole parsed `serverless.yml`
//! before it is mapped. Sources ondol cannot read (`ssm:`, `cf:`, `s3:`,
//! `file(...)`) stay as written and are named, so the report can list them.

use serde_norway::{Mapping, Value};

/// How deep `${self:...}` references may chain (a cycle stops here).
const MAX_DEPTH: usize = 16;

/// What variables resolve against.
pub struct Vars<'a> {
    /// The file as parsed, for `${self:...}`.
    pub root: &'a Value,
    /// `--stage` (`${opt:stage}`), if given.
    pub opt_stage: Option<&'a str>,
    /// The stage in effect (`${sls:stage}`): `--stage`, else `provider.stage`, else `dev`.
    pub stage: String,
    /// Reads the environment (`${env:X}`); a map in tests.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// A variable that could not be resolved, with where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    pub key: String,
    pub expr: String,
}

impl Vars<'_> {
    /// `v` with every variable resolved; the ones that could not be are appended to `bad`.
    pub fn resolve(&self, v: &Value, key: &str, bad: &mut Vec<Unresolved>) -> Value {
        self.resolve_at(v, key, bad, 0)
    }

    fn resolve_at(&self, v: &Value, key: &str, bad: &mut Vec<Unresolved>, depth: usize) -> Value {
        match v {
            Value::String(s) => self.resolve_str(s, key, bad, depth),
            Value::Sequence(items) => Value::Sequence(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| self.resolve_at(x, &format!("{key}[{i}]"), bad, depth))
                    .collect(),
            ),
            Value::Mapping(m) => {
                let mut out = Mapping::new();
                for (k, x) in m {
                    let sub = join(key, &scalar_text(k));
                    out.insert(k.clone(), self.resolve_at(x, &sub, bad, depth));
                }
                Value::Mapping(out)
            }
            other => other.clone(),
        }
    }

    /// Resolves the innermost `${...}` first, so `${self:custom.${sls:stage}}` works.
    /// A string that is exactly one variable takes the referenced value's type.
    fn resolve_str(&self, s: &str, key: &str, bad: &mut Vec<Unresolved>, depth: usize) -> Value {
        let mut text = s.to_string();
        let mut kept = Vec::new();
        while let Some((start, end)) = innermost(&text, &kept) {
            let expr = &text[start + 2..end];
            match self.lookup(expr, key, depth) {
                Some(v) if start == 0 && end + 1 == text.len() && !is_scalar(&v) => return v,
                Some(v) => text.replace_range(start..=end, &scalar_text(&v)),
                None => {
                    bad.push(Unresolved {
                        key: key.to_string(),
                        expr: text[start..=end].to_string(),
                    });
                    kept.push(start);
                }
            }
        }
        if kept.is_empty() && text != s {
            // A whole-string number or bool keeps its type (`timeout: ${self:custom.t}`).
            if let Ok(v) = serde_norway::from_str::<Value>(&text) {
                if is_scalar(&v) && !matches!(v, Value::Null) {
                    return v;
                }
            }
        }
        Value::String(text)
    }

    /// One `${...}` body: sources separated by commas, the first that resolves wins.
    fn lookup(&self, expr: &str, key: &str, depth: usize) -> Option<Value> {
        split_top(expr)
            .into_iter()
            .find_map(|alt| self.source(alt.trim(), key, depth))
    }

    fn source(&self, src: &str, key: &str, depth: usize) -> Option<Value> {
        if let Some(lit) = quoted(src) {
            return Some(Value::String(lit.to_string()));
        }
        if let Ok(n) = src.parse::<i64>() {
            return Some(Value::Number(n.into()));
        }
        if let Some((kind, arg)) = src.split_once(':') {
            let arg = arg.trim();
            return match kind.trim() {
                "self" => {
                    if depth >= MAX_DEPTH {
                        return None;
                    }
                    let found = path(self.root, arg)?;
                    // The referenced key's own holes are reported at that key.
                    let mut inner = Vec::new();
                    let v = self.resolve_at(found, key, &mut inner, depth + 1);
                    inner.is_empty().then_some(v)
                }
                "opt" if arg == "stage" => self.opt_stage.map(|s| Value::String(s.into())),
                "sls" if arg == "stage" => Some(Value::String(self.stage.clone())),
                "env" => (self.env)(arg).map(Value::String),
                _ => None,
            };
        }
        None
    }
}

/// The byte range (`$` .. `}`) of a `${...}` that holds no other, skipping those at `kept`.
fn innermost(text: &str, kept: &[usize]) -> Option<(usize, usize)> {
    let mut best = None;
    let mut from = 0;
    while let Some(i) = text[from..].find("${").map(|i| i + from) {
        if !kept.contains(&i) {
            if let Some(close) = text[i + 2..].find('}').map(|c| c + i + 2) {
                if !text[i + 2..close].contains("${") {
                    best = Some((i, close));
                }
            }
        }
        from = i + 2;
    }
    best
}

/// Splits `a, 'b, c', d` at the commas outside quotes.
fn split_top(expr: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quote, mut start) = (None, 0);
    for (i, c) in expr.char_indices() {
        match (c, quote) {
            ('\'' | '"', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            (',', None) => {
                out.push(&expr[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&expr[start..]);
    out
}

fn quoted(s: &str) -> Option<&str> {
    ['\'', '"'].iter().find_map(|q| {
        s.strip_prefix(*q)
            .and_then(|r| r.strip_suffix(*q))
            .filter(|_| s.len() >= 2)
    })
}

/// `a.b.c` inside `root`; an empty path is the whole file.
fn path<'v>(root: &'v Value, p: &str) -> Option<&'v Value> {
    p.split('.')
        .filter(|s| !s.is_empty())
        .try_fold(root, |v, seg| v.get(seg))
}

fn is_scalar(v: &Value) -> bool {
    matches!(
        v,
        Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null
    )
}

/// A scalar as text (the form it takes inside a larger string).
pub fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => serde_norway::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

pub fn join(key: &str, sub: &str) -> String {
    if key.is_empty() {
        sub.to_string()
    } else {
        format!("{key}.{sub}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(yaml: &str, opt_stage: Option<&str>) -> (Value, Vec<Unresolved>) {
        let root: Value = serde_norway::from_str(yaml).unwrap();
        let env = |k: &str| (k == "HOME_TOWN").then(|| "Seoul".to_string());
        let vars = Vars {
            root: &root,
            opt_stage,
            stage: opt_stage.unwrap_or("dev").into(),
            env: &env,
        };
        let mut bad = Vec::new();
        (vars.resolve(&root, "", &mut bad), bad)
    }

    #[test]
    fn resolves_self_opt_sls_env_and_nesting() {
        let (v, bad) = run(
            "custom:\n  table: t-${sls:stage}\n  mem: {dev: 256, prod: 1024}\n  cfg: {a: 1}\n\
             provider:\n  stage: ${opt:stage, 'dev'}\n  memorySize: ${self:custom.mem.${sls:stage}}\n\
             x: ${self:custom.table}\ny: ${env:HOME_TOWN}\nz: ${env:NOPE, \"fallback\"}\nw: ${self:custom.cfg}\n",
            Some("prod"),
        );
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(v["provider"]["stage"], Value::String("prod".into()));
        assert_eq!(v["provider"]["memorySize"], Value::Number(1024.into()));
        assert_eq!(v["x"], Value::String("t-prod".into()));
        assert_eq!(v["y"], Value::String("Seoul".into()));
        assert_eq!(v["z"], Value::String("fallback".into()));
        assert!(v["w"].is_mapping());
    }

    #[test]
    fn unknown_sources_are_kept_and_named() {
        let (v, bad) = run("a: pre-${ssm:/secret}-post\nb: ${self:a}\n", None);
        assert_eq!(v["a"], Value::String("pre-${ssm:/secret}-post".into()));
        assert_eq!(bad[0].key, "a");
        assert_eq!(bad[0].expr, "${ssm:/secret}");
        assert_eq!(bad.len(), 2, "b refers to a and inherits its hole");
    }

    #[test]
    fn a_cycle_stops() {
        let (_, bad) = run("a: ${self:b}\nb: ${self:a}\n", None);
        assert!(!bad.is_empty());
    }
}
