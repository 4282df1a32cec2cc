//! Discovery from sysfs and the udev database under a root path.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use hotplug_match::Interface;
use udev_db::{UdevDatabase, UdevRecord, Uevent};

use crate::descriptors::descriptor_identity;
use crate::host_use::HostUseReader;
use crate::{
    announced_classes, Announcement, Discovery, Error, Glance, Scan, Unreadable, UsbDevice,
    MASS_STORAGE_CLASS,
};

/// Reads USB devices from `<root>/sys/bus/usb/devices` and `<root>/run/udev/data`, and how the
/// host uses them from `<root>/sys/class/block`, `<root>/proc/self/mountinfo` and
/// `<root>/proc/swaps` (see [`HostUse`](crate::HostUse)).
#[derive(Debug, Clone)]
pub struct SysfsDiscovery {
    sys: PathBuf,
    bus_devices: PathBuf,
    udev: UdevDatabase,
    host_use: HostUseReader,
}

/// The interfaces of one device as the bus list names them: `(configuration, interface number,
/// name)`, the name being `3-6.3:1.0` (`3-0:1.0` for the root hub `usb3`).
type InterfaceNames = Vec<(u8, u8, String)>;

impl SysfsDiscovery {
    /// Discovery on the system whose file tree starts at `root` (`/` on a host).
    pub fn new(root: &Path) -> SysfsDiscovery {
        SysfsDiscovery {
            sys: root.join("sys"),
            bus_devices: root.join("sys/bus/usb/devices"),
            udev: UdevDatabase::new(root),
            host_use: HostUseReader::new(root),
        }
    }

    /// Reads the device `sys/bus/usb/devices/<kernel_name>`, with how the host uses it; `None`
    /// when it is not a `usb_device` (an interface).
    pub fn read_device(&self, kernel_name: &str) -> Result<Option<UsbDevice>, Error> {
        let sys = canonical(&self.sys)?;
        let Some(device) = self.read_device_in(&sys, kernel_name, Depth::Whole(None))? else {
            return Ok(None);
        };
        let mut devices = [device];
        self.host_use.assess(&mut devices);
        let [device] = devices;
        Ok(Some(device))
    }

    /// Reads the device `sys/bus/usb/devices/<kernel_name>` as the kernel's `add` uevent finds
    /// it, from the attributes the kernel answers without the device's lock (see [`Glance`]);
    /// `None` when it is not a `usb_device`.
    pub fn glance_at(&self, kernel_name: &str) -> Result<Option<Glance>, Error> {
        let sys = canonical(&self.sys)?;
        let Some(device) = self.read_device_in(&sys, kernel_name, Depth::Unlocked)? else {
            return Ok(None);
        };
        let may_be_storage = match self.descriptors(kernel_name) {
            Descriptors::Read(path, bytes) => storage_in(&path, &bytes),
            Descriptors::Unreadable => true,
            Descriptors::Gone => return Ok(None),
        };
        Ok(Some(Glance {
            device,
            may_be_storage,
        }))
    }

    /// A glance at the device `announcement` names, its facts taken from the kernel's message:
    /// the only reads are its `descriptors` file (whether it may be storage, and that the device
    /// there is still the one announced) and its udev database record. `None` when its folder is
    /// gone; an error when the device there now has other ids than the announced one (replaced
    /// since the event: in doubt).
    pub fn glance_announced_at(
        &self,
        announcement: &Announcement,
    ) -> Result<Option<Glance>, Error> {
        let may_be_storage = match self.descriptors(&announcement.kernel_name) {
            Descriptors::Read(path, bytes) => {
                if let Some(there) = descriptor_identity(&bytes) {
                    let announced = (
                        announcement.vendor_id,
                        announcement.product_id,
                        announcement.device_class[0],
                    );
                    if there != announced {
                        return Err(Error::BadValue {
                            path,
                            reason: format!(
                                "its device descriptor says {:04x}:{:04x} class {:02x}, the kernel's \
                                 add announced {:04x}:{:04x} class {:02x}: replaced since",
                                there.0, there.1, there.2, announced.0, announced.1, announced.2
                            ),
                        });
                    }
                }
                storage_in(&path, &bytes)
            }
            Descriptors::Unreadable => true,
            Descriptors::Gone => return Ok(None),
        };
        let (major, minor) = announcement.dev;
        let record = self.udev.char_device(major, minor)?;
        let mut uevent = Uevent::default();
        for (key, value) in &announcement.uevent_keys {
            uevent.properties.set(key, value);
        }
        let [device_class, device_subclass, device_protocol] = announcement.device_class;
        let device = UsbDevice {
            bus: announcement.bus,
            device: announcement.device,
            vendor_id: announcement.vendor_id,
            product_id: announcement.product_id,
            device_class,
            device_subclass,
            device_protocol,
            interfaces: Vec::new(),
            interfaces_announced: None,
            kernel_name: announcement.kernel_name.clone(),
            manufacturer: None,
            product: None,
            serial: None,
            properties: udevadm_properties(&announcement.devpath, &uevent, record.as_ref()),
            tags: tags_of(record.as_ref()),
            current_tags: current_tags_of(record.as_ref()),
            initialized: record.is_some(),
            devpath: announcement.devpath.clone(),
            host_use: Vec::new(),
        };
        Ok(Some(Glance {
            device,
            may_be_storage,
        }))
    }

    /// The `descriptors` file of the device `kernel_name`.
    fn descriptors(&self, kernel_name: &str) -> Descriptors {
        let folder = self.bus_devices.join(kernel_name);
        let path = folder.join("descriptors");
        match read_bytes(&path) {
            Ok(bytes) => Descriptors::Read(path, bytes),
            Err(error) if error.is_vanished() && !folder.exists() => Descriptors::Gone,
            Err(error) => {
                log::debug!("{error}: taken as storage");
                Descriptors::Unreadable
            }
        }
    }

    /// Reads one device to `depth`.
    fn read_device_in(
        &self,
        sys: &Path,
        kernel_name: &str,
        depth: Depth<'_>,
    ) -> Result<Option<UsbDevice>, Error> {
        let dir = canonical(&self.bus_devices.join(kernel_name))?;
        let uevent = match depth {
            Depth::Whole(_) => {
                let uevent = Uevent::parse(&read_bytes(&dir.join("uevent"))?);
                if uevent.get("DEVTYPE") != Some("usb_device") {
                    return Ok(None);
                }
                uevent
            }
            // `uevent` too waits for the configuration on some kernels (on the USB lab's Debian
            // 6.1 kernel a glance that read it took as long as a whole read): a glance goes by
            // the name (an interface's has a colon) and the device descriptor's files, which
            // interfaces do not have.
            Depth::Unlocked => {
                if kernel_name.contains(':') || !dir.join("idVendor").exists() {
                    return Ok(None);
                }
                Uevent::default()
            }
        };
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
        let interfaces = match depth {
            Depth::Whole(listed) => Some(interfaces_of(&dir, kernel_name, listed)?),
            Depth::Unlocked => None,
        };
        let (interfaces_announced, interfaces) = interfaces.unwrap_or_default();
        // The strings too are answered under the device's lock.
        let string = |name: &str| match depth {
            Depth::Whole(_) => optional(attribute(name)),
            Depth::Unlocked => Ok(None),
        };
        let device = UsbDevice {
            bus: number("busnum", 10)?,
            device: number("devnum", 10)?,
            vendor_id: number("idVendor", 16)?,
            product_id: number("idProduct", 16)?,
            device_class: parse_code(&dir.join("bDeviceClass"))?,
            device_subclass: parse_code(&dir.join("bDeviceSubClass"))?,
            device_protocol: parse_code(&dir.join("bDeviceProtocol"))?,
            interfaces,
            interfaces_announced,
            kernel_name: kernel_name.to_owned(),
            manufacturer: string("manufacturer")?,
            product: string("product")?,
            serial: string("serial")?,
            properties: udevadm_properties(&devpath, &uevent, record.as_ref()),
            tags: tags_of(record.as_ref()),
            current_tags: current_tags_of(record.as_ref()),
            initialized: record.is_some(),
            devpath,
            host_use: Vec::new(),
        };
        Ok(Some(device))
    }
}

/// The interface count the device's active configuration announces, and its interfaces:
/// `listed` when the bus list gave them all, else found in the device's folder `dir`.
fn interfaces_of(
    dir: &Path,
    kernel_name: &str,
    listed: Option<&InterfaceNames>,
) -> Result<(Option<u8>, Vec<Interface>), Error> {
    // Read before the interfaces are listed: the kernel answers `bNumInterfaces` under the
    // device's lock, which it holds while it configures a new device and adds its interfaces,
    // so a list made after the answer is complete. A list made before (a full scan lists the
    // bus folder first) is made again when it is short of the count.
    let announced: Option<u8> = optional(read_attribute(&dir.join("bNumInterfaces")))?
        .and_then(|count| count.trim().parse().ok());
    let found;
    let names = match listed {
        Some(names) if announced.is_none_or(|count| names.len() >= usize::from(count)) => names,
        _ => {
            found = interfaces_in(dir, kernel_name)?;
            &found
        }
    };
    Ok((announced, read_interfaces(dir, names)?))
}

/// Whether the descriptors `bytes` (read from `path`) say the device may be storage: its class or
/// an interface's is mass storage, or they do not parse (in doubt).
fn storage_in(path: &Path, bytes: &[u8]) -> bool {
    match announced_classes(bytes) {
        Ok(classes) => classes.contains(&MASS_STORAGE_CLASS),
        Err(reason) => {
            log::debug!("{}: {reason}: taken as storage", path.display());
            true
        }
    }
}

/// What reading a device's `descriptors` file gave.
enum Descriptors {
    /// Its bytes, and the file's path.
    Read(PathBuf, Vec<u8>),
    /// The device is there but its file cannot be read (or it has none): in doubt.
    Unreadable,
    /// The device is gone.
    Gone,
}

/// How much of a device to read.
#[derive(Debug, Clone, Copy)]
enum Depth<'a> {
    /// Everything, with the interfaces the bus list gave (when it did).
    Whole(Option<&'a InterfaceNames>),
    /// Only what the kernel answers without the device's lock (a [`Glance`]).
    Unlocked,
}

impl Discovery for SysfsDiscovery {
    fn look_at(&self, kernel_name: &str) -> Result<Option<UsbDevice>, Error> {
        match self.read_device(kernel_name) {
            Err(error) if error.is_vanished() => Ok(None),
            other => other,
        }
    }

    fn glance(&self, kernel_name: &str) -> Result<Option<Glance>, Error> {
        match self.glance_at(kernel_name) {
            Err(error) if error.is_vanished() => Ok(None),
            other => other,
        }
    }

    fn glance_announced(&self, announcement: &Announcement) -> Result<Option<Glance>, Error> {
        match self.glance_announced_at(announcement) {
            Err(error) if error.is_vanished() => Ok(None),
            other => other,
        }
    }

    fn scan_all(&self) -> Result<Scan, Error> {
        let list_error = |source| Error::ListDevices {
            path: self.bus_devices.clone(),
            source,
        };
        let entries = std::fs::read_dir(&self.bus_devices).map_err(list_error)?;
        let sys = canonical(&self.sys)?;
        let mut scan = Scan::default();
        let mut names = Vec::new();
        // Interfaces (`3-6.3:1.0`) are never devices; the list names them, so a device's
        // interfaces are known without listing its folder.
        let mut interfaces: BTreeMap<String, InterfaceNames> = BTreeMap::new();
        for entry in entries {
            let name = entry.map_err(list_error)?.file_name();
            let name = name.to_string_lossy().into_owned();
            match parse_interface_name(&name) {
                Some((device, configuration, number)) => interfaces
                    .entry(device)
                    .or_default()
                    .push((configuration, number, name)),
                None if name.contains(':') => {}
                None => names.push(name),
            }
        }
        let none = InterfaceNames::new();
        for name in names {
            let device_interfaces = interfaces.get(&name).unwrap_or(&none);
            match self.read_device_in(&sys, &name, Depth::Whole(Some(device_interfaces))) {
                Ok(Some(device)) => scan.devices.push(device),
                Ok(None) => {}
                Err(error) if error.is_vanished() => {
                    log::debug!("USB device {name} went away during the scan: {error}");
                }
                Err(error) => scan.unreadable.push(Unreadable {
                    kernel_name: name,
                    problem: chain(&error),
                }),
            }
        }
        self.host_use.assess(&mut scan.devices);
        scan.devices
            .sort_by_key(|device| (device.bus, device.device));
        scan.unreadable.sort();
        Ok(scan)
    }
}

/// The tags of a device's udev record (none without one).
fn tags_of(record: Option<&UdevRecord>) -> BTreeSet<String> {
    record.iter().flat_map(|r| r.tags.iter().cloned()).collect()
}

/// The current tags of a device's udev record (none without one).
fn current_tags_of(record: Option<&UdevRecord>) -> BTreeSet<String> {
    record
        .iter()
        .flat_map(|r| r.current_tags().iter().cloned())
        .collect()
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

/// A class, subclass or protocol code: two hex digits.
fn parse_code(path: &Path) -> Result<u8, Error> {
    let value = read_attribute(path)?;
    u8::from_str_radix(value.trim(), 16).map_err(|_| Error::BadValue {
        path: path.to_owned(),
        reason: format!("{value:?} is not a hexadecimal byte"),
    })
}

/// The device, configuration and interface number an interface's name gives:
/// `3-6.3:1.0` is interface 0 of configuration 1 of `3-6.3`; `3-0:1.0` one of the root hub `usb3`.
fn parse_interface_name(name: &str) -> Option<(String, u8, u8)> {
    let (device, position) = name.split_once(':')?;
    let (configuration, number) = position.split_once('.')?;
    let device = match device.strip_suffix("-0") {
        Some(bus) if !bus.contains('-') => format!("usb{bus}"),
        _ => device.to_owned(),
    };
    Some((device, configuration.parse().ok()?, number.parse().ok()?))
}

/// The interfaces in the folder `dir` of the device `kernel_name` (for one device read alone).
fn interfaces_in(dir: &Path, kernel_name: &str) -> Result<InterfaceNames, Error> {
    let cannot_list = |source| Error::ReadFile {
        path: dir.to_owned(),
        source,
    };
    let mut names = InterfaceNames::new();
    for entry in std::fs::read_dir(dir).map_err(cannot_list)? {
        let name = entry.map_err(cannot_list)?.file_name();
        let name = name.to_string_lossy();
        if let Some((device, configuration, number)) = parse_interface_name(&name) {
            if device == kernel_name {
                names.push((configuration, number, name.into_owned()));
            }
        }
    }
    Ok(names)
}

/// The interfaces of the active configuration (`bConfigurationValue`; empty: not configured), by
/// interface number, read from their folders below the device's `dir`.
fn read_interfaces(dir: &Path, names: &InterfaceNames) -> Result<Vec<Interface>, Error> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let path = dir.join("bConfigurationValue");
    let value = read_attribute(&path)?;
    let active: u8 = match value.trim() {
        "" => return Ok(Vec::new()),
        written => written.parse().map_err(|_| Error::BadValue {
            path: path.clone(),
            reason: format!("{value:?} is not a configuration number"),
        })?,
    };
    let mut current: Vec<&(u8, u8, String)> = names
        .iter()
        .filter(|(configuration, _, _)| *configuration == active)
        .collect();
    current.sort();
    current
        .into_iter()
        .map(|(_, _, name)| {
            let interface = dir.join(name);
            Ok(Interface {
                class: parse_code(&interface.join("bInterfaceClass"))?,
                subclass: parse_code(&interface.join("bInterfaceSubClass"))?,
                protocol: parse_code(&interface.join("bInterfaceProtocol"))?,
            })
        })
        .collect()
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
