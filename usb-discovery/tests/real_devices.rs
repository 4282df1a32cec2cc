//! Discovery reproduces, for every real device recording, what `udevadm info --query=all` printed:
//! the third-party recordings of real machines (`fixtures/data/real-devices`) and the USB lab's
//! recordings of a real kernel's and udevd's enumeration (`fixtures/data/lab-devices`).

use fixtures::{lab_recordings, recordings, FixtureTree, Recording, UdevadmRecord};
use hotplug_match::Interface;
use usb_discovery::{Discovery, SysfsDiscovery, UsbDevice};

/// Asserts that DEVICE, as discovery read it, is what udevadm printed for it: the property set,
/// the tags, the identity the daemon uses.
fn assert_as_udevadm_printed(device: &UsbDevice, udevadm: &UdevadmRecord, name: &str) {
    assert_eq!(
        device.properties,
        udevadm.properties_without_tags(),
        "{name}: property set"
    );
    assert_eq!(device.tags, udevadm.tags(), "{name}: tags");
    assert_eq!(
        device.current_tags,
        udevadm.current_tags(),
        "{name}: current tags"
    );
    let property = |key: &str| udevadm.property(key).unwrap_or_default().to_owned();
    assert_eq!(device.devpath, udevadm.devpath, "{name}: devpath");
    assert_eq!(
        format!("{:03}", device.bus),
        property("BUSNUM"),
        "{name}: bus"
    );
    assert_eq!(
        format!("{:03}", device.device),
        property("DEVNUM"),
        "{name}: device"
    );
    let product = format!("{:x}/{:x}/", device.vendor_id, device.product_id);
    assert!(
        property("PRODUCT").starts_with(&product),
        "{name}: ids {product}"
    );
    assert_eq!(
        device.kernel_name,
        udevadm.devpath.rsplit('/').next().unwrap_or_default(),
        "{name}: kernel name"
    );
    let hub_class = property("TYPE").starts_with("9/");
    assert_eq!(device.is_hub(), hub_class, "{name}: hub");
}

/// Builds the recording alone in a tree, scans it, and compares with its udevadm.txt.
fn assert_discovered_alone(recording: &Recording) {
    let name = &recording.name;
    let files = recording.device_files().expect("recording loads");
    let udevadm = recording.udevadm().expect("udevadm.txt parses");
    let tree = FixtureTree::new().expect("tree");
    tree.add(&files).expect("device written");
    let devices = SysfsDiscovery::new(tree.root()).scan().expect("scan");
    assert_eq!(devices.len(), 1, "{name}: exactly the one device");
    assert_as_udevadm_printed(&devices[0], &udevadm, name);
}

/// For each third-party recording: build its real sysfs/udev layout, scan it, and compare with its
/// udevadm.txt.
///
/// Documented differences between discovery's property set and the recorded `E:` lines:
/// * `TAGS` and `CURRENT_TAGS` are not properties in discovery: they are kept apart as tag sets (the
///   original daemon matches tags separately too) and are compared as sets, since udev writes
///   them in hash-set order.
/// * `USEC_INITIALIZED` would come from the record's `I:` line; umockdev-record drops it, so neither
///   side has it (the reconstructed records have no `I:` line). The lab recordings below have it.
/// * Recordings of udev before systemd 247 have no `CURRENT_TAGS` and their database no `V:` line;
///   udev then treats every tag as current, and so does discovery: expected current tags = `TAGS`.
#[test]
fn every_real_device_has_the_properties_and_tags_udevadm_printed() {
    let all = recordings().expect("bundled recordings");
    assert!(!all.is_empty());
    for recording in &all {
        assert_discovered_alone(recording);
    }
}

/// The same for each device of the USB lab, whose recordings are a real kernel's sysfs files and
/// udevd's own database records (with `I:`, so `USEC_INITIALIZED` is compared too), and whose
/// udevadm.txt is udevadm's verbatim output (with the M: R: U: T: D: L: V: header lines).
#[test]
fn every_lab_device_has_the_properties_and_tags_udevadm_printed() {
    let all = lab_recordings().expect("lab recordings");
    assert_eq!(all.len(), 8, "two root hubs and six emulated devices");
    for recording in &all {
        let udevadm = recording.udevadm().expect("udevadm.txt parses");
        assert!(
            udevadm.property("USEC_INITIALIZED").is_some(),
            "{}: recorded with USEC_INITIALIZED",
            recording.name
        );
        assert_discovered_alone(recording);
    }
}

/// All lab devices in one tree, as the kernel laid them out (the hub's devices inside its
/// directory, both root hubs on one controller): one scan finds each at its port, tells the
/// keyboard and the tablet (identical ids) apart by port, and flags exactly the hubs.
#[test]
fn the_lab_host_scans_as_its_kernel_enumerated_it() {
    let all = lab_recordings().expect("lab recordings");
    let tree = FixtureTree::new().expect("tree");
    for recording in &all {
        tree.add(&recording.device_files().expect("loads"))
            .expect("written");
    }
    let devices = SysfsDiscovery::new(tree.root()).scan().expect("scan");
    let ports: Vec<&str> = devices.iter().map(|d| d.kernel_name.as_str()).collect();
    assert_eq!(
        ports,
        ["usb1", "1-1", "1-2", "1-3", "1-3.1", "1-3.2", "1-3.3", "usb2"],
        "sorted by bus and device number"
    );
    for recording in &all {
        let udevadm = recording.udevadm().expect("udevadm.txt parses");
        let device = devices
            .iter()
            .find(|d| d.devpath == udevadm.devpath)
            .expect("every recording found");
        assert_as_udevadm_printed(device, &udevadm, &recording.name);
    }
    let hubs: Vec<&str> = devices
        .iter()
        .filter(|d| d.is_hub())
        .map(|d| d.kernel_name.as_str())
        .collect();
    assert_eq!(hubs, ["usb1", "1-3", "usb2"]);
    let ids = |port: &str| {
        let device = devices.iter().find(|d| d.kernel_name == port).expect(port);
        (device.vendor_id, device.product_id, device.device)
    };
    let (keyboard, tablet) = (ids("1-1"), ids("1-2"));
    assert_eq!((keyboard.0, keyboard.1), (0x0627, 0x0001));
    assert_eq!((tablet.0, tablet.1), (0x0627, 0x0001));
    assert_ne!(keyboard.2, tablet.2, "told apart by device number");
}

/// Two recordings of identical hubs without serials sit on one bus in one real tree; discovery tells
/// them apart by device number and port.
#[test]
fn identical_devices_in_one_tree_are_told_apart_by_port() {
    let tree = FixtureTree::new().expect("tree");
    for name in [
        "via-labs-usb2-hub-2230-0006-port1",
        "via-labs-usb2-hub-2230-0006-port1.1",
    ] {
        let files = fixtures::recording(name)
            .expect("bundled")
            .device_files()
            .expect("loads");
        tree.add(&files).expect("written");
    }
    let devices = SysfsDiscovery::new(tree.root()).scan().expect("scan");
    let found: Vec<(String, u16)> = devices
        .iter()
        .map(|d| (d.kernel_name.clone(), d.device))
        .collect();
    assert_eq!(found.len(), 2);
    assert_ne!(found[0].0, found[1].0, "ports differ");
    assert_eq!(
        devices[0].properties.get("ID_SERIAL"),
        devices[1].properties.get("ID_SERIAL")
    );
}

/// The one device discovery finds in a tree holding only `recording`.
fn discovered_alone(recording: &Recording) -> UsbDevice {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&recording.device_files().expect("loads"))
        .expect("written");
    let mut devices = SysfsDiscovery::new(tree.root()).scan().expect("scan");
    assert_eq!(
        devices.len(),
        1,
        "{}: exactly the one device",
        recording.name
    );
    devices.remove(0)
}

/// `:030101:030000:` as its triples.
fn udev_interfaces(value: &str) -> Vec<Interface> {
    value
        .split(':')
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let code = |at: usize| u8::from_str_radix(&entry[at..at + 2], 16).expect("hex");
            Interface {
                class: code(0),
                subclass: code(2),
                protocol: code(4),
            }
        })
        .collect()
}

/// For each recording: the interfaces discovery reads from its tree's interface folders agree with
/// the `ID_USB_INTERFACES` udev recorded for it.
///
/// udev computes `ID_USB_INTERFACES` from the sysfs `descriptors` file: every distinct
/// class/subclass/protocol of every interface descriptor, of every configuration and alternate
/// setting, in order. The folders hold the active configuration's interfaces, each at its current
/// alternate setting (0 in the fixtures). So:
/// * every interface discovery reads is in `ID_USB_INTERFACES`;
/// * for a device with one configuration and no alternate settings (29 of the 31), the distinct
///   interfaces read, in order, are exactly `ID_USB_INTERFACES`;
/// * the two multi-TT hubs (Lenovo 17ef:1005, Realtek RTS5411) list a second alternate setting
///   (09/00/02, one transaction translator per port) that the fixture folders, at setting 0, do
///   not show; the recorded descriptors have it, and the distinct interfaces of all descriptors
///   are exactly `ID_USB_INTERFACES` for every recording.
///
/// Every one of the 31 recordings has `ID_USB_INTERFACES`; the test fails if one had none.
#[test]
fn every_real_device_has_the_interfaces_udev_recorded() {
    let mut with_alternate_settings = Vec::new();
    for recording in recordings().expect("bundled recordings") {
        let name = &recording.name;
        let device = discovered_alone(&recording);
        let udevadm = recording.udevadm().expect("udevadm.txt");
        let recorded = udev_interfaces(
            udevadm
                .property("ID_USB_INTERFACES")
                .unwrap_or_else(|| panic!("{name}: no ID_USB_INTERFACES")),
        );
        assert!(!device.interfaces.is_empty(), "{name}: has interfaces");
        for interface in &device.interfaces {
            assert!(recorded.contains(interface), "{name}: {interface} recorded");
        }
        let descriptors = recording.interface_descriptors().expect("descriptors");
        let mut every: Vec<Interface> = Vec::new();
        for descriptor in &descriptors {
            let interface = Interface {
                class: descriptor.class,
                subclass: descriptor.subclass,
                protocol: descriptor.protocol,
            };
            if !every.contains(&interface) {
                every.push(interface);
            }
        }
        assert_eq!(every, recorded, "{name}: descriptors as udev reads them");

        let mut distinct: Vec<Interface> = Vec::new();
        for interface in &device.interfaces {
            if !distinct.contains(interface) {
                distinct.push(*interface);
            }
        }
        let single_setting = descriptors
            .iter()
            .all(|d| d.alternate == 0 && d.configuration == 1);
        if single_setting {
            assert_eq!(distinct, recorded, "{name}: interfaces");
        } else {
            with_alternate_settings.push(name.clone());
        }
    }
    assert_eq!(
        with_alternate_settings,
        ["lenovo-hub-17ef-1005", "realtek-rts5411-hub-0bda-5411"]
    );
}

/// The device descriptor's class, subclass and protocol are what udev recorded in `TYPE`
/// (decimal `class/subclass/protocol`).
#[test]
fn every_real_device_has_the_device_class_udev_recorded() {
    for recording in recordings().expect("bundled recordings") {
        let device = discovered_alone(&recording);
        let udevadm = recording.udevadm().expect("udevadm.txt");
        assert_eq!(
            format!(
                "{}/{}/{}",
                device.device_class, device.device_subclass, device.device_protocol
            ),
            udevadm.property("TYPE").unwrap_or_default(),
            "{}",
            recording.name
        );
        assert!(
            device.host_use.is_empty(),
            "{}: no block devices",
            recording.name
        );
    }
}

/// The lab's devices, enumerated by a real kernel: the interfaces read from their recorded sysfs
/// folders are the ones udev lists in `ID_USB_INTERFACES`, in its order.
#[test]
fn every_lab_device_has_the_interfaces_udev_recorded() {
    for recording in lab_recordings().expect("lab recordings") {
        let name = &recording.name;
        let device = discovered_alone(&recording);
        let udevadm = recording.udevadm().expect("udevadm.txt");
        let Some(listed) = udevadm.property("ID_USB_INTERFACES") else {
            assert!(device.is_hub() || device.interfaces.is_empty(), "{name}");
            continue;
        };
        let mut distinct: Vec<Interface> = Vec::new();
        for interface in &device.interfaces {
            if !distinct.contains(interface) {
                distinct.push(*interface);
            }
        }
        assert!(!distinct.is_empty(), "{name}: has interfaces");
        assert_eq!(distinct, udev_interfaces(listed), "{name}");
    }
}

/// The properties the kernel gives a `usb_device` (its uevent keys) and udev adds to every device
/// before any rule runs: what a device udev has not processed has.
const KERNEL_PROPERTIES: [&str; 11] = [
    "DEVPATH",
    "SUBSYSTEM",
    "MAJOR",
    "MINOR",
    "DEVNAME",
    "DEVTYPE",
    "DRIVER",
    "PRODUCT",
    "TYPE",
    "BUSNUM",
    "DEVNUM",
];

/// Not circular: each third-party device built straight from its raw umockdev paragraph (the
/// recorded sysfs attributes; the uevent file from them by the kernel's rules, which
/// `fixtures::raw` checks against genuine uevent files; no udev record) is scanned, and what
/// discovery reads must be what udev printed for the real device: the kernel's properties, the
/// numbers, ids, port and hub flag. The three recordings without a driver link are left out
/// (the kernel's DRIVER is not recorded for them).
#[test]
fn devices_built_from_the_raw_recordings_read_as_udevadm_printed_them() {
    let mut checked = 0;
    for recording in recordings().expect("bundled recordings") {
        let name = &recording.name;
        let Some(files) = recording.raw_device_files().expect("raw paragraph loads") else {
            continue;
        };
        let udevadm = recording.udevadm().expect("udevadm.txt parses");
        let tree = FixtureTree::new().expect("tree");
        tree.add(&files).expect("device written");
        let devices = SysfsDiscovery::new(tree.root()).scan().expect("scan");
        assert_eq!(devices.len(), 1, "{name}: exactly the one device");
        let device = &devices[0];
        let expected: std::collections::BTreeMap<String, String> = udevadm
            .properties
            .iter()
            .filter(|(key, _)| KERNEL_PROPERTIES.contains(&key.as_str()))
            .cloned()
            .collect();
        assert_eq!(
            expected.len(),
            KERNEL_PROPERTIES.len(),
            "{name}: udevadm has them all"
        );
        assert_eq!(
            device.properties, expected,
            "{name}: the kernel's properties"
        );
        assert!(device.tags.is_empty(), "{name}: no udev record, no tags");
        let property = |key: &str| udevadm.property(key).unwrap_or_default().to_owned();
        assert_eq!(format!("{:03}", device.bus), property("BUSNUM"), "{name}");
        assert_eq!(
            format!("{:03}", device.device),
            property("DEVNUM"),
            "{name}"
        );
        assert_eq!(
            (device.vendor_id, device.product_id),
            (
                u16::from_str_radix(&property("ID_VENDOR_ID"), 16).expect("ID_VENDOR_ID"),
                u16::from_str_radix(&property("ID_MODEL_ID"), 16).expect("ID_MODEL_ID")
            ),
            "{name}: ids"
        );
        assert_eq!(device.devpath, udevadm.devpath, "{name}: devpath");
        assert_eq!(
            device.kernel_name,
            udevadm.devpath.rsplit('/').next().unwrap_or_default(),
            "{name}: kernel name"
        );
        assert_eq!(
            device.is_hub(),
            property("TYPE").starts_with("9/"),
            "{name}: hub"
        );
        checked += 1;
    }
    assert_eq!(checked, 28, "the recordings with a driver link");
}
