//! Discovery reproduces, for every real device recording, what `udevadm info --query=all` printed:
//! the third-party recordings of real machines (`fixtures/data/real-devices`) and the USB lab's
//! recordings of a real kernel's and udevd's enumeration (`fixtures/data/lab-devices`).

use fixtures::{lab_recordings, recordings, FixtureTree, Recording, UdevadmRecord};
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
