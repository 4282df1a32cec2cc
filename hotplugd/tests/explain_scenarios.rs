//! `explain --json` (and once the text form) run as a process against fixture roots and libvirt
//! test-driver nodes: one test per rule of DESIGN.md's Semantics, each scenario (devices, config,
//! domains) written out in the test itself.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

use fixtures::{FixtureTree, UsbDeviceBuilder};
use serde_json::{json, Value};
use tempfile::TempDir;

/// The fields `explain --json` gives every device, as the issue lists them.
const DEVICE_FIELDS: [&str; 9] = [
    "bus",
    "device",
    "vendor-id",
    "product-id",
    "port",
    "hub",
    "matches",
    "assigned",
    "reasons",
];
/// The fields of a machine's hostdev: the issue's, and `stale`.
const HOSTDEV_FIELDS: [&str; 7] = [
    "bus",
    "device",
    "vendor-id",
    "product-id",
    "alias",
    "owned",
    "stale",
];
/// The fields of an action.
const ACTION_FIELDS: [&str; 6] = [
    "action",
    "machine",
    "bus",
    "device",
    "vendor-id",
    "product-id",
];

/// A host (a fixture root), a configuration folder and a libvirt test-driver node file.
struct Scenario {
    tree: FixtureTree,
    dir: TempDir,
}

impl Scenario {
    /// `config` is the main file, `domains` the `<domain>` elements of the node file.
    fn new(config: &str, domains: &[String]) -> Scenario {
        let scenario = Scenario {
            tree: FixtureTree::new().expect("fixture tree"),
            dir: tempfile::tempdir().expect("temp dir"),
        };
        fs::write(scenario.config(), config).expect("config written");
        let node = format!("<node>\n{}</node>\n", domains.concat());
        fs::write(scenario.node(), node).expect("node file written");
        scenario
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.yml")
    }

    fn node(&self) -> PathBuf {
        self.dir.path().join("node.xml")
    }

    fn plug(&self, device: UsbDeviceBuilder) -> &Self {
        self.tree.add(&device.build()).expect("device written");
        self
    }

    /// Writes `machines.d/<machine>.yml`.
    fn machine_file(&self, machine: &str, text: &str) {
        let folder = self.dir.path().join("machines.d");
        fs::create_dir_all(&folder).expect("machines.d");
        fs::write(folder.join(format!("{machine}.yml")), text).expect("machine file written");
    }

    fn explain(&self, json: bool) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_libvirt-usb-hotplugd"));
        command
            .env_remove("WHAWTY_LIBVIRT_USB_HOTPLUGD_DEBUG")
            .env_remove("JOURNAL_STREAM")
            .arg("--root")
            .arg(self.tree.root())
            .arg("--libvirt-uri")
            .arg(format!("test://{}", self.node().display()))
            .arg("explain")
            .arg(self.config());
        if json {
            command.arg("--json");
        }
        let output = command.output().expect("the binary runs");
        assert_eq!(
            output.status.code(),
            Some(0),
            "stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn explain_json(&self) -> Value {
        serde_json::from_slice(&self.explain(true).stdout).expect("explain --json prints JSON")
    }

    fn explain_text(&self) -> String {
        String::from_utf8(self.explain(false).stdout).expect("utf-8 output")
    }
}

/// A running domain with the given hostdevs.
fn running(name: &str, hostdevs: &[String]) -> String {
    format!(
        "<domain type='test'><name>{name}</name><memory unit='MiB'>64</memory>\
         <os><type>hvm</type></os><devices>{}</devices></domain>\n",
        hostdevs.concat()
    )
}

/// A shut-off domain (test driver run state 5) with the given hostdevs in its definition.
fn shut_off(name: &str, hostdevs: &[String]) -> String {
    format!(
        "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>\
         <name>{name}</name><memory unit='MiB'>64</memory><os><type>hvm</type></os>\
         <devices>{}</devices><test:runstate>5</test:runstate></domain>\n",
        hostdevs.concat()
    )
}

/// A USB hostdev whose source names `ids` (vendor, product) and `address` (bus, device) when
/// given, with `alias` when given.
fn hostdev(ids: Option<(u16, u16)>, address: Option<(u16, u16)>, alias: Option<&str>) -> String {
    let mut source = String::new();
    if let Some((vendor, product)) = ids {
        source += &format!("<vendor id='{vendor:#06x}'/><product id='{product:#06x}'/>");
    }
    if let Some((bus, device)) = address {
        source += &format!("<address bus='{bus}' device='{device}'/>");
    }
    let alias = alias.map_or(String::new(), |name| format!("<alias name='{name}'/>"));
    format!("<hostdev mode='subsystem' type='usb' managed='yes'><source>{source}</source>{alias}</hostdev>")
}

fn webcam(port: &str, device: u16) -> UsbDeviceBuilder {
    UsbDeviceBuilder::new(port, device)
        .ids(0x046d, 0x0825)
        .manufacturer("Logitech")
        .product("Webcam C270")
}

fn yubikey(port: &str, device: u16) -> UsbDeviceBuilder {
    UsbDeviceBuilder::new(port, device)
        .ids(0x1050, 0x0407)
        .manufacturer("Yubico")
        .product("YubiKey OTP+FIDO+CCID")
}

/// `keys` of `object`, each of which must be there (a missing field is not a null one).
fn pick(object: &Value, keys: &[&str]) -> Value {
    let map = object
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {object}"));
    let picked = keys.iter().map(|&key| {
        let value = map
            .get(key)
            .unwrap_or_else(|| panic!("no {key:?} in {object}"));
        (key.to_owned(), value.clone())
    });
    Value::Object(picked.collect())
}

/// The device at `port`.
fn device<'a>(report: &'a Value, port: &str) -> &'a Value {
    report["devices"]
        .as_array()
        .expect("devices is an array")
        .iter()
        .find(|device| device["port"] == port)
        .unwrap_or_else(|| panic!("no device at port {port} in {report:#}"))
}

/// The fields of the device at `port`.
fn device_fields(report: &Value, port: &str) -> Value {
    pick(device(report, port), &DEVICE_FIELDS)
}

/// Every machine with its name, state and hostdevs, in report order.
fn machines(report: &Value) -> Value {
    let machines = report["machines"].as_array().expect("machines is an array");
    Value::Array(
        machines
            .iter()
            .map(|machine| {
                let hostdevs = machine["hostdevs"]
                    .as_array()
                    .expect("hostdevs is an array");
                json!({
                    "name": machine["name"],
                    "running": machine["running"],
                    "hostdevs": hostdevs
                        .iter()
                        .map(|hostdev| pick(hostdev, &HOSTDEV_FIELDS))
                        .collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

fn actions(report: &Value) -> Value {
    let actions = report["actions"].as_array().expect("actions is an array");
    Value::Array(
        actions
            .iter()
            .map(|action| pick(action, &ACTION_FIELDS))
            .collect(),
    )
}

/// office comes first in the file; lab comes first by name and in the node file.
const OFFICE_AND_LAB_WANT_WEBCAMS: &str = "\
machines:
  office:
    devices:
    - vendor-id: 0x046d
  lab:
    devices:
    - product-id: 0x0825
";

#[test]
fn a_device_two_running_machines_match_goes_to_the_first_in_config_order() {
    let scenario = Scenario::new(
        OFFICE_AND_LAB_WANT_WEBCAMS,
        &[running("lab", &[]), running("office", &[])],
    );
    scenario.plug(webcam("1-2", 3));
    let report = scenario.explain_json();

    assert_eq!(
        device_fields(&report, "1-2"),
        json!({
            "bus": 1, "device": 3, "vendor-id": "046d", "product-id": "0825", "port": "1-2",
            "hub": false, "matches": ["office", "lab"], "assigned": "office", "reasons": {},
        })
    );
    let webcam = device(&report, "1-2");
    assert_eq!(webcam["placement"], "attach");
    assert_eq!(webcam["conflicts"], json!(["lab"]));
    assert_eq!(
        actions(&report),
        json!([{"action": "attach", "machine": "office", "bus": 1, "device": 3,
                "vendor-id": "046d", "product-id": "0825"}])
    );
}

#[test]
fn a_device_the_second_machine_already_holds_stays_there() {
    let scenario = Scenario::new(
        OFFICE_AND_LAB_WANT_WEBCAMS,
        &[
            running("office", &[]),
            running(
                "lab",
                &[hostdev(
                    Some((0x046d, 0x0825)),
                    Some((1, 3)),
                    Some("ua-hotplugd-1-3-046d-0825"),
                )],
            ),
        ],
    );
    scenario.plug(webcam("1-2", 3));
    let report = scenario.explain_json();

    let webcam = device(&report, "1-2");
    assert_eq!(webcam["matches"], json!(["office", "lab"]));
    assert_eq!(webcam["assigned"], "lab");
    assert_eq!(webcam["placement"], "attached");
    assert_eq!(webcam["conflicts"], json!(["office"]));
    assert_eq!(
        machines(&report),
        json!([
            {"name": "office", "running": true, "hostdevs": []},
            {"name": "lab", "running": true, "hostdevs": [
                {"bus": 1, "device": 3, "vendor-id": "046d", "product-id": "0825",
                 "alias": "ua-hotplugd-1-3-046d-0825", "owned": true, "stale": false},
            ]},
        ])
    );
    assert_eq!(actions(&report), json!([]), "nothing moves it");
}

#[test]
fn a_shut_off_machine_is_not_running_and_gets_nothing() {
    // desk-vm comes first and wants both devices; its definition names the webcam with an owned
    // alias, which is not live while it is shut off.
    let scenario = Scenario::new(
        "machines:
  desk-vm:
    devices:
    - vendor-id: 0x046d
    - vendor-id: 0x1050
  lab:
    devices:
    - vendor-id: 0x046d
",
        &[
            shut_off(
                "desk-vm",
                &[hostdev(
                    Some((0x046d, 0x0825)),
                    Some((1, 3)),
                    Some("ua-hotplugd-1-3-046d-0825"),
                )],
            ),
            running("lab", &[]),
        ],
    );
    scenario.plug(webcam("1-2", 3)).plug(yubikey("1-4", 5));
    let report = scenario.explain_json();

    assert_eq!(
        machines(&report),
        json!([
            {"name": "desk-vm", "running": false, "hostdevs": []},
            {"name": "lab", "running": true, "hostdevs": []},
        ])
    );
    assert_eq!(report["machines"][0]["defined"], true);
    let webcam = device(&report, "1-2");
    assert_eq!(webcam["matches"], json!(["desk-vm", "lab"]));
    assert_eq!(webcam["assigned"], "lab");
    assert_eq!(
        webcam["conflicts"],
        json!([]),
        "a shut-off machine is no rival"
    );
    assert_eq!(
        device_fields(&report, "1-4"),
        json!({
            "bus": 1, "device": 5, "vendor-id": "1050", "product-id": "0407", "port": "1-4",
            "hub": false, "matches": ["desk-vm"], "assigned": null,
            "reasons": {"lab": "vendor-id 1050 != 046d"},
        })
    );
    assert_eq!(device(&report, "1-4")["placement"], "unassigned");
    assert_eq!(
        actions(&report),
        json!([{"action": "attach", "machine": "lab", "bus": 1, "device": 3,
                "vendor-id": "046d", "product-id": "0825"}])
    );
}

#[test]
fn a_machine_unknown_to_libvirt_is_not_running_and_gets_nothing() {
    let scenario = Scenario::new(
        "machines:
  ghost-vm:
    devices:
    - vendor-id: 0x046d
    - vendor-id: 0x1050
  lab:
    devices:
    - vendor-id: 0x046d
",
        &[running("lab", &[])],
    );
    scenario.plug(webcam("1-2", 3)).plug(yubikey("1-4", 5));
    let report = scenario.explain_json();

    assert_eq!(
        machines(&report),
        json!([
            {"name": "ghost-vm", "running": false, "hostdevs": []},
            {"name": "lab", "running": true, "hostdevs": []},
        ])
    );
    assert_eq!(report["machines"][0]["defined"], false);
    assert_eq!(device(&report, "1-2")["assigned"], "lab");
    assert_eq!(device(&report, "1-4")["matches"], json!(["ghost-vm"]));
    assert_eq!(device(&report, "1-4")["assigned"], Value::Null);
    assert_eq!(
        actions(&report),
        json!([{"action": "attach", "machine": "lab", "bus": 1, "device": 3,
                "vendor-id": "046d", "product-id": "0825"}])
    );
}

#[test]
fn identical_devices_without_serials_are_told_apart_by_port() {
    let scenario = Scenario::new(
        "machines:
  left-vm:
    devices:
    - vendor-id: 0x0403
      product-id: 0x6001
      port: 2-1
  right-vm:
    devices:
    - vendor-id: 0x0403
      product-id: 0x6001
      port: 2-2
",
        &[running("left-vm", &[]), running("right-vm", &[])],
    );
    let serial_adapter = |port: &str, device: u16| {
        UsbDeviceBuilder::new(port, device)
            .ids(0x0403, 0x6001)
            .manufacturer("FTDI")
            .product("FT232R USB UART")
    };
    scenario
        .plug(serial_adapter("2-1", 3))
        .plug(serial_adapter("2-2", 4));
    let report = scenario.explain_json();

    assert_eq!(
        device_fields(&report, "2-1"),
        json!({
            "bus": 2, "device": 3, "vendor-id": "0403", "product-id": "6001", "port": "2-1",
            "hub": false, "matches": ["left-vm"], "assigned": "left-vm",
            "reasons": {"right-vm": "port 2-1 != 2-2"},
        })
    );
    assert_eq!(
        device_fields(&report, "2-2"),
        json!({
            "bus": 2, "device": 4, "vendor-id": "0403", "product-id": "6001", "port": "2-2",
            "hub": false, "matches": ["right-vm"], "assigned": "right-vm",
            "reasons": {"left-vm": "port 2-2 != 2-1"},
        })
    );
    assert_eq!(
        actions(&report),
        json!([
            {"action": "attach", "machine": "left-vm", "bus": 2, "device": 3,
             "vendor-id": "0403", "product-id": "6001"},
            {"action": "attach", "machine": "right-vm", "bus": 2, "device": 4,
             "vendor-id": "0403", "product-id": "6001"},
        ])
    );
}

#[test]
fn a_hub_never_matches_even_when_rules_name_it() {
    // Each of the hubs fits one of desk-vm's matchers; only the device behind the hub goes.
    let scenario = Scenario::new(
        "machines:
  desk-vm:
    devices:
    - vendor-id: 0x05e3
    - vendor-id: 0x1d6b
    - port: 1-1.*
",
        &[running("desk-vm", &[])],
    );
    scenario
        .plug(UsbDeviceBuilder::root_hub(1))
        .plug(
            UsbDeviceBuilder::new("1-1", 2)
                .ids(0x05e3, 0x0610)
                .class(0x09)
                .product("USB2.0 Hub"),
        )
        .plug(webcam("1-1.2", 3));
    let report = scenario.explain_json();

    let every_matcher_fails = "devices[0]: device is a hub; devices[1]: device is a hub; \
                               devices[2]: device is a hub";
    assert_eq!(
        device_fields(&report, "usb1"),
        json!({
            "bus": 1, "device": 1, "vendor-id": "1d6b", "product-id": "0002", "port": "usb1",
            "hub": true, "matches": [], "assigned": null,
            "reasons": {"desk-vm": every_matcher_fails},
        })
    );
    assert_eq!(
        device_fields(&report, "1-1"),
        json!({
            "bus": 1, "device": 2, "vendor-id": "05e3", "product-id": "0610", "port": "1-1",
            "hub": true, "matches": [], "assigned": null,
            "reasons": {"desk-vm": every_matcher_fails},
        })
    );
    assert_eq!(device(&report, "1-1.2")["hub"], false);
    assert_eq!(device(&report, "1-1.2")["assigned"], "desk-vm");
    assert_eq!(
        actions(&report),
        json!([{"action": "attach", "machine": "desk-vm", "bus": 1, "device": 3,
                "vendor-id": "046d", "product-id": "0825"}])
    );
}

#[test]
fn a_pattern_matches_anywhere_in_the_value() {
    // ID_MODEL is Security_Key_by_Yubico: "Key_by" sits in its middle.
    let scenario = Scenario::new(
        "machines:
  anchored-vm:
    devices:
    - udev:
        env:
        - name: ID_MODEL
          pattern: '^Key_by'
  search-vm:
    devices:
    - udev:
        env:
        - name: ID_MODEL
          pattern: 'Key_by'
",
        &[running("anchored-vm", &[]), running("search-vm", &[])],
    );
    scenario.plug(
        UsbDeviceBuilder::new("1-4", 5)
            .ids(0x1050, 0x0120)
            .manufacturer("Yubico")
            .product("Security Key by Yubico"),
    );
    let report = scenario.explain_json();

    assert_eq!(
        device_fields(&report, "1-4"),
        json!({
            "bus": 1, "device": 5, "vendor-id": "1050", "product-id": "0120", "port": "1-4",
            "hub": false, "matches": ["search-vm"], "assigned": "search-vm",
            "reasons": {
                "anchored-vm":
                    "ID_MODEL is \"Security_Key_by_Yubico\", which does not match \"^Key_by\"",
            },
        })
    );
    assert_eq!(
        actions(&report),
        json!([{"action": "attach", "machine": "search-vm", "bus": 1, "device": 5,
                "vendor-id": "1050", "product-id": "0120"}])
    );
}

#[test]
fn a_tag_set_once_counts_for_tags_but_not_for_current_tags() {
    let scenario = Scenario::new(
        "machines:
  current-vm:
    devices:
    - udev:
        current-tags: [seat]
  tags-vm:
    devices:
    - udev:
        tags: [seat]
",
        &[running("current-vm", &[]), running("tags-vm", &[])],
    );
    scenario.plug(webcam("1-2", 3).tag("uaccess").old_tag("seat"));
    let report = scenario.explain_json();

    assert_eq!(
        device_fields(&report, "1-2"),
        json!({
            "bus": 1, "device": 3, "vendor-id": "046d", "product-id": "0825", "port": "1-2",
            "hub": false, "matches": ["tags-vm"], "assigned": "tags-vm",
            "reasons": {"current-vm": "current tag \"seat\" missing"},
        })
    );
    assert_eq!(
        actions(&report),
        json!([{"action": "attach", "machine": "tags-vm", "bus": 1, "device": 3,
                "vendor-id": "046d", "product-id": "0825"}])
    );
}

#[test]
fn a_machines_d_file_replaces_the_main_file_machine() {
    let scenario = Scenario::new(
        "machines:
  lab:
    devices:
    - vendor-id: 0x046d
  office:
    devices:
    - vendor-id: 0x1050
",
        &[running("lab", &[]), running("office", &[])],
    );
    scenario.machine_file("lab", "devices:\n- vendor-id: 0x0bda\n");
    scenario
        .plug(webcam("1-2", 3))
        .plug(UsbDeviceBuilder::new("1-3", 4).ids(0x0bda, 0x8153))
        .plug(yubikey("1-4", 5));
    let report = scenario.explain_json();

    assert_eq!(
        device_fields(&report, "1-2"),
        json!({
            "bus": 1, "device": 3, "vendor-id": "046d", "product-id": "0825", "port": "1-2",
            "hub": false, "matches": [], "assigned": null,
            "reasons": {"lab": "vendor-id 046d != 0bda", "office": "vendor-id 046d != 1050"},
        })
    );
    assert_eq!(device(&report, "1-3")["matches"], json!(["lab"]));
    // The replacing machine keeps the replaced one's place in config order.
    let names: Vec<&Value> = report["machines"]
        .as_array()
        .expect("machines")
        .iter()
        .map(|machine| &machine["name"])
        .collect();
    assert_eq!(names, [&json!("lab"), &json!("office")]);
    assert_eq!(
        actions(&report),
        json!([
            {"action": "attach", "machine": "lab", "bus": 1, "device": 4,
             "vendor-id": "0bda", "product-id": "8153"},
            {"action": "attach", "machine": "office", "bus": 1, "device": 5,
             "vendor-id": "1050", "product-id": "0407"},
        ])
    );
}

#[test]
fn the_owned_hostdev_of_a_replugged_device_is_stale_and_detached() {
    // The key was 001/004 when attached; plugged in again it is 001/007.
    let scenario = Scenario::new(
        "machines:\n  key-vm:\n    devices:\n    - vendor-id: 0x1050\n",
        &[running(
            "key-vm",
            &[hostdev(
                Some((0x1050, 0x0407)),
                Some((1, 4)),
                Some("ua-hotplugd-1-4-1050-0407"),
            )],
        )],
    );
    scenario.plug(yubikey("1-4", 7));
    let report = scenario.explain_json();

    assert_eq!(
        machines(&report),
        json!([{"name": "key-vm", "running": true, "hostdevs": [
            {"bus": 1, "device": 4, "vendor-id": "1050", "product-id": "0407",
             "alias": "ua-hotplugd-1-4-1050-0407", "owned": true, "stale": true},
        ]}])
    );
    assert_eq!(device(&report, "1-4")["device"], 7);
    assert_eq!(device(&report, "1-4")["assigned"], "key-vm");
    assert_eq!(
        actions(&report),
        json!([
            {"action": "detach", "machine": "key-vm", "bus": 1, "device": 4,
             "vendor-id": "1050", "product-id": "0407"},
            {"action": "attach", "machine": "key-vm", "bus": 1, "device": 7,
             "vendor-id": "1050", "product-id": "0407"},
        ])
    );
}

#[test]
fn static_hostdevs_are_not_owned_and_never_detached() {
    // One without alias or address holds the webcam; one with a user alias names a serial
    // adapter that is gone.
    let scenario = Scenario::new(
        "machines:\n  scanner-vm:\n    devices:\n    - vendor-id: 0x046d\n",
        &[running(
            "scanner-vm",
            &[
                hostdev(Some((0x046d, 0x0825)), None, None),
                hostdev(Some((0x0403, 0x6001)), Some((2, 9)), Some("ua-my-serial")),
            ],
        )],
    );
    scenario.plug(webcam("1-2", 3));
    let report = scenario.explain_json();

    assert_eq!(
        machines(&report),
        json!([{"name": "scanner-vm", "running": true, "hostdevs": [
            {"bus": null, "device": null, "vendor-id": "046d", "product-id": "0825",
             "alias": null, "owned": false, "stale": false},
            {"bus": 2, "device": 9, "vendor-id": "0403", "product-id": "6001",
             "alias": "ua-my-serial", "owned": false, "stale": false},
        ]}])
    );
    let webcam = device(&report, "1-2");
    assert_eq!(webcam["assigned"], "scanner-vm");
    assert_eq!(webcam["placement"], "held");
    assert_eq!(actions(&report), json!([]));
}

#[test]
fn a_device_a_static_hostdev_holds_on_a_machine_that_does_not_match_it_is_busy() {
    let scenario = Scenario::new(
        "machines:
  wanting-vm:
    devices:
    - vendor-id: 0x046d
  other-vm:
    devices:
    - vendor-id: 0x1050
",
        &[
            running("wanting-vm", &[]),
            running(
                "other-vm",
                &[hostdev(Some((0x046d, 0x0825)), Some((1, 3)), None)],
            ),
        ],
    );
    scenario.plug(webcam("1-2", 3));
    let report = scenario.explain_json();

    assert_eq!(
        device_fields(&report, "1-2"),
        json!({
            "bus": 1, "device": 3, "vendor-id": "046d", "product-id": "0825", "port": "1-2",
            "hub": false, "matches": ["wanting-vm"], "assigned": null,
            "reasons": {"other-vm": "vendor-id 046d != 1050"},
        })
    );
    let webcam = device(&report, "1-2");
    assert_eq!(webcam["placement"], "busy");
    assert_eq!(webcam["busy-on"], "other-vm");
    assert_eq!(
        machines(&report),
        json!([
            {"name": "wanting-vm", "running": true, "hostdevs": []},
            {"name": "other-vm", "running": true, "hostdevs": [
                {"bus": 1, "device": 3, "vendor-id": "046d", "product-id": "0825",
                 "alias": null, "owned": false, "stale": false},
            ]},
        ])
    );
    assert_eq!(actions(&report), json!([]), "it goes nowhere else");
}

#[test]
fn the_text_form_says_what_matches_why_not_where_it_goes_and_what_to_do() {
    let scenario = Scenario::new(
        "machines:
  office:
    devices:
    - vendor-id: 0x046d
  lab:
    devices:
    - product-id: 0x0825
  kiosk:
    devices:
    - vendor-id: 0x1050
",
        &[
            running("lab", &[]),
            running("office", &[]),
            running(
                "kiosk",
                &[hostdev(
                    Some((0x1050, 0x0407)),
                    Some((1, 4)),
                    Some("ua-hotplugd-1-4-1050-0407"),
                )],
            ),
        ],
    );
    scenario
        .plug(UsbDeviceBuilder::root_hub(1))
        .plug(webcam("1-2", 3));
    assert_eq!(
        scenario.explain_text(),
        "\
Devices:
  001/001 1d6b:0002 at port usb1: Linux 6.1.0 xhci-hcd xHCI Host Controller
    a hub: never attached (it would take every device behind it)
  001/003 046d:0825 at port 1-2: Logitech Webcam C270
    matches office, lab
    to be attached to office
    conflict: also matches running lab (the first in config order wins)
    not kiosk: vendor-id 046d != 1050
Machines:
  office: running
  lab: running
  kiosk: running
    hostdev 001/004 1050:0407 alias ua-hotplugd-1-4-1050-0407 (attached by this daemon; stale: to be detached)
Actions:
  detach 001/004 (1050:0407) from kiosk
  attach 001/003 (046d:0825) to office
"
    );
}
