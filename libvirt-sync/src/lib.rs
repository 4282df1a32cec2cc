//! Keeps libvirt domains' USB hostdevs in step with a desired assignment of devices to machines.
//!
//! This crate speaks of domains and hostdevs only; it knows nothing of sysfs or matching rules.
//! The data flows one way: observe → plan → apply.
//! * [`Hypervisor`]: what the daemon needs of libvirt: [`observe`](Hypervisor::observe) the
//!   configured domains ([`DomainState`]: running with its USB hostdevs, inactive, undefined or
//!   unreadable) and every other running domain, attach one hostdev, detach one. Object safe, with
//!   the real backend `LibvirtHypervisor` (default cargo feature `libvirt`, which links libvirt),
//!   the in-memory [`MockHypervisor`] for tests, and [`BoundedHypervisor`], which runs any of them
//!   on a worker thread so that no call blocks its caller longer than a bound.
//! * [`HostdevSpec`]: a hostdev the daemon attaches; its alias `ua-hotplugd-B-D-VVVV-PPPP` marks it
//!   as owned. [`ObservedHostdev`]: a hostdev as read from a domain's live XML, owned or not.
//!   [`hostdev_xml`] and [`parse_usb_hostdevs`] write and read libvirt's XML.
//! * [`plan`]: the pure planner, and the only place an action is decided. From the whole observed
//!   state ([`PlanInput`]: devices with the machines whose rules match each, devices that could
//!   not be read, the managed machines' states, other running domains, actions waiting for a
//!   retry) the whole [`Plan`]: the actions to take now, those held back and why ([`HeldBack`]),
//!   and the [`Placement`] of every device. [`apply`] runs the actions on a [`Hypervisor`],
//!   continuing past failures.
//! * `DomainEventSource` (feature `libvirt`): domain lifecycle events pushed from libvirt's event
//!   loop, reconnecting by itself; call `init_event_loop` before opening any connection.
//!
//! Without the `libvirt` feature (`default-features = false`) the planner, the XML, the mock and
//! the bounded wrapper build without libvirt.
//!
//! ```
//! use libvirt_sync::{apply, plan, Action, HostdevSpec, Hypervisor, MatchedDevice};
//! use libvirt_sync::{MockHypervisor, PlanInput};
//!
//! let webcam = HostdevSpec { bus: 3, device: 5, vendor_id: 0x046d, product_id: 0x0825 };
//! let mut hypervisor = MockHypervisor::new().with_domain("lab", true);
//!
//! // Observe, plan, apply: the webcam, which the rules give to `lab`, is attached to it.
//! let view = hypervisor.observe(&["lab".to_string()]).unwrap();
//! let input = PlanInput {
//!     devices: vec![MatchedDevice { spec: webcam, machines: vec!["lab".into()] }],
//!     machines: view.domains,
//!     others: view.others,
//!     ..PlanInput::default()
//! };
//! let planned = plan(&input);
//! assert_eq!(planned.actions, [Action::Attach { machine: "lab".into(), hostdev: webcam }]);
//! assert!(apply(&planned, &mut hypervisor).is_success());
//! assert_eq!(hypervisor.hostdevs("lab")[0].alias.as_deref(), Some("ua-hotplugd-3-5-046d-0825"));
//!
//! // Planning again against what the hypervisor now shows: nothing to do.
//! let view = hypervisor.observe(&["lab".to_string()]).unwrap();
//! let again = plan(&PlanInput { machines: view.domains, ..input });
//! assert!(again.is_empty());
//! ```
#![deny(unsafe_code)]

mod apply;
mod bounded;
mod error;
#[cfg(feature = "libvirt")]
mod events;
mod hostdev;
mod hypervisor;
#[cfg(feature = "libvirt")]
mod libvirt;
mod mock;
mod plan;
mod xml;

pub use apply::{apply, ActionOutcome, ApplyReport};
pub use bounded::{BoundedHypervisor, DEFAULT_CALL_BOUND};
pub use error::{error_chain, Cause, Error, ErrorKind, LibvirtError};
#[cfg(feature = "libvirt")]
pub use events::{init_event_loop, DomainEvent, DomainEventSource, LifecycleChange};
pub use hostdev::{check_detach_target, HostdevSpec, ObservedHostdev, OWNED_ALIAS_PREFIX};
pub use hypervisor::{DomainState, Hypervisor, HypervisorView, ObservedDomain};
#[cfg(feature = "libvirt")]
pub use libvirt::{library_version, LibvirtHypervisor, KEEPALIVE_COUNT, KEEPALIVE_INTERVAL_SECS};
pub use mock::{Fault, FaultMode, MockCall, MockCallKind, MockHypervisor};
pub use plan::{
    plan, Action, Assignment, DeviceDecision, Excluded, Exclusion, HeldBack, HoldReason,
    MatchedDevice, Placement, Plan, PlanInput,
};
pub use xml::{hostdev_xml, hostdev_xml_with_policy, parse_usb_hostdevs, StartupPolicy};
