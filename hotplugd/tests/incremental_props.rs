//! The incremental path plans what the full path plans. For any sequence of plugs, unplugs and
//! replugs on a fixture tree, each followed by its udev event or the kernel's (which the rules
//! here, on ids and ports alone, let decide; the device taken from the kernel's message or
//! glanced at in sysfs; or with that event lost), and ticks:
//! a reconciler that reconciles incrementally on each event it gets (and fully on a tick) plans the
//! same actions as one that reconciles fully every time, as long as no event was lost; after a
//! tick both leave the machines in the same state, whatever was lost before.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fixtures::{DeviceFiles, FixtureTree, UsbDeviceBuilder};
use hotplugd::config::{merge, parse_main_file, Config};
use hotplugd::reconcile::{Change, Mode, Reconciler, Refresh};
use libvirt_sync::{HostdevSpec, Hypervisor, MockHypervisor, ObservedDomain};
use proptest::prelude::*;
use usb_discovery::{Announcement, SysfsDiscovery, UeventMessage};

const VENDORS: [u16; 3] = [0x046d, 0x1050, 0x0403];
const PORTS: u16 = 5;
const INTERVAL: Duration = Duration::from_secs(5);

/// One step of a sequence.
#[derive(Debug, Clone)]
enum Step {
    /// A device of vendor `VENDORS[vendor]` plugged in at port `4-port` (if free).
    Plug {
        port: u16,
        vendor: usize,
        lost: bool,
    },
    /// The device at `4-port` (if any) unplugged.
    Unplug { port: u16, lost: bool },
    /// The device at `4-port` (if any) plugged in again: a new device number.
    Replug { port: u16, lost: bool },
    /// The resync tick.
    Tick,
}

fn step() -> impl Strategy<Value = Step> {
    let lost = prop::bool::weighted(0.2);
    prop_oneof![
        3 => (1..=PORTS, 0..VENDORS.len(), lost)
            .prop_map(|(port, vendor, lost)| Step::Plug { port, vendor, lost }),
        2 => (1..=PORTS, lost).prop_map(|(port, lost)| Step::Unplug { port, lost }),
        2 => (1..=PORTS, lost).prop_map(|(port, lost)| Step::Replug { port, lost }),
        1 => Just(Step::Tick),
    ]
}

/// `vm-a` wants the first vendor and anything at port 4-1; `vm-b` the second vendor, and the
/// first one too (a conflict: `vm-a` comes first); nobody wants the third.
fn config() -> Config {
    let text = "interval: 5s\nmachines:\n  vm-a:\n    devices:\n    - vendor-id: 0x046d\n    - port: 4-1\n  vm-b:\n    devices:\n    - vendor-id: 0x1050\n    - vendor-id: 0x046d\n";
    merge(
        parse_main_file(text, Path::new("/etc/hotplugd/config.yml")).expect("valid"),
        Vec::new(),
    )
}

/// The host: the tree, and what is plugged in at each port (its files).
struct Host {
    tree: FixtureTree,
    plugged: Vec<Option<DeviceFiles>>,
    next_number: u16,
}

impl Host {
    fn new() -> Host {
        let tree = FixtureTree::new().expect("tree");
        tree.add(&UsbDeviceBuilder::root_hub(4).build())
            .expect("root hub");
        Host {
            tree,
            plugged: vec![None; usize::from(PORTS) + 1],
            next_number: 2,
        }
    }

    fn plug(&mut self, port: u16, vendor: u16) {
        let files = UsbDeviceBuilder::new(&format!("4-{port}"), self.next_number)
            .ids(vendor, 0x0001)
            .build();
        self.next_number += 1;
        self.tree.add(&files).expect("plugged in");
        self.plugged[usize::from(port)] = Some(files);
    }

    fn unplug(&mut self, port: u16) -> Option<u16> {
        let files = self.plugged[usize::from(port)].take()?;
        self.tree.remove(&files).expect("unplugged");
        let vendor = files
            .attributes
            .iter()
            .find(|(name, _)| name == "idVendor")
            .and_then(|(_, value)| {
                u16::from_str_radix(String::from_utf8_lossy(value).trim(), 16).ok()
            });
        vendor
    }

    /// Carries `step` out on the tree; the port whose device changed, if any.
    fn carry_out(&mut self, step: &Step) -> Option<u16> {
        match *step {
            Step::Plug { port, vendor, .. } => {
                if self.plugged[usize::from(port)].is_some() {
                    return None;
                }
                self.plug(port, VENDORS[vendor]);
                Some(port)
            }
            Step::Unplug { port, .. } => self.unplug(port).map(|_| port),
            Step::Replug { port, .. } => {
                let vendor = self.unplug(port)?;
                self.plug(port, vendor);
                Some(port)
            }
            Step::Tick => None,
        }
    }
}

/// What the kernel's `add` message of `files` announces.
fn announced(files: &DeviceFiles) -> Announcement {
    let message = files.kernel_add_message(1);
    let event = UeventMessage::parse(&message)
        .ok()
        .and_then(|message| message.usb_device())
        .expect("a usb_device event");
    Announcement::from_uevent(&event).expect("complete")
}

fn reconciler(host: &Host, mock: &Arc<Mutex<MockHypervisor>>) -> Reconciler {
    let mock = Arc::clone(mock);
    Reconciler::new(
        Box::new(SysfsDiscovery::new(host.tree.root())),
        Box::new(move |_| Ok(Box::new(Arc::clone(&mock)) as Box<dyn Hypervisor>)),
    )
}

fn mock() -> Arc<Mutex<MockHypervisor>> {
    Arc::new(Mutex::new(
        MockHypervisor::new()
            .with_domain("vm-a", true)
            .with_domain("vm-b", true),
    ))
}

/// Each machine and the devices the daemon holds on it, in order (attach order differs after a
/// loss).
fn machines(mock: &Arc<Mutex<MockHypervisor>>) -> Vec<(String, Vec<HostdevSpec>)> {
    mock.lock()
        .expect("not poisoned")
        .states()
        .into_iter()
        .map(|domain: ObservedDomain| {
            let mut owned: Vec<HostdevSpec> = domain
                .state
                .hostdevs()
                .iter()
                .filter_map(|hostdev| hostdev.owned_spec())
                .collect();
            owned.sort();
            (domain.name, owned)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_incremental_path_plans_what_the_full_path_plans(
        steps in proptest::collection::vec((step(), any::<bool>(), any::<bool>()), 1..24)
    ) {
        let mut host = Host::new();
        let config = config();
        let (incremental_mock, full_mock) = (mock(), mock());
        let mut incremental = reconciler(&host, &incremental_mock);
        let mut full = reconciler(&host, &full_mock);
        let now = Instant::now();
        let reconcile = |reconciler: &mut Reconciler, refresh: &Refresh| {
            reconciler
                .reconcile_with(&config, None, now, Mode::Apply, INTERVAL, refresh)
                .expect("reconciles")
        };
        reconcile(&mut incremental, &Refresh::Full);
        reconcile(&mut full, &Refresh::Full);
        let mut lost_since_tick = false;
        for (step, from_kernel, with_message) in &steps {
            let changed = host.carry_out(step);
            let by_full = reconcile(&mut full, &Refresh::Full);
            let lost = matches!(
                step,
                Step::Plug { lost: true, .. } | Step::Unplug { lost: true, .. } | Step::Replug { lost: true, .. }
            );
            let by_incremental = match (step, changed) {
                (Step::Tick, _) => Some(reconcile(&mut incremental, &Refresh::Full)),
                (_, Some(port)) if !lost => {
                    // The kernel's add, taken from its message or by a glance at sysfs.
                    let change = match &host.plugged[usize::from(port)] {
                        Some(files) if *from_kernel && *with_message => Change::Announced(Box::new(announced(files))),
                        _ => Change::Device { kernel_name: format!("4-{port}"), early: *from_kernel },
                    };
                    Some(reconcile(&mut incremental, &Refresh::Only(vec![change])))
                }
                // No event (nothing changed, or the event was lost): no reconcile.
                _ => None,
            };
            if lost && changed.is_some() {
                lost_since_tick = true;
            }
            let clean = !lost_since_tick;
            if matches!(step, Step::Tick) {
                lost_since_tick = false;
                // Healed: one more reconcile of the full path catches up with the actions the
                // other took while its events were lost; then the machines are the same.
                reconcile(&mut full, &Refresh::Full);
                reconcile(&mut incremental, &Refresh::Full);
                prop_assert_eq!(machines(&incremental_mock), machines(&full_mock), "after {:?}", step);
            }
            if let (Some(by_incremental), true) = (by_incremental, clean) {
                if !matches!(step, Step::Tick) {
                    prop_assert!(by_incremental.timings.incremental, "{:?} took the full path", step);
                }
                prop_assert_eq!(&by_incremental.plan.actions, &by_full.plan.actions, "after {:?}", step);
                prop_assert_eq!(machines(&incremental_mock), machines(&full_mock), "after {:?}", step);
            }
        }
    }
}
