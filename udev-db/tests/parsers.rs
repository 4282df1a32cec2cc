//! The parsers on real files and on arbitrary input.

use proptest::prelude::*;
use udev_db::{UdevRecord, Uevent};

/// The 21 real sysfs uevent files (recorded by fwupd) parse into the kernel's nine keys, in the
/// kernel's order, and their numbers agree with each other as the kernel computes them.
#[test]
fn real_uevent_files_parse_into_the_kernel_keys() {
    let samples = fixtures::real_devices_dir().join("uevent-samples");
    let mut count = 0;
    for entry in std::fs::read_dir(&samples).expect("samples") {
        let path = entry.expect("entry").path().join("uevent.txt");
        let uevent = Uevent::parse(&std::fs::read(&path).expect("readable"));
        let keys: Vec<&str> = uevent.properties.iter().map(|(key, _)| key).collect();
        assert_eq!(
            keys,
            [
                "MAJOR", "MINOR", "DEVNAME", "DEVTYPE", "DRIVER", "PRODUCT", "TYPE", "BUSNUM",
                "DEVNUM"
            ],
            "{}",
            path.display()
        );
        let number =
            |key: &str| -> u32 { uevent.get(key).and_then(|v| v.parse().ok()).expect(key) };
        let (bus, device) = (number("BUSNUM"), number("DEVNUM"));
        assert_eq!(
            number("MINOR"),
            (bus - 1) * 128 + (device - 1),
            "{}",
            path.display()
        );
        assert_eq!(
            uevent.get("DEVNAME"),
            Some(format!("bus/usb/{bus:03}/{device:03}").as_str()),
            "{}",
            path.display()
        );
        count += 1;
    }
    assert_eq!(count, 21);
}

proptest! {
    /// Invariant: any bytes parse without a panic, and every property kept has a non-empty name and
    /// a non-empty value (an empty value removes a property).
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let record = UdevRecord::parse(&bytes);
        for (name, value) in record.properties.iter() {
            prop_assert!(!name.is_empty() && !value.is_empty());
        }
        let uevent = Uevent::parse(&bytes);
        for (name, _) in uevent.properties.iter() {
            prop_assert!(!name.is_empty());
        }
    }

    /// Invariant: a record made of well-formed `E:` lines gives back the last value of each name.
    #[test]
    fn well_formed_properties_round_trip(
        entries in proptest::collection::vec(("[A-Z_]{1,12}", "[ -~]{1,20}"), 0..20)
    ) {
        let text: String = entries.iter().map(|(k, v)| format!("E:{k}={v}\n")).collect();
        let record = UdevRecord::parse(text.as_bytes());
        for (name, _) in &entries {
            let last = entries.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
            prop_assert_eq!(record.property(name), last);
        }
    }
}
