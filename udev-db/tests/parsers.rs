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

/// Runs `work` on a thread and waits for it at most `bound`: a liveness bound (far above the time
/// the work takes, which `docs/benchmarks.md` records) that turns a quadratic parser into a failed
/// test instead of one that runs for an hour.
fn within<T: Send + 'static>(
    bound: std::time::Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(work());
    });
    receiver
        .recv_timeout(bound)
        .unwrap_or_else(|_| panic!("not done within {bound:?}"))
}

/// Issue 10, reproduction 5: a record of a million lines (distinct properties, repeated ones,
/// removals and a million tags) parses, in time linear in its size: before, every `E:` line
/// searched the properties so far and every `G:` line the tags so far (40 000 lines took 3.8 s).
#[test]
fn a_million_line_record_parses_in_linear_time() {
    const LINES: usize = 1_000_000;
    let record = within(std::time::Duration::from_secs(60), || {
        let mut text = String::with_capacity(LINES * 16);
        for i in 0..LINES / 4 {
            text.push_str(&format!(
                "E:KEY_{i}=v{i}\nE:KEY_{}=\nE:SAME=v{i}\nG:tag{i}\n",
                i / 2
            ));
        }
        UdevRecord::parse(text.as_bytes())
    });
    // KEY_i is removed again by the line of 2i or 2i+1 when that comes; the upper half stays.
    assert_eq!(record.property("KEY_0"), None);
    assert_eq!(record.property("KEY_249999"), Some("v249999"));
    assert_eq!(record.property("SAME"), Some("v249999"));
    assert_eq!(record.properties.len(), LINES / 8 + 1);
    assert_eq!(record.tags.len(), LINES / 4);
    let uevent = within(std::time::Duration::from_secs(60), || {
        let text: String = (0..LINES)
            .map(|i| format!("K{}={i}\n", i % 500_000))
            .collect();
        Uevent::parse(text.as_bytes())
    });
    assert_eq!(uevent.properties.len(), 500_000);
    assert_eq!(uevent.get("K0"), Some("500000"));
}
