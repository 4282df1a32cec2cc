//! The kernel's own `add` decides a new device before udev's only where that decision is final:
//! with rules on sysfs alone, at once, while the kernel is still configuring the device (its
//! interfaces, strings and configuration attributes not there yet); with a rule on interfaces,
//! once the kernel has configured it; never for a device that may be storage, which the in-use
//! guard must see with its block devices (udev's event decides it).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fixtures::{DeviceFiles, FixtureTree, UsbDeviceBuilder};
use hotplugd::config::{merge, parse_main_file, Config};
use hotplugd::reconcile::{Change, Mode, Outcome, Reconciler, Refresh};
use libvirt_sync::{HostdevSpec, Hypervisor, MockHypervisor};
use usb_discovery::{Announcement, SysfsDiscovery, UeventMessage};

const INTERVAL: Duration = Duration::from_secs(60);

fn config(devices: &str) -> Config {
    let text = format!("interval: 60s\nmachines:\n  vm:\n    devices:\n{devices}");
    merge(
        parse_main_file(&text, Path::new("/etc/hotplugd/config.yml")).expect("valid"),
        Vec::new(),
    )
}

/// A host with a running `vm`, reconciled once (the last observation is kept).
struct Host {
    tree: FixtureTree,
    mock: Arc<Mutex<MockHypervisor>>,
    reconciler: Reconciler,
    config: Config,
}

impl Host {
    fn new(config: Config) -> Host {
        let tree = FixtureTree::new().expect("tree");
        tree.add(&UsbDeviceBuilder::root_hub(1).build())
            .expect("root hub");
        let mock = Arc::new(Mutex::new(MockHypervisor::new().with_domain("vm", true)));
        let shared = Arc::clone(&mock);
        let reconciler = Reconciler::new(
            Box::new(SysfsDiscovery::new(tree.root())),
            Box::new(move |_uri| Ok(Box::new(Arc::clone(&shared)) as Box<dyn Hypervisor>)),
        );
        let mut host = Host {
            tree,
            mock,
            reconciler,
            config,
        };
        host.reconcile(&Refresh::Full);
        host
    }

    fn reconcile(&mut self, refresh: &Refresh) -> Outcome {
        self.reconciler
            .reconcile_with(
                &self.config,
                None,
                Instant::now(),
                Mode::Apply,
                INTERVAL,
                refresh,
            )
            .expect("reconciles")
    }

    /// The reconcile after the event for `1-4`: the kernel's (`early`) or udev's.
    fn event(&mut self, early: bool) -> Outcome {
        let outcome = self.reconcile(&Refresh::Only(vec![Change::Device {
            kernel_name: "1-4".to_owned(),
            early,
        }]));
        assert!(outcome.timings.incremental, "an event names the device");
        outcome
    }

    /// The reconcile after the kernel's `add` of `files`, the device taken from its message.
    fn announced(&mut self, files: &DeviceFiles) -> Outcome {
        let message = files.kernel_add_message(1);
        let event = UeventMessage::parse(&message)
            .ok()
            .and_then(|message| message.usb_device())
            .expect("a usb_device event");
        let announcement = Announcement::from_uevent(&event).expect("complete");
        let outcome = self.reconcile(&Refresh::Only(vec![Change::Announced(Box::new(
            announcement,
        ))]));
        assert!(outcome.timings.incremental, "an event names the device");
        outcome
    }

    fn owned(&self) -> Vec<HostdevSpec> {
        self.mock
            .lock()
            .expect("not poisoned")
            .hostdevs("vm")
            .iter()
            .filter_map(|hostdev| hostdev.owned_spec())
            .collect()
    }
}

fn keyboard() -> DeviceFiles {
    UsbDeviceBuilder::new("1-4", 7)
        .ids(0x0627, 0x0001)
        .interface(0x03, 0x01, 0x01)
        .serial("LAB-1")
        .build()
}

const KEYBOARD: HostdevSpec = HostdevSpec {
    bus: 1,
    device: 7,
    vendor_id: 0x0627,
    product_id: 0x0001,
};

/// How the daemon hears of the kernel's add: by the device's name (a glance at sysfs), or with
/// the facts of the kernel's message.
#[derive(Debug, Clone, Copy)]
enum KernelAdd {
    ByName,
    FromMessage,
}

const EITHER_WAY: [KernelAdd; 2] = [KernelAdd::ByName, KernelAdd::FromMessage];

impl Host {
    /// The reconcile after the kernel's `add` of `files`, heard of `way`.
    fn kernel_add(&mut self, way: KernelAdd, files: &DeviceFiles) -> Outcome {
        match way {
            KernelAdd::ByName => self.event(true),
            KernelAdd::FromMessage => self.announced(files),
        }
    }
}

#[test]
fn a_rule_on_ids_is_decided_on_the_kernel_s_add_while_the_kernel_configures_the_device() {
    for way in EITHER_WAY {
        let mut host = Host::new(config(
            "    - vendor-id: 0x0627\n      product-id: 0x0001\n",
        ));
        host.tree.add_configuring(&keyboard()).expect("plugged");
        host.kernel_add(way, &keyboard());
        assert_eq!(
            host.owned(),
            [KEYBOARD],
            "attached on the kernel's add ({way:?})"
        );

        // udev's event, once the kernel is done, changes nothing.
        host.tree
            .finish_configuring(&keyboard())
            .expect("configured");
        let after_udev = host.event(false);
        assert!(
            after_udev.plan.actions.is_empty(),
            "{way:?}: {:?}",
            after_udev.plan
        );
        assert_eq!(host.owned(), [KEYBOARD], "{way:?}");

        // The kernel's remove takes it away at once too.
        host.tree.remove(&keyboard()).expect("unplugged");
        host.event(true);
        assert_eq!(
            host.owned(),
            [],
            "detached on the kernel's remove ({way:?})"
        );
    }
}

#[test]
fn a_rule_on_a_port_is_decided_on_the_kernel_s_add_too() {
    for way in EITHER_WAY {
        let mut host = Host::new(config("    - port: \"1-4\"\n"));
        host.tree.add_configuring(&keyboard()).expect("plugged");
        host.kernel_add(way, &keyboard());
        assert_eq!(host.owned(), [KEYBOARD], "{way:?}");
    }
}

#[test]
fn a_rule_on_interfaces_waits_until_the_kernel_has_configured_the_device() {
    for way in EITHER_WAY {
        let mut host = Host::new(config("    - interface-class: 0x03\n"));
        host.tree.add_configuring(&keyboard()).expect("plugged");
        let early = host.kernel_add(way, &keyboard());
        assert!(early.plan.actions.is_empty(), "{way:?}: {:?}", early.plan);
        assert_eq!(
            host.owned(),
            [],
            "its interfaces are not there yet ({way:?})"
        );

        // The kernel's add seen again once the interfaces are all there (a burst of events):
        // decided.
        host.tree
            .finish_configuring(&keyboard())
            .expect("configured");
        host.kernel_add(way, &keyboard());
        assert_eq!(host.owned(), [KEYBOARD], "{way:?}");
    }
}

#[test]
fn a_device_that_may_be_storage_waits_for_udev_s_event() {
    for way in EITHER_WAY {
        let disk = UsbDeviceBuilder::usb_disk("1-4", 7).build();
        let mut host = Host::new(config("    - port: \"1-4\"\n"));
        host.tree.add_configuring(&disk).expect("plugged");
        host.kernel_add(way, &disk);
        assert_eq!(
            host.owned(),
            [],
            "the in-use guard must see its block devices first ({way:?})"
        );

        // Configured and udev done: udev's event decides (the disk is not in use: attached).
        host.tree.finish_configuring(&disk).expect("configured");
        host.event(false);
        assert_eq!(host.owned().len(), 1, "attached on udev's event ({way:?})");
    }
}

#[test]
fn a_device_whose_descriptors_cannot_be_read_waits_for_udev_s_event() {
    for way in EITHER_WAY {
        let mut host = Host::new(config("    - port: \"1-4\"\n"));
        let dir = host.tree.add_configuring(&keyboard()).expect("plugged");
        std::fs::remove_file(dir.join("descriptors")).expect("descriptors removed");
        host.kernel_add(way, &keyboard());
        assert_eq!(host.owned(), [], "in doubt, it waits ({way:?})");
        host.tree
            .finish_configuring(&keyboard())
            .expect("configured");
        host.event(false);
        assert_eq!(host.owned(), [KEYBOARD], "{way:?}");
    }
}
