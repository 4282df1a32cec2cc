//! Pure matcher engine of libvirt-usb-hotplugd: the rule types, their validation, matching and
//! explanations. No I/O happens here.
//!
//! A device is seen through the small [`Device`] trait, which discovery (`usb-discovery`) implements
//! for the devices it finds in sysfs and the udev database, and which tests implement for devices
//! built in memory. Rules are validated once when they are built, so matching itself never fails.
//!
//! ```
//! use hotplug_match::Device;
//!
//! /// A device built in memory, as a test would.
//! struct Webcam;
//!
//! impl Device for Webcam {
//!     fn bus(&self) -> u16 { 3 }
//!     fn device(&self) -> u16 { 5 }
//!     fn vendor_id(&self) -> u16 { 0x046d }
//!     fn product_id(&self) -> u16 { 0x0825 }
//!     fn kernel_name(&self) -> &str { "3-6.3" }
//!     fn property(&self, name: &str) -> Option<&str> {
//!         (name == "ID_USB_SERIAL_SHORT").then_some("ABC123")
//!     }
//!     fn has_tag(&self, tag: &str) -> bool { tag == "uaccess" }
//!     fn has_current_tag(&self, tag: &str) -> bool { tag == "uaccess" }
//!     fn is_hub(&self) -> bool { false }
//! }
//!
//! assert_eq!(Webcam.property("ID_USB_SERIAL_SHORT"), Some("ABC123"));
//! assert!(!Webcam.is_hub());
//!
//! // A rule as the configuration writes it ([`MatcherSpec`]), validated and compiled once
//! // ([`Matcher`]); then matching never fails, and `explain` says which criterion failed.
//! use hotplug_match::{Matcher, MatcherSpec};
//!
//! let spec: MatcherSpec = serde_yaml::from_str(
//!     "vendor-id: 0x046d\nudev:\n  env:\n  - name: ID_USB_SERIAL_SHORT\n    equals: ABC123\n",
//! )?;
//! let matcher = Matcher::new(&spec)?;
//! assert!(matcher.matches(&Webcam));
//!
//! let other: MatcherSpec = serde_yaml::from_str("vendor-id: 0x1050")?;
//! let mismatch = Matcher::new(&other)?.explain(&Webcam).expect("another vendor");
//! assert_eq!(mismatch.to_string(), "vendor-id 046d != 1050");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod error;
mod explain;
mod machine;
mod matcher;
mod path;
mod spec;

pub use error::{Error, Problem};
pub use explain::Mismatch;
pub use machine::{MachineMismatch, MachineRules};
pub use matcher::Matcher;
pub use path::{PathSegment, RulePath};
pub use spec::{EnvSpec, MatcherSpec, NumberSpec, UdevSpec};

/// What the matcher needs to know of a USB device (a sysfs `usb_device`, never an interface).
///
/// Implemented by `usb_discovery::UsbDevice` for real devices; tests implement it for devices built
/// in memory.
pub trait Device {
    /// The bus number (`busnum` in sysfs, `BUSNUM` as a property).
    fn bus(&self) -> u16;
    /// The device number on its bus (`devnum`); it changes every time the device is plugged in.
    fn device(&self) -> u16;
    /// The USB vendor id (`idVendor`).
    fn vendor_id(&self) -> u16;
    /// The USB product id (`idProduct`).
    fn product_id(&self) -> u16;
    /// The kernel name, which is the port path: `3-6.3` for a device, `usb3` for a root hub.
    fn kernel_name(&self) -> &str;
    /// The value of a udev property (as `udevadm info` prints it), if the device has it.
    fn property(&self, name: &str) -> Option<&str>;
    /// Whether the device carries this udev tag (any tag ever set: `TAGS`).
    fn has_tag(&self, tag: &str) -> bool;
    /// Whether the device carries this udev tag now (`CURRENT_TAGS`).
    fn has_current_tag(&self, tag: &str) -> bool;
    /// Whether the device is a hub (`bDeviceClass` 09), root hubs included. Hubs are never attached.
    fn is_hub(&self) -> bool;
}
