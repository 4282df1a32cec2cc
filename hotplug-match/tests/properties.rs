//! Properties of matching, checked on generated devices and rules.

mod support;

use std::collections::BTreeSet;

use hotplug_match::{
    DenyRules, EnvSpec, Interface, InterfaceCriteria, MachineMismatch, MachineRules, Matcher,
    MatcherSpec, Mismatch, NumberSpec, UdevSpec,
};
use proptest::prelude::*;
use proptest::sample::Index;
use support::{webcam, TestDevice};

fn property_name() -> impl Strategy<Value = String> {
    "[A-Z][A-Z_]{0,10}"
}

/// Any text, newlines and non-ASCII included.
fn text() -> impl Strategy<Value = String> {
    "(?s).{0,10}"
}

fn tag() -> impl Strategy<Value = String> {
    "[a-z_]{1,8}"
}

fn kernel_name() -> impl Strategy<Value = String> {
    (1u16..20, prop::collection::vec(1u16..16, 1..4)).prop_map(|(bus, ports)| {
        let chain: Vec<String> = ports.iter().map(u16::to_string).collect();
        format!("{bus}-{}", chain.join("."))
    })
}

/// Class codes drawn mostly from a few values, so that devices share them with other devices.
fn class_code() -> impl Strategy<Value = u8> {
    prop_oneof![3 => prop::sample::select(vec![0x00, 0x03, 0x08, 0xff]), 1 => any::<u8>()]
}

fn interface() -> impl Strategy<Value = Interface> {
    (class_code(), class_code(), class_code()).prop_map(|(class, subclass, protocol)| Interface {
        class,
        subclass,
        protocol,
    })
}

/// A device with any attributes; one in five is a hub (device class 09, as the kernel's hub
/// driver and discovery tell hubs).
fn device() -> impl Strategy<Value = TestDevice> {
    (
        (1..=u16::MAX, 1u16..=127, any::<u16>(), any::<u16>()),
        (class_code(), class_code(), class_code()),
        prop::collection::vec(interface(), 0..4),
        kernel_name(),
        prop::collection::btree_map(property_name(), text(), 0..6),
        prop::collection::btree_set(tag(), 0..4),
        prop::collection::btree_set(tag(), 0..4),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(
                (bus, device, vendor_id, product_id),
                (device_class, device_subclass, device_protocol),
                interfaces,
                kernel_name,
                properties,
                tags,
                current_tags,
                hub,
            )| {
                TestDevice {
                    bus,
                    device,
                    vendor_id,
                    product_id,
                    device_class: if hub { 0x09 } else { device_class },
                    device_subclass,
                    device_protocol,
                    interfaces,
                    kernel_name,
                    properties,
                    tags,
                    current_tags,
                    hub,
                }
            },
        )
}

/// Which of its own attributes a matcher takes from a device, and how it writes them.
#[derive(Debug, Clone)]
struct Choices {
    bus: bool,
    device: bool,
    vendor_id: bool,
    product_id: bool,
    port: bool,
    /// Which of the device class, subclass and protocol to require.
    device_codes: [bool; 3],
    /// Which of its interfaces (cycled over its interfaces; `None`: none) to require, and which
    /// of that interface's class, subclass and protocol.
    interface: Option<(usize, [bool; 3])>,
    /// Write numbers as strings (hex for ids, zero-padded decimal for bus/device).
    as_text: bool,
    /// How many port levels to keep before `.*` (0: the exact port).
    port_levels: usize,
    /// Per property (cycled): 0 leave out, 1 `equals`, 2 `pattern: ^value$`, 3 a pattern of a part.
    env_modes: Vec<u8>,
    /// Per tag (cycled): whether to require it.
    take_tag: Vec<bool>,
}

fn choices() -> impl Strategy<Value = Choices> {
    (
        prop::array::uniform6(any::<bool>()),
        prop::array::uniform3(any::<bool>()),
        prop::option::of((any::<usize>(), prop::array::uniform3(any::<bool>()))),
        0usize..4,
        prop::collection::vec(0u8..4, 1..6),
        prop::collection::vec(any::<bool>(), 1..5),
    )
        .prop_map(
            |(flags, device_codes, interface, port_levels, env_modes, take_tag)| Choices {
                bus: flags[0],
                device: flags[1],
                vendor_id: flags[2],
                product_id: flags[3],
                port: flags[4],
                device_codes,
                interface,
                as_text: flags[5],
                port_levels,
                env_modes,
                take_tag,
            },
        )
}

fn id(value: u16, as_text: bool) -> NumberSpec {
    if as_text {
        NumberSpec::Text(format!("{value:04x}"))
    } else {
        NumberSpec::Integer(value.into())
    }
}

fn code(value: u8, as_text: bool) -> NumberSpec {
    if as_text {
        NumberSpec::Text(format!("{value:02x}"))
    } else {
        NumberSpec::Integer(value.into())
    }
}

fn decimal(value: u16, as_text: bool) -> NumberSpec {
    if as_text {
        NumberSpec::Text(format!("{value:03}"))
    } else {
        NumberSpec::Integer(value.into())
    }
}

fn equals(name: &str, value: &str) -> EnvSpec {
    EnvSpec {
        name: Some(name.to_owned()),
        equals: Some(value.to_owned()),
        pattern: None,
    }
}

fn pattern(name: &str, pattern: String) -> EnvSpec {
    EnvSpec {
        name: Some(name.to_owned()),
        equals: None,
        pattern: Some(pattern),
    }
}

/// A matcher made of the device's own attributes, as `choices` picks them.
fn own_spec(device: &TestDevice, choices: &Choices) -> MatcherSpec {
    let port = choices.port.then(|| {
        let levels: Vec<&str> = device.kernel_name.split('.').collect();
        if choices.port_levels == 0 {
            device.kernel_name.clone()
        } else {
            let keep = levels.len().saturating_sub(choices.port_levels - 1).max(1);
            format!("{}.*", levels[..keep].join("."))
        }
    });
    let env: Vec<EnvSpec> = device
        .properties
        .iter()
        .enumerate()
        .filter_map(|(index, (name, value))| {
            match choices.env_modes[index % choices.env_modes.len()] {
                1 => Some(equals(name, value)),
                2 => Some(pattern(name, format!("^{}$", regex::escape(value)))),
                3 => {
                    let part: String = value.chars().skip(1).take(3).collect();
                    Some(pattern(name, regex::escape(&part)))
                }
                _ => None,
            }
        })
        .collect();
    let pick = |tags: &BTreeSet<String>| -> Vec<String> {
        tags.iter()
            .enumerate()
            .filter(|(index, _)| choices.take_tag[index % choices.take_tag.len()])
            .map(|(_, tag)| tag.clone())
            .collect()
    };
    let take = |wanted: bool, value: u8| wanted.then(|| code(value, choices.as_text));
    let interface = choices
        .interface
        .as_ref()
        .filter(|_| !device.interfaces.is_empty())
        .map(|(index, wanted)| (device.interfaces[index % device.interfaces.len()], wanted));
    MatcherSpec {
        bus: choices.bus.then(|| decimal(device.bus, choices.as_text)),
        device_class: take(choices.device_codes[0], device.device_class),
        device_subclass: take(choices.device_codes[1], device.device_subclass),
        device_protocol: take(choices.device_codes[2], device.device_protocol),
        interface_class: interface.and_then(|(i, wanted)| take(wanted[0], i.class)),
        interface_subclass: interface.and_then(|(i, wanted)| take(wanted[1], i.subclass)),
        interface_protocol: interface.and_then(|(i, wanted)| take(wanted[2], i.protocol)),
        device: choices
            .device
            .then(|| decimal(device.device, choices.as_text)),
        // Always at least one criterion: a matcher that sets none is refused.
        vendor_id: Some(id(device.vendor_id, choices.as_text)).filter(|_| {
            choices.vendor_id
                || !(choices.bus || choices.device || choices.product_id || choices.port)
        }),
        product_id: choices
            .product_id
            .then(|| id(device.product_id, choices.as_text)),
        port,
        udev: Some(UdevSpec {
            env: Some(env),
            tags: Some(pick(&device.tags)),
            current_tags: Some(pick(&device.current_tags)),
        }),
    }
}

/// The matcher that sets every criterion from the device: all ids, the exact port, every property
/// with `equals`, every tag and current tag.
fn full_spec(device: &TestDevice) -> MatcherSpec {
    let everything = Choices {
        bus: true,
        device: true,
        vendor_id: true,
        product_id: true,
        port: true,
        device_codes: [true; 3],
        interface: Some((0, [true; 3])),
        as_text: false,
        port_levels: 0,
        env_modes: vec![1],
        take_tag: vec![true],
    };
    own_spec(device, &everything)
}

/// One criterion of the full matcher, changed to a value the device does not have.
#[derive(Debug, Clone)]
enum Change {
    Bus(u16),
    Device(u16),
    VendorId(u16),
    ProductId(u16),
    DeviceClass(u8),
    DeviceSubclass(u8),
    DeviceProtocol(u8),
    /// The interface criteria: which of class, subclass, protocol to change, and to what.
    Interface(usize, u8),
    Port,
    EnvValue(Index),
    EnvName(Index),
    Tag(Index),
    CurrentTag(Index),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (1..=u16::MAX).prop_map(Change::Bus),
        (1u16..=127).prop_map(Change::Device),
        any::<u16>().prop_map(Change::VendorId),
        any::<u16>().prop_map(Change::ProductId),
        any::<u8>().prop_map(Change::DeviceClass),
        any::<u8>().prop_map(Change::DeviceSubclass),
        any::<u8>().prop_map(Change::DeviceProtocol),
        (0usize..3, any::<u8>()).prop_map(|(which, value)| Change::Interface(which, value)),
        Just(Change::Port),
        any::<Index>().prop_map(Change::EnvValue),
        any::<Index>().prop_map(Change::EnvName),
        any::<Index>().prop_map(Change::Tag),
        any::<Index>().prop_map(Change::CurrentTag),
    ]
}

/// Applies `change` to `spec` (the full matcher of `device`); returns the mismatch `explain` must
/// report, or `None` when the change does not apply (the same value drawn, no property or tag).
fn apply(change: &Change, device: &TestDevice, spec: &mut MatcherSpec) -> Option<Mismatch> {
    let udev = spec.udev.as_mut()?;
    match change {
        Change::Bus(bus) if *bus != device.bus => {
            spec.bus = Some(NumberSpec::Integer((*bus).into()));
            Some(Mismatch::Bus {
                expected: *bus,
                actual: device.bus,
            })
        }
        Change::Device(number) if *number != device.device => {
            spec.device = Some(NumberSpec::Integer((*number).into()));
            Some(Mismatch::Device {
                expected: *number,
                actual: device.device,
            })
        }
        Change::VendorId(vendor) if *vendor != device.vendor_id => {
            spec.vendor_id = Some(NumberSpec::Integer((*vendor).into()));
            Some(Mismatch::VendorId {
                expected: *vendor,
                actual: device.vendor_id,
            })
        }
        Change::ProductId(product) if *product != device.product_id => {
            spec.product_id = Some(NumberSpec::Integer((*product).into()));
            Some(Mismatch::ProductId {
                expected: *product,
                actual: device.product_id,
            })
        }
        Change::DeviceClass(class) if *class != device.device_class => {
            spec.device_class = Some(NumberSpec::Integer((*class).into()));
            Some(Mismatch::DeviceClass {
                expected: *class,
                actual: device.device_class,
            })
        }
        Change::DeviceSubclass(subclass) if *subclass != device.device_subclass => {
            spec.device_subclass = Some(NumberSpec::Integer((*subclass).into()));
            Some(Mismatch::DeviceSubclass {
                expected: *subclass,
                actual: device.device_subclass,
            })
        }
        Change::DeviceProtocol(protocol) if *protocol != device.device_protocol => {
            spec.device_protocol = Some(NumberSpec::Integer((*protocol).into()));
            Some(Mismatch::DeviceProtocol {
                expected: *protocol,
                actual: device.device_protocol,
            })
        }
        Change::Interface(which, value) => {
            // The full matcher asks for the first interface's values; change one of them. The
            // criteria then fail only when no interface at all has the changed combination.
            let first = *device.interfaces.first()?;
            let mut expected = InterfaceCriteria {
                class: Some(first.class),
                subclass: Some(first.subclass),
                protocol: Some(first.protocol),
            };
            let slot = match which {
                0 => (&mut expected.class, &mut spec.interface_class),
                1 => (&mut expected.subclass, &mut spec.interface_subclass),
                _ => (&mut expected.protocol, &mut spec.interface_protocol),
            };
            *slot.0 = Some(*value);
            *slot.1 = Some(NumberSpec::Integer((*value).into()));
            (!expected.holds_for_any(&device.interfaces)).then(|| Mismatch::NoInterface {
                expected,
                actual: device.interfaces.clone(),
            })
        }
        Change::Port => {
            let other = format!("{}9", device.kernel_name);
            spec.port = Some(other.clone());
            Some(Mismatch::Port {
                expected: other,
                actual: device.kernel_name.clone(),
            })
        }
        Change::EnvValue(index) => {
            let env = udev.env.as_mut()?;
            if env.is_empty() {
                return None;
            }
            let slot = index.index(env.len());
            let entry = &mut env[slot];
            let name = entry.name.clone()?;
            let actual = device.properties.get(&name)?.clone();
            let expected = format!("{actual}~");
            entry.equals = Some(expected.clone());
            Some(Mismatch::PropertyDiffers {
                name,
                expected,
                actual,
            })
        }
        Change::EnvName(index) => {
            let env = udev.env.as_mut()?;
            if env.is_empty() {
                return None;
            }
            let slot = index.index(env.len());
            let entry = &mut env[slot];
            let name = format!("{}_ABSENT", entry.name.as_deref()?);
            entry.name = Some(name.clone());
            (!device.properties.contains_key(&name)).then_some(Mismatch::PropertyMissing { name })
        }
        Change::Tag(index) => {
            let tags = udev.tags.as_mut()?;
            if tags.is_empty() {
                return None;
            }
            let slot = index.index(tags.len());
            let tag = format!("{}-absent", tags[slot]);
            tags[slot] = tag.clone();
            Some(Mismatch::TagMissing { tag })
        }
        Change::CurrentTag(index) => {
            let tags = udev.current_tags.as_mut()?;
            if tags.is_empty() {
                return None;
            }
            let slot = index.index(tags.len());
            let tag = format!("{}-absent", tags[slot]);
            tags[slot] = tag.clone();
            Some(Mismatch::CurrentTagMissing { tag })
        }
        _ => None,
    }
}

proptest! {
    // A matcher built from (any choice of) a device's own attributes matches that device, and
    // `explain` has nothing to say about it; unless the device is a hub, which no matcher
    // matches, and `explain` says so.
    #[test]
    fn a_matcher_of_a_devices_own_attributes_matches_it_unless_it_is_a_hub(
        device in device(),
        choices in choices(),
    ) {
        let spec = own_spec(&device, &choices);
        let matcher = Matcher::new(&spec).expect("own attributes are valid");
        if device.hub {
            prop_assert!(!matcher.matches(&device));
            prop_assert_eq!(matcher.explain(&device), Some(Mismatch::Hub));
        } else {
            prop_assert!(matcher.matches(&device), "{:?}", matcher.explain(&device));
            prop_assert_eq!(matcher.explain(&device), None);
        }
    }

    // Changing any one criterion of the device's full matcher to a value the device does not have
    // makes it fail, and `explain` names exactly that criterion with both values.
    #[test]
    fn changing_one_criterion_fails_and_explain_names_it(device in device(), change in change()) {
        // A hub fails on being a hub first (the property above).
        prop_assume!(!device.hub);
        let mut spec = full_spec(&device);
        let expected = apply(&change, &device, &mut spec);
        // The change does not apply: the same value drawn, or no property or tag to change.
        prop_assume!(expected.is_some());
        let expected = expected.expect("assumed");
        let matcher = Matcher::new(&spec).expect("changed matcher is valid");
        prop_assert!(!matcher.matches(&device));
        prop_assert_eq!(matcher.explain(&device), Some(expected));
    }

    // `equals: X` behaves exactly like `pattern: ^<X escaped>$`, for any X and any value the
    // property has (equal, longer on either side, another one, or none at all).
    #[test]
    fn equals_is_an_anchored_escaped_pattern(
        expected in text(),
        actual in prop_oneof![
            Just(None),
            text().prop_map(Some),
        ],
        shape in 0u8..4,
    ) {
        let actual = match shape {
            0 => actual,
            1 => Some(expected.clone()),
            2 => Some(format!("{expected}{}", actual.unwrap_or_default())),
            _ => Some(format!("{}{expected}", actual.unwrap_or_default())),
        };
        let device = TestDevice {
            properties: actual.iter().map(|value| ("P".to_owned(), value.clone())).collect(),
            ..webcam()
        };
        let by_equals = Matcher::new(&MatcherSpec {
            udev: Some(UdevSpec { env: Some(vec![equals("P", &expected)]), ..UdevSpec::default() }),
            ..MatcherSpec::default()
        }).expect("valid");
        let anchored = format!("^{}$", regex::escape(&expected));
        let by_pattern = Matcher::new(&MatcherSpec {
            udev: Some(UdevSpec { env: Some(vec![pattern("P", anchored)]), ..UdevSpec::default() }),
            ..MatcherSpec::default()
        }).expect("valid");
        prop_assert_eq!(by_equals.matches(&device), by_pattern.matches(&device));
        prop_assert_eq!(by_equals.matches(&device), actual.as_deref() == Some(expected.as_str()));
    }

    // Whether a matcher matches does not depend on the order of its env entries, tags or current
    // tags: it is the AND of each of them alone.
    #[test]
    fn order_of_env_entries_and_tags_does_not_matter(
        (env, env_shuffled) in prop::collection::vec(
            (prop::sample::select(vec!["A", "B", "C"]), prop::sample::select(vec!["x", "y", "^x", "y$"]), any::<bool>()),
            1..5,
        ).prop_flat_map(|entries| (Just(entries.clone()), Just(entries).prop_shuffle())),
        (tags, tags_shuffled) in prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 0..4)
            .prop_flat_map(|tags| (Just(tags.clone()), Just(tags).prop_shuffle())),
        properties in prop::collection::btree_map(
            prop::sample::select(vec!["A", "B", "C"]).prop_map(str::to_owned),
            prop::sample::select(vec!["x", "y", "xy"]).prop_map(str::to_owned),
            0..3,
        ),
        device_tags in prop::collection::btree_set(prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_owned), 0..3),
    ) {
        let entry = |(name, value, by_pattern): &(&str, &str, bool)| {
            if *by_pattern { pattern(name, (*value).to_owned()) } else { equals(name, value) }
        };
        let spec = |entries: &[(&str, &str, bool)], tags: &[&str]| MatcherSpec {
            udev: Some(UdevSpec {
                env: Some(entries.iter().map(entry).collect()),
                tags: Some(tags.iter().map(|t| (*t).to_owned()).collect()),
                current_tags: Some(tags.iter().map(|t| (*t).to_owned()).collect()),
            }),
            ..MatcherSpec::default()
        };
        let device = TestDevice {
            properties: properties.clone(),
            tags: device_tags.clone(),
            current_tags: device_tags.clone(),
            ..webcam()
        };
        let original = Matcher::new(&spec(&env, &tags)).expect("valid");
        let shuffled = Matcher::new(&spec(&env_shuffled, &tags_shuffled)).expect("valid");
        prop_assert_eq!(original.matches(&device), shuffled.matches(&device));
        let each_alone = env.iter().all(|e| Matcher::new(&spec(std::slice::from_ref(e), &[])).expect("valid").matches(&device))
            && tags.iter().all(|t| device_tags.contains(*t));
        prop_assert_eq!(original.matches(&device), each_alone);
    }

    // A device that matches one of a machine's deny rules never matches that machine, whatever its
    // matchers; and `explain` then names the first deny rule that matches it.
    #[test]
    fn a_device_matching_a_deny_rule_never_matches_the_machine(
        devices in prop::collection::vec(device(), 1..6),
        matcher_choices in prop::collection::vec((any::<Index>(), choices()), 1..4),
        deny_choices in prop::collection::vec((any::<Index>(), choices()), 1..4),
    ) {
        let specs = |picks: &[(Index, Choices)]| -> Vec<MatcherSpec> {
            picks.iter().map(|(index, choices)| own_spec(index.get(&devices), choices)).collect()
        };
        let deny = DenyRules::from_specs(&specs(&deny_choices)).expect("own attributes are valid");
        let rules = MachineRules::from_specs(&specs(&matcher_choices))
            .expect("own attributes are valid")
            .with_deny(deny.clone());
        for device in &devices {
            let Some(index) = deny.denied_by(device) else {
                continue;
            };
            prop_assert!(!rules.matches(device));
            prop_assert_eq!(rules.first_match(device), None);
            let explained = rules.explain(device).expect("it does not match");
            if let MachineMismatch::Denied(denial) = explained {
                prop_assert_eq!(denial.index, index);
                prop_assert_eq!(denial.rule, deny.matchers()[index].to_string());
            } else {
                // Denied or not, no matcher matches: then the mismatches are what explain gives.
                prop_assert!(rules.matchers().iter().all(|matcher| !matcher.matches(device)));
            }
        }
    }

    // Adding a deny rule to a machine never makes it match more devices: what it matches then is
    // exactly what it matched before, less what the new rule matches.
    #[test]
    fn adding_a_deny_rule_never_matches_more_devices(
        devices in prop::collection::vec(device(), 1..8),
        matcher_choices in prop::collection::vec((any::<Index>(), choices()), 1..4),
        deny_choices in prop::collection::vec((any::<Index>(), choices()), 0..3),
        added in (any::<Index>(), choices()),
    ) {
        let specs = |picks: &[(Index, Choices)]| -> Vec<MatcherSpec> {
            picks.iter().map(|(index, choices)| own_spec(index.get(&devices), choices)).collect()
        };
        let matchers = MachineRules::from_specs(&specs(&matcher_choices)).expect("valid");
        let mut deny_specs = specs(&deny_choices);
        let before = matchers.clone().with_deny(DenyRules::from_specs(&deny_specs).expect("valid"));
        deny_specs.push(own_spec(added.0.get(&devices), &added.1));
        let after = matchers.with_deny(DenyRules::from_specs(&deny_specs).expect("valid"));
        let added_rule = Matcher::new(deny_specs.last().expect("pushed")).expect("valid");
        for device in &devices {
            prop_assert!(!after.matches(device) || before.matches(device));
            prop_assert_eq!(
                after.matches(device),
                before.matches(device) && !added_rule.matches(device)
            );
        }
        prop_assert!(!after.matches(added.0.get(&devices)), "the rule's own device is denied");
    }

    // Validation never panics: any YAML document either fails to deserialize or builds into a
    // matcher (or a machine's rules) or an error, and matching what was built does not panic.
    #[test]
    fn validation_never_panics_on_any_yaml(value in yaml_value()) {
        let text = serde_yaml::to_string(&value).expect("a value serializes");
        if let Ok(spec) = serde_yaml::from_str::<MatcherSpec>(&text) {
            if let Ok(matcher) = Matcher::new(&spec) {
                let _ = matcher.explain(&webcam());
            }
        }
        if let Ok(specs) = serde_yaml::from_str::<Vec<MatcherSpec>>(&text) {
            if let Ok(rules) = MachineRules::from_specs(&specs) {
                let _ = rules.explain(&webcam());
            }
            if let Ok(deny) = DenyRules::from_specs(&specs) {
                let _ = deny.explain(&webcam());
            }
        }
    }

    // Validation never panics on any text, YAML or not.
    #[test]
    fn validation_never_panics_on_any_text(text in "(?s).{0,200}") {
        if let Ok(spec) = serde_yaml::from_str::<MatcherSpec>(&text) {
            let _ = Matcher::new(&spec);
        }
    }
}

/// YAML values leaning towards the matcher's own keys, so that many get deep into validation.
fn yaml_value() -> impl Strategy<Value = serde_yaml::Value> {
    use serde_yaml::Value;
    let key = prop_oneof![
        4 => prop::sample::select(vec![
            "bus", "device", "vendor-id", "product-id", "port", "udev", "env", "tags",
            "current-tags", "name", "equals", "pattern", "device-class", "device-subclass",
            "device-protocol", "interface-class", "interface-subclass", "interface-protocol",
        ]).prop_map(str::to_owned),
        1 => "(?s).{0,6}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<u64>().prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_map(|n| Value::Number(n.into())),
        "(?s).{0,8}".prop_map(Value::String),
        prop::sample::select(vec![
            "(", "[a-", "3-6.*", "0x046d", "046d", "ffffff", "3-6*", "", "\\"
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(5, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Sequence),
            prop::collection::vec((key.clone(), inner), 0..5).prop_map(|entries| {
                Value::Mapping(
                    entries
                        .into_iter()
                        .map(|(k, v)| (Value::String(k), v))
                        .collect(),
                )
            }),
        ]
    })
}
