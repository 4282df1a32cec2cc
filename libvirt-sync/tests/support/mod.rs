//! Helpers shared by the planner's and the mock's tests: the devices they plan for, the devices
//! machines want, and the actions they expect.
#![allow(dead_code)] // each test binary uses a part of these helpers

use libvirt_sync::{
    plan, Action, DomainState, HostdevSpec, MatchedDevice, ObservedDomain, ObservedHostdev, Plan,
    PlanInput,
};

/// A Logitech C270 webcam at 003/005.
pub const WEBCAM: HostdevSpec = HostdevSpec {
    bus: 3,
    device: 5,
    vendor_id: 0x046d,
    product_id: 0x0825,
};

/// A YubiKey at 001/007.
pub const YUBIKEY: HostdevSpec = HostdevSpec {
    bus: 1,
    device: 7,
    vendor_id: 0x1050,
    product_id: 0x0407,
};

/// `spec`, matched by `machines` (in config order).
pub fn wanted_by(spec: HostdevSpec, machines: &[&str]) -> MatchedDevice {
    MatchedDevice {
        spec,
        machines: machines.iter().map(|name| name.to_string()).collect(),
    }
}

/// Attaching `hostdev` to `machine`.
pub fn attach(machine: &str, hostdev: HostdevSpec) -> Action {
    Action::Attach {
        machine: machine.into(),
        hostdev,
    }
}

/// Detaching `hostdev` from `machine`.
pub fn detach(machine: &str, hostdev: HostdevSpec) -> Action {
    Action::Detach {
        machine: machine.into(),
        hostdev,
    }
}

/// The plan for `devices` against the managed `machines`, with nothing else observed.
pub fn plan_of(devices: &[MatchedDevice], machines: &[ObservedDomain]) -> Plan {
    plan(&PlanInput {
        devices: devices.to_vec(),
        machines: machines.to_vec(),
        ..PlanInput::default()
    })
}

/// A running domain with these hostdevs.
pub fn running(name: &str, hostdevs: &[ObservedHostdev]) -> ObservedDomain {
    ObservedDomain::running(name, hostdevs.to_vec())
}

/// A defined domain that is shut off.
pub fn stopped(name: &str) -> ObservedDomain {
    ObservedDomain::new(name, DomainState::Inactive)
}
