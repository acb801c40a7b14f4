//! Lambda ARNs: `arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`.

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
}

#[cfg(test)]
mod tests {
    use super::*;

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
