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
    /// The kernel's uevent of a device lacks a key, or one does not parse.
    #[error("the kernel's uevent of {devpath}: {reason}")]
    BadUevent {
        /// The event's `DEVPATH`.
        devpath: String,
        /// What is wrong, with the value.
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
            Error::ReadFile { source, .. } | Error::ListDevices { source, .. } => is_gone(source),
            Error::UdevRecord(udev_db::Error::Read { source, .. }) => is_gone(source),
            Error::BadValue { .. }
            | Error::BadUevent { .. }
            | Error::OpenUeventMonitor { .. }
            | Error::ReceiveUevent { .. }
            | Error::StartUeventThread { .. }
            | Error::OpenUeventSender { .. }
            | Error::SendUevent { .. } => false,
        }
    }
}

/// Whether a read failed because its file is gone: absent (`ENOENT`), or an attribute of a device
/// the kernel is removing (`ENODEV`: between the unplug and the removal of its sysfs directory, the
/// directory is still there but its attributes no longer read; seen in the USB lab).
fn is_gone(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::NotFound
        || error.raw_os_error() == Some(rustix::io::Errno::NODEV.raw_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_failure(errno: rustix::io::Errno) -> Error {
        Error::ReadFile {
            path: PathBuf::from("/sys/devices/pci0000:00/0000:00:0a.0/usb1/1-4/busnum"),
            source: std::io::Error::from_raw_os_error(errno.raw_os_error()),
        }
    }

    #[test]
    fn a_device_being_removed_has_vanished_and_other_read_errors_have_not() {
        assert!(read_failure(rustix::io::Errno::NOENT).is_vanished());
        assert!(read_failure(rustix::io::Errno::NODEV).is_vanished());
        assert!(!read_failure(rustix::io::Errno::ACCESS).is_vanished());
        assert!(!read_failure(rustix::io::Errno::IO).is_vanished());
    }
}
