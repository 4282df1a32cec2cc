//! The in-use guard and top-level deny rules, through the planner: a USB disk the host uses
//! (mounted, active swap, held by device-mapper) is never attached, one it does not use is; a
//! denied device goes nowhere, and what the daemon attached of it is detached. `explain` says why.
//!
//! Fixture trees with the disk's real layout (interface 08/06/50, `block/sdb` with `sdb1`), the
//! host's `proc/self/mountinfo` and `proc/swaps`, the mock hypervisor for the attach, and the
//! binary's `explain --json` against libvirt's test driver (`test:///default`, whose running
//! domain is `test`).

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fixtures::{FixtureTree, Mount, UsbDeviceBuilder};
use hotplugd::config::{self, Config};
use hotplugd::reconcile::{Mode, Reconciler};
use libvirt_sync::{HostdevSpec, Hypervisor, MockHypervisor, ObservedHostdev};
use serde_json::Value;
use usb_discovery::SysfsDiscovery;

/// A backup VM that takes any mass-storage interface (08).
const BACKUP_VM: &str =
    "interval: 5s\nmachines:\n  test:\n    devices:\n    - interface-class: 0x08\n";

const DISK: HostdevSpec = HostdevSpec {
    bus: 2,
    device: 3,
    vendor_id: 0x0781,
    product_id: 0x5581,
};

fn disk() -> UsbDeviceBuilder {
    UsbDeviceBuilder::usb_disk("2-1", 3)
        .disk("sdb", (8, 16))
        .partition("sdb1", (8, 17))
}

/// The host: the disk, its mounts and swaps, and the configuration beside them.
fn host(disk: UsbDeviceBuilder, mounts: &[Mount<'_>], swaps: &[&str], yaml: &str) -> FixtureTree {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&UsbDeviceBuilder::root_hub(2).build())
        .expect("root hub");
    tree.add(&disk.build()).expect("disk");
    tree.write_mountinfo(mounts).expect("mountinfo");
    tree.write_swaps(swaps).expect("swaps");
    std::fs::write(tree.root().join("config.yml"), yaml).expect("config");
    tree
}

fn load(tree: &FixtureTree) -> Config {
    config::load(&tree.root().join("config.yml")).expect("valid")
}

/// One applying reconcile against a mock where `test` runs (with `hostdevs`); what it holds after.
fn attached_after(tree: &FixtureTree, hostdevs: &[ObservedHostdev]) -> Vec<HostdevSpec> {
    let mut mock = MockHypervisor::new().with_domain("test", true);
    for hostdev in hostdevs {
        mock.add_live_hostdev("test", hostdev.clone());
    }
    let mock = Arc::new(Mutex::new(mock));
    let shared = Arc::clone(&mock);
    let mut reconciler = Reconciler::new(
        Box::new(SysfsDiscovery::new(tree.root())),
        Box::new(move |_| Ok(Box::new(Arc::clone(&shared)) as Box<dyn Hypervisor>)),
    );
    let outcome = reconciler
        .reconcile(
            &load(tree),
            None,
            Instant::now(),
            Mode::Apply,
            Duration::from_secs(5),
        )
        .expect("reconciles");
    assert!(outcome.is_success(), "{:?}", outcome.report);
    let owned = mock
        .lock()
        .expect("not poisoned")
        .hostdevs("test")
        .iter()
        .filter_map(ObservedHostdev::owned_spec)
        .collect();
    owned
}

/// `explain --json`'s entry for the disk (port 2-1).
fn explained_disk(tree: &FixtureTree) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_libvirt-usb-hotplugd"))
        .args(["--libvirt-uri", "test:///default", "--root"])
        .arg(tree.root())
        .args(["explain", "--json"])
        .arg(tree.root().join("config.yml"))
        .output()
        .expect("explain runs");
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    report["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .find(|device| device["port"] == "2-1")
        .expect("the disk")
        .clone()
}

const BOOT: Mount<'static> = Mount {
    dev: (8, 17),
    source: "/dev/sdb1",
    mount_point: "/boot",
    fs_type: "ext4",
};

#[test]
fn a_disk_the_host_uses_is_never_attached_and_explain_says_why() {
    let cases = [
        (
            "mounted",
            host(disk(), &[BOOT], &[], BACKUP_VM),
            "/dev/sdb1 is mounted on /boot",
        ),
        (
            "swap",
            host(disk(), &[], &["/dev/sdb1"], BACKUP_VM),
            "/dev/sdb1 is active swap",
        ),
        (
            "device-mapper",
            host(disk().holder("sdb1", "dm-0"), &[], &[], BACKUP_VM),
            "dm-0",
        ),
    ];
    for (case, tree, reason) in &cases {
        assert_eq!(attached_after(tree, &[]), [], "{case}: not attached");
        let device = explained_disk(tree);
        assert_eq!(device["placement"], "in-use", "{case}: {device:#}");
        let said = device["placement-reason"].as_str().unwrap_or_default();
        assert!(said.contains(reason), "{case}: {said:?} names {reason:?}");
        assert_eq!(device["device-class"], "00", "{case}");
        assert_eq!(
            device["interfaces"],
            serde_json::json!([{"class": "08", "subclass": "06", "protocol": "50"}]),
            "{case}"
        );
    }

    // Nothing uses it: attached.
    let free = host(disk(), &[], &[], BACKUP_VM);
    assert_eq!(attached_after(&free, &[]), [DISK]);
    assert_eq!(explained_disk(&free)["placement"], "attach");
}

#[test]
fn a_disk_attached_before_it_was_in_use_stays_where_it_is() {
    // Not checked again once attached (the host no longer has its block devices then).
    let tree = host(disk(), &[BOOT], &[], BACKUP_VM);
    assert_eq!(
        attached_after(&tree, &[ObservedHostdev::from(DISK)]),
        [DISK]
    );
}

#[test]
fn a_denied_device_goes_nowhere_and_what_the_daemon_attached_of_it_is_detached() {
    let denying = format!("{BACKUP_VM}deny:\n- vendor-id: 0x0781\n  product-id: 0x5581\n");
    let tree = host(disk(), &[], &[], &denying);
    let device = explained_disk(&tree);
    assert_eq!(device["placement"], "denied", "{device:#}");
    let said = device["placement-reason"].as_str().unwrap_or_default();
    assert!(said.contains("deny[0]"), "{said:?}");
    assert_eq!(attached_after(&tree, &[]), []);
    assert_eq!(
        attached_after(&tree, &[ObservedHostdev::from(DISK)]),
        [],
        "detached like a device that no longer matches"
    );
}
