//! Discovery reproduces, for every real device recording, what `udevadm info --query=all` printed.

use std::collections::{BTreeMap, BTreeSet};

use fixtures::{recordings, FixtureTree};
use usb_discovery::{Discovery, SysfsDiscovery};

/// For each recording: build its real sysfs/udev layout, scan it, and compare with its udevadm.txt.
///
/// Documented differences between discovery's property set and the recorded `E:` lines:
/// * `TAGS` and `CURRENT_TAGS` are not properties in discovery: they are kept apart as tag sets (the
///   original daemon matches tags separately too) and are compared as sets below, since udev writes
///   them in hash-set order.
/// * `USEC_INITIALIZED` would come from the record's `I:` line; umockdev-record drops it, so neither
///   side has it (the reconstructed records have no `I:` line). The builder tests below cover it.
/// * Recordings of udev before systemd 247 have no `CURRENT_TAGS` and their database no `V:` line;
///   udev then treats every tag as current, and so does discovery: expected current tags = `TAGS`.
#[test]
fn every_real_device_has_the_properties_and_tags_udevadm_printed() {
    let all = recordings().expect("bundled recordings");
    assert!(!all.is_empty());
    for recording in all {
        let name = &recording.name;
        let files = recording.device_files().expect("recording loads");
        let udevadm = recording.udevadm().expect("udevadm.txt parses");
        let tree = FixtureTree::new().expect("tree");
        tree.add(&files).expect("device written");

        let devices = SysfsDiscovery::new(tree.root()).scan().expect("scan");
        assert_eq!(devices.len(), 1, "{name}: exactly the one device");
        let device = &devices[0];

        let expected: BTreeMap<String, String> = udevadm
            .properties
            .iter()
            .filter(|(key, _)| key != "TAGS" && key != "CURRENT_TAGS")
            .cloned()
            .collect();
        assert_eq!(device.properties, expected, "{name}: property set");

        let tags: BTreeSet<String> = udevadm.list_property("TAGS").into_iter().collect();
        let current_tags: BTreeSet<String> = match udevadm.property("CURRENT_TAGS") {
            Some(_) => udevadm.list_property("CURRENT_TAGS").into_iter().collect(),
            None => tags.clone(),
        };
        assert_eq!(device.tags, tags, "{name}: tags");
        assert_eq!(device.current_tags, current_tags, "{name}: current tags");

        // The identity the daemon uses, against the recorded properties.
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
