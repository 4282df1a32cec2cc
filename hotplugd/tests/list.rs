//! `list` run as a process against fixture roots.

use std::process::{Command, Output};

use fixtures::{FixtureTree, UsbDeviceBuilder};

fn hotplugd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_libvirt-usb-hotplugd"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn tree_with_webcam_and_hub() -> FixtureTree {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&UsbDeviceBuilder::root_hub(3).build())
        .expect("hub");
    let webcam = UsbDeviceBuilder::new("3-6.3", 5)
        .ids(0x046d, 0x0825)
        .class(0xef)
        .subclass(0x02)
        .protocol(0x01)
        .interface(0x0e, 0x01, 0x00)
        .interface(0x0e, 0x02, 0x00)
        .interface(0x01, 0x01, 0x00)
        .manufacturer("Logitech")
        .product("Webcam C270")
        .serial("ABC123")
        .tag("uaccess")
        .old_tag("seat")
        .build();
    tree.add(&webcam).expect("webcam");
    tree
}

#[test]
fn json_lists_every_device_with_ids_port_properties_and_tags() {
    let tree = tree_with_webcam_and_hub();
    let root = tree.root().to_str().expect("utf-8 path");
    let output = hotplugd(&["--root", root, "list", "--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let devices = listed.as_array().expect("an array");
    assert_eq!(devices.len(), 2);
    let hub = &devices[0];
    assert_eq!(hub["port"], "usb3");
    assert_eq!(hub["hub"], true);
    let webcam = &devices[1];
    assert_eq!(webcam["bus"], 3);
    assert_eq!(webcam["device"], 5);
    assert_eq!(webcam["vendor-id"], "046d");
    assert_eq!(webcam["product-id"], "0825");
    assert_eq!(webcam["port"], "3-6.3");
    assert_eq!(
        webcam["devpath"],
        "/devices/pci0000:00/0000:00:14.0/usb3/3-6/3-6.3"
    );
    assert_eq!(webcam["hub"], false);
    assert_eq!(webcam["device-class"], "ef");
    assert_eq!(
        webcam["interfaces"],
        serde_json::json!([
            {"class": "0e", "subclass": "01", "protocol": "00"},
            {"class": "0e", "subclass": "02", "protocol": "00"},
            {"class": "01", "subclass": "01", "protocol": "00"},
        ])
    );
    assert_eq!(webcam["in-use-by-host"], serde_json::json!([]));
    assert_eq!(hub["device-class"], "09");
    assert_eq!(
        hub["interfaces"],
        serde_json::json!([{"class": "09", "subclass": "00", "protocol": "00"}])
    );
    assert_eq!(webcam["properties"]["ID_SERIAL_SHORT"], "ABC123");
    assert_eq!(webcam["properties"]["DEVNAME"], "/dev/bus/usb/003/005");
    assert_eq!(webcam["tags"], serde_json::json!(["seat", "uaccess"]));
    assert_eq!(webcam["current-tags"], serde_json::json!(["uaccess"]));
}

#[test]
fn text_is_udevadm_like_with_sorted_properties() {
    let tree = tree_with_webcam_and_hub();
    let root = tree.root().to_str().expect("utf-8 path");
    let output = hotplugd(&["list", "--root", root]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let webcam = text.split("\n\n").nth(1).expect("two paragraphs");
    let lines: Vec<&str> = webcam.lines().collect();
    assert_eq!(
        lines[0],
        "Bus 003 Device 005: ID 046d:0825 Logitech Webcam C270"
    );
    assert_eq!(
        lines[1],
        "Class: device ef/02/01, interfaces 0e/01/00, 0e/02/00, 01/01/00"
    );
    assert_eq!(
        lines[2],
        "P: /devices/pci0000:00/0000:00:14.0/usb3/3-6/3-6.3"
    );
    assert_eq!(lines[3], "M: 3-6.3");
    assert_eq!(lines[4], "N: bus/usb/003/005");
    let property_names: Vec<&str> = lines
        .iter()
        .filter_map(|line| line.strip_prefix("E: "))
        .map(|line| line.split('=').next().unwrap_or_default())
        .filter(|name| !name.ends_with("TAGS"))
        .collect();
    let mut sorted = property_names.clone();
    sorted.sort_unstable();
    assert_eq!(property_names, sorted, "properties sorted by name");
    assert!(lines.contains(&"E: TAGS=:seat:uaccess:"), "{webcam}");
    assert!(lines.contains(&"E: CURRENT_TAGS=:uaccess:"), "{webcam}");
    assert!(
        text.contains("(hub, never attached)"),
        "the root hub is marked"
    );
}

/// A USB disk with a mounted partition says so in both forms; one that is not configured has no
/// interfaces.
#[test]
fn a_disk_the_host_uses_is_marked_with_the_reason() {
    let tree = FixtureTree::new().expect("tree");
    tree.add(
        &UsbDeviceBuilder::usb_disk("2-1", 3)
            .disk("sdb", (8, 16))
            .partition("sdb1", (8, 17))
            .build(),
    )
    .expect("disk");
    tree.write_mountinfo(&[fixtures::Mount {
        dev: (8, 17),
        source: "/dev/sdb1",
        mount_point: "/boot",
        fs_type: "ext4",
    }])
    .expect("mountinfo");
    let root = tree.root().to_str().expect("utf-8 path");
    let output = hotplugd(&["--root", root, "list"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "Bus 002 Device 003: ID 0781:5581 SanDisk Ultra",
            "Class: device 00/00/00, interfaces 08/06/50",
            "In use by the host (never attached): /dev/sdb1 is mounted on /boot",
        ]
    );
    let output = hotplugd(&["--root", root, "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(
        listed[0]["in-use-by-host"],
        serde_json::json!(["/dev/sdb1 is mounted on /boot"])
    );
    assert_eq!(listed[0]["device-class"], "00");
}

#[test]
fn a_missing_root_gives_one_line_naming_the_path_and_a_failure_status() {
    let output = hotplugd(&["--root", "/nonexistent", "list"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("/nonexistent/sys/bus/usb/devices"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn the_bundled_demo_root_lists_its_eight_devices() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/demo/root");
    let output = hotplugd(&["--root", demo, "list", "--json"]);
    assert!(output.status.success());
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let ports: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|device| device["port"].as_str())
        .collect();
    let mut expected: Vec<String> = fixtures::DEMO_RECORDINGS
        .iter()
        .map(|name| {
            fixtures::recording(name)
                .expect("bundled")
                .udevadm()
                .expect("parses")
                .devpath
        })
        .map(|devpath| devpath.rsplit('/').next().unwrap_or_default().to_owned())
        .collect();
    let mut found: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
    expected.sort();
    found.sort();
    assert_eq!(found, expected);
}
