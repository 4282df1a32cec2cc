//! Scans of trees built with the fixture builder: layout rules, partial failure, odd input.

use std::fs;

use fixtures::{FixtureTree, UsbDeviceBuilder};
use hotplug_match::Device;
use usb_discovery::{Discovery, SysfsDiscovery};

fn scan(tree: &FixtureTree) -> Vec<usb_discovery::UsbDevice> {
    SysfsDiscovery::new(tree.root())
        .scan()
        .expect("scan succeeds")
}

#[test]
fn keeps_usb_devices_and_skips_interfaces() {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&UsbDeviceBuilder::root_hub(3).build())
        .expect("hub");
    tree.add(
        &UsbDeviceBuilder::new("3-6.3", 5)
            .ids(0x046d, 0x0825)
            .build(),
    )
    .expect("webcam");
    assert!(
        tree.bus_devices().join("3-6.3:1.0").exists(),
        "the interface is in the bus list"
    );
    let names: Vec<String> = scan(&tree).into_iter().map(|d| d.kernel_name).collect();
    assert_eq!(names, ["usb3", "3-6.3"]);
}

#[test]
fn builds_the_udevadm_property_set_from_uevent_and_database() {
    let tree = FixtureTree::new().expect("tree");
    let files = UsbDeviceBuilder::new("3-6.3", 5)
        .ids(0x046d, 0x0825)
        .serial("ABC123")
        .property("ID_PATH", "pci-0000:00:14.0-usb-0:6.3")
        .tag("uaccess")
        .old_tag("seat")
        .build();
    tree.add(&files).expect("written");
    let device = scan(&tree).remove(0);
    assert_eq!(
        (
            device.bus,
            device.device,
            device.vendor_id,
            device.product_id
        ),
        (3, 5, 0x046d, 0x0825)
    );
    assert_eq!(
        device.property("DEVNAME"),
        Some("/dev/bus/usb/003/005"),
        "DEVNAME made absolute"
    );
    assert_eq!(device.property("SUBSYSTEM"), Some("usb"));
    assert_eq!(device.property("DEVPATH"), Some(files.devpath.as_str()));
    assert_eq!(device.property("MINOR"), Some("260"));
    assert_eq!(
        device.property("USEC_INITIALIZED"),
        Some("1000260"),
        "from the record's I: line"
    );
    assert_eq!(device.property("ID_SERIAL_SHORT"), Some("ABC123"));
    assert_eq!(
        device.property("ID_PATH"),
        Some("pci-0000:00:14.0-usb-0:6.3")
    );
    assert_eq!(device.property("TAGS"), None, "tags are kept apart");
    assert!(device.has_tag("uaccess") && device.has_tag("seat"));
    assert!(device.has_current_tag("uaccess") && !device.has_current_tag("seat"));
    assert_eq!(device.serial.as_deref(), Some("ABC123"));
    assert!(device.initialized);
}

#[test]
fn a_device_without_a_udev_record_has_the_kernel_properties_only() {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&UsbDeviceBuilder::new("1-2", 7).uninitialized().build())
        .expect("written");
    let device = scan(&tree).remove(0);
    assert!(!device.initialized);
    assert_eq!(device.property("BUSNUM"), Some("001"));
    assert_eq!(device.property("ID_BUS"), None);
    assert!(device.tags.is_empty() && device.current_tags.is_empty());
}

#[test]
fn a_device_vanishing_mid_scan_leaves_the_others() {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&UsbDeviceBuilder::new("1-1", 2).build())
        .expect("written");
    tree.add(&UsbDeviceBuilder::new("1-3", 4).build())
        .expect("written");
    tree.add_dangling_link("1-2").expect("dangling link");
    let names: Vec<String> = scan(&tree).into_iter().map(|d| d.kernel_name).collect();
    assert_eq!(names, ["1-1", "1-3"]);
}

#[test]
fn an_unreadable_or_malformed_device_does_not_fail_the_scan() {
    let tree = FixtureTree::new().expect("tree");
    let bad_vendor = UsbDeviceBuilder::new("1-1", 2).build();
    let dir = tree.add(&bad_vendor).expect("written");
    fs::write(dir.join("idVendor"), "zzzz\n").expect("corrupt");
    let no_busnum = UsbDeviceBuilder::new("1-2", 3).build();
    let dir = tree.add(&no_busnum).expect("written");
    fs::remove_file(dir.join("busnum")).expect("remove");
    let record_is_a_directory = UsbDeviceBuilder::new("1-4", 5).uninitialized().build();
    tree.add(&record_is_a_directory).expect("written");
    fs::create_dir(tree.udev_record_path(record_is_a_directory.dev)).expect("mkdir");
    tree.add(&UsbDeviceBuilder::new("1-3", 4).build())
        .expect("written");
    let names: Vec<String> = scan(&tree).into_iter().map(|d| d.kernel_name).collect();
    assert_eq!(names, ["1-3"]);
}

/// Issue 10, reproduction 5: a udev record or `uevent` file over 1 MiB (a million-line record)
/// leaves its device out as unreadable, with the reason; the other devices are read.
#[test]
fn a_device_with_a_file_over_1_mib_is_unreadable_and_the_others_are_read() {
    let tree = FixtureTree::new().expect("tree");
    let huge_record = UsbDeviceBuilder::new("1-1", 2).build();
    tree.add(&huge_record).expect("written");
    let lines: String = (0..100_000).map(|i| format!("E:ID_X{i}=y\n")).collect();
    assert!(lines.len() > 1 << 20);
    fs::write(tree.udev_record_path(huge_record.dev), &lines).expect("huge record");
    let huge_uevent = UsbDeviceBuilder::new("1-2", 3).build();
    let dir = tree.add(&huge_uevent).expect("written");
    let mut uevent = fs::read(dir.join("uevent")).expect("uevent");
    uevent.extend_from_slice(lines.as_bytes());
    fs::write(dir.join("uevent"), uevent).expect("huge uevent");
    tree.add(&UsbDeviceBuilder::new("1-3", 4).build())
        .expect("written");

    let scan = SysfsDiscovery::new(tree.root())
        .scan_all()
        .expect("scan succeeds");
    let names: Vec<&str> = scan
        .devices
        .iter()
        .map(|d| d.kernel_name.as_str())
        .collect();
    assert_eq!(names, ["1-3"]);
    let unreadable: Vec<(&str, &str)> = scan
        .unreadable
        .iter()
        .map(|u| (u.kernel_name.as_str(), u.problem.as_str()))
        .collect();
    let record = tree.udev_record_path(huge_record.dev);
    let uevent = dir.canonicalize().expect("real path").join("uevent");
    assert_eq!(
        unreadable,
        [
            (
                "1-1",
                format!(
                    "cannot read {}: the file is larger than 1048576 bytes",
                    record.display()
                )
                .as_str()
            ),
            (
                "1-2",
                format!(
                    "cannot read {}: the file is larger than 1048576 bytes",
                    uevent.display()
                )
                .as_str()
            ),
        ]
    );
}

#[test]
fn attributes_lose_one_newline_and_keep_other_whitespace() {
    let tree = FixtureTree::new().expect("tree");
    let dir = tree
        .add(&UsbDeviceBuilder::new("1-1", 2).build())
        .expect("written");
    fs::write(dir.join("manufacturer"), "VIA Labs, Inc.         \n\n").expect("write");
    fs::write(dir.join("product"), "no newline").expect("write");
    let device = scan(&tree).remove(0);
    assert_eq!(
        device.manufacturer.as_deref(),
        Some("VIA Labs, Inc.         \n")
    );
    assert_eq!(device.product.as_deref(), Some("no newline"));
}

#[test]
fn removing_a_device_removes_it_from_the_next_scan() {
    let tree = FixtureTree::new().expect("tree");
    let webcam = UsbDeviceBuilder::new("3-6", 5).build();
    tree.add(&webcam).expect("written");
    assert_eq!(scan(&tree).len(), 1);
    tree.remove(&webcam).expect("removed");
    assert!(scan(&tree).is_empty());
    assert!(!tree.udev_record_path(webcam.dev).exists());
}

#[test]
fn a_missing_root_is_an_error_naming_the_path() {
    let error = SysfsDiscovery::new(std::path::Path::new("/nonexistent-root"))
        .scan()
        .expect_err("no tree");
    assert!(
        error
            .to_string()
            .contains("/nonexistent-root/sys/bus/usb/devices"),
        "{error}"
    );
}

fn interface(class: u8, subclass: u8, protocol: u8) -> hotplug_match::Interface {
    hotplug_match::Interface {
        class,
        subclass,
        protocol,
    }
}

#[test]
fn reads_the_device_codes_and_the_interfaces_of_the_active_configuration() {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&UsbDeviceBuilder::root_hub(3).build())
        .expect("hub");
    let webcam = UsbDeviceBuilder::new("3-6.3", 5)
        .class(0xef)
        .subclass(0x02)
        .protocol(0x01)
        .interface(0x0e, 0x01, 0x00)
        .interface(0x0e, 0x02, 0x00)
        .interface(0x01, 0x01, 0x00)
        .build();
    let dir = tree.add(&webcam).expect("webcam");
    // An interface of another configuration is not one of the device's now.
    let other = dir.join("3-6.3:2.0");
    fs::create_dir(&other).expect("folder");
    fs::write(other.join("bInterfaceClass"), "07\n").expect("class");
    std::os::unix::fs::symlink(&other, tree.bus_devices().join("3-6.3:2.0")).expect("bus link");
    let devices = scan(&tree);
    let hub = &devices[0];
    assert_eq!(
        hub.interfaces,
        [interface(9, 0, 0)],
        "the root hub's 3-0:1.0"
    );
    let device = &devices[1];
    assert_eq!(
        (
            device.device_class(),
            device.device_subclass(),
            device.device_protocol()
        ),
        (0xef, 0x02, 0x01)
    );
    assert_eq!(
        device.interfaces(),
        [
            interface(0x0e, 1, 0),
            interface(0x0e, 2, 0),
            interface(0x01, 1, 0)
        ]
    );
    let alone = SysfsDiscovery::new(tree.root())
        .read_device("3-6.3")
        .expect("reads")
        .expect("a usb_device");
    assert_eq!(&alone, device, "one device read alone is the same");
}

#[test]
fn interfaces_sort_by_number_and_an_unconfigured_device_has_none() {
    let tree = FixtureTree::new().expect("tree");
    let codes: Vec<(u8, u8, u8)> = (0..12).map(|n| (0xff, n, 0)).collect();
    let many = codes
        .iter()
        .fold(UsbDeviceBuilder::new("1-1", 2), |builder, &(c, s, p)| {
            builder.interface(c, s, p)
        })
        .build();
    tree.add(&many).expect("written");
    let unconfigured = UsbDeviceBuilder::new("1-2", 3).build();
    let dir = tree.add(&unconfigured).expect("written");
    fs::write(dir.join("bConfigurationValue"), "\n").expect("configuration 0");
    let devices = scan(&tree);
    let subclasses: Vec<u8> = devices[0].interfaces.iter().map(|i| i.subclass).collect();
    assert_eq!(
        subclasses,
        (0..12).collect::<Vec<u8>>(),
        "1-1:1.10 after 1-1:1.9"
    );
    assert!(devices[1].interfaces.is_empty());
}

#[test]
fn a_bad_class_code_makes_the_device_unreadable_not_the_scan() {
    let tree = FixtureTree::new().expect("tree");
    let dir = tree
        .add(&UsbDeviceBuilder::new("1-1", 2).build())
        .expect("written");
    fs::write(dir.join("1-1:1.0/bInterfaceClass"), "zz\n").expect("corrupt");
    tree.add(&UsbDeviceBuilder::new("1-2", 3).build())
        .expect("written");
    let scan = SysfsDiscovery::new(tree.root()).scan_all().expect("scan");
    let names: Vec<&str> = scan
        .devices
        .iter()
        .map(|d| d.kernel_name.as_str())
        .collect();
    assert_eq!(names, ["1-2"]);
    assert_eq!(scan.unreadable.len(), 1);
    assert!(
        scan.unreadable[0]
            .problem
            .ends_with("bInterfaceClass: \"zz\" is not a hexadecimal byte"),
        "{}",
        scan.unreadable[0].problem
    );
}

#[test]
fn the_description_is_manufacturer_and_product_trimmed() {
    let tree = FixtureTree::new().expect("tree");
    tree.add(
        &UsbDeviceBuilder::new("1-1", 2)
            .manufacturer("  VIA Labs, Inc.   ")
            .product("USB2.0 Hub")
            .build(),
    )
    .expect("written");
    tree.add(
        &UsbDeviceBuilder::new("1-2", 3)
            .product("Only a product")
            .build(),
    )
    .expect("written");
    tree.add(&UsbDeviceBuilder::new("1-3", 4).manufacturer(" ").build())
        .expect("written");
    let descriptions: Vec<String> = scan(&tree).iter().map(|d| d.description()).collect();
    assert_eq!(
        descriptions,
        ["VIA Labs, Inc. USB2.0 Hub", "Only a product", ""]
    );
}

#[test]
fn the_interfaces_are_those_there_once_the_count_answers() {
    // A full scan lists the bus folder before it reads each device; an interface the kernel added
    // in between (it answers bNumInterfaces once it has configured the device) is missing from
    // that list, but not from the device's own folder.
    let tree = FixtureTree::new().expect("tree");
    tree.add(
        &UsbDeviceBuilder::new("3-6.3", 5)
            .ids(0x046d, 0x0825)
            .interface(0x0e, 1, 0)
            .interface(0x01, 1, 0)
            .build(),
    )
    .expect("webcam");
    fs::remove_file(tree.bus_devices().join("3-6.3:1.1")).expect("listed before it came");
    let devices = scan(&tree);
    assert_eq!(devices.len(), 1);
    let classes: Vec<u8> = devices[0].interfaces.iter().map(|i| i.class).collect();
    assert_eq!(classes, [0x0e, 0x01]);
    assert!(devices[0].is_settled(), "{:?}", devices[0]);
}
