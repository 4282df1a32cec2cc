//! One module per subcommand, and what they share.

pub mod check;
pub mod control;
pub mod explain;
pub mod list;
pub mod run;
pub mod status;

use std::io::Write;

use crate::Error;

/// The exit status of `status`, `attach` and `detach` when no daemon runs (systemctl's "not
/// running").
pub const NOT_RUNNING: u8 = 3;

/// Writes `text` to standard output and flushes it.
pub fn print(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}
