//! `check`, `list`, `explain` and `run --once --dry-run` need no root when pointed at a fixture
//! root and a libvirt test-driver node; bad input (a missing or broken config, an unreadable root,
//! an unreachable libvirt) gives one clear line on stderr and exit status 1, never a panic.
//!
//! Run as root, the commands are run as `nobody` through `setpriv` (util-linux); run as another
//! user, they run as that user, who is unprivileged already.

mod support;

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use fixtures::{FixtureTree, UsbDeviceBuilder};
use serde_json::{json, Value};
use support::unprivileged::{assert_no_panic, hotplugd, unprivileged_user, Run, User};
use tempfile::TempDir;

/// A libvirt URI whose socket does not exist.
const UNREACHABLE_URI: &str = "qemu+unix:///system?socket=/nonexistent.sock";

/// A host with a root hub and a webcam, a config where the running VM `office` wants the webcam,
/// and the test-driver node file; all of it readable by everyone.
struct Host {
    tree: FixtureTree,
    dir: TempDir,
}

impl Host {
    fn new() -> Host {
        let host = Host {
            tree: FixtureTree::new().expect("fixture tree"),
            dir: tempfile::tempdir().expect("temp dir"),
        };
        host.tree
            .add(&UsbDeviceBuilder::root_hub(1).build())
            .expect("root hub");
        let webcam = UsbDeviceBuilder::new("1-2", 3)
            .ids(0x046d, 0x0825)
            .manufacturer("Logitech")
            .product("Webcam C270");
        host.tree.add(&webcam.build()).expect("webcam");
        host.write_config("machines:\n  office:\n    devices:\n    - vendor-id: 0x046d\n");
        fs::write(
            host.node(),
            "<node><domain type='test'><name>office</name><memory unit='MiB'>64</memory>\
             <os><type>hvm</type></os></domain></node>\n",
        )
        .expect("node file");
        make_readable_by_everyone(host.tree.root());
        make_readable_by_everyone(host.dir.path());
        host
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.yml")
    }

    fn write_config(&self, text: &str) {
        fs::write(self.config(), text).expect("config written");
    }

    fn node(&self) -> PathBuf {
        self.dir.path().join("node.xml")
    }

    fn test_uri(&self) -> String {
        format!("test://{}", self.node().display())
    }

    /// `--root <fixture root> --libvirt-uri <test uri>` then `args`, the config path for
    /// `CONFIG`.
    fn arguments(&self, args: &[&str]) -> Vec<OsString> {
        let mut all: Vec<OsString> = vec![
            "--root".into(),
            self.tree.root().into(),
            "--libvirt-uri".into(),
            self.test_uri().into(),
            "--state-dir".into(),
            self.dir.path().join("state").into(),
            "--data-dir".into(),
            self.dir.path().join("data").into(),
        ];
        all.extend(args.iter().map(|&arg| match arg {
            "CONFIG" => self.config().into_os_string(),
            other => other.into(),
        }));
        all
    }
}

/// Directories 0755, files 0644 (temporary directories are made 0700).
fn make_readable_by_everyone(path: &Path) {
    let metadata = fs::symlink_metadata(path).expect("metadata");
    if metadata.is_symlink() {
        return;
    }
    let mode = if metadata.is_dir() { 0o755 } else { 0o644 };
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    if metadata.is_dir() {
        for entry in fs::read_dir(path).expect("listing") {
            make_readable_by_everyone(&entry.expect("entry").path());
        }
    }
}

fn planned_attach() -> Value {
    json!([{"action": "attach", "machine": "office", "bus": 1, "device": 3,
            "vendor-id": "046d", "product-id": "0825"}])
}

#[test]
fn the_read_only_commands_work_for_an_unprivileged_user() {
    let user = unprivileged_user();
    let host = Host::new();
    let run = |args: &[&str]| hotplugd(user, &host.arguments(args));

    let check = run(&["check", "CONFIG"]);
    let summary = check.succeeded("check");
    assert!(
        summary.starts_with(&format!("{}: valid\n", host.config().display())),
        "{summary}"
    );
    assert!(summary.contains("\nmachines: 1\n"), "{summary}");

    let list = run(&["list"]);
    assert!(
        list.succeeded("list")
            .contains("Bus 001 Device 003: ID 046d:0825 Logitech Webcam C270\n"),
        "{}",
        list.stdout
    );
    let list_json = run(&["list", "--json"]);
    let listed: Value = serde_json::from_str(list_json.succeeded("list --json")).expect("json");
    let ports: Vec<&Value> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|device| &device["port"])
        .collect();
    assert_eq!(ports, [&json!("usb1"), &json!("1-2")]);

    let explain = run(&["explain", "CONFIG"]);
    let text = explain.succeeded("explain");
    for line in [
        "  001/003 046d:0825 at port 1-2: Logitech Webcam C270\n",
        "    to be attached to office\n",
        "  office: running\n",
        "  attach 001/003 (046d:0825) to office\n",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    let explain_json = run(&["explain", "CONFIG", "--json"]);
    let report: Value =
        serde_json::from_str(explain_json.succeeded("explain --json")).expect("json");
    assert_eq!(report["actions"], planned_attach());
    assert_eq!(report["machines"][0]["running"], true);

    let dry_run = run(&["run", "--once", "--dry-run", "CONFIG"]);
    assert_eq!(
        dry_run.succeeded("run --once --dry-run"),
        "attach 001/003 (046d:0825) to office\n"
    );
    let dry_run_json = run(&["run", "--once", "--dry-run", "--json", "CONFIG"]);
    let plan: Value =
        serde_json::from_str(dry_run_json.succeeded("run --once --dry-run --json")).expect("json");
    assert_eq!(plan["actions"], planned_attach());
}

#[test]
fn a_missing_config_file_gives_one_line_naming_it() {
    let host = Host::new();
    let missing = host.dir.path().join("absent.yml");
    let missing = missing.to_str().expect("utf-8 path");
    for args in [
        vec!["check", missing],
        vec!["explain", missing],
        vec!["explain", "--json", missing],
        vec!["run", "--once", missing],
        vec!["run", "--once", "--dry-run", missing],
        vec!["run", missing],
        vec![missing],
    ] {
        let what = args.join(" ");
        let run = hotplugd(User::Current, &host.arguments(&args));
        let line = run.failed_with_one_line(&what);
        assert_eq!(
            line,
            format!(
                "libvirt-usb-hotplugd: cannot load the configuration: cannot read {missing}: \
                 No such file or directory (os error 2)"
            ),
            "{what}"
        );
    }
}

#[test]
fn a_root_that_does_not_exist_gives_one_line_naming_it() {
    let host = Host::new();
    for args in [
        vec!["list"],
        vec!["list", "--json"],
        vec!["explain", "CONFIG"],
        vec!["explain", "--json", "CONFIG"],
        vec!["run", "--once", "--dry-run", "CONFIG"],
        vec!["run", "--once", "CONFIG"],
    ] {
        let what = args.join(" ");
        let mut arguments = host.arguments(&args);
        arguments[1] = "/nonexistent".into();
        let run = hotplugd(User::Current, &arguments);
        assert_eq!(
            run.failed_with_one_line(&what),
            "libvirt-usb-hotplugd: cannot list the usb devices: cannot list \
             /nonexistent/sys/bus/usb/devices: No such file or directory (os error 2)",
            "{what}"
        );
    }
}

#[test]
fn a_root_the_user_cannot_read_gives_one_line_naming_it() {
    let user = unprivileged_user();
    let host = Host::new();
    let devices = host.tree.bus_devices();
    fs::set_permissions(&devices, fs::Permissions::from_mode(0o000)).expect("chmod");
    let runs: Vec<(String, Run)> = [vec!["list"], vec!["explain", "--json", "CONFIG"]]
        .into_iter()
        .map(|args| (args.join(" "), hotplugd(user, &host.arguments(&args))))
        .collect();
    // Put the mode back first, so that the tree can be removed whatever the outcome.
    fs::set_permissions(&devices, fs::Permissions::from_mode(0o755)).expect("chmod");
    for (what, run) in runs {
        assert_eq!(
            run.failed_with_one_line(&what),
            format!(
                "libvirt-usb-hotplugd: cannot list the usb devices: cannot list {}: \
                 Permission denied (os error 13)",
                devices.display()
            ),
            "{what}"
        );
    }
}

#[test]
fn an_unreachable_libvirt_gives_one_line_naming_it() {
    let host = Host::new();
    let with_unreachable_uri = |args: &[&str]| {
        let mut arguments = host.arguments(args);
        arguments[3] = UNREACHABLE_URI.into();
        hotplugd(User::Current, &arguments)
    };
    for args in [
        vec!["explain", "CONFIG"],
        vec!["explain", "--json", "CONFIG"],
        vec!["run", "--once", "--dry-run", "CONFIG"],
        vec!["run", "--once", "--dry-run", "--json", "CONFIG"],
        vec!["run", "--once", "CONFIG"],
    ] {
        let what = args.join(" ");
        let run = with_unreachable_uri(&args);
        let line = run.failed_with_one_line(&what);
        assert!(
            line.starts_with(&format!(
                "libvirt-usb-hotplugd: cannot connect to libvirt at {UNREACHABLE_URI}: "
            )),
            "{what}: {line}"
        );
        assert!(line.contains("/nonexistent.sock"), "{what}: {line}");
    }
    // Neither needs libvirt.
    with_unreachable_uri(&["check", "CONFIG"]).succeeded("check");
    with_unreachable_uri(&["list"]).succeeded("list");
}

#[test]
fn a_missing_node_file_fails_with_our_line_last() {
    // libxml2 prints its own "I/O warning" line first, which cannot be silenced.
    let host = Host::new();
    let mut arguments = host.arguments(&["explain", "--json", "CONFIG"]);
    let uri = format!("test://{}", host.dir.path().join("absent.xml").display());
    arguments[3] = uri.clone().into();
    let run = hotplugd(User::Current, &arguments);
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    assert_no_panic("explain", &run.stderr);
    assert_eq!(run.stdout, "");
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "libvirt-usb-hotplugd: cannot connect to libvirt at {uri}: "
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn a_config_error_gives_one_line_with_file_line_column_and_path() {
    let host = Host::new();
    host.write_config("machines:\n  office:\n    devices:\n    - vendor-id: 0x1ffff\n");
    for args in [
        vec!["check", "CONFIG"],
        vec!["explain", "CONFIG"],
        vec!["explain", "--json", "CONFIG"],
        vec!["run", "--once", "--dry-run", "CONFIG"],
        vec!["run", "--once", "CONFIG"],
        vec!["CONFIG"],
    ] {
        let what = args.join(" ");
        let run = hotplugd(User::Current, &host.arguments(&args));
        assert_eq!(
            run.failed_with_one_line(&what),
            format!(
                "libvirt-usb-hotplugd: cannot load the configuration: {}:4:18: \
                 machines.office.devices[0].vendor-id: 0x1ffff is over 0xffff",
                host.config().display()
            ),
            "{what}"
        );
    }
}

#[test]
fn an_error_in_a_machines_d_file_names_that_file() {
    let host = Host::new();
    let folder = host.dir.path().join("machines.d");
    fs::create_dir(&folder).expect("machines.d");
    let file = folder.join("lab.yml");
    fs::write(&file, "devices:\n- port: 3-x\n").expect("machine file");
    let run = hotplugd(User::Current, &host.arguments(&["explain", "CONFIG"]));
    let line = run.failed_with_one_line("explain");
    assert!(
        line.starts_with(&format!(
            "libvirt-usb-hotplugd: cannot load the configuration: {}:2:",
            file.display()
        )),
        "{line}"
    );
    assert!(line.contains("devices[0].port"), "{line}");
}
