//! A device built in memory for the tests.

use std::collections::{BTreeMap, BTreeSet};

use hotplug_match::{Device, Interface};

/// Every attribute the matcher can look at, as plain data.
#[derive(Debug, Clone, Default)]
pub struct TestDevice {
    pub bus: u16,
    pub device: u16,
    pub vendor_id: u16,
    pub product_id: u16,
    pub device_class: u8,
    pub device_subclass: u8,
    pub device_protocol: u8,
    pub interfaces: Vec<Interface>,
    pub kernel_name: String,
    pub properties: BTreeMap<String, String>,
    pub tags: BTreeSet<String>,
    pub current_tags: BTreeSet<String>,
    pub hub: bool,
}

impl Device for TestDevice {
    fn bus(&self) -> u16 {
        self.bus
    }
    fn device(&self) -> u16 {
        self.device
    }
    fn vendor_id(&self) -> u16 {
        self.vendor_id
    }
    fn product_id(&self) -> u16 {
        self.product_id
    }
    fn device_class(&self) -> u8 {
        self.device_class
    }
    fn device_subclass(&self) -> u8 {
        self.device_subclass
    }
    fn device_protocol(&self) -> u8 {
        self.device_protocol
    }
    fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }
    fn kernel_name(&self) -> &str {
        &self.kernel_name
    }
    fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(String::as_str)
    }
    fn has_tag(&self, tag: &str) -> bool {
        self.tags.contains(tag)
    }
    fn has_current_tag(&self, tag: &str) -> bool {
        self.current_tags.contains(tag)
    }
    fn is_hub(&self) -> bool {
        self.hub
    }
}

/// The webcam of the original README (`Bus 003 Device 005: ID 046d:0825`, port 3-6.3), with the
/// descriptors of a Logitech C270: a composite device (class ef/02/01) with video control, video
/// streaming, audio control and audio streaming interfaces.
#[allow(dead_code)]
pub fn webcam() -> TestDevice {
    TestDevice {
        bus: 3,
        device: 5,
        vendor_id: 0x046d,
        product_id: 0x0825,
        device_class: 0xef,
        device_subclass: 0x02,
        device_protocol: 0x01,
        interfaces: [(0x0e, 0x01), (0x0e, 0x02), (0x01, 0x01), (0x01, 0x02)]
            .into_iter()
            .map(|(class, subclass)| Interface {
                class,
                subclass,
                protocol: 0,
            })
            .collect(),
        kernel_name: "3-6.3".into(),
        properties: [
            ("ID_USB_SERIAL_SHORT", "ABC123"),
            ("ID_MODEL", "0825"),
            ("ID_VENDOR_FROM_DATABASE", "Logitech, Inc."),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        tags: ["uaccess", "seat"].into_iter().map(str::to_owned).collect(),
        current_tags: ["uaccess"].into_iter().map(str::to_owned).collect(),
        hub: false,
    }
}
