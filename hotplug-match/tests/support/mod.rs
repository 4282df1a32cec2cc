//! A device built in memory for the tests.

use std::collections::{BTreeMap, BTreeSet};

use hotplug_match::Device;

/// Every attribute the matcher can look at, as plain data.
#[derive(Debug, Clone, Default)]
pub struct TestDevice {
    pub bus: u16,
    pub device: u16,
    pub vendor_id: u16,
    pub product_id: u16,
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

/// The webcam of the original README (`Bus 003 Device 005: ID 046d:0825`, port 3-6.3).
#[allow(dead_code)]
pub fn webcam() -> TestDevice {
    TestDevice {
        bus: 3,
        device: 5,
        vendor_id: 0x046d,
        product_id: 0x0825,
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
