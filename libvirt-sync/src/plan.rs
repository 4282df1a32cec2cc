//! The planner: from the devices (with the machines whose rules match each) and the observed
//! domains, the actions that bring the domains in step with the assignment rules of DESIGN.md
//! (Semantics 2–4), and for each device where it goes and why.
//!
//! [`plan`] is a pure function of its inputs. It does not depend on the order the devices are
//! listed in, and applying its actions then planning again gives no actions.
//!
//! # How a hostdev is read as holding a device
//! Only the hostdevs of active domains count (an inactive domain has no live hostdevs).
//! * An **owned** hostdev ([`ObservedHostdev::owned_spec`]) holds the device with exactly that bus,
//!   device, vendor and product. An owned hostdev whose spec cannot be read (alias damaged and
//!   source incomplete) is read like an unowned one, and so is never detached.
//! * An **unowned** hostdev whose source has an address (bus and device) holds the device at that
//!   address, provided the vendor and product it gives, if any, agree with the device's.
//! * An unowned hostdev without an address but with vendor and product holds the first device, in
//!   (bus, device) order, with those ids that no other unowned hostdev holds and that no owned
//!   hostdev holds on a running machine that matches it. Identical devices are thus told apart
//!   deterministically, and the choice is the same after the plan is applied. An unowned hostdev
//!   with neither a full address nor both ids holds nothing.
//!
//! Domains are considered in name order wherever their order matters (which unowned hostdev
//! claims a device first, which machine a busy device is reported on).

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::{DomainState, HostdevSpec, ObservedHostdev};

/// A device and the machines whose rules match it: the planner's view of the desired state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MatchedDevice {
    /// The device: host bus, device number, vendor and product ids.
    pub spec: HostdevSpec,
    /// The machines whose matchers match the device, in config order. Empty when no machine wants
    /// it (hubs, never attached, always have none). A device listed twice is planned once, with
    /// the entry whose machine list sorts first.
    pub machines: Vec<String>,
}

/// One change to a running domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// Attach the device to the machine, with the owned alias.
    Attach {
        /// The domain.
        machine: String,
        /// The device.
        hostdev: HostdevSpec,
    },
    /// Detach the owned hostdev of the device from the machine.
    Detach {
        /// The domain.
        machine: String,
        /// The device.
        hostdev: HostdevSpec,
    },
}

impl Action {
    /// The domain the action changes.
    pub fn machine(&self) -> &str {
        match self {
            Action::Attach { machine, .. } | Action::Detach { machine, .. } => machine,
        }
    }

    /// The device the action attaches or detaches.
    pub fn hostdev(&self) -> &HostdevSpec {
        match self {
            Action::Attach { hostdev, .. } | Action::Detach { hostdev, .. } => hostdev,
        }
    }
}

impl fmt::Display for Action {
    /// `attach 003/005 (046d:0825) to vm`, `detach 003/005 (046d:0825) from vm`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Attach { machine, hostdev } => write!(f, "attach {hostdev} to {machine}"),
            Action::Detach { machine, hostdev } => write!(f, "detach {hostdev} from {machine}"),
        }
    }
}

/// Where a device is, or goes, after the plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Placement {
    /// Already on `machine`, a running machine that matches it, by a hostdev the daemon attached:
    /// it stays there.
    Owned {
        /// The machine.
        machine: String,
    },
    /// Already on `machine`, a running machine that matches it, by a hostdev the daemon did not
    /// attach (a static one): it counts as placed and stays there.
    Held {
        /// The machine.
        machine: String,
    },
    /// Held by a hostdev the daemon did not attach on `machine`, which does not match it: it is
    /// busy there and goes nowhere else.
    Busy {
        /// The machine.
        machine: String,
    },
    /// To be attached to `machine`, the first running machine in config order that matches it.
    Attach {
        /// The machine.
        machine: String,
    },
    /// No running machine matches it: it goes nowhere.
    Unassigned,
}

impl Placement {
    /// The machine the device is on or goes to; `None` when unassigned.
    pub fn machine(&self) -> Option<&str> {
        match self {
            Placement::Owned { machine }
            | Placement::Held { machine }
            | Placement::Busy { machine }
            | Placement::Attach { machine } => Some(machine),
            Placement::Unassigned => None,
        }
    }
}

/// The planner's decision about one device, for `explain` and the log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceDecision {
    /// The device.
    pub device: HostdevSpec,
    /// Where it is or goes.
    pub placement: Placement,
    /// The other running machines that match it but do not get it, in config order.
    pub conflicts: Vec<String>,
}

/// The actions that bring the domains in step, and the decision behind them for each device.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// All detaches, then all attaches, each sorted by machine name and then device.
    pub actions: Vec<Action>,
    /// One decision per device, sorted by device (bus, device, vendor, product).
    pub decisions: Vec<DeviceDecision>,
}

impl Plan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// The decision about `device`, if it was among the devices planned.
    pub fn decision(&self, device: &HostdevSpec) -> Option<&DeviceDecision> {
        self.decisions
            .binary_search_by(|decision| decision.device.cmp(device))
            .ok()
            .and_then(|index| self.decisions.get(index))
    }
}

/// Plans the attaches and detaches that give each device its place (DESIGN.md, Semantics 2–4).
///
/// `devices` are the host's devices with the machines that match each, in config order;
/// `domains` the observed configured domains (an absent or inactive domain is not running).
///
/// * A device already on a running machine that still matches it (by an owned hostdev or not)
///   stays there: the first such machine in config order. Otherwise, unless a hostdev the daemon
///   does not own holds it on a machine that does not match it (busy), it goes to the first
///   running matching machine in config order, or nowhere if none runs.
/// * Only owned hostdevs are detached: when their device is gone (a replugged device has a new
///   device number, so its old hostdev is stale), no longer matches their machine, or is placed on
///   another machine.
///
/// ```
/// use libvirt_sync::{plan, Action, DomainState, HostdevSpec, MatchedDevice, Placement};
///
/// let webcam = HostdevSpec { bus: 3, device: 5, vendor_id: 0x046d, product_id: 0x0825 };
/// let devices = [MatchedDevice { spec: webcam, machines: vec!["office".into(), "lab".into()] }];
/// let domains = [
///     DomainState { name: "office".into(), active: false, hostdevs: vec![] },
///     DomainState { name: "lab".into(), active: true, hostdevs: vec![] },
/// ];
/// let plan = plan(&devices, &domains);
/// assert_eq!(plan.actions, [Action::Attach { machine: "lab".into(), hostdev: webcam }]);
/// assert_eq!(plan.decisions[0].placement, Placement::Attach { machine: "lab".into() });
/// ```
pub fn plan(devices: &[MatchedDevice], domains: &[DomainState]) -> Plan {
    let devices = canonical_devices(devices);
    let running = running_domains(domains);
    let holders = Holders::observe(&devices, &running);

    let mut decisions = Vec::with_capacity(devices.len());
    let mut attaches = Vec::new();
    for (index, device) in devices.iter().enumerate() {
        let decision = decide(device, &running, holders.of(index));
        if let Placement::Attach { machine } = &decision.placement {
            attaches.push(Action::Attach {
                machine: machine.clone(),
                hostdev: device.spec,
            });
        }
        decisions.push(decision);
    }

    let placed_by_owned: HashMap<HostdevSpec, &str> = decisions
        .iter()
        .filter_map(|decision| match &decision.placement {
            Placement::Owned { machine } => Some((decision.device, machine.as_str())),
            _ => None,
        })
        .collect();
    let mut detaches: Vec<Action> = holders
        .owned
        .iter()
        .filter(|(machine, spec)| placed_by_owned.get(spec) != Some(machine))
        .map(|(machine, spec)| Action::Detach {
            machine: machine.to_string(),
            hostdev: *spec,
        })
        .collect();

    let by_machine_then_device =
        |a: &Action, b: &Action| (a.machine(), a.hostdev()).cmp(&(b.machine(), b.hostdev()));
    detaches.sort_by(by_machine_then_device);
    detaches.dedup();
    attaches.sort_by(by_machine_then_device);
    detaches.extend(attaches);
    Plan {
        actions: detaches,
        decisions,
    }
}

/// The devices sorted by spec, each spec once (the entry whose machine list sorts first).
fn canonical_devices(devices: &[MatchedDevice]) -> Vec<&MatchedDevice> {
    let mut sorted: Vec<&MatchedDevice> = devices.iter().collect();
    sorted.sort_by(|a, b| (a.spec, &a.machines).cmp(&(b.spec, &b.machines)));
    sorted.dedup_by_key(|device| device.spec);
    sorted
}

/// The active domains by name, each name once (its first entry).
fn running_domains(domains: &[DomainState]) -> HashMap<&str, &DomainState> {
    let mut running = HashMap::new();
    for domain in domains.iter().filter(|domain| domain.active) {
        running.entry(domain.name.as_str()).or_insert(domain);
    }
    running
}

/// A running machine holding a device by one of its hostdevs.
#[derive(Debug, Clone, Copy)]
struct Holder<'a> {
    machine: &'a str,
    owned: bool,
}

/// Which running machines hold which device, read from their hostdevs.
struct Holders<'a> {
    /// Per device (index into the canonical devices), the machines holding it.
    by_device: Vec<Vec<Holder<'a>>>,
    /// Every owned hostdev of a running domain: (machine, spec).
    owned: Vec<(&'a str, HostdevSpec)>,
}

impl<'a> Holders<'a> {
    fn observe(devices: &[&MatchedDevice], running: &HashMap<&'a str, &'a DomainState>) -> Self {
        let mut index_of = HashMap::with_capacity(devices.len());
        let mut at_address: HashMap<(u16, u16), Vec<usize>> = HashMap::new();
        let mut with_ids: HashMap<(u16, u16), Vec<usize>> = HashMap::new();
        for (index, device) in devices.iter().enumerate() {
            let spec = device.spec;
            index_of.insert(spec, index);
            at_address
                .entry((spec.bus, spec.device))
                .or_default()
                .push(index);
            with_ids
                .entry((spec.vendor_id, spec.product_id))
                .or_default()
                .push(index);
        }

        let mut names: Vec<&'a str> = running.keys().copied().collect();
        names.sort_unstable();
        let mut holders = Holders {
            by_device: vec![Vec::new(); devices.len()],
            owned: Vec::new(),
        };
        let mut unowned_held = vec![false; devices.len()];
        let mut without_address = Vec::new();
        for &machine in &names {
            let Some(domain) = running.get(machine) else {
                continue;
            };
            for hostdev in &domain.hostdevs {
                if let Some(spec) = hostdev.owned_spec() {
                    holders.owned.push((machine, spec));
                    if let Some(&index) = index_of.get(&spec) {
                        holders.add(index, machine, true);
                    }
                } else if let (Some(bus), Some(device)) = (hostdev.bus, hostdev.device) {
                    let held = at_address.get(&(bus, device)).and_then(|candidates| {
                        candidates
                            .iter()
                            .copied()
                            .find(|&index| ids_agree(hostdev, &devices[index].spec))
                    });
                    if let Some(index) = held {
                        holders.add(index, machine, false);
                        unowned_held[index] = true;
                    }
                } else if let (Some(vendor), Some(product)) =
                    (hostdev.vendor_id, hostdev.product_id)
                {
                    without_address.push((machine, vendor, product));
                }
            }
        }

        // Devices that stay where an owned hostdev put them are not free for a hostdev without
        // an address; nothing the plan does changes this set for the devices such a hostdev may
        // take, so the choice below is the same when planning again.
        let owned_placed: Vec<bool> = holders
            .by_device
            .iter()
            .zip(devices)
            .map(|(holders, device)| {
                holders.iter().any(|holder| {
                    holder.owned && device.machines.iter().any(|name| name == holder.machine)
                })
            })
            .collect();
        for (machine, vendor, product) in without_address {
            let free = with_ids.get(&(vendor, product)).and_then(|candidates| {
                candidates
                    .iter()
                    .copied()
                    .find(|&index| !unowned_held[index] && !owned_placed[index])
            });
            if let Some(index) = free {
                holders.add(index, machine, false);
                unowned_held[index] = true;
            }
        }
        holders
    }

    fn add(&mut self, index: usize, machine: &'a str, owned: bool) {
        if let Some(holders) = self.by_device.get_mut(index) {
            holders.push(Holder { machine, owned });
        }
    }

    fn of(&self, index: usize) -> &[Holder<'a>] {
        self.by_device.get(index).map_or(&[], Vec::as_slice)
    }
}

/// Whether the ids an unowned hostdev gives (if any) are the device's.
fn ids_agree(hostdev: &ObservedHostdev, spec: &HostdevSpec) -> bool {
    hostdev.vendor_id.unwrap_or(spec.vendor_id) == spec.vendor_id
        && hostdev.product_id.unwrap_or(spec.product_id) == spec.product_id
}

/// Where one device goes, given the machines holding it.
fn decide(
    device: &MatchedDevice,
    running: &HashMap<&str, &DomainState>,
    holders: &[Holder<'_>],
) -> DeviceDecision {
    let mut seen = HashSet::new();
    let candidates: Vec<&str> = device
        .machines
        .iter()
        .map(String::as_str)
        .filter(|machine| running.contains_key(machine) && seen.insert(*machine))
        .collect();

    let already_on = candidates.iter().find_map(|&machine| {
        let mut on_machine = holders.iter().filter(|holder| holder.machine == machine);
        let first = on_machine.next()?;
        let owned = first.owned || on_machine.any(|holder| holder.owned);
        Some((machine, owned))
    });
    let busy_on = || {
        holders
            .iter()
            .filter(|holder| !holder.owned)
            .map(|holder| holder.machine)
            .min()
    };
    let placement = match already_on {
        Some((machine, true)) => Placement::Owned {
            machine: machine.to_string(),
        },
        Some((machine, false)) => Placement::Held {
            machine: machine.to_string(),
        },
        None => match (busy_on(), candidates.first()) {
            (Some(machine), _) => Placement::Busy {
                machine: machine.to_string(),
            },
            (None, Some(machine)) => Placement::Attach {
                machine: machine.to_string(),
            },
            (None, None) => Placement::Unassigned,
        },
    };
    let winner = match &placement {
        Placement::Busy { .. } => None,
        other => other.machine(),
    };
    let conflicts = candidates
        .into_iter()
        .filter(|&machine| Some(machine) != winner)
        .map(str::to_string)
        .collect();
    DeviceDecision {
        device: device.spec,
        placement,
        conflicts,
    }
}
