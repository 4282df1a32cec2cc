//! The sysfs `descriptors` file of a USB device: its device descriptor (18 bytes) followed by the
//! full descriptor set of every configuration (a configuration descriptor, then its interface,
//! endpoint and class-specific descriptors, `wTotalLength` bytes in all). The kernel fills it in
//! before it announces the device and answers it without taking the device's lock (Linux 4.6 and
//! later), so it can be read on the kernel's `add` uevent, while the kernel is still configuring
//! the device and the interface folders do not exist yet.

/// The mass-storage class (`08`), as a device or an interface class.
pub const MASS_STORAGE_CLASS: u8 = 0x08;

const DEVICE_DESCRIPTOR: u8 = 1;
const INTERFACE_DESCRIPTOR: u8 = 4;
const DEVICE_DESCRIPTOR_LEN: usize = 18;
const INTERFACE_DESCRIPTOR_LEN: usize = 9;

/// The device class and the class of every interface descriptor of every configuration and
/// alternate setting in `bytes`, in order; an error says what is wrong and at which byte. A
/// descriptor set that ends inside a descriptor is an error (the file is never cut short).
///
/// ```
/// // A device descriptor (class 00), one configuration with one HID interface (class 03).
/// let mut bytes = vec![18, 1, 0x00, 0x02, 0x00, 0, 0, 64, 0x27, 0x06, 0x01, 0, 0, 0, 1, 2, 3, 1];
/// bytes.extend([9, 2, 18, 0, 1, 1, 0, 0xa0, 50]);
/// bytes.extend([9, 4, 0, 0, 1, 0x03, 0x01, 0x01, 0]);
/// assert_eq!(usb_discovery::announced_classes(&bytes), Ok(vec![0x00, 0x03]));
/// ```
pub fn announced_classes(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if bytes.len() < DEVICE_DESCRIPTOR_LEN
        || usize::from(bytes[0]) != DEVICE_DESCRIPTOR_LEN
        || bytes[1] != DEVICE_DESCRIPTOR
    {
        return Err("it does not start with an 18-byte device descriptor".to_owned());
    }
    let mut classes = vec![bytes[4]];
    let mut position = DEVICE_DESCRIPTOR_LEN;
    while position < bytes.len() {
        let descriptor = &bytes[position..];
        let length = usize::from(descriptor[0]);
        if length < 2 || length > descriptor.len() {
            return Err(format!(
                "a descriptor of length {length} at byte {position} (of {})",
                bytes.len()
            ));
        }
        if descriptor[1] == INTERFACE_DESCRIPTOR {
            if length < INTERFACE_DESCRIPTOR_LEN {
                return Err(format!(
                    "an interface descriptor of {length} bytes at byte {position}"
                ));
            }
            classes.push(descriptor[5]);
        }
        position += length;
    }
    Ok(classes)
}

/// The vendor id, product id and device class of the device descriptor at the start of `bytes`,
/// or `None` when they do not start with one.
pub(crate) fn descriptor_identity(bytes: &[u8]) -> Option<(u16, u16, u8)> {
    let descriptor = bytes.get(..DEVICE_DESCRIPTOR_LEN)?;
    if usize::from(descriptor[0]) != DEVICE_DESCRIPTOR_LEN || descriptor[1] != DEVICE_DESCRIPTOR {
        return None;
    }
    Some((
        u16::from_le_bytes([descriptor[8], descriptor[9]]),
        u16::from_le_bytes([descriptor[10], descriptor[11]]),
        descriptor[4],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(class: u8) -> Vec<u8> {
        vec![
            18, 1, 0, 2, class, 0, 0, 64, 0x46, 0xf4, 1, 0, 0, 1, 0, 0, 0, 1,
        ]
    }

    #[test]
    fn every_configuration_and_alternate_setting_counts() {
        let mut bytes = device(0);
        bytes.extend([9, 2, 25, 0, 1, 1, 0, 0x80, 50]);
        bytes.extend([9, 4, 0, 0, 1, 0xff, 0, 0, 0]);
        bytes.extend([7, 5, 0x81, 3, 8, 0, 10]);
        bytes.extend([9, 2, 18, 0, 1, 2, 0, 0x80, 50]);
        bytes.extend([9, 4, 0, 1, 2, 0x08, 0x06, 0x50, 0]);
        assert_eq!(announced_classes(&bytes), Ok(vec![0x00, 0xff, 0x08]));
    }

    #[test]
    fn a_device_descriptor_alone_gives_the_device_class() {
        assert_eq!(announced_classes(&device(0x09)), Ok(vec![0x09]));
    }

    #[test]
    fn a_cut_or_malformed_set_is_an_error_naming_the_byte() {
        assert!(announced_classes(&[]).is_err());
        assert!(announced_classes(&device(0)[..17]).is_err());
        let mut cut = device(0);
        cut.extend([9, 4, 0, 0]);
        assert_eq!(
            announced_classes(&cut),
            Err("a descriptor of length 9 at byte 18 (of 22)".to_owned())
        );
        let mut zero = device(0);
        zero.extend([0, 4]);
        assert!(announced_classes(&zero).unwrap_err().contains("length 0"));
        let mut short_interface = device(0);
        short_interface.extend([4, 4, 0, 0]);
        assert!(announced_classes(&short_interface)
            .unwrap_err()
            .contains("interface descriptor of 4 bytes"));
    }
}
