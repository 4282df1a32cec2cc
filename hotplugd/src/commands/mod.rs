//! One module per subcommand, and what they share.

pub mod check;
pub mod explain;
pub mod list;
pub mod run;

use std::io::Write;

use crate::Error;

/// Writes `text` to standard output and flushes it.
pub fn print(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}
