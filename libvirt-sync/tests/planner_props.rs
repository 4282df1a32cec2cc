//! Properties of the planner over generated hosts: devices (identical models among them, replugged
//! ones, ones no machine wants, as hubs are listed), devices that cannot be read, machines
//! running, stopped, undefined or unreadable, running domains the daemon does not manage, hostdevs
//! owned (current or stale) and static (with an address, or only vendor and product), and
//! actions waiting for a retry. Plans are applied to the `MockHypervisor`.

use std::collections::HashSet;

use libvirt_sync::{
    apply, plan, Action, Cause, DomainState, Error, HoldReason, HostdevSpec, Hypervisor,
    MatchedDevice, MockHypervisor, ObservedDomain, ObservedHostdev, Placement, Plan, PlanInput,
};
use proptest::prelude::*;
use proptest::sample::Index;

/// Machine names in config order, which is not their name order.
const MACHINES: [&str; 4] = ["vm-c", "vm-a", "vm-d", "vm-b"];

/// Running domains the daemon does not manage.
const OTHERS: [&str; 2] = ["other-b", "other-a"];

/// Vendor and product ids: few, so that identical devices are common.
const MODELS: [(u16, u16); 3] = [(0x046d, 0x0825), (0x1050, 0x0407), (0x0403, 0x6001)];

#[derive(Debug, Clone)]
struct Scenario {
    devices: Vec<MatchedDevice>,
    /// The managed machines' states (undefined ones included).
    domains: Vec<ObservedDomain>,
    /// Running domains the daemon does not manage.
    others: Vec<ObservedDomain>,
    /// Ports of devices that cannot be read.
    unreadable_devices: Vec<String>,
    /// Which of the first plan's actions are waiting for a retry (bit i: action i).
    retry_mask: u16,
}

impl Scenario {
    fn input(&self) -> PlanInput {
        PlanInput {
            devices: self.devices.clone(),
            unreadable_devices: self.unreadable_devices.clone(),
            machines: self.domains.clone(),
            others: self.others.clone(),
            ..PlanInput::default()
        }
    }

    /// The input with some of the actions of its plan waiting for a retry.
    fn input_with_retries(&self) -> PlanInput {
        let mut input = self.input();
        let first = plan(&input);
        input.retrying = first
            .actions
            .iter()
            .enumerate()
            .filter(|(index, _)| *index < 16 && self.retry_mask & (1 << index) != 0)
            .map(|(_, action)| action.clone())
            .collect();
        input
    }

    fn running(&self) -> impl Iterator<Item = &ObservedDomain> + '_ {
        self.domains
            .iter()
            .chain(&self.others)
            .filter(|domain| domain.state.is_running())
    }
}

/// A hostdev to put in a running domain.
#[derive(Debug, Clone)]
enum Pick {
    /// The owned hostdev of a device of the host.
    Owned(Index),
    /// The owned hostdev of a device of the host before it was replugged (other device number).
    OwnedReplugged(Index),
    /// An owned hostdev of any spec (mostly of no device of the host).
    OwnedAny(HostdevSpec),
    /// A static hostdev with a device's address; 0: no ids, 1: both ids, 2: the vendor only.
    StaticAt(Index, u8),
    /// A static hostdev with an address where there may be no device.
    StaticAtAny(HostdevSpec),
    /// A static hostdev with only vendor and product.
    StaticIds(usize),
}

fn any_spec() -> impl Strategy<Value = HostdevSpec> {
    (1u16..=3, 1u16..=8, 0..MODELS.len()).prop_map(|(bus, device, model)| spec(bus, device, model))
}

fn spec(bus: u16, device: u16, model: usize) -> HostdevSpec {
    let (vendor_id, product_id) = MODELS[model];
    HostdevSpec {
        bus,
        device,
        vendor_id,
        product_id,
    }
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        4 => any::<Index>().prop_map(Pick::Owned),
        1 => any::<Index>().prop_map(Pick::OwnedReplugged),
        1 => any_spec().prop_map(Pick::OwnedAny),
        2 => (any::<Index>(), 0u8..3).prop_map(|(index, ids)| Pick::StaticAt(index, ids)),
        1 => any_spec().prop_map(Pick::StaticAtAny),
        2 => (0..MODELS.len()).prop_map(Pick::StaticIds),
    ]
}

/// A machine's state: 0 undefined, 1 inactive, 2 running, 3 unreadable.
fn machine_state() -> impl Strategy<Value = u8> {
    prop_oneof![1 => Just(0u8), 2 => Just(1u8), 5 => Just(2u8), 1 => Just(3u8)]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let machines = proptest::collection::vec(machine_state(), MACHINES.len());
    // (bus, device, model, bit i set: MACHINES[i] matches it).
    let device = (1u16..=3, 1u16..=8, 0..MODELS.len(), 0u8..16);
    let devices = proptest::collection::vec(device, 0..9);
    let hostdevs = proptest::collection::vec(
        proptest::collection::vec(pick(), 0..5),
        MACHINES.len() + OTHERS.len(),
    );
    let others = proptest::collection::vec(any::<bool>(), OTHERS.len());
    let unreadable = prop_oneof![3 => Just(0usize), 1 => 1usize..3];
    (
        machines,
        devices,
        hostdevs,
        others,
        unreadable,
        any::<u16>(),
    )
        .prop_map(
            |(machines, devices, hostdevs, others, unreadable, retry_mask)| {
                build(
                    &machines, &devices, &hostdevs, &others, unreadable, retry_mask,
                )
            },
        )
}

fn build(
    machines: &[u8],
    devices: &[(u16, u16, usize, u8)],
    hostdevs: &[Vec<Pick>],
    others: &[bool],
    unreadable: usize,
    retry_mask: u16,
) -> Scenario {
    // A host numbers its devices uniquely per bus.
    let mut addresses = HashSet::new();
    let devices: Vec<MatchedDevice> = devices
        .iter()
        .filter(|(bus, device, ..)| addresses.insert((*bus, *device)))
        .map(|&(bus, device, model, mask)| MatchedDevice {
            spec: spec(bus, device, model),
            machines: (0..MACHINES.len())
                .filter(|bit| mask & (1 << bit) != 0)
                .map(|bit| MACHINES[bit].to_string())
                .collect(),
        })
        .collect();
    let device_at =
        |index: &Index| (!devices.is_empty()).then(|| devices[index.index(devices.len())].spec);
    let hostdevs_of = |picks: &[Pick]| {
        let mut observed = Vec::new();
        for pick in picks {
            let hostdev = match pick {
                Pick::Owned(index) => device_at(index).map(ObservedHostdev::from),
                Pick::OwnedReplugged(index) => device_at(index).map(|spec| {
                    ObservedHostdev::from(HostdevSpec {
                        device: spec.device + 8,
                        ..spec
                    })
                }),
                Pick::OwnedAny(spec) => Some(ObservedHostdev::from(*spec)),
                Pick::StaticAt(index, ids) => device_at(index).map(|spec| ObservedHostdev {
                    bus: Some(spec.bus),
                    device: Some(spec.device),
                    vendor_id: (*ids > 0).then_some(spec.vendor_id),
                    product_id: (*ids == 1).then_some(spec.product_id),
                    alias: None,
                }),
                Pick::StaticAtAny(spec) => Some(ObservedHostdev {
                    alias: Some("hostdev1".into()),
                    ..ObservedHostdev::from(*spec)
                }),
                Pick::StaticIds(model) => Some(ObservedHostdev {
                    vendor_id: Some(MODELS[*model].0),
                    product_id: Some(MODELS[*model].1),
                    ..ObservedHostdev::default()
                }),
            };
            observed.extend(hostdev);
        }
        // libvirt gives one source address to one hostdev of a domain (so aliases, which name
        // the address, are unique too).
        let mut used = HashSet::new();
        observed.retain(|hostdev| match (hostdev.bus, hostdev.device) {
            (Some(bus), Some(device)) => used.insert((bus, device)),
            _ => true,
        });
        observed
    };

    let mut domains = Vec::new();
    for ((name, state), picks) in MACHINES.iter().zip(machines).zip(hostdevs) {
        let state = match state {
            0 => DomainState::Undefined,
            1 => DomainState::Inactive,
            2 => DomainState::Running {
                hostdevs: hostdevs_of(picks),
            },
            _ => DomainState::Unreadable {
                error: Error::ReadDomain {
                    domain: name.to_string(),
                    cause: Cause::refused("injected failure"),
                },
            },
        };
        domains.push(ObservedDomain::new(name, state));
    }
    let others = OTHERS
        .iter()
        .zip(others)
        .zip(&hostdevs[MACHINES.len()..])
        .filter(|((_, running), _)| **running)
        .map(|((name, _), picks)| ObservedDomain::running(name, hostdevs_of(picks)))
        .collect();
    Scenario {
        devices,
        domains,
        others,
        unreadable_devices: (0..unreadable).map(|port| format!("9-{port}")).collect(),
        retry_mask,
    }
}

fn all_machines() -> Vec<String> {
    MACHINES.iter().map(|name| name.to_string()).collect()
}

/// Plans `input` and applies the plan to a mock holding the scenario's domains; the plan, the mock
/// after.
fn plan_and_apply(scenario: &Scenario, input: &PlanInput) -> (Plan, MockHypervisor) {
    let planned = plan(input);
    let mut mock = MockHypervisor::from_domains(scenario.domains.iter().chain(&scenario.others));
    let report = apply(&planned, &mut mock);
    assert!(report.is_success(), "{report}");
    (planned, mock)
}

/// The running domains (managed or not) with an owned hostdev of `device`.
fn owned_holders(domains: &[ObservedDomain], device: &HostdevSpec) -> Vec<String> {
    domains
        .iter()
        .filter(|domain| {
            domain
                .state
                .hostdevs()
                .iter()
                .any(|h| h.owned_spec() == Some(*device))
        })
        .map(|domain| domain.name.clone())
        .collect()
}

/// The running domains with a hostdev the daemon does not own naming `device`'s address (and no
/// other ids).
fn static_holders_by_address<'a>(
    domains: impl Iterator<Item = &'a ObservedDomain>,
    device: &HostdevSpec,
) -> Vec<String> {
    let names_device = |h: &ObservedHostdev| {
        !h.is_owned()
            && h.bus == Some(device.bus)
            && h.device == Some(device.device)
            && h.vendor_id.unwrap_or(device.vendor_id) == device.vendor_id
            && h.product_id.unwrap_or(device.product_id) == device.product_id
    };
    domains
        .filter(|domain| domain.state.hostdevs().iter().any(names_device))
        .map(|domain| domain.name.clone())
        .collect()
}

/// Whether the plan attaches `device` anywhere now.
fn is_attached(planned: &Plan, device: &HostdevSpec) -> bool {
    planned
        .actions
        .iter()
        .any(|action| matches!(action, Action::Attach { hostdev, .. } if hostdev == device))
}

fn unowned(hostdevs: &[ObservedHostdev]) -> Vec<ObservedHostdev> {
    hostdevs.iter().filter(|h| !h.is_owned()).cloned().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    // Invariant (a), convergence: once a plan is applied, planning again against what the
    // hypervisor then shows gives no actions (what was held back stays held back), and every
    // device keeps the machine it was given.
    #[test]
    fn applying_a_plan_then_planning_again_gives_no_actions(scenario in scenario()) {
        let input = scenario.input();
        let (first, mut mock) = plan_and_apply(&scenario, &input);
        let view = mock.observe(&all_machines()).unwrap();
        let second = plan(&PlanInput { machines: view.domains, others: view.others, ..input });
        prop_assert_eq!(&second.actions, &Vec::<Action>::new(), "first plan: {:?}", first.actions);
        prop_assert_eq!(&second.held_back, &first.held_back);
        for (before, after) in first.decisions.iter().zip(&second.decisions) {
            prop_assert_eq!(before.placement.machine(), after.placement.machine());
            prop_assert_eq!(&before.conflicts, &after.conflicts);
        }
    }

    // Invariant (b), ownership: a detach only ever names an owned hostdev present on that
    // running managed machine; every hostdev without the owned alias, and every hostdev of a
    // domain the daemon does not manage, is still there, in order, after apply.
    #[test]
    fn a_hostdev_without_the_owned_alias_is_never_detached(scenario in scenario()) {
        let (planned, mock) = plan_and_apply(&scenario, &scenario.input_with_retries());
        for action in &planned.actions {
            if let Action::Detach { machine, hostdev } = action {
                let domain = scenario.domains.iter().find(|d| &d.name == machine).unwrap();
                prop_assert!(domain.state.is_running());
                prop_assert!(domain.state.hostdevs().iter().any(|h| h.owned_spec() == Some(*hostdev)));
            }
        }
        for domain in scenario.running() {
            let after: Vec<ObservedHostdev> = unowned(mock.hostdevs(&domain.name));
            prop_assert_eq!(unowned(domain.state.hostdevs()), after, "{}", domain.name);
        }
        for other in &scenario.others {
            prop_assert_eq!(other.state.hostdevs(), mock.hostdevs(&other.name));
        }
    }

    // Invariant (c), one machine per device: after apply the daemon holds each device on at most
    // one managed machine, the one the plan placed it on (or the one it was on, when its detach
    // is held back); it never attached a device that a hostdev it may not detach already holds.
    #[test]
    fn each_device_is_attached_to_at_most_one_machine(scenario in scenario()) {
        let (planned, mock) = plan_and_apply(&scenario, &scenario.input_with_retries());
        let after: Vec<ObservedDomain> = mock
            .states()
            .into_iter()
            .filter(|domain| MACHINES.contains(&domain.name.as_str()))
            .collect();
        for device in &scenario.devices {
            // A device whose detach is held back is still where it was.
            let detach_held = |machine: &str| {
                planned.held_back.iter().any(|held| {
                    held.action == Action::Detach { machine: machine.to_string(), hostdev: device.spec }
                })
            };
            let mut holders = owned_holders(&after, &device.spec);
            holders.retain(|holder| !detach_held(holder));
            prop_assert!(holders.len() <= 1, "{} on {:?}", device.spec, holders);
            let decision = planned.decision(&device.spec).unwrap();
            if let Some(holder) = holders.first() {
                let by_daemon = matches!(
                    decision.placement,
                    Placement::Owned { .. } | Placement::Attach { .. }
                );
                prop_assert!(by_daemon, "{:?}", decision);
                prop_assert_eq!(decision.placement.machine(), Some(holder.as_str()));
            }
            let elsewhere = !static_holders_by_address(scenario.running(), &device.spec).is_empty()
                || !owned_holders(&scenario.others, &device.spec).is_empty();
            if elsewhere {
                prop_assert!(!is_attached(&planned, &device.spec), "{:?}", planned.actions);
            }
        }
    }

    // Invariant (d), no stealing: a device already on a running machine that matches it (by an
    // owned hostdev, or a static one naming its address) is not attached anywhere, stays on one of
    // the matching machines it was on (a static hostdev naming only ids never takes it from
    // there), and is still there after apply.
    #[test]
    fn a_device_on_a_matching_running_machine_is_never_moved(scenario in scenario()) {
        let (planned, mock) = plan_and_apply(&scenario, &scenario.input_with_retries());
        for device in &scenario.devices {
            let matching = |name: &String| device.machines.contains(name);
            let mut on: Vec<String> = owned_holders(&scenario.domains, &device.spec);
            on.extend(static_holders_by_address(scenario.domains.iter(), &device.spec));
            on.retain(matching);
            if on.is_empty() {
                continue;
            }
            prop_assert!(!is_attached(&planned, &device.spec), "{:?}", planned.actions);
            let placement = &planned.decision(&device.spec).unwrap().placement;
            match placement {
                Placement::Owned { machine } => {
                    prop_assert!(on.contains(machine), "{:?} not in {:?}", placement, on);
                    prop_assert!(mock.hostdevs(machine).iter().any(|h| h.owned_spec() == Some(device.spec)));
                }
                Placement::Held { machine } => prop_assert!(on.contains(machine), "{:?} not in {:?}", placement, on),
                other => prop_assert!(false, "{} is on {:?} but placed {:?}", device.spec, on, other),
            }
        }
    }

    // Invariant (e), determinism: the plan does not depend on the order the devices, the managed
    // machines or the other domains are listed in.
    #[test]
    fn the_plan_does_not_depend_on_the_order_of_devices(
        (scenario, devices, domains, others) in scenario().prop_flat_map(|scenario| {
            let devices = Just(scenario.devices.clone()).prop_shuffle();
            let domains = Just(scenario.domains.clone()).prop_shuffle();
            let others = Just(scenario.others.clone()).prop_shuffle();
            (Just(scenario), devices, domains, others)
        })
    ) {
        let input = scenario.input_with_retries();
        let listed = plan(&input);
        let shuffled = PlanInput { devices, machines: domains, others, ..input.clone() };
        prop_assert_eq!(&plan(&shuffled), &listed);
    }

    // Invariant (f), holding back: while a device cannot be read, no owned hostdev whose device
    // was not read is detached; no device that an unreadable machine matches is attached; no
    // action waiting for a retry is taken; every action the assignment asks for is either taken
    // or held back, never both.
    #[test]
    fn what_may_be_wrong_or_is_not_due_is_held_back(scenario in scenario()) {
        let input = scenario.input_with_retries();
        let planned = plan(&input);
        let read: HashSet<HostdevSpec> = scenario.devices.iter().map(|d| d.spec).collect();
        let unreadable_machines: Vec<&str> = scenario
            .domains
            .iter()
            .filter(|d| matches!(d.state, DomainState::Unreadable { .. }))
            .map(|d| d.name.as_str())
            .collect();
        for action in &planned.actions {
            prop_assert!(!input.retrying.contains(action), "{action} waits for a retry");
            prop_assert!(!planned.held_back.iter().any(|held| &held.action == action));
            match action {
                Action::Detach { hostdev, .. } => prop_assert!(
                    scenario.unreadable_devices.is_empty() || read.contains(hostdev),
                    "{action} while a device cannot be read"
                ),
                Action::Attach { hostdev, .. } => {
                    let device = scenario.devices.iter().find(|d| d.spec == *hostdev).unwrap();
                    prop_assert!(
                        !device.machines.iter().any(|m| unreadable_machines.contains(&m.as_str())),
                        "{action} while a machine that matches it cannot be read"
                    );
                }
            }
        }
        for held in &planned.held_back {
            if held.why == HoldReason::Retrying {
                prop_assert!(input.retrying.contains(&held.action));
            }
        }
        // Without anything unreadable or waiting, nothing is held back.
        if scenario.unreadable_devices.is_empty() && unreadable_machines.is_empty() {
            prop_assert_eq!(&plan(&scenario.input()).held_back, &Vec::new());
        }
    }

    // Invariant (g), a person's word: a device on hold is attached nowhere and ends up on no
    // managed machine by the daemon's hand (a domain it does not manage keeps what it holds); an assigned device is attached, if at all, to its machine.
    #[test]
    fn a_device_on_hold_or_assigned_goes_where_the_person_said(
        scenario in scenario(),
        held in any::<Index>(),
        assigned in any::<Index>(),
        target in 0..MACHINES.len(),
    ) {
        prop_assume!(!scenario.devices.is_empty());
        let held = scenario.devices[held.index(scenario.devices.len())].spec;
        let assigned = scenario.devices[assigned.index(scenario.devices.len())].spec;
        let mut input = scenario.input();
        input.holds = vec![held];
        input.assignments = vec![libvirt_sync::Assignment {
            device: assigned,
            machine: MACHINES[target].to_string(),
        }];
        let (planned, mock) = plan_and_apply(&scenario, &input);
        prop_assert!(!is_attached(&planned, &held), "{:?}", planned.actions);
        let managed: Vec<ObservedDomain> = mock
            .states()
            .into_iter()
            .filter(|domain| MACHINES.contains(&domain.name.as_str()))
            .collect();
        let still_owned = owned_holders(&managed, &held);
        for machine in &still_owned {
            // Only where its detach is held back (a device that cannot be read may be it).
            prop_assert!(planned.held_back.iter().any(|h| h.action.machine() == machine && *h.action.hostdev() == held));
        }
        if assigned != held {
            for action in &planned.actions {
                if let Action::Attach { machine, hostdev } = action {
                    if *hostdev == assigned {
                        prop_assert_eq!(machine, MACHINES[target]);
                    }
                }
            }
        }
    }

    // Invariant (h), the host keeps what it keeps: a denied device or one in use by the host is
    // never attached, and excluding a device never adds an attach (of any device).
    #[test]
    fn an_excluded_device_is_never_attached_and_excluding_adds_no_attach(
        scenario in scenario(),
        picks in proptest::collection::vec((any::<Index>(), any::<bool>()), 0..4),
    ) {
        prop_assume!(!scenario.devices.is_empty());
        let input = scenario.input_with_retries();
        let without = plan(&input);
        let mut excluded_input = input.clone();
        excluded_input.exclusions = picks
            .iter()
            .map(|(index, denied)| libvirt_sync::Excluded {
                device: scenario.devices[index.index(scenario.devices.len())].spec,
                why: if *denied {
                    libvirt_sync::Exclusion::Denied { rule: "excluded by deny[0]".into() }
                } else {
                    libvirt_sync::Exclusion::InUse { reason: "in use".into() }
                },
            })
            .collect();
        let with = plan(&excluded_input);
        for excluded in &excluded_input.exclusions {
            prop_assert!(!is_attached(&with, &excluded.device), "{:?}", with.actions);
        }
        for action in with.actions.iter().filter(|action| action.is_attach()) {
            prop_assert!(without.actions.contains(action), "{action} only with exclusions");
        }
    }
}
