//! The incremental path: after an event that names what changed (a udev event for one device, a
//! hostdev removed from a domain), the reconcile starts from the last observation, kept in
//! memory, and re-reads only what changed: one device from sysfs, nothing from libvirt. The full
//! reconcile (every device, every domain) stays the single source of truth: the tick, a reload, a
//! reconnect, an event lost, a failed call, anything else runs it, and a property test shows that
//! both paths plan the same actions.

use std::time::Instant;

use libvirt_sync::DomainState;
use usb_discovery::{Announcement, Discovery, Glance, Unreadable};

use super::Observation;

/// What the daemon knows changed since the last reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// Anything may have changed: scan every device, ask libvirt about every domain.
    Full,
    /// Only these changed; everything else is as last observed.
    Only(Vec<Change>),
}

/// One change an event reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A udev (or kernel) event named this device (`3-6.3`): added, removed or changed. It is read
    /// again, and is gone when it cannot be found.
    Device {
        /// Its kernel name.
        kernel_name: String,
        /// Whether only the kernel's event came yet (udevd's rules have not run). The device is
        /// then taken only when that decides it for good: when no rule looks at interfaces, at
        /// once, from what the kernel tells before it has configured the device (a
        /// [`Glance`](usb_discovery::Glance)); when a rule does, once the kernel has configured
        /// it (every interface there). Either way not when it may be storage (the in-use guard
        /// needs its block devices, which come later): then, and when it cannot be read, it
        /// waits for udev's event.
        early: bool,
    },
    /// The kernel's `add` of a device, with the facts its message gives: like an early
    /// [`Change::Device`], but the device is taken from the message and its descriptors (see
    /// [`Discovery::glance_announced`]) instead of a glance at sysfs.
    Announced(Box<Announcement>),
    /// libvirt's device-removed event: the hostdev aliased `alias` left `domain`.
    HostdevRemoved {
        /// The domain.
        domain: String,
        /// The hostdev's alias.
        alias: String,
    },
}

impl Change {
    /// The kernel name of the device it is of, if it is of one.
    pub fn device(&self) -> Option<&str> {
        match self {
            Change::Device { kernel_name, .. } => Some(kernel_name),
            Change::Announced(announcement) => Some(&announcement.kernel_name),
            Change::HostdevRemoved { .. } => None,
        }
    }

    /// Whether it is of a device and only the kernel's event of it came yet.
    pub fn is_early(&self) -> bool {
        match self {
            Change::Device { early, .. } => *early,
            Change::Announced(_) => true,
            Change::HostdevRemoved { .. } => false,
        }
    }
}

/// The last observation, and what it was made for.
#[derive(Debug, Clone)]
pub(super) struct Cache {
    /// The machines observed.
    pub(super) names: Vec<String>,
    /// The libvirt URI.
    pub(super) uri: Option<String>,
    /// As the last reconcile left it (its successful actions included).
    pub(super) observation: Observation,
}

/// Whether a device announced by the kernel can be decided before udev's event: configured
/// (every interface there), and without a mass-storage interface (class 08), whose block devices,
/// which the in-use guard looks at, come later.
fn ready_before_udev(device: &usb_discovery::UsbDevice) -> bool {
    device.is_settled()
        && !device
            .interfaces
            .iter()
            .any(|interface| interface.class == 0x08)
}

/// An incremental observation, and how long reading the devices took.
pub(super) struct Refreshed {
    pub(super) observation: Observation,
    pub(super) scan: std::time::Duration,
}

/// What a kernel event lets the daemon know of a device before udev's.
enum Early {
    /// The device, decided now.
    Decided(Box<usb_discovery::UsbDevice>),
    /// Gone (a kernel `remove`): that is never reversed.
    Gone,
    /// Not decidable yet (it may be storage, it is not configured, it cannot be read): udev's
    /// event decides.
    Wait,
}

/// Reads the device `kernel_name` on the kernel's event.
fn read_early(discovery: &dyn Discovery, kernel_name: &str, rules_need_interfaces: bool) -> Early {
    if rules_need_interfaces {
        return match discovery.look_at(kernel_name) {
            Ok(Some(device)) if ready_before_udev(&device) => Early::Decided(Box::new(device)),
            Ok(None) => Early::Gone,
            _ => Early::Wait,
        };
    }
    decide(discovery.glance(kernel_name))
}

/// What a glance on the kernel's event decides: the device, unless it may be storage or could
/// not be read.
fn decide(glance: Result<Option<Glance>, usb_discovery::Error>) -> Early {
    match glance {
        Ok(Some(glance)) if !glance.may_be_storage => Early::Decided(Box::new(glance.device)),
        Ok(None) => Early::Gone,
        _ => Early::Wait,
    }
}

/// Reads the device of the kernel's `add` `announcement` (see [`read_early`]): from the message
/// unless a rule looks at interfaces (the device must be configured then, which only sysfs tells).
fn read_announced(
    discovery: &dyn Discovery,
    announcement: &Announcement,
    rules_need_interfaces: bool,
) -> Early {
    if rules_need_interfaces {
        return read_early(discovery, &announcement.kernel_name, true);
    }
    decide(discovery.glance_announced(announcement))
}

/// `observation` with what a kernel event let the daemon know of the device `kernel_name`.
fn apply_early(observation: &mut Observation, kernel_name: &str, early: Early) {
    match early {
        Early::Decided(device) => {
            observation
                .devices
                .retain(|known| known.kernel_name != kernel_name);
            observation
                .unreadable
                .retain(|known| known.kernel_name != kernel_name);
            observation.devices.push(*device);
        }
        Early::Gone => {
            observation
                .devices
                .retain(|known| known.kernel_name != kernel_name);
        }
        Early::Wait => {}
    }
}

/// `cache` with `changes` applied: each device named read again through `discovery`, each
/// removed hostdev taken out of its domain. `rules_need_interfaces`: whether a rule looks at
/// interfaces, so that a kernel event must wait for the kernel to configure the device.
pub(super) fn refresh(
    mut observation: Observation,
    changes: &[Change],
    discovery: &dyn Discovery,
    rules_need_interfaces: bool,
) -> Refreshed {
    let started = Instant::now();
    for change in changes {
        match change {
            Change::Device { kernel_name, early } => {
                if *early {
                    let early = read_early(discovery, kernel_name, rules_need_interfaces);
                    apply_early(&mut observation, kernel_name, early);
                    continue;
                }
                observation
                    .devices
                    .retain(|device| device.kernel_name != *kernel_name);
                observation
                    .unreadable
                    .retain(|device| device.kernel_name != *kernel_name);
                match discovery.look_at(kernel_name) {
                    Ok(Some(device)) => observation.devices.push(device),
                    Ok(None) => {}
                    Err(error) => observation.unreadable.push(Unreadable {
                        kernel_name: kernel_name.clone(),
                        problem: crate::error_chain(&error),
                    }),
                }
            }
            Change::Announced(announcement) => {
                let early = read_announced(discovery, announcement, rules_need_interfaces);
                apply_early(&mut observation, &announcement.kernel_name, early);
            }
            Change::HostdevRemoved { domain, alias } => {
                for observed in &mut observation.hypervisor.domains {
                    if observed.name != *domain {
                        continue;
                    }
                    if let DomainState::Running { hostdevs } = &mut observed.state {
                        hostdevs.retain(|hostdev| hostdev.alias.as_deref() != Some(alias.as_str()));
                    }
                }
            }
        }
    }
    observation
        .devices
        .sort_by_key(|device| (device.bus, device.device));
    observation.unreadable.sort();
    Refreshed {
        observation,
        scan: started.elapsed(),
    }
}
