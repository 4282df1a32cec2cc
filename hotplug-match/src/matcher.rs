//! The compiled matcher: validated once when built, so matching cannot fail.

use regex::Regex;

use crate::{Device, EnvSpec, Error, MatcherSpec, Mismatch, Problem, RulePath};

/// Bus numbers: Linux numbers buses from 1.
const BUS_RANGE: (u16, u16) = (1, u16::MAX);
/// Device numbers: USB addresses are 7 bits and 0 is the address of a device not yet set up.
const DEVICE_RANGE: (u16, u16) = (1, 127);

/// One device matcher, validated and compiled (regexes are compiled once, here).
///
/// A device matches when it is not a hub and every criterion set holds: bus, device, vendor-id,
/// product-id, port, every `env` entry, every tag and every current tag.
///
/// ```
/// use hotplug_match::{Matcher, MatcherSpec};
///
/// let spec: MatcherSpec = serde_yaml::from_str("vendor-id: 0x046d\nport: 3-6.*")?;
/// let matcher = Matcher::new(&spec)?;
/// # let _ = matcher;
///
/// let spec: MatcherSpec = serde_yaml::from_str("udev: {env: [{name: A, equals: x, pattern: y}]}")?;
/// let error = Matcher::new(&spec).unwrap_err();
/// assert_eq!(error.to_string(), "udev.env[0]: 'equals' and 'pattern' are mutually exclusive");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Matcher {
    bus: Option<u16>,
    device: Option<u16>,
    vendor_id: Option<u16>,
    product_id: Option<u16>,
    port: Option<PortRule>,
    env: Vec<EnvRule>,
    tags: Vec<String>,
    current_tags: Vec<String>,
}

/// `port:`: the kernel name exactly, or (`3-6.*`) the port and every port behind it.
#[derive(Debug, Clone)]
struct PortRule {
    written: String,
    port: String,
    and_behind: bool,
}

impl PortRule {
    fn parse(written: &str) -> Option<PortRule> {
        let (port, and_behind) = match written.strip_suffix(".*") {
            Some(port) => (port, true),
            None => (written, false),
        };
        let (bus, chain) = port.split_once('-')?;
        let number = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        (number(bus) && chain.split('.').all(number)).then(|| PortRule {
            written: written.to_owned(),
            port: port.to_owned(),
            and_behind,
        })
    }

    fn matches(&self, kernel_name: &str) -> bool {
        match kernel_name.strip_prefix(self.port.as_str()) {
            Some("") => true,
            Some(rest) => self.and_behind && rest.starts_with('.'),
            None => false,
        }
    }
}

#[derive(Debug, Clone)]
struct EnvRule {
    name: String,
    test: EnvTest,
}

#[derive(Debug, Clone)]
enum EnvTest {
    Equals(String),
    Pattern(Regex),
}

impl EnvRule {
    fn build(spec: &EnvSpec) -> Result<EnvRule, Problem> {
        let name = match spec.name.as_deref() {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => return Err(Problem::EnvWithoutName),
        };
        let test = match (&spec.equals, &spec.pattern) {
            (Some(_), Some(_)) => return Err(Problem::EqualsAndPattern),
            (None, None) => return Err(Problem::NeitherEqualsNorPattern),
            (Some(value), None) => EnvTest::Equals(value.clone()),
            (None, Some(pattern)) => EnvTest::Pattern(compile(pattern)?),
        };
        Ok(EnvRule { name, test })
    }

    fn holds(&self, value: &str) -> bool {
        match &self.test {
            EnvTest::Equals(expected) => value == expected,
            EnvTest::Pattern(regex) => regex.is_match(value),
        }
    }
}

fn compile(pattern: &str) -> Result<Regex, Problem> {
    Regex::new(pattern).map_err(|error| Problem::BadPattern {
        pattern: pattern.to_owned(),
        reason: one_line(&error),
    })
}

/// The regex crate explains a syntax error over several lines (the pattern, a caret, then
/// `error: …`); a config error is one line, so keep the `error:` line.
fn one_line(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .map(str::to_owned)
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The first criterion a device fails, borrowed from the matcher (no allocation while matching).
enum Failure<'m> {
    Hub,
    Bus(u16),
    Device(u16),
    VendorId(u16),
    ProductId(u16),
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
        let bus = spec
            .bus
            .as_ref()
            .map(|n| n.decimal_in(BUS_RANGE.0, BUS_RANGE.1))
            .transpose()
            .map_err(|problem| Error::at(at("bus"), problem))?;
        let device = spec
            .device
            .as_ref()
            .map(|n| n.decimal_in(DEVICE_RANGE.0, DEVICE_RANGE.1))
            .transpose()
            .map_err(|problem| Error::at(at("device"), problem))?;
        let vendor_id = spec
            .vendor_id
            .as_ref()
            .map(|n| n.usb_id())
            .transpose()
            .map_err(|problem| Error::at(at("vendor-id"), problem))?;
        let product_id = spec
            .product_id
            .as_ref()
            .map(|n| n.usb_id())
            .transpose()
            .map_err(|problem| Error::at(at("product-id"), problem))?;
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
            && self.port.is_none()
            && self.env.is_empty()
            && self.tags.is_empty()
            && self.current_tags.is_empty()
    }

    /// Whether `device` matches: it is not a hub and every criterion holds. Never fails.
    pub fn matches(&self, device: &(impl Device + ?Sized)) -> bool {
        self.first_failure(device).is_none()
    }

    /// Why `device` does not match: the first criterion that fails (hub, bus, device, vendor-id,
    /// product-id, port, the env entries in order, tags, current tags); `None` when it matches.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_rules() {
        let rule = |written: &str| PortRule::parse(written).expect("valid port");
        assert!(rule("3-6.3").matches("3-6.3"));
        assert!(!rule("3-6.3").matches("3-6.3.1"));
        assert!(!rule("3-6").matches("3-6.1"));
        for behind in ["3-6", "3-6.1", "3-6.1.4"] {
            assert!(rule("3-6.*").matches(behind), "{behind}");
        }
        for elsewhere in ["3-61", "3-7", "13-6", "3-6:1.0", "usb3"] {
            assert!(!rule("3-6.*").matches(elsewhere), "{elsewhere}");
        }
        for bad in [
            "", "3", "3-", "3-6.", "3-6*", "-6", "usb3", "3-6.x", "3-6.*.*", "3-6.**",
        ] {
            assert!(PortRule::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn regex_errors_fit_on_one_line() {
        let Err(Problem::BadPattern { reason, .. }) = compile("(") else {
            panic!("an unclosed group is invalid");
        };
        assert_eq!(reason, "unclosed group");
    }
}
