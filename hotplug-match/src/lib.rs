//! Pure matcher engine of libvirt-usb-hotplugd: the rule types, their validation, matching and
//! explanations. No I/O happens here.
//!
//! A device is seen through the small [`Device`] trait, which discovery (`usb-discovery`) implements
//! for the devices it finds in sysfs and the udev database, and which tests implement for devices
//! built in memory. Rules are validated once when they are built, so matching itself never fails.
//!
//! ```
//! use hotplug_match::{Device, Interface};
//!
//! /// A device built in memory, as a test would.
//! struct Webcam;
//!
//! /// A webcam's interfaces: video control, video streaming, audio control, audio streaming.
//! const INTERFACES: [Interface; 4] = [
//!     Interface { class: 0x0e, subclass: 0x01, protocol: 0x00 },
//!     Interface { class: 0x0e, subclass: 0x02, protocol: 0x00 },
//!     Interface { class: 0x01, subclass: 0x01, protocol: 0x00 },
//!     Interface { class: 0x01, subclass: 0x02, protocol: 0x00 },
//! ];
//!
//! impl Device for Webcam {
//!     fn bus(&self) -> u16 { 3 }
//!     fn device(&self) -> u16 { 5 }
//!     fn vendor_id(&self) -> u16 { 0x046d }
//!     fn product_id(&self) -> u16 { 0x0825 }
//!     fn device_class(&self) -> u8 { 0xef }
//!     fn device_subclass(&self) -> u8 { 0x02 }
//!     fn device_protocol(&self) -> u8 { 0x01 }
//!     fn interfaces(&self) -> &[Interface] { &INTERFACES }
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
//!
//! // Class criteria: the interface ones hold when one interface has every value given.
//! let video: MatcherSpec = serde_yaml::from_str("interface-class: 0e\ninterface-subclass: 2")?;
//! assert!(Matcher::new(&video)?.matches(&Webcam));
//! let printer: MatcherSpec = serde_yaml::from_str("interface-class: 07")?;
//! assert_eq!(
//!     Matcher::new(&printer)?.explain(&Webcam).expect("no printer").to_string(),
//!     "no interface with class 07 (interfaces: 0e/01/00, 0e/02/00, 01/01/00, 01/02/00)"
//! );
//!
//! // Deny rules exclude what they match: from a machine, or (at the top of the configuration)
//! // from every machine.
//! use hotplug_match::{DenyRules, MachineRules};
//!
//! let devices: Vec<MatcherSpec> = serde_yaml::from_str("- vendor-id: 0x046d")?;
//! let deny: Vec<MatcherSpec> = serde_yaml::from_str("- interface-class: 01")?;
//! let rules = MachineRules::from_specs(&devices)?.with_deny(DenyRules::from_specs(&deny)?);
//! assert!(!rules.matches(&Webcam));
//! assert_eq!(
//!     rules.explain(&Webcam).expect("denied").to_string(),
//!     "excluded by deny[0] (interface-class 01)"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod criteria;
mod deny;
mod error;
mod explain;
mod interface;
mod machine;
mod matcher;
mod path;
mod spec;

pub use deny::{Denial, DenyRules};
pub use error::{Error, Problem};
pub use explain::Mismatch;
pub use interface::{Interface, InterfaceCriteria};
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
    /// The device class (`bDeviceClass`; `0x00`: defined by each interface, `0x09`: hub,
    /// `0xef`: miscellaneous, as composite devices with interface associations give).
    fn device_class(&self) -> u8;
    /// The device subclass (`bDeviceSubClass`).
    fn device_subclass(&self) -> u8;
    /// The device protocol (`bDeviceProtocol`).
    fn device_protocol(&self) -> u8;
    /// The interfaces of the active configuration, in interface number order (empty for a device
    /// that is not configured).
    fn interfaces(&self) -> &[Interface];
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
