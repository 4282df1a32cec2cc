//! Properties of the planner over generated hosts: devices (identical models among them, replugged
//! ones, ones no machine wants, as hubs are listed), machines running, stopped or undefined, and
//! hostdevs owned (current or stale) and static (with an address, or only vendor and product).
//! Plans are applied to the `MockHypervisor`, so this needs the `mock` feature.
#![cfg(feature = "mock")]

use std::collections::HashSet;

use libvirt_sync::{
    apply, plan, Action, DomainState, HostdevSpec, Hypervisor, MatchedDevice, MockHypervisor,
    ObservedHostdev, Placement, Plan,
};
use proptest::prelude::*;
use proptest::sample::Index;

/// Machine names in config order, which is not their name order.
const MACHINES: [&str; 4] = ["vm-c", "vm-a", "vm-d", "vm-b"];

/// Vendor and product ids: few, so that identical devices are common.
const MODELS: [(u16, u16); 3] = [(0x046d, 0x0825), (0x1050, 0x0407), (0x0403, 0x6001)];

#[derive(Debug, Clone)]
struct Scenario {
    devices: Vec<MatchedDevice>,
    domains: Vec<DomainState>,
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

fn scenario() -> impl Strategy<Value = Scenario> {
    // None: not defined; Some(active).
    let machine = prop_oneof![1 => Just(None), 2 => Just(Some(false)), 5 => Just(Some(true))];
    let machines = proptest::collection::vec(machine, MACHINES.len());
    // (bus, device, model, bit i set: MACHINES[i] matches it).
    let device = (1u16..=3, 1u16..=8, 0..MODELS.len(), 0u8..16);
    let devices = proptest::collection::vec(device, 0..9);
    let hostdevs =
        proptest::collection::vec(proptest::collection::vec(pick(), 0..5), MACHINES.len());
    (machines, devices, hostdevs)
        .prop_map(|(machines, devices, hostdevs)| build(&machines, &devices, &hostdevs))
}

fn build(
    machines: &[Option<bool>],
    devices: &[(u16, u16, usize, u8)],
    hostdevs: &[Vec<Pick>],
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

    let mut domains = Vec::new();
    for ((name, state), picks) in MACHINES.iter().zip(machines).zip(hostdevs) {
        let Some(active) = *state else { continue };
        let mut observed = Vec::new();
        if active {
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
        }
        // libvirt gives one source address to one hostdev of a domain (so aliases, which name the
        // address, are unique too).
        let mut used = HashSet::new();
        observed.retain(|hostdev| match (hostdev.bus, hostdev.device) {
            (Some(bus), Some(device)) => used.insert((bus, device)),
            _ => true,
        });
        domains.push(DomainState {
            name: name.to_string(),
            active,
            hostdevs: observed,
        });
    }
    Scenario { devices, domains }
}

fn all_machines() -> Vec<String> {
    MACHINES.iter().map(|name| name.to_string()).collect()
}

/// Applies the plan of `scenario` to a mock holding its domains; the plan, the mock after.
fn plan_and_apply(scenario: &Scenario) -> (Plan, MockHypervisor) {
    let planned = plan(&scenario.devices, &scenario.domains);
    let mut mock = MockHypervisor::from_states(scenario.domains.clone());
    let report = apply(&planned, &mut mock);
    assert!(report.is_success(), "{report}");
    (planned, mock)
}

/// The running machines with an owned hostdev of `device`.
fn owned_holders(domains: &[DomainState], device: &HostdevSpec) -> Vec<String> {
    domains
        .iter()
        .filter(|domain| domain.active)
        .filter(|domain| {
            domain
                .hostdevs
                .iter()
                .any(|h| h.owned_spec() == Some(*device))
        })
        .map(|domain| domain.name.clone())
        .collect()
}

/// The running machines with a hostdev the daemon does not own naming `device`'s address (and no
/// other ids).
fn static_holders_by_address(domains: &[DomainState], device: &HostdevSpec) -> Vec<String> {
    let names_device = |h: &ObservedHostdev| {
        !h.is_owned()
            && h.bus == Some(device.bus)
            && h.device == Some(device.device)
            && h.vendor_id.unwrap_or(device.vendor_id) == device.vendor_id
            && h.product_id.unwrap_or(device.product_id) == device.product_id
    };
    domains
        .iter()
        .filter(|domain| domain.active && domain.hostdevs.iter().any(names_device))
        .map(|domain| domain.name.clone())
        .collect()
}

/// Whether the plan attaches `device` anywhere.
fn is_attached(planned: &Plan, device: &HostdevSpec) -> bool {
    planned
        .actions
        .iter()
        .any(|action| matches!(action, Action::Attach { hostdev, .. } if hostdev == device))
}

fn unowned(domain: &DomainState) -> Vec<ObservedHostdev> {
    domain
        .hostdevs
        .iter()
        .filter(|h| !h.is_owned())
        .cloned()
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    // Invariant (a), convergence: once a plan is applied, planning again against what the
    // hypervisor then shows gives no actions, and every device keeps the machine it was given.
    #[test]
    fn applying_a_plan_then_planning_again_gives_no_actions(scenario in scenario()) {
        let (first, mut mock) = plan_and_apply(&scenario);
        let observed = mock.domains(&all_machines()).unwrap();
        let second = plan(&scenario.devices, &observed);
        prop_assert_eq!(&second.actions, &Vec::<Action>::new(), "first plan: {:?}", first.actions);
        for (before, after) in first.decisions.iter().zip(&second.decisions) {
            prop_assert_eq!(before.placement.machine(), after.placement.machine());
            prop_assert_eq!(&before.conflicts, &after.conflicts);
        }
    }

    // Invariant (b), ownership: a detach only ever names an owned hostdev present on that
    // machine, and every hostdev without the owned alias is still there, in order, after apply.
    #[test]
    fn a_hostdev_without_the_owned_alias_is_never_detached(scenario in scenario()) {
        let (planned, mock) = plan_and_apply(&scenario);
        for action in &planned.actions {
            if let Action::Detach { machine, hostdev } = action {
                let domain = scenario.domains.iter().find(|d| &d.name == machine).unwrap();
                prop_assert!(domain.active);
                prop_assert!(domain.hostdevs.iter().any(|h| h.owned_spec() == Some(*hostdev)));
            }
        }
        for domain in &scenario.domains {
            let after: Vec<ObservedHostdev> =
                mock.hostdevs(&domain.name).iter().filter(|h| !h.is_owned()).cloned().collect();
            prop_assert_eq!(unowned(domain), after, "{}", domain.name);
        }
    }

    // Invariant (c), one machine per device: after apply the daemon holds each device on at most
    // one machine, the one the plan placed it on, and it never attached a device that a hostdev
    // it does not own already holds.
    #[test]
    fn each_device_is_attached_to_at_most_one_machine(scenario in scenario()) {
        let (planned, mock) = plan_and_apply(&scenario);
        let after = mock.states();
        for device in &scenario.devices {
            let holders = owned_holders(&after, &device.spec);
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
            if !static_holders_by_address(&scenario.domains, &device.spec).is_empty() {
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
        let (planned, mock) = plan_and_apply(&scenario);
        for device in &scenario.devices {
            let matching = |name: &String| device.machines.contains(name);
            let mut on: Vec<String> = owned_holders(&scenario.domains, &device.spec);
            on.extend(static_holders_by_address(&scenario.domains, &device.spec));
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

    // Invariant (e), determinism: the plan does not depend on the order the devices (or the
    // domains) are listed in.
    #[test]
    fn the_plan_does_not_depend_on_the_order_of_devices(
        (scenario, devices, domains) in scenario().prop_flat_map(|scenario| {
            let devices = Just(scenario.devices.clone()).prop_shuffle();
            let domains = Just(scenario.domains.clone()).prop_shuffle();
            (Just(scenario), devices, domains)
        })
    ) {
        let listed = plan(&scenario.devices, &scenario.domains);
        prop_assert_eq!(&plan(&devices, &scenario.domains), &listed);
        prop_assert_eq!(&plan(&devices, &domains), &listed);
    }
}
