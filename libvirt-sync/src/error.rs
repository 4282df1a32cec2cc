//! The one error type of this crate.

use crate::HostdevSpec;

/// A failed hypervisor operation, with the domain and device it concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The connection could not be opened.
    #[error("cannot connect to libvirt at {uri}: {message}")]
    Connect {
        /// The URI tried.
        uri: String,
        /// libvirt's message.
        message: String,
    },
    /// The connection broke during an operation; the next call reopens it.
    #[error("lost the connection to libvirt: {message}")]
    ConnectionLost {
        /// libvirt's message.
        message: String,
    },
    /// A domain's state or XML could not be read.
    #[error("cannot read domain {domain}: {message}")]
    ReadDomain {
        /// The domain.
        domain: String,
        /// What went wrong.
        message: String,
    },
    /// A domain's XML is not well-formed, or not a domain's XML.
    #[error("malformed XML of domain {domain} at byte {position}: {message}")]
    DomainXml {
        /// The domain.
        domain: String,
        /// The byte offset in the XML where the problem was found.
        position: u64,
        /// What is wrong.
        message: String,
    },
    /// libvirt's event loop could not be registered or started.
    #[error("cannot start libvirt's event loop: {message}")]
    EventLoop {
        /// What went wrong.
        message: String,
    },
    /// The thread of a domain event source could not be started.
    #[error("cannot start the domain event source: {message}")]
    StartEvents {
        /// What went wrong.
        message: String,
    },
    /// The domain lifecycle callback could not be registered on a new connection.
    #[error("cannot register for domain events at {uri}: {message}")]
    RegisterEvents {
        /// The URI of the connection.
        uri: String,
        /// libvirt's message.
        message: String,
    },
    /// The version of the libvirt library could not be read.
    #[error("cannot read the libvirt library's version: {message}")]
    LibraryVersion {
        /// libvirt's message.
        message: String,
    },
    /// An attach failed.
    #[error("cannot attach {device} to {domain}: {message}")]
    Attach {
        /// The domain.
        domain: String,
        /// The device.
        device: HostdevSpec,
        /// libvirt's message.
        message: String,
        /// Whether trying again later may succeed (the domain is not running now, the connection
        /// broke) rather than the request itself being wrong (device missing, unsupported).
        transient: bool,
    },
    /// A detach failed.
    #[error("cannot detach {device} from {domain}: {message}")]
    Detach {
        /// The domain.
        domain: String,
        /// The device.
        device: HostdevSpec,
        /// libvirt's message.
        message: String,
        /// As for [`Error::Attach`].
        transient: bool,
    },
}

impl Error {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Connect { .. } | Error::ConnectionLost { .. } | Error::ReadDomain { .. } => true,
            Error::DomainXml { .. }
            | Error::EventLoop { .. }
            | Error::StartEvents { .. }
            | Error::LibraryVersion { .. } => false,
            Error::RegisterEvents { .. } => true,
            Error::Attach { transient, .. } | Error::Detach { transient, .. } => *transient,
        }
    }
}
