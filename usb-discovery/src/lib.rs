//! Enumerates the host's USB devices from sysfs and the udev database, with the properties and tags
//! `udevadm info --query=all` prints for them.
//!
//! [`SysfsDiscovery`] walks `<root>/sys/bus/usb/devices`, keeps the `usb_device`s (never interfaces
//! such as `3-6.3:1.0`), reads their attributes, their `uevent` file and their udev database record,
//! and builds each [`UsbDevice`]. `root` is `/` on a host and a fixture tree in tests. A device that
//! vanishes during a scan is left out; one that cannot be read is left out with a warning; neither
//! fails the scan.
//!
//! Each [`UsbDevice`] carries its device class, subclass and protocol and the interfaces of its
//! active configuration (read from the interface folders, `3-6.3:1.0/bInterfaceClass` …), and how
//! the host uses it ([`UsbDevice::host_use`], the in-use guard's input: a block device below it
//! that is mounted, active swap or held by device-mapper, md or LVM; see [`HostUse`]).
//!
//! [`UsbDevice`] implements [`hotplug_match::Device`], the view the matcher works on.
//!
//! ```
//! use fixtures::{FixtureTree, UsbDeviceBuilder};
//! use usb_discovery::{Discovery, SysfsDiscovery, UeventAction, UeventMessage};
//!
//! // A fixture tree in the layout of /sys and /run/udev: a root hub and a webcam behind it.
//! let tree = FixtureTree::new()?;
//! tree.add(&UsbDeviceBuilder::root_hub(3).build())?;
//! tree.add(&UsbDeviceBuilder::new("3-6", 5).ids(0x046d, 0x0825).serial("ABC123").build())?;
//!
//! let devices = SysfsDiscovery::new(tree.root()).scan()?;
//! let webcam = devices.iter().find(|device| !device.is_hub()).expect("the webcam");
//! assert_eq!((webcam.bus, webcam.device, webcam.kernel_name.as_str()), (3, 5, "3-6"));
//! assert_eq!(webcam.properties.get("ID_SERIAL_SHORT").map(String::as_str), Some("ABC123"));
//!
//! // The kernel's own uevent for it, as the netlink monitor receives it.
//! let bytes = b"add@/devices/pci0000:00/0000:00:14.0/usb3/3-6\0ACTION=add\0\
//!     DEVPATH=/devices/pci0000:00/0000:00:14.0/usb3/3-6\0SUBSYSTEM=usb\0DEVTYPE=usb_device\0\
//!     BUSNUM=003\0DEVNUM=005\0SEQNUM=4711\0";
//! let event = UeventMessage::parse(bytes).unwrap().usb_device().unwrap();
//! assert_eq!(event.action, UeventAction::Add);
//! assert_eq!((event.kernel_name.as_str(), event.bus, event.device), ("3-6", Some(3), Some(5)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`UeventMonitor`] listens on udev's netlink group for the events udevd sends once a device is
//! set up, and keeps those of USB devices ([`UsbUevent`]); [`UeventMessage::parse`] is its pure,
//! fuzz-safe parser of udev's and the kernel's message formats. With the `testing` feature,
//! `encode_udev_message` and `UeventSender` build and inject synthetic events in tests.
#![forbid(unsafe_code)]

mod announcement;
mod descriptors;
mod device;
mod error;
mod host_use;
mod sysfs;
mod uevent;

pub use announcement::Announcement;
pub use descriptors::{announced_classes, MASS_STORAGE_CLASS};
pub use device::UsbDevice;
pub use error::Error;
pub use host_use::{HostUse, MAX_PROC_FILE_LEN};
pub use sysfs::SysfsDiscovery;
#[cfg(feature = "testing")]
pub use uevent::{
    encode_kernel_message, encode_udev_message, UeventSender, UDEV_HEADER_LEN, UDEV_MONITOR_MAGIC,
};
pub use uevent::{
    may_be_usb_device, DropReason, MessageSource, MonitorThread, Received, UdevHeader,
    UeventAction, UeventMessage, UeventMonitor, UsbUevent, MAX_MESSAGE_LEN,
};

/// A device seen on the kernel's own `add` uevent, before the kernel has configured it.
///
/// While the kernel configures a new device (it chooses a configuration, adds the interfaces and
/// probes their drivers) it holds the device's lock, and sysfs answers the attributes of the
/// active configuration (`bNumInterfaces`, `bConfigurationValue`) and the string descriptors
/// (`manufacturer`, `product`, `serial`), and on some kernels `uevent`, only once it lets go: on
/// a real USB stack that is the whole configuration, hundreds of milliseconds under emulation. A glance reads none of them:
/// what it gives is what a rule on sysfs alone needs (ids, bus and device numbers, device class,
/// port), and from the `descriptors` file (answered without the lock) whether the device may be
/// storage, which the in-use guard would need to look at once its block devices exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glance {
    /// The device, without its strings, its interfaces (`interfaces_announced` is `None`), its
    /// udev properties when udev has not run yet, and its host use; a glance at sysfs has none of
    /// the kernel's `uevent` keys among its properties either (the `uevent` file may wait for the
    /// lock too), one from the kernel's message ([`Discovery::glance_announced`]) all of them but
    /// `DRIVER`.
    pub device: UsbDevice,
    /// Whether the device may hold block devices: its device class or the class of an interface
    /// of any configuration is mass storage (08), or its descriptors could not be read (in doubt).
    pub may_be_storage: bool,
}

/// A source of the USB devices present now.
pub trait Discovery {
    /// Every USB device present, hubs included, sorted by bus and device number, and the devices
    /// that are present but could not be read. Fails only when the device list itself cannot be
    /// read.
    fn scan_all(&self) -> Result<Scan, Error>;

    /// The one device `kernel_name` (`3-6.3`), as a scan would find it: `Ok(None)` when it is not
    /// present (unplugged, gone during the read) or not a `usb_device`; an error when it is
    /// present but cannot be read. (This default scans everything; [`SysfsDiscovery`] reads just
    /// the device.)
    fn look_at(&self, kernel_name: &str) -> Result<Option<UsbDevice>, Error> {
        let scan = self.scan_all()?;
        if let Some(unreadable) = scan
            .unreadable
            .iter()
            .find(|device| device.kernel_name == kernel_name)
        {
            return Err(Error::BadValue {
                path: kernel_name.into(),
                reason: unreadable.problem.clone(),
            });
        }
        Ok(scan
            .devices
            .into_iter()
            .find(|device| device.kernel_name == kernel_name))
    }

    /// The device `kernel_name` as the kernel's own `add` uevent finds it, read without waiting
    /// for the kernel to finish configuring it: `Ok(None)` when it is not present or not a
    /// `usb_device`. (This default looks at the device whole and counts a device that is not
    /// settled yet as possibly storage; [`SysfsDiscovery`] reads only the attributes the kernel
    /// answers without the device's lock: see [`Glance`].)
    fn glance(&self, kernel_name: &str) -> Result<Option<Glance>, Error> {
        Ok(self.look_at(kernel_name)?.map(|device| Glance {
            may_be_storage: !device.is_settled()
                || device.device_class == MASS_STORAGE_CLASS
                || device
                    .interfaces
                    .iter()
                    .any(|interface| interface.class == MASS_STORAGE_CLASS),
            device,
        }))
    }

    /// A glance at the device the kernel's `add` uevent `announcement` is of, its ids, numbers
    /// and class taken from the message (see [`Announcement`]): `Ok(None)` when it is gone. (This
    /// default glances at it by its name; [`SysfsDiscovery`] reads only its `descriptors` and
    /// its udev record.)
    fn glance_announced(&self, announcement: &Announcement) -> Result<Option<Glance>, Error> {
        self.glance(&announcement.kernel_name)
    }

    /// Every USB device present that could be read; each one that could not is logged as a warning
    /// and left out.
    fn scan(&self) -> Result<Vec<UsbDevice>, Error> {
        let scan = self.scan_all()?;
        for device in &scan.unreadable {
            log::warn!(
                "skipping USB device {}: {}",
                device.kernel_name,
                device.problem
            );
        }
        Ok(scan.devices)
    }
}

/// What a scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// The devices read, sorted by bus and device number.
    pub devices: Vec<UsbDevice>,
    /// The devices present that could not be read (a bad attribute, an unreadable file), by kernel
    /// name. A caller must not take them for unplugged.
    pub unreadable: Vec<Unreadable>,
}

/// A device that is present but could not be read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Unreadable {
    /// Its kernel name (`3-6.3`).
    pub kernel_name: String,
    /// What went wrong, on one line.
    pub problem: String,
}
