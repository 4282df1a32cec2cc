//! The pure parser of uevent messages, in both formats, and the `usb_device` filter.

use std::collections::BTreeMap;
use std::fmt;

/// The largest message accepted, in bytes: the receive buffer of systemd's sd-device monitor. The
/// kernel's own messages stay under about 2.1 KiB (its uevent buffer is 2048 bytes).
pub const MAX_MESSAGE_LEN: usize = 8192;

/// `0xfeedcafe`: the magic of udev's header, stored in network byte order.
pub const UDEV_MONITOR_MAGIC: u32 = 0xfeed_cafe;

/// The length of udev's header as libudev writes it (`struct monitor_netlink_header`).
pub const UDEV_HEADER_LEN: usize = 40;

/// The prefix that tells a udev message from a kernel one.
pub(crate) const UDEV_PREFIX: &[u8; 8] = b"libudev\0";

/// The longest excerpt of a bad message a [`DropReason`] keeps.
const EXCERPT_LEN: usize = 64;

/// What happened to the device (the `ACTION` property).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UeventAction {
    /// `add`: the device appeared.
    Add,
    /// `remove`: the device went away.
    Remove,
    /// `change`: something about the device changed.
    Change,
    /// `move`: the device was renamed or moved.
    Move,
    /// `online`: the device was brought online.
    Online,
    /// `offline`: the device was taken offline.
    Offline,
    /// `bind`: a driver was bound to the device.
    Bind,
    /// `unbind`: the driver was unbound from the device.
    Unbind,
    /// An action this crate does not know, kept as it was sent (a newer kernel may add some; the
    /// daemon treats any event as a reason to reconcile).
    Other(String),
}

impl UeventAction {
    /// The action named `name` (`add`, `remove`, …); any other name is [`UeventAction::Other`].
    pub fn parse(name: &str) -> UeventAction {
        match name {
            "add" => UeventAction::Add,
            "remove" => UeventAction::Remove,
            "change" => UeventAction::Change,
            "move" => UeventAction::Move,
            "online" => UeventAction::Online,
            "offline" => UeventAction::Offline,
            "bind" => UeventAction::Bind,
            "unbind" => UeventAction::Unbind,
            other => UeventAction::Other(other.to_owned()),
        }
    }

    /// The name as the kernel writes it.
    pub fn as_str(&self) -> &str {
        match self {
            UeventAction::Add => "add",
            UeventAction::Remove => "remove",
            UeventAction::Change => "change",
            UeventAction::Move => "move",
            UeventAction::Online => "online",
            UeventAction::Offline => "offline",
            UeventAction::Bind => "bind",
            UeventAction::Unbind => "unbind",
            UeventAction::Other(name) => name,
        }
    }
}

impl fmt::Display for UeventAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fields of udev's header after the prefix and the magic. The three sizes are in the sender's
/// byte order (the same host), the four filter values in network byte order; both are decoded here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdevHeader {
    /// The header length the sender knows (40 for every libudev since 2009).
    pub header_size: u32,
    /// Where the properties start, from the start of the message.
    pub properties_offset: u32,
    /// The length of the properties, their final NUL included.
    pub properties_len: u32,
    /// MurmurHash2 (seed 0) of `SUBSYSTEM`, for in-kernel socket filters.
    pub subsystem_hash: u32,
    /// MurmurHash2 (seed 0) of `DEVTYPE`; 0 when the device has none.
    pub devtype_hash: u32,
    /// The 64-bit bloom filter of the device's tags (high word first on the wire).
    pub tag_bloom: u64,
}

/// Which format a message came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageSource {
    /// udev's format (`libudev` header): sent by udevd after its rules ran, so the udev database
    /// record of the device is complete.
    Udev(UdevHeader),
    /// The kernel's format (`action@devpath`).
    Kernel,
}

/// One well-formed uevent, of any subsystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UeventMessage {
    /// The format it came in.
    pub source: MessageSource,
    /// `ACTION`.
    pub action: UeventAction,
    /// `DEVPATH`: the sysfs path below `/sys`, starting with `/`.
    pub devpath: String,
    /// `SUBSYSTEM`.
    pub subsystem: String,
    /// `DEVTYPE`, when the device has one.
    pub devtype: Option<String>,
    /// `SEQNUM`: the kernel's event number.
    pub seqnum: u64,
    /// Every property of the message (`ACTION`, `DEVPATH`, `SUBSYSTEM`, `SEQNUM`, `BUSNUM`, …); a key
    /// sent twice keeps its last value.
    pub properties: BTreeMap<String, String>,
}

/// A `usb_device` event (`SUBSYSTEM=usb`, `DEVTYPE=usb_device`): what the daemon reacts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbUevent {
    /// `ACTION`.
    pub action: UeventAction,
    /// The kernel name, which is the port path (`3-6.3`): the last component of the devpath.
    pub kernel_name: String,
    /// `DEVPATH`: the sysfs path below `/sys`.
    pub devpath: String,
    /// `BUSNUM`; `None` when absent or not a number.
    pub bus: Option<u16>,
    /// `DEVNUM`; `None` when absent or not a number.
    pub device: Option<u16>,
    /// `SEQNUM`.
    pub seqnum: u64,
    /// The format it came in.
    pub source: MessageSource,
    /// Every property of the message.
    pub properties: BTreeMap<String, String>,
}

/// Why a message was dropped. Text from the message is cut to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    /// The message is empty.
    #[error("empty message")]
    Empty,
    /// The message is longer than [`MAX_MESSAGE_LEN`].
    #[error("message of {len} bytes, more than the {MAX_MESSAGE_LEN} a uevent may have")]
    Oversized {
        /// Its length.
        len: usize,
    },
    /// The message has the `libudev` prefix but is shorter than udev's header.
    #[error("truncated udev header: {len} bytes of {UDEV_HEADER_LEN}")]
    TruncatedHeader {
        /// The message length.
        len: usize,
    },
    /// The udev header's magic is not `0xfeedcafe`.
    #[error("udev header magic is {found:#010x}, not {UDEV_MONITOR_MAGIC:#010x}")]
    WrongMagic {
        /// The magic found.
        found: u32,
    },
    /// The udev header puts the properties inside the header.
    #[error("udev properties at offset {offset} overlap the {header_size}-byte header")]
    PropertiesOverlapHeader {
        /// `properties_off`.
        offset: u32,
        /// The header length (the larger of 40 and `header_size`).
        header_size: u32,
    },
    /// The udev header puts the properties past the end of the message.
    #[error("udev properties at offset {offset}, {len} bytes long, pass the end of the {message_len}-byte message")]
    PropertiesOutOfBounds {
        /// `properties_off`.
        offset: u32,
        /// `properties_len`.
        len: u32,
        /// The message length.
        message_len: usize,
    },
    /// The message has no `libudev` prefix and does not start with the kernel's `action@/devpath`
    /// followed by a NUL and properties.
    #[error("neither a udev nor a kernel uevent: header {header:?}")]
    BadKernelHeader {
        /// The start of the message, up to its first NUL.
        header: String,
    },
    /// The property block does not end with a NUL: the message was cut.
    #[error("the last property {entry:?} is not NUL-terminated")]
    UnterminatedProperties {
        /// The last property.
        entry: String,
    },
    /// A property is not `KEY=value` with a non-empty key.
    #[error("property {entry:?} is not KEY=value")]
    BadProperty {
        /// The property.
        entry: String,
    },
    /// A property every uevent has is missing.
    #[error("no {key} property")]
    MissingProperty {
        /// The key.
        key: &'static str,
    },
    /// `SEQNUM` is not a number.
    #[error("SEQNUM {value:?} is not a number")]
    BadSeqnum {
        /// The value.
        value: String,
    },
    /// `DEVPATH` does not start with `/` or does not end with a kernel name.
    #[error("DEVPATH {devpath:?} is not /path/to/name")]
    BadDevpath {
        /// The value.
        devpath: String,
    },
    /// A kernel message's `action@devpath` header disagrees with its properties.
    #[error("the header says {key} {header:?}, the property says {property:?}")]
    HeaderMismatch {
        /// `ACTION` or `DEVPATH`.
        key: &'static str,
        /// The value in the header.
        header: String,
        /// The value of the property.
        property: String,
    },
    /// The message carries no netlink sender address.
    #[error("no netlink sender address")]
    NoSenderAddress,
    /// The message was sent to our socket alone (unicast), not to a multicast group.
    #[error("unicast message from netlink port {port}")]
    UnicastSender {
        /// The sender's netlink port id.
        port: u32,
    },
    /// A message on the kernel's group came from a process (port id not 0), not from the kernel.
    #[error("message on the kernel group from netlink port {port}, not from the kernel")]
    ProcessOnKernelGroup {
        /// The sender's netlink port id.
        port: u32,
    },
    /// The message carries no sender credentials (`SCM_CREDENTIALS`).
    #[error("no sender credentials")]
    NoCredentials,
    /// The message was sent by a process that is not root.
    #[error("sent by uid {uid}, not root")]
    NonRootSender {
        /// The sender's user id.
        uid: u32,
    },
}

impl UeventMessage {
    /// Parses one datagram received on a `NETLINK_KOBJECT_UEVENT` socket, in udev's format
    /// (`libudev\0` prefix, a 40-byte header, then `KEY=value\0` properties) or the kernel's
    /// (`action@devpath\0` then `KEY=value\0` properties).
    ///
    /// Every uevent must have `ACTION`, `DEVPATH`, `SUBSYSTEM` and a numeric `SEQNUM`, as systemd's
    /// sd-device requires. Anything else is a [`DropReason`]; no input panics.
    pub fn parse(bytes: &[u8]) -> Result<UeventMessage, DropReason> {
        if bytes.is_empty() {
            return Err(DropReason::Empty);
        }
        if bytes.len() > MAX_MESSAGE_LEN {
            return Err(DropReason::Oversized { len: bytes.len() });
        }
        if bytes.starts_with(UDEV_PREFIX) {
            parse_udev(bytes)
        } else {
            parse_kernel(bytes)
        }
    }

    /// The property `key`.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }

    /// The kernel name: the last component of the devpath (`3-6.3`, `3-6.3:1.0`, `sda`).
    pub fn kernel_name(&self) -> &str {
        kernel_name(&self.devpath).unwrap_or_default()
    }

    /// Whether this is an event of a USB device (`SUBSYSTEM=usb`, `DEVTYPE=usb_device`), never one
    /// of an interface (`usb_interface`) or an endpoint.
    pub fn is_usb_device(&self) -> bool {
        self.subsystem == "usb" && self.devtype.as_deref() == Some("usb_device")
    }

    /// The event as a [`UsbUevent`] when it is one of a USB device; `None` for anything else.
    pub fn usb_device(&self) -> Option<UsbUevent> {
        if !self.is_usb_device() {
            return None;
        }
        let number = |key: &str| self.property(key)?.trim().parse::<u16>().ok();
        Some(UsbUevent {
            action: self.action.clone(),
            kernel_name: self.kernel_name().to_owned(),
            devpath: self.devpath.clone(),
            bus: number("BUSNUM"),
            device: number("DEVNUM"),
            seqnum: self.seqnum,
            source: self.source,
            properties: self.properties.clone(),
        })
    }
}

impl UsbUevent {
    /// The property `key`.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }
}

/// Whether `bytes` may be the message of a `usb_device` event, found without parsing it: `false`
/// only when its property block has no `SUBSYSTEM=usb` or no `DEVTYPE=usb_device` (the last of
/// a repeated key counting, as in [`UeventMessage::parse`]), so that [`UeventMessage::usb_device`]
/// of it would be `None`. It allocates nothing; a message whose property block cannot be found
/// may be one (the parse says why it is dropped).
///
/// ```
/// use usb_discovery::may_be_usb_device;
///
/// let device = b"add@/devices/usb1/1-4\0ACTION=add\0DEVPATH=/devices/usb1/1-4\0SUBSYSTEM=usb\0\
///     DEVTYPE=usb_device\0SEQNUM=7\0";
/// let interface = b"add@/devices/usb1/1-4/1-4:1.0\0ACTION=add\0DEVPATH=/devices/usb1/1-4/1-4:1.0\0\
///     SUBSYSTEM=usb\0DEVTYPE=usb_interface\0SEQNUM=8\0";
/// assert!(may_be_usb_device(device));
/// assert!(!may_be_usb_device(interface));
/// ```
pub fn may_be_usb_device(bytes: &[u8]) -> bool {
    let block = if bytes.starts_with(UDEV_PREFIX) {
        udev_property_block(bytes).ok().map(|(_, block)| block)
    } else {
        bytes
            .iter()
            .position(|&b| b == 0)
            .map(|nul| &bytes[nul + 1..])
    };
    let Some(block) = block else {
        return true;
    };
    let (mut subsystem, mut devtype) = (None, None);
    for entry in block.split(|&b| b == 0) {
        if let Some(value) = entry.strip_prefix(b"SUBSYSTEM=") {
            subsystem = Some(value);
        } else if let Some(value) = entry.strip_prefix(b"DEVTYPE=") {
            devtype = Some(value);
        }
    }
    subsystem == Some(b"usb".as_slice()) && devtype == Some(b"usb_device".as_slice())
}

/// udev's format: the header, then the property block it points at.
fn parse_udev(bytes: &[u8]) -> Result<UeventMessage, DropReason> {
    let (header, block) = udev_property_block(bytes)?;
    let properties = parse_properties(block)?;
    let action = required(&properties, "ACTION")?.to_owned();
    let devpath = required(&properties, "DEVPATH")?.to_owned();
    build(MessageSource::Udev(header), &action, devpath, properties)
}

/// The header of a message in udev's format, and the property block it points at.
fn udev_property_block(bytes: &[u8]) -> Result<(UdevHeader, &[u8]), DropReason> {
    let word = |index: usize| -> Option<[u8; 4]> {
        let start = UDEV_PREFIX.len().checked_add(index.checked_mul(4)?)?;
        bytes.get(start..start.checked_add(4)?)?.try_into().ok()
    };
    let header = (|| {
        let magic = u32::from_be_bytes(word(0)?);
        let header = UdevHeader {
            header_size: u32::from_ne_bytes(word(1)?),
            properties_offset: u32::from_ne_bytes(word(2)?),
            properties_len: u32::from_ne_bytes(word(3)?),
            subsystem_hash: u32::from_be_bytes(word(4)?),
            devtype_hash: u32::from_be_bytes(word(5)?),
            tag_bloom: u64::from(u32::from_be_bytes(word(6)?)) << 32
                | u64::from(u32::from_be_bytes(word(7)?)),
        };
        Some((magic, header))
    })();
    let Some((magic, header)) = header else {
        return Err(DropReason::TruncatedHeader { len: bytes.len() });
    };
    if magic != UDEV_MONITOR_MAGIC {
        return Err(DropReason::WrongMagic { found: magic });
    }
    let header_size = header.header_size.max(UDEV_HEADER_LEN as u32);
    if header.properties_offset < header_size {
        return Err(DropReason::PropertiesOverlapHeader {
            offset: header.properties_offset,
            header_size,
        });
    }
    let out_of_bounds = DropReason::PropertiesOutOfBounds {
        offset: header.properties_offset,
        len: header.properties_len,
        message_len: bytes.len(),
    };
    let start = usize::try_from(header.properties_offset).map_err(|_| out_of_bounds.clone())?;
    let len = usize::try_from(header.properties_len).map_err(|_| out_of_bounds.clone())?;
    let end = start
        .checked_add(len)
        .ok_or_else(|| out_of_bounds.clone())?;
    let block = bytes.get(start..end).ok_or(out_of_bounds)?;
    Ok((header, block))
}

/// The kernel's format: `action@devpath\0` then the property block.
fn parse_kernel(bytes: &[u8]) -> Result<UeventMessage, DropReason> {
    let bad_header = || {
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        DropReason::BadKernelHeader {
            header: excerpt(&bytes[..end]),
        }
    };
    let nul = bytes.iter().position(|&b| b == 0).ok_or_else(bad_header)?;
    let header = std::str::from_utf8(&bytes[..nul]).map_err(|_| bad_header())?;
    let (action, devpath) = header.split_once('@').ok_or_else(bad_header)?;
    let block = &bytes[nul + 1..];
    if action.is_empty() || !devpath.starts_with('/') || block.is_empty() {
        return Err(bad_header());
    }
    let properties = parse_properties(block)?;
    for (key, from_header) in [("ACTION", action), ("DEVPATH", devpath)] {
        let property = required(&properties, key)?;
        if property != from_header {
            return Err(DropReason::HeaderMismatch {
                key,
                header: cut(from_header),
                property: cut(property),
            });
        }
    }
    build(
        MessageSource::Kernel,
        action,
        devpath.to_owned(),
        properties,
    )
}

/// The checks and fields both formats share.
fn build(
    source: MessageSource,
    action: &str,
    devpath: String,
    properties: BTreeMap<String, String>,
) -> Result<UeventMessage, DropReason> {
    if !devpath.starts_with('/') || kernel_name(&devpath).is_none() {
        return Err(DropReason::BadDevpath {
            devpath: cut(&devpath),
        });
    }
    let subsystem = required(&properties, "SUBSYSTEM")?.to_owned();
    let seqnum = required(&properties, "SEQNUM")?;
    let seqnum = seqnum
        .parse::<u64>()
        .map_err(|_| DropReason::BadSeqnum { value: cut(seqnum) })?;
    Ok(UeventMessage {
        source,
        action: UeventAction::parse(action),
        devpath,
        subsystem,
        devtype: properties.get("DEVTYPE").cloned(),
        seqnum,
        properties,
    })
}

/// `KEY=value\0` entries; empty entries (padding) are skipped, the block must end with a NUL.
fn parse_properties(block: &[u8]) -> Result<BTreeMap<String, String>, DropReason> {
    let mut properties = BTreeMap::new();
    let Some(body) = block.strip_suffix(b"\0") else {
        let last = block.rsplit(|&b| b == 0).next().unwrap_or(block);
        return Err(DropReason::UnterminatedProperties {
            entry: excerpt(last),
        });
    };
    for entry in body.split(|&b| b == 0).filter(|entry| !entry.is_empty()) {
        let Some(equals) = entry.iter().position(|&b| b == b'=').filter(|&at| at > 0) else {
            return Err(DropReason::BadProperty {
                entry: excerpt(entry),
            });
        };
        let key = String::from_utf8_lossy(&entry[..equals]).into_owned();
        let value = String::from_utf8_lossy(&entry[equals + 1..]).into_owned();
        properties.insert(key, value);
    }
    Ok(properties)
}

fn required<'a>(
    properties: &'a BTreeMap<String, String>,
    key: &'static str,
) -> Result<&'a str, DropReason> {
    properties
        .get(key)
        .map(String::as_str)
        .ok_or(DropReason::MissingProperty { key })
}

/// The last component of a devpath, when it is a usable name (not empty, `.` or `..`).
fn kernel_name(devpath: &str) -> Option<&str> {
    let name = devpath.rsplit('/').next()?;
    (!name.is_empty() && name != "." && name != "..").then_some(name)
}

/// Bytes as text for a [`DropReason`], cut to [`EXCERPT_LEN`] characters.
fn excerpt(bytes: &[u8]) -> String {
    cut(&String::from_utf8_lossy(bytes))
}

fn cut(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_LEN) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}
