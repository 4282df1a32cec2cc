//! The planner: from the whole observed state ([`PlanInput`]) the whole [`Plan`]: the actions to
//! take now, the actions held back and why, and where each device goes and why (DESIGN.md,
//! Semantics 2–4).
//!
//! [`plan`] is a pure function of its input, and the only place where an action is decided:
//! nothing after it adds, removes or reorders actions, so what `explain` shows is what the daemon
//! does. It does not depend on the order devices or domains are listed in, and applying its
//! actions then planning again gives no actions.
//!
//! # How a hostdev is read as holding a device
//! Only the hostdevs of running domains count (an inactive domain has no live hostdevs).
//! * An **owned** hostdev ([`ObservedHostdev::owned_spec`]) holds the device with exactly that bus,
//!   device, vendor and product. An owned hostdev whose spec cannot be read (alias damaged and
//!   source incomplete) is read like an unowned one, and so is never detached.
//! * An **unowned** hostdev whose source has an address (bus and device) holds the device at that
//!   address, provided the vendor and product it gives, if any, agree with the device's.
//! * An unowned hostdev without an address but with vendor and product holds the first device, in
//!   (bus, device) order, with those ids that no other unowned hostdev holds and that no owned
//!   hostdev holds on a running machine that matches it. Identical devices are thus told apart
//!   deterministically, and the choice is the same after the plan is applied. It never holds a
//!   device on hold or one the host keeps (denied, in use), so that a deny rule or a hold never
//!   moves its claim onto another device. An unowned hostdev with neither a full address nor both
//!   ids holds nothing.
//! * Every hostdev of a running domain the daemon does not manage ([`PlanInput::others`]), owned
//!   or not, is read like an unowned one: the device it holds is busy there, and it is never
//!   detached.
//!
//! Domains are considered in name order wherever their order matters (which unowned hostdev
//! claims a device first, which machine a busy device is reported on).
//!
//! # What is held back
//! An action the assignment asks for is held back, with a [`HoldReason`], when taking it now
//! could be wrong or is not due:
//! * the detach of an owned hostdev whose device is not among the devices read, while some device
//!   present cannot be read: it may be that device ([`HoldReason::UnreadableDevices`]);
//! * the attach of a device that a machine which cannot be read matches: that machine may hold it
//!   ([`HoldReason::UnreadableMachine`]);
//! * the attach of a device whose detach from another machine is held back: it would be on two
//!   machines ([`HoldReason::DetachHeldBack`]);
//! * an action that failed recently and waits for its retry time ([`HoldReason::Retrying`]).

mod holders;
mod person;

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::{HostdevSpec, ObservedDomain};
use holders::{Holder, Holders};
use person::{with_holds_and_assignments, HoldRules};

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

/// Everything that decides an action: what the daemon saw and what it wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanInput {
    /// The devices read, each with the machines that match it in config order.
    pub devices: Vec<MatchedDevice>,
    /// The ports (kernel names, `2-1.3`) of the devices present that could not be read.
    pub unreadable_devices: Vec<String>,
    /// The machines the daemon manages: the configured ones, and those it attached devices to
    /// that are no longer configured (their owned hostdevs are detached). One state each.
    pub machines: Vec<ObservedDomain>,
    /// Every other running domain with its hostdevs: what they hold is busy there, never detached.
    pub others: Vec<ObservedDomain>,
    /// Actions that failed recently and wait for their retry time.
    pub retrying: Vec<Action>,
    /// Devices on hold (a person detached them): attached nowhere, and detached where the daemon
    /// attached them.
    pub holds: Vec<HostdevSpec>,
    /// Devices a person assigned to a machine: that machine is the only one they match.
    pub assignments: Vec<Assignment>,
    /// Devices the host keeps: denied by a rule, or in use by the host.
    pub exclusions: Vec<Excluded>,
}

/// A device the host keeps, and why.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Excluded {
    /// The device.
    pub device: HostdevSpec,
    /// Why.
    pub why: Exclusion,
}

/// Why the host keeps a device.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Exclusion {
    /// A deny rule matches it: no machine gets it, and the daemon's hostdevs of it are detached.
    Denied {
        /// The rule, in words (`excluded by deny[0] (port 1-4)`).
        rule: String,
    },
    /// The host uses it (a mounted file system, active swap, a device-mapper member on it): it is
    /// not attached. Where the daemon attached it already, it stays (the host no longer sees its
    /// block devices then).
    InUse {
        /// Why, in words (`/dev/sdb1 is mounted on /boot`).
        reason: String,
    },
}

/// A device a person assigned to a machine, whatever the rules say.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Assignment {
    /// The device.
    pub device: HostdevSpec,
    /// The machine it goes to (when it runs).
    pub machine: String,
}

/// One change to a running domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Detach the owned hostdev of the device from the machine.
    Detach {
        /// The domain.
        machine: String,
        /// The device.
        hostdev: HostdevSpec,
    },
    /// Attach the device to the machine, with the owned alias.
    Attach {
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

    /// Whether it is an attach.
    pub fn is_attach(&self) -> bool {
        matches!(self, Action::Attach { .. })
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

/// Why an action the assignment asks for is not taken now.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HoldReason {
    /// The device of this owned hostdev is not among the devices read, but these devices (ports)
    /// could not be read, and it may be one of them.
    UnreadableDevices {
        /// The ports of the devices that could not be read.
        ports: Vec<String>,
    },
    /// This machine matches the device but could not be read: it may hold the device.
    UnreadableMachine {
        /// The machine.
        machine: String,
    },
    /// The device's detach from this machine is held back: attaching it elsewhere now would put it
    /// on two machines.
    DetachHeldBack {
        /// The machine the device is still on.
        machine: String,
    },
    /// It failed recently and waits for its retry time.
    Retrying,
}

impl fmt::Display for HoldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HoldReason::UnreadableDevices { ports } => write!(
                f,
                "USB device {} cannot be read and may be this one: nothing is detached as gone \
                 while a device cannot be read",
                ports.join(", ")
            ),
            HoldReason::UnreadableMachine { machine } => write!(
                f,
                "{machine} matches it but cannot be read from libvirt, and may hold it"
            ),
            HoldReason::DetachHeldBack { machine } => {
                write!(f, "it is still on {machine}, whose detach is held back")
            }
            HoldReason::Retrying => f.write_str("it failed recently and waits for its retry"),
        }
    }
}

/// An action held back, and why.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeldBack {
    /// The action the assignment asks for.
    pub action: Action,
    /// Why it is not taken now.
    pub why: HoldReason,
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
    /// Held on `machine`, which does not match it, by a hostdev the daemon may not detach (one set
    /// up by hand, or any hostdev of a domain the daemon does not manage): it is busy there and
    /// goes nowhere else.
    Busy {
        /// The machine.
        machine: String,
    },
    /// To be attached to `machine`, the first running machine in config order that matches it
    /// (the attach may be held back).
    Attach {
        /// The machine.
        machine: String,
    },
    /// A person put it on hold (detached it by hand, or with the `detach` command): it goes
    /// nowhere until replugged or released.
    OnHold,
    /// A deny rule keeps it on the host.
    Denied {
        /// The rule, in words.
        rule: String,
    },
    /// The host uses it: it is not attached.
    InUse {
        /// Why, in words.
        reason: String,
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
            Placement::OnHold
            | Placement::Denied { .. }
            | Placement::InUse { .. }
            | Placement::Unassigned => None,
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

/// The whole plan: what to do now, what waits and why, and the decision behind it for each device.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// The actions to take now: all detaches, then all attaches, each sorted by machine name and
    /// then device.
    pub actions: Vec<Action>,
    /// The actions the assignment asks for that are not taken now, in the same order.
    pub held_back: Vec<HeldBack>,
    /// One decision per device, sorted by device (bus, device, vendor, product).
    pub decisions: Vec<DeviceDecision>,
}

impl Plan {
    /// Whether there is nothing to do now.
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

/// Plans the attaches and detaches that give each device its place (DESIGN.md, Semantics 2–4), and
/// holds back those that must wait (see the module documentation).
///
/// * A device already on a running machine that still matches it (by an owned hostdev or not)
///   stays there: the first such machine in config order. Otherwise, unless a hostdev the daemon
///   may not detach holds it on a machine that does not match it (busy), it goes to the first
///   running matching machine in config order, or nowhere if none runs.
/// * Only owned hostdevs of managed machines are detached: when their device is gone (a replugged
///   device has a new device number, so its old hostdev is stale), no longer matches their
///   machine, or is placed on another machine.
///
/// ```
/// use libvirt_sync::{plan, Action, DomainState, HostdevSpec, MatchedDevice, ObservedDomain};
/// use libvirt_sync::{Placement, PlanInput};
///
/// let webcam = HostdevSpec { bus: 3, device: 5, vendor_id: 0x046d, product_id: 0x0825 };
/// let input = PlanInput {
///     devices: vec![MatchedDevice { spec: webcam, machines: vec!["office".into(), "lab".into()] }],
///     machines: vec![
///         ObservedDomain::new("office", DomainState::Inactive),
///         ObservedDomain::running("lab", vec![]),
///     ],
///     ..PlanInput::default()
/// };
/// let plan = plan(&input);
/// assert_eq!(plan.actions, [Action::Attach { machine: "lab".into(), hostdev: webcam }]);
/// assert_eq!(plan.decisions[0].placement, Placement::Attach { machine: "lab".into() });
/// ```
pub fn plan(input: &PlanInput) -> Plan {
    let wanted = with_holds_and_assignments(input);
    let devices = canonical_devices(&wanted);
    let managed = by_name(&input.machines);
    let others: HashMap<&str, &ObservedDomain> = by_name(&input.others)
        .into_iter()
        .filter(|(name, _)| !managed.contains_key(name))
        .collect();
    let running: HashSet<&str> = managed
        .iter()
        .filter(|(_, domain)| domain.state.is_running())
        .map(|(name, _)| *name)
        .collect();
    // Devices a person put on hold or the host keeps are never claimed by a hostdev without an
    // address: whether a deny rule or a hold applies never moves such a claim onto another device.
    let kept: HashSet<HostdevSpec> = input
        .holds
        .iter()
        .copied()
        .chain(input.exclusions.iter().map(|excluded| excluded.device))
        .collect();
    let holders = Holders::observe(&devices, &managed, &others, &kept);

    let mut decisions = Vec::with_capacity(devices.len());
    let mut attaches = Vec::new();
    let on_hold: HashSet<&HostdevSpec> = input.holds.iter().collect();
    let excluded: HashMap<&HostdevSpec, &Exclusion> = input
        .exclusions
        .iter()
        .map(|excluded| (&excluded.device, &excluded.why))
        .collect();
    for (index, device) in devices.iter().enumerate() {
        let mut decision = decide(device, &running, holders.of(index));
        match (excluded.get(&device.spec), &decision.placement) {
            (Some(Exclusion::Denied { rule }), Placement::Unassigned) => {
                decision.placement = Placement::Denied { rule: rule.clone() };
            }
            (_, Placement::Unassigned) if on_hold.contains(&device.spec) => {
                decision.placement = Placement::OnHold;
            }
            (Some(Exclusion::InUse { reason }), Placement::Attach { .. }) => {
                decision.placement = Placement::InUse {
                    reason: reason.clone(),
                };
                decision.conflicts.clear();
            }
            _ => {}
        }
        if let Placement::Attach { machine } = &decision.placement {
            let attach = Action::Attach {
                machine: machine.clone(),
                hostdev: device.spec,
            };
            attaches.push((attach, *device));
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
    detaches.sort_by(by_machine_then_device);
    detaches.dedup();
    attaches.sort_by(|(a, _), (b, _)| by_machine_then_device(a, b));

    let holds = HoldRules::new(input, &devices, &managed);
    let mut actions = Vec::with_capacity(detaches.len() + attaches.len());
    let mut held_back = Vec::new();
    for detach in detaches {
        match holds.detach(&detach) {
            Some(why) => held_back.push(HeldBack {
                action: detach,
                why,
            }),
            None => actions.push(detach),
        }
    }
    let detach_held_from: HashMap<HostdevSpec, String> = held_back
        .iter()
        .map(|held| (*held.action.hostdev(), held.action.machine().to_owned()))
        .collect();
    for (attach, device) in attaches {
        let why = holds.attach(device).or_else(|| {
            detach_held_from
                .get(attach.hostdev())
                .map(|machine| HoldReason::DetachHeldBack {
                    machine: machine.clone(),
                })
        });
        match why.or_else(|| holds.retrying(&attach)) {
            Some(why) => held_back.push(HeldBack {
                action: attach,
                why,
            }),
            None => actions.push(attach),
        }
    }
    Plan {
        actions,
        held_back,
        decisions,
    }
}

fn by_machine_then_device(a: &Action, b: &Action) -> std::cmp::Ordering {
    (a.machine(), a.hostdev()).cmp(&(b.machine(), b.hostdev()))
}

/// The devices sorted by spec, each spec once (the entry whose machine list sorts first).
fn canonical_devices(devices: &[MatchedDevice]) -> Vec<&MatchedDevice> {
    let mut sorted: Vec<&MatchedDevice> = devices.iter().collect();
    sorted.sort_by(|a, b| (a.spec, &a.machines).cmp(&(b.spec, &b.machines)));
    sorted.dedup_by_key(|device| device.spec);
    sorted
}

/// The domains by name, each name once (its first entry).
fn by_name(domains: &[ObservedDomain]) -> HashMap<&str, &ObservedDomain> {
    let mut named = HashMap::with_capacity(domains.len());
    for domain in domains {
        named.entry(domain.name.as_str()).or_insert(domain);
    }
    named
}

/// Where one device goes, given the machines holding it.
fn decide(
    device: &MatchedDevice,
    running: &HashSet<&str>,
    holders: &[Holder<'_>],
) -> DeviceDecision {
    let mut seen = HashSet::new();
    let candidates: Vec<&str> = device
        .machines
        .iter()
        .map(String::as_str)
        .filter(|machine| running.contains(machine) && seen.insert(*machine))
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
