//! CloudFormation's intrinsic functions, evaluated as `sam deploy` would before a
//! function ever runs: `Ref`, `Fn::Sub`, `Fn::GetAtt`, `Fn::If` with `Conditions`,
//! `Fn::Join`, `Fn::Select`, `Fn::FindInMap`. Short tags (`!Ref X`) are turned into
//! their long forms (`{Ref: X}`) when the template is read, so only those are seen here.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The pseudo parameters a template may name, as ondol's server answers them.
const REGION: &str = "us-east-1";
const ACCOUNT: &str = "000000000000";

/// A YAML document with CloudFormation tags as JSON, tags in their long forms.
pub fn to_json(v: &serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(s) => Value::Array(s.iter().map(to_json).collect()),
        Y::Mapping(m) => {
            Value::Object(m.iter().map(|(k, v)| (scalar_key(k), to_json(v))).collect())
        }
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let name = match tag {
                "Ref" | "Condition" => tag.to_string(),
                _ => format!("Fn::{tag}"),
            };
            let mut m = Map::new();
            m.insert(name, to_json(&t.value));
            Value::Object(m)
        }
    }
}

fn scalar_key(k: &serde_norway::Value) -> String {
    match k {
        serde_norway::Value::String(s) => s.clone(),
        other => serde_norway::to_string(other)
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    }
}

/// What names resolve to: parameters (after overrides), conditions, the template's
/// resources and mappings.
#[derive(Default)]
pub struct Ctx {
    pub app: String,
    pub params: BTreeMap<String, Value>,
    /// Logical id → resource type.
    pub resources: BTreeMap<String, String>,
    pub conditions: BTreeMap<String, Value>,
    pub mappings: Value,
}

/// `None` is `AWS::NoValue`: the property is left out, as CloudFormation does.
pub type Eval = Result<Option<Value>, String>;

impl Ctx {
    /// `v` with every intrinsic function replaced by its value.
    pub fn eval(&self, v: &Value) -> Eval {
        match v {
            Value::Array(items) => {
                let mut out = Vec::new();
                for i in items {
                    out.extend(self.eval(i)?);
                }
                Ok(Some(Value::Array(out)))
            }
            Value::Object(m) if m.len() == 1 => {
                let (k, arg) = m.iter().next().expect("one entry");
                match self.intrinsic(k, arg) {
                    Some(r) => r,
                    None => self.eval_map(m),
                }
            }
            Value::Object(m) => self.eval_map(m),
            other => Ok(Some(other.clone())),
        }
    }

    fn eval_map(&self, m: &Map<String, Value>) -> Eval {
        let mut out = Map::new();
        for (k, v) in m {
            if let Some(v) = self.eval(v)? {
                out.insert(k.clone(), v);
            }
        }
        Ok(Some(Value::Object(out)))
    }

    /// `v` evaluated to a string (numbers and booleans as CloudFormation prints them).
    pub fn string(&self, v: &Value) -> Result<String, String> {
        match self.eval(v)? {
            Some(Value::String(s)) => Ok(s),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(Value::Bool(b)) => Ok(b.to_string()),
            other => Err(format!("expected a string, got {}", show(&other))),
        }
    }

    fn intrinsic(&self, name: &str, arg: &Value) -> Option<Eval> {
        Some(match name {
            "Ref" => self.reference(arg),
            "Fn::Sub" => self.sub(arg).map(|s| Some(Value::String(s))),
            "Fn::GetAtt" => self.get_att(arg).map(|s| Some(Value::String(s))),
            "Fn::If" => self.if_(arg),
            "Fn::Join" => self.join(arg),
            "Fn::Select" => self.select(arg),
            "Fn::FindInMap" => self.find_in_map(arg),
            "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" | "Condition" => {
                let mut m = Map::new();
                m.insert(name.to_string(), arg.clone());
                self.condition(&Value::Object(m))
                    .map(|b| Some(Value::Bool(b)))
            }
            n if n.starts_with("Fn::") => Err(format!("{n} is not evaluated by ondol's importer")),
            _ => return None,
        })
    }

    fn reference(&self, arg: &Value) -> Eval {
        let name = arg.as_str().ok_or("Ref: expected a name")?;
        self.name(name)
            .map(|v| (name != "AWS::NoValue").then_some(v))
    }

    /// A name as `Ref` and `${Name}` resolve it.
    fn name(&self, name: &str) -> Result<Value, String> {
        let s = |x: &str| Ok(Value::String(x.to_string()));
        match name {
            "AWS::Region" => s(REGION),
            "AWS::AccountId" => s(ACCOUNT),
            "AWS::StackName" => s(&self.app),
            "AWS::Partition" => s("aws"),
            "AWS::URLSuffix" => s("amazonaws.com"),
            "AWS::NoValue" => Ok(Value::Null),
            _ => {
                if let Some(v) = self.params.get(name) {
                    return Ok(v.clone());
                }
                match self.resources.get(name).map(String::as_str) {
                    Some("AWS::Serverless::Function") => s(&format!("{}-{name}", self.app)),
                    Some("AWS::Serverless::LayerVersion") => s(name),
                    Some(t) => Err(format!(
                        "refers to {name} ({t}), a resource ondol does not create"
                    )),
                    None => Err(format!("Ref: no parameter or resource named {name}")),
                }
            }
        }
    }

    fn get_att(&self, arg: &Value) -> Result<String, String> {
        let (id, attr) = match arg {
            Value::String(s) => s
                .split_once('.')
                .ok_or("GetAtt: expected Resource.Attribute")?,
            Value::Array(a) if a.len() == 2 => (
                a[0].as_str().ok_or("GetAtt: expected a resource name")?,
                a[1].as_str().ok_or("GetAtt: expected an attribute name")?,
            ),
            _ => return Err("GetAtt: expected Resource.Attribute".into()),
        };
        self.attribute(id, attr)
    }

    fn attribute(&self, id: &str, attr: &str) -> Result<String, String> {
        match (self.resources.get(id).map(String::as_str), attr) {
            (Some("AWS::Serverless::Function"), "Arn") => Ok(format!(
                "arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}-{id}",
                self.app
            )),
            (Some(t), _) => Err(format!(
                "GetAtt {id}.{attr}: {id} is {t}; ondol knows only a function's Arn"
            )),
            (None, _) => Err(format!("GetAtt: no resource named {id}")),
        }
    }

    fn sub(&self, arg: &Value) -> Result<String, String> {
        let (text, vars) = match arg {
            Value::String(s) => (s.as_str(), Map::new()),
            Value::Array(a) if a.len() == 2 => (
                a[0].as_str().ok_or("Sub: expected a string")?,
                a[1].as_object()
                    .cloned()
                    .ok_or("Sub: expected a map of variables")?,
            ),
            _ => return Err("Sub: expected a string or [string, {variables}]".into()),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let end = after.find('}').ok_or("Sub: unclosed ${")?;
            let name = &after[..end];
            if let Some(lit) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(lit);
                out.push('}');
            } else if let Some(v) = vars.get(name) {
                out.push_str(&self.string(v)?);
            } else if let Some((id, attr)) =
                name.split_once('.').filter(|_| !name.starts_with("AWS::"))
            {
                out.push_str(&self.attribute(id, attr)?);
            } else {
                out.push_str(&self.string(&self.name(name)?)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn if_(&self, arg: &Value) -> Eval {
        let a = arg
            .as_array()
            .filter(|a| a.len() == 3)
            .ok_or("If: expected [Condition, then, else]")?;
        let name = a[0].as_str().ok_or("If: expected a condition name")?;
        let branch = if self.named_condition(name)? {
            &a[1]
        } else {
            &a[2]
        };
        self.eval(branch)
    }

    fn named_condition(&self, name: &str) -> Result<bool, String> {
        let c = self
            .conditions
            .get(name)
            .ok_or_else(|| format!("no condition named {name}"))?;
        self.condition(c)
    }

    /// A condition's truth: `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`.
    pub fn condition(&self, c: &Value) -> Result<bool, String> {
        let m = c
            .as_object()
            .filter(|m| m.len() == 1)
            .ok_or("expected a condition function")?;
        let (k, arg) = m.iter().next().expect("one entry");
        let list = || {
            arg.as_array()
                .ok_or_else(|| format!("{k}: expected a list"))
        };
        match k.as_str() {
            "Condition" => self.named_condition(arg.as_str().ok_or("Condition: expected a name")?),
            "Fn::Equals" => {
                let l = list()?;
                if l.len() != 2 {
                    return Err("Equals: expected two values".into());
                }
                Ok(self.string(&l[0])? == self.string(&l[1])?)
            }
            "Fn::Not" => {
                Ok(!self.condition(list()?.first().ok_or("Not: expected one condition")?)?)
            }
            "Fn::And" => list()?
                .iter()
                .try_fold(true, |a, c| Ok(a && self.condition(c)?)),
            "Fn::Or" => list()?
                .iter()
                .try_fold(false, |a, c| Ok(a || self.condition(c)?)),
            other => Err(format!("{other} is not a condition function")),
        }
    }

    fn join(&self, arg: &Value) -> Eval {
        let a = arg
            .as_array()
            .filter(|a| a.len() == 2)
            .ok_or("Join: expected [delimiter, [values]]")?;
        let sep = a[0].as_str().ok_or("Join: expected a delimiter")?;
        let items = match self.eval(&a[1])? {
            Some(Value::Array(items)) => items,
            _ => return Err("Join: expected a list of values".into()),
        };
        let parts: Result<Vec<String>, String> = items.iter().map(|i| self.string(i)).collect();
        Ok(Some(Value::String(parts?.join(sep))))
    }

    fn select(&self, arg: &Value) -> Eval {
        let a = arg
            .as_array()
            .filter(|a| a.len() == 2)
            .ok_or("Select: expected [index, [values]]")?;
        let i: usize = self
            .string(&a[0])?
            .parse()
            .map_err(|_| "Select: expected an index")?;
        match self.eval(&a[1])? {
            Some(Value::Array(items)) => items
                .get(i)
                .cloned()
                .map(Some)
                .ok_or_else(|| format!("Select: no item {i}")),
            _ => Err("Select: expected a list".into()),
        }
    }

    fn find_in_map(&self, arg: &Value) -> Eval {
        let a = arg
            .as_array()
            .filter(|a| a.len() == 3)
            .ok_or("FindInMap: expected [map, key, key]")?;
        let (m, k1, k2) = (
            self.string(&a[0])?,
            self.string(&a[1])?,
            self.string(&a[2])?,
        );
        let v = self
            .mappings
            .get(&m)
            .and_then(|x| x.get(&k1))
            .and_then(|x| x.get(&k2));
        v.map(|v| self.eval(v))
            .unwrap_or_else(|| Err(format!("FindInMap: no {m}.{k1}.{k2} in Mappings")))
    }
}

fn show(v: &Option<Value>) -> String {
    match v {
        None => "AWS::NoValue".into(),
        Some(v) => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Ctx {
        let mut c = Ctx {
            app: "shop".into(),
            ..Default::default()
        };
        c.params.insert("Stage".into(), json!("prod"));
        c.resources
            .insert("Hello".into(), "AWS::Serverless::Function".into());
        c.resources
            .insert("Table".into(), "AWS::DynamoDB::Table".into());
        c.conditions.insert(
            "IsProd".into(),
            json!({"Fn::Equals": [{"Ref": "Stage"}, "prod"]}),
        );
        c
    }

    fn yaml(s: &str) -> Value {
        to_json(&serde_norway::from_str(s).unwrap())
    }

    #[test]
    fn short_and_long_forms_agree() {
        let c = ctx();
        let v = yaml("a: !Sub 'x-${Stage}-${Hello}-${!Lit}'\nb: {'Fn::Sub': 'x-${Stage}'}\nc: !GetAtt Hello.Arn\nd: !If [IsProd, 512, 128]\ne: !Ref AWS::NoValue\nf: !Join ['-', [a, !Ref Stage]]");
        let out = c.eval(&v).unwrap().unwrap();
        assert_eq!(out["a"], "x-prod-shop-Hello-${Lit}");
        assert_eq!(out["b"], "x-prod");
        assert_eq!(
            out["c"],
            "arn:aws:lambda:us-east-1:000000000000:function:shop-Hello"
        );
        assert_eq!(out["d"], 512);
        assert!(out.get("e").is_none());
        assert_eq!(out["f"], "a-prod");
    }

    #[test]
    fn refs_to_resources_ondol_does_not_create_are_errors() {
        let c = ctx();
        let err = c.eval(&yaml("!Ref Table")).unwrap_err();
        assert!(err.contains("AWS::DynamoDB::Table"), "{err}");
        assert!(c.eval(&yaml("!GetAtt Table.Arn")).is_err());
        assert!(c.eval(&yaml("!Ref Nope")).is_err());
    }

    #[test]
    fn conditions_combine() {
        let c = ctx();
        let v = yaml("!If [IsProd, yes, no]");
        assert_eq!(c.eval(&v).unwrap().unwrap(), "yes");
        let v = yaml("{'Fn::Not': [{Condition: IsProd}]}");
        assert!(!c.condition(&v).unwrap());
    }
}
