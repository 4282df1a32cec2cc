//! The compiled matcher: validated once when built, so matching cannot fail.

use std::fmt;

use crate::criteria::{EnvRule, EnvTest, PortRule};
use crate::{
    Device, Error, InterfaceCriteria, MatcherSpec, Mismatch, NumberSpec, Problem, RulePath,
};

/// Bus numbers: Linux numbers buses from 1.
const BUS_RANGE: (u16, u16) = (1, u16::MAX);
/// Device numbers: USB addresses are 7 bits and 0 is the address of a device not yet set up.
const DEVICE_RANGE: (u16, u16) = (1, 127);

/// One device matcher, validated and compiled (regexes are compiled once, here).
///
/// A device matches when it is not a hub and every criterion set holds: bus, device, vendor-id,
/// product-id, device class, subclass and protocol, the interface criteria (one interface of the
/// active configuration has every interface value given), port, every `env` entry, every tag and
/// every current tag.
///
/// It renders as its criteria in that order (`vendor-id 1050, interface-class 03`), the way
/// `check` lists deny rules and `explain` names the one that excluded a device.
///
/// ```
/// use hotplug_match::{Matcher, MatcherSpec};
///
/// let spec: MatcherSpec = serde_yaml::from_str("vendor-id: 0x046d\nport: 3-6.*")?;
/// let matcher = Matcher::new(&spec)?;
/// assert_eq!(matcher.to_string(), "vendor-id 046d, port 3-6.*");
///
/// let spec: MatcherSpec = serde_yaml::from_str("udev: {env: [{name: A, equals: x, pattern: y}]}")?;
/// let error = Matcher::new(&spec).unwrap_err();
/// assert_eq!(error.to_string(), "udev.env[0]: 'equals' and 'pattern' are mutually exclusive");
///
/// let spec: MatcherSpec = serde_yaml::from_str("interface-class: 0x100")?;
/// let error = Matcher::new(&spec).unwrap_err();
/// assert_eq!(error.to_string(), "interface-class: 0x100 is over 0xff");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Matcher {
    bus: Option<u16>,
    device: Option<u16>,
    vendor_id: Option<u16>,
    product_id: Option<u16>,
    device_class: Option<u8>,
    device_subclass: Option<u8>,
    device_protocol: Option<u8>,
    interface: Option<InterfaceCriteria>,
    port: Option<PortRule>,
    env: Vec<EnvRule>,
    tags: Vec<String>,
    current_tags: Vec<String>,
}

/// The first criterion a device fails, borrowed from the matcher (no allocation while matching).
enum Failure<'m> {
    Hub,
    Bus(u16),
    Device(u16),
    VendorId(u16),
    ProductId(u16),
    DeviceClass(u8),
    DeviceSubclass(u8),
    DeviceProtocol(u8),
    Interface(InterfaceCriteria),
    Port(&'m PortRule),
    Env(&'m EnvRule),
    Tag(&'m str),
    CurrentTag(&'m str),
}

impl Matcher {
    /// Validates `spec` and compiles it. Errors name the place inside the matcher
    /// (`udev.env[1]`).
    pub fn new(spec: &MatcherSpec) -> Result<Matcher, Error> {
        let root = RulePath::root();
        let at = |key: &str| root.clone().key(key);
        let bus = number(&spec.bus, "bus", |n| n.decimal_in(BUS_RANGE.0, BUS_RANGE.1))?;
        let device = number(&spec.device, "device", |n| {
            n.decimal_in(DEVICE_RANGE.0, DEVICE_RANGE.1)
        })?;
        let vendor_id = number(&spec.vendor_id, "vendor-id", NumberSpec::usb_id)?;
        let product_id = number(&spec.product_id, "product-id", NumberSpec::usb_id)?;
        let class =
            |spec: &Option<NumberSpec>, key: &str| number(spec, key, NumberSpec::class_code);
        let device_class = class(&spec.device_class, "device-class")?;
        let device_subclass = class(&spec.device_subclass, "device-subclass")?;
        let device_protocol = class(&spec.device_protocol, "device-protocol")?;
        let interface = InterfaceCriteria {
            class: class(&spec.interface_class, "interface-class")?,
            subclass: class(&spec.interface_subclass, "interface-subclass")?,
            protocol: class(&spec.interface_protocol, "interface-protocol")?,
        };
        let port = match &spec.port {
            None => None,
            Some(written) => Some(PortRule::parse(written).ok_or_else(|| {
                Error::at(
                    at("port"),
                    Problem::BadPort {
                        port: written.clone(),
                    },
                )
            })?),
        };
        let udev = spec.udev.clone().unwrap_or_default();
        let udev_at = at("udev");
        let env = udev
            .env
            .iter()
            .flatten()
            .enumerate()
            .map(|(index, entry)| {
                EnvRule::build(entry).map_err(|problem| {
                    let entry_at = udev_at.clone().key("env").index(index);
                    let path = match problem {
                        Problem::BadPattern { .. } => entry_at.key("pattern"),
                        _ => entry_at,
                    };
                    Error::at(path, problem)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tag_list = |key: &str, tags: Option<Vec<String>>| {
            let tags = tags.unwrap_or_default();
            match tags.iter().position(String::is_empty) {
                Some(index) => Err(Error::at(
                    udev_at.clone().key(key).index(index),
                    Problem::EmptyTag,
                )),
                None => Ok(tags),
            }
        };
        let tags = tag_list("tags", udev.tags)?;
        let current_tags = tag_list("current-tags", udev.current_tags)?;
        let matcher = Matcher {
            bus,
            device,
            vendor_id,
            product_id,
            device_class,
            device_subclass,
            device_protocol,
            interface: (!interface.is_empty()).then_some(interface),
            port,
            env,
            tags,
            current_tags,
        };
        if matcher.sets_nothing() {
            return Err(Error::at(RulePath::root(), Problem::EmptyMatcher));
        }
        Ok(matcher)
    }

    fn sets_nothing(&self) -> bool {
        self.bus.is_none()
            && self.device.is_none()
            && self.vendor_id.is_none()
            && self.product_id.is_none()
            && self.device_class.is_none()
            && self.device_subclass.is_none()
            && self.device_protocol.is_none()
            && self.interface.is_none()
            && self.port.is_none()
            && self.env.is_empty()
            && self.tags.is_empty()
            && self.current_tags.is_empty()
    }

    /// Whether the matcher looks at what only udev knows (properties, tags): deciding it from the
    /// kernel's event, before udev's, could go wrong.
    pub fn needs_udev(&self) -> bool {
        !self.env.is_empty() || !self.tags.is_empty() || !self.current_tags.is_empty()
    }

    /// Whether the matcher looks at the device's interfaces (which the kernel creates just after
    /// it announces the device).
    pub fn needs_interfaces(&self) -> bool {
        self.interface.is_some()
    }

    /// Whether `device` matches: it is not a hub and every criterion holds. Never fails.
    pub fn matches(&self, device: &(impl Device + ?Sized)) -> bool {
        self.first_failure(device).is_none()
    }

    /// Why `device` does not match: the first criterion that fails (hub, bus, device, vendor-id,
    /// product-id, device class, subclass, protocol, the interface criteria, port, the env entries
    /// in order, tags, current tags); `None` when it matches.
    pub fn explain(&self, device: &(impl Device + ?Sized)) -> Option<Mismatch> {
        let failure = self.first_failure(device)?;
        Some(match failure {
            Failure::Hub => Mismatch::Hub,
            Failure::Bus(expected) => Mismatch::Bus {
                expected,
                actual: device.bus(),
            },
            Failure::Device(expected) => Mismatch::Device {
                expected,
                actual: device.device(),
            },
            Failure::VendorId(expected) => Mismatch::VendorId {
                expected,
                actual: device.vendor_id(),
            },
            Failure::ProductId(expected) => Mismatch::ProductId {
                expected,
                actual: device.product_id(),
            },
            Failure::DeviceClass(expected) => Mismatch::DeviceClass {
                expected,
                actual: device.device_class(),
            },
            Failure::DeviceSubclass(expected) => Mismatch::DeviceSubclass {
                expected,
                actual: device.device_subclass(),
            },
            Failure::DeviceProtocol(expected) => Mismatch::DeviceProtocol {
                expected,
                actual: device.device_protocol(),
            },
            Failure::Interface(expected) => Mismatch::NoInterface {
                expected,
                actual: device.interfaces().to_vec(),
            },
            Failure::Port(rule) => Mismatch::Port {
                expected: rule.written.clone(),
                actual: device.kernel_name().to_owned(),
            },
            Failure::Env(rule) => {
                let name = rule.name.clone();
                match (device.property(&rule.name), &rule.test) {
                    (None, _) => Mismatch::PropertyMissing { name },
                    (Some(actual), EnvTest::Equals(expected)) => Mismatch::PropertyDiffers {
                        name,
                        expected: expected.clone(),
                        actual: actual.to_owned(),
                    },
                    (Some(actual), EnvTest::Pattern(regex)) => Mismatch::PatternNotFound {
                        name,
                        pattern: regex.as_str().to_owned(),
                        actual: actual.to_owned(),
                    },
                }
            }
            Failure::Tag(tag) => Mismatch::TagMissing {
                tag: tag.to_owned(),
            },
            Failure::CurrentTag(tag) => Mismatch::CurrentTagMissing {
                tag: tag.to_owned(),
            },
        })
    }

    fn first_failure<D: Device + ?Sized>(&self, device: &D) -> Option<Failure<'_>> {
        if device.is_hub() {
            return Some(Failure::Hub);
        }
        let differs = |expected: Option<u16>, actual: fn(&D) -> u16| {
            expected.filter(|&expected| expected != actual(device))
        };
        if let Some(bus) = differs(self.bus, D::bus) {
            return Some(Failure::Bus(bus));
        }
        if let Some(number) = differs(self.device, D::device) {
            return Some(Failure::Device(number));
        }
        if let Some(id) = differs(self.vendor_id, D::vendor_id) {
            return Some(Failure::VendorId(id));
        }
        if let Some(id) = differs(self.product_id, D::product_id) {
            return Some(Failure::ProductId(id));
        }
        let code_differs = |expected: Option<u8>, actual: fn(&D) -> u8| {
            expected.filter(|&expected| expected != actual(device))
        };
        if let Some(class) = code_differs(self.device_class, D::device_class) {
            return Some(Failure::DeviceClass(class));
        }
        if let Some(subclass) = code_differs(self.device_subclass, D::device_subclass) {
            return Some(Failure::DeviceSubclass(subclass));
        }
        if let Some(protocol) = code_differs(self.device_protocol, D::device_protocol) {
            return Some(Failure::DeviceProtocol(protocol));
        }
        if let Some(interface) = self.interface {
            if !interface.holds_for_any(device.interfaces()) {
                return Some(Failure::Interface(interface));
            }
        }
        if let Some(port) = &self.port {
            if !port.matches(device.kernel_name()) {
                return Some(Failure::Port(port));
            }
        }
        for rule in &self.env {
            if !device
                .property(&rule.name)
                .is_some_and(|value| rule.holds(value))
            {
                return Some(Failure::Env(rule));
            }
        }
        if let Some(tag) = self.tags.iter().find(|tag| !device.has_tag(tag)) {
            return Some(Failure::Tag(tag));
        }
        if let Some(tag) = self
            .current_tags
            .iter()
            .find(|tag| !device.has_current_tag(tag))
        {
            return Some(Failure::CurrentTag(tag));
        }
        None
    }
}

/// The value of the number `spec` at `key`, if given, read by `read`.
fn number<T>(
    spec: &Option<NumberSpec>,
    key: &str,
    read: impl FnOnce(&NumberSpec) -> Result<T, Problem>,
) -> Result<Option<T>, Error> {
    spec.as_ref()
        .map(read)
        .transpose()
        .map_err(|problem| Error::at(RulePath::root().key(key), problem))
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut criteria: Vec<String> = Vec::new();
        let mut add = |criterion: String| criteria.push(criterion);
        if let Some(bus) = self.bus {
            add(format!("bus {bus}"));
        }
        if let Some(number) = self.device {
            add(format!("device {number}"));
        }
        if let Some(id) = self.vendor_id {
            add(format!("vendor-id {id:04x}"));
        }
        if let Some(id) = self.product_id {
            add(format!("product-id {id:04x}"));
        }
        let interface = self.interface.unwrap_or_default();
        for (key, code) in [
            ("device-class", self.device_class),
            ("device-subclass", self.device_subclass),
            ("device-protocol", self.device_protocol),
            ("interface-class", interface.class),
            ("interface-subclass", interface.subclass),
            ("interface-protocol", interface.protocol),
        ] {
            if let Some(code) = code {
                add(format!("{key} {code:02x}"));
            }
        }
        if let Some(port) = &self.port {
            add(format!("port {}", port.written));
        }
        for rule in &self.env {
            add(match &rule.test {
                EnvTest::Equals(value) => format!("{} = {value:?}", rule.name),
                EnvTest::Pattern(regex) => format!("{} =~ {:?}", rule.name, regex.as_str()),
            });
        }
        for tag in &self.tags {
            add(format!("tag {tag:?}"));
        }
        for tag in &self.current_tags {
            add(format!("current tag {tag:?}"));
        }
        f.write_str(&criteria.join(", "))
    }
}
