//! The one error type of this crate, and the causes it carries.
//!
//! An [`Error`] names the operation that failed and what it concerned (a domain, a device); why it
//! failed is its [`source`](std::error::Error::source), a [`Cause`]: an error libvirt reported
//! ([`LibvirtError`], with libvirt's own error code and domain), or a reason of this crate's (a
//! detach refused because libvirt would remove another hostdev, a detach still pending after its
//! timeout). Messages are lower case and never repeat their source: join the chain (`: `) to show
//! an error to a person.

use std::fmt;
use std::time::Duration;

use crate::HostdevSpec;

/// An error libvirt reported, as `virGetLastError` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LibvirtError {
    /// libvirt's `virErrorNumber` (`VIR_ERR_OPERATION_INVALID` is 55, `VIR_ERR_NO_DOMAIN` 42, …).
    pub code: u32,
    /// libvirt's `virErrorDomain`: which part of libvirt raised it (`VIR_FROM_QEMU` is 10, …).
    pub domain: u32,
    /// libvirt's message.
    pub message: String,
}

impl fmt::Display for LibvirtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LibvirtError {}

/// Why an operation failed: libvirt's error, or a reason of this crate's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Cause {
    /// libvirt reported an error.
    #[error(transparent)]
    Libvirt(LibvirtError),
    /// The operation was refused or given up by this crate, for this reason.
    #[error("{0}")]
    Refused(String),
}

impl Cause {
    /// A reason of this crate's.
    pub fn refused(reason: impl Into<String>) -> Cause {
        Cause::Refused(reason.into())
    }

    /// libvirt's error code, when libvirt reported the error.
    pub fn libvirt_code(&self) -> Option<u32> {
        match self {
            Cause::Libvirt(error) => Some(error.code),
            Cause::Refused(_) => None,
        }
    }
}

/// Whether trying again soon may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// It may work in a moment: the connection broke or libvirt does not answer, the domain is not
    /// running (yet), busy with another job, or a detach is still pending.
    Transient,
    /// The request itself is wrong here (no such device on the host, the XML refused, no USB
    /// controller, a detach that would remove a hostdev the daemon does not own): trying again
    /// helps only once something changes.
    Permanent,
}

/// A failed hypervisor operation, with the domain and device it concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The connection could not be opened.
    #[error("cannot connect to libvirt at {uri}")]
    Connect {
        /// The URI tried.
        uri: String,
        /// libvirt's error.
        #[source]
        cause: Cause,
    },
    /// The connection broke during an operation; the next call reopens it.
    #[error("lost the connection to libvirt")]
    ConnectionLost {
        /// libvirt's error.
        #[source]
        cause: Cause,
    },
    /// libvirt did not answer a call within the bound; the call is abandoned, and no other is made
    /// until it returns.
    #[error("libvirt has not answered for {} s", waited.as_secs())]
    Stalled {
        /// How long the call waited.
        waited: Duration,
    },
    /// The domains could not be listed.
    #[error("cannot list the libvirt domains")]
    ListDomains {
        /// libvirt's error.
        #[source]
        cause: Cause,
    },
    /// A domain's state or XML could not be read.
    #[error("cannot read domain {domain}")]
    ReadDomain {
        /// The domain.
        domain: String,
        /// Why.
        #[source]
        cause: Cause,
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
    #[error("cannot start libvirt's event loop")]
    EventLoop {
        /// Why.
        #[source]
        cause: Cause,
    },
    /// The thread of a domain event source, or of a bounded hypervisor, could not be started.
    #[error("cannot start the thread {name}")]
    StartThread {
        /// The thread's name.
        name: String,
        /// Why.
        #[source]
        cause: Cause,
    },
    /// The domain event callbacks could not be registered on a new connection.
    #[error("cannot register for domain events at {uri}")]
    RegisterEvents {
        /// The URI of the connection.
        uri: String,
        /// libvirt's error.
        #[source]
        cause: Cause,
    },
    /// The version of the libvirt library could not be read.
    #[error("cannot read the libvirt library's version")]
    LibraryVersion {
        /// libvirt's error.
        #[source]
        cause: Cause,
    },
    /// An attach failed.
    #[error("cannot attach {device} to {domain}")]
    Attach {
        /// The domain.
        domain: String,
        /// The device.
        device: HostdevSpec,
        /// Whether trying again soon may succeed.
        kind: ErrorKind,
        /// Why.
        #[source]
        cause: Cause,
    },
    /// A detach failed.
    #[error("cannot detach {device} from {domain}")]
    Detach {
        /// The domain.
        domain: String,
        /// The device.
        device: HostdevSpec,
        /// Whether trying again soon may succeed.
        kind: ErrorKind,
        /// Why.
        #[source]
        cause: Cause,
    },
}

impl Error {
    /// Whether trying again soon may succeed ([`ErrorKind::Transient`]) or only once something
    /// changed ([`ErrorKind::Permanent`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Connect { .. }
            | Error::ConnectionLost { .. }
            | Error::Stalled { .. }
            | Error::ListDomains { .. }
            | Error::ReadDomain { .. }
            | Error::RegisterEvents { .. } => ErrorKind::Transient,
            Error::DomainXml { .. }
            | Error::EventLoop { .. }
            | Error::StartThread { .. }
            | Error::LibraryVersion { .. } => ErrorKind::Permanent,
            Error::Attach { kind, .. } | Error::Detach { kind, .. } => *kind,
        }
    }

    /// Whether trying again soon may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind() == ErrorKind::Transient
    }

    /// Whether the connection to libvirt is gone or not answering, so that the next call must
    /// reconnect (or wait for libvirt) first.
    pub fn is_connection_problem(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. } | Error::ConnectionLost { .. } | Error::Stalled { .. }
        )
    }
}

/// The error and its sources on one line, joined by `: `, as a person reads it.
///
/// ```
/// use libvirt_sync::{error_chain, Cause, Error};
///
/// let error = Error::ConnectionLost { cause: Cause::refused("end of file") };
/// assert_eq!(error_chain(&error), "lost the connection to libvirt: end of file");
/// ```
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
