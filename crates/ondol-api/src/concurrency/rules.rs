//! Lambda's concurrency accounting, checked before a reservation or a provisioned
//! config is stored: the node's limit less its unreserved minimum is all that
//! reservations may take, reserved concurrency covers the function's provisioned
//! configs, and an alias and the version it points to are not both provisioned.
//! Each message is AWS's own (recorded answers in LocalStack's
//! `tests/aws/services/lambda_/test_lambda_api.snapshot.json` and
//! `test_lambda.snapshot.json`).

use ondol_store::FunctionRecord;

use crate::catalog::version_of;
use crate::error::{ApiError, Result};

/// The node's concurrency, as Lambda's account: a limit, and the part of it no
/// reservation may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLimits {
    /// `ConcurrentExecutions` in GetAccountSettings (AWS's default 1000).
    pub limit: u32,
    /// `UnreservedConcurrentExecutions` may not go below this (AWS: 100).
    pub unreserved_min: u32,
}

impl Default for NodeLimits {
    fn default() -> Self {
        Self {
            limit: 1000,
            unreserved_min: 100,
        }
    }
}

/// What every function has taken out of the node's concurrency.
#[derive(Debug, Default, Clone, Copy)]
pub struct Taken {
    /// Reserved concurrency of every function.
    pub reserved: u64,
    /// Provisioned concurrency of functions without a reservation (it comes out
    /// of the unreserved pool).
    pub provisioned_unreserved: u64,
}

impl Taken {
    /// Everything `all` takes, leaving out one function (the one being changed).
    pub fn of(all: &[FunctionRecord], except: &str) -> Self {
        let mut t = Self::default();
        for r in all.iter().filter(|r| r.config.name != except) {
            match r.reserved_concurrency {
                Some(n) => t.reserved += u64::from(n),
                None => t.provisioned_unreserved += u64::from(provisioned_total(r, None)),
            }
        }
        t
    }
}

/// The sum of a function's provisioned configs, leaving out one qualifier.
pub fn provisioned_total(rec: &FunctionRecord, except: Option<&str>) -> u32 {
    rec.provisioned
        .iter()
        .filter(|(q, _)| Some(q.as_str()) != except)
        .map(|(_, p)| p.requested)
        .sum()
}

fn below_min(what: &str, min: u32) -> ApiError {
    ApiError::InvalidParameter(format!(
        "Specified {what} for function decreases account's UnreservedConcurrentExecution below its minimum value of [{min}]."
    ))
}

/// PutFunctionConcurrency of `n` on `rec`, with `others` taken by the other functions.
pub fn check_reserved(node: NodeLimits, others: Taken, rec: &FunctionRecord, n: u32) -> Result<()> {
    let provisioned = provisioned_total(rec, None);
    if n < provisioned {
        // AWS's text, its doubled spaces included.
        return Err(ApiError::InvalidParameter(format!(
            " ReservedConcurrentExecutions  {n} should not be lower than function's total provisioned concurrency [{provisioned}]."
        )));
    }
    let taken = others.reserved + others.provisioned_unreserved + u64::from(n);
    if taken + u64::from(node.unreserved_min) > u64::from(node.limit) {
        return Err(below_min(
            "ReservedConcurrentExecutions",
            node.unreserved_min,
        ));
    }
    Ok(())
}

/// PutProvisionedConcurrencyConfig of `n` on `rec:qual`.
pub fn check_provisioned(
    node: NodeLimits,
    others: Taken,
    rec: &FunctionRecord,
    qual: &str,
    n: u32,
) -> Result<()> {
    conflicts(rec, qual)?;
    let total = provisioned_total(rec, Some(qual)) + n;
    if let Some(reserved) = rec.reserved_concurrency {
        if total > reserved {
            return Err(ApiError::InvalidParameter(
                "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function".into(),
            ));
        }
        return Ok(());
    }
    let taken = others.reserved + others.provisioned_unreserved;
    let own = u64::from(provisioned_total(rec, Some(qual)));
    let unreserved = u64::from(node.limit).saturating_sub(taken + own);
    if u64::from(n) > unreserved {
        return Err(ApiError::InvalidParameter(format!(
            "Specified ConcurrentExecutions for function is greater than account's unreserved concurrency [{unreserved}]."
        )));
    }
    if unreserved - u64::from(n) < u64::from(node.unreserved_min) {
        return Err(below_min("ConcurrentExecutions", node.unreserved_min));
    }
    Ok(())
}

/// An alias and the version it points to cannot both be provisioned.
fn conflicts(rec: &FunctionRecord, qual: &str) -> Result<()> {
    if let Some(alias) = rec.aliases.get(qual) {
        if rec.provisioned.contains_key(&alias.function_version) {
            return Err(ApiError::Conflict(
                "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version".into(),
            ));
        }
        return Ok(());
    }
    let by_alias = rec
        .provisioned
        .keys()
        .filter(|q| rec.aliases.contains_key(*q))
        .any(|q| version_of(rec, q).as_deref() == Some(qual));
    if by_alias {
        return Err(ApiError::Conflict(
            "Version is pointed by a Provisioned Concurrency alias".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(limit: u32, min: u32) -> NodeLimits {
        NodeLimits {
            limit,
            unreserved_min: min,
        }
    }

    #[test]
    fn reservations_leave_the_unreserved_minimum() {
        let others = Taken {
            reserved: 3,
            provisioned_unreserved: 0,
        };
        let cfg = ondol_core::FunctionConfig::new("f", "python3.12");
        let rec = FunctionRecord::new(
            cfg,
            String::new(),
            0,
            String::new(),
            String::new(),
            Default::default(),
        );
        assert!(check_reserved(node(10, 5), others, &rec, 2).is_ok());
        let e = check_reserved(node(10, 5), others, &rec, 3).unwrap_err();
        assert!(
            e.to_string().ends_with("below its minimum value of [5]."),
            "{e}"
        );
    }
}
