//! Domain lifecycle events (started, suspended, resumed, shut down, stopped, crashed) and
//! device-added and device-removed events from libvirt, pushed to a handler as they happen, so that the daemon need
//! not wait for its next tick.
//!
//! This module is the safe API: [`DomainEventSource`], [`DomainEvent`], [`LifecycleChange`],
//! [`init_event_loop`], and the supervisor thread that keeps the source's connection alive. The
//! raw libvirt calls and the C callbacks they register are in `ffi`, the crate's one module
//! allowed `unsafe` (its documentation says why, and which rules keep it sound); it hands this
//! module an `EventConnection`, a connection with the callbacks registered that deregisters them
//! when dropped. One rule is kept here: after the source is dropped, no event reaches the
//! handler, because the `Gate` is closed (under its lock, so an event being handled finishes
//! first) before anything is deregistered.

// The raw libvirt calls and C callbacks: the only code of the crate with `unsafe`.
#[allow(unsafe_code)]
mod ffi;

use std::fmt;
use std::os::raw::c_int;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use virt::sys;

use crate::{Cause, Error};
use ffi::EventConnection;

/// How often the supervisor checks that the connection is alive.
const LIVENESS_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// The first pause before reopening a lost connection; it doubles after each failed attempt.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
/// The longest pause between two attempts to reopen the connection.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(3);
/// How long [`DomainEventSource::start`] waits for the first connection.
const FIRST_CONNECT_WAIT: Duration = Duration::from_secs(3);
/// How long dropping a [`DomainEventSource`] waits for its supervisor to end.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// What happened to a domain, from libvirt's lifecycle event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleChange {
    /// It started (booted, restored, migrated in, woken from a snapshot).
    Started,
    /// It was paused.
    Suspended,
    /// It runs again after a pause.
    Resumed,
    /// The guest shut itself down; a [`Stopped`](LifecycleChange::Stopped) follows when the
    /// domain is no longer active.
    Shutdown,
    /// It is no longer active (shut down, destroyed, crashed, migrated away, saved, failed).
    Stopped,
    /// The guest crashed; whether it stays active depends on the domain's `on_crash` action.
    Crashed,
}

impl LifecycleChange {
    /// The change of libvirt's `virDomainEventType` `event`; `None` for the events that do not
    /// change whether a domain runs (defined, undefined, PM-suspended) and unknown ones.
    fn from_libvirt(event: c_int) -> Option<Self> {
        let event = sys::virDomainEventType::try_from(event).ok()?;
        match event {
            sys::VIR_DOMAIN_EVENT_STARTED => Some(LifecycleChange::Started),
            sys::VIR_DOMAIN_EVENT_SUSPENDED => Some(LifecycleChange::Suspended),
            sys::VIR_DOMAIN_EVENT_RESUMED => Some(LifecycleChange::Resumed),
            sys::VIR_DOMAIN_EVENT_SHUTDOWN => Some(LifecycleChange::Shutdown),
            sys::VIR_DOMAIN_EVENT_STOPPED => Some(LifecycleChange::Stopped),
            sys::VIR_DOMAIN_EVENT_CRASHED => Some(LifecycleChange::Crashed),
            _ => None,
        }
    }
}

/// What a [`DomainEventSource`] reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DomainEvent {
    /// A domain's lifecycle changed.
    Lifecycle {
        /// The domain's name.
        domain: String,
        /// What happened to it.
        change: LifecycleChange,
    },
    /// A device joined a running domain (libvirt's device-added event): attached, by the daemon
    /// or by a person.
    DeviceAdded {
        /// The domain's name.
        domain: String,
        /// The device's alias.
        alias: String,
    },
    /// A device left a domain (libvirt's device-removed event): detached, by the daemon or by a
    /// person (`virsh detach-device`).
    DeviceRemoved {
        /// The domain's name.
        domain: String,
        /// The device's alias (`ua-hotplugd-…` for a hostdev the daemon attached).
        alias: String,
    },
    /// The connection was down and is back: events may have been missed meanwhile, so every
    /// domain should be looked at again.
    Reconnected,
}

impl DomainEvent {
    /// The domain the event concerns, `None` for [`DomainEvent::Reconnected`].
    pub fn domain(&self) -> Option<&str> {
        match self {
            DomainEvent::Lifecycle { domain, .. }
            | DomainEvent::DeviceAdded { domain, .. }
            | DomainEvent::DeviceRemoved { domain, .. } => Some(domain),
            DomainEvent::Reconnected => None,
        }
    }
}

/// The outcome of the one initialisation of the event loop in this process.
static EVENT_LOOP: OnceLock<Result<(), Error>> = OnceLock::new();

/// Registers libvirt's default event loop implementation and runs it on its own thread
/// (`libvirt-evloop`) for the rest of the process. Call it first thing, **before any libvirt
/// connection is opened in the process** (libvirt's rule: a remote connection opened earlier is
/// not watched by the loop). Idempotent: later calls return the outcome of the first.
pub fn init_event_loop() -> Result<(), Error> {
    EVENT_LOOP.get_or_init(start_event_loop).clone()
}

fn start_event_loop() -> Result<(), Error> {
    virt::error::clear_error_callback();
    virt::event::event_register_default_impl().map_err(|error| Error::EventLoop {
        cause: Cause::Libvirt((&error).into()),
    })?;
    thread::Builder::new()
        .name("libvirt-evloop".into())
        .spawn(run_event_loop)
        .map_err(|error| Error::EventLoop {
            cause: Cause::refused(format!("cannot start its thread: {error}")),
        })?;
    Ok(())
}

/// Runs libvirt's event loop, one iteration after the other, for ever.
fn run_event_loop() {
    loop {
        if let Err(error) = virt::event::event_run_default_impl() {
            log::error!("libvirt's event loop failed: {}", error.message());
            // Not a wait for a condition: it keeps a persistent failure from spinning a core.
            thread::sleep(FIRST_RETRY_DELAY);
        }
    }
}

/// The user's handler, shared by the supervisor and the callback of every registration (each
/// holds an `Arc`). Closed, the handler dropped, when the source is dropped.
struct Gate {
    handler: Mutex<Option<Handler>>,
}

type Handler = Box<dyn Fn(DomainEvent) + Send + Sync>;

impl Gate {
    fn new(handler: Handler) -> Self {
        Gate {
            handler: Mutex::new(Some(handler)),
        }
    }

    /// Hands `event` to the handler, unless the gate is closed. A panic of the handler is caught
    /// and logged.
    fn deliver(&self, event: DomainEvent) {
        let handler = self.handler.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(handler) = handler.as_ref() {
            if panic::catch_unwind(AssertUnwindSafe(|| handler(event))).is_err() {
                log::error!("the domain event handler panicked; the event is lost");
            }
        }
    }

    /// Closes the gate: once this returns, the handler is not running and will not run again.
    fn close(&self) {
        let handler = self
            .handler
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(handler);
    }
}

/// What the supervisor thread is told.
enum Control {
    /// libvirt closed the connection of this generation.
    Closed { generation: u64, reason: c_int },
    /// The source is dropped: deregister, close, and end.
    Stop,
}

/// Domain lifecycle events from libvirt, handed to a handler as they happen.
///
/// **Handler.** It runs on libvirt's event loop thread (and, for [`DomainEvent::Reconnected`],
/// on the source's own thread), one call at a time. It must be quick and must not block (send to
/// a channel, typically), nor drop the source. It gets every [`DomainEvent::Lifecycle`] of every
/// domain of the connection. Dropping the source deregisters everything and closes its
/// connection (it waits for a connection attempt in progress); once the drop returns, the
/// handler is not called again, and is dropped.
///
/// **Event loop.** libvirt delivers events from its event loop: [`init_event_loop`] must have
/// run before any connection was opened in the process (`start` calls it too, as a safety net).
///
/// **Own connection.** The source opens a connection of its own rather than sharing the
/// [`LibvirtHypervisor`](crate::LibvirtHypervisor)'s: the two fail and reopen independently,
/// neither needs a lock around the other, and a reopen of one never invalidates the other's
/// registrations.
///
/// **Reconnect.** A supervisor thread (`libvirt-evconn`) owns the connection. It learns that the
/// connection died from libvirt's close callback (remote connections: at once when libvirtd goes
/// away, or when libvirt's client keepalive gives up on a hung daemon) and from a check of
/// `virConnectIsAlive` every second (any driver). It then drops the connection and reopens it with
/// backoff (100 ms, doubling, at most 3 s), registering anew. While it is down nothing is reported
/// (the daemon still has its tick); once it is back, [`DomainEvent::Reconnected`] is, because
/// domains may have started or stopped meanwhile.
///
/// ```
/// use std::sync::mpsc;
/// use std::time::Duration;
/// use libvirt_sync::{init_event_loop, DomainEvent, DomainEventSource, LifecycleChange};
///
/// init_event_loop().unwrap(); // first thing, before any connection is opened
/// let (sender, events) = mpsc::channel();
/// let source = DomainEventSource::start(Some("test:///default"), move |event| {
///     let _ = sender.send(event);
/// })
/// .unwrap();
/// assert!(source.is_connected());
///
/// // Another connection pauses and resumes the test driver's domain `test`.
/// let other = virt::connect::Connect::open(Some("test:///default")).unwrap();
/// let test = other.lookup_domain_by_name("test").unwrap();
/// test.suspend().unwrap();
/// test.resume().unwrap();
/// let resumed = DomainEvent::Lifecycle { domain: "test".into(), change: LifecycleChange::Resumed };
/// while events.recv_timeout(Duration::from_secs(5)).unwrap() != resumed {}
/// ```
pub struct DomainEventSource {
    gate: Arc<Gate>,
    control: Sender<Control>,
    connected: Arc<AtomicBool>,
    supervisor: Option<JoinHandle<()>>,
    /// Disconnected when the supervisor thread has ended (in a mutex: the source is `Sync`).
    supervisor_ended: Mutex<Receiver<()>>,
}

impl DomainEventSource {
    /// Starts reporting the lifecycle events of the domains at `uri` (`None`: libvirt's default
    /// URI) to `handler`, on a connection of its own.
    ///
    /// The first connection is opened and registered by the supervisor thread; this waits for
    /// that first attempt up to 3 s, so that normally every event after it is
    /// reported. When it fails, or libvirt does not answer in time, a warning is logged and the
    /// source keeps trying in the background (it reports [`DomainEvent::Reconnected`] once it
    /// succeeds): a daemon started before libvirtd, or while it hangs, gets its events all the
    /// same, and is never blocked. Fails only when the event loop cannot be started (it calls
    /// [`init_event_loop`]) or the supervisor thread cannot be spawned.
    pub fn start<F>(uri: Option<&str>, handler: F) -> Result<Self, Error>
    where
        F: Fn(DomainEvent) + Send + Sync + 'static,
    {
        init_event_loop()?;
        let gate = Arc::new(Gate::new(Box::new(handler)));
        let (control, orders) = mpsc::channel();
        let (first_attempt, first_outcome) = mpsc::channel();
        let (ended, supervisor_ended) = mpsc::channel();
        let connected = Arc::new(AtomicBool::new(false));
        let supervisor = Supervisor {
            uri: uri.map(str::to_string),
            gate: Arc::clone(&gate),
            orders,
            control: control.clone(),
            connected: Arc::clone(&connected),
            live: None,
            generation: 0,
            first_attempt: Some(first_attempt),
            _ended: ended,
        };
        let supervisor = thread::Builder::new()
            .name("libvirt-evconn".into())
            .spawn(move || supervisor.run())
            .map_err(|error| Error::StartThread {
                name: "libvirt-evconn".into(),
                cause: Cause::refused(error.to_string()),
            })?;
        match first_outcome.recv_timeout(FIRST_CONNECT_WAIT) {
            Ok(Ok(())) => {}
            Ok(Err(error)) => log::warn!(
                "{}: no domain events until it can be opened; retrying",
                crate::error_chain(&error)
            ),
            Err(_) => log::warn!(
                "libvirt has not answered the domain event connection for {} s: no domain \
                 events until it does",
                FIRST_CONNECT_WAIT.as_secs()
            ),
        }
        Ok(DomainEventSource {
            gate,
            control,
            connected,
            supervisor: Some(supervisor),
            supervisor_ended: Mutex::new(supervisor_ended),
        })
    }

    /// Whether the source has a live, registered connection now.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for DomainEventSource {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("DomainEventSource")
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl Drop for DomainEventSource {
    fn drop(&mut self) {
        self.gate.close();
        // It fails only when the supervisor has already ended.
        let _ = self.control.send(Control::Stop);
        // A supervisor stuck in a call to a hung libvirtd is left to end by itself: the gate is
        // closed, so it delivers nothing more.
        let ended = self
            .supervisor_ended
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv_timeout(STOP_WAIT);
        match ended {
            Err(RecvTimeoutError::Disconnected) => {
                if let Some(supervisor) = self.supervisor.take() {
                    if supervisor.join().is_err() {
                        log::error!("the libvirt domain event supervisor panicked");
                    }
                }
            }
            Ok(()) | Err(RecvTimeoutError::Timeout) => log::debug!(
                "the domain event supervisor is still waiting for libvirt: left to end by itself"
            ),
        }
    }
}

/// The state of the supervisor thread: the connection, and what it needs to reopen it.
struct Supervisor {
    uri: Option<String>,
    gate: Arc<Gate>,
    orders: Receiver<Control>,
    /// Cloned into each connection's close notice.
    control: Sender<Control>,
    connected: Arc<AtomicBool>,
    live: Option<EventConnection>,
    /// The generation of the latest connection; a close notice of an older one is stale.
    generation: u64,
    /// Told the outcome of the first connection attempt, then dropped.
    first_attempt: Option<Sender<Result<(), Error>>>,
    /// Dropped when the supervisor ends.
    _ended: Sender<()>,
}

impl Supervisor {
    fn run(mut self) {
        let first = self.connect();
        if let Some(first_attempt) = self.first_attempt.take() {
            // `start` may have stopped waiting: then nobody listens.
            let _ = first_attempt.send(first);
        }
        let mut retry_delay = FIRST_RETRY_DELAY;
        loop {
            let wait = if self.live.is_some() {
                LIVENESS_CHECK_INTERVAL
            } else {
                retry_delay
            };
            match self.orders.recv_timeout(wait) {
                // (It holds a sender itself: the channel cannot be disconnected.)
                Ok(Control::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(Control::Closed { generation, reason }) => {
                    if generation == self.generation && self.live.is_some() {
                        self.lose(&format!("libvirt closed it: {}", close_reason(reason)));
                        retry_delay = FIRST_RETRY_DELAY;
                    }
                }
                Err(RecvTimeoutError::Timeout) => match &self.live {
                    Some(live) if live.is_alive() => {}
                    Some(_) => {
                        self.lose("it is no longer alive");
                        retry_delay = FIRST_RETRY_DELAY;
                    }
                    None => match self.connect() {
                        Ok(()) => {
                            log::info!("domain events: connected to libvirt again");
                            self.gate.deliver(DomainEvent::Reconnected);
                        }
                        Err(error) => {
                            log::debug!(
                                "{}; trying again in {retry_delay:?}",
                                crate::error_chain(&error)
                            );
                            retry_delay = (retry_delay * 2).min(MAX_RETRY_DELAY);
                        }
                    },
                },
            }
        }
        self.connected.store(false, Ordering::SeqCst);
        drop(self.live.take());
    }

    /// Opens and registers a new connection.
    fn connect(&mut self) -> Result<(), Error> {
        self.generation += 1;
        let live = EventConnection::open(
            self.uri.as_deref(),
            &self.gate,
            &self.control,
            self.generation,
        )?;
        self.live = Some(live);
        self.connected.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Drops the connection after it was found dead, for `why`.
    fn lose(&mut self, why: &str) {
        log::warn!(
            "lost the libvirt connection of domain events ({why}): no domain events until it is \
             reopened; reopening it"
        );
        self.connected.store(false, Ordering::SeqCst);
        drop(self.live.take());
    }
}

/// Words for a `virConnectCloseReason`.
fn close_reason(reason: c_int) -> &'static str {
    match sys::virConnectCloseReason::try_from(reason) {
        Ok(sys::VIR_CONNECT_CLOSE_REASON_ERROR) => "I/O error",
        Ok(sys::VIR_CONNECT_CLOSE_REASON_EOF) => "end of file",
        Ok(sys::VIR_CONNECT_CLOSE_REASON_KEEPALIVE) => "keepalive timeout",
        Ok(sys::VIR_CONNECT_CLOSE_REASON_CLIENT) => "closed by the client",
        _ => "unknown reason",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_events_that_change_whether_a_domain_runs_are_mapped() {
        use LifecycleChange::{Crashed, Resumed, Shutdown, Started, Stopped, Suspended};
        let expected = [
            (sys::VIR_DOMAIN_EVENT_STARTED, Some(Started)),
            (sys::VIR_DOMAIN_EVENT_SUSPENDED, Some(Suspended)),
            (sys::VIR_DOMAIN_EVENT_RESUMED, Some(Resumed)),
            (sys::VIR_DOMAIN_EVENT_SHUTDOWN, Some(Shutdown)),
            (sys::VIR_DOMAIN_EVENT_STOPPED, Some(Stopped)),
            (sys::VIR_DOMAIN_EVENT_CRASHED, Some(Crashed)),
            (sys::VIR_DOMAIN_EVENT_DEFINED, None),
            (sys::VIR_DOMAIN_EVENT_UNDEFINED, None),
            (sys::VIR_DOMAIN_EVENT_PMSUSPENDED, None),
        ];
        for (event, change) in expected {
            let mapped = LifecycleChange::from_libvirt(event as c_int);
            assert_eq!(mapped, change, "{event}");
        }
        assert_eq!(LifecycleChange::from_libvirt(-1), None);
        assert_eq!(LifecycleChange::from_libvirt(1000), None);
    }

    #[test]
    fn a_closed_gate_drops_the_handler_and_delivers_nothing() {
        let (sender, events) = mpsc::channel();
        let gate = Gate::new(Box::new(move |event| {
            let _ = sender.send(event);
        }));
        gate.deliver(DomainEvent::Reconnected);
        assert_eq!(events.try_recv(), Ok(DomainEvent::Reconnected));
        gate.close();
        gate.deliver(DomainEvent::Reconnected);
        // The handler, and with it the only sender, is gone.
        assert_eq!(events.try_recv(), Err(mpsc::TryRecvError::Disconnected));
    }

    #[test]
    fn a_panicking_handler_does_not_poison_the_gate() {
        let (sender, events) = mpsc::channel();
        let gate = Gate::new(Box::new(move |event: DomainEvent| {
            if event == DomainEvent::Reconnected {
                panic!("handler bug");
            }
            let _ = sender.send(event);
        }));
        gate.deliver(DomainEvent::Reconnected);
        let started = DomainEvent::Lifecycle {
            domain: "vm".into(),
            change: LifecycleChange::Started,
        };
        gate.deliver(started.clone());
        assert_eq!(events.try_recv(), Ok(started));
    }
}
