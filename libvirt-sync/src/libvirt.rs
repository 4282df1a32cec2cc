//! The real hypervisor: libvirt, through the `virt` crate.
//!
//! `virt` releases handles in `Drop` and panics if libvirt reports a failure. `virConnectClose` and
//! `virDomainFree` fail only for a handle that is not a valid object, which a handle held by `virt`
//! always is; still, handles are released at defined points through `release`, which turns such a
//! panic into a log line instead of unwinding through the daemon (the `virt` API offers no
//! fallible close without `unsafe`).

use std::panic::{self, AssertUnwindSafe};
use std::thread;
use std::time::{Duration, Instant};

use virt::connect::Connect;
use virt::domain::Domain;
use virt::error::ErrorNumber;
use virt::sys::VIR_DOMAIN_AFFECT_LIVE;

use crate::xml::{hostdev_xml_with_policy, parse_usb_hostdevs, StartupPolicy};
use crate::{DomainState, Error, HostdevSpec, Hypervisor, ObservedHostdev};

/// How long `detach` waits for an asynchronous detach to show in the live XML, unless set
/// otherwise with [`LibvirtHypervisor::set_detach_timeout`].
const DEFAULT_DETACH_TIMEOUT: Duration = Duration::from_secs(5);

/// The [`Hypervisor`] of a libvirt connection (`qemu:///system`, or any libvirt URI).
///
/// **Connection.** One persistent connection. Before each call it is checked with
/// `virConnectIsAlive` (a local check, no round trip) and reopened when it is gone. A remote
/// connection notices that the daemon went away only when a call fails, so after a failed call the
/// connection is checked again: dead, or an error of code `VIR_ERR_NO_CONNECT` /
/// `VIR_ERR_INVALID_CONN`, means it was lost; it is dropped and the next call opens a new one.
/// [`domains`](Hypervisor::domains) then retries once at once, since reading is harmless to repeat;
/// attach and detach do not (the lost call may have happened) and return a transient error.
///
/// **Errors.** Transient: a lost or unopenable connection, a domain that is not running or not
/// defined, a busy domain (`VIR_ERR_OPERATION_INVALID`, `VIR_ERR_NO_DOMAIN`,
/// `VIR_ERR_OPERATION_TIMEOUT`, `VIR_ERR_AGENT_UNRESPONSIVE`, `VIR_ERR_RESOURCE_BUSY`,
/// `VIR_ERR_OPERATION_ABORTED`), and a detach still pending after the timeout (5 s by default).
/// Permanent: everything else libvirt reports (device missing, unsupported, invalid XML, a
/// duplicate alias, a mandatory device absent from the host), and a detach refused because the
/// hostdev it would remove is not the owned one.
///
/// ```
/// use libvirt_sync::{Hypervisor, LibvirtHypervisor};
///
/// // The test driver, built into libvirt, needs no daemon.
/// let mut libvirt = LibvirtHypervisor::open(Some("test:///default")).unwrap();
/// let domains = libvirt.domains(&["test".to_string(), "no-such-vm".to_string()]).unwrap();
/// assert_eq!(domains.len(), 1);
/// assert!(domains[0].active);
/// ```
#[derive(Debug)]
pub struct LibvirtHypervisor {
    /// The URI given to `open` (`None`: libvirt's default).
    uri: Option<String>,
    /// The connection; `None` after it was found broken, until the next call reopens it.
    connection: Option<Connect>,
    detach_timeout: Duration,
    /// The domains the last `domains` call could not read.
    unreadable: Vec<Error>,
}

impl LibvirtHypervisor {
    /// Opens a connection to `uri` (`None`: libvirt's default URI). It also silences libvirt's
    /// default error printing for the whole process: errors are returned, never printed.
    pub fn open(uri: Option<&str>) -> Result<Self, Error> {
        virt::error::clear_error_callback();
        let connection = open_connection(uri)?;
        Ok(LibvirtHypervisor {
            uri: uri.map(str::to_string),
            connection: Some(connection),
            detach_timeout: DEFAULT_DETACH_TIMEOUT,
            unreadable: Vec::new(),
        })
    }

    /// The URI given to [`open`](Self::open), or `None` for libvirt's default.
    pub fn uri(&self) -> Option<&str> {
        self.uri.as_deref()
    }

    /// Sets how long [`detach`](Hypervisor::detach) waits for the hostdev to leave the live XML.
    pub fn set_detach_timeout(&mut self, timeout: Duration) {
        self.detach_timeout = timeout;
    }

    /// The state of one domain: `Ok(None)` when libvirt does not know it. An error concerns this
    /// domain only, except [`Error::Connect`] and [`Error::ConnectionLost`].
    pub fn domain_state(&mut self, name: &str) -> Result<Option<DomainState>, Error> {
        let connection = self.connection()?;
        let result = read_domain(connection, name);
        if matches!(result, Err(Error::ConnectionLost { .. })) {
            self.forget_connection();
        }
        result
    }

    /// Attaches `spec` like [`attach`](Hypervisor::attach), with another startup policy: with
    /// [`StartupPolicy::Mandatory`] the attach fails when the device is absent from the host.
    pub fn attach_with_policy(
        &mut self,
        domain: &str,
        spec: &HostdevSpec,
        policy: StartupPolicy,
    ) -> Result<(), Error> {
        let xml = hostdev_xml_with_policy(spec, policy);
        let connection = match self.connection() {
            Ok(connection) => connection,
            Err(error) => return Err(attach_error(domain, spec, error.to_string(), true)),
        };
        let result = with_domain(connection, domain, |handle| {
            Ok(handle.attach_device_flags(&xml, VIR_DOMAIN_AFFECT_LIVE)?)
        });
        let Err(failure) = result else { return Ok(()) };
        let (message, transient) = failure.describe(connection);
        if failure.lost_connection(connection) {
            self.forget_connection();
        }
        Err(attach_error(domain, spec, message, transient))
    }

    /// The open connection, reopened if it was lost.
    fn connection(&mut self) -> Result<&Connect, Error> {
        match self.connection.take() {
            Some(connection) if connection.is_alive().unwrap_or(false) => {
                Ok(self.connection.insert(connection))
            }
            stale => {
                if let Some(broken) = stale {
                    log::info!("the libvirt connection is broken: reopening it");
                    release("connection", broken);
                }
                let fresh = open_connection(self.uri.as_deref())?;
                Ok(self.connection.insert(fresh))
            }
        }
    }

    /// Drops the connection after it broke; the next call opens a new one.
    fn forget_connection(&mut self) {
        if let Some(broken) = self.connection.take() {
            release("connection", broken);
        }
    }

    fn read_domains(&mut self, names: &[String]) -> Result<Vec<DomainState>, Error> {
        self.unreadable.clear();
        let connection = self.connection()?;
        let mut states = Vec::with_capacity(names.len());
        let mut lost = None;
        let mut unreadable = Vec::new();
        for name in names {
            match read_domain(connection, name) {
                Ok(Some(state)) => states.push(state),
                Ok(None) => {}
                Err(error @ Error::ConnectionLost { .. }) => {
                    lost = Some(error);
                    break;
                }
                // One unreadable domain does not hide the others; it is left out (so nothing is
                // attached to or detached from it) and reported by `unreadable_domains`.
                Err(error) => unreadable.push(error),
            }
        }
        self.unreadable = unreadable;
        match lost {
            Some(error) => {
                self.forget_connection();
                Err(error)
            }
            None => Ok(states),
        }
    }

    /// Detaches after checking that the hostdev libvirt will pick is the owned one, then waits.
    fn detach_checked(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error> {
        let timeout = self.detach_timeout;
        let connection = match self.connection() {
            Ok(connection) => connection,
            Err(error) => return Err(detach_error(domain, spec, error.to_string(), true)),
        };
        let alias = spec.alias();
        let xml = hostdev_xml_with_policy(spec, StartupPolicy::Optional);
        let result = with_domain(connection, domain, |handle| {
            if !handle.is_active()? {
                return Err(StepError::Refused {
                    message: "domain is not running".into(),
                    transient: true,
                });
            }
            let live = live_hostdevs(handle, domain)?;
            check_detach_target(&live, spec, &alias).map_err(|message| StepError::Refused {
                message,
                transient: false,
            })?;
            handle.detach_device_flags(&xml, VIR_DOMAIN_AFFECT_LIVE)?;
            wait_until_gone(handle, domain, &alias, timeout)
        });
        let Err(failure) = result else { return Ok(()) };
        let (message, transient) = failure.describe(connection);
        if failure.lost_connection(connection) {
            self.forget_connection();
        }
        Err(detach_error(domain, spec, message, transient))
    }
}

impl Hypervisor for LibvirtHypervisor {
    /// Looks up each name; unknown names are left out, inactive domains have no hostdevs, and a
    /// domain whose state or XML cannot be read is left out with a warning in the log. Fails only
    /// when the connection cannot be (re)opened or is lost twice in a row.
    fn domains(&mut self, names: &[String]) -> Result<Vec<DomainState>, Error> {
        match self.read_domains(names) {
            Err(Error::ConnectionLost { message }) => {
                log::info!("lost the libvirt connection ({message}): reopening it");
                self.read_domains(names)
            }
            result => result,
        }
    }

    fn attach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error> {
        self.attach_with_policy(domain, spec, StartupPolicy::Optional)
    }

    /// Refuses (permanent error) when the live XML has no hostdev with the spec's bus and device,
    /// or when the first one (the one libvirt would detach) is not the owned hostdev of `spec`.
    /// Waits up to the detach timeout for the hostdev to leave the live XML; a timeout is a
    /// transient error.
    fn detach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error> {
        self.detach_checked(domain, spec)
    }

    fn unreadable_domains(&self) -> Vec<Error> {
        self.unreadable.clone()
    }
}

impl Drop for LibvirtHypervisor {
    fn drop(&mut self) {
        self.forget_connection();
    }
}

/// How a failed libvirt call should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The connection is gone; the call may succeed on a new one.
    ConnectionLost,
    /// The domain is not running (or not there) now, or is busy; later may work.
    Transient,
    /// The request itself is wrong: device missing, unsupported, invalid.
    Permanent,
}

impl Failure {
    /// Classifies `error`, returned by a call on `connection`.
    fn of(connection: &Connect, error: &virt::error::Error) -> Failure {
        let code = error.code();
        if code.is_any(vec![ErrorNumber::NoConnect, ErrorNumber::InvalidConn])
            || !connection.is_alive().unwrap_or(false)
        {
            return Failure::ConnectionLost;
        }
        let transient = vec![
            ErrorNumber::OperationInvalid, // "domain is not running"
            ErrorNumber::NoDomain,         // not defined (any more)
            ErrorNumber::OperationTimeout, // another job holds the domain
            ErrorNumber::AgentUnresponsive,
            ErrorNumber::ResourceBusy,
            ErrorNumber::OperationAborted,
        ];
        if code.is_any(transient) {
            Failure::Transient
        } else {
            Failure::Permanent
        }
    }
}

/// Why a step of an operation on one domain failed.
#[derive(Debug)]
enum StepError {
    /// A libvirt call failed.
    Libvirt(virt::error::Error),
    /// The domain's XML could not be parsed.
    Xml(Error),
    /// The operation was not attempted, or did not complete, for this reason.
    Refused {
        /// What is wrong.
        message: String,
        /// Whether later may work.
        transient: bool,
    },
}

impl From<virt::error::Error> for StepError {
    fn from(error: virt::error::Error) -> Self {
        StepError::Libvirt(error)
    }
}

impl StepError {
    /// The message and transience of an attach or detach that failed so.
    fn describe(&self, connection: &Connect) -> (String, bool) {
        match self {
            StepError::Libvirt(error) => match Failure::of(connection, error) {
                Failure::ConnectionLost => (
                    format!("lost the connection to libvirt: {}", error.message()),
                    true,
                ),
                Failure::Transient => (error.message().to_string(), true),
                Failure::Permanent => (error.message().to_string(), false),
            },
            StepError::Xml(error) => (error.to_string(), false),
            StepError::Refused { message, transient } => (message.clone(), *transient),
        }
    }

    fn lost_connection(&self, connection: &Connect) -> bool {
        matches!(self, StepError::Libvirt(error) if Failure::of(connection, error) == Failure::ConnectionLost)
    }
}

fn attach_error(domain: &str, spec: &HostdevSpec, message: String, transient: bool) -> Error {
    Error::Attach {
        domain: domain.to_string(),
        device: *spec,
        message,
        transient,
    }
}

fn detach_error(domain: &str, spec: &HostdevSpec, message: String, transient: bool) -> Error {
    Error::Detach {
        domain: domain.to_string(),
        device: *spec,
        message,
        transient,
    }
}

/// The version of the libvirt library this process runs against (`virGetVersion`), as
/// `major.minor.release`: the shared library loaded now, which may be newer than the one it was
/// built with.
///
/// ```
/// let version = libvirt_sync::library_version().unwrap();
/// assert_eq!(version.split('.').count(), 3);
/// ```
pub fn library_version() -> Result<String, Error> {
    let number = Connect::version().map_err(|error| Error::LibraryVersion {
        message: error.message().to_string(),
    })?;
    Ok(format!(
        "{}.{}.{}",
        number / 1_000_000,
        number / 1_000 % 1_000,
        number % 1_000
    ))
}

fn open_connection(uri: Option<&str>) -> Result<Connect, Error> {
    Connect::open(uri).map_err(|error| Error::Connect {
        uri: uri.unwrap_or("the default URI").to_string(),
        message: error.message().to_string(),
    })
}

/// Looks up domain `name` and runs `body` on its handle, then releases the handle.
fn with_domain<T>(
    connection: &Connect,
    name: &str,
    body: impl FnOnce(&Domain) -> Result<T, StepError>,
) -> Result<T, StepError> {
    let handle = connection.lookup_domain_by_name(name)?;
    let result = body(&handle);
    release("domain", handle);
    result
}

/// Drops a `virt` handle, turning the panic of a failed release into a log line.
pub(crate) fn release<T>(what: &str, handle: T) {
    if panic::catch_unwind(AssertUnwindSafe(move || drop(handle))).is_err() {
        log::warn!("libvirt failed to release a {what} handle");
    }
}

/// The USB hostdevs of the domain's current XML (the live XML when it runs).
fn live_hostdevs(handle: &Domain, name: &str) -> Result<Vec<ObservedHostdev>, StepError> {
    let xml = handle.xml_desc(0)?;
    parse_usb_hostdevs(name, &xml).map_err(StepError::Xml)
}

/// The state of domain `name`, `None` when libvirt does not know it.
fn read_domain(connection: &Connect, name: &str) -> Result<Option<DomainState>, Error> {
    let result = with_domain(connection, name, |handle| {
        if !handle.is_active()? {
            return Ok((false, Vec::new()));
        }
        Ok((true, live_hostdevs(handle, name)?))
    });
    match result {
        Ok((active, hostdevs)) => Ok(Some(DomainState {
            name: name.to_string(),
            active,
            hostdevs,
        })),
        Err(StepError::Libvirt(error)) if error.code().is(ErrorNumber::NoDomain) => Ok(None),
        Err(StepError::Libvirt(error)) => match Failure::of(connection, &error) {
            Failure::ConnectionLost => Err(Error::ConnectionLost {
                message: error.message().to_string(),
            }),
            _ => Err(Error::ReadDomain {
                domain: name.to_string(),
                message: error.message().to_string(),
            }),
        },
        Err(StepError::Xml(error)) => Err(error),
        Err(StepError::Refused { message, .. }) => Err(Error::ReadDomain {
            domain: name.to_string(),
            message,
        }),
    }
}

/// Checks that the hostdev libvirt will detach for `spec` is the owned one: libvirt detaches the
/// first hostdev whose source has the same bus and device (a hostdev without an address is not
/// matched; measured on libvirt 9.0).
fn check_detach_target(
    live: &[ObservedHostdev],
    spec: &HostdevSpec,
    alias: &str,
) -> Result<(), String> {
    let first = live
        .iter()
        .find(|hostdev| hostdev.bus == Some(spec.bus) && hostdev.device == Some(spec.device));
    match first {
        None => Err(format!(
            "device not found: no hostdev with source bus {} device {} in the live XML",
            spec.bus, spec.device
        )),
        Some(hostdev) if hostdev.alias.as_deref() == Some(alias) => Ok(()),
        Some(hostdev) => {
            let other = match &hostdev.alias {
                Some(other) => format!("aliased {other}"),
                None => "one without alias".to_string(),
            };
            Err(format!(
                "the first hostdev with source bus {} device {} is {other}, not the owned {alias}, \
                 and libvirt would detach it instead: refusing",
                spec.bus, spec.device
            ))
        }
    }
}

/// Polls the domain's XML until no hostdev has `alias` (libvirt detaches asynchronously), for at
/// most `timeout`. A domain that stops meanwhile shows its persistent XML, without live hostdevs.
fn wait_until_gone(
    handle: &Domain,
    name: &str,
    alias: &str,
    timeout: Duration,
) -> Result<(), StepError> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        let live = live_hostdevs(handle, name)?;
        if !live
            .iter()
            .any(|hostdev| hostdev.alias.as_deref() == Some(alias))
        {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(StepError::Refused {
                message: format!(
                    "still attached {} ms after the detach request",
                    timeout.as_millis()
                ),
                transient: true,
            });
        }
        thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}
