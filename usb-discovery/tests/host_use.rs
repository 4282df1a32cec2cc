//! The in-use guard's input: a USB disk whose block devices the host uses (mounted, active swap,
//! held by device-mapper) is found in use, with the reason in words; one it does not use is not.
//! Each case is a fixture tree with the disk's real sysfs layout (interface 08/06/50, `block/sdb`
//! with `sdb1` below it, `dev` files, `holders/`, links in `sys/class/block`) and the host's
//! `proc/self/mountinfo` and `proc/swaps`.

use std::fs;

use fixtures::{FixtureTree, Mount, UsbDeviceBuilder};
use hotplug_match::Interface;
use usb_discovery::{Discovery, HostUse, SysfsDiscovery, UsbDevice};

/// The SanDisk disk at port 2-1 with `sdb` (8:16) and `sdb1` (8:17), behind the root hub `usb2`.
fn disk() -> UsbDeviceBuilder {
    UsbDeviceBuilder::usb_disk("2-1", 3)
        .disk("sdb", (8, 16))
        .partition("sdb1", (8, 17))
}

fn tree_with(disk: UsbDeviceBuilder) -> FixtureTree {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&UsbDeviceBuilder::root_hub(2).build())
        .expect("root hub");
    tree.add(&disk.build()).expect("disk");
    tree
}

fn scanned_disk(tree: &FixtureTree) -> UsbDevice {
    let devices = SysfsDiscovery::new(tree.root()).scan().expect("scan");
    let hub = devices
        .iter()
        .find(|device| device.kernel_name == "usb2")
        .expect("root hub");
    assert!(hub.host_use.is_empty(), "the hub in front of the disk");
    devices
        .into_iter()
        .find(|device| device.kernel_name == "2-1")
        .expect("the disk")
}

fn reasons(device: &UsbDevice) -> Vec<String> {
    device.host_use.iter().map(ToString::to_string).collect()
}

const BOOT: Mount<'static> = Mount {
    dev: (8, 17),
    source: "/dev/sdb1",
    mount_point: "/boot",
    fs_type: "ext4",
};

#[test]
fn a_mounted_partition_puts_the_disk_in_use() {
    let tree = tree_with(disk());
    tree.write_mountinfo(&[BOOT]).expect("mountinfo");
    tree.write_swaps(&[]).expect("swaps");
    let device = scanned_disk(&tree);
    assert_eq!(
        device.interfaces,
        [Interface {
            class: 0x08,
            subclass: 0x06,
            protocol: 0x50
        }]
    );
    assert!(device.is_in_use_by_host());
    assert_eq!(
        device.host_use,
        [HostUse::Mounted {
            block_device: "/dev/sdb1".into(),
            mount_point: "/boot".into()
        }]
    );
    assert_eq!(reasons(&device), ["/dev/sdb1 is mounted on /boot"]);
}

#[test]
fn an_active_swap_partition_puts_the_disk_in_use() {
    let tree = tree_with(disk());
    tree.write_mountinfo(&[]).expect("mountinfo");
    tree.write_swaps(&["/dev/sdb1"]).expect("swaps");
    let device = scanned_disk(&tree);
    assert_eq!(reasons(&device), ["/dev/sdb1 is active swap"]);
}

#[test]
fn a_partition_held_by_device_mapper_puts_the_disk_in_use() {
    let tree = tree_with(disk().holder("sdb1", "dm-0"));
    tree.write_mountinfo(&[]).expect("mountinfo");
    tree.write_swaps(&[]).expect("swaps");
    assert!(
        tree.class_block().join("dm-0").exists(),
        "the holder is a block device of its own"
    );
    let device = scanned_disk(&tree);
    assert_eq!(
        device.host_use,
        [HostUse::Held {
            block_device: "/dev/sdb1".into(),
            holders: vec!["dm-0".into()]
        }]
    );
    assert_eq!(reasons(&device), ["/dev/sdb1 is held by dm-0"]);
}

#[test]
fn a_disk_nothing_uses_is_not_in_use() {
    let tree = tree_with(disk());
    let other = Mount {
        dev: (8, 33),
        source: "/dev/sdc1",
        mount_point: "/srv",
        fs_type: "xfs",
    };
    tree.write_mountinfo(&[other]).expect("mountinfo");
    tree.write_swaps(&["/dev/sda3", "/swapfile"])
        .expect("swaps");
    let device = scanned_disk(&tree);
    assert!(device.host_use.is_empty(), "{:?}", device.host_use);
    assert!(!device.is_in_use_by_host());
}

#[test]
fn missing_process_files_mean_nothing_mounted() {
    let tree = tree_with(disk());
    assert!(scanned_disk(&tree).host_use.is_empty());
}

#[test]
fn every_use_of_every_block_device_is_named() {
    let tree = tree_with(disk().partition("sdb2", (8, 18)).holder("sdb", "md127"));
    tree.write_mountinfo(&[
        BOOT,
        Mount {
            mount_point: "/media/usb stick",
            ..BOOT
        },
    ])
    .expect("mountinfo");
    tree.write_swaps(&["/dev/sdb2"]).expect("swaps");
    assert_eq!(
        reasons(&scanned_disk(&tree)),
        [
            "/dev/sdb1 is mounted on /boot",
            "/dev/sdb1 is mounted on /media/usb stick",
            "/dev/sdb2 is active swap",
            "/dev/sdb is held by md127",
        ]
    );
}

/// btrfs reports an anonymous device number (`0:N`) in `mountinfo`; its mount source still names
/// the partition.
#[test]
fn a_btrfs_mount_is_found_by_its_source() {
    let tree = tree_with(disk());
    tree.write_mountinfo(&[Mount {
        dev: (0, 45),
        source: "/dev/sdb1",
        mount_point: "/srv/backup",
        fs_type: "btrfs",
    }])
    .expect("mountinfo");
    assert_eq!(
        reasons(&scanned_disk(&tree)),
        ["/dev/sdb1 is mounted on /srv/backup"]
    );
}

#[test]
fn an_unreadable_mountinfo_counts_as_in_use_and_says_why() {
    let tree = tree_with(disk());
    fs::create_dir_all(tree.root().join("proc/self/mountinfo")).expect("a folder in its place");
    let device = scanned_disk(&tree);
    assert!(device.is_in_use_by_host());
    let reasons = reasons(&device);
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    for (reason, block) in reasons.iter().zip(["/dev/sdb", "/dev/sdb1"]) {
        assert!(
            reason.starts_with(&format!(
                "cannot tell whether {block} is in use: cannot read "
            )),
            "{reason}"
        );
        assert!(reason.contains("proc/self/mountinfo"), "{reason}");
    }
}

#[test]
fn a_malformed_mountinfo_counts_as_in_use_and_names_the_line() {
    let tree = tree_with(disk());
    let path = tree.write_mountinfo(&[]).expect("mountinfo");
    fs::write(&path, "22 1 8:2 / / rw - ext4 /dev/sda2 rw\nnot a mount\n").expect("garbled");
    let reasons = reasons(&scanned_disk(&tree));
    assert!(
        reasons
            .iter()
            .all(|reason| reason.ends_with(&format!("{}:2: not a mountinfo line", path.display()))),
        "{reasons:?}"
    );
    assert_eq!(reasons.len(), 2);
}

/// A scan reads the process files only when some USB device has a block device below it: with
/// `proc/self/mountinfo` and `proc/swaps` unreadable (folders), a tree without USB disks has no
/// device in use.
#[test]
fn without_usb_block_devices_the_process_files_are_not_read() {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&UsbDeviceBuilder::root_hub(2).build())
        .expect("hub");
    tree.add(
        &UsbDeviceBuilder::new("2-2", 4)
            .interface(0x0e, 1, 0)
            .build(),
    )
    .expect("webcam");
    fs::create_dir_all(tree.root().join("proc/self/mountinfo")).expect("folder");
    fs::create_dir_all(tree.root().join("proc/swaps")).expect("folder");
    let devices = SysfsDiscovery::new(tree.root()).scan().expect("scan");
    assert_eq!(devices.len(), 2);
    assert!(devices.iter().all(|device| device.host_use.is_empty()));
}

/// The block devices belong to the disk itself, not to the hubs in front of it; a disk elsewhere
/// on the host (below PCI, not USB) belongs to no USB device.
#[test]
fn a_disk_behind_a_hub_belongs_to_the_disk_alone() {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&UsbDeviceBuilder::root_hub(2).build())
        .expect("root hub");
    tree.add(&UsbDeviceBuilder::new("2-1", 2).class(0x09).build())
        .expect("hub");
    tree.add(
        &UsbDeviceBuilder::usb_disk("2-1.4", 5)
            .disk("sdc", (8, 32))
            .build(),
    )
    .expect("disk");
    let sata = tree
        .root()
        .join("sys/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda");
    fs::create_dir_all(&sata).expect("sata disk");
    fs::write(sata.join("dev"), "8:0\n").expect("dev");
    std::os::unix::fs::symlink(
        "../../devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda",
        tree.class_block().join("sda"),
    )
    .expect("class link");
    tree.write_mountinfo(&[
        Mount {
            dev: (8, 32),
            source: "/dev/sdc",
            mount_point: "/mnt",
            fs_type: "vfat",
        },
        Mount {
            dev: (8, 0),
            source: "/dev/sda",
            mount_point: "/data",
            fs_type: "ext4",
        },
    ])
    .expect("mountinfo");
    let discovery = SysfsDiscovery::new(tree.root());
    let devices = discovery.scan().expect("scan");
    let in_use: Vec<(&str, Vec<String>)> = devices
        .iter()
        .filter(|device| device.is_in_use_by_host())
        .map(|device| (device.kernel_name.as_str(), reasons(device)))
        .collect();
    assert_eq!(
        in_use,
        [("2-1.4", vec!["/dev/sdc is mounted on /mnt".to_owned()])]
    );
    let alone = discovery
        .read_device("2-1.4")
        .expect("reads")
        .expect("a usb_device");
    assert_eq!(
        Some(&alone),
        devices.iter().find(|device| device.kernel_name == "2-1.4"),
        "reading the one device finds the same"
    );
}

#[test]
fn an_unplugged_disk_leaves_no_link_behind() {
    let tree = tree_with(disk());
    let files = disk().build();
    tree.remove(&files).expect("removed");
    for name in ["sdb", "sdb1"] {
        assert!(
            fs::symlink_metadata(tree.class_block().join(name)).is_err(),
            "{name}"
        );
    }
    let devices = SysfsDiscovery::new(tree.root()).scan().expect("scan");
    assert_eq!(devices.len(), 1, "the root hub alone");
}

#[test]
fn a_mountinfo_past_the_bound_leaves_the_disk_unchecked_naming_the_file() {
    let tree = tree_with(disk());
    tree.write_mountinfo(&[]).expect("mountinfo");
    tree.write_swaps(&[]).expect("swaps");
    let mountinfo = tree.root().join("proc/self/mountinfo");
    let line = "36 35 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n";
    let lines = usb_discovery::MAX_PROC_FILE_LEN as usize / line.len() + 1;
    fs::write(&mountinfo, line.repeat(lines)).expect("a huge mountinfo");
    let device = scanned_disk(&tree);
    assert!(device.is_in_use_by_host(), "kept by the host: {device:?}");
    let reasons = reasons(&device);
    assert!(
        reasons
            .iter()
            .all(|reason| reason.contains("proc/self/mountinfo") && reason.contains("larger than")),
        "{reasons:?}"
    );
}
