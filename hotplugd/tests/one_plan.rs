//! One plan for everyone: `explain`, `run --once --dry-run` and the daemon act on the same plan, and
//! the log says each change once.
//!
//! On a copy of the demo (`examples/demo`: a fixture root of real devices and a libvirt
//! test-driver node), run as `nobody` when the tests run as root, so that a file made unreadable
//! is unreadable for the binary.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use support::unprivileged::{command, hotplugd, unprivileged_user, User};
use support::{wait_until, Daemon};
use tempfile::TempDir;

/// A copy of `examples/demo` in a temporary folder that everyone may read.
struct Demo {
    dir: TempDir,
}

impl Demo {
    fn copy() -> Demo {
        let dir = tempfile::tempdir().expect("temp dir");
        let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/demo");
        let copied = Command::new("cp")
            .arg("-r")
            .arg(&demo)
            .arg(dir.path().join("demo"))
            .status()
            .expect("cp runs");
        assert!(copied.success());
        let readable = Command::new("chmod")
            .args(["-R", "a+rX"])
            .arg(dir.path())
            .status()
            .expect("chmod runs");
        assert!(readable.success());
        Demo { dir }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join("demo").join(relative)
    }

    /// `ATTRIBUTE` of the device at `port`, through its sysfs link.
    fn attribute(&self, port: &str, attribute: &str) -> PathBuf {
        let link = self.path("root/sys/bus/usb/devices").join(port);
        link.canonicalize()
            .unwrap_or_else(|error| panic!("{}: {error}", link.display()))
            .join(attribute)
    }

    fn set_mode(&self, port: &str, attribute: &str, mode: u32) {
        let path = self.attribute(port, attribute);
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .unwrap_or_else(|error| panic!("chmod {}: {error}", path.display()));
    }

    /// The global options: the demo's root and libvirt node, and state and data directories of
    /// the copy's own (writable by everyone: the daemon may run as nobody).
    fn options(&self) -> Vec<String> {
        let private = self.dir.path().join("private");
        fs::create_dir_all(&private).expect("private directory");
        fs::set_permissions(&private, fs::Permissions::from_mode(0o777)).expect("chmod");
        vec![
            "--root".into(),
            self.path("root").display().to_string(),
            "--libvirt-uri".into(),
            format!("test://{}", self.path("libvirt-node.xml").display()),
            "--state-dir".into(),
            private.join("state").display().to_string(),
            "--data-dir".into(),
            private.join("data").display().to_string(),
        ]
    }

    fn config(&self) -> String {
        self.path("config.yml").display().to_string()
    }
}

fn json_of(user: User, args: &[String]) -> Value {
    let run = hotplugd(user, args);
    serde_json::from_str(run.succeeded(&args.join(" "))).expect("one JSON object")
}

#[test]
fn explain_and_a_dry_run_take_the_same_actions_and_say_why_a_detach_waits() {
    // The issue's reproduction: one device whose sysfs file cannot be read.
    let demo = Demo::copy();
    demo.set_mode("2-1.3", "idVendor", 0o000);
    let user = unprivileged_user();
    let with = |args: &[&str]| -> Vec<String> {
        let mut all = demo.options();
        all.extend(args.iter().map(|arg| arg.to_string()));
        all.push(demo.config());
        all
    };
    let explained = json_of(user, &with(&["explain", "--json"]));
    let dry_run = json_of(user, &with(&["run", "--once", "--dry-run", "--json"]));

    assert_eq!(explained["actions"], dry_run["actions"]);
    assert_eq!(explained["held-back"], dry_run["held-back"]);
    // The stale YubiKey hostdev may be the device that cannot be read: its detach waits.
    let held = explained["held-back"].as_array().expect("a list");
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        (&held[0]["action"], &held[0]["machine"], &held[0]["device"]),
        (&json!("detach"), &json!("yubikey-vm"), &json!(9))
    );
    let why = held[0]["why"].as_str().expect("a reason");
    assert!(
        why.contains("2-1.3") && why.contains("cannot be read"),
        "{why}"
    );
    assert!(
        !explained["actions"]
            .as_array()
            .expect("a list")
            .iter()
            .any(|action| action["action"] == "detach"),
        "{explained:#}"
    );
    let unreadable = explained["unreadable"].as_array().expect("a list");
    assert_eq!(unreadable.len(), 1);
    assert_eq!(unreadable[0]["port"], "2-1.3");
    assert!(
        unreadable[0]["error"]
            .as_str()
            .is_some_and(|error| error.contains("idVendor")),
        "{unreadable:?}"
    );

    // The text forms say the same.
    let text = hotplugd(user, &with(&["run", "--once", "--dry-run"]));
    let printed: Vec<&str> = text.succeeded("dry run").lines().collect();
    let explain_text = hotplugd(user, &with(&["explain"]));
    let explain_text = explain_text.succeeded("explain");
    let actions = explain_text
        .split("Actions:\n")
        .nth(1)
        .expect("an Actions section");
    let listed: Vec<&str> = actions
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("held back: "))
        .collect();
    assert_eq!(listed, printed);
    assert!(
        actions.contains("held back: detach 001/009 (1050:0120) from yubikey-vm (USB device 2-1.3"),
        "{explain_text}"
    );
}

/// The daemon's log lines that are not debug lines and contain `needle`.
fn said(log: &str, needle: &str) -> Vec<String> {
    log.lines()
        .filter(|line| !line.contains("DEBUG") && line.contains(needle))
        .map(str::to_owned)
        .collect()
}

fn reconciles(log: &str) -> usize {
    log.lines()
        .filter(|line| line.contains("DEBUG") && line.contains("reconciled: "))
        .count()
}

#[test]
fn a_lasting_conflict_is_said_once_and_an_unreadable_device_twice() {
    let demo = Demo::copy();
    let config = demo.path("config.yml");
    let text = fs::read_to_string(&config).expect("demo config");
    fs::write(&config, text.replace("interval: 5s", "interval: 100ms")).expect("written");
    let user = unprivileged_user();
    let mut daemon_command = command(user);
    daemon_command
        .env("LIBVIRT_USB_HOTPLUGD_NO_UDEV_EVENTS", "1")
        .arg("-v")
        .args(demo.options())
        .arg("run")
        .arg(demo.config());
    let daemon = Daemon::spawn(daemon_command, &demo.dir.path().join("daemon.log"));
    let bound = Duration::from_secs(60);

    // 002/005 matches two running machines, fingerprint-lab and backup-lab, on every reconcile.
    let hundred = wait_until(bound, || reconciles(&daemon.log()) >= 100);
    assert!(hundred.is_some(), "no 100 reconciles:\n{}", daemon.log());
    let conflict = said(
        &daemon.log(),
        "002/005 (138a:0005) also matches running machine",
    );
    assert_eq!(conflict.len(), 1, "{conflict:#?}");

    // 3-1.1.3 cannot be read for a while, then can again.
    demo.set_mode("3-1.1.3", "idVendor", 0o000);
    assert!(
        daemon
            .wait_for_line(&["cannot read USB device 3-1.1.3"], bound)
            .is_some(),
        "{}",
        daemon.log()
    );
    let before = reconciles(&daemon.log());
    assert!(wait_until(bound, || reconciles(&daemon.log()) >= before + 10).is_some());
    demo.set_mode("3-1.1.3", "idVendor", 0o644);
    assert!(
        daemon
            .wait_for_line(&["USB device 3-1.1.3 can be read again"], bound)
            .is_some(),
        "{}",
        daemon.log()
    );
    let after = reconciles(&daemon.log());
    assert!(wait_until(bound, || reconciles(&daemon.log()) >= after + 20).is_some());
    let log = daemon.log();
    let lines = said(&log, "3-1.1.3");
    assert_eq!(lines.len(), 2, "exactly two lines: {lines:#?}");
    assert_eq!(
        said(&log, "002/005 (138a:0005) also matches running machine").len(),
        1,
        "still said once"
    );
}
