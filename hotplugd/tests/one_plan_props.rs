//! The property behind "one plan for everyone": for arbitrary observed states (devices read and
//! devices that cannot be read, machines running, shut off, undefined or unreadable, a running VM
//! the configuration does not name, owned hostdevs current and stale, hostdevs set up by hand),
//! the actions `explain` reports equal the actions a dry run plans (what `run --once --dry-run`
//! prints) equal the actions `apply` receives in a reconcile that changes things.
//!
//! Every caller goes through `Reconciler::reconcile`; this checks that its two modes plan alike
//! and that the report shows exactly that plan, over a real fixture tree and the mock hypervisor.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fixtures::{FixtureTree, UsbDeviceBuilder};
use hotplugd::config::{merge, parse_main_file, Config};
use hotplugd::explain::{explain, ActionReport};
use hotplugd::reconcile::{Mode, Reconciler};
use libvirt_sync::{
    Fault, FaultMode, HostdevSpec, Hypervisor, MockCallKind, MockHypervisor, ObservedHostdev,
};
use proptest::prelude::*;
use usb_discovery::SysfsDiscovery;

const VENDORS: [u16; 3] = [0x046d, 0x1050, 0x0403];
const MACHINES: [&str; 3] = ["vm-b", "vm-a", "vm-c"];
const INTERVAL: Duration = Duration::from_secs(5);

/// One generated host.
#[derive(Debug, Clone)]
struct Host {
    /// (port on bus 1, vendor index, unreadable).
    devices: Vec<(u16, usize, bool)>,
    /// Per machine: 0 undefined, 1 shut off, 2 running, 3 unreadable.
    states: Vec<u8>,
    /// Per machine: the vendors it wants (bit i: VENDORS[i]).
    wants: Vec<u8>,
    /// The vendors a top-level deny rule keeps on the host (bit i: VENDORS[i]).
    denied: u8,
    /// Hostdevs of each running machine, then of the unconfigured `foreign`: (port, kind) with
    /// kind 0 owned, 1 owned but stale (replugged), 2 set up by hand.
    hostdevs: Vec<Vec<(u16, u8)>>,
}

fn host() -> impl Strategy<Value = Host> {
    (
        proptest::collection::btree_map(
            1u16..8,
            (0..VENDORS.len(), prop::bool::weighted(0.15)),
            0..6,
        ),
        proptest::collection::vec(
            prop_oneof![1 => Just(0u8), 1 => Just(1u8), 4 => Just(2u8), 1 => Just(3u8)],
            MACHINES.len(),
        ),
        proptest::collection::vec(0u8..8, MACHINES.len()),
        proptest::collection::vec(
            proptest::collection::vec((1u16..8, 0u8..3), 0..3),
            MACHINES.len() + 1,
        ),
        prop_oneof![2 => Just(0u8), 1 => 1u8..8],
    )
        .prop_map(|(devices, states, wants, hostdevs, denied)| Host {
            devices: devices
                .into_iter()
                .map(|(port, (vendor, unreadable))| (port, vendor, unreadable))
                .collect(),
            states,
            wants,
            hostdevs,
            denied,
        })
}

/// The device at `port` of bus 1 (device number `port + 10`).
fn spec(port: u16, vendor: usize) -> HostdevSpec {
    HostdevSpec {
        bus: 1,
        device: port + 10,
        vendor_id: VENDORS[vendor],
        product_id: 0x0001,
    }
}

fn config(host: &Host) -> Config {
    config_denying(host, host.denied)
}

/// The configuration with a top-level deny rule for each vendor of `denied` (bit i: VENDORS[i]).
fn config_denying(host: &Host, denied: u8) -> Config {
    let mut text = String::from("interval: 5s\n");
    if denied != 0 {
        text.push_str("deny:\n");
        for (bit, vendor) in VENDORS.iter().enumerate() {
            if denied & (1 << bit) != 0 {
                text.push_str(&format!("- vendor-id: 0x{vendor:04x}\n"));
            }
        }
    }
    text.push_str("machines:\n");
    for (name, wants) in MACHINES.iter().zip(&host.wants) {
        text.push_str(&format!("  {name}:\n    devices:\n"));
        // A machine that wants nothing matches a port no device has.
        text.push_str("    - port: 9-9\n");
        for (bit, vendor) in VENDORS.iter().enumerate() {
            if wants & (1 << bit) != 0 {
                text.push_str(&format!("    - vendor-id: 0x{vendor:04x}\n"));
            }
        }
    }
    merge(
        parse_main_file(&text, Path::new("/etc/hotplugd/config.yml")).expect("valid"),
        Vec::new(),
    )
}

fn tree(host: &Host) -> FixtureTree {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&UsbDeviceBuilder::root_hub(1).build())
        .expect("root hub");
    for &(port, vendor, unreadable) in &host.devices {
        let device = UsbDeviceBuilder::new(&format!("1-{port}"), port + 10)
            .ids(VENDORS[vendor], 0x0001)
            .build();
        tree.add(&device).expect("device");
        if unreadable {
            std::fs::write(tree.device_dir(&device.devpath).join("idVendor"), "zz\n")
                .expect("corrupted");
        }
    }
    tree
}

fn mock(host: &Host) -> MockHypervisor {
    let vendor_at = |port: u16| {
        host.devices
            .iter()
            .find(|(at, ..)| *at == port)
            .map_or(0, |(_, vendor, _)| *vendor)
    };
    let hostdev = |(port, kind): (u16, u8)| {
        let device = spec(port, vendor_at(port));
        match kind {
            0 => ObservedHostdev::from(device),
            1 => ObservedHostdev::from(HostdevSpec {
                device: device.device + 50,
                ..device
            }),
            _ => ObservedHostdev {
                alias: Some("hostdev7".into()),
                ..ObservedHostdev::from(device)
            },
        }
    };
    let mut mock = MockHypervisor::new();
    for (index, (name, state)) in MACHINES.iter().zip(&host.states).enumerate() {
        match state {
            0 => continue,
            1 => mock.add_domain(name, false),
            _ => mock.add_domain(name, true),
        }
        if *state == 3 {
            mock.inject(Fault::new(MockCallKind::Observe, FaultMode::Always).on(name));
        }
        if *state >= 2 {
            for &picked in unique(&host.hostdevs[index]).iter() {
                mock.add_live_hostdev(name, hostdev(picked));
            }
        }
    }
    mock.add_domain("foreign", true);
    for &picked in unique(&host.hostdevs[MACHINES.len()]).iter() {
        mock.add_live_hostdev("foreign", hostdev(picked));
    }
    mock
}

/// One hostdev per source address, as libvirt keeps them.
fn unique(picks: &[(u16, u8)]) -> Vec<(u16, u8)> {
    let mut seen = Vec::new();
    let mut kept = Vec::new();
    for &(port, kind) in picks {
        let address = if kind == 1 { port + 50 } else { port };
        if !seen.contains(&address) {
            seen.push(address);
            kept.push((port, kind));
        }
    }
    kept
}

fn reconciler(
    tree: &FixtureTree,
    mock: MockHypervisor,
) -> (Reconciler, Arc<Mutex<MockHypervisor>>) {
    let shared = Arc::new(Mutex::new(mock));
    let handle = Arc::clone(&shared);
    let reconciler = Reconciler::new(
        Box::new(SysfsDiscovery::new(tree.root())),
        Box::new(move |_| Ok(Box::new(Arc::clone(&handle)) as Box<dyn Hypervisor>)),
    );
    (reconciler, shared)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn explain_dry_run_and_apply_see_the_same_actions(host in host()) {
        let tree = tree(&host);
        let config = config(&host);
        let now = Instant::now();

        let (mut looking, _) = reconciler(&tree, mock(&host));
        let dry = looking
            .reconcile(&config, None, now, Mode::DryRun, INTERVAL)
            .expect("observes");
        let explained: Vec<ActionReport> = explain(&config, &dry).actions;
        let dry_run: Vec<ActionReport> = dry.plan.actions.iter().map(ActionReport::from).collect();
        prop_assert_eq!(&explained, &dry_run);

        let (mut applying, _) = reconciler(&tree, mock(&host));
        let applied = applying
            .reconcile(&config, None, now, Mode::Apply, INTERVAL)
            .expect("observes");
        let received: Vec<_> = applied.report.outcomes.iter().map(|outcome| outcome.action.clone()).collect();
        prop_assert_eq!(&received, &dry.plan.actions);
        prop_assert_eq!(&applied.plan, &dry.plan);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    // A device that a top-level deny rule matches is never attached, and adding deny rules never
    // adds an attach.
    #[test]
    fn a_denied_device_is_never_attached_and_denying_adds_no_attach(host in host()) {
        let tree = tree(&host);
        let now = Instant::now();
        let plan_with = |denied: u8| {
            let (mut reconciler, _) = reconciler(&tree, mock(&host));
            reconciler
                .reconcile(&config_denying(&host, denied), None, now, Mode::DryRun, INTERVAL)
                .expect("observes")
                .plan
        };
        let without = plan_with(0);
        let with = plan_with(host.denied | 1);
        for action in with.actions.iter().filter(|action| action.is_attach()) {
            let vendor = VENDORS.iter().position(|v| *v == action.hostdev().vendor_id).unwrap();
            prop_assert!((host.denied | 1) & (1 << vendor) == 0, "{action} of a denied vendor");
            prop_assert!(without.actions.contains(action), "{action} only with deny rules");
        }
    }
}
