//! The library behind the `libvirt-usb-hotplugd` binary: the command line, the commands, and (in
//! later modules) the configuration files and the main loop. `main.rs` only parses and calls
//! [`execute`].
//!
//! ```no_run
//! use clap::Parser;
//! use hotplugd::cli::Cli;
//!
//! let cli = Cli::parse_from(["libvirt-usb-hotplugd", "--root", "examples/demo/root", "list"]);
//! let exit = hotplugd::execute(cli).expect("listing works");
//! ```
#![forbid(unsafe_code)]

pub mod backoff;
pub mod cli;
pub mod commands;
pub mod config;
mod error;
pub mod logging;

use std::process::ExitCode;

pub use error::Error;

use cli::{Cli, Command};

/// Runs what the command line asks for and returns the process's exit status.
pub fn execute(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Some(Command::List { json }) => commands::list::run(&cli.root, json),
        Some(Command::Check { config }) => commands::check::run(&config),
        None => match cli.config {
            Some(config) => Err(Error::NotYet {
                what: format!("running the daemon with {}", config.display()),
            }),
            None => Err(Error::MissingConfig),
        },
    }
}

/// An error and its sources on one line, joined by `: `.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}
