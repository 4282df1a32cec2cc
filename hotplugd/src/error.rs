//! The one error type of the binary's library.

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Scanning the USB devices failed.
    #[error("cannot list the usb devices")]
    Discovery(#[from] usb_discovery::Error),
    /// libvirt could not be reached or refused an operation.
    #[error(transparent)]
    Libvirt(#[from] libvirt_sync::Error),
    /// The signal handlers cannot be installed.
    #[error("cannot install the signal handlers")]
    Signals(#[source] std::io::Error),
    /// Writing the output failed (a closed pipe, a full disk).
    #[error("cannot write the output")]
    Output(#[source] std::io::Error),
    /// The configuration cannot be loaded.
    #[error("cannot load the configuration")]
    Config(#[from] crate::config::ConfigError),
    /// The state or data directory cannot be used, or another daemon holds it.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// A request to the running daemon failed.
    #[error("cannot ask the running daemon")]
    Control(#[from] crate::state::control::ControlError),
    /// No subcommand and no CONFIG.
    #[error("no configuration file given (usage: libvirt-usb-hotplugd CONFIG, or --help)")]
    MissingConfig,
}
