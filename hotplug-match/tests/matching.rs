//! The matching semantics on hand-written rules: what matches, what `explain` says, what is refused.

mod support;

use hotplug_match::{
    Denial, DenyRules, Error, Interface, MachineMismatch, MachineRules, Matcher, MatcherSpec,
    Mismatch, Problem,
};
use support::{webcam, TestDevice};

fn matcher(yaml: &str) -> Matcher {
    let spec: MatcherSpec = serde_yaml::from_str(yaml).expect("matcher yaml");
    Matcher::new(&spec).expect("valid matcher")
}

fn explain(yaml: &str, device: &TestDevice) -> Option<String> {
    matcher(yaml).explain(device).map(|m| m.to_string())
}

#[test]
fn the_readme_matcher_matches_the_webcam() {
    let yaml = "vendor-id: 0x046d\nproduct-id: 0x0825\nudev:\n  env:\n  - name: ID_USB_SERIAL_SHORT\n    equals: 'ABC123'\n";
    assert!(matcher(yaml).matches(&webcam()));
    assert_eq!(explain(yaml, &webcam()), None);
}

#[test]
fn explain_names_the_first_failing_criterion() {
    let cam = webcam();
    let cases = [
        ("vendor-id: 0x1050", "vendor-id 046d != 1050"),
        ("product-id: '0120'", "product-id 0825 != 0120"),
        ("bus: 4", "bus 3 != 4"),
        ("device: 6", "device 5 != 6"),
        ("port: 3-6.4", "port 3-6.3 != 3-6.4"),
        ("port: 3-7.*", "port 3-6.3 is neither 3-7 nor behind it"),
        (
            "udev: {env: [{name: ID_USB_SERIAL_SHORT, equals: Y2}]}",
            r#"ID_USB_SERIAL_SHORT is "ABC123", expected "Y2""#,
        ),
        (
            "udev: {env: [{name: ID_SERIAL, pattern: x}]}",
            "ID_SERIAL is not set",
        ),
        (
            "udev: {env: [{name: ID_MODEL, pattern: '^C'}]}",
            r#"ID_MODEL is "0825", which does not match "^C""#,
        ),
        ("udev: {tags: [seat, kvm]}", r#"tag "kvm" missing"#),
        (
            "udev: {current-tags: [seat]}",
            r#"current tag "seat" missing"#,
        ),
        // vendor-id is checked before the env entries, so it is what is named.
        (
            "vendor-id: 0x1050\nudev: {env: [{name: ID_SERIAL, equals: x}]}",
            "vendor-id 046d != 1050",
        ),
    ];
    for (yaml, sentence) in cases {
        assert!(!matcher(yaml).matches(&cam), "{yaml}");
        assert_eq!(explain(yaml, &cam).as_deref(), Some(sentence), "{yaml}");
    }
}

#[test]
fn patterns_are_unanchored_searches() {
    let cam = webcam();
    for pattern in ["BC1", "^ABC", "123$", "[A-C]{3}[0-9]+"] {
        let yaml = format!("udev: {{env: [{{name: ID_USB_SERIAL_SHORT, pattern: '{pattern}'}}]}}");
        assert!(matcher(&yaml).matches(&cam), "{pattern}");
    }
    let yaml = "udev: {env: [{name: ID_VENDOR_FROM_DATABASE, pattern: 'Logitech, Inc\\.'}]}";
    assert!(matcher(yaml).matches(&cam));
}

#[test]
fn port_with_star_takes_the_port_and_everything_behind_it() {
    let on = |port: &str| TestDevice {
        kernel_name: port.into(),
        ..webcam()
    };
    let rule = matcher("port: 3-6.*");
    for port in ["3-6", "3-6.1", "3-6.1.4"] {
        assert!(rule.matches(&on(port)), "{port}");
    }
    for port in ["3-61", "3-7", "4-6", "3-5.6"] {
        assert!(!rule.matches(&on(port)), "{port}");
    }
    let exact = matcher("port: 3-6");
    assert!(exact.matches(&on("3-6")));
    assert!(!exact.matches(&on("3-6.1")));
}

#[test]
fn a_hub_never_matches_even_with_its_own_attributes() {
    let hub = TestDevice {
        kernel_name: "3-6".into(),
        vendor_id: 0x05e3,
        product_id: 0x0608,
        hub: true,
        ..webcam()
    };
    let own = "vendor-id: 0x05e3\nproduct-id: 0x0608\nbus: 3\ndevice: 5\nport: 3-6";
    assert!(!matcher(own).matches(&hub));
    assert_eq!(matcher(own).explain(&hub), Some(Mismatch::Hub));
    assert_eq!(explain(own, &hub).as_deref(), Some("device is a hub"));
}

#[test]
fn a_machine_matches_when_any_matcher_does() {
    let specs: Vec<MatcherSpec> =
        serde_yaml::from_str("- vendor-id: 0x1050\n- product-id: 0x0825\n").expect("yaml");
    let rules = MachineRules::from_specs(&specs).expect("valid");
    assert!(rules.matches(&webcam()));
    assert_eq!(rules.first_match(&webcam()), Some(1));
    assert!(rules.explain(&webcam()).is_none());

    let specs: Vec<MatcherSpec> =
        serde_yaml::from_str("- vendor-id: 0x1050\n- udev: {tags: [kvm]}\n").expect("yaml");
    let rules = MachineRules::from_specs(&specs).expect("valid");
    assert!(!rules.matches(&webcam()));
    assert_eq!(
        rules.explain(&webcam()).expect("no match").to_string(),
        r#"devices[0]: vendor-id 046d != 1050; devices[1]: tag "kvm" missing"#
    );
    let one = MachineRules::from_specs(&specs[..1]).expect("valid");
    assert_eq!(
        one.explain(&webcam()).expect("no match").to_string(),
        "vendor-id 046d != 1050"
    );
}

/// Every rule the build step refuses, with the path it names (relative to the matcher).
#[test]
fn invalid_matchers_are_refused_with_their_path() {
    let cases = [
        ("{}", "", Problem::EmptyMatcher),
        ("udev: {env: [], tags: []}", "", Problem::EmptyMatcher),
        (
            "vendor-id: 0x10000",
            "vendor-id",
            Problem::IdOutOfRange { value: 0x10000 },
        ),
        (
            "product-id: -2",
            "product-id",
            Problem::IdOutOfRange { value: -2 },
        ),
        (
            "product-id: 'g00d'",
            "product-id",
            Problem::IdNotHex {
                text: "g00d".into(),
            },
        ),
        (
            "bus: 0",
            "bus",
            Problem::NumberOutOfRange {
                value: 0,
                min: 1,
                max: 65535,
            },
        ),
        (
            "device: 128",
            "device",
            Problem::NumberOutOfRange {
                value: 128,
                min: 1,
                max: 127,
            },
        ),
        (
            "port: '3-6*'",
            "port",
            Problem::BadPort {
                port: "3-6*".into(),
            },
        ),
        (
            "udev: {env: [{name: A, equals: x}, {equals: x}]}",
            "udev.env[1]",
            Problem::EnvWithoutName,
        ),
        (
            "udev: {env: [{name: '', equals: x}]}",
            "udev.env[0]",
            Problem::EnvWithoutName,
        ),
        (
            "udev: {env: [{name: A, equals: x, pattern: y}]}",
            "udev.env[0]",
            Problem::EqualsAndPattern,
        ),
        (
            "udev: {env: [{name: A}]}",
            "udev.env[0]",
            Problem::NeitherEqualsNorPattern,
        ),
        (
            "udev: {env: [{name: A, pattern: '('}]}",
            "udev.env[0].pattern",
            Problem::BadPattern {
                pattern: "(".into(),
                reason: "unclosed group".into(),
            },
        ),
        ("udev: {tags: [a, '']}", "udev.tags[1]", Problem::EmptyTag),
        (
            "udev: {current-tags: ['']}",
            "udev.current-tags[0]",
            Problem::EmptyTag,
        ),
    ];
    for (yaml, path, problem) in cases {
        let spec: MatcherSpec = serde_yaml::from_str(yaml).expect("matcher yaml");
        let error = Matcher::new(&spec).expect_err(yaml);
        assert_eq!(error.path().to_string(), path, "{yaml}");
        assert_eq!(error.problem(), &problem, "{yaml}");
    }
    let specs: Vec<MatcherSpec> = serde_yaml::from_str("- bus: 1\n- port: x\n").expect("yaml");
    let error = MachineRules::from_specs(&specs).expect_err("bad port");
    assert_eq!(
        error.to_string(),
        r#"[1].port: "x" is not a port like 3-6.3 (or 3-6.* for the port and all behind it)"#
    );
    let error = MachineRules::from_specs(&[]).expect_err("no matchers");
    assert!(matches!(
        error,
        Error::InvalidRule {
            problem: Problem::NoMatchers,
            ..
        }
    ));
    assert_eq!(
        error.to_string(),
        "no device matchers (a machine needs at least one)"
    );
}

#[test]
fn unknown_keys_are_refused() {
    for yaml in [
        "vendor: 0x046d",
        "udev: {envs: []}",
        "udev: {env: [{name: A, equal: x}]}",
        "udev: {current_tags: [a]}",
    ] {
        let error = serde_yaml::from_str::<MatcherSpec>(yaml).expect_err(yaml);
        assert!(
            error.to_string().contains("unknown field"),
            "{yaml}: {error}"
        );
    }
}

fn interfaces(codes: &[(u8, u8, u8)]) -> Vec<Interface> {
    codes
        .iter()
        .map(|&(class, subclass, protocol)| Interface {
            class,
            subclass,
            protocol,
        })
        .collect()
}

/// A keyboard with a second HID interface (`:030101:030000:`), as the Holtek recording has.
fn keyboard() -> TestDevice {
    TestDevice {
        vendor_id: 0x04d9,
        product_id: 0x1603,
        device_class: 0,
        device_subclass: 0,
        device_protocol: 0,
        interfaces: interfaces(&[(3, 1, 1), (3, 0, 0)]),
        kernel_name: "1-3".into(),
        ..webcam()
    }
}

#[test]
fn class_criteria_match_the_device_descriptor_and_one_interface() {
    let cam = webcam();
    let kbd = keyboard();
    for (yaml, on_cam, on_keyboard) in [
        ("device-class: 0xef", true, false),
        (
            "device-class: 'ef'\ndevice-subclass: 2\ndevice-protocol: 1",
            true,
            false,
        ),
        ("device-class: 0", false, true),
        ("interface-class: 0e", true, false),
        ("interface-class: 3", false, true),
        (
            "interface-class: 3\ninterface-subclass: 1\ninterface-protocol: 1",
            false,
            true,
        ),
        ("interface-class: 3\ninterface-protocol: 0", false, true),
        // Both values exist, but on two different interfaces: no one interface has both.
        (
            "interface-subclass: 1\ninterface-protocol: 0\ninterface-class: 3",
            false,
            false,
        ),
        ("interface-protocol: 1", false, true),
        ("interface-subclass: 2", true, false),
        ("vendor-id: 0x04d9\ninterface-class: 3", false, true),
    ] {
        assert_eq!(matcher(yaml).matches(&cam), on_cam, "{yaml} on the webcam");
        assert_eq!(
            matcher(yaml).matches(&kbd),
            on_keyboard,
            "{yaml} on the keyboard"
        );
    }
}

#[test]
fn explain_names_class_mismatches_in_words() {
    let kbd = keyboard();
    let unconfigured = TestDevice {
        interfaces: Vec::new(),
        ..keyboard()
    };
    let cases = [
        ("device-class: 0x07", &kbd, "device-class 00 != 07"),
        ("device-subclass: 0x01", &kbd, "device-subclass 00 != 01"),
        ("device-protocol: 0xff", &kbd, "device-protocol 00 != ff"),
        (
            "interface-class: 07",
            &kbd,
            "no interface with class 07 (interfaces: 03/01/01, 03/00/00)",
        ),
        (
            "interface-class: 3\ninterface-subclass: 1\ninterface-protocol: 2",
            &kbd,
            "no interface with class 03, subclass 01, protocol 02 (interfaces: 03/01/01, 03/00/00)",
        ),
        (
            "interface-class: 3",
            &unconfigured,
            "no interface with class 03 (the device has no interfaces)",
        ),
        // The device descriptor comes before the interfaces, and both before the port.
        (
            "port: 9-9\ninterface-class: 8\ndevice-class: 8",
            &kbd,
            "device-class 00 != 08",
        ),
        (
            "port: 9-9\ninterface-class: 8",
            &kbd,
            "no interface with class 08 (interfaces: 03/01/01, 03/00/00)",
        ),
    ];
    for (yaml, device, sentence) in cases {
        assert_eq!(explain(yaml, device).as_deref(), Some(sentence), "{yaml}");
    }
}

#[test]
fn matchers_render_as_their_criteria() {
    for (yaml, rendered) in [
        ("vendor-id: 0x1050\nproduct-id: 288", "vendor-id 1050, product-id 0120"),
        (
            "interface-class: 8\ninterface-subclass: 6\ninterface-protocol: 0x50\nport: 2-1.*",
            "interface-class 08, interface-subclass 06, interface-protocol 50, port 2-1.*",
        ),
        (
            "bus: 3\ndevice: 5\ndevice-class: 0xef\nudev: {env: [{name: ID_SERIAL, equals: a b}, {name: ID_MODEL, pattern: '^C\\d'}], tags: [seat], current-tags: [uaccess]}",
            r#"bus 3, device 5, device-class ef, ID_SERIAL = "a b", ID_MODEL =~ "^C\\d", tag "seat", current tag "uaccess""#,
        ),
    ] {
        assert_eq!(matcher(yaml).to_string(), rendered, "{yaml}");
    }
}

#[test]
fn deny_rules_exclude_a_device_from_the_machine_and_say_which_rule() {
    let specs: Vec<MatcherSpec> =
        serde_yaml::from_str("- interface-class: 3\n- vendor-id: 0x046d\n").expect("yaml");
    let deny: Vec<MatcherSpec> =
        serde_yaml::from_str("- port: 2-1.*\n- interface-class: 3\n  interface-protocol: 1\n")
            .expect("yaml");
    let deny = DenyRules::from_specs(&deny).expect("valid");
    let rules = MachineRules::from_specs(&specs)
        .expect("valid")
        .with_deny(deny.clone());
    assert!(rules.matches(&webcam()), "no deny rule matches the webcam");
    assert!(!rules.matches(&keyboard()));
    assert_eq!(rules.first_match(&keyboard()), None);
    assert_eq!(deny.denied_by(&keyboard()), Some(1));
    assert_eq!(
        rules.explain(&keyboard()),
        Some(MachineMismatch::Denied(Denial {
            index: 1,
            rule: "interface-class 03, interface-protocol 01".into()
        }))
    );
    assert_eq!(
        rules.explain(&keyboard()).expect("denied").to_string(),
        "excluded by deny[1] (interface-class 03, interface-protocol 01)"
    );
    // A device that no matcher matches is explained by its mismatches, denied or not.
    let elsewhere = TestDevice {
        vendor_id: 0x1050,
        kernel_name: "2-1.4".into(),
        ..webcam()
    };
    assert_eq!(deny.denied_by(&elsewhere), Some(0));
    assert_eq!(
        rules.explain(&elsewhere).expect("no match").to_string(),
        "devices[0]: no interface with class 03 (interfaces: 0e/01/00, 0e/02/00, 01/01/00, 01/02/00); devices[1]: vendor-id 1050 != 046d"
    );
    // No deny rules: nothing denied.
    assert!(DenyRules::default().denied_by(&keyboard()).is_none());
    assert!(DenyRules::from_specs(&[]).expect("valid").is_empty());
}

#[test]
fn a_hub_is_never_denied_and_never_matched() {
    let hub = TestDevice {
        hub: true,
        device_class: 9,
        interfaces: interfaces(&[(9, 0, 0)]),
        ..webcam()
    };
    let deny: Vec<MatcherSpec> = serde_yaml::from_str("- device-class: 9\n").expect("yaml");
    let deny = DenyRules::from_specs(&deny).expect("valid");
    assert_eq!(deny.denied_by(&hub), None);
    assert_eq!(
        matcher("interface-class: 9").explain(&hub),
        Some(Mismatch::Hub)
    );
}

#[test]
fn invalid_class_criteria_and_deny_rules_are_refused_with_their_path() {
    let cases = [
        (
            "device-class: 0x100",
            "device-class",
            Problem::ClassOutOfRange { value: 0x100 },
        ),
        (
            "device-subclass: 256",
            "device-subclass",
            Problem::ClassOutOfRange { value: 256 },
        ),
        (
            "device-protocol: -1",
            "device-protocol",
            Problem::ClassOutOfRange { value: -1 },
        ),
        (
            "interface-class: '1ff'",
            "interface-class",
            Problem::ClassOutOfRange { value: 0x1ff },
        ),
        (
            "interface-subclass: 'x8'",
            "interface-subclass",
            Problem::ClassNotHex { text: "x8".into() },
        ),
        (
            "interface-protocol: ''",
            "interface-protocol",
            Problem::ClassNotHex { text: "".into() },
        ),
    ];
    for (yaml, path, problem) in cases {
        let spec: MatcherSpec = serde_yaml::from_str(yaml).expect("matcher yaml");
        let error = Matcher::new(&spec).expect_err(yaml);
        assert_eq!(error.path().to_string(), path, "{yaml}");
        assert_eq!(error.problem(), &problem, "{yaml}");
    }
    assert_eq!(
        Problem::ClassOutOfRange { value: 0x100 }.to_string(),
        "0x100 is over 0xff"
    );
    assert_eq!(
        Problem::ClassOutOfRange { value: -1 }.to_string(),
        "-1 is negative (a usb class code is 0 to 0xff)"
    );
    assert_eq!(
        Problem::ClassNotHex { text: "x8".into() }.to_string(),
        r#""x8" is not a hex number (write class codes like 08 or 0x08)"#
    );

    let deny: Vec<MatcherSpec> = serde_yaml::from_str("- vendor-id: 1\n- {}\n").expect("yaml");
    let error = DenyRules::from_specs(&deny).expect_err("empty deny matcher");
    assert_eq!(error.path().to_string(), "[1]");
    assert_eq!(error.problem(), &Problem::EmptyMatcher);
    let deny: Vec<MatcherSpec> = serde_yaml::from_str("- interface-class: 0x1000\n").expect("yaml");
    let error = DenyRules::from_specs(&deny).expect_err("out of range");
    assert_eq!(
        error.to_string(),
        "[0].interface-class: 0x1000 is over 0xff"
    );
    for yaml in ["interface_class: 3", "interface-klass: 3", "class: 3"] {
        let error = serde_yaml::from_str::<MatcherSpec>(yaml).expect_err(yaml);
        assert!(
            error.to_string().contains("unknown field"),
            "{yaml}: {error}"
        );
    }
}

#[test]
fn out_of_range_ids_and_wrong_types_are_said_in_words() {
    let said = |yaml: &str| {
        let spec: MatcherSpec = serde_yaml::from_str(yaml).expect("matcher yaml");
        Matcher::new(&spec).expect_err(yaml).to_string()
    };
    assert_eq!(
        said("product-id: -2"),
        "product-id: -2 is negative (a usb id is 0 to 0xffff)"
    );
    assert_eq!(
        said("vendor-id: 65536"),
        "vendor-id: 0x10000 is over 0xffff"
    );
    // A number of the wrong YAML type: serde's message says what was expected.
    let error = serde_yaml::from_str::<MatcherSpec>("vendor-id: [1]").expect_err("a list");
    assert!(
        error
            .to_string()
            .contains("expected an integer or a string"),
        "{error}"
    );
}

#[test]
fn built_rules_give_back_their_matchers_deny_rules_and_paths() {
    let specs: Vec<MatcherSpec> =
        serde_yaml::from_str("- vendor-id: 0x046d\n- port: 3-6.*\n").expect("yaml");
    let deny_specs: Vec<MatcherSpec> = serde_yaml::from_str("- bus: 3\n").expect("yaml");
    let deny = DenyRules::from_specs(&deny_specs).expect("valid");
    assert!(!deny.is_empty());
    assert!(DenyRules::from_specs(&[]).expect("valid").is_empty());
    let rules = MachineRules::from_specs(&specs)
        .expect("valid")
        .with_deny(deny.clone());
    let shown: Vec<String> = rules.matchers().iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["vendor-id 046d", "port 3-6.*"]);
    let denied: Vec<String> = rules
        .deny()
        .matchers()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(denied, ["bus 3"]);

    let path = hotplug_match::RulePath::root().key("udev").index(2);
    assert_eq!(
        path.segments(),
        [
            hotplug_match::PathSegment::Key("udev".into()),
            hotplug_match::PathSegment::Index(2)
        ]
    );
    assert!(!path.is_root() && hotplug_match::RulePath::root().is_root());
}
