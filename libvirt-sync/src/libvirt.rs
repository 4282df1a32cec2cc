//! The real hypervisor: libvirt, through the `virt` crate (cargo feature `libvirt`).
//!
//! `virt` releases handles in `Drop` and panics if libvirt reports a failure. `virConnectClose` and
//! `virDomainFree` fail only for a handle that is not a valid object, which a handle held by `virt`
//! always is; still, handles are released at defined points through `release`, which turns such a
//! panic into a log line instead of unwinding through the daemon (the `virt` API offers no
//! fallible close without `unsafe`).

use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::thread;
use std::time::{Duration, Instant};

use virt::connect::Connect;
use virt::domain::Domain;
use virt::error::ErrorNumber;
use virt::sys::{VIR_CONNECT_LIST_DOMAINS_ACTIVE, VIR_DOMAIN_AFFECT_LIVE};

use crate::xml::{hostdev_xml_with_policy, parse_usb_hostdevs, StartupPolicy};
use crate::{
    check_detach_target, Cause, DomainState, Error, ErrorKind, HostdevSpec, Hypervisor,
    HypervisorView, LibvirtError, ObservedDomain, ObservedHostdev,
};

/// How long `detach` waits for an asynchronous detach to show in the live XML, unless set
/// otherwise with [`LibvirtHypervisor::set_detach_timeout`].
const DEFAULT_DETACH_TIMEOUT: Duration = Duration::from_secs(5);

/// libvirt's client keepalive on every connection: a ping after this many seconds of silence…
pub const KEEPALIVE_INTERVAL_SECS: i32 = 5;
/// …and the connection is closed after this many pings without an answer: a libvirtd that stops
/// answering is noticed within `KEEPALIVE_INTERVAL_SECS * (KEEPALIVE_COUNT + 1)` = 15 s, and the
/// call waiting on it fails instead of waiting for ever.
pub const KEEPALIVE_COUNT: u32 = 2;

/// The [`Hypervisor`] of a libvirt connection (`qemu:///system`, or any libvirt URI).
///
/// **Connection.** One persistent connection, opened on the first call (so a daemon started before
/// libvirtd keeps trying, call after call) with libvirt's keepalive switched on (a hung libvirtd
/// breaks the connection within 15 s; see [`KEEPALIVE_COUNT`]). Before each call it is checked with
/// `virConnectIsAlive` (a local check, no round trip) and reopened when it is gone. A remote
/// connection notices that the daemon went away only when a call fails, so after a failed call the
/// connection is checked again: dead, or an error of code `VIR_ERR_NO_CONNECT` /
/// `VIR_ERR_INVALID_CONN`, means it was lost; it is dropped and the next call opens a new one.
/// [`observe`](Hypervisor::observe) then retries once at once, since reading is harmless to
/// repeat; attach and detach do not (the lost call may have happened) and return a transient
/// error. This is the only place that reconnects.
///
/// **Observing.** One `virConnectListAllDomains` of the active domains and the live XML of each of
/// them (configured or not: a device one of them holds is busy there), plus one lookup of each
/// configured domain that is not active, to tell inactive from undefined.
///
/// **Errors.** Transient: a lost or unopenable connection, a domain that is not running or not
/// defined, a busy domain (`VIR_ERR_OPERATION_INVALID`, `VIR_ERR_NO_DOMAIN`,
/// `VIR_ERR_OPERATION_TIMEOUT`, `VIR_ERR_AGENT_UNRESPONSIVE`, `VIR_ERR_RESOURCE_BUSY`,
/// `VIR_ERR_OPERATION_ABORTED`), and a detach still pending after the timeout (5 s by default).
/// Permanent: everything else libvirt reports (device missing, unsupported, invalid XML, a
/// duplicate alias, a mandatory device absent from the host), and a detach refused because the
/// hostdev it would remove is not the owned one. Every libvirt error keeps libvirt's code and
/// domain ([`LibvirtError`]).
///
/// ```
/// use libvirt_sync::{DomainState, Hypervisor, LibvirtHypervisor};
///
/// // The test driver, built into libvirt, needs no daemon.
/// let mut libvirt = LibvirtHypervisor::new(Some("test:///default"));
/// let view = libvirt.observe(&["test".to_string(), "no-such-vm".to_string()]).unwrap();
/// assert!(view.domains[0].state.is_running());
/// assert_eq!(view.domains[1].state, DomainState::Undefined);
/// ```
#[derive(Debug)]
pub struct LibvirtHypervisor {
    /// The URI (`None`: libvirt's default).
    uri: Option<String>,
    /// The connection; `None` until the first call, and after it was found broken, until the next
    /// call reopens it.
    connection: Option<Connect>,
    /// The handles of the configured domains that ran at the last observation, so that an
    /// attach between two observations is one call to libvirt, not a lookup and a call. Replaced
    /// by each observation, dropped with the connection; a handle libvirt no longer knows (the
    /// domain was undefined, or redefined under a new UUID) is looked up again.
    handles: HashMap<String, Domain>,
    detach_timeout: Duration,
}

impl LibvirtHypervisor {
    /// A hypervisor for `uri` (`None`: libvirt's default URI) that connects on its first call. It
    /// also silences libvirt's default error printing for the whole process: errors are returned,
    /// never printed.
    pub fn new(uri: Option<&str>) -> Self {
        virt::error::clear_error_callback();
        LibvirtHypervisor {
            uri: uri.map(str::to_string),
            connection: None,
            handles: HashMap::new(),
            detach_timeout: DEFAULT_DETACH_TIMEOUT,
        }
    }

    /// A hypervisor for `uri`, connected now: fails when libvirt cannot be reached.
    pub fn open(uri: Option<&str>) -> Result<Self, Error> {
        let mut hypervisor = Self::new(uri);
        hypervisor.connection()?;
        Ok(hypervisor)
    }

    /// The URI, or `None` for libvirt's default.
    pub fn uri(&self) -> Option<&str> {
        self.uri.as_deref()
    }

    /// Sets how long [`detach`](Hypervisor::detach) waits for the hostdev to leave the live XML.
    pub fn set_detach_timeout(&mut self, timeout: Duration) {
        self.detach_timeout = timeout;
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
        let attach_error = |kind, cause| Error::Attach {
            domain: domain.to_string(),
            device: *spec,
            kind,
            cause,
        };
        let (connection, handles) = self
            .connection()
            .map_err(|error| attach_error(ErrorKind::Transient, connection_cause(&error)))?;
        let result = attach_through(connection, handles, domain, &xml);
        let Err(failure) = result else { return Ok(()) };
        let (kind, cause) = failure.describe(connection);
        if failure.lost_connection(connection) {
            self.forget_connection();
        }
        Err(attach_error(kind, cause))
    }

    /// The open connection, (re)opened if there is none or it was lost, and the domain handles
    /// kept on it.
    fn connection(&mut self) -> Result<(&Connect, &mut HashMap<String, Domain>), Error> {
        match self.connection.take() {
            Some(connection) if connection.is_alive().unwrap_or(false) => {
                Ok((self.connection.insert(connection), &mut self.handles))
            }
            stale => {
                if let Some(broken) = stale {
                    log::info!("the libvirt connection is broken: reopening it");
                    release_handles(&mut self.handles);
                    release("connection", broken);
                }
                let fresh = open_connection(self.uri.as_deref())?;
                Ok((self.connection.insert(fresh), &mut self.handles))
            }
        }
    }

    /// Drops the connection after it broke; the next call opens a new one.
    fn forget_connection(&mut self) {
        release_handles(&mut self.handles);
        if let Some(broken) = self.connection.take() {
            release("connection", broken);
        }
    }

    fn observe_once(&mut self, names: &[String]) -> Result<HypervisorView, Error> {
        let (connection, handles) = self.connection()?;
        release_handles(handles);
        let result = observe_domains(connection, names, handles);
        if let Err(Error::ConnectionLost { .. }) = &result {
            self.forget_connection();
        }
        result
    }

    /// Detaches after checking that the hostdev libvirt will pick is the owned one, then waits.
    fn detach_checked(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error> {
        let timeout = self.detach_timeout;
        let detach_error = |kind, cause| Error::Detach {
            domain: domain.to_string(),
            device: *spec,
            kind,
            cause,
        };
        let (connection, _) = self
            .connection()
            .map_err(|error| detach_error(ErrorKind::Transient, connection_cause(&error)))?;
        let alias = spec.alias();
        let xml = hostdev_xml_with_policy(spec, StartupPolicy::Optional);
        let result = with_domain(connection, domain, |handle| {
            if !handle.is_active()? {
                return Err(StepError::Refused {
                    message: "domain is not running".into(),
                    kind: ErrorKind::Transient,
                });
            }
            let live = live_hostdevs(handle, domain)?;
            check_detach_target(&live, spec).map_err(|message| StepError::Refused {
                message,
                kind: ErrorKind::Permanent,
            })?;
            handle.detach_device_flags(&xml, VIR_DOMAIN_AFFECT_LIVE)?;
            wait_until_gone(handle, domain, &alias, timeout)
        });
        let Err(failure) = result else { return Ok(()) };
        let (kind, cause) = failure.describe(connection);
        if failure.lost_connection(connection) {
            self.forget_connection();
        }
        Err(detach_error(kind, cause))
    }
}

impl Hypervisor for LibvirtHypervisor {
    /// Fails only when the connection cannot be (re)opened, the domains cannot be listed, or the
    /// connection is lost twice in a row.
    fn observe(&mut self, names: &[String]) -> Result<HypervisorView, Error> {
        match self.observe_once(names) {
            Err(error @ Error::ConnectionLost { .. }) => {
                log::info!("{}: reopening it", crate::error_chain(&error));
                self.observe_once(names)
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
}

impl Drop for LibvirtHypervisor {
    fn drop(&mut self) {
        self.forget_connection();
    }
}

/// libvirt's error, with its code and domain.
impl From<&virt::error::Error> for LibvirtError {
    fn from(error: &virt::error::Error) -> Self {
        LibvirtError {
            code: error.code().to_raw(),
            domain: error.domain().to_raw(),
            message: error.message().to_string(),
        }
    }
}

/// The cause to give an attach or detach that could not connect.
fn connection_cause(error: &Error) -> Cause {
    match error {
        Error::Connect { cause, .. } | Error::ConnectionLost { cause } => cause.clone(),
        other => Cause::refused(crate::error_chain(other)),
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
        kind: ErrorKind,
    },
}

impl From<virt::error::Error> for StepError {
    fn from(error: virt::error::Error) -> Self {
        StepError::Libvirt(error)
    }
}

impl StepError {
    /// The kind and cause of an attach or detach that failed so.
    fn describe(&self, connection: &Connect) -> (ErrorKind, Cause) {
        match self {
            StepError::Libvirt(error) => {
                let kind = match Failure::of(connection, error) {
                    Failure::ConnectionLost | Failure::Transient => ErrorKind::Transient,
                    Failure::Permanent => ErrorKind::Permanent,
                };
                (kind, Cause::Libvirt(error.into()))
            }
            StepError::Xml(error) => (
                ErrorKind::Permanent,
                Cause::refused(crate::error_chain(error)),
            ),
            StepError::Refused { message, kind } => (*kind, Cause::refused(message.clone())),
        }
    }

    fn lost_connection(&self, connection: &Connect) -> bool {
        matches!(self, StepError::Libvirt(error) if Failure::of(connection, error) == Failure::ConnectionLost)
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
        cause: Cause::Libvirt((&error).into()),
    })?;
    Ok(format!(
        "{}.{}.{}",
        number / 1_000_000,
        number / 1_000 % 1_000,
        number % 1_000
    ))
}

/// Opens a connection with libvirt's keepalive on (where the driver has it: remote drivers do, the
/// test driver does not, and needs none).
pub(crate) fn open_connection(uri: Option<&str>) -> Result<Connect, Error> {
    let connection = Connect::open(uri).map_err(|error| Error::Connect {
        uri: uri.unwrap_or("the default URI").to_string(),
        cause: Cause::Libvirt((&error).into()),
    })?;
    if let Err(error) = connection.set_keep_alive(KEEPALIVE_INTERVAL_SECS, KEEPALIVE_COUNT) {
        log::debug!(
            "no libvirt keepalive on this connection: {}",
            error.message()
        );
    }
    Ok(connection)
}

/// Attaches the device of `xml` to the live domain `name`, through its kept handle in `handles`
/// when there is one; a handle libvirt no longer knows is dropped and the domain looked up again
/// (and its handle kept).
fn attach_through(
    connection: &Connect,
    handles: &mut HashMap<String, Domain>,
    name: &str,
    xml: &str,
) -> Result<(), StepError> {
    if let Some(handle) = handles.get(name) {
        match handle.attach_device_flags(xml, VIR_DOMAIN_AFFECT_LIVE) {
            Err(error) if error.code().is(ErrorNumber::NoDomain) => {
                if let Some(stale) = handles.remove(name) {
                    release("domain", stale);
                }
            }
            result => return Ok(result?),
        }
    }
    let handle = connection.lookup_domain_by_name(name)?;
    let result = handle.attach_device_flags(xml, VIR_DOMAIN_AFFECT_LIVE);
    if let Some(replaced) = handles.insert(name.to_owned(), handle) {
        release("domain", replaced);
    }
    Ok(result?)
}

/// Drops every kept domain handle.
fn release_handles(handles: &mut HashMap<String, Domain>) {
    for (_, handle) in handles.drain() {
        release("domain", handle);
    }
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

/// One look at the hypervisor: the active domains with their hostdevs, then the configured ones
/// that are not active. The handles of the configured domains that run are kept in `handles`.
fn observe_domains(
    connection: &Connect,
    names: &[String],
    handles: &mut HashMap<String, Domain>,
) -> Result<HypervisorView, Error> {
    let lost = |error: &virt::error::Error| Error::ConnectionLost {
        cause: Cause::Libvirt(error.into()),
    };
    let active = connection
        .list_all_domains(VIR_CONNECT_LIST_DOMAINS_ACTIVE)
        .map_err(|error| match Failure::of(connection, &error) {
            Failure::ConnectionLost => lost(&error),
            _ => Error::ListDomains {
                cause: Cause::Libvirt((&error).into()),
            },
        })?;
    let mut running: Vec<ObservedDomain> = Vec::with_capacity(active.len());
    let mut failure = None;
    for handle in active {
        let outcome = handle.name().map_err(StepError::from).and_then(|name| {
            let state = match live_hostdevs(&handle, &name) {
                Ok(hostdevs) => Some(DomainState::Running { hostdevs }),
                // It stopped, or went away, since the list.
                Err(StepError::Libvirt(error)) if error.code().is(ErrorNumber::NoDomain) => None,
                Err(StepError::Libvirt(error)) => match Failure::of(connection, &error) {
                    Failure::ConnectionLost => return Err(StepError::Libvirt(error)),
                    _ => Some(unreadable(&name, Cause::Libvirt((&error).into()))),
                },
                Err(StepError::Xml(error)) => Some(DomainState::Unreadable { error }),
                Err(StepError::Refused { message, .. }) => {
                    Some(unreadable(&name, Cause::refused(message)))
                }
            };
            let id = handle.id();
            Ok(state.map(|state| ObservedDomain { name, state, id }))
        });
        match &outcome {
            Ok(Some(domain)) if names.contains(&domain.name) && domain.state.is_running() => {
                if let Some(replaced) = handles.insert(domain.name.clone(), handle) {
                    release("domain", replaced);
                }
            }
            _ => release("domain", handle),
        }
        match outcome {
            Ok(domain) => running.extend(domain),
            Err(StepError::Libvirt(error)) if failure.is_none() => failure = Some(lost(&error)),
            Err(_) => {}
        }
    }
    if let Some(error) = failure {
        return Err(error);
    }
    running.sort_by(|a, b| a.name.cmp(&b.name));

    let mut domains = Vec::with_capacity(names.len());
    for name in names {
        if let Some(index) = running.iter().position(|domain| &domain.name == name) {
            domains.push(running.remove(index));
            continue;
        }
        let state = match connection.lookup_domain_by_name(name) {
            Ok(handle) => {
                release("domain", handle);
                DomainState::Inactive
            }
            Err(error) if error.code().is(ErrorNumber::NoDomain) => DomainState::Undefined,
            Err(error) => match Failure::of(connection, &error) {
                Failure::ConnectionLost => return Err(lost(&error)),
                _ => unreadable(name, Cause::Libvirt((&error).into())),
            },
        };
        domains.push(ObservedDomain::new(name, state));
    }
    Ok(HypervisorView {
        domains,
        others: running,
    })
}

fn unreadable(name: &str, cause: Cause) -> DomainState {
    DomainState::Unreadable {
        error: Error::ReadDomain {
            domain: name.to_string(),
            cause,
        },
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
                kind: ErrorKind::Transient,
            });
        }
        thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}
