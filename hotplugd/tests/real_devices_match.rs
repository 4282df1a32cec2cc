//! Matchers from configuration text against the 31 real device recordings, each discovered from
//! its own fixture tree. Every expected set is computed from the recordings' `udevadm.txt`, not
//! from discovery and not written down by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use fixtures::{recordings, FixtureTree, UdevadmRecord};
use hotplugd::config::parse_main_file;
use usb_discovery::{Discovery, SysfsDiscovery, UsbDevice};

/// One recording: its name, the device discovery finds in its tree, and what udevadm printed.
struct Recorded {
    name: String,
    device: UsbDevice,
    udevadm: UdevadmRecord,
}

impl Recorded {
    /// A hub, per the recorded `TYPE=<class>/<subclass>/<protocol>` (class 9).
    fn is_hub(&self) -> bool {
        self.udevadm
            .property("TYPE")
            .is_some_and(|value| value.starts_with("9/"))
    }

    /// The vendor id, per the recorded `PRODUCT=<vendor>/<product>/<bcdDevice>` (hex).
    fn vendor_id(&self) -> u16 {
        let product = self.udevadm.property("PRODUCT").expect("PRODUCT recorded");
        let vendor = product.split('/').next().expect("vendor field");
        u16::from_str_radix(vendor, 16).expect("hex vendor")
    }
}

fn all_recorded() -> Vec<Recorded> {
    let all = recordings().expect("bundled recordings");
    assert!(!all.is_empty());
    all.into_iter()
        .map(|recording| {
            let tree = FixtureTree::new().expect("tree");
            tree.add(&recording.device_files().expect("recording loads"))
                .expect("device written");
            let mut devices = SysfsDiscovery::new(tree.root()).scan().expect("scan");
            assert_eq!(devices.len(), 1, "{}: one device", recording.name);
            Recorded {
                name: recording.name.clone(),
                device: devices.remove(0),
                udevadm: recording.udevadm().expect("udevadm.txt"),
            }
        })
        .collect()
}

/// A YAML single-quoted scalar.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The names of the recordings whose device each machine of `config_text` matches.
fn matched_by_machine(
    config_text: &str,
    recorded: &[Recorded],
) -> BTreeMap<String, BTreeSet<String>> {
    let config = parse_main_file(config_text, Path::new("config.yml")).expect("valid config");
    config
        .machines
        .iter()
        .map(|machine| {
            let names = recorded
                .iter()
                .filter(|r| machine.rules.matches(&r.device))
                .map(|r| r.name.clone())
                .collect();
            (machine.name.clone(), names)
        })
        .collect()
}

#[test]
fn a_serial_number_matcher_picks_the_devices_with_that_serial_and_no_hub() {
    let recorded = all_recorded();
    let serials: BTreeSet<&str> = recorded
        .iter()
        .filter_map(|r| r.udevadm.property("ID_SERIAL_SHORT"))
        .collect();
    assert!(!serials.is_empty());
    let mut config = String::from("machines:\n");
    let mut expected = BTreeMap::new();
    for (index, serial) in serials.iter().enumerate() {
        let machine = format!("serial-{index}");
        config.push_str(&format!(
            "  {machine}:\n    devices:\n    - udev:\n        env:\n        - name: ID_SERIAL_SHORT\n          equals: {}\n",
            quoted(serial)
        ));
        let with_serial: BTreeSet<String> = recorded
            .iter()
            .filter(|r| r.udevadm.property("ID_SERIAL_SHORT") == Some(serial) && !r.is_hub())
            .map(|r| r.name.clone())
            .collect();
        expected.insert(machine, with_serial);
    }
    assert_eq!(matched_by_machine(&config, &recorded), expected);

    // The recordings hold serials that identify exactly one of all the devices, as a serial
    // should; the Canon camera's is one of them.
    let canon = recorded
        .iter()
        .find(|r| r.name.starts_with("canon-powershot"))
        .expect("the Canon recording");
    let serial = canon.udevadm.property("ID_SERIAL_SHORT").expect("serial");
    let config = format!(
        "machines:\n  camera:\n    devices:\n    - udev:\n        env:\n        - name: ID_SERIAL_SHORT\n          equals: {}\n",
        quoted(serial)
    );
    assert_eq!(
        matched_by_machine(&config, &recorded)["camera"],
        BTreeSet::from([canon.name.clone()]),
        "exactly one of the {} devices",
        recorded.len()
    );
}

#[test]
fn a_vendor_id_matcher_picks_exactly_that_vendors_devices_but_no_hub() {
    let recorded = all_recorded();
    let vendors: BTreeSet<u16> = recorded.iter().map(Recorded::vendor_id).collect();
    let mut config = String::from("machines:\n");
    let mut expected = BTreeMap::new();
    for vendor in &vendors {
        let machine = format!("vendor-{vendor:04x}");
        config.push_str(&format!(
            "  {machine}:\n    devices:\n    - vendor-id: {vendor:#06x}\n"
        ));
        let of_vendor: BTreeSet<String> = recorded
            .iter()
            .filter(|r| r.vendor_id() == *vendor && !r.is_hub())
            .map(|r| r.name.clone())
            .collect();
        expected.insert(machine, of_vendor);
    }
    let matched = matched_by_machine(&config, &recorded);
    assert_eq!(matched, expected);
    // Root hubs are the Linux Foundation's (1d6b): that vendor's matcher finds nothing.
    assert_eq!(matched.get("vendor-1d6b"), Some(&BTreeSet::new()));
}

#[test]
fn a_hub_never_matches_even_a_matcher_of_its_own_attributes() {
    let recorded = all_recorded();
    // A root hub's kernel name (`usb1`) is not a port a matcher can name; other devices' are.
    let own = |r: &Recorded| {
        let port = if r.device.kernel_name.starts_with("usb") {
            String::new()
        } else {
            format!("      port: {}\n", r.device.kernel_name)
        };
        format!(
            "machines:\n  own:\n    devices:\n    - vendor-id: {:#06x}\n      product-id: {:#06x}\n      bus: {}\n      device: {}\n{port}",
            r.device.vendor_id, r.device.product_id, r.device.bus, r.device.device
        )
    };
    let hubs: Vec<&Recorded> = recorded.iter().filter(|r| r.is_hub()).collect();
    assert!(!hubs.is_empty(), "the recordings include hubs");
    for hub in hubs {
        let config = parse_main_file(&own(hub), Path::new("config.yml")).expect("valid");
        let rules = &config.machines[0].rules;
        for other in &recorded {
            assert!(
                !rules.matches(&other.device) || !other.is_hub(),
                "{} matched hub {}",
                hub.name,
                other.name
            );
        }
        assert_eq!(
            rules.explain(&hub.device).map(|m| m.to_string()).as_deref(),
            Some("device is a hub"),
            "{}",
            hub.name
        );
    }
    // The same kind of matcher does match a device that is not a hub.
    for device in recorded.iter().filter(|r| !r.is_hub()) {
        let config = parse_main_file(&own(device), Path::new("config.yml")).expect("valid");
        assert!(
            config.machines[0].rules.matches(&device.device),
            "{}",
            device.name
        );
    }
}
