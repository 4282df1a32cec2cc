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

/// The recorded `ID_USB_INTERFACES` (`:030101:030000:`) as class/subclass/protocol triples.
fn recorded_interfaces(recorded: &Recorded) -> Vec<[u8; 3]> {
    recorded
        .udevadm
        .property("ID_USB_INTERFACES")
        .unwrap_or_default()
        .split(':')
        .filter(|entry| entry.len() == 6)
        .map(|entry| {
            let code = |at: usize| u8::from_str_radix(&entry[at..at + 2], 16).expect("hex");
            [code(0), code(2), code(4)]
        })
        .collect()
}

/// The recorded `TYPE` (`239/2/1`, decimal) as the device's class, subclass and protocol.
fn recorded_device_codes(recorded: &Recorded) -> [u8; 3] {
    let codes: Vec<u8> = recorded
        .udevadm
        .property("TYPE")
        .expect("TYPE recorded")
        .split('/')
        .map(|code| code.parse().expect("decimal"))
        .collect();
    [codes[0], codes[1], codes[2]]
}

/// Class matchers over the 31 real devices: each row's machine matches exactly the devices that
/// are no hub and whose recorded `TYPE` has the device codes given and whose recorded
/// `ID_USB_INTERFACES` has one interface with all the interface codes given.
#[test]
fn class_matchers_pick_the_devices_their_recorded_classes_say() {
    // (machine, matcher, device codes, interface codes): `None` where the matcher sets none.
    type Codes = [Option<u8>; 3];
    let table: &[(&str, &str, Codes, Codes)] = &[
        (
            "hid",
            "interface-class: 0x03",
            [None; 3],
            [Some(3), None, None],
        ),
        (
            "keyboard",
            "interface-class: '03'\n      interface-subclass: 1\n      interface-protocol: 1",
            [None; 3],
            [Some(3), Some(1), Some(1)],
        ),
        (
            "hid-boot-and-no-protocol",
            "interface-class: 3\n      interface-subclass: 1\n      interface-protocol: 0",
            [None; 3],
            [Some(3), Some(1), Some(0)],
        ),
        (
            "vendor-specific",
            "interface-class: 0xff",
            [None; 3],
            [Some(0xff), None, None],
        ),
        (
            "still-image",
            "interface-class: 06",
            [None; 3],
            [Some(6), None, None],
        ),
        (
            "printer",
            "interface-class: 07",
            [None; 3],
            [Some(7), None, None],
        ),
        (
            "mass-storage",
            "interface-class: 0x08",
            [None; 3],
            [Some(8), None, None],
        ),
        (
            "video",
            "interface-class: 0e",
            [None; 3],
            [Some(0x0e), None, None],
        ),
        (
            "hub-interface",
            "interface-class: 9",
            [None; 3],
            [Some(9), None, None],
        ),
        (
            "diagnostic",
            "interface-class: 0xdc",
            [None; 3],
            [Some(0xdc), None, None],
        ),
        (
            "misc-device",
            "device-class: 0xef",
            [Some(0xef), None, None],
            [None; 3],
        ),
        (
            "vendor-device-10",
            "device-class: ff\n      device-subclass: 0x10",
            [Some(0xff), Some(0x10), None],
            [None; 3],
        ),
        (
            "per-interface-vendor",
            "device-class: 0\n      interface-class: 0xff\n      interface-protocol: 0xff",
            [Some(0), None, None],
            [Some(0xff), None, Some(0xff)],
        ),
    ];
    let recorded = all_recorded();
    let mut config = String::from("machines:\n");
    let mut expected = BTreeMap::new();
    let holds = |wanted: &Codes, actual: [u8; 3]| {
        wanted
            .iter()
            .zip(actual)
            .all(|(wanted, actual)| wanted.is_none_or(|wanted| wanted == actual))
    };
    for (machine, matcher, device_codes, interface_codes) in table {
        config.push_str(&format!("  {machine}:\n    devices:\n    - {matcher}\n"));
        let names: BTreeSet<String> = recorded
            .iter()
            .filter(|r| !r.is_hub())
            .filter(|r| holds(device_codes, recorded_device_codes(r)))
            .filter(|r| {
                interface_codes.iter().all(Option::is_none)
                    || recorded_interfaces(r)
                        .into_iter()
                        .any(|interface| holds(interface_codes, interface))
            })
            .map(|r| r.name.clone())
            .collect();
        expected.insert((*machine).to_owned(), names);
    }
    let matched = matched_by_machine(&config, &recorded);
    assert_eq!(matched, expected);

    // What a user checks by hand: the two keyboards, and no device whose interfaces are split
    // across the criteria (both keyboards have 03/01/01 and 03/00/00, none 03/01/00).
    assert_eq!(
        matched["keyboard"],
        BTreeSet::from([
            "holtek-usb-keyboard-04d9-1603".to_owned(),
            "kinesis-keyboard-05f3-0007".to_owned()
        ])
    );
    assert!(matched["hid"].contains("yubico-security-key-1050-0120"));
    assert!(matched["hid-boot-and-no-protocol"].is_empty());
    assert!(matched["hub-interface"].is_empty(), "hubs never match");
    assert!(matched["still-image"].contains("canon-powershot-sx200-04a9-31c0"));
    assert!(!matched["vendor-specific"].is_empty() && !matched["misc-device"].is_empty());
}

#[test]
fn a_class_mismatch_on_a_real_device_is_explained_in_words() {
    let recorded = all_recorded();
    let find = |prefix: &str| {
        recorded
            .iter()
            .find(|r| r.name.starts_with(prefix))
            .expect("recorded")
    };
    let config = parse_main_file(
        "machines:\n  print-vm:\n    devices:\n    - interface-class: 07\n  cam:\n    devices:\n    - device-class: 0x0e\n",
        Path::new("config.yml"),
    )
    .expect("valid");
    let reason = |machine: usize, device: &Recorded| {
        config.machines[machine]
            .rules
            .explain(&device.device)
            .map(|m| m.to_string())
    };
    assert_eq!(
        reason(0, find("holtek")).as_deref(),
        Some("no interface with class 07 (interfaces: 03/01/01, 03/00/00)")
    );
    assert_eq!(
        reason(1, find("goodix")).as_deref(),
        Some("device-class ef != 0e")
    );
}
