//! One module per subcommand.

pub mod backup;
pub mod build;
pub mod cost;
pub mod deploy;
pub mod dev;
pub mod dlq;
pub mod domains;
pub mod import;
pub mod invoke;
pub mod keys;
pub mod layers;
pub mod logs;
pub mod plan;
pub mod release;
pub mod remove;
pub mod runtimes;
pub mod schedules;
pub mod serve;
pub mod status;
pub mod up;
