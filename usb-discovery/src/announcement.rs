//! What the kernel's own `add` uevent of a USB device says of it.
//!
//! The kernel puts in the message what the device's `uevent` file has (`BUSNUM`, `DEVNUM`,
//! `PRODUCT`, `TYPE`, `MAJOR`, `MINOR`, `DEVNAME`, `DEVTYPE`), read from the device descriptor it
//! fetched before it announced the device. Taken from the message, those facts cost no read of
//! sysfs at all on the event, which matters on the one moment the kernel is busiest with the
//! device (configuring it) and every read competes with that work for the CPU.

use std::collections::BTreeMap;

use crate::{Error, UsbUevent};

/// The facts of a new USB device, as the kernel's `add` uevent gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The kernel name (`3-6.3`): the last component of the devpath.
    pub kernel_name: String,
    /// `DEVPATH`: the sysfs path below `/sys`.
    pub devpath: String,
    /// `BUSNUM`.
    pub bus: u16,
    /// `DEVNUM`.
    pub device: u16,
    /// The vendor id, from `PRODUCT` (`vendor/product/bcdDevice`, in hex without leading zeros).
    pub vendor_id: u16,
    /// The product id, from `PRODUCT`.
    pub product_id: u16,
    /// The device class, subclass and protocol, from `TYPE` (`class/subclass/protocol`, decimal).
    pub device_class: [u8; 3],
    /// `MAJOR` and `MINOR` of the device's character device (`/dev/bus/usb/BBB/DDD`).
    pub dev: (u32, u32),
    /// The message's keys that the device's `uevent` file has too: every key but `ACTION`,
    /// `DEVPATH`, `SUBSYSTEM` and `SEQNUM`.
    pub uevent_keys: BTreeMap<String, String>,
}

/// The keys of the message that are the event's, not the device's.
const EVENT_KEYS: [&str; 4] = ["ACTION", "DEVPATH", "SUBSYSTEM", "SEQNUM"];

impl Announcement {
    /// The announcement in `event` (a `usb_device` event). An error names the key that is missing
    /// or does not parse, and its value.
    ///
    /// ```
    /// use usb_discovery::{Announcement, UeventMessage};
    ///
    /// let bytes = b"add@/devices/pci0000:00/0000:00:14.0/usb3/3-6\0ACTION=add\0\
    ///     DEVPATH=/devices/pci0000:00/0000:00:14.0/usb3/3-6\0SUBSYSTEM=usb\0MAJOR=189\0\
    ///     MINOR=260\0DEVNAME=bus/usb/003/005\0DEVTYPE=usb_device\0PRODUCT=46d/825/12\0\
    ///     TYPE=239/2/1\0BUSNUM=003\0DEVNUM=005\0SEQNUM=4711\0";
    /// let event = UeventMessage::parse(bytes).unwrap().usb_device().unwrap();
    /// let announced = Announcement::from_uevent(&event)?;
    /// assert_eq!((announced.bus, announced.device), (3, 5));
    /// assert_eq!((announced.vendor_id, announced.product_id), (0x046d, 0x0825));
    /// assert_eq!(announced.device_class, [0xef, 2, 1]);
    /// assert_eq!(announced.dev, (189, 260));
    /// assert!(!announced.uevent_keys.contains_key("SEQNUM"));
    /// # Ok::<(), usb_discovery::Error>(())
    /// ```
    pub fn from_uevent(event: &UsbUevent) -> Result<Announcement, Error> {
        let bad = |reason: String| Error::BadUevent {
            devpath: event.devpath.clone(),
            reason,
        };
        let value = |key: &str| event.property(key).ok_or_else(|| bad(format!("no {key}")));
        let fields = |key: &str, count: usize| -> Result<Vec<&str>, Error> {
            let text = value(key)?;
            let fields: Vec<&str> = text.split('/').collect();
            if fields.len() != count {
                return Err(bad(format!("{key}={text:?} has not {count} fields")));
            }
            Ok(fields)
        };
        let product = fields("PRODUCT", 3)?;
        let hex = |text: &str| {
            u16::from_str_radix(text, 16)
                .map_err(|_| bad(format!("PRODUCT: {text:?} is not a 16-bit hex number")))
        };
        let class = fields("TYPE", 3)?;
        let class_code = |text: &str| decimal::<u8>("TYPE", text).map_err(bad);
        let number = |key: &str| decimal::<u16>(key, value(key)?).map_err(bad);
        let dev_number = |key: &str| decimal::<u32>(key, value(key)?).map_err(bad);
        Ok(Announcement {
            kernel_name: event.kernel_name.clone(),
            devpath: event.devpath.clone(),
            bus: number("BUSNUM")?,
            device: number("DEVNUM")?,
            vendor_id: hex(product[0])?,
            product_id: hex(product[1])?,
            device_class: [
                class_code(class[0])?,
                class_code(class[1])?,
                class_code(class[2])?,
            ],
            dev: (dev_number("MAJOR")?, dev_number("MINOR")?),
            uevent_keys: event
                .properties
                .iter()
                .filter(|(key, _)| !EVENT_KEYS.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        })
    }
}

/// `text` (the value of `key`) as a decimal number of type `T`, or why not.
fn decimal<T: std::str::FromStr>(key: &str, text: &str) -> Result<T, String> {
    text.parse().map_err(|_| {
        format!(
            "{key}: {text:?} is not a decimal number of {} bits",
            std::mem::size_of::<T>() * 8
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UeventMessage;

    /// The kernel's `add` of a device, with `replace` applied to its property block.
    fn event(replace: (&str, &str)) -> UsbUevent {
        let properties = "ACTION=add\0DEVPATH=/devices/pci0000:00/0000:00:0a.0/usb1/1-4\0\
            SUBSYSTEM=usb\0MAJOR=189\0MINOR=21\0DEVNAME=bus/usb/001/022\0DEVTYPE=usb_device\0\
            PRODUCT=627/1/0\0TYPE=0/0/0\0BUSNUM=001\0DEVNUM=022\0SEQNUM=2231\0"
            .replace(replace.0, replace.1);
        let message = format!("add@/devices/pci0000:00/0000:00:0a.0/usb1/1-4\0{properties}");
        UeventMessage::parse(message.as_bytes())
            .expect("a well-formed message")
            .usb_device()
            .expect("a usb_device event")
    }

    #[test]
    fn reads_the_facts_of_a_real_kernel_add() {
        let announced = Announcement::from_uevent(&event(("", ""))).unwrap();
        assert_eq!(announced.kernel_name, "1-4");
        assert_eq!(
            announced.devpath,
            "/devices/pci0000:00/0000:00:0a.0/usb1/1-4"
        );
        assert_eq!((announced.bus, announced.device), (1, 22));
        assert_eq!(
            (announced.vendor_id, announced.product_id),
            (0x0627, 0x0001)
        );
        assert_eq!(announced.device_class, [0, 0, 0]);
        assert_eq!(announced.dev, (189, 21));
        let keys: Vec<&str> = announced.uevent_keys.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["BUSNUM", "DEVNAME", "DEVNUM", "DEVTYPE", "MAJOR", "MINOR", "PRODUCT", "TYPE"]
        );
    }

    #[test]
    fn a_missing_or_bad_key_is_named_with_its_value() {
        let cases = [
            (("BUSNUM=001\0", ""), "no BUSNUM"),
            (
                ("DEVNUM=022", "DEVNUM=70000"),
                "DEVNUM: \"70000\" is not a decimal number of 16 bits",
            ),
            (
                ("PRODUCT=627/1/0", "PRODUCT=627/1"),
                "PRODUCT=\"627/1\" has not 3 fields",
            ),
            (
                ("PRODUCT=627/1/0", "PRODUCT=6z7/1/0"),
                "PRODUCT: \"6z7\" is not a 16-bit hex number",
            ),
            (
                ("PRODUCT=627/1/0", "PRODUCT=10627/1/0"),
                "PRODUCT: \"10627\" is not a 16-bit hex number",
            ),
            (
                ("TYPE=0/0/0", "TYPE=0/256/0"),
                "TYPE: \"256\" is not a decimal number of 8 bits",
            ),
            (
                ("MINOR=21", "MINOR=-1"),
                "MINOR: \"-1\" is not a decimal number of 32 bits",
            ),
        ];
        for (replace, reason) in cases {
            let error = Announcement::from_uevent(&event(replace)).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "the kernel's uevent of /devices/pci0000:00/0000:00:0a.0/usb1/1-4: {reason}"
                ),
                "{replace:?}"
            );
        }
    }
}
