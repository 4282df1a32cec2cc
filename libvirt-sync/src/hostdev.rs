//! The two views of a USB hostdev: the one the daemon attaches, and the one read back from libvirt.

use std::fmt;

/// Every alias the daemon gives a hostdev starts with this; libvirt keeps only user aliases that
/// start with `ua-`. A hostdev whose alias starts with it is *owned*: the daemon may detach it.
pub const OWNED_ALIAS_PREFIX: &str = "ua-hotplugd-";

/// A USB hostdev the daemon attaches: the device's address on the host and its ids.
///
/// Attached with vendor, product **and** bus/device in the source, since libvirt matches a hostdev
/// for detach by its source and two identical devices must not be confused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostdevSpec {
    /// Host bus number.
    pub bus: u16,
    /// Host device number on that bus.
    pub device: u16,
    /// USB vendor id.
    pub vendor_id: u16,
    /// USB product id.
    pub product_id: u16,
}

impl HostdevSpec {
    /// The owned alias: `ua-hotplugd-<bus>-<device>-<vendor>-<product>` (decimal bus and device,
    /// 4-digit lower-case hex ids).
    pub fn alias(&self) -> String {
        format!(
            "{OWNED_ALIAS_PREFIX}{}-{}-{:04x}-{:04x}",
            self.bus, self.device, self.vendor_id, self.product_id
        )
    }

    /// Reads an owned alias back; `None` for any other alias.
    pub fn from_alias(alias: &str) -> Option<HostdevSpec> {
        let rest = alias.strip_prefix(OWNED_ALIAS_PREFIX)?;
        let mut parts = rest.split('-');
        let bus = parts.next()?.parse().ok()?;
        let device = parts.next()?.parse().ok()?;
        let vendor = parts.next()?;
        let product = parts.next()?;
        if parts.next().is_some() || vendor.len() != 4 || product.len() != 4 {
            return None;
        }
        Some(HostdevSpec {
            bus,
            device,
            vendor_id: u16::from_str_radix(vendor, 16).ok()?,
            product_id: u16::from_str_radix(product, 16).ok()?,
        })
    }
}

impl fmt::Display for HostdevSpec {
    /// `003/005 (046d:0825)`, as `lsusb` numbers devices.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:03}/{:03} ({:04x}:{:04x})",
            self.bus, self.device, self.vendor_id, self.product_id
        )
    }
}

/// A `<hostdev mode='subsystem' type='usb'>` as read from a domain's live XML.
///
/// Any field may be missing in a hostdev written by hand (a static hostdev may name only
/// vendor/product, or only an address).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ObservedHostdev {
    /// `<address bus=…>` of the source.
    pub bus: Option<u16>,
    /// `<address device=…>` of the source.
    pub device: Option<u16>,
    /// `<vendor id=…>` of the source.
    pub vendor_id: Option<u16>,
    /// `<product id=…>` of the source.
    pub product_id: Option<u16>,
    /// `<alias name=…>`.
    pub alias: Option<String>,
}

impl ObservedHostdev {
    /// Whether the daemon attached this hostdev (its alias starts with [`OWNED_ALIAS_PREFIX`]).
    pub fn is_owned(&self) -> bool {
        self.alias
            .as_deref()
            .is_some_and(|alias| alias.starts_with(OWNED_ALIAS_PREFIX))
    }

    /// The spec of an owned hostdev, complete, from its source or else from its alias; `None` for a
    /// hostdev the daemon does not own.
    pub fn owned_spec(&self) -> Option<HostdevSpec> {
        if !self.is_owned() {
            return None;
        }
        match (self.bus, self.device, self.vendor_id, self.product_id) {
            (Some(bus), Some(device), Some(vendor_id), Some(product_id)) => Some(HostdevSpec {
                bus,
                device,
                vendor_id,
                product_id,
            }),
            _ => HostdevSpec::from_alias(self.alias.as_deref()?),
        }
    }
}

/// Checks that the hostdev libvirt removes when asked to detach `spec` is the owned hostdev of
/// `spec`, among the `live` hostdevs of a domain: libvirt detaches the first hostdev whose source
/// has the same bus and device (a hostdev without an address is not matched; measured on
/// libvirt 9.0). Returns the reason to refuse the detach, so that a hostdev the daemon does not
/// own is never removed in its place.
///
/// ```
/// use libvirt_sync::{check_detach_target, HostdevSpec, ObservedHostdev};
///
/// let webcam = HostdevSpec { bus: 3, device: 5, vendor_id: 0x046d, product_id: 0x0825 };
/// let by_hand = ObservedHostdev { bus: Some(3), device: Some(5), ..Default::default() };
/// assert!(check_detach_target(&[ObservedHostdev::from(webcam)], &webcam).is_ok());
/// assert!(check_detach_target(&[by_hand, ObservedHostdev::from(webcam)], &webcam).is_err());
/// assert!(check_detach_target(&[], &webcam).is_err());
/// ```
pub fn check_detach_target(live: &[ObservedHostdev], spec: &HostdevSpec) -> Result<(), String> {
    let alias = spec.alias();
    let first = live
        .iter()
        .find(|hostdev| hostdev.bus == Some(spec.bus) && hostdev.device == Some(spec.device));
    match first {
        None => Err(format!(
            "device not found: no hostdev with source bus {} device {} in the live XML",
            spec.bus, spec.device
        )),
        Some(hostdev) if hostdev.alias.as_deref() == Some(alias.as_str()) => Ok(()),
        Some(hostdev) => {
            let other = match &hostdev.alias {
                Some(other) => format!("aliased {other}"),
                None => "one without alias".to_string(),
            };
            Err(format!(
                "the first hostdev with source bus {} device {} is {other}, not the owned {alias}, \
                 and libvirt would detach it instead: refusing",
                spec.bus, spec.device
            ))
        }
    }
}

impl From<HostdevSpec> for ObservedHostdev {
    /// The hostdev as libvirt shows it after the daemon attached `spec`.
    fn from(spec: HostdevSpec) -> Self {
        ObservedHostdev {
            bus: Some(spec.bus),
            device: Some(spec.device),
            vendor_id: Some(spec.vendor_id),
            product_id: Some(spec.product_id),
            alias: Some(spec.alias()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_round_trips_and_rejects_foreign_aliases() {
        let spec = HostdevSpec {
            bus: 12,
            device: 127,
            vendor_id: 0xffff,
            product_id: 0,
        };
        assert_eq!(HostdevSpec::from_alias(&spec.alias()), Some(spec));
        for foreign in [
            "ua-mine",
            "hostdev0",
            "ua-hotplugd-1-2-046d",
            "ua-hotplugd-1-2-46d-0825",
            "ua-hotplugd-1-2-046d-0825-x",
        ] {
            assert_eq!(HostdevSpec::from_alias(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn ownership_is_the_alias_prefix() {
        let spec = HostdevSpec {
            bus: 3,
            device: 5,
            vendor_id: 0x046d,
            product_id: 0x0825,
        };
        let owned = ObservedHostdev::from(spec);
        assert!(owned.is_owned());
        assert_eq!(owned.owned_spec(), Some(spec));
        let by_alias_only = ObservedHostdev {
            alias: Some(spec.alias()),
            ..Default::default()
        };
        assert_eq!(by_alias_only.owned_spec(), Some(spec));
        let static_one = ObservedHostdev {
            alias: Some("ua-static".into()),
            ..owned.clone()
        };
        assert!(!static_one.is_owned());
        assert_eq!(static_one.owned_spec(), None);
        assert!(!ObservedHostdev::default().is_owned());
    }
}
