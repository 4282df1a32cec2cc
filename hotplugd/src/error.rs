//! The one error type of the binary's library.

use std::path::PathBuf;

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Scanning the USB devices failed.
    #[error("cannot list the usb devices")]
    Discovery(#[from] usb_discovery::Error),
    /// Writing the output failed (a closed pipe, a full disk).
    #[error("cannot write the output")]
    Output(#[source] std::io::Error),
    /// The configuration cannot be loaded.
    #[error("cannot load the configuration")]
    Config(#[from] crate::config::ConfigError),
    /// No subcommand and no CONFIG.
    #[error("no configuration file given (usage: libvirt-usb-hotplugd CONFIG, or --help)")]
    MissingConfig,
    /// A command this version does not have yet.
    #[error("{what} is not implemented yet")]
    NotYet {
        /// What was asked for.
        what: String,
    },
    /// A path given does not exist or is not what it should be.
    #[error("{path}: {reason}")]
    BadPath {
        /// The path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}
