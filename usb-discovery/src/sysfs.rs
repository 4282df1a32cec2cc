//! Discovery from sysfs and the udev database under a root path.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use udev_db::{UdevDatabase, UdevRecord, Uevent};

use crate::{Discovery, Error, Scan, Unreadable, UsbDevice};

/// Reads USB devices from `<root>/sys/bus/usb/devices` and `<root>/run/udev/data`.
#[derive(Debug, Clone)]
pub struct SysfsDiscovery {
    sys: PathBuf,
    bus_devices: PathBuf,
    udev: UdevDatabase,
}

impl SysfsDiscovery {
    /// Discovery on the system whose file tree starts at `root` (`/` on a host).
    pub fn new(root: &Path) -> SysfsDiscovery {
        SysfsDiscovery {
            sys: root.join("sys"),
            bus_devices: root.join("sys/bus/usb/devices"),
            udev: UdevDatabase::new(root),
        }
    }

    /// Reads the device `sys/bus/usb/devices/<kernel_name>`; `None` when it is not a `usb_device`
    /// (an interface).
    pub fn read_device(&self, kernel_name: &str) -> Result<Option<UsbDevice>, Error> {
        let sys = canonical(&self.sys)?;
        self.read_device_in(&sys, kernel_name)
    }

    fn read_device_in(&self, sys: &Path, kernel_name: &str) -> Result<Option<UsbDevice>, Error> {
        let dir = canonical(&self.bus_devices.join(kernel_name))?;
        let uevent_path = dir.join("uevent");
        let uevent = Uevent::parse(&read_bytes(&uevent_path)?);
        if uevent.get("DEVTYPE") != Some("usb_device") {
            return Ok(None);
        }
        let devpath = match dir.strip_prefix(sys) {
            Ok(relative) => format!("/{}", relative.display()),
            Err(_) => {
                return Err(Error::BadValue {
                    path: self.bus_devices.join(kernel_name),
                    reason: format!("links to {}, outside {}", dir.display(), sys.display()),
                })
            }
        };
        let attribute = |name: &str| read_attribute(&dir.join(name));
        let number = |name: &str, radix: u32| parse_number(&dir.join(name), radix);
        let (major, minor) = parse_dev(&dir.join("dev"))?;
        let record = self.udev.char_device(major, minor)?;
        let device = UsbDevice {
            bus: number("busnum", 10)?,
            device: number("devnum", 10)?,
            vendor_id: number("idVendor", 16)?,
            product_id: number("idProduct", 16)?,
            device_class: u8::try_from(number("bDeviceClass", 16)?).map_err(|_| {
                Error::BadValue {
                    path: dir.join("bDeviceClass"),
                    reason: "not a byte".to_owned(),
                }
            })?,
            kernel_name: kernel_name.to_owned(),
            manufacturer: optional(attribute("manufacturer"))?,
            product: optional(attribute("product"))?,
            serial: optional(attribute("serial"))?,
            properties: udevadm_properties(&devpath, &uevent, record.as_ref()),
            tags: record.iter().flat_map(|r| r.tags.iter().cloned()).collect(),
            current_tags: record
                .iter()
                .flat_map(|r| r.current_tags().iter().cloned())
                .collect::<BTreeSet<_>>(),
            initialized: record.is_some(),
            devpath,
        };
        Ok(Some(device))
    }
}

impl Discovery for SysfsDiscovery {
    fn scan_all(&self) -> Result<Scan, Error> {
        let list_error = |source| Error::ListDevices {
            path: self.bus_devices.clone(),
            source,
        };
        let entries = std::fs::read_dir(&self.bus_devices).map_err(list_error)?;
        let sys = canonical(&self.sys)?;
        let mut scan = Scan::default();
        for entry in entries {
            let name = entry.map_err(list_error)?.file_name();
            let name = name.to_string_lossy();
            // Interfaces (`3-6.3:1.0`) are never devices; skip them without reading anything.
            if name.contains(':') {
                continue;
            }
            match self.read_device_in(&sys, &name) {
                Ok(Some(device)) => scan.devices.push(device),
                Ok(None) => {}
                Err(error) if error.is_vanished() => {
                    log::debug!("USB device {name} went away during the scan: {error}");
                }
                Err(error) => scan.unreadable.push(Unreadable {
                    kernel_name: name.into_owned(),
                    problem: chain(&error),
                }),
            }
        }
        scan.devices
            .sort_by_key(|device| (device.bus, device.device));
        scan.unreadable.sort();
        Ok(scan)
    }
}

/// The property set `udevadm info --query=all` prints, in the order udev builds it (a later key
/// replaces an earlier one): DEVPATH, SUBSYSTEM, the uevent keys with DEVNAME made absolute and
/// MAJOR/MINOR last, USEC_INITIALIZED, the database's `E:` lines, DEVLINKS.
fn udevadm_properties(
    devpath: &str,
    uevent: &Uevent,
    record: Option<&UdevRecord>,
) -> BTreeMap<String, String> {
    let mut properties = BTreeMap::new();
    let mut set = |key: &str, value: String| {
        properties.insert(key.to_owned(), value);
    };
    set("DEVPATH", devpath.to_owned());
    set("SUBSYSTEM", "usb".to_owned());
    for (key, value) in uevent.properties.iter() {
        match key {
            "DEVNAME" if !value.starts_with('/') => set(key, format!("/dev/{value}")),
            _ => set(key, value.to_owned()),
        }
    }
    let Some(record) = record else {
        return properties;
    };
    if let Some(usec) = record.usec_initialized {
        set("USEC_INITIALIZED", usec.to_string());
    }
    for (key, value) in record.properties.iter() {
        set(key, value.to_owned());
    }
    if !record.devlinks.is_empty() {
        let links: Vec<String> = record
            .devlinks
            .iter()
            .map(|link| format!("/dev/{link}"))
            .collect();
        set("DEVLINKS", links.join(" "));
    }
    properties
}

fn canonical(path: &Path) -> Result<PathBuf, Error> {
    std::fs::canonicalize(path).map_err(|source| Error::ReadFile {
        path: path.to_owned(),
        source,
    })
}

/// A device's file, at most [`udev_db::MAX_FILE_LEN`] bytes (sysfs attributes and `uevent` hold a
/// page at most; a bigger file makes the device unreadable rather than being read whole).
fn read_bytes(path: &Path) -> Result<Vec<u8>, Error> {
    udev_db::read_limited(path, udev_db::MAX_FILE_LEN).map_err(|source| Error::ReadFile {
        path: path.to_owned(),
        source,
    })
}

/// A sysfs text attribute with exactly one trailing newline removed (other whitespace is part of the
/// value: hubs pad their strings with spaces).
fn read_attribute(path: &Path) -> Result<String, Error> {
    let bytes = read_bytes(path)?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(text.strip_suffix('\n').unwrap_or(&text).to_owned())
}

/// An attribute that a device may not have: absent is `None`.
fn optional(value: Result<String, Error>) -> Result<Option<String>, Error> {
    match value {
        Ok(value) => Ok(Some(value)),
        Err(Error::ReadFile { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

fn parse_number(path: &Path, radix: u32) -> Result<u16, Error> {
    let value = read_attribute(path)?;
    u16::from_str_radix(value.trim(), radix).map_err(|_| Error::BadValue {
        path: path.to_owned(),
        reason: format!(
            "{value:?} is not a {} number of 16 bits",
            if radix == 16 {
                "hexadecimal"
            } else {
                "decimal"
            }
        ),
    })
}

fn parse_dev(path: &Path) -> Result<(u32, u32), Error> {
    let value = read_attribute(path)?;
    value
        .trim()
        .split_once(':')
        .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)))
        .ok_or_else(|| Error::BadValue {
            path: path.to_owned(),
            reason: format!("{value:?} is not MAJOR:MINOR"),
        })
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
