//! One USB device as discovery sees it.

use std::collections::{BTreeMap, BTreeSet};

use hotplug_match::Interface;

use crate::HostUse;

/// A USB device (sysfs devtype `usb_device`) with its udev view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
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
    /// `bDeviceSubClass`.
    pub device_subclass: u8,
    /// `bDeviceProtocol`.
    pub device_protocol: u8,
    /// The interfaces of the active configuration (`bConfigurationValue`), by interface number,
    /// each with the codes of its current alternate setting (`<port>:<config>.<n>/bInterfaceClass`
    /// and its subclass and protocol). Empty when the device is not configured.
    pub interfaces: Vec<Interface>,
    /// `bNumInterfaces`: how many interfaces the active configuration has; `None` when the
    /// device is not configured yet (or the file is missing). Until [`UsbDevice::is_settled`],
    /// [`UsbDevice::interfaces`] may still be filling.
    pub interfaces_announced: Option<u8>,
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
    /// How the host uses the device through a block device below it (mounted, active swap, held
    /// by device-mapper, md or LVM), sorted; empty when it does not. A device the host uses is
    /// never attached (the in-use guard; see [`HostUse`]).
    pub host_use: Vec<HostUse>,
}

impl UsbDevice {
    /// Whether the device is a hub (class 09), root hubs included.
    pub fn is_hub(&self) -> bool {
        self.device_class == 0x09
    }

    /// Whether the kernel has finished configuring the device: every interface its active
    /// configuration announces is there.
    pub fn is_settled(&self) -> bool {
        self.interfaces_announced
            .is_some_and(|count| usize::from(count) == self.interfaces.len())
    }

    /// Whether the host uses the device (a block device below it is mounted, swap or held), so
    /// that it must never be attached.
    pub fn is_in_use_by_host(&self) -> bool {
        !self.host_use.is_empty()
    }

    /// The manufacturer and product strings, each trimmed, joined by a space, as `lsusb` shows
    /// them (`Yubico Security Key by Yubico`); empty when the device has neither.
    ///
    /// ```
    /// # let device = usb_discovery::UsbDevice::default();
    /// let device = usb_discovery::UsbDevice {
    ///     manufacturer: Some("VIA Labs, Inc.         ".into()),
    ///     product: Some("USB2.0 Hub".into()),
    ///     ..device
    /// };
    /// assert_eq!(device.description(), "VIA Labs, Inc. USB2.0 Hub");
    /// ```
    pub fn description(&self) -> String {
        [self.manufacturer.as_deref(), self.product.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
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
        UsbDevice::is_hub(self)
    }
}
