//! One module per subcommand.

pub mod check;
pub mod explain;
pub mod list;
pub mod run;
