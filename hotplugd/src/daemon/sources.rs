//! The real sources of triggers: the udev netlink monitor and libvirt's domain events. Each says
//! once why it cannot start, and the daemon goes on with the tick.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, PoisonError};

use libvirt_sync::{DomainEvent, DomainEventSource};
use usb_discovery::{
    Announcement, MessageSource, MonitorThread, Received, UeventAction, UeventMonitor,
};

use super::Trigger;
use crate::error_chain;

/// Set (to anything) to run without the udev netlink monitor, on the tick alone: for hosts where
/// netlink uevents are not delivered, and for the tests of that fallback.
pub const NO_UDEV_EVENTS_VARIABLE: &str = "LIBVIRT_USB_HOTPLUGD_NO_UDEV_EVENTS";

/// The machines whose domain events trigger a reconcile, shared with the event handler.
#[derive(Debug, Clone, Default)]
pub struct Watched(Arc<Mutex<Vec<String>>>);

impl Watched {
    /// Watching `machines`.
    pub fn new(machines: Vec<String>) -> Watched {
        Watched(Arc::new(Mutex::new(machines)))
    }

    /// Watches `machines` from now on.
    pub fn set(&self, machines: Vec<String>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = machines;
    }

    fn contains(&self, domain: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|name| name == domain)
    }
}

/// Whether the kernel's own uevents may decide (the configuration needs nothing of udev: see
/// [`Config::decidable_from_sysfs`](crate::config::Config::decidable_from_sysfs)), shared with
/// the monitor's thread.
#[derive(Debug, Clone, Default)]
pub struct KernelDecides(Arc<AtomicBool>);

impl KernelDecides {
    /// Sets it.
    pub fn set(&self, decides: bool) {
        self.0.store(decides, Ordering::SeqCst);
    }

    fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Starts the udev netlink monitor (the kernel's events too: an `add` or `remove` of the kernel's
/// is passed on when `kernel_decides`), or says once why the daemon runs on the tick alone.
pub fn start_udev_events(
    sender: Sender<Trigger>,
    kernel_decides: KernelDecides,
) -> Option<MonitorThread> {
    if std::env::var_os(NO_UDEV_EVENTS_VARIABLE).is_some() {
        log::warn!("udev events are off ({NO_UDEV_EVENTS_VARIABLE} is set): devices are found on the resync tick only");
        return None;
    }
    let no_events = |error: &dyn std::error::Error| {
        log::warn!(
            "no udev events ({}): devices are found on the resync tick only",
            error_chain(error)
        );
    };
    let monitor = match UeventMonitor::open_with_kernel_events() {
        Ok(monitor) => monitor.only_usb_devices(),
        Err(error) => {
            no_events(&error);
            return None;
        }
    };
    let spawned = monitor.spawn(move |received| match received {
        Ok(Received::Device(event)) => {
            let from_kernel = event.source == MessageSource::Kernel;
            let decisive = matches!(event.action, UeventAction::Add | UeventAction::Remove);
            if from_kernel && !(decisive && kernel_decides.get()) {
                return;
            }
            let source = if from_kernel { "kernel" } else { "udev" };
            let line = log::log_enabled!(log::Level::Debug)
                .then(|| format!("{source}: {} {}", event.action, event.kernel_name));
            // The kernel's add says what a rule on sysfs needs: the device is taken from it.
            let announced = (from_kernel && event.action == UeventAction::Add)
                .then(|| Announcement::from_uevent(&event))
                .and_then(|announced| {
                    announced
                        .map_err(|error| log::debug!("{error}: the device is read from sysfs"))
                        .ok()
                });
            let trigger = match announced {
                Some(announcement) => Trigger::Announced(Box::new(announcement)),
                None => Trigger::Uevent {
                    action: event.action.to_string(),
                    kernel_name: event.kernel_name,
                    from_kernel,
                },
            };
            // Sent before it is logged: a slow log never delays the attach.
            let _ = sender.send(trigger);
            if let Some(line) = line {
                log::debug!("{line}");
            }
        }
        Ok(Received::Overflow) => {
            log::debug!("udev: events were lost (receive buffer full): rescanning");
            let _ = sender.send(Trigger::UeventsLost);
        }
        Ok(Received::Other(_)) => {}
        Ok(Received::Dropped(reason)) => log::debug!("udev: dropped a message: {reason}"),
        Err(error) => log::warn!(
            "udev events stopped ({}): devices are found on the resync tick only",
            error_chain(&error)
        ),
    });
    match spawned {
        Ok(thread) => Some(thread),
        Err(error) => {
            no_events(&error);
            None
        }
    }
}

/// Starts the libvirt lifecycle event source for `uri`, or says once why there is none. Events of
/// domains that are not `watched` are ignored; a reconnection always triggers a reconcile, since
/// anything may have changed meanwhile.
pub fn start_domain_events(
    uri: Option<&str>,
    sender: &Sender<Trigger>,
    watched: &Watched,
) -> Option<DomainEventSource> {
    let sender = sender.clone();
    let watched = watched.clone();
    let source = DomainEventSource::start(uri, move |event| {
        if event.domain().is_none_or(|domain| watched.contains(domain)) {
            log::debug!("libvirt: {event:?}");
            let trigger = match event {
                DomainEvent::DeviceRemoved { domain, alias } => {
                    Trigger::HostdevRemoved { domain, alias }
                }
                // The daemon's own attach: its last observation has it already.
                DomainEvent::DeviceAdded { alias, .. }
                    if alias.starts_with(libvirt_sync::OWNED_ALIAS_PREFIX) =>
                {
                    return;
                }
                _ => Trigger::DomainEvent,
            };
            let _ = sender.send(trigger);
        }
    });
    match source {
        Ok(source) => Some(source),
        Err(error) => {
            log::warn!(
                "no libvirt domain events ({}): VMs that start get their devices on the next tick",
                error_chain(&error)
            );
            None
        }
    }
}
