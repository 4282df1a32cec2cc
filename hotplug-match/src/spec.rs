//! The rule types as they are written in the configuration (serde), before validation.
//!
//! They describe the shape only: every field is optional and unknown keys are refused;
//! [`Matcher::new`](crate::Matcher::new) checks the values and compiles them.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// One device matcher as written: every criterion it sets must hold (AND).
///
/// ```
/// use hotplug_match::MatcherSpec;
///
/// let spec: MatcherSpec = serde_yaml::from_str(
///     "vendor-id: 0x046d\nproduct-id: '0825'\nport: 3-6.*\nudev:\n  tags: [uaccess]\n",
/// )?;
/// assert_eq!(spec.port.as_deref(), Some("3-6.*"));
/// # Ok::<(), serde_yaml::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MatcherSpec {
    /// The bus number (decimal; `"003"` as lsusb prints it is fine).
    pub bus: Option<NumberSpec>,
    /// The device number on the bus (decimal).
    pub device: Option<NumberSpec>,
    /// The vendor id: an integer (`0x046d`, `1133`) or a hex string (`"046d"`, `"0x046d"`).
    pub vendor_id: Option<NumberSpec>,
    /// The product id, written like [`MatcherSpec::vendor_id`].
    pub product_id: Option<NumberSpec>,
    /// The device class (`bDeviceClass`), 0 to 0xff, written like [`MatcherSpec::vendor_id`]:
    /// an integer (`0x07`, `7`) or a hex string (`"07"`, `07`).
    pub device_class: Option<NumberSpec>,
    /// The device subclass (`bDeviceSubClass`), written like [`MatcherSpec::device_class`].
    pub device_subclass: Option<NumberSpec>,
    /// The device protocol (`bDeviceProtocol`), written like [`MatcherSpec::device_class`].
    pub device_protocol: Option<NumberSpec>,
    /// The class of an interface (`bInterfaceClass`), written like [`MatcherSpec::device_class`].
    /// The interface criteria hold when one interface of the active configuration has every
    /// value given.
    pub interface_class: Option<NumberSpec>,
    /// The subclass of that interface (`bInterfaceSubClass`).
    pub interface_subclass: Option<NumberSpec>,
    /// The protocol of that interface (`bInterfaceProtocol`).
    pub interface_protocol: Option<NumberSpec>,
    /// The port (the kernel name, `3-6.3`), or `3-6.*` for the port and everything behind it.
    pub port: Option<String>,
    /// Criteria on the udev properties and tags.
    pub udev: Option<UdevSpec>,
}

/// The `udev:` part of a matcher.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UdevSpec {
    /// Properties that must be present with a given value.
    pub env: Option<Vec<EnvSpec>>,
    /// Tags that must all be present (`TAGS`).
    pub tags: Option<Vec<String>>,
    /// Tags that must all be set now (`CURRENT_TAGS`).
    pub current_tags: Option<Vec<String>>,
}

/// One `env:` entry: the property `name` must exist and equal `equals`, or contain a match of
/// `pattern` (exactly one of the two).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSpec {
    /// The property name (`ID_USB_SERIAL_SHORT`).
    pub name: Option<String>,
    /// The exact value.
    pub equals: Option<String>,
    /// A regular expression searched in the value (unanchored).
    pub pattern: Option<String>,
}

/// A number as written in YAML: an integer, or a string that the field interprets (hex for ids,
/// decimal for bus and device).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberSpec {
    /// A YAML integer (`0x046d`, `1133`, `0o17`).
    Integer(i128),
    /// A string, or a scalar YAML reads as a string (`046d`, `"0x046d"`, `003`).
    Text(String),
}

impl<'de> Deserialize<'de> for NumberSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NumberVisitor)
    }
}

struct NumberVisitor;

impl Visitor<'_> for NumberVisitor {
    type Value = NumberSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer or a string")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<NumberSpec, E> {
        Ok(NumberSpec::Integer(value.into()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<NumberSpec, E> {
        Ok(NumberSpec::Integer(value.into()))
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<NumberSpec, E> {
        Ok(NumberSpec::Integer(value))
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<NumberSpec, E> {
        i128::try_from(value)
            .map(NumberSpec::Integer)
            .map_err(|_| E::invalid_value(de::Unexpected::Other("a huge integer"), &self))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<NumberSpec, E> {
        Ok(NumberSpec::Text(value.to_owned()))
    }
}

impl NumberSpec {
    /// Reads a USB id: integers as they are, strings as hex with an optional `0x`.
    pub(crate) fn usb_id(&self) -> Result<u16, crate::Problem> {
        let value = self.hex(|text| crate::Problem::IdNotHex { text })?;
        u16::try_from(value).map_err(|_| crate::Problem::IdOutOfRange { value })
    }

    /// Reads a class, subclass or protocol code (0 to 0xff), written like a USB id.
    pub(crate) fn class_code(&self) -> Result<u8, crate::Problem> {
        let value = self.hex(|text| crate::Problem::ClassNotHex { text })?;
        u8::try_from(value).map_err(|_| crate::Problem::ClassOutOfRange { value })
    }

    /// The value of an integer, or of a string read as hex with an optional `0x`; a string that is
    /// not hex is the problem `not_hex` makes of its text.
    fn hex(&self, not_hex: impl FnOnce(String) -> crate::Problem) -> Result<i128, crate::Problem> {
        let text = match self {
            NumberSpec::Integer(value) => return Ok(*value),
            NumberSpec::Text(text) => text,
        };
        let digits = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .unwrap_or(text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_hex(text.clone()));
        }
        let significant = digits.trim_start_matches('0');
        if significant.is_empty() {
            return Ok(0);
        }
        i128::from_str_radix(significant, 16)
            .map_err(|_| crate::Problem::NumberTooLong { text: text.clone() })
    }

    /// Reads a decimal number within `min..=max`.
    pub(crate) fn decimal_in(&self, min: u16, max: u16) -> Result<u16, crate::Problem> {
        let value = match self {
            NumberSpec::Integer(value) => *value,
            NumberSpec::Text(text) => {
                if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(crate::Problem::NumberNotDecimal { text: text.clone() });
                }
                let significant = text.trim_start_matches('0');
                if significant.is_empty() {
                    0
                } else {
                    significant
                        .parse()
                        .map_err(|_| crate::Problem::NumberTooLong { text: text.clone() })?
                }
            }
        };
        match u16::try_from(value) {
            Ok(number) if (min..=max).contains(&number) => Ok(number),
            _ => Err(crate::Problem::NumberOutOfRange { value, min, max }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Problem;

    fn id(yaml: &str) -> Result<u16, Problem> {
        let spec: NumberSpec = serde_yaml::from_str(yaml).expect("a number or a string");
        spec.usb_id()
    }

    /// serde_yaml 0.9 reads `0x046d` as an integer and `046d`, `0825` (leading zero) as strings,
    /// which are hex for ids: every way of writing 0x046d or 0x0825 gives the same id.
    #[test]
    fn ids_written_every_way() {
        assert_eq!(
            serde_yaml::from_str::<NumberSpec>("0x046d").expect("int"),
            NumberSpec::Integer(0x046d)
        );
        for written in [
            "0x046d",
            "1133",
            "046d",
            "'046d'",
            "\"0x046d\"",
            "0X046D",
            "0o2155",
        ] {
            assert_eq!(id(written), Ok(0x046d), "{written}");
        }
        assert_eq!(id("0825"), Ok(0x0825), "leading zero: a string, so hex");
        assert_eq!(id("'0000000000ffff'"), Ok(0xffff));
        assert_eq!(id("0xffff"), Ok(0xffff));
        assert_eq!(id("0"), Ok(0));
    }

    #[test]
    fn ids_out_of_range_or_not_hex() {
        assert_eq!(id("0x10000"), Err(Problem::IdOutOfRange { value: 0x10000 }));
        assert_eq!(id("'1ffff'"), Err(Problem::IdOutOfRange { value: 0x1ffff }));
        assert_eq!(id("-1"), Err(Problem::IdOutOfRange { value: -1 }));
        assert_eq!(
            id("'ffffffffffffffffffffffffffff'"),
            Err(Problem::IdOutOfRange {
                value: 0xffffffffffffffffffffffffffff
            })
        );
        let huge = "f".repeat(40);
        assert_eq!(
            id(&format!("'{huge}'")),
            Err(Problem::NumberTooLong { text: huge })
        );
        for bad in ["xyz", "''", "'0x'", "'+12'", "'12 '"] {
            assert!(matches!(id(bad), Err(Problem::IdNotHex { .. })), "{bad}");
        }
        assert!(serde_yaml::from_str::<NumberSpec>("1.5").is_err());
        assert!(serde_yaml::from_str::<NumberSpec>("[1]").is_err());
    }

    #[test]
    fn class_codes_are_bytes_written_like_ids() {
        let class = |yaml: &str| {
            serde_yaml::from_str::<NumberSpec>(yaml)
                .expect("a number or a string")
                .class_code()
        };
        for (written, value) in [
            ("0x07", 7),
            ("7", 7),
            ("07", 7),
            ("'0e'", 0x0e),
            ("0e", 0x0e),
            ("'0xff'", 0xff),
            ("255", 0xff),
            ("0", 0),
            ("'00'", 0),
        ] {
            assert_eq!(class(written), Ok(value), "{written}");
        }
        assert_eq!(
            class("0x100"),
            Err(Problem::ClassOutOfRange { value: 0x100 })
        );
        assert_eq!(class("-1"), Err(Problem::ClassOutOfRange { value: -1 }));
        assert_eq!(
            class("'1ff'"),
            Err(Problem::ClassOutOfRange { value: 0x1ff })
        );
        assert_eq!(
            class("'hid'"),
            Err(Problem::ClassNotHex { text: "hid".into() })
        );
    }

    #[test]
    fn bus_and_device_numbers_are_decimal() {
        let read = |yaml: &str| {
            serde_yaml::from_str::<NumberSpec>(yaml)
                .expect("parses")
                .decimal_in(1, 127)
        };
        assert_eq!(read("3"), Ok(3));
        assert_eq!(read("003"), Ok(3), "as lsusb prints it");
        assert_eq!(read("'010'"), Ok(10), "decimal, not octal");
        assert_eq!(
            read("128"),
            Err(Problem::NumberOutOfRange {
                value: 128,
                min: 1,
                max: 127
            })
        );
        assert_eq!(
            read("0"),
            Err(Problem::NumberOutOfRange {
                value: 0,
                min: 1,
                max: 127
            })
        );
        assert!(matches!(
            read("'3a'"),
            Err(Problem::NumberNotDecimal { .. })
        ));
        let huge = "9".repeat(50);
        assert_eq!(
            read(&format!("'{huge}'")),
            Err(Problem::NumberTooLong { text: huge })
        );
    }
}
