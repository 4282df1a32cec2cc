//! Loading a configuration from files: the main file and the `machines.d` folder beside it.

use std::fs;
use std::path::{Path, PathBuf};

use hotplugd::config::{load, ConfigError, Replacement};

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("folder");
    }
    fs::write(path, text).expect("written");
}

fn names(config: &hotplugd::config::Config) -> Vec<(&str, PathBuf)> {
    config
        .machines
        .iter()
        .map(|m| (m.name.as_str(), m.source.clone()))
        .collect()
}

#[test]
fn machines_d_files_add_and_replace_machines_in_config_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let main = dir.path().join("config.yml");
    let d = dir.path().join("machines.d");
    write(
        &main,
        "machines:\n  beta:\n    devices: [{bus: 1}]\n  alpha:\n    devices: [{bus: 2}]\n",
    );
    write(&d.join("zulu.yml"), "devices: [{bus: 3}]\n");
    write(&d.join("beta.yaml"), "devices: [{bus: 4}, {bus: 5}]\n");
    write(&d.join("charlie.yml"), "devices: [{bus: 6}]\n");
    // Not machines: other extensions, folders (even one named like a machine file), files in
    // sub-folders.
    write(&d.join("notes.txt"), "not yaml: [");
    write(&d.join("delta.yml.orig"), "devices: []\n");
    write(&d.join("README"), "");
    fs::create_dir_all(d.join("echo.yml")).expect("folder");
    write(&d.join("sub/foxtrot.yml"), "devices: []\n");

    let config = load(&main).expect("valid");
    assert_eq!(
        names(&config),
        [
            ("beta", d.join("beta.yaml")),
            ("alpha", main.clone()),
            ("charlie", d.join("charlie.yml")),
            ("zulu", d.join("zulu.yml")),
        ]
    );
    assert_eq!(
        config.machines[0].rules.matchers().len(),
        2,
        "replaced, not merged"
    );
    assert_eq!(
        config.replacements,
        [Replacement {
            machine: "beta".into(),
            replaced: main.clone(),
            by: d.join("beta.yaml"),
        }]
    );
}

#[test]
fn machines_d_alone_with_the_readme_global_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let main = dir.path().join("global.yml");
    write(&main, "interval: 5s\nmachines: {}\n");
    write(
        &dir.path().join("machines.d/webcam-test.yml"),
        "devices:\n- vendor-id: 0x046d\n  product-id: 0x0825\n  udev:\n    env:\n    - name: ID_USB_SERIAL_SHORT\n      equals: '<redacted-serial>'\n",
    );
    let config = load(&main).expect("valid");
    assert_eq!(
        names(&config),
        [("webcam-test", dir.path().join("machines.d/webcam-test.yml"))]
    );
    assert!(config.replacements.is_empty());
}

#[test]
fn a_symlinked_machine_file_counts_and_a_machines_d_file_is_ignored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let main = dir.path().join("config.yml");
    write(&main, "{}\n");
    write(
        &dir.path().join("shared/vm.yml"),
        "devices: [{port: 1-2}]\n",
    );
    fs::create_dir_all(dir.path().join("machines.d")).expect("folder");
    std::os::unix::fs::symlink(
        dir.path().join("shared/vm.yml"),
        dir.path().join("machines.d/vm.yml"),
    )
    .expect("symlink");
    assert_eq!(load(&main).expect("valid").machines[0].name, "vm");

    let other = tempfile::tempdir().expect("temp dir");
    write(&other.path().join("config.yml"), "{}\n");
    write(&other.path().join("machines.d"), "a file, not a folder");
    assert!(load(&other.path().join("config.yml"))
        .expect("valid")
        .machines
        .is_empty());
}

#[test]
fn errors_in_machines_d_name_that_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let main = dir.path().join("config.yml");
    write(&main, "interval: 1s\nmachines: {}\n");
    let bad = dir.path().join("machines.d/vm.yml");
    write(
        &bad,
        "devices:\n- bus: 1\n- udev:\n    env:\n    - name: A\n",
    );
    let error = load(&main).expect_err("invalid");
    assert_eq!(
        error.to_string(),
        format!(
            "{}:5:7: devices[1].udev.env[0]: env entry needs 'equals' or 'pattern'",
            bad.display()
        )
    );
}

#[test]
fn the_same_machine_in_yml_and_yaml_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let main = dir.path().join("config.yml");
    write(&main, "{}\n");
    let d = dir.path().join("machines.d");
    write(&d.join("vm.yml"), "devices: [{bus: 1}]\n");
    write(&d.join("vm.yaml"), "devices: [{bus: 2}]\n");
    let error = load(&main).expect_err("ambiguous");
    assert!(matches!(error, ConfigError::MachineFilesClash { .. }));
    assert_eq!(
        error.to_string(),
        format!(
            "{}: machine \"vm\" is also defined by {}",
            d.join("vm.yml").display(),
            d.join("vm.yaml").display()
        )
    );
}

#[test]
fn a_missing_main_file_is_a_read_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let main = dir.path().join("nope.yml");
    let error = load(&main).expect_err("missing");
    assert!(matches!(&error, ConfigError::Read { path, .. } if *path == main));
    assert_eq!(error.to_string(), format!("cannot read {}", main.display()));
}

/// Deny rules at both levels, in the main file and in `machines.d`: the top-level list denies a
/// device to every machine; a machine's own list (a `machines.d` file's included, which replaces
/// the main file's machine with its deny rules) only to that machine. The devices are discovered
/// from a fixture tree.
#[test]
fn deny_rules_load_at_both_levels_from_both_kinds_of_file() {
    use fixtures::{FixtureTree, UsbDeviceBuilder};
    use usb_discovery::{Discovery, SysfsDiscovery};

    let dir = tempfile::tempdir().expect("temp dir");
    let main = dir.path().join("config.yml");
    let d = dir.path().join("machines.d");
    write(
        &main,
        "deny:\n- vendor-id: 0x0781\n  product-id: 0x5581\n  udev: {env: [{name: ID_SERIAL_SHORT, equals: HOSTDISK}]}\n\
         machines:\n  backup-vm:\n    devices: [{interface-class: 0x08}]\n    deny: [{port: 1-4}]\n\
         \x20 video-vm:\n    devices: [{interface-class: 0x0e}]\n    deny: [{port: 1-2}]\n",
    );
    write(
        &d.join("print-vm.yml"),
        "devices:\n- interface-class: 7\ndeny:\n- vendor-id: 0x04b8\n",
    );
    write(
        &d.join("video-vm.yml"),
        "devices:\n- interface-class: 0x0e\ndeny:\n- port: 3-6.*\n",
    );
    let config = load(&main).expect("valid");

    let tree = FixtureTree::new().expect("tree");
    for builder in [
        UsbDeviceBuilder::usb_disk("2-1", 2).serial("HOSTDISK"),
        UsbDeviceBuilder::usb_disk("1-4", 3).serial("OTHER1"),
        UsbDeviceBuilder::usb_disk("2-2", 4).serial("OTHER2"),
        UsbDeviceBuilder::new("3-6.3", 5)
            .ids(0x046d, 0x0825)
            .interface(0x0e, 1, 0),
        UsbDeviceBuilder::new("1-2", 6)
            .ids(0x046d, 0x0826)
            .interface(0x0e, 1, 0),
        UsbDeviceBuilder::new("1-3", 7)
            .ids(0x04b8, 0x0005)
            .interface(7, 1, 2),
        UsbDeviceBuilder::new("1-5", 8)
            .ids(0x03f0, 0x0c17)
            .interface(7, 1, 2),
    ] {
        tree.add(&builder.build()).expect("written");
    }
    let devices = SysfsDiscovery::new(tree.root()).scan().expect("scan");
    let at = |port: &str| {
        devices
            .iter()
            .find(|device| device.kernel_name == port)
            .expect("scanned")
    };

    let denied: Vec<&str> = devices
        .iter()
        .filter(|device| config.deny.denied_by(*device).is_some())
        .map(|device| device.kernel_name.as_str())
        .collect();
    assert_eq!(denied, ["2-1"], "the host's disk, denied to every machine");
    assert_eq!(
        config.deny.explain(at("2-1")).expect("denied").to_string(),
        r#"excluded by deny[0] (vendor-id 0781, product-id 5581, ID_SERIAL_SHORT = "HOSTDISK")"#
    );

    let machine = |name: &str| {
        config
            .machines
            .iter()
            .find(|machine| machine.name == name)
            .expect("configured")
    };
    let matched = |name: &str| -> Vec<&str> {
        let rules = &machine(name).rules;
        devices
            .iter()
            .filter(|device| rules.matches(*device))
            .map(|device| device.kernel_name.as_str())
            .collect()
    };
    // The machine's own rules leave the top-level deny to the planner: 2-1 matches backup-vm.
    assert_eq!(matched("backup-vm"), ["2-1", "2-2"]);
    assert_eq!(
        machine("backup-vm")
            .rules
            .explain(at("1-4"))
            .expect("excluded")
            .to_string(),
        "excluded by deny[0] (port 1-4)"
    );
    // machines.d/video-vm.yml replaced the main file's machine, deny rules and all.
    assert_eq!(machine("video-vm").source, d.join("video-vm.yml"));
    assert_eq!(matched("video-vm"), ["1-2"]);
    assert_eq!(
        machine("video-vm")
            .rules
            .explain(at("3-6.3"))
            .expect("excluded")
            .to_string(),
        "excluded by deny[0] (port 3-6.*)"
    );
    assert_eq!(matched("print-vm"), ["1-5"]);
    assert_eq!(
        machine("print-vm")
            .rules
            .explain(at("1-3"))
            .expect("excluded")
            .to_string(),
        "excluded by deny[0] (vendor-id 04b8)"
    );
}

/// Runs `load(path)` on a thread and waits for it at most 10 s: a load that blocks (on a FIFO's
/// open, before) fails the test instead of hanging it.
fn load_within_bound(path: &Path) -> Result<hotplugd::config::Config, ConfigError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    let path = path.to_owned();
    std::thread::spawn(move || {
        let _ = sender.send(load(&path));
    });
    receiver
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("load returned within 10 s")
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Issue 10, reproductions 1 and 5: a FIFO (whose open blocked the daemon, and whose EOF was
/// then an empty configuration), a device (`check /dev/zero` grew to 11 GB) or a folder as a
/// configuration file is refused at once, naming it; so is one over 1 MiB, and one of exactly
/// 1 MiB is read.
#[test]
fn only_regular_files_of_at_most_1_mib_are_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("fifo.yml");
    mkfifo(&fifo);
    let folder = dir.path().join("folder.yml");
    fs::create_dir(&folder).expect("folder");
    let in_machines_d = dir.path().join("with-fifo/machines.d/vm.yml");
    write(&dir.path().join("with-fifo/config.yml"), "machines: {}\n");
    fs::create_dir_all(dir.path().join("with-fifo/machines.d")).expect("folder");
    mkfifo(&in_machines_d);
    let cases = [
        (
            fifo.clone(),
            format!("{}: is a FIFO, not a regular file", fifo.display()),
        ),
        (
            folder.clone(),
            format!("{}: is a folder, not a regular file", folder.display()),
        ),
        (
            "/dev/zero".into(),
            "/dev/zero: is a character device, not a regular file".to_owned(),
        ),
        (
            dir.path().join("with-fifo/config.yml"),
            format!("{}: is a FIFO, not a regular file", in_machines_d.display()),
        ),
    ];
    for (path, message) in cases {
        let error = load_within_bound(&path).expect_err("refused");
        assert_eq!(error.to_string(), message);
    }

    let comment = "# a comment line of 64 bytes, to fill the file up to the limit.\n";
    let mut text = String::from("machines: {}\n");
    while text.len() + comment.len() <= 1 << 20 {
        text.push_str(comment);
    }
    text.push_str(&"#".repeat((1 << 20) - text.len() - 1));
    text.push('\n');
    assert_eq!(text.len(), 1 << 20);
    let main = dir.path().join("config.yml");
    write(&main, &text);
    assert!(load(&main).expect("1 MiB is read").machines.is_empty());
    text.push('\n');
    write(&main, &text);
    assert_eq!(
        load(&main).expect_err("too large").to_string(),
        format!("{}: is larger than 1048576 bytes", main.display())
    );
}

/// Issue 10, reproduction 2: `machines.d` entries that cannot be resolved were dropped in silence
/// (and a reload then detached their machines' devices). A dangling symlink, a symlink loop and a
/// `machines.d` that leads nowhere are errors naming them; other names stay ignored, even broken.
#[test]
fn machines_d_entries_that_cannot_be_resolved_are_errors_naming_them() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().expect("temp dir");
    let main = dir.path().join("config.yml");
    write(&main, "machines: {}\n");
    let d = dir.path().join("machines.d");
    write(&d.join("good.yml"), "devices: [{bus: 1}]\n");
    symlink(dir.path().join("nowhere"), d.join("notes.txt")).expect("ignored link");
    assert_eq!(load(&main).expect("valid").machines.len(), 1);

    let dangling = d.join("gone.yml");
    symlink(dir.path().join("shared/gone.yml"), &dangling).expect("symlink");
    assert_eq!(
        load(&main).expect_err("dangling").to_string(),
        format!(
            "{}: is a symbolic link to {}, which does not exist",
            dangling.display(),
            dir.path().join("shared/gone.yml").display()
        )
    );
    fs::remove_file(&dangling).expect("removed");

    let looped = d.join("loop.yaml");
    symlink(&looped, &looped).expect("symlink to itself");
    let error = load(&main).expect_err("loop");
    assert!(matches!(&error, ConfigError::Read { path, .. } if *path == looped));
    assert_eq!(
        hotplugd::error_chain(&error),
        format!(
            "cannot read {}: Too many levels of symbolic links (os error 40)",
            looped.display()
        )
    );
    fs::remove_file(&looped).expect("removed");

    let other = tempfile::tempdir().expect("temp dir");
    write(&other.path().join("config.yml"), "machines: {}\n");
    symlink(
        other.path().join("elsewhere"),
        other.path().join("machines.d"),
    )
    .expect("symlink");
    assert_eq!(
        load(&other.path().join("config.yml"))
            .expect_err("machines.d leads nowhere")
            .to_string(),
        format!(
            "{}: is a symbolic link to {}, which does not exist",
            other.path().join("machines.d").display(),
            other.path().join("elsewhere").display()
        )
    );
}

/// A file being written is waited for: written cut short and completed 30 ms later, the load
/// (which starts at once) reads the complete file. A file that keeps changing is an error naming
/// it after about half a second.
#[test]
fn files_being_written_are_read_once_settled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let main = dir.path().join("config.yml");
    let complete = "machines:\n  vm:\n    devices: [{bus: 1}]\n";
    write(&main, "machines:\n");
    let writer = {
        let main = main.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(30));
            write(&main, complete);
        })
    };
    let config = load_within_bound(&main).expect("the complete file");
    writer.join().expect("writer");
    assert_eq!(config.machines.len(), 1);

    let machine_file = dir.path().join("machines.d/busy.yml");
    write(&machine_file, "devices: [{bus: 1}]\n");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, machine_file) = (stop.clone(), machine_file.clone());
        std::thread::spawn(move || {
            let mut bus = 1;
            // Bounded: the load gives up after about 0.6 s.
            for _ in 0..1000 {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                bus = bus % 100 + 1;
                write(&machine_file, &format!("devices: [{{bus: {bus}}}]\n"));
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        })
    };
    let error = load_within_bound(&main).expect_err("never settles");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.join().expect("writer");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: kept changing while being read (6 reads, 100 ms apart): try again once it is written",
            machine_file.display()
        )
    );
}

#[test]
fn rules_on_sysfs_alone_are_decidable_before_udev_and_any_udev_matcher_or_deny_rule_is_not() {
    let parsed = |yaml: &str| {
        hotplugd::config::merge(
            hotplugd::config::parse_main_file(yaml, Path::new("/etc/hotplugd/config.yml"))
                .expect("valid"),
            Vec::new(),
        )
    };
    let udev = "udev: {env: [{name: ID_SERIAL_SHORT, equals: X1}]}";
    let sysfs_only = parsed(
        "deny:\n- port: 1-4\nmachines:\n  vm:\n    devices: [{vendor-id: 0x046d}]\n    deny: [{interface-class: 8}]\n",
    );
    assert!(sysfs_only.decidable_from_sysfs());
    for yaml in [
        format!("machines:\n  vm:\n    devices: [{{vendor-id: 0x046d, {udev}}}]\n"),
        format!("machines:\n  vm:\n    devices: [{{vendor-id: 0x046d}}]\n    deny: [{{{udev}}}]\n"),
        format!("deny:\n- {udev}\nmachines:\n  vm:\n    devices: [{{vendor-id: 0x046d}}]\n"),
    ] {
        assert!(!parsed(&yaml).decidable_from_sysfs(), "{yaml}");
    }
    // Interfaces: a deny rule on them counts as much as a matcher, at either level.
    assert!(sysfs_only.rules_need_interfaces());
    assert!(
        !parsed("deny:\n- port: 1-4\nmachines:\n  vm:\n    devices: [{vendor-id: 0x046d}]\n")
            .rules_need_interfaces()
    );
    for yaml in [
        "machines:\n  vm:\n    devices: [{interface-protocol: 1}]\n",
        "deny:\n- {interface-class: 8}\nmachines:\n  vm:\n    devices: [{port: 1-4}]\n",
    ] {
        assert!(parsed(yaml).rules_need_interfaces(), "{yaml}");
    }
}

#[test]
fn parse_validation_and_limit_errors_say_where_they_are() {
    let at = |yaml: &str| {
        hotplugd::config::parse_main_file(yaml, Path::new("/etc/hotplugd/config.yml"))
            .expect_err("refused")
            .position()
            .map(|position| (position.line, position.column))
    };
    // A YAML syntax error, a bad value, and nesting past the limit.
    assert_eq!(at("machines: {}\ninterval: [\n"), Some((2, 11)));
    assert_eq!(at("machines: {}\ninterval: 5 s\n"), Some((2, 11)));
    let deep = format!("machines: {}{}\n", "[".repeat(40), "]".repeat(40));
    assert!(
        at(&deep).is_some_and(|(line, _)| line == 1),
        "{:?}",
        at(&deep)
    );
}

#[test]
fn an_alias_counts_the_nodes_of_its_anchor_alone_up_to_the_limit() {
    use hotplugd::config::MAX_NODES;
    // 2000 nodes before the anchor, an anchor of 1000, then aliases of it: about 1000 per alias.
    let document = |aliases: usize| {
        let list = |prefix: &str, count: usize| {
            (0..count)
                .map(|index| format!("{prefix}{index}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "before: [{}]\nanchor: &a [{}]\naliases: [{}]\nmachines: {{}}\n",
            list("s", 2000),
            list("v", 1000),
            vec!["*a"; aliases].join(", ")
        )
    };
    let limited = |aliases: usize| {
        matches!(
            hotplugd::config::parse_main_file(&document(aliases), Path::new("c.yml")),
            Err(ConfigError::Limit { .. })
        )
    };
    let under = (MAX_NODES - 10_000) / 1000;
    assert!(
        !limited(under),
        "{under} aliases of 1000 nodes are within the limit"
    );
    assert!(limited(under + 20), "{} aliases are past it", under + 20);
}

#[test]
fn a_document_of_exactly_the_limits_is_read_and_one_more_is_refused() {
    use hotplugd::config::{MAX_NODES, MAX_SCALAR_BYTES};
    let limited = |yaml: &str| {
        matches!(
            hotplugd::config::parse_main_file(yaml, Path::new("c.yml")),
            Err(ConfigError::Limit { .. })
        )
    };
    // Nodes: the root mapping, `machines`, `{}`, `x`, the sequence, and its scalars.
    let nodes = |count: usize| format!("machines: {{}}\nx: [{}]\n", vec!["a"; count].join(", "));
    assert!(!limited(&nodes(MAX_NODES - 5)), "exactly {MAX_NODES} nodes");
    assert!(limited(&nodes(MAX_NODES - 4)), "one node more");
    // Scalar bytes: `machines`, `x`, and the value.
    let bytes = |count: usize| format!("machines: {{}}\nx: {}\n", "b".repeat(count));
    assert!(
        !limited(&bytes(MAX_SCALAR_BYTES - 9)),
        "exactly {MAX_SCALAR_BYTES} bytes"
    );
    assert!(limited(&bytes(MAX_SCALAR_BYTES - 8)), "one byte more");
}

#[test]
fn a_plain_double_angle_that_is_no_merge_key_keeps_the_errors_position() {
    // The pre-scan sees a plain `<<` and the document may need its merge keys expanded (which
    // loses the positions); as a value, not a key, it does not, and the error says where.
    let yaml = "machines:\n  vm:\n    devices:\n    - udev: {env: [{name: X, equals: <<}]}\n      vendor-id: 0x99999\n";
    let error = hotplugd::config::parse_main_file(yaml, Path::new("c.yml")).expect_err("refused");
    assert_eq!(
        error.to_string(),
        "c.yml:5:18: machines.vm.devices[0].vendor-id: 0x99999 is over 0xffff"
    );
}

#[test]
fn an_alias_counts_the_scalar_bytes_of_its_anchor_alone() {
    // 1000 bytes of scalars before the anchor, an anchor holding 100 000, then 50 aliases of it:
    // about 5 MB expanded, past the limit; 30 aliases, about 3 MB, are within it.
    let document = |aliases: usize| {
        format!(
            "before: {}\nanchor: &a [{}]\naliases: [{}]\nmachines: {{}}\n",
            "p".repeat(1000),
            "q".repeat(100_000),
            vec!["*a"; aliases].join(", ")
        )
    };
    let limited = |aliases: usize| {
        matches!(
            hotplugd::config::parse_main_file(&document(aliases), Path::new("c.yml")),
            Err(ConfigError::Limit { .. })
        )
    };
    assert!(!limited(30));
    assert!(limited(50));
}
