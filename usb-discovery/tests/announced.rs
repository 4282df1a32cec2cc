//! A glance from the kernel's `add` message (`glance_announced`) takes the device's ids, numbers
//! and class from the message and reads only its descriptors and udev record: it gives what a
//! glance at sysfs gives, plus the kernel's `uevent` keys, for every recorded device, while the
//! kernel is still configuring it, and stays in doubt when the device there is not the one
//! announced.

use fixtures::{every_recording, DeviceFiles, FixtureTree, UsbDeviceBuilder};
use usb_discovery::{Announcement, Discovery, SysfsDiscovery, UeventMessage, UsbDevice};

/// What the kernel's `add` message of `files` announces.
fn kernel_add(files: &DeviceFiles) -> Announcement {
    let message = files.kernel_add_message(4711);
    let event = UeventMessage::parse(&message)
        .expect("well-formed")
        .usb_device()
        .expect("a usb_device event");
    Announcement::from_uevent(&event).expect("a complete announcement")
}

fn keyboard() -> UsbDeviceBuilder {
    UsbDeviceBuilder::new("1-4", 7)
        .ids(0x0627, 0x0001)
        .interface(0x03, 0x01, 0x01)
        .serial("LAB-1")
}

/// What the announced glance must agree on with a whole read: everything but the strings, the
/// interfaces, the host use and `DRIVER` (bound after the kernel's add).
fn as_announced(device: &UsbDevice) -> UsbDevice {
    let mut properties = device.properties.clone();
    properties.remove("DRIVER");
    UsbDevice {
        manufacturer: None,
        product: None,
        serial: None,
        interfaces: Vec::new(),
        interfaces_announced: None,
        host_use: Vec::new(),
        properties,
        ..device.clone()
    }
}

#[test]
fn every_recorded_device_is_glanced_at_from_its_kernel_add_as_read_whole() {
    let all = every_recording().expect("the recordings");
    assert!(all.len() > 30, "{} recordings", all.len());
    let mut disagreeing = 0;
    for recording in &all {
        let name = &recording.name;
        let files = recording.device_files().expect("recording loads");
        let kernel_name = files.kernel_name();
        let tree = FixtureTree::new().expect("tree");
        tree.add(&files).expect("device written");
        let discovery = SysfsDiscovery::new(tree.root());
        let whole = discovery
            .look_at(kernel_name)
            .expect("read")
            .expect("present");
        let glance = discovery.glance_announced(&kernel_add(&files));
        if !descriptor_agrees(&files, &whole) {
            // A recording whose descriptors were edited apart from its ids (libfprint's test
            // data): to the glance, another device than the one announced.
            let error = glance.expect_err("in doubt");
            assert!(
                error.to_string().ends_with("replaced since"),
                "{name}: {error}"
            );
            disagreeing += 1;
            continue;
        }
        let announced = glance.expect("glance").expect("present");
        assert_eq!(announced.device, as_announced(&whole), "{name}");
        let at_sysfs = discovery
            .glance(kernel_name)
            .expect("glance")
            .expect("present");
        assert_eq!(announced.may_be_storage, at_sysfs.may_be_storage, "{name}");
    }
    assert!(
        disagreeing <= 1,
        "{disagreeing} recordings disagree with their descriptors"
    );
}

/// Whether the device descriptor in the recorded `descriptors` file names the ids and class the
/// device's attributes (as read whole) have, as the kernel's always do.
fn descriptor_agrees(files: &DeviceFiles, whole: &UsbDevice) -> bool {
    let Some((_, bytes)) = files
        .attributes
        .iter()
        .find(|(name, _)| name == "descriptors")
    else {
        return true;
    };
    bytes.len() < 18
        || (
            u16::from_le_bytes([bytes[8], bytes[9]]),
            u16::from_le_bytes([bytes[10], bytes[11]]),
            bytes[4],
        ) == (whole.vendor_id, whole.product_id, whole.device_class)
}

#[test]
fn a_device_mid_configuration_is_glanced_at_from_its_announcement() {
    let tree = FixtureTree::new().expect("tree");
    tree.add_configuring(&keyboard().build()).expect("keyboard");
    let announcement = kernel_add(&keyboard().build());
    let discovery = SysfsDiscovery::new(tree.root());
    assert!(discovery.look_at("1-4").is_err(), "locked attributes");
    let glance = discovery
        .glance_announced(&announcement)
        .expect("no locked attribute is read")
        .expect("there");
    assert!(!glance.may_be_storage);
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
    assert_eq!(
        device.properties.get("BUSNUM").map(String::as_str),
        Some("001")
    );
    assert_eq!(
        device.properties.get("DEVNAME").map(String::as_str),
        Some("/dev/bus/usb/001/007")
    );
}

#[test]
fn a_disk_announced_may_be_storage() {
    let disk = UsbDeviceBuilder::usb_disk("1-3.1", 5).build();
    let tree = FixtureTree::new().expect("tree");
    tree.add_configuring(&disk).expect("disk");
    let glance = SysfsDiscovery::new(tree.root())
        .glance_announced(&kernel_add(&disk))
        .expect("glance")
        .expect("there");
    assert!(glance.may_be_storage, "{glance:?}");
}

#[test]
fn another_device_at_the_port_or_no_device_is_no_decision() {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&keyboard().build()).expect("keyboard");
    let discovery = SysfsDiscovery::new(tree.root());
    let mut announcement = kernel_add(&keyboard().build());
    announcement.vendor_id = 0x046d;
    let error = discovery
        .glance_announced(&announcement)
        .expect_err("the keyboard there is not the announced device");
    assert!(
        error.to_string().ends_with(
            "descriptors: its device descriptor says 0627:0001 class 00, the kernel's add \
             announced 046d:0001 class 00: replaced since"
        ),
        "{error}"
    );

    let announcement = kernel_add(&keyboard().build());
    std::fs::write(
        tree.root().join("sys/bus/usb/devices/1-4/descriptors"),
        [18, 1],
    )
    .expect("cut short");
    let glance = discovery
        .glance_announced(&announcement)
        .expect("glance")
        .expect("there");
    assert!(glance.may_be_storage, "descriptors cut short: in doubt");

    std::fs::remove_dir_all(tree.root().join("sys/bus/usb/devices/1-4")).expect("unplugged");
    assert_eq!(
        discovery
            .glance_announced(&announcement)
            .expect("gone is no error"),
        None
    );
}
