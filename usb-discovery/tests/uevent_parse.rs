//! The uevent parser against real message layouts and broken ones.

use usb_discovery::{
    encode_kernel_message, encode_udev_message, DropReason, MessageSource, UdevHeader,
    UeventAction, UeventMessage, MAX_MESSAGE_LEN,
};

const CAMERA_DEVPATH: &str = "/devices/pci0000:00/0000:00:1a.0/usb1/1-1/1-1.5/1-1.5.2/1-1.5.2.3";

/// The properties udevd sends for the Canon PowerShot SX200 of `shared/real-devices` when it is
/// plugged in (its recorded `udevadm info` set plus ACTION, SEQNUM and USEC_INITIALIZED).
const CAMERA: &[(&str, &str)] = &[
    ("ACTION", "add"),
    ("DEVPATH", CAMERA_DEVPATH),
    ("SUBSYSTEM", "usb"),
    ("DEVNAME", "/dev/bus/usb/001/011"),
    ("DEVTYPE", "usb_device"),
    ("DRIVER", "usb"),
    ("PRODUCT", "4a9/31c0/2"),
    ("TYPE", "0/0/0"),
    ("BUSNUM", "001"),
    ("DEVNUM", "011"),
    ("SEQNUM", "4711"),
    ("USEC_INITIALIZED", "4269642"),
    ("ID_VENDOR_ID", "04a9"),
    ("ID_MODEL_ID", "31c0"),
    ("ID_SERIAL_SHORT", "C767F1C714174C309255F70E4A7B2EE2"),
    ("MAJOR", "189"),
    ("MINOR", "10"),
    ("TAGS", ":udev-acl:"),
];

/// `KEY=value\0` for each property.
fn property_block(properties: &[(&str, &str)]) -> Vec<u8> {
    properties
        .iter()
        .flat_map(|(key, value)| format!("{key}={value}\0").into_bytes())
        .collect()
}

/// A udev message laid out field by field as libudev's `struct monitor_netlink_header` is, with
/// the header words given.
fn udev_layout(words: [u32; 8], block: &[u8]) -> Vec<u8> {
    let [magic, header_size, offset, len, subsystem, devtype, bloom_hi, bloom_lo] = words;
    let mut message = b"libudev\0".to_vec();
    message.extend_from_slice(&magic.to_be_bytes());
    for host_order in [header_size, offset, len] {
        message.extend_from_slice(&host_order.to_ne_bytes());
    }
    for network_order in [subsystem, devtype, bloom_hi, bloom_lo] {
        message.extend_from_slice(&network_order.to_be_bytes());
    }
    message.extend_from_slice(block);
    message
}

/// A well-formed udev message with the properties `block`.
fn udev_message(block: &[u8]) -> Vec<u8> {
    let len = u32::try_from(block.len()).expect("small block");
    udev_layout([0xfeed_cafe, 40, 40, len, 0, 0, 0, 0], block)
}

fn usb_add(devtype: &str) -> Vec<(&str, &str)> {
    vec![
        ("ACTION", "add"),
        ("DEVPATH", "/devices/pci0000:00/0000:00:14.0/usb3/3-6/3-6.3"),
        ("SUBSYSTEM", "usb"),
        ("DEVTYPE", devtype),
        ("SEQNUM", "12"),
        ("BUSNUM", "003"),
        ("DEVNUM", "005"),
    ]
}

#[test]
fn a_udev_message_gives_its_header_fields_and_properties() {
    let block = property_block(CAMERA);
    let bytes = udev_layout(
        [
            0xfeed_cafe,
            40,
            40,
            block.len() as u32,
            0x1111,
            0x2222,
            0x3333,
            0x4444,
        ],
        &block,
    );
    let message = UeventMessage::parse(&bytes).expect("parses");
    assert_eq!(
        message.source,
        MessageSource::Udev(UdevHeader {
            header_size: 40,
            properties_offset: 40,
            properties_len: block.len() as u32,
            subsystem_hash: 0x1111,
            devtype_hash: 0x2222,
            tag_bloom: 0x3333_0000_4444,
        })
    );
    assert_eq!(message.action, UeventAction::Add);
    assert_eq!(message.devpath, CAMERA_DEVPATH);
    assert_eq!(message.subsystem, "usb");
    assert_eq!(message.devtype.as_deref(), Some("usb_device"));
    assert_eq!(message.seqnum, 4711);
    assert_eq!(message.kernel_name(), "1-1.5.2.3");
    let expected: Vec<(String, String)> = CAMERA
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    let mut expected = expected;
    expected.sort();
    let actual: Vec<(String, String)> = message.properties.into_iter().collect();
    assert_eq!(actual, expected);
}

#[test]
fn the_encoder_writes_libudevs_header_with_its_hashes() {
    let properties = [
        ("ACTION", "add"),
        ("DEVPATH", "/devices/pci0000:00/usb3/3-6"),
        ("SUBSYSTEM", "usb"),
        ("DEVTYPE", "usb_device"),
        ("SEQNUM", "3"),
        ("TAGS", ":seat:uaccess:"),
    ];
    let block = property_block(&properties);
    // The hash of "usb" and of "usb_device", and the bloom bits of the tags seat and uaccess, as
    // libudev computes them: libudev's own in-kernel socket filter (match usb/usb_device, and the
    // tag uaccess) let exactly this message through, and not the same one with usb_interface.
    let expected = udev_layout(
        [
            0xfeed_cafe,
            40,
            40,
            block.len() as u32,
            0x0577_c5e5,
            0x27f8_f50c,
            0x0208_2008,
            0x0040_1009,
        ],
        &block,
    );
    assert_eq!(encode_udev_message(properties), expected);
    let interface = encode_udev_message([("SUBSYSTEM", "usb"), ("DEVTYPE", "usb_interface")]);
    assert_eq!(interface[28..32], 0xb102_4765u32.to_be_bytes());
}

#[test]
fn a_kernel_message_gives_action_devpath_and_properties() {
    let mut bytes = format!("remove@{CAMERA_DEVPATH}\0").into_bytes();
    bytes.extend(property_block(&[
        ("ACTION", "remove"),
        ("DEVPATH", CAMERA_DEVPATH),
        ("SUBSYSTEM", "usb"),
        ("MAJOR", "189"),
        ("MINOR", "10"),
        ("DEVNAME", "bus/usb/001/011"),
        ("DEVTYPE", "usb_device"),
        ("PRODUCT", "4a9/31c0/2"),
        ("TYPE", "0/0/0"),
        ("BUSNUM", "001"),
        ("DEVNUM", "011"),
        ("SEQNUM", "4712"),
    ]));
    let message = UeventMessage::parse(&bytes).expect("parses");
    assert_eq!(message.source, MessageSource::Kernel);
    assert_eq!(message.action, UeventAction::Remove);
    assert_eq!(message.property("DEVNAME"), Some("bus/usb/001/011"));
    let event = message.usb_device().expect("a usb_device event");
    assert_eq!(event.action, UeventAction::Remove);
    assert_eq!(event.kernel_name, "1-1.5.2.3");
    assert_eq!(
        (event.bus, event.device, event.seqnum),
        (Some(1), Some(11), 4712)
    );
    assert_eq!(event.source, MessageSource::Kernel);
}

#[test]
fn the_kernel_encoder_writes_the_kernel_layout() {
    let properties = usb_add("usb_device");
    let mut expected = b"add@/devices/pci0000:00/0000:00:14.0/usb3/3-6/3-6.3\0".to_vec();
    expected.extend(property_block(&properties));
    assert_eq!(encode_kernel_message(properties), expected);
}

#[test]
fn only_usb_devices_pass_the_filter_with_their_port_and_numbers() {
    let device = UeventMessage::parse(&encode_udev_message(usb_add("usb_device"))).expect("parses");
    let event = device.usb_device().expect("a usb_device event");
    assert_eq!(event.kernel_name, "3-6.3");
    assert_eq!((event.bus, event.device), (Some(3), Some(5)));
    assert_eq!(event.property("SEQNUM"), Some("12"));

    let mut interface = usb_add("usb_interface");
    interface[1].1 = "/devices/pci0000:00/0000:00:14.0/usb3/3-6/3-6.3/3-6.3:1.0";
    let interface = UeventMessage::parse(&encode_udev_message(interface)).expect("parses");
    assert_eq!(interface.kernel_name(), "3-6.3:1.0");
    assert_eq!(interface.usb_device(), None);

    let block = UeventMessage::parse(&encode_udev_message([
        ("ACTION", "add"),
        ("DEVPATH", "/devices/virtual/block/loop0"),
        ("SUBSYSTEM", "block"),
        ("DEVTYPE", "disk"),
        ("SEQNUM", "13"),
    ]))
    .expect("parses");
    assert_eq!(block.subsystem, "block");
    assert_eq!(block.usb_device(), None);

    let mut no_devtype = usb_add("usb_device");
    no_devtype.remove(3);
    let no_devtype = UeventMessage::parse(&encode_udev_message(no_devtype)).expect("parses");
    assert_eq!(no_devtype.usb_device(), None);
}

#[test]
fn every_action_is_kept_and_unknown_ones_by_name() {
    for name in [
        "add",
        "remove",
        "change",
        "move",
        "online",
        "offline",
        "bind",
        "unbind",
        "frobnicate",
    ] {
        let mut properties = usb_add("usb_device");
        properties[0].1 = name;
        let event = UeventMessage::parse(&encode_udev_message(properties))
            .expect("parses")
            .usb_device()
            .expect("a usb_device event");
        assert_eq!(event.action.as_str(), name);
        assert_eq!(
            matches!(event.action, UeventAction::Other(_)),
            name == "frobnicate"
        );
    }
}

#[test]
fn every_truncation_of_a_udev_message_is_dropped() {
    let bytes = encode_udev_message(CAMERA.iter().copied());
    for len in 0..bytes.len() {
        let result = UeventMessage::parse(&bytes[..len]);
        let expected_reason = |reason: &DropReason| match len {
            0 => *reason == DropReason::Empty,
            1..=7 => matches!(reason, DropReason::BadKernelHeader { .. }),
            8..=39 => *reason == DropReason::TruncatedHeader { len },
            _ => matches!(reason, DropReason::PropertiesOutOfBounds { .. }),
        };
        match result {
            Err(reason) => assert!(expected_reason(&reason), "{len} bytes: {reason}"),
            Ok(_) => panic!("{len} of {} bytes parsed", bytes.len()),
        }
    }
}

#[test]
fn a_kernel_message_cut_inside_a_property_is_dropped() {
    let bytes = encode_kernel_message(usb_add("usb_device"));
    let cut = bytes.len() - 3; // inside DEVNUM=005
    assert_eq!(
        UeventMessage::parse(&bytes[..cut]),
        Err(DropReason::UnterminatedProperties {
            entry: "DEVNUM=0".to_owned()
        })
    );
    let header_only = b"add@/devices/pci0000:00/0000:00:14.0/usb3/3-6";
    assert!(matches!(
        UeventMessage::parse(header_only),
        Err(DropReason::BadKernelHeader { .. })
    ));
}

#[test]
fn oversized_messages_are_dropped() {
    let mut properties = usb_add("usb_device");
    let long = "x".repeat(MAX_MESSAGE_LEN);
    properties.push(("ID_MODEL", &long));
    for bytes in [
        encode_udev_message(properties.clone()),
        encode_kernel_message(properties),
    ] {
        assert_eq!(
            UeventMessage::parse(&bytes),
            Err(DropReason::Oversized { len: bytes.len() })
        );
    }
}

#[test]
fn header_offsets_that_point_outside_the_message_are_dropped() {
    let block = property_block(&usb_add("usb_device"));
    let len = block.len() as u32;
    let cases = [
        (
            [0xfeed_cafe, 40, 40, len + 1, 0, 0, 0, 0],
            "len one too long",
        ),
        ([0xfeed_cafe, 40, 41, len, 0, 0, 0, 0], "offset one too far"),
        (
            [0xfeed_cafe, 40, u32::MAX, u32::MAX, 0, 0, 0, 0],
            "both at the maximum",
        ),
        (
            [0xfeed_cafe, 40, 40, u32::MAX, 0, 0, 0, 0],
            "len at the maximum",
        ),
    ];
    for (words, case) in cases {
        let result = UeventMessage::parse(&udev_layout(words, &block));
        assert!(
            matches!(result, Err(DropReason::PropertiesOutOfBounds { .. })),
            "{case}: {result:?}"
        );
    }
    for (words, case) in [
        ([0xfeed_cafe, 40, 0, len, 0, 0, 0, 0], "offset 0"),
        (
            [0xfeed_cafe, 40, 39, len, 0, 0, 0, 0],
            "offset inside the header",
        ),
        (
            [0xfeed_cafe, 48, 40, len, 0, 0, 0, 0],
            "a header longer than the offset",
        ),
    ] {
        let result = UeventMessage::parse(&udev_layout(words, &block));
        assert!(
            matches!(result, Err(DropReason::PropertiesOverlapHeader { .. })),
            "{case}: {result:?}"
        );
    }
}

#[test]
fn a_message_with_a_longer_header_than_libudevs_parses() {
    // A newer sender may know a longer header: the offset tells where the properties are.
    let mut block = vec![0xAA; 8];
    block.extend(property_block(&usb_add("usb_device")));
    let len = (block.len() - 8) as u32;
    let bytes = udev_layout([0xfeed_cafe, 48, 48, len, 0, 0, 0, 0], &block);
    let event = UeventMessage::parse(&bytes).expect("parses").usb_device();
    assert_eq!(
        event.map(|event| event.kernel_name),
        Some("3-6.3".to_owned())
    );
}

#[test]
fn foreign_messages_are_dropped() {
    let block = property_block(&usb_add("usb_device"));
    let wrong_magic = udev_layout(
        [0xcafe_feed, 40, 40, block.len() as u32, 0, 0, 0, 0],
        &block,
    );
    assert_eq!(
        UeventMessage::parse(&wrong_magic),
        Err(DropReason::WrongMagic { found: 0xcafe_feed })
    );
    let mut wrong_prefix = udev_message(&block);
    wrong_prefix[..8].copy_from_slice(b"libudex\0");
    assert_eq!(
        UeventMessage::parse(&wrong_prefix),
        Err(DropReason::BadKernelHeader {
            header: "libudex".to_owned()
        })
    );
    // A netlink route message, as another protocol would send it.
    let route = [0x14, 0, 0, 0, 0x10, 0, 0x05, 0x03, 1, 0, 0, 0, 0, 0, 0, 0];
    assert!(matches!(
        UeventMessage::parse(&route),
        Err(DropReason::BadKernelHeader { .. })
    ));
}

#[test]
fn messages_missing_what_every_uevent_has_are_dropped() {
    for key in ["ACTION", "DEVPATH", "SUBSYSTEM", "SEQNUM"] {
        let properties: Vec<_> = usb_add("usb_device")
            .into_iter()
            .filter(|(name, _)| *name != key)
            .collect();
        assert_eq!(
            UeventMessage::parse(&encode_udev_message(properties)),
            Err(DropReason::MissingProperty { key }),
        );
    }
}

#[test]
fn bad_property_values_are_dropped_with_what_is_wrong() {
    let with = |key: &'static str, value: &'static str| {
        let mut properties = usb_add("usb_device");
        properties.retain(|(name, _)| *name != key);
        properties.push((key, value));
        UeventMessage::parse(&encode_udev_message(properties))
    };
    assert_eq!(
        with("SEQNUM", "12a"),
        Err(DropReason::BadSeqnum {
            value: "12a".to_owned()
        })
    );
    for devpath in [
        "devices/usb3/3-6",
        "/devices/usb3/3-6/",
        "/devices/usb3/..",
        "/",
    ] {
        assert_eq!(
            with("DEVPATH", devpath),
            Err(DropReason::BadDevpath {
                devpath: devpath.to_owned()
            })
        );
    }
    let mut block = property_block(&usb_add("usb_device"));
    block.extend_from_slice(b"NOEQUALS\0");
    assert_eq!(
        UeventMessage::parse(&udev_message(&block)),
        Err(DropReason::BadProperty {
            entry: "NOEQUALS".to_owned()
        })
    );
    let mut block = property_block(&usb_add("usb_device"));
    block.extend_from_slice(b"=value\0");
    assert!(matches!(
        UeventMessage::parse(&udev_message(&block)),
        Err(DropReason::BadProperty { .. })
    ));
}

#[test]
fn a_kernel_header_that_disagrees_with_its_properties_is_dropped() {
    let mut bytes = b"remove@/devices/pci0000:00/0000:00:14.0/usb3/3-6/3-6.3\0".to_vec();
    bytes.extend(property_block(&usb_add("usb_device")));
    assert_eq!(
        UeventMessage::parse(&bytes),
        Err(DropReason::HeaderMismatch {
            key: "ACTION",
            header: "remove".to_owned(),
            property: "add".to_owned()
        })
    );
}

#[test]
fn a_long_bad_entry_is_cut_in_the_reason() {
    let mut block = property_block(&usb_add("usb_device"));
    block.extend("Z".repeat(1000).bytes());
    block.push(0);
    let Err(DropReason::BadProperty { entry }) = UeventMessage::parse(&udev_message(&block)) else {
        panic!("not a bad property");
    };
    assert_eq!(entry, format!("{}…", "Z".repeat(64)));
}

#[test]
fn drop_reasons_say_what_is_wrong() {
    assert_eq!(
        DropReason::WrongMagic { found: 0xcafe_feed }.to_string(),
        "udev header magic is 0xcafefeed, not 0xfeedcafe"
    );
    assert_eq!(
        DropReason::NonRootSender { uid: 1000 }.to_string(),
        "sent by uid 1000, not root"
    );
}
