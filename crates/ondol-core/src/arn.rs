//! Lambda ARNs: `arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]` and
//! `arn:aws:lambda:<region>:<account>:layer:<name>[:<version>]`.

use serde::{Deserialize, Serialize};

/// Region and account id used to build ARNs (defaults `us-east-1`, `000000000000`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Arn {
    pub region: String,
    pub account: String,
}

impl Default for Arn {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            account: "000000000000".into(),
        }
    }
}

impl Arn {
    /// The unqualified function ARN.
    pub fn function(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region, self.account, name
        )
    }

    /// The ARN as invoked: qualified unless the qualifier is absent.
    pub fn qualified(&self, name: &str, qualifier: Option<&str>) -> String {
        match qualifier {
            Some(q) => format!("{}:{}", self.function(name), q),
            None => self.function(name),
        }
    }

    /// A layer's ARN (without a version).
    pub fn layer(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:layer:{}",
            self.region, self.account, name
        )
    }

    /// One layer version's ARN.
    pub fn layer_version(&self, name: &str, version: u32) -> String {
        format!("{}:{version}", self.layer(name))
    }
}

/// A parsed layer ARN: `arn:<partition>:lambda:<region>:<account>:layer:<name>[:<version>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerArn {
    pub region: String,
    pub account: String,
    pub name: String,
    pub version: Option<u32>,
}

impl LayerArn {
    /// Parses a layer ARN, with or without its version; `None` if it is not one.
    pub fn parse(s: &str) -> Option<Self> {
        let parts: Vec<&str> = s.split(':').collect();
        let (region, account, name) = match parts.as_slice() {
            ["arn", p, "lambda", r, a, "layer", n, ..] if !p.is_empty() => (*r, *a, *n),
            _ => return None,
        };
        let version = match parts.len() {
            7 => None,
            8 => Some(
                parts[7]
                    .parse()
                    .ok()
                    .filter(|_| parts[7].bytes().all(|b| b.is_ascii_digit()))?,
            ),
            _ => return None,
        };
        let ok_region = !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let ok_account = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        (ok_region && ok_account && crate::name::valid_layer_name(name)).then(|| Self {
            region: region.into(),
            account: account.into(),
            name: name.into(),
            version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_layer_arns() {
        let a = LayerArn::parse("arn:aws:lambda:us-east-1:000000000000:layer:deps:3").unwrap();
        assert_eq!((a.name.as_str(), a.version), ("deps", Some(3)));
        let a = LayerArn::parse("arn:aws:lambda:eu-west-1:123456789012:layer:x").unwrap();
        assert_eq!((a.region.as_str(), a.version), ("eu-west-1", None));
        for bad in [
            "arn:aws:lambda:us-east-1:000000000000:layer:deps:x",
            "arn:aws:lambda:us-east-1:000000000000:layer:deps:-1",
            "arn:aws:lambda:us-east-1:0:layer:deps:1",
            "arn:aws:lambda:us-east-1:000000000000:function:deps:1",
            "arn:aws:lambda:us-east-1:000000000000:layer:a/b:1",
            "deps",
        ] {
            assert!(LayerArn::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn builds_arns() {
        let a = Arn::default();
        assert_eq!(
            a.function("f"),
            "arn:aws:lambda:us-east-1:000000000000:function:f"
        );
        assert_eq!(
            a.qualified("f", Some("$LATEST")),
            "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST"
        );
    }
}
