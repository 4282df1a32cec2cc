//! `explain --json` run as a process against fixture roots and libvirt test-driver nodes (see
//! `support::explain`): where a matched device goes, one test per rule of DESIGN.md's Semantics
//! (conflicts, a placement that exists already, machines shut off or unknown to libvirt, stale,
//! static and busy hostdevs), each scenario (devices, config, domains) written out in the test.

mod support;

use serde_json::{json, Value};
use support::explain::{
    action, actions, assert_actions, device, device_fields, explain_json, hostdev, machines,
    owned_hostdev, running, shut_off, yubikey,
};
use support::webcam;

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
    let report = explain_json(
        OFFICE_AND_LAB_WANT_WEBCAMS,
        &[running("lab", &[]), running("office", &[])],
        [webcam("1-2", 3)],
    );

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
    assert_actions(
        &report,
        &[action("attach", "office", (1, 3), ("046d", "0825"))],
    );
}

#[test]
fn a_device_the_second_machine_already_holds_stays_there() {
    let report = explain_json(
        OFFICE_AND_LAB_WANT_WEBCAMS,
        &[
            running("office", &[]),
            running("lab", &[owned_hostdev((0x046d, 0x0825), (1, 3))]),
        ],
        [webcam("1-2", 3)],
    );

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

/// `first` comes first in config order and wants webcams and YubiKeys; lab wants webcams.
fn first_wants_both_lab_wants_webcams(first: &str) -> String {
    format!(
        "machines:
  {first}:
    devices:
    - vendor-id: 0x046d
    - vendor-id: 0x1050
  lab:
    devices:
    - vendor-id: 0x046d
"
    )
}

#[test]
fn a_shut_off_machine_is_not_running_and_gets_nothing() {
    // desk-vm comes first and wants both devices; its definition names the webcam with an owned
    // alias, which is not live while it is shut off.
    let report = explain_json(
        &first_wants_both_lab_wants_webcams("desk-vm"),
        &[
            shut_off("desk-vm", &[owned_hostdev((0x046d, 0x0825), (1, 3))]),
            running("lab", &[]),
        ],
        [webcam("1-2", 3), yubikey("1-4", 5)],
    );

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
    assert_actions(
        &report,
        &[action("attach", "lab", (1, 3), ("046d", "0825"))],
    );
}

#[test]
fn a_machine_unknown_to_libvirt_is_not_running_and_gets_nothing() {
    let report = explain_json(
        &first_wants_both_lab_wants_webcams("ghost-vm"),
        &[running("lab", &[])],
        [webcam("1-2", 3), yubikey("1-4", 5)],
    );

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
    assert_actions(
        &report,
        &[action("attach", "lab", (1, 3), ("046d", "0825"))],
    );
}

#[test]
fn the_owned_hostdev_of_a_replugged_device_is_stale_and_detached() {
    // The key was 001/004 when attached; plugged in again it is 001/007.
    let report = explain_json(
        "machines:\n  key-vm:\n    devices:\n    - vendor-id: 0x1050\n",
        &[running(
            "key-vm",
            &[owned_hostdev((0x1050, 0x0407), (1, 4))],
        )],
        [yubikey("1-4", 7)],
    );

    assert_eq!(
        machines(&report),
        json!([{"name": "key-vm", "running": true, "hostdevs": [
            {"bus": 1, "device": 4, "vendor-id": "1050", "product-id": "0407",
             "alias": "ua-hotplugd-1-4-1050-0407", "owned": true, "stale": true},
        ]}])
    );
    assert_eq!(device(&report, "1-4")["device"], 7);
    assert_eq!(device(&report, "1-4")["assigned"], "key-vm");
    assert_actions(
        &report,
        &[
            action("detach", "key-vm", (1, 4), ("1050", "0407")),
            action("attach", "key-vm", (1, 7), ("1050", "0407")),
        ],
    );
}

#[test]
fn static_hostdevs_are_not_owned_and_never_detached() {
    // One without alias or address holds the webcam; one with a user alias names a serial
    // adapter that is gone.
    let report = explain_json(
        "machines:\n  scanner-vm:\n    devices:\n    - vendor-id: 0x046d\n",
        &[running(
            "scanner-vm",
            &[
                hostdev(Some((0x046d, 0x0825)), None, None),
                hostdev(Some((0x0403, 0x6001)), Some((2, 9)), Some("ua-my-serial")),
            ],
        )],
        [webcam("1-2", 3)],
    );

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
    assert_actions(&report, &[]);
}

#[test]
fn a_device_a_static_hostdev_holds_on_a_machine_that_does_not_match_it_is_busy() {
    let report = explain_json(
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
        [webcam("1-2", 3)],
    );

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
fn an_owned_hostdev_whose_device_moves_elsewhere_is_detached_but_not_stale() {
    // The key is plugged in (001/004) and attached to old-vm by the daemon; the rules now give it
    // to new-vm only: it is detached from old-vm, yet it is not stale (its device is present).
    let report = explain_json(
        "machines:\n  new-vm:\n    devices:\n    - vendor-id: 0x1050\n  old-vm:\n    devices:\n    - vendor-id: 0xdead\n",
        &[
            running("new-vm", &[]),
            running("old-vm", &[owned_hostdev((0x1050, 0x0407), (1, 4))]),
        ],
        [yubikey("1-4", 4)],
    );
    let old_vm = &report["machines"][1];
    assert_eq!(old_vm["name"], "old-vm");
    assert_eq!(old_vm["hostdevs"][0]["owned"], true);
    assert_eq!(old_vm["hostdevs"][0]["stale"], false);
    assert_eq!(old_vm["hostdevs"][0]["detach"], true);
    assert_actions(
        &report,
        &[
            action("detach", "old-vm", (1, 4), ("1050", "0407")),
            action("attach", "new-vm", (1, 4), ("1050", "0407")),
        ],
    );
}
