//! The matching semantics on hand-written rules: what matches, what `explain` says, what is refused.

mod support;

use hotplug_match::{Error, MachineRules, Matcher, MatcherSpec, Mismatch, Problem};
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
