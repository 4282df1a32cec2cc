//! Deny rules: matchers that exclude the devices they match.

use std::fmt;

use crate::{Device, Error, Matcher, MatcherSpec, RulePath};

/// A list of deny rules (`deny:`), each a [`Matcher`]: a device that matches any of them is
/// denied. At the top of the configuration they keep a device from every machine; in a machine
/// ([`MachineRules::with_deny`](crate::MachineRules::with_deny)) from that machine.
///
/// A hub never matches a matcher, so it is never denied; hubs are never attached anyway.
///
/// ```
/// use hotplug_match::{DenyRules, Device, Interface, MatcherSpec};
///
/// /// The host's own USB disk.
/// struct UsbDisk;
///
/// const MASS_STORAGE: [Interface; 1] = [Interface { class: 0x08, subclass: 0x06, protocol: 0x50 }];
///
/// impl Device for UsbDisk {
///     fn vendor_id(&self) -> u16 { 0x0781 }
///     fn product_id(&self) -> u16 { 0x5581 }
///     fn interfaces(&self) -> &[Interface] { &MASS_STORAGE }
/// #   fn bus(&self) -> u16 { 2 }
/// #   fn device(&self) -> u16 { 3 }
/// #   fn device_class(&self) -> u8 { 0 }
/// #   fn device_subclass(&self) -> u8 { 0 }
/// #   fn device_protocol(&self) -> u8 { 0 }
/// #   fn kernel_name(&self) -> &str { "2-4" }
/// #   fn property(&self, _: &str) -> Option<&str> { None }
/// #   fn has_tag(&self, _: &str) -> bool { false }
/// #   fn has_current_tag(&self, _: &str) -> bool { false }
/// #   fn is_hub(&self) -> bool { false }
///     // …
/// }
///
/// let specs: Vec<MatcherSpec> = serde_yaml::from_str(
///     "- vendor-id: 0x0781\n  product-id: 0x5581\n- port: 2-1.*\n",
/// )?;
/// let deny = DenyRules::from_specs(&specs)?;
/// assert_eq!(deny.denied_by(&UsbDisk), Some(0));
/// assert_eq!(
///     deny.explain(&UsbDisk).expect("denied").to_string(),
///     "excluded by deny[0] (vendor-id 0781, product-id 5581)"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct DenyRules {
    matchers: Vec<Matcher>,
}

impl DenyRules {
    /// Builds every rule of `specs` (a `deny:` list; an empty list denies nothing). Error paths
    /// start at the list (`[1].interface-class`).
    pub fn from_specs(specs: &[MatcherSpec]) -> Result<DenyRules, Error> {
        Ok(DenyRules {
            matchers: build_all(specs)?,
        })
    }

    /// The rules of already built matchers.
    pub fn new(matchers: Vec<Matcher>) -> DenyRules {
        DenyRules { matchers }
    }

    /// The rules, in config order.
    pub fn matchers(&self) -> &[Matcher] {
        &self.matchers
    }

    /// Whether there is no rule at all.
    pub fn is_empty(&self) -> bool {
        self.matchers.is_empty()
    }

    /// The position of the first rule that matches `device`, if one does: the device is denied.
    pub fn denied_by(&self, device: &(impl Device + ?Sized)) -> Option<usize> {
        self.matchers
            .iter()
            .position(|matcher| matcher.matches(device))
    }

    /// Which rule denies `device`, to be shown; `None` when none does.
    pub fn explain(&self, device: &(impl Device + ?Sized)) -> Option<Denial> {
        let index = self.denied_by(device)?;
        Some(Denial {
            index,
            rule: self.matchers[index].to_string(),
        })
    }
}

/// The deny rule that excludes a device: its position in its `deny:` list and its criteria.
///
/// It renders as `excluded by deny[0] (vendor-id 0781, product-id 5581)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Denial {
    /// The rule's position in its `deny:` list, counted from 0.
    pub index: usize,
    /// The rule's criteria, as [`Matcher`] renders them.
    pub rule: String,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "excluded by deny[{}] ({})", self.index, self.rule)
    }
}

/// Builds every matcher of `specs`; an error's path starts with the matcher's index.
pub(crate) fn build_all(specs: &[MatcherSpec]) -> Result<Vec<Matcher>, Error> {
    specs
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            Matcher::new(spec).map_err(|error| error.within(&RulePath::root().index(index)))
        })
        .collect()
}
