//! What a person and the safety rules add to the assignment: holds, assignments and deny rules
//! change which machines want a device; the hold-back rules keep actions that could be wrong, or
//! are not due, from being taken now (the planner's module documentation says which).

use std::collections::{HashMap, HashSet};

use super::{Action, Exclusion, HoldReason, MatchedDevice, PlanInput};
use crate::{DomainState, HostdevSpec, ObservedDomain};

/// The devices with the machines they go to: none for a device on hold or denied, the assigned
/// machine alone for an assigned one (a hold or a deny rule wins over an assignment).
pub(super) fn with_holds_and_assignments(input: &PlanInput) -> Vec<MatchedDevice> {
    if input.holds.is_empty() && input.assignments.is_empty() && input.exclusions.is_empty() {
        return input.devices.clone();
    }
    let mut held: HashSet<&HostdevSpec> = input.holds.iter().collect();
    // A denied device is wanted by no machine, like one on hold.
    held.extend(input.exclusions.iter().filter_map(|excluded| {
        matches!(excluded.why, Exclusion::Denied { .. }).then_some(&excluded.device)
    }));
    let assigned: HashMap<&HostdevSpec, &str> = input
        .assignments
        .iter()
        .map(|assignment| (&assignment.device, assignment.machine.as_str()))
        .collect();
    input
        .devices
        .iter()
        .map(|device| {
            let machines = if held.contains(&device.spec) {
                Vec::new()
            } else if let Some(machine) = assigned.get(&device.spec) {
                vec![machine.to_string()]
            } else {
                device.machines.clone()
            };
            MatchedDevice {
                spec: device.spec,
                machines,
            }
        })
        .collect()
}

/// The rules that hold actions back (module documentation, "What is held back").
pub(super) struct HoldRules<'a> {
    present: HashSet<HostdevSpec>,
    unreadable_ports: &'a [String],
    unreadable_machines: HashSet<&'a str>,
    retrying: HashSet<&'a Action>,
}

impl<'a> HoldRules<'a> {
    pub(super) fn new(
        input: &'a PlanInput,
        devices: &[&MatchedDevice],
        managed: &HashMap<&'a str, &'a ObservedDomain>,
    ) -> Self {
        HoldRules {
            present: devices.iter().map(|device| device.spec).collect(),
            unreadable_ports: &input.unreadable_devices,
            unreadable_machines: managed
                .iter()
                .filter(|(_, domain)| matches!(domain.state, DomainState::Unreadable { .. }))
                .map(|(name, _)| *name)
                .collect(),
            retrying: input.retrying.iter().collect(),
        }
    }

    pub(super) fn detach(&self, detach: &Action) -> Option<HoldReason> {
        if !self.unreadable_ports.is_empty() && !self.present.contains(detach.hostdev()) {
            let mut ports = self.unreadable_ports.to_vec();
            ports.sort();
            ports.dedup();
            return Some(HoldReason::UnreadableDevices { ports });
        }
        self.retrying(detach)
    }

    /// The reason to hold back an attach of `device`, apart from a held detach and a retry.
    pub(super) fn attach(&self, device: &MatchedDevice) -> Option<HoldReason> {
        device
            .machines
            .iter()
            .find(|machine| self.unreadable_machines.contains(machine.as_str()))
            .map(|machine| HoldReason::UnreadableMachine {
                machine: machine.clone(),
            })
    }

    pub(super) fn retrying(&self, action: &Action) -> Option<HoldReason> {
        self.retrying
            .contains(action)
            .then_some(HoldReason::Retrying)
    }
}
