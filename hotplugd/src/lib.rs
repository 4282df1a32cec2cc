//! The library behind the `libvirt-usb-hotplugd` binary: the command line, the commands, the
//! configuration files, the reconcile (observe → match → plan → apply → report) and the daemon
//! loop. `main.rs` only parses and calls [`execute`].
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
pub mod daemon;
mod error;
pub mod explain;
pub mod logging;
pub mod options;
pub mod reconcile;
pub mod report;
pub mod state;
pub mod version;

use std::path::PathBuf;
use std::process::ExitCode;

pub use error::Error;
/// An error and its sources on one line, joined by `: `.
pub use libvirt_sync::error_chain;

use cli::{Cli, Command};

/// Runs what the command line asks for and returns the process's exit status.
pub fn execute(cli: Cli) -> Result<ExitCode, Error> {
    let run_options = |config: PathBuf, dry_run: bool| options::RunOptions {
        config_path: config,
        root: cli.root.clone(),
        libvirt_uri: cli.libvirt_uri.clone(),
        dry_run,
        state_dir: cli.state_dir.clone(),
        data_dir: cli.data_dir.clone(),
    };
    let state = state::StateDir::new(&cli.state_dir);
    match cli.command {
        Some(Command::Status { json }) => commands::status::run(&state, json),
        Some(Command::Detach { ref device }) => commands::control::run(
            &state,
            state::control::Request::Detach {
                device: device.clone(),
            },
        ),
        Some(Command::Attach { ref device, ref to }) => commands::control::run(
            &state,
            state::control::Request::Attach {
                device: device.clone(),
                to: to.clone(),
            },
        ),
        Some(Command::List { json }) => commands::list::run(&cli.root, json),
        Some(Command::Check { ref config }) => commands::check::run(config),
        Some(Command::Explain { ref config, json }) => {
            commands::explain::run(&run_options(config.clone(), true), json)
        }
        Some(Command::Run {
            ref config,
            once: true,
            dry_run,
            json,
        }) => commands::run::once(&run_options(config.clone(), dry_run), json),
        Some(Command::Run {
            ref config,
            once: false,
            dry_run,
            ..
        }) => daemon::run(&run_options(config.clone(), dry_run)),
        None => match cli.config {
            Some(ref config) => daemon::run(&run_options(config.clone(), false)),
            None => Err(Error::MissingConfig),
        },
    }
}
