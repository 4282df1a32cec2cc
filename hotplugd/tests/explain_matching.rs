//! `explain` (`--json`, and once the text form) run as a process against fixture roots and libvirt
//! test-driver nodes (see `support::explain`): which machines a device matches and why not, one
//! test per rule of DESIGN.md's Semantics (ports, hubs, patterns, tags, `machines.d` files), each
//! scenario (devices, config, domains) written out in the test.

mod support;

use fixtures::UsbDeviceBuilder;
use serde_json::{json, Value};
use support::explain::{
    action, assert_actions, device, device_fields, explain_json, owned_hostdev, running, yubikey,
    Scenario,
};
use support::webcam;

#[test]
fn identical_devices_without_serials_are_told_apart_by_port() {
    let serial_adapter = |port: &str, device: u16| {
        UsbDeviceBuilder::new(port, device)
            .ids(0x0403, 0x6001)
            .manufacturer("FTDI")
            .product("FT232R USB UART")
    };
    let report = explain_json(
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
        [serial_adapter("2-1", 3), serial_adapter("2-2", 4)],
    );

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
    assert_actions(
        &report,
        &[
            action("attach", "left-vm", (2, 3), ("0403", "6001")),
            action("attach", "right-vm", (2, 4), ("0403", "6001")),
        ],
    );
}

#[test]
fn a_hub_never_matches_even_when_rules_name_it() {
    // Each of the hubs fits one of desk-vm's matchers; only the device behind the hub goes.
    let report = explain_json(
        "machines:
  desk-vm:
    devices:
    - vendor-id: 0x05e3
    - vendor-id: 0x1d6b
    - port: 1-1.*
",
        &[running("desk-vm", &[])],
        [
            UsbDeviceBuilder::root_hub(1),
            UsbDeviceBuilder::new("1-1", 2)
                .ids(0x05e3, 0x0610)
                .class(0x09)
                .product("USB2.0 Hub"),
            webcam("1-1.2", 3),
        ],
    );

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
    assert_actions(
        &report,
        &[action("attach", "desk-vm", (1, 3), ("046d", "0825"))],
    );
}

#[test]
fn a_pattern_matches_anywhere_in_the_value() {
    // ID_MODEL is Security_Key_by_Yubico: "Key_by" sits in its middle.
    let report = explain_json(
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
        [UsbDeviceBuilder::new("1-4", 5)
            .ids(0x1050, 0x0120)
            .manufacturer("Yubico")
            .product("Security Key by Yubico")],
    );

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
    assert_actions(
        &report,
        &[action("attach", "search-vm", (1, 5), ("1050", "0120"))],
    );
}

#[test]
fn a_tag_set_once_counts_for_tags_but_not_for_current_tags() {
    let report = explain_json(
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
        [webcam("1-2", 3).tag("uaccess").old_tag("seat")],
    );

    assert_eq!(
        device_fields(&report, "1-2"),
        json!({
            "bus": 1, "device": 3, "vendor-id": "046d", "product-id": "0825", "port": "1-2",
            "hub": false, "matches": ["tags-vm"], "assigned": "tags-vm",
            "reasons": {"current-vm": "current tag \"seat\" missing"},
        })
    );
    assert_actions(
        &report,
        &[action("attach", "tags-vm", (1, 3), ("046d", "0825"))],
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
    assert_actions(
        &report,
        &[
            action("attach", "lab", (1, 4), ("0bda", "8153")),
            action("attach", "office", (1, 5), ("1050", "0407")),
        ],
    );
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
            running("kiosk", &[owned_hostdev((0x1050, 0x0407), (1, 4))]),
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
