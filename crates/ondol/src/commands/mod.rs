//! One module per subcommand.

pub mod invoke;
pub mod logs;
pub mod serve;
