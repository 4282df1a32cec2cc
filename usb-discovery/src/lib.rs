//! Enumerates the host's USB devices from sysfs and the udev database, with the properties and tags
//! `udevadm info --query=all` prints for them.
//!
//! [`SysfsDiscovery`] walks `<root>/sys/bus/usb/devices`, keeps the `usb_device`s (never interfaces
//! such as `3-6.3:1.0`), reads their attributes, their `uevent` file and their udev database record,
//! and builds each [`UsbDevice`]. `root` is `/` on a host and a fixture tree in tests. A device that
//! vanishes during a scan is left out; one that cannot be read is left out with a warning; neither
//! fails the scan.
//!
//! [`UsbDevice`] implements [`hotplug_match::Device`], the view the matcher works on.
//!
//! ```no_run
//! use std::path::Path;
//! use usb_discovery::{Discovery, SysfsDiscovery};
//!
//! let discovery = SysfsDiscovery::new(Path::new("/"));
//! for device in discovery.scan()? {
//!     println!("{:03}/{:03} {:04x}:{:04x} {}", device.bus, device.device,
//!              device.vendor_id, device.product_id, device.kernel_name);
//! }
//! # Ok::<(), usb_discovery::Error>(())
//! ```
#![forbid(unsafe_code)]

mod device;
mod error;
mod sysfs;

pub use device::UsbDevice;
pub use error::Error;
pub use sysfs::SysfsDiscovery;

/// A source of the USB devices present now.
pub trait Discovery {
    /// Every USB device present, hubs included, sorted by bus and device number.
    fn scan(&self) -> Result<Vec<UsbDevice>, Error>;
}
