//! One USB device as discovery sees it.

use std::collections::{BTreeMap, BTreeSet};

/// A USB device (sysfs devtype `usb_device`) with its udev view.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UsbDevice {
    /// Bus number (`busnum`).
    pub bus: u16,
    /// Device number on the bus (`devnum`); a new one on every plug-in.
    pub device: u16,
    /// `idVendor`.
    pub vendor_id: u16,
    /// `idProduct`.
    pub product_id: u16,
    /// `bDeviceClass` (`0x09`: hub).
    pub device_class: u8,
    /// The kernel name, which is the port path (`3-6.3`; `usb3` for a root hub).
    pub kernel_name: String,
    /// The sysfs path below `/sys` (`/devices/pci0000:00/…/usb3/3-6/3-6.3`), udev's DEVPATH.
    pub devpath: String,
    /// The `manufacturer` string, when the device has one.
    pub manufacturer: Option<String>,
    /// The `product` string, when the device has one.
    pub product: Option<String>,
    /// The `serial` string, when the device has one.
    pub serial: Option<String>,
    /// The udev properties, as `udevadm info --query=all` prints them in its `E:` lines, except
    /// `TAGS` and `CURRENT_TAGS`, which are [`UsbDevice::tags`] and [`UsbDevice::current_tags`].
    pub properties: BTreeMap<String, String>,
    /// Every tag udev ever set on the device (`G:`, `TAGS`).
    pub tags: BTreeSet<String>,
    /// The tags set now (`Q:`, `CURRENT_TAGS`; all tags for a database without version).
    pub current_tags: BTreeSet<String>,
    /// Whether udev has a database record for the device; until it has, only the kernel's
    /// properties are known.
    pub initialized: bool,
}

impl UsbDevice {
    /// Whether the device is a hub (class 09), root hubs included.
    pub fn is_hub(&self) -> bool {
        self.device_class == 0x09
    }
}

impl hotplug_match::Device for UsbDevice {
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
        UsbDevice::is_hub(self)
    }
}
