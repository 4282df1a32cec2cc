//! Devices on hold: a person detached them, and the daemon respects that.
//!
//! A device is put on hold when a hostdev the daemon attached disappears from a running machine
//! although the device is still present and still matches it, and the daemon did not detach it
//! (`virsh detach-device`: seen at the next reconcile, which libvirt's device-removed event
//! triggers at once), or with the `detach` command. It is then attached nowhere until it is
//! plugged in again (a new device number: another device), released with `attach`, or a reload
//! changes the rules of the machine it was on. Holds are kept in the state directory, so they
//! outlive a restart of the daemon, not a reboot.
//!
//! The detection is pure ([`manual_detaches`]): it compares two observations of the machines.
//! A machine restarted in between (libvirt gives it a new id) lost its live hostdevs by itself:
//! nothing is put on hold then.

use std::time::{SystemTime, UNIX_EPOCH};

use libvirt_sync::{Action, Assignment, HostdevSpec, MatchedDevice, ObservedDomain};
use serde::{Deserialize, Serialize};

/// One device on hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Hold {
    /// Bus number.
    pub bus: u16,
    /// Device number.
    pub device: u16,
    /// Vendor id.
    pub vendor_id: u16,
    /// Product id.
    pub product_id: u16,
    /// The machine it was on, if any.
    pub machine: Option<String>,
    /// Why, in words.
    pub reason: String,
    /// When, in seconds since the Unix epoch.
    pub since: u64,
}

impl Hold {
    /// A hold of `spec`, now.
    pub fn new(spec: HostdevSpec, machine: Option<&str>, reason: String) -> Hold {
        Hold {
            bus: spec.bus,
            device: spec.device,
            vendor_id: spec.vendor_id,
            product_id: spec.product_id,
            machine: machine.map(str::to_owned),
            reason,
            since: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_secs()),
        }
    }

    /// The device held.
    pub fn spec(&self) -> HostdevSpec {
        HostdevSpec {
            bus: self.bus,
            device: self.device,
            vendor_id: self.vendor_id,
            product_id: self.product_id,
        }
    }
}

/// One device a person gave to a machine with `attach --to`, as the state directory keeps it (so
/// that a restart of the daemon keeps it there until it is unplugged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AssignmentRecord {
    /// Bus number.
    pub bus: u16,
    /// Device number.
    pub device: u16,
    /// Vendor id.
    pub vendor_id: u16,
    /// Product id.
    pub product_id: u16,
    /// The machine it goes to.
    pub machine: String,
}

impl From<&Assignment> for AssignmentRecord {
    fn from(assignment: &Assignment) -> AssignmentRecord {
        AssignmentRecord {
            bus: assignment.device.bus,
            device: assignment.device.device,
            vendor_id: assignment.device.vendor_id,
            product_id: assignment.device.product_id,
            machine: assignment.machine.clone(),
        }
    }
}

impl From<AssignmentRecord> for Assignment {
    fn from(record: AssignmentRecord) -> Assignment {
        Assignment {
            device: HostdevSpec {
                bus: record.bus,
                device: record.device,
                vendor_id: record.vendor_id,
                product_id: record.product_id,
            },
            machine: record.machine,
        }
    }
}

/// The owned hostdevs a person removed between two observations: `(machine, device)` for each
/// hostdev the daemon owned on a running machine in `previous` that is gone in `current`, where the
/// machine ran on all along (same libvirt id), the daemon did not try to detach it itself
/// (`attempted`, the actions of the reconcile in between), and the device is still present and
/// still goes to that machine: it matches it (`devices`, as matched now) or a person gave it to
/// it (`assignments`).
///
/// ```
/// use hotplugd::state::holds::manual_detaches;
/// use libvirt_sync::{HostdevSpec, MatchedDevice, ObservedDomain, ObservedHostdev};
///
/// let webcam = HostdevSpec { bus: 3, device: 5, vendor_id: 0x046d, product_id: 0x0825 };
/// let before = [ObservedDomain::running("vm", vec![ObservedHostdev::from(webcam)]).with_id(Some(7))];
/// let after = [ObservedDomain::running("vm", vec![]).with_id(Some(7))];
/// let devices = [MatchedDevice { spec: webcam, machines: vec!["vm".into()] }];
/// assert_eq!(manual_detaches(&before, &after, &[], &devices, &[]), [("vm".to_string(), webcam)]);
///
/// // Restarted in between (a new id): its live hostdevs went with the restart.
/// let restarted = [ObservedDomain::running("vm", vec![]).with_id(Some(8))];
/// assert!(manual_detaches(&before, &restarted, &[], &devices, &[]).is_empty());
/// ```
pub fn manual_detaches(
    previous: &[ObservedDomain],
    current: &[ObservedDomain],
    attempted: &[Action],
    devices: &[MatchedDevice],
    assignments: &[Assignment],
) -> Vec<(String, HostdevSpec)> {
    let mut removed = Vec::new();
    for before in previous.iter().filter(|domain| domain.state.is_running()) {
        let Some(after) = current.iter().find(|domain| {
            domain.name == before.name && domain.state.is_running() && domain.id.is_some()
        }) else {
            continue;
        };
        if after.id != before.id {
            continue;
        }
        let now: Vec<HostdevSpec> = after
            .state
            .hostdevs()
            .iter()
            .filter_map(|hostdev| hostdev.owned_spec())
            .collect();
        for spec in before
            .state
            .hostdevs()
            .iter()
            .filter_map(|hostdev| hostdev.owned_spec())
        {
            let detached_by_daemon = attempted.iter().any(|action| {
                !action.is_attach() && action.machine() == before.name && *action.hostdev() == spec
            });
            let still_wanted = devices.iter().any(|device| {
                device.spec == spec
                    && (device.machines.contains(&before.name)
                        || assignments.iter().any(|assignment| {
                            assignment.device == spec && assignment.machine == before.name
                        }))
            });
            if !now.contains(&spec) && !detached_by_daemon && still_wanted {
                removed.push((before.name.clone(), spec));
            }
        }
    }
    removed
}
