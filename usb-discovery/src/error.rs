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
            Error::BadValue { .. } => false,
        }
    }
}
