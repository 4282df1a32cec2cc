//! Why a device does not match: a value that renders as one short sentence.

use std::fmt;

use crate::{Interface, InterfaceCriteria};

/// The first criterion of a matcher that a device fails.
///
/// ```
/// use hotplug_match::Mismatch;
///
/// let mismatch = Mismatch::VendorId { expected: 0x046d, actual: 0x1050 };
/// assert_eq!(mismatch.to_string(), "vendor-id 1050 != 046d");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The device is a hub; hubs are never matched.
    Hub,
    /// The bus number differs.
    Bus {
        /// The matcher's value.
        expected: u16,
        /// The device's value.
        actual: u16,
    },
    /// The device number differs.
    Device {
        /// The matcher's value.
        expected: u16,
        /// The device's value.
        actual: u16,
    },
    /// The vendor id differs.
    VendorId {
        /// The matcher's value.
        expected: u16,
        /// The device's value.
        actual: u16,
    },
    /// The product id differs.
    ProductId {
        /// The matcher's value.
        expected: u16,
        /// The device's value.
        actual: u16,
    },
    /// The device class (`bDeviceClass`) differs.
    DeviceClass {
        /// The matcher's value.
        expected: u8,
        /// The device's value.
        actual: u8,
    },
    /// The device subclass (`bDeviceSubClass`) differs.
    DeviceSubclass {
        /// The matcher's value.
        expected: u8,
        /// The device's value.
        actual: u8,
    },
    /// The device protocol (`bDeviceProtocol`) differs.
    DeviceProtocol {
        /// The matcher's value.
        expected: u8,
        /// The device's value.
        actual: u8,
    },
    /// No interface of the active configuration has every value of the interface criteria.
    NoInterface {
        /// The matcher's interface criteria.
        expected: InterfaceCriteria,
        /// The device's interfaces.
        actual: Vec<Interface>,
    },
    /// The device sits on another port.
    Port {
        /// The matcher's port, as written (`3-6.*`).
        expected: String,
        /// The device's kernel name.
        actual: String,
    },
    /// The device has no such udev property.
    PropertyMissing {
        /// The property name.
        name: String,
    },
    /// The property has another value than `equals`.
    PropertyDiffers {
        /// The property name.
        name: String,
        /// The matcher's value.
        expected: String,
        /// The device's value.
        actual: String,
    },
    /// The property's value contains no match of `pattern`.
    PatternNotFound {
        /// The property name.
        name: String,
        /// The matcher's regular expression.
        pattern: String,
        /// The device's value.
        actual: String,
    },
    /// A tag of `tags` is missing.
    TagMissing {
        /// The tag.
        tag: String,
    },
    /// A tag of `current-tags` is not set now.
    CurrentTagMissing {
        /// The tag.
        tag: String,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Hub => f.write_str("device is a hub"),
            Mismatch::Bus { expected, actual } => write!(f, "bus {actual} != {expected}"),
            Mismatch::Device { expected, actual } => write!(f, "device {actual} != {expected}"),
            Mismatch::VendorId { expected, actual } => {
                write!(f, "vendor-id {actual:04x} != {expected:04x}")
            }
            Mismatch::ProductId { expected, actual } => {
                write!(f, "product-id {actual:04x} != {expected:04x}")
            }
            Mismatch::DeviceClass { expected, actual } => {
                write!(f, "device-class {actual:02x} != {expected:02x}")
            }
            Mismatch::DeviceSubclass { expected, actual } => {
                write!(f, "device-subclass {actual:02x} != {expected:02x}")
            }
            Mismatch::DeviceProtocol { expected, actual } => {
                write!(f, "device-protocol {actual:02x} != {expected:02x}")
            }
            Mismatch::NoInterface { expected, actual } if actual.is_empty() => write!(
                f,
                "no interface with {expected} (the device has no interfaces)"
            ),
            Mismatch::NoInterface { expected, actual } => {
                write!(f, "no interface with {expected} (interfaces: ")?;
                for (index, interface) in actual.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{interface}")?;
                }
                f.write_str(")")
            }
            Mismatch::Port { expected, actual } => match expected.strip_suffix(".*") {
                Some(port) => write!(f, "port {actual} is neither {port} nor behind it"),
                None => write!(f, "port {actual} != {expected}"),
            },
            Mismatch::PropertyMissing { name } => write!(f, "{name} is not set"),
            Mismatch::PropertyDiffers {
                name,
                expected,
                actual,
            } => write!(f, "{name} is {actual:?}, expected {expected:?}"),
            Mismatch::PatternNotFound {
                name,
                pattern,
                actual,
            } => write!(f, "{name} is {actual:?}, which does not match {pattern:?}"),
            Mismatch::TagMissing { tag } => write!(f, "tag {tag:?} missing"),
            Mismatch::CurrentTagMissing { tag } => write!(f, "current tag {tag:?} missing"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences() {
        let cases = [
            (Mismatch::Hub, "device is a hub"),
            (
                Mismatch::PropertyDiffers {
                    name: "ID_USB_SERIAL_SHORT".into(),
                    expected: "Y2".into(),
                    actual: "X1".into(),
                },
                r#"ID_USB_SERIAL_SHORT is "X1", expected "Y2""#,
            ),
            (
                Mismatch::VendorId {
                    expected: 0x046d,
                    actual: 0x1050,
                },
                "vendor-id 1050 != 046d",
            ),
            (
                Mismatch::TagMissing {
                    tag: "uaccess".into(),
                },
                r#"tag "uaccess" missing"#,
            ),
            (
                Mismatch::PropertyMissing {
                    name: "ID_SERIAL".into(),
                },
                "ID_SERIAL is not set",
            ),
            (
                Mismatch::PatternNotFound {
                    name: "ID_MODEL".into(),
                    pattern: "^C2".into(),
                    actual: "0825".into(),
                },
                r#"ID_MODEL is "0825", which does not match "^C2""#,
            ),
            (
                Mismatch::Port {
                    expected: "3-6.*".into(),
                    actual: "3-61".into(),
                },
                "port 3-61 is neither 3-6 nor behind it",
            ),
            (
                Mismatch::Port {
                    expected: "3-6.3".into(),
                    actual: "3-6.4".into(),
                },
                "port 3-6.4 != 3-6.3",
            ),
            (
                Mismatch::Bus {
                    expected: 3,
                    actual: 1,
                },
                "bus 1 != 3",
            ),
            (
                Mismatch::DeviceClass {
                    expected: 0x07,
                    actual: 0x00,
                },
                "device-class 00 != 07",
            ),
            (
                Mismatch::DeviceProtocol {
                    expected: 0x01,
                    actual: 0xff,
                },
                "device-protocol ff != 01",
            ),
            (
                Mismatch::NoInterface {
                    expected: InterfaceCriteria {
                        class: Some(0x07),
                        ..InterfaceCriteria::default()
                    },
                    actual: vec![
                        Interface {
                            class: 0x03,
                            subclass: 0x01,
                            protocol: 0x01,
                        },
                        Interface {
                            class: 0x03,
                            subclass: 0x00,
                            protocol: 0x00,
                        },
                    ],
                },
                "no interface with class 07 (interfaces: 03/01/01, 03/00/00)",
            ),
            (
                Mismatch::NoInterface {
                    expected: InterfaceCriteria {
                        class: Some(0x08),
                        subclass: Some(0x06),
                        protocol: Some(0x50),
                    },
                    actual: Vec::new(),
                },
                "no interface with class 08, subclass 06, protocol 50 (the device has no interfaces)",
            ),
        ];
        for (mismatch, sentence) in cases {
            assert_eq!(mismatch.to_string(), sentence);
        }
    }
}
