//! Keeps libvirt domains' USB hostdevs in step with a desired assignment of devices to machines.
//!
//! This crate speaks of domains and hostdevs only; it knows nothing of sysfs or matching rules.
//! * [`Hypervisor`]: what the daemon needs of libvirt (list configured domains with their USB hostdevs,
//!   attach one, detach one), object safe, with the real backend in `LibvirtHypervisor` and an
//!   in-memory `MockHypervisor` (feature `mock`) for tests.
//! * [`HostdevSpec`]: a hostdev the daemon attaches; its alias `ua-hotplugd-B-D-VVVV-PPPP` marks it as
//!   owned. [`ObservedHostdev`]: a hostdev as read from a domain's live XML, owned or not.
//! * [`DomainEventSource`]: domain lifecycle events (started, stopped, …) pushed from libvirt's
//!   event loop, reconnecting by itself; call [`init_event_loop`] before opening any connection.
//! * [`plan`]: the pure planner. From the devices (each with the machines whose rules match it, in
//!   config order) and the observed domains, a [`Plan`] of [`Action::Detach`]/[`Action::Attach`]
//!   that places each device on at most one running machine without stealing or touching hostdevs
//!   the daemon does not own, with the [`Placement`] of every device for `explain`; [`apply`] runs
//!   it on a [`Hypervisor`], continuing past failures.
//!
//! ```
//! use libvirt_sync::HostdevSpec;
//!
//! let webcam = HostdevSpec { bus: 3, device: 5, vendor_id: 0x046d, product_id: 0x0825 };
//! assert_eq!(webcam.alias(), "ua-hotplugd-3-5-046d-0825");
//! assert_eq!(HostdevSpec::from_alias("ua-hotplugd-3-5-046d-0825"), Some(webcam));
//! ```
#![deny(unsafe_code)]

mod apply;
mod error;
mod events;
mod hostdev;
mod hypervisor;
mod libvirt;
#[cfg(any(test, feature = "mock"))]
mod mock;
mod plan;
mod xml;

pub use apply::{apply, ActionOutcome, ApplyReport};
pub use error::Error;
pub use events::{init_event_loop, DomainEvent, DomainEventSource, LifecycleChange};
pub use hostdev::{HostdevSpec, ObservedHostdev, OWNED_ALIAS_PREFIX};
pub use hypervisor::{DomainState, Hypervisor};
pub use libvirt::{library_version, LibvirtHypervisor};
#[cfg(any(test, feature = "mock"))]
pub use mock::{Fault, FaultMode, MockCall, MockCallKind, MockHypervisor};
pub use plan::{plan, Action, DeviceDecision, MatchedDevice, Placement, Plan};
pub use xml::{hostdev_xml, hostdev_xml_with_policy, parse_usb_hostdevs, StartupPolicy};
