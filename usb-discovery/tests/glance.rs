//! A glance (the device as the kernel's `add` uevent finds it) reads only what the kernel answers
//! without the device's lock: it works while the kernel is still configuring the device, gives
//! what a whole read gives for the rules on sysfs alone, and says "may be storage" whenever the
//! descriptors announce mass storage or cannot be read.

use std::path::Path;

use fixtures::{every_recording, FixtureTree, Recording, UsbDeviceBuilder};
use usb_discovery::{Discovery, SysfsDiscovery, UsbDevice, MASS_STORAGE_CLASS};

fn keyboard() -> UsbDeviceBuilder {
    UsbDeviceBuilder::new("1-4", 7)
        .ids(0x0627, 0x0001)
        .interface(0x03, 0x01, 0x01)
        .manufacturer("QEMU")
        .product("QEMU USB Keyboard")
        .serial("LAB-1")
}

#[test]
fn a_device_mid_configuration_is_glanced_at_but_not_read_whole() {
    let tree = FixtureTree::new().expect("tree");
    tree.add_configuring(&keyboard().build()).expect("keyboard");
    let discovery = SysfsDiscovery::new(tree.root());

    let whole = discovery.look_at("1-4");
    assert!(
        whole.is_err(),
        "a whole read needs the locked attributes: {whole:?}"
    );

    let glance = discovery
        .glance("1-4")
        .expect("a glance reads no locked attribute")
        .expect("the device is there");
    assert!(
        !glance.may_be_storage,
        "a keyboard's descriptors: {glance:?}"
    );
    let device = &glance.device;
    assert_eq!(
        (
            device.bus,
            device.device,
            device.vendor_id,
            device.product_id
        ),
        (1, 7, 0x0627, 0x0001)
    );
    assert_eq!(device.kernel_name, "1-4");
    assert_eq!(
        (
            &device.manufacturer,
            &device.product,
            &device.serial,
            device.interfaces_announced
        ),
        (&None, &None, &None, None)
    );
    assert!(device.interfaces.is_empty());
    assert!(!device.is_settled());
}

#[test]
fn a_disk_may_be_storage_before_its_interfaces_exist() {
    let tree = FixtureTree::new().expect("tree");
    tree.add_configuring(&UsbDeviceBuilder::usb_disk("1-3.1", 5).build())
        .expect("disk");
    let glance = SysfsDiscovery::new(tree.root())
        .glance("1-3.1")
        .expect("glance")
        .expect("there");
    assert!(glance.may_be_storage, "{glance:?}");
}

#[test]
fn descriptors_that_cannot_be_read_leave_it_in_doubt() {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&keyboard().build()).expect("keyboard");
    let descriptors = tree.root().join("sys/bus/usb/devices/1-4/descriptors");
    let discovery = SysfsDiscovery::new(tree.root());
    let may_be_storage = |discovery: &SysfsDiscovery| {
        discovery
            .glance("1-4")
            .expect("glance")
            .expect("there")
            .may_be_storage
    };
    assert!(!may_be_storage(&discovery));
    std::fs::write(&descriptors, [18, 1, 0, 2]).expect("cut short");
    assert!(may_be_storage(&discovery), "cut short");
    std::fs::remove_file(&descriptors).expect("removed");
    assert!(may_be_storage(&discovery), "missing");
}

#[test]
fn a_device_that_is_gone_or_an_interface_is_no_glance() {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&keyboard().build()).expect("keyboard");
    let discovery = SysfsDiscovery::new(tree.root());
    assert_eq!(discovery.glance("1-9").expect("absent is no error"), None);
    assert_eq!(discovery.glance("1-4:1.0").expect("an interface"), None);
}

/// Whether a glance has the property `key` of a device that udev has seen: all but the kernel's
/// `uevent` keys (a glance does not read the file).
fn glance_knows(key: &str) -> bool {
    !matches!(
        key,
        "MAJOR"
            | "MINOR"
            | "DEVNAME"
            | "DEVTYPE"
            | "DRIVER"
            | "PRODUCT"
            | "TYPE"
            | "BUSNUM"
            | "DEVNUM"
    )
}

/// What a glance must agree on with a whole read: everything but the strings, the interfaces
/// and the host use.
fn without_what_a_glance_cannot_know(device: &UsbDevice) -> UsbDevice {
    UsbDevice {
        manufacturer: None,
        product: None,
        serial: None,
        interfaces: Vec::new(),
        interfaces_announced: None,
        host_use: Vec::new(),
        properties: device
            .properties
            .iter()
            .filter(|(key, _)| glance_knows(key))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
        ..device.clone()
    }
}

/// For a recording: the glance agrees with the whole read, and calls it storage exactly when a
/// recorded interface descriptor (of any configuration) or the device class is mass storage.
fn assert_glance_agrees(recording: &Recording, root: &Path, kernel_name: &str) {
    let name = &recording.name;
    let discovery = SysfsDiscovery::new(root);
    let whole = discovery
        .look_at(kernel_name)
        .expect("read")
        .expect("present");
    let glance = discovery
        .glance(kernel_name)
        .expect("glance")
        .expect("present");
    assert_eq!(
        glance.device,
        without_what_a_glance_cannot_know(&whole),
        "{name}"
    );
    let storage = whole.device_class == MASS_STORAGE_CLASS
        || recording
            .interface_descriptors()
            .expect("descriptors")
            .iter()
            .any(|interface| interface.class == MASS_STORAGE_CLASS);
    assert_eq!(glance.may_be_storage, storage, "{name}");
}

#[test]
fn every_recorded_device_is_glanced_at_as_read_whole() {
    let all = every_recording().expect("the recordings");
    assert!(all.len() > 30, "{} recordings", all.len());
    let mut storage = 0;
    for recording in &all {
        let files = recording.device_files().expect("recording loads");
        let kernel_name = files.kernel_name().to_owned();
        let tree = FixtureTree::new().expect("tree");
        tree.add(&files).expect("device written");
        assert_glance_agrees(recording, tree.root(), &kernel_name);
        storage += usize::from(
            SysfsDiscovery::new(tree.root())
                .glance(&kernel_name)
                .expect("glance")
                .expect("present")
                .may_be_storage,
        );
    }
    assert!(storage > 0, "at least one recorded disk");
    assert!(storage < all.len(), "not every device is storage");
}
