//! The one error type of discovery.

use std::path::PathBuf;

/// A scan, or the reading of one device, failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The device list itself cannot be read: the whole scan fails.
    #[error("cannot list {path}")]
    ListDevices {
        /// `<root>/sys/bus/usb/devices`.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file of one device cannot be read.
    #[error("cannot read {path}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file of one device has a value that does not parse.
    #[error("{path}: {reason}")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, with the value.
        reason: String,
    },
    /// The device's udev database record cannot be read.
    #[error(transparent)]
    UdevRecord(#[from] udev_db::Error),
    /// The udev netlink monitor cannot be opened: the daemon then runs on polling alone.
    #[error("cannot open the udev netlink monitor ({step})")]
    OpenUeventMonitor {
        /// The step that failed: `socket`, `SO_PASSCRED`, `SO_RCVBUF` or `bind to group 2`.
        step: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Receiving from the udev netlink monitor failed.
    #[error("cannot receive from the udev netlink monitor")]
    ReceiveUevent {
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The thread of the udev netlink monitor cannot be started.
    #[error("cannot start the udev netlink monitor thread")]
    StartUeventThread {
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The netlink socket to inject uevents cannot be opened.
    #[error("cannot open a netlink socket to send uevents")]
    OpenUeventSender {
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A uevent cannot be sent to the udev group (needs root: CAP_NET_ADMIN).
    #[error("cannot send a uevent to the udev netlink group")]
    SendUevent {
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the error only says that the device went away (unplugged during the scan).
    pub fn is_vanished(&self) -> bool {
        match self {
            Error::ReadFile { source, .. } | Error::ListDevices { source, .. } => {
                source.kind() == std::io::ErrorKind::NotFound
            }
            Error::UdevRecord(udev_db::Error::Read { source, .. }) => {
                source.kind() == std::io::ErrorKind::NotFound
            }
            Error::BadValue { .. }
            | Error::OpenUeventMonitor { .. }
            | Error::ReceiveUevent { .. }
            | Error::StartUeventThread { .. }
            | Error::OpenUeventSender { .. }
            | Error::SendUevent { .. } => false,
        }
    }
}
