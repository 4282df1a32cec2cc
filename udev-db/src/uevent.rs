//! The sysfs `uevent` file.

use crate::{lines, Properties};

/// The `KEY=value` lines of a sysfs `uevent` file, in file order.
///
/// For a USB device the kernel writes MAJOR, MINOR, DEVNAME (relative to `/dev`), DEVTYPE, DRIVER,
/// PRODUCT, TYPE, BUSNUM and DEVNUM. Lines without `=` or with an empty key are skipped; a repeated
/// key keeps its first place and takes the last value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uevent {
    /// The keys and values.
    pub properties: Properties,
}

impl Uevent {
    /// Parses a uevent file. Never fails.
    pub fn parse(bytes: &[u8]) -> Uevent {
        let mut properties = Properties::new();
        let text = String::from_utf8_lossy(bytes);
        for line in lines(&text) {
            if let Some((key, value)) = line.split_once('=') {
                if !key.is_empty() {
                    properties.set(key, value);
                }
            }
        }
        Uevent { properties }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.properties.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &[u8] = b"MAJOR=189\nMINOR=897\nDEVNAME=bus/usb/008/002\nDEVTYPE=usb_device\n\
        DRIVER=usb\nPRODUCT=8087/b40/1234\nTYPE=9/0/3\nBUSNUM=008\nDEVNUM=002\n";

    #[test]
    fn reads_a_real_usb_device_uevent_in_order() {
        let uevent = Uevent::parse(REAL);
        let keys: Vec<_> = uevent.properties.iter().map(|(key, _)| key).collect();
        assert_eq!(
            keys,
            [
                "MAJOR", "MINOR", "DEVNAME", "DEVTYPE", "DRIVER", "PRODUCT", "TYPE", "BUSNUM",
                "DEVNUM"
            ]
        );
        assert_eq!(uevent.get("PRODUCT"), Some("8087/b40/1234"));
        assert_eq!(uevent.get("DEVNUM"), Some("002"));
    }

    #[test]
    fn malformed_lines_empty_values_and_no_trailing_newline() {
        let uevent = Uevent::parse(b"no equals here\n=value\nEMPTY=\nX=a=b:c\nLAST=caf\xc3\xa9");
        assert_eq!(
            uevent.properties.iter().collect::<Vec<_>>(),
            [("X", "a=b:c"), ("LAST", "café")]
        );
    }
}
