//! USB interfaces as the matcher sees them, and the interface criteria of a matcher.

use std::fmt;

/// One interface of a device's active configuration: its class, subclass and protocol codes
/// (`bInterfaceClass`, `bInterfaceSubClass`, `bInterfaceProtocol`).
///
/// It renders as `lsusb` and udev's `ID_USB_INTERFACES` write codes: two lower-case hex digits
/// each, here separated by `/`.
///
/// ```
/// use hotplug_match::Interface;
///
/// let keyboard = Interface { class: 0x03, subclass: 0x01, protocol: 0x01 };
/// assert_eq!(keyboard.to_string(), "03/01/01");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interface {
    /// `bInterfaceClass` (`0x08`: mass storage, `0x07`: printer, `0x0e`: video).
    pub class: u8,
    /// `bInterfaceSubClass`.
    pub subclass: u8,
    /// `bInterfaceProtocol`.
    pub protocol: u8,
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02x}/{:02x}/{:02x}",
            self.class, self.subclass, self.protocol
        )
    }
}

/// The interface criteria of a matcher (`interface-class`, `interface-subclass`,
/// `interface-protocol`): they hold when one interface has every value given.
///
/// ```
/// use hotplug_match::{Interface, InterfaceCriteria};
///
/// let mass_storage = InterfaceCriteria { class: Some(0x08), subclass: Some(0x06), protocol: None };
/// assert!(mass_storage.holds(&Interface { class: 0x08, subclass: 0x06, protocol: 0x50 }));
/// assert!(!mass_storage.holds(&Interface { class: 0x08, subclass: 0x01, protocol: 0x50 }));
/// assert_eq!(mass_storage.to_string(), "class 08, subclass 06");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct InterfaceCriteria {
    /// The class the interface must have, if any.
    pub class: Option<u8>,
    /// The subclass the interface must have, if any.
    pub subclass: Option<u8>,
    /// The protocol the interface must have, if any.
    pub protocol: Option<u8>,
}

impl InterfaceCriteria {
    /// Whether no value is given (such criteria are left out of a matcher).
    pub fn is_empty(&self) -> bool {
        self.class.is_none() && self.subclass.is_none() && self.protocol.is_none()
    }

    /// Whether `interface` has every value given.
    pub fn holds(&self, interface: &Interface) -> bool {
        let same = |wanted: Option<u8>, actual: u8| wanted.is_none_or(|wanted| wanted == actual);
        same(self.class, interface.class)
            && same(self.subclass, interface.subclass)
            && same(self.protocol, interface.protocol)
    }

    /// Whether one of `interfaces` has every value given.
    pub fn holds_for_any(&self, interfaces: &[Interface]) -> bool {
        interfaces.iter().any(|interface| self.holds(interface))
    }
}

impl fmt::Display for InterfaceCriteria {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = [
            ("class", self.class),
            ("subclass", self.subclass),
            ("protocol", self.protocol),
        ];
        let mut first = true;
        for (name, value) in parts {
            if let Some(value) = value {
                if !first {
                    f.write_str(", ")?;
                }
                write!(f, "{name} {value:02x}")?;
                first = false;
            }
        }
        Ok(())
    }
}
