//! The configuration format, table-driven: the original README's examples load unchanged and mean
//! the same; invalid configurations are refused with the file, line, column and path of the problem.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use hotplugd::config::{parse_machine_file, parse_main_file, ConfigError, Position};
use usb_discovery::UsbDevice;

/// The README's webcam (`Bus 003 Device 005: ID 046d:0825`, port 3-6.3) with the serial the README
/// redacted as `<redacted-serial>`.
fn readme_webcam(serial: &str) -> UsbDevice {
    UsbDevice {
        bus: 3,
        device: 5,
        vendor_id: 0x046d,
        product_id: 0x0825,
        device_class: 0xef,
        kernel_name: "3-6.3".into(),
        devpath:
            "/devices/pci0000:00/0000:00:01.2/0000:02:00.0/0000:03:08.0/0000:06:00.3/usb3/3-6/3-6.3"
                .into(),
        manufacturer: None,
        product: None,
        serial: Some(serial.into()),
        properties: BTreeMap::from([
            ("ID_USB_SERIAL_SHORT".to_owned(), serial.to_owned()),
            ("ID_VENDOR_ID".to_owned(), "046d".to_owned()),
        ]),
        tags: BTreeSet::from([
            "snap_cups_ippeveprinter".to_owned(),
            "snap_cups_cupsd".to_owned(),
        ]),
        current_tags: BTreeSet::new(),
        initialized: true,
        ..UsbDevice::default()
    }
}

// The README's examples, verbatim.

const README_EMPTY_WORKAROUND: &str = "{}\n";

const README_CONFIG: &str = "\
interval: 5s
machines:
  webcam-test:
    devices:
    - vendor-id: 0x046d
      product-id: 0x0825
      udev:
        env:
        - name: ID_USB_SERIAL_SHORT
          equals: '<redacted-serial>'
";

const README_GLOBAL: &str = "\
interval: 5s
machines: {}
";

const README_SNIPPET: &str = "\
devices:
- vendor-id: 0x046d
  product-id: 0x0825
  udev:
    env:
    - name: ID_USB_SERIAL_SHORT
      equals: '<redacted-serial>'
";

#[test]
fn the_readme_examples_load_unchanged_with_the_same_meaning() {
    let file = Path::new("config.yml");
    for (text, what) in [
        (README_EMPTY_WORKAROUND, "the {} workaround"),
        (README_GLOBAL, "the global file"),
    ] {
        let main = parse_main_file(text, file).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(main.interval, Duration::from_secs(5), "{what}");
        assert!(main.machines.is_empty(), "{what}");
        assert_eq!(main.libvirt_uri, None, "{what}");
    }

    let main = parse_main_file(README_CONFIG, file).expect("the README config");
    assert_eq!(main.interval, Duration::from_secs(5));
    assert_eq!(main.machines.len(), 1);
    let machine = &main.machines[0];
    assert_eq!(machine.name, "webcam-test");
    assert_eq!(machine.source, file);
    assert_eq!(machine.rules.matchers().len(), 1);
    assert!(machine.rules.matches(&readme_webcam("<redacted-serial>")));
    assert_eq!(
        machine
            .rules
            .explain(&readme_webcam("OTHER"))
            .map(|m| m.to_string())
            .as_deref(),
        Some(r#"ID_USB_SERIAL_SHORT is "OTHER", expected "<redacted-serial>""#)
    );

    let snippet = parse_machine_file(
        README_SNIPPET,
        Path::new("machines.d/webcam-test.yml"),
        "webcam-test",
    )
    .expect("the README snippet");
    assert_eq!(snippet.name, "webcam-test");
    assert!(snippet.rules.matches(&readme_webcam("<redacted-serial>")));
    assert!(!snippet.rules.matches(&readme_webcam("OTHER")));
}

/// Issue 10, reproduction 1: a configuration cut short by its writer (`: > config.yml`, or cut at
/// a line end) is refused, not read as "no machines", which made a reload detach every device.
/// `(what, text, the whole message)`.
const CUT_SHORT: &[(&str, &str, &str)] = &[
    (
        "no bytes",
        "",
        "config.yml: the configuration is empty (write `machines: {}` for one without machines)",
    ),
    (
        "blank lines",
        "\n  \n\n",
        "config.yml: the configuration is empty (write `machines: {}` for one without machines)",
    ),
    (
        "only comments",
        "# machines are below\n\n# (none yet)\n",
        "config.yml: the configuration is empty (write `machines: {}` for one without machines)",
    ),
    (
        "a null document",
        "~\n",
        "config.yml: the configuration is empty (write `machines: {}` for one without machines)",
    ),
    (
        "cut after machines:",
        "machines:\n",
        "config.yml:1:10: machines: has no value (write `machines: {}` for no machines)",
    ),
    (
        "cut after machines: with more before",
        "interval: 5s\nlibvirt-uri: qemu:///system\nmachines:\n",
        "config.yml:3:10: machines: has no value (write `machines: {}` for no machines)",
    ),
    (
        "machines: ~",
        "machines: ~\n",
        "config.yml:1:11: machines: has no value (write `machines: {}` for no machines)",
    ),
    (
        "machines: null, then a comment",
        "machines: null # later\n",
        "config.yml:1:11: machines: has no value (write `machines: {}` for no machines)",
    ),
    (
        "the interval alone, cut before machines:",
        "interval: 5s\n",
        "config.yml: machines: is missing (write `machines: {}` for no machines)",
    ),
    (
        "cut before machines:",
        "interval: 5s\nlibvirt-uri: qemu:///system\n",
        "config.yml: machines: is missing (write `machines: {}` for no machines)",
    ),
    (
        "cut after deny:, before machines:",
        "deny:\n",
        "config.yml:1:6: deny: has no value (give it one, or leave the key out)",
    ),
    (
        "an empty deny list, cut before machines:",
        "deny: []\n",
        "config.yml: machines: is missing (write `machines: {}` for no machines)",
    ),
    (
        "cut after a machine's name",
        "machines:\n  vm:\n",
        "config.yml:2:6: machines.vm.devices: no device matchers (a machine needs at least one)",
    ),
    (
        "cut after a machine's deny:",
        "machines:\n  vm:\n    devices:\n    - vendor-id: 0x046d\n    deny:\n",
        "config.yml:5:10: machines.vm.deny: has no value (give it one, or leave the key out)",
    ),
    (
        "cut after udev: (the matcher would match every device of the vendor)",
        "machines:\n  vm:\n    devices:\n    - vendor-id: 0x046d\n      udev:\n",
        "config.yml:5:12: machines.vm.devices[0].udev: has no value (give it one, or leave the key out)",
    ),
    (
        "a criterion without a value",
        "machines:\n  vm:\n    devices:\n    - vendor-id:\n      product-id: 0x0825\n",
        "config.yml:4:17: machines.vm.devices[0].vendor-id: has no value (give it one, or leave the key out)",
    ),
    (
        "cut after env:",
        "machines:\n  vm:\n    devices:\n    - vendor-id: 0x046d\n      udev:\n        env:\n",
        "config.yml:6:13: machines.vm.devices[0].udev.env: has no value (give it one, or leave the key out)",
    ),
    (
        "a null interval",
        "interval: ~\nmachines: {}\n",
        "config.yml:1:11: interval: has no value (give it one, or leave the key out)",
    ),
];

#[test]
fn a_file_cut_short_is_refused_and_machines_braces_mean_no_machines() {
    for (what, text, message) in CUT_SHORT {
        let error = parse_main_file(text, Path::new("config.yml"))
            .err()
            .unwrap_or_else(|| panic!("{what}: accepted"));
        assert_eq!(error.to_string(), *message, "{what}");
    }
    for text in [
        "machines: {}\n",
        "{}\n",
        "interval: 1s\nmachines: {}\n# the end\n",
    ] {
        let main = parse_main_file(text, Path::new("config.yml")).expect(text);
        assert!(main.machines.is_empty(), "{text}");
    }
}

#[test]
fn the_new_keys_load() {
    let text = "\
interval: 1m30s
libvirt-uri: qemu:///system
machines:
  vm:
    devices:
    - port: 3-6.*
      bus: '003'
      udev:
        tags: [snap_cups_cupsd]
        current-tags: []
";
    let main = parse_main_file(text, Path::new("config.yml")).expect("valid");
    assert_eq!(main.interval, Duration::from_secs(90));
    assert_eq!(main.libvirt_uri.as_deref(), Some("qemu:///system"));
    assert!(main.machines[0].rules.matches(&readme_webcam("x")));
}

/// Machines keep the file's order (not sorted by name).
#[test]
fn machines_keep_the_file_order() {
    let text = "machines:\n  zeta: {devices: [{bus: 1}]}\n  alpha: {devices: [{bus: 2}]}\n  mid: {devices: [{bus: 3}]}\n";
    let main = parse_main_file(text, Path::new("c.yml")).expect("valid");
    let names: Vec<&str> = main.machines.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha", "mid"]);
}

/// `(what, main file text, the whole message)`: every message names the file, line and column,
/// and the path inside the file.
const INVALID_MAIN_FILES: &[(&str, &str, &str)] = &[
    (
        "equals and pattern together",
        "interval: 5s\nmachines:\n  webcam-test:\n    devices:\n    - vendor-id: 0x046d\n      udev:\n        env:\n        - name: ID_USB_SERIAL_SHORT\n          equals: 'X'\n        - name: ID_MODEL\n          equals: '0825'\n          pattern: '^08'\n",
        "config.yml:10:11: machines.webcam-test.devices[0].udev.env[1]: 'equals' and 'pattern' are mutually exclusive",
    ),
    (
        "neither equals nor pattern",
        "machines:\n  vm:\n    devices:\n    - udev:\n        env:\n        - name: ID_SERIAL\n",
        "config.yml:6:11: machines.vm.devices[0].udev.env[0]: env entry needs 'equals' or 'pattern'",
    ),
    (
        "env without name",
        "machines:\n  vm:\n    devices:\n    - udev:\n        env:\n        - equals: x\n",
        "config.yml:6:11: machines.vm.devices[0].udev.env[0]: env entry without 'name'",
    ),
    (
        "env with an empty name",
        "machines:\n  vm:\n    devices:\n    - udev: {env: [{name: '', pattern: x}]}\n",
        "config.yml:4:20: machines.vm.devices[0].udev.env[0]: env entry without 'name'",
    ),
    (
        "bad regex",
        "machines:\n  vm:\n    devices:\n    - udev:\n        env:\n        - name: ID_SERIAL\n          pattern: 'Yubi(co'\n",
        "config.yml:7:20: machines.vm.devices[0].udev.env[0].pattern: invalid regex \"Yubi(co\": unclosed group",
    ),
    (
        "machine without matchers",
        "machines:\n  vm:\n    devices: []\n",
        "config.yml:3:14: machines.vm.devices: no device matchers (a machine needs at least one)",
    ),
    (
        "machine without devices key",
        "machines:\n  vm: {}\n",
        "config.yml:2:7: machines.vm.devices: no device matchers (a machine needs at least one)",
    ),
    (
        "empty matcher",
        "machines:\n  vm:\n    devices:\n    - bus: 1\n    - {}\n",
        "config.yml:5:7: machines.vm.devices[1]: the matcher sets no criterion (it would match every device)",
    ),
    (
        "matcher with only empty lists",
        "machines:\n  vm:\n    devices:\n    - udev: {env: [], tags: []}\n",
        "config.yml:4:7: machines.vm.devices[0]: the matcher sets no criterion (it would match every device)",
    ),
    (
        "vendor-id over 0xffff",
        "machines:\n  vm:\n    devices:\n    - vendor-id: 0x1046d\n",
        "config.yml:4:18: machines.vm.devices[0].vendor-id: 0x1046d is over 0xffff",
    ),
    (
        "product-id string over 0xffff",
        "machines:\n  vm:\n    devices:\n    - product-id: '10825'\n",
        "config.yml:4:19: machines.vm.devices[0].product-id: 0x10825 is over 0xffff",
    ),
    (
        "product-id not hex",
        "machines:\n  vm:\n    devices:\n    - product-id: 08z5\n",
        "config.yml:4:19: machines.vm.devices[0].product-id: \"08z5\" is not a hex number (write ids like 046d or 0x046d)",
    ),
    (
        "negative vendor-id",
        "machines:\n  vm:\n    devices:\n    - vendor-id: -1\n",
        "config.yml:4:18: machines.vm.devices[0].vendor-id: -1 is negative (a usb id is 0 to 0xffff)",
    ),
    (
        "bus 0",
        "machines:\n  vm:\n    devices:\n    - bus: 0\n",
        "config.yml:4:12: machines.vm.devices[0].bus: 0 is out of range (1 to 65535)",
    ),
    (
        "device 128",
        "machines:\n  vm:\n    devices:\n    - bus: 3\n      device: 128\n",
        "config.yml:5:15: machines.vm.devices[0].device: 128 is out of range (1 to 127)",
    ),
    (
        "bad port",
        "machines:\n  vm:\n    devices:\n    - port: 3-6*\n",
        "config.yml:4:13: machines.vm.devices[0].port: \"3-6*\" is not a port like 3-6.3 (or 3-6.* for the port and all behind it)",
    ),
    (
        "empty tag",
        "machines:\n  vm:\n    devices:\n    - udev:\n        tags: [uaccess, '']\n",
        "config.yml:5:25: machines.vm.devices[0].udev.tags[1]: empty tag",
    ),
    (
        "zero interval",
        "interval: 0s\n",
        "config.yml:1:11: interval: \"0s\" must be greater than zero",
    ),
    (
        "negative interval",
        "interval: -5s\n",
        "config.yml:1:11: interval: \"-5s\" must be greater than zero",
    ),
    (
        "interval without unit",
        "interval: 5\n",
        "config.yml:1:11: interval: \"5\" has a number without a unit (ns, us, ms, s, m or h)",
    ),
    (
        "interval with an unknown unit",
        "interval: 5sec\n",
        "config.yml:1:11: interval: \"5sec\" has the unknown unit \"sec\" (use ns, us, ms, s, m or h)",
    ),
    (
        "empty libvirt-uri",
        "libvirt-uri: ''\n",
        "config.yml:1:14: libvirt-uri: is empty (leave it out for libvirt's default)",
    ),
    (
        "empty machine name",
        "machines:\n  '':\n    devices: [{bus: 1}]\n",
        "config.yml:3:5: machines: a machine name is empty",
    ),
    (
        "unknown top-level key",
        "interval: 5s\nintervall: 6s\n",
        "config.yml:2:1: unknown field `intervall`, expected one of `interval`, `libvirt-uri`, `deny`, `machines`",
    ),
    (
        "unknown matcher key",
        "machines:\n  vm:\n    devices:\n    - vendor: 0x046d\n",
        "config.yml:4:7: machines.vm.devices[0]: unknown field `vendor`, expected one of `bus`, `device`, `vendor-id`, `product-id`, `device-class`, `device-subclass`, `device-protocol`, `interface-class`, `interface-subclass`, `interface-protocol`, `port`, `udev`",
    ),
    (
        "unknown env key",
        "machines:\n  vm:\n    devices:\n    - udev:\n        env:\n        - name: A\n          equal: x\n",
        "config.yml:7:11: machines.vm.devices[0].udev.env[0]: unknown field `equal`, expected one of `name`, `equals`, `pattern`",
    ),
    (
        "device-class over 0xff",
        "machines:\n  vm:\n    devices:\n    - device-class: 0x100\n",
        "config.yml:4:21: machines.vm.devices[0].device-class: 0x100 is over 0xff",
    ),
    (
        "interface-class string over 0xff",
        "machines:\n  vm:\n    devices:\n    - interface-class: '1ff'\n",
        "config.yml:4:24: machines.vm.devices[0].interface-class: 0x1ff is over 0xff",
    ),
    (
        "negative interface-subclass",
        "machines:\n  vm:\n    devices:\n    - interface-class: 8\n      interface-subclass: -1\n",
        "config.yml:5:27: machines.vm.devices[0].interface-subclass: -1 is negative (a usb class code is 0 to 0xff)",
    ),
    (
        "device-protocol not hex",
        "machines:\n  vm:\n    devices:\n    - device-protocol: 'x1'\n",
        "config.yml:4:24: machines.vm.devices[0].device-protocol: \"x1\" is not a hex number (write class codes like 08 or 0x08)",
    ),
    (
        "empty top-level deny matcher",
        "deny:\n- vendor-id: 0x0781\n- {}\nmachines: {}\n",
        "config.yml:3:3: deny[1]: the matcher sets no criterion (it would match every device)",
    ),
    (
        "top-level deny class out of range",
        "deny:\n- interface-class: 256\n",
        "config.yml:2:20: deny[0].interface-class: 0x100 is over 0xff",
    ),
    (
        "top-level deny with an unknown key",
        "deny:\n- serial: x\n",
        "config.yml:2:3: deny[0]: unknown field `serial`, expected one of `bus`, `device`, `vendor-id`, `product-id`, `device-class`, `device-subclass`, `device-protocol`, `interface-class`, `interface-subclass`, `interface-protocol`, `port`, `udev`",
    ),
    (
        "top-level deny as a mapping",
        "deny:\n  vendor-id: 1\n",
        "config.yml:2:3: deny: invalid type: map, expected a sequence",
    ),
    (
        "empty machine deny matcher",
        "machines:\n  vm:\n    devices: [{bus: 1}]\n    deny:\n    - udev: {tags: []}\n",
        "config.yml:5:7: machines.vm.deny[0]: the matcher sets no criterion (it would match every device)",
    ),
    (
        "machine deny with a bad regex",
        "machines:\n  vm:\n    devices: [{bus: 1}]\n    deny:\n    - udev: {env: [{name: ID_SERIAL, pattern: '('}]}\n",
        "config.yml:5:47: machines.vm.deny[0].udev.env[0].pattern: invalid regex \"(\": unclosed group",
    ),
    (
        "unknown machine key",
        "machines:\n  vm:\n    devices: [{bus: 1}]\n    denied: []\n",
        "config.yml:4:5: machines.vm: unknown field `denied`, expected `devices` or `deny`",
    ),
    (
        "machine twice",
        "machines:\n  vm:\n    devices: [{bus: 1}]\n  vm:\n    devices: [{bus: 2}]\n",
        "config.yml:2:3: machines: machine \"vm\" is defined twice",
    ),
    (
        "machines as a list",
        "machines:\n- vm\n",
        "config.yml:2:1: machines: invalid type: sequence, expected a mapping of machine names to their devices",
    ),
    (
        "devices as a mapping",
        "machines:\n  vm:\n    devices:\n      vendor-id: 1\n",
        "config.yml:4:7: machines.vm.devices: invalid type: map, expected a sequence",
    ),
    (
        "not YAML",
        "machines:\n  vm:\n    devices:\n    - bus: 1\n   - bus: 2\n",
        "config.yml:5:4: did not find expected key, while parsing a block mapping at line 2 column 3",
    ),
    (
        "a list instead of a mapping",
        "- interval: 5s\n",
        "config.yml:1:1: invalid type: sequence, expected a mapping of interval, libvirt-uri, deny and machines",
    ),
];

#[test]
fn invalid_main_files_name_file_line_column_and_path() {
    assert!(INVALID_MAIN_FILES.len() >= 15);
    for (what, text, message) in INVALID_MAIN_FILES {
        let error = parse_main_file(text, Path::new("config.yml"))
            .err()
            .unwrap_or_else(|| panic!("{what}: accepted"));
        assert_eq!(error.to_string(), *message, "{what}");
        assert_eq!(error.file(), Path::new("config.yml"), "{what}");
    }
}

#[test]
fn invalid_values_carry_their_position_and_path_apart() {
    let error =
        parse_main_file(INVALID_MAIN_FILES[0].1, Path::new("config.yml")).expect_err("invalid");
    let ConfigError::Invalid {
        position,
        path,
        reason,
        ..
    } = error
    else {
        panic!("a value error: {error}");
    };
    assert_eq!(
        position,
        Some(Position {
            line: 10,
            column: 11
        })
    );
    assert_eq!(path, "machines.webcam-test.devices[0].udev.env[1]");
    assert_eq!(reason, "'equals' and 'pattern' are mutually exclusive");
}

#[test]
fn invalid_machine_files_name_the_path_inside_the_file() {
    let file = Path::new("/etc/hotplugd/machines.d/vm.yml");
    let cases = [
        ("", "/etc/hotplugd/machines.d/vm.yml:1:1: devices: no device matchers (a machine needs at least one)"),
        ("devices:\n- {}\n", "/etc/hotplugd/machines.d/vm.yml:2:3: devices[0]: the matcher sets no criterion (it would match every device)"),
        (
            "devices:\n- udev:\n    env:\n    - name: A\n      pattern: '['\n",
            "/etc/hotplugd/machines.d/vm.yml:5:16: devices[0].udev.env[0].pattern: invalid regex \"[\": unclosed character class",
        ),
        ("- vendor-id: 1\n", "/etc/hotplugd/machines.d/vm.yml:1:1: invalid type: sequence, expected a mapping with devices and deny"),
        ("machines: {}\n", "/etc/hotplugd/machines.d/vm.yml:1:1: unknown field `machines`, expected `devices` or `deny`"),
        ("devices: [{bus: 1}]\ndeny:\n- {}\n", "/etc/hotplugd/machines.d/vm.yml:3:3: deny[0]: the matcher sets no criterion (it would match every device)"),
        (
            "devices: [{bus: 1}]\ndeny:\n- port: 1-4\n- interface-class: 0x100\n",
            "/etc/hotplugd/machines.d/vm.yml:4:20: deny[1].interface-class: 0x100 is over 0xff",
        ),
        (
            "devices:\n- interface-protocol: 'zz'\n",
            "/etc/hotplugd/machines.d/vm.yml:2:23: devices[0].interface-protocol: \"zz\" is not a hex number (write class codes like 08 or 0x08)",
        ),
        (
            "devices: [{bus: 1}]\ndeny:\n- interface_class: 8\n",
            "/etc/hotplugd/machines.d/vm.yml:3:3: deny[0]: unknown field `interface_class`, expected one of `bus`, `device`, `vendor-id`, `product-id`, `device-class`, `device-subclass`, `device-protocol`, `interface-class`, `interface-subclass`, `interface-protocol`, `port`, `udev`",
        ),
        ("deny: [{port: 1-4}]\n", "/etc/hotplugd/machines.d/vm.yml:1:1: devices: no device matchers (a machine needs at least one)"),
        ("devices:\n", "/etc/hotplugd/machines.d/vm.yml:1:9: devices: has no value (give it one, or leave the key out)"),
        ("devices: [{bus: 1}]\ndeny:\n", "/etc/hotplugd/machines.d/vm.yml:2:6: deny: has no value (give it one, or leave the key out)"),
        ("devices:\n- port: 1-4\n  udev:\n", "/etc/hotplugd/machines.d/vm.yml:3:8: devices[0].udev: has no value (give it one, or leave the key out)"),
    ];
    for (text, message) in cases {
        let error = parse_machine_file(text, file, "vm")
            .err()
            .unwrap_or_else(|| panic!("{text:?}: accepted"));
        assert_eq!(error.to_string(), message, "{text:?}");
    }
}

/// Go's YAML parser applies merge keys (`<<: *anchor`), so the original accepted them: a config
/// using them means the same as the config written out. Errors then name the path but no line,
/// since the positions serde_yaml sees are not the file's.
#[test]
fn merge_keys_load_like_their_expansion() {
    let merged = "\
common: &serial
  name: ID_USB_SERIAL_SHORT
machines:
  vm:
    devices:
    - &webcam
      vendor-id: 0x046d
      product-id: 0825
    - <<: *webcam
      udev:
        env:
        - <<: *serial
          equals: 12345
";
    // `common` is no key of the format: the anchor has to live somewhere the format allows.
    let error = parse_main_file(merged, Path::new("c.yml")).expect_err("unknown key");
    assert_eq!(
        error.to_string(),
        "c.yml: unknown field `common`, expected one of `interval`, `libvirt-uri`, `deny`, `machines`"
    );

    let merged = merged
        .replace("common: &serial\n  name: ID_USB_SERIAL_SHORT\n", "")
        .replace("- <<: *serial\n", "- name: ID_USB_SERIAL_SHORT\n");
    let expanded = "\
machines:
  vm:
    devices:
    - vendor-id: 0x046d
      product-id: 0825
    - vendor-id: 0x046d
      product-id: 0825
      udev:
        env:
        - name: ID_USB_SERIAL_SHORT
          equals: 12345
";
    let merged = parse_main_file(&merged, Path::new("c.yml")).expect("merge keys load");
    let expanded = parse_main_file(expanded, Path::new("c.yml")).expect("valid");
    let with_serial = readme_webcam;
    for machines in [&merged.machines, &expanded.machines] {
        assert_eq!(machines.len(), 1);
        assert_eq!(machines[0].rules.matchers().len(), 2);
        let second = &machines[0].rules.matchers()[1];
        assert!(second.matches(&with_serial("12345")));
        assert!(!second.matches(&with_serial("54321")));
    }

    let bad = "machines:\n  vm:\n    devices:\n    - &m {port: 1-2}\n    - <<: *m\n      bus: 0\n";
    let error = parse_main_file(bad, Path::new("c.yml")).expect_err("bus 0");
    assert_eq!(
        error.to_string(),
        "c.yml: machines.vm.devices[1].bus: 0 is out of range (1 to 65535)"
    );
}
