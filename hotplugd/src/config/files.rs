//! The two kinds of configuration file, parsed from text and validated (pure; no I/O here).

use std::fmt;
use std::path::Path;
use std::time::Duration;

use hotplug_match::{DenyRules, MachineRules, MatcherSpec, PathSegment, RulePath};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::document::Document;
use super::{parse_duration, ConfigError, Machine, DEFAULT_INTERVAL};

/// The main file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a mapping of interval, libvirt-uri, deny and machines"
)]
struct MainFileSpec {
    interval: Option<String>,
    libvirt_uri: Option<String>,
    deny: Option<Vec<MatcherSpec>>,
    #[serde(default)]
    machines: MachineMap,
}

/// One machine as written: in the main file's `machines:`, or a whole `machines.d` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with devices and deny")]
struct MachineSpec {
    devices: Option<Vec<MatcherSpec>>,
    deny: Option<Vec<MatcherSpec>>,
}

/// `machines:` in file order; a name given twice is refused, as Go's YAML parser does.
#[derive(Debug, Default)]
enum MachineMap {
    /// No `machines` key.
    #[default]
    Absent,
    /// `machines:` without a value (or `~`, `null`).
    Null,
    /// The machines.
    Machines(Vec<(String, Option<MachineSpec>)>),
}

impl<'de> Deserialize<'de> for MachineMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MachineMapVisitor)
    }
}

struct MachineMapVisitor;

impl<'de> Visitor<'de> for MachineMapVisitor {
    type Value = MachineMap;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping of machine names to their devices")
    }

    fn visit_unit<E: de::Error>(self) -> Result<MachineMap, E> {
        Ok(MachineMap::Null)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MachineMap, A::Error> {
        let mut machines: Vec<(String, Option<MachineSpec>)> = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            if machines.iter().any(|(known, _)| *known == name) {
                return Err(de::Error::custom(format!(
                    "machine {name:?} is defined twice"
                )));
            }
            let spec = map.next_value()?;
            machines.push((name, spec));
        }
        Ok(MachineMap::Machines(machines))
    }
}

/// The main configuration file, validated.
#[derive(Debug)]
pub struct MainFile {
    /// `interval`, or the default 5 s.
    pub interval: Duration,
    /// `libvirt-uri`, when set.
    pub libvirt_uri: Option<String>,
    /// `deny`: a device matching any of these rules is attached to no machine.
    pub deny: DenyRules,
    /// `machines`, in file order.
    pub machines: Vec<Machine>,
}

/// Parses and validates the main configuration file's `text`; `file` is its path, for errors
/// and for [`Machine::source`]. What a file cut short in the middle of writing looks like is an
/// error, since reading it as "no machines" or "no rule" would detach devices: an empty document
/// (no bytes, only comments, or `~`), a key without a value (`machines:`, `deny:`, `vendor-id:`),
/// and keys without `machines`. `{}` and `machines: {}` have no machines.
///
/// ```
/// use std::path::Path;
/// use hotplugd::config::parse_main_file;
///
/// let main = parse_main_file("interval: 300ms\nmachines: {}\n", Path::new("config.yml"))?;
/// assert_eq!(main.interval.as_millis(), 300);
/// assert!(main.machines.is_empty());
///
/// let error = parse_main_file("interval: 5\n", Path::new("config.yml")).unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "config.yml:1:11: interval: \"5\" has a number without a unit (ns, us, ms, s, m or h)"
/// );
/// # Ok::<(), hotplugd::config::ConfigError>(())
/// ```
pub fn parse_main_file(text: &str, file: &Path) -> Result<MainFile, ConfigError> {
    let document = Document::new(file, text)?;
    let spec: MainFileSpec = document
        .parse::<Option<_>>()?
        .ok_or_else(|| ConfigError::Empty {
            file: file.to_owned(),
        })?;
    // A machine without a value (`machines:\n  vm:\n`) is refused as having no devices, as an
    // empty machines.d file is.
    refuse_key_without_value(
        &document,
        &|path| matches!(path.segments(), [PathSegment::Key(machines), _] if machines == "machines"),
    )?;
    let other_keys = spec.interval.is_some() || spec.libvirt_uri.is_some() || spec.deny.is_some();
    let interval = match spec.interval {
        None => DEFAULT_INTERVAL,
        Some(written) => parse_duration(&written).map_err(|problem| {
            document.invalid(
                RulePath::root().key("interval"),
                format!("{written:?} {problem}"),
            )
        })?,
    };
    if spec.libvirt_uri.as_deref() == Some("") {
        return Err(document.invalid(
            RulePath::root().key("libvirt-uri"),
            "is empty (leave it out for libvirt's default)".to_owned(),
        ));
    }
    let deny = deny_rules(&document, &RulePath::root(), spec.deny)?;
    let mut machines = Vec::new();
    let written = match spec.machines {
        MachineMap::Absent if other_keys => {
            // `{}` alone has no machines; other keys without `machines` may be a file cut short.
            return Err(ConfigError::Invalid {
                file: file.to_owned(),
                position: None,
                path: "machines".to_owned(),
                reason: "is missing (write `machines: {}` for no machines)".to_owned(),
            });
        }
        MachineMap::Absent => Vec::new(),
        MachineMap::Null => {
            return Err(document.invalid(
                RulePath::root().key("machines"),
                "has no value (write `machines: {}` for no machines)".to_owned(),
            ))
        }
        MachineMap::Machines(machines) => machines,
    };
    for (name, machine) in written {
        let at = RulePath::root().key("machines").key(name.as_str());
        if name.is_empty() {
            // The path of the empty name would read `machines.`; name the mapping instead.
            return Err(ConfigError::Invalid {
                file: file.to_owned(),
                position: document.position(&at),
                path: "machines".to_owned(),
                reason: "a machine name is empty".to_owned(),
            });
        }
        let rules = machine_rules(&document, &at, machine)?;
        machines.push(Machine {
            name,
            rules,
            source: file.to_owned(),
        });
    }
    Ok(MainFile {
        interval,
        libvirt_uri: spec.libvirt_uri,
        deny,
        machines,
    })
}

/// Parses and validates a `machines.d` file's `text` (`devices:` and `deny:` of the machine
/// `name`).
///
/// ```
/// use std::path::Path;
/// use hotplugd::config::parse_machine_file;
///
/// let file = Path::new("machines.d/webcam-test.yml");
/// let machine = parse_machine_file("devices:\n- vendor-id: 0x046d\n", file, "webcam-test")?;
/// assert_eq!(machine.rules.matchers().len(), 1);
///
/// let error = parse_machine_file("devices: []\n", file, "webcam-test").unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "machines.d/webcam-test.yml:1:10: devices: no device matchers (a machine needs at least one)"
/// );
/// # Ok::<(), hotplugd::config::ConfigError>(())
/// ```
pub fn parse_machine_file(text: &str, file: &Path, name: &str) -> Result<Machine, ConfigError> {
    let document = Document::new(file, text)?;
    let spec: Option<MachineSpec> = document.parse()?;
    refuse_key_without_value(&document, &|_| false)?;
    let rules = machine_rules(&document, &RulePath::root(), spec)?;
    Ok(Machine {
        name: name.to_owned(),
        rules,
        source: document.file().to_owned(),
    })
}

/// The error for a key written without a value, if the document has one (see
/// [`Document::key_without_value`]).
fn refuse_key_without_value(
    document: &Document<'_>,
    handled: &dyn Fn(&RulePath) -> bool,
) -> Result<(), ConfigError> {
    let Some(path) = document.key_without_value(handled) else {
        return Ok(());
    };
    let reason = if path == RulePath::root().key("machines") {
        "has no value (write `machines: {}` for no machines)"
    } else {
        "has no value (give it one, or leave the key out)"
    };
    Err(document.invalid(path, reason.to_owned()))
}

/// Builds a machine's rules, its deny rules included; `at` is where the machine is in the file.
fn machine_rules(
    document: &Document<'_>,
    at: &RulePath,
    spec: Option<MachineSpec>,
) -> Result<MachineRules, ConfigError> {
    let spec = spec.unwrap_or_default();
    let devices = spec.devices.unwrap_or_default();
    let rules = MachineRules::from_specs(&devices).map_err(|error| {
        let path = at.clone().key("devices").join(error.path());
        document.invalid(path, error.problem().to_string())
    })?;
    Ok(rules.with_deny(deny_rules(document, at, spec.deny)?))
}

/// Builds the `deny:` list found at `at` (the document or a machine); none or an empty list
/// denies nothing, and each rule is validated like a device matcher.
fn deny_rules(
    document: &Document<'_>,
    at: &RulePath,
    specs: Option<Vec<MatcherSpec>>,
) -> Result<DenyRules, ConfigError> {
    DenyRules::from_specs(&specs.unwrap_or_default()).map_err(|error| {
        let path = at.clone().key("deny").join(error.path());
        document.invalid(path, error.problem().to_string())
    })
}
