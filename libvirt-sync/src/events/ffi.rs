//! The raw libvirt calls of domain events and the C callbacks they register: the one module of
//! the crate that uses `unsafe`.
//!
//! # Why `unsafe`
//! The `virt` crate has no safe wrapper for `virConnectDomainEventRegisterAny`,
//! `virConnectDomainEventDeregisterAny` or the connection close callback, so they are called
//! through `virt::sys`, with C callbacks. Each `unsafe` block says why it is sound; the rules kept:
//! * the lifecycle callback's opaque pointer is a strong reference to the `Gate` (an
//!   `Arc::into_raw`) whose ownership passes to libvirt, which gives it back exactly once through
//!   the `freecb` argument when the callback is deregistered or its connection goes away. Nothing
//!   the callback can reach is freed while libvirt can still call it, whichever connection, old or
//!   reopened, it belongs to;
//! * the close callback's opaque pointer is kept alive by the [`EventConnection`] and freed only
//!   after `virConnectUnregisterCloseCallback` succeeded (libvirt calls no `freecb` for a driver
//!   without close callbacks, such as the test driver, so it cannot own it);
//! * no panic crosses the FFI boundary: every callback runs its body under `catch_unwind`.
//!
//! Outside this module only [`EventConnection`] is seen: the registration functions' contracts
//! (who keeps which opaque data alive) are kept by it, so they stay private here.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::mpsc::Sender;
use std::sync::Arc;

use virt::connect::Connect;
use virt::sys;

use super::{Control, DomainEvent, Gate, LifecycleChange};
use crate::libvirt::{open_connection, release};
use crate::{Cause, Error};

/// The close callback's opaque data: tells the supervisor which connection was closed.
struct CloseNotice {
    generation: u64,
    control: Sender<Control>,
}

/// A connection with the lifecycle and device-removed callbacks (and, where the driver has them,
/// the close callback) registered. Dropping it deregisters them and closes the connection.
pub(super) struct EventConnection {
    /// `Some` until the drop.
    connection: Option<Connect>,
    /// The ids of the domain event callbacks registered.
    callback_ids: Vec<c_int>,
    /// The close callback's opaque data, `Some` while registered.
    close_notice: Option<Arc<CloseNotice>>,
}

impl EventConnection {
    /// Opens a connection to `uri` and registers the lifecycle callback (delivering to `gate`)
    /// and, where the driver has one, the close callback (telling `control` that the connection
    /// of `generation` was closed).
    pub(super) fn open(
        uri: Option<&str>,
        gate: &Arc<Gate>,
        control: &Sender<Control>,
        generation: u64,
    ) -> Result<Self, Error> {
        let uri_text = uri.unwrap_or("the default URI");
        let connection = open_connection(uri)?;
        let mut callback_ids = Vec::with_capacity(2);
        for event in [
            Registration::Lifecycle,
            Registration::DeviceAdded,
            Registration::DeviceRemoved,
        ] {
            match register(&connection, gate, event) {
                Ok(callback_id) => callback_ids.push(callback_id),
                Err(message) => {
                    for callback_id in callback_ids {
                        let _ = deregister(&connection, callback_id);
                    }
                    release("connection", connection);
                    return Err(Error::RegisterEvents {
                        uri: uri_text.to_string(),
                        cause: Cause::Refused(message),
                    });
                }
            }
        }
        let notice = Arc::new(CloseNotice {
            generation,
            control: control.clone(),
        });
        let close_notice = match register_close(&connection, &notice) {
            Ok(()) => Some(notice),
            Err(message) => {
                log::debug!("no close callback at {uri_text} ({message}): liveness checks only");
                None
            }
        };
        Ok(EventConnection {
            connection: Some(connection),
            callback_ids,
            close_notice,
        })
    }

    /// Whether libvirt says the connection is alive.
    pub(super) fn is_alive(&self) -> bool {
        self.connection
            .as_ref()
            .is_some_and(|connection| connection.is_alive().unwrap_or(false))
    }
}

impl Drop for EventConnection {
    fn drop(&mut self) {
        let Some(connection) = self.connection.take() else {
            return;
        };
        for &callback_id in &self.callback_ids {
            if let Err(message) = deregister(&connection, callback_id) {
                // On a dead remote connection the local registration is gone all the same
                // (libvirt drops it before telling the daemon); otherwise it goes with the
                // connection.
                log::debug!("cannot deregister a domain event callback: {message}");
            }
        }
        if let Some(notice) = self.close_notice.take() {
            match unregister_close(&connection) {
                Ok(()) => drop(notice),
                Err(message) => {
                    // libvirt may still call the callback: its data must outlive the process.
                    log::debug!("cannot unregister the close callback: {message}");
                    std::mem::forget(notice);
                }
            }
        }
        release("connection", connection);
    }
}

/// The C signature of a `VIR_DOMAIN_EVENT_ID_LIFECYCLE` callback
/// (`virConnectDomainEventCallback`).
type LifecycleCallback =
    unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, c_int, c_int, *mut c_void) -> c_int;

/// The C signature of a `VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED` callback
/// (`virConnectDomainEventDeviceRemovedCallback`), and of `VIR_DOMAIN_EVENT_ID_DEVICE_ADDED`'s
/// (`virConnectDomainEventDeviceAddedCallback`), which has the same arguments.
type DeviceRemovedCallback =
    unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, *const c_char, *mut c_void);

/// The generic callback type `virConnectDomainEventRegisterAny` takes, whatever the event.
type GenericCallback = unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, *mut c_void);

/// The domain events registered on every connection.
#[derive(Debug, Clone, Copy)]
enum Registration {
    Lifecycle,
    DeviceAdded,
    DeviceRemoved,
}

/// Registers the callback of `event` for every domain of `connection`, with a strong reference to
/// `gate` as its opaque data; the callback id, or libvirt's message.
fn register(connection: &Connect, gate: &Arc<Gate>, event: Registration) -> Result<c_int, String> {
    // SAFETY (both): libvirt calls the callback of a registration with the signature of its event
    // id; the generic type only carries it (C code casts it the same way, with
    // VIR_DOMAIN_EVENT_CALLBACK). All are `extern "C"` function pointers of the same size.
    let (event_id, callback) = match event {
        Registration::Lifecycle => (sys::VIR_DOMAIN_EVENT_ID_LIFECYCLE, unsafe {
            std::mem::transmute::<LifecycleCallback, GenericCallback>(
                on_lifecycle as LifecycleCallback,
            )
        }),
        Registration::DeviceAdded => (sys::VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, unsafe {
            std::mem::transmute::<DeviceRemovedCallback, GenericCallback>(
                on_device_added as DeviceRemovedCallback,
            )
        }),
        Registration::DeviceRemoved => (sys::VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, unsafe {
            std::mem::transmute::<DeviceRemovedCallback, GenericCallback>(
                on_device_removed as DeviceRemovedCallback,
            )
        }),
    };
    let opaque = Arc::into_raw(Arc::clone(gate)).cast_mut().cast::<c_void>();
    // SAFETY: `connection` is a valid connection for the duration of the call (it is borrowed).
    // A null domain means every domain. `opaque` is a strong reference that libvirt owns from now
    // on and hands back once, through `free_gate`, after its last call of the callback.
    let callback_id = unsafe {
        sys::virConnectDomainEventRegisterAny(
            connection.as_ptr(),
            ptr::null_mut(),
            event_id as c_int,
            Some(callback),
            opaque,
            Some(free_gate),
        )
    };
    if callback_id < 0 {
        // SAFETY: on failure libvirt keeps no reference to `opaque` and does not call `freecb`
        // (it is documented in libvirt's object event code), so the reference made above is
        // still ours and is released here, once.
        drop(unsafe { Arc::from_raw(opaque.cast_const().cast::<Gate>()) });
        return Err(last_error_message());
    }
    Ok(callback_id)
}

/// Deregisters the domain event callback `callback_id` of `connection`; libvirt then frees its
/// opaque data through `free_gate` (at once, or after the event being dispatched).
fn deregister(connection: &Connect, callback_id: c_int) -> Result<(), String> {
    // SAFETY: `connection` is valid while borrowed; an unknown id is an error, not UB.
    let result =
        unsafe { sys::virConnectDomainEventDeregisterAny(connection.as_ptr(), callback_id) };
    if result < 0 {
        return Err(last_error_message());
    }
    Ok(())
}

/// Registers [`on_close`] on `connection` with `notice` as its opaque data. The caller keeps
/// `notice` alive until [`unregister_close`] succeeded.
fn register_close(connection: &Connect, notice: &Arc<CloseNotice>) -> Result<(), String> {
    // SAFETY: `connection` is valid while borrowed. The opaque pointer stays valid as long as
    // libvirt may use it: the `EventConnection` holds the `Arc` until the callback is
    // unregistered (and forgets it if that fails). No `freecb`: the memory is ours.
    let result = unsafe {
        sys::virConnectRegisterCloseCallback(
            connection.as_ptr(),
            Some(on_close),
            Arc::as_ptr(notice).cast_mut().cast::<c_void>(),
            None,
        )
    };
    if result < 0 {
        return Err(last_error_message());
    }
    Ok(())
}

/// Unregisters [`on_close`] from `connection`. Once it succeeded, libvirt no longer calls it
/// (the remote driver runs the callback under the lock that unregistering takes).
fn unregister_close(connection: &Connect) -> Result<(), String> {
    // SAFETY: `connection` is valid while borrowed; `on_close` is the callback registered.
    let result =
        unsafe { sys::virConnectUnregisterCloseCallback(connection.as_ptr(), Some(on_close)) };
    if result < 0 {
        return Err(last_error_message());
    }
    Ok(())
}

/// The message of libvirt's last error in this thread.
fn last_error_message() -> String {
    virt::error::Error::last_error().message().to_string()
}

/// The lifecycle callback: maps the event and hands it to the gate.
unsafe extern "C" fn on_lifecycle(
    _connection: sys::virConnectPtr,
    domain: sys::virDomainPtr,
    event: c_int,
    _detail: c_int,
    opaque: *mut c_void,
) -> c_int {
    let delivered = panic::catch_unwind(|| {
        let Some(change) = LifecycleChange::from_libvirt(event) else {
            return;
        };
        // SAFETY: `domain` is the event's domain, valid for the duration of the callback.
        let Some(name) = (unsafe { domain_name(domain) }) else {
            log::warn!("a domain lifecycle event without a domain name: dropped");
            return;
        };
        // SAFETY: `opaque` is the `Arc<Gate>` reference given at registration; libvirt frees it
        // (through `free_gate`) only after its last call of this callback, so it is valid here.
        let gate = unsafe { &*opaque.cast_const().cast::<Gate>() };
        gate.deliver(DomainEvent::Lifecycle {
            domain: name,
            change,
        });
    });
    if delivered.is_err() {
        log::error!("a panic in the domain event callback: the event is lost");
    }
    0 // libvirt ignores it
}

/// The device-added callback: hands the domain and the device's alias to the gate.
unsafe extern "C" fn on_device_added(
    _connection: sys::virConnectPtr,
    domain: sys::virDomainPtr,
    alias: *const c_char,
    opaque: *mut c_void,
) {
    // SAFETY: the arguments are libvirt's, valid for the duration of this callback.
    unsafe { deliver_device_event(domain, alias, opaque, true) }
}

/// The device-removed callback: hands the domain and the device's alias to the gate.
unsafe extern "C" fn on_device_removed(
    _connection: sys::virConnectPtr,
    domain: sys::virDomainPtr,
    alias: *const c_char,
    opaque: *mut c_void,
) {
    // SAFETY: the arguments are libvirt's, valid for the duration of this callback.
    unsafe { deliver_device_event(domain, alias, opaque, false) }
}

/// Delivers a device-added (`added`) or device-removed event.
///
/// # Safety
/// `domain`, `alias` and `opaque` are the arguments libvirt passed to a device event callback
/// registered by `register`: valid during the call.
unsafe fn deliver_device_event(
    domain: sys::virDomainPtr,
    alias: *const c_char,
    opaque: *mut c_void,
    added: bool,
) {
    let delivered = panic::catch_unwind(|| {
        // SAFETY: `domain` is the event's domain, valid for the duration of the callback.
        let Some(name) = (unsafe { domain_name(domain) }) else {
            log::warn!("a device event without a domain name: dropped");
            return;
        };
        if alias.is_null() {
            return;
        }
        // SAFETY: libvirt passes a NUL-terminated alias, valid during the callback; copied at once.
        let alias = unsafe { CStr::from_ptr(alias) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: as in `on_lifecycle`: the registration's `Arc<Gate>` outlives every call.
        let gate = unsafe { &*opaque.cast_const().cast::<Gate>() };
        gate.deliver(if added {
            DomainEvent::DeviceAdded {
                domain: name,
                alias,
            }
        } else {
            DomainEvent::DeviceRemoved {
                domain: name,
                alias,
            }
        });
    });
    if delivered.is_err() {
        log::error!("a panic in a device event callback: the event is lost");
    }
}

/// The name of `domain`, copied; `None` for a null domain or name.
///
/// # Safety
/// `domain` is null or a valid domain handle for the duration of the call.
unsafe fn domain_name(domain: sys::virDomainPtr) -> Option<String> {
    if domain.is_null() {
        return None;
    }
    // SAFETY: `domain` is a valid handle (the caller's contract); the name it returns is owned by
    // the handle, which outlives this function.
    let name = unsafe { sys::virDomainGetName(domain) };
    if name.is_null() {
        return None;
    }
    // SAFETY: `name` is a NUL-terminated string valid while `domain` is; it is copied at once.
    Some(
        unsafe { CStr::from_ptr(name) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// The lifecycle callback's `freecb`: releases the `Arc<Gate>` reference of a registration.
unsafe extern "C" fn free_gate(opaque: *mut c_void) {
    if opaque.is_null() {
        return;
    }
    // SAFETY: `opaque` is the reference made by `Arc::into_raw` in `register`; libvirt
    // calls this once per registration, after its last call of the callback.
    let gate = unsafe { Arc::from_raw(opaque.cast_const().cast::<Gate>()) };
    if panic::catch_unwind(AssertUnwindSafe(move || drop(gate))).is_err() {
        log::error!("a panic while releasing a domain event registration");
    }
}

/// The close callback: tells the supervisor which connection libvirt closed.
unsafe extern "C" fn on_close(_connection: sys::virConnectPtr, reason: c_int, opaque: *mut c_void) {
    let told = panic::catch_unwind(|| {
        // SAFETY: `opaque` points into the `Arc<CloseNotice>` held by the `EventConnection`
        // until this callback is unregistered, so it is valid during any call.
        let notice = unsafe { &*opaque.cast_const().cast::<CloseNotice>() };
        // The supervisor may have ended (the source dropped): nothing to tell then.
        let _ = notice.control.send(Control::Closed {
            generation: notice.generation,
            reason,
        });
    });
    if told.is_err() {
        log::error!("a panic in the libvirt close callback");
    }
}
