//! README promises about the running daemon that libvirt's test driver proves as well as a real
//! libvirtd: SIGHUP with a bad configuration keeps the old one, a reloaded interval applies at
//! once, SIGINT exits 0, `run --dry-run` without `--once` only logs what it would do (once),
//! `--libvirt-uri` overrides the configuration's URI, and a reload can change the URI.
//!
//! The test driver refuses every hotplug: an attach the daemon tries shows as its warning
//! (`cannot attach BUS/DEV … to VM`), which is how these tests see what the daemon decided.
//! udev events are off; only ticks, signals and reloads wake the daemon.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use fixtures::FixtureTree;
use serde_json::Value;
use support::{private_directories, wait_until, webcam, write, Daemon, BINARY, GENEROUS};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the workspace")
}

/// The binary on `tree` with its own state and data directories, debug logging on, udev events
/// off, and `arguments`.
fn binary(tree: &FixtureTree, arguments: &[&str]) -> Command {
    binary_on(tree.root(), tree, arguments)
}

/// The same with the devices of `root`.
fn binary_on(root: &Path, tree: &FixtureTree, arguments: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WHAWTY_LIBVIRT_USB_HOTPLUGD_DEBUG")
        .env("LIBVIRT_USB_HOTPLUGD_NO_UDEV_EVENTS", "1")
        .arg("-v")
        .arg("--root")
        .arg(root)
        .args(private_directories(tree.root()))
        .args(arguments);
    command
}

fn daemon(tree: &FixtureTree, arguments: &[&str]) -> Daemon {
    let daemon = Daemon::spawn(binary(tree, arguments), &tree.root().join("daemon.log"));
    daemon.wait_started();
    daemon
}

/// How many lines of the daemon's log contain every one of `parts`.
fn count(daemon: &Daemon, parts: &[&str]) -> usize {
    daemon
        .log()
        .lines()
        .filter(|line| parts.iter().all(|part| line.contains(part)))
        .count()
}

/// Waits until the log has a line with every one of `parts`, failing with the log otherwise.
fn wait_for(daemon: &Daemon, parts: &[&str]) {
    assert!(
        daemon.wait_for_line(parts, GENEROUS).is_some(),
        "no line with {parts:?} within {GENEROUS:?}:\n{}",
        daemon.log()
    );
}

/// Waits until the daemon reconciled once more than it had when this was called.
fn wait_for_a_reconcile(daemon: &Daemon) {
    let before = count(daemon, &["DEBUG", "reconciled: "]);
    assert!(
        wait_until(GENEROUS, || count(daemon, &["DEBUG", "reconciled: "])
            > before)
        .is_some(),
        "no reconcile within {GENEROUS:?}:\n{}",
        daemon.log()
    );
}

/// A configuration giving every Logitech device to `machine`, with `rest` (interval, URI).
fn webcams_to(machine: &str, rest: &str) -> String {
    format!("{rest}machines:\n  {machine}:\n    devices:\n    - vendor-id: 0x046d\n")
}

#[test]
fn sighup_with_a_bad_configuration_keeps_the_old_one_and_a_new_interval_applies_at_once() {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&webcam("3-6", 5).build()).expect("webcam");
    let config = tree.root().join("config.yml");
    write(&config, &webcams_to("test", "interval: 1h\n"));
    let config_name = config.display().to_string();
    let daemon = daemon(&tree, &["--libvirt-uri", "test:///default", &config_name]);
    wait_for(&daemon, &["cannot attach 003/005 (046d:0825) to test"]);

    // A second webcam, then a broken configuration and SIGHUP: the error names the file, and the
    // reconcile the reload triggers still gives every webcam to `test` (the next tick is an hour
    // away).
    tree.add(&webcam("3-7", 6).build()).expect("webcam");
    write(&config, "interval: soon\nmachines:\n  test: {}\n");
    daemon.signal("HUP");
    wait_for(
        &daemon,
        &["ERROR", "keeping the configuration in use", &config_name],
    );
    wait_for(&daemon, &["cannot attach 003/006 (046d:0825) to test"]);

    // A good configuration with a 300 ms interval: after the reload's own reconcile, a third
    // webcam is found on a tick, which the old interval would have put an hour away.
    write(&config, &webcams_to("test", "interval: 300ms\n"));
    daemon.signal("HUP");
    wait_for(&daemon, &["reloaded", &config_name, "resync every 300ms"]);
    wait_for_a_reconcile(&daemon);
    tree.add(&webcam("3-8", 7).build()).expect("webcam");
    wait_for(&daemon, &["cannot attach 003/007 (046d:0825) to test"]);
}

#[test]
fn sigint_exits_0() {
    let tree = FixtureTree::new().expect("tree");
    let config = tree.root().join("config.yml");
    write(&config, &webcams_to("test", "interval: 60s\n"));
    let mut daemon = daemon(
        &tree,
        &[
            "--libvirt-uri",
            "test:///default",
            &config.display().to_string(),
        ],
    );
    daemon.signal("INT");
    let status = daemon
        .wait_exit(GENEROUS)
        .unwrap_or_else(|| panic!("still running {GENEROUS:?} after SIGINT:\n{}", daemon.log()));
    assert_eq!(status.code(), Some(0), "{}", daemon.log());
    wait_for(&daemon, &["stopping; attached devices stay attached"]);
}

#[test]
fn a_dry_run_daemon_logs_what_it_would_do_once_and_changes_nothing() {
    let tree = FixtureTree::new().expect("tree");
    let config = tree.root().join("config.yml");
    let demo_config =
        std::fs::read_to_string(workspace().join("examples/demo/config.yml")).expect("demo");
    write(
        &config,
        &demo_config.replace("interval: 5s", "interval: 100ms"),
    );
    let node = workspace().join("examples/demo/libvirt-node.xml");
    // The demo's devices, not the empty fixture tree.
    let mut command = binary_on(&workspace().join("examples/demo/root"), &tree, &[]);
    command
        .arg("--libvirt-uri")
        .arg(format!("test://{}", node.display()))
        .args(["run", "--dry-run"])
        .arg(&config);
    let daemon = Daemon::spawn(command, &tree.root().join("daemon.log"));
    daemon.wait_started();
    wait_for(&daemon, &["started: ", "dry run: nothing is changed"]);
    assert!(
        wait_until(GENEROUS, || count(&daemon, &["DEBUG", "reconciled: "])
            >= 20)
        .is_some(),
        "no 20 reconciles:\n{}",
        daemon.log()
    );
    let log = daemon.log();
    for action in [
        "would detach 001/009 (1050:0120) from yubikey-vm",
        "would attach 002/005 (138a:0005) to fingerprint-lab",
        "would attach 003/004 (08ff:5731) to fingerprint-lab",
        "would attach 001/012 (1050:0120) to yubikey-vm",
    ] {
        assert_eq!(count(&daemon, &["INFO", action]), 1, "{action}:\n{log}");
    }
    assert_eq!(count(&daemon, &["cannot "]), 0, "nothing was tried:\n{log}");
    assert!(
        !tree.root().join("state").exists(),
        "a dry run takes no state directory"
    );
}

/// `explain --json` on a fixture tree with a webcam, with `arguments` before the configuration.
fn explain(tree: &FixtureTree, config: &Path, arguments: &[&str]) -> std::process::Output {
    binary(tree, arguments)
        .args(["explain", "--json"])
        .arg(config)
        .output()
        .expect("explain runs")
}

#[test]
fn the_command_lines_libvirt_uri_overrides_the_configurations() {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&webcam("3-6", 5).build()).expect("webcam");
    let missing = tree.root().join("no-such-node.xml");
    let config = tree.root().join("config.yml");
    write(
        &config,
        &webcams_to(
            "test",
            &format!("libvirt-uri: test://{}\n", missing.display()),
        ),
    );
    let refused = explain(&tree, &config, &[]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("no-such-node.xml"),
        "names the configuration's URI: {stderr}"
    );

    let explained = explain(&tree, &config, &["--libvirt-uri", "test:///default"]);
    assert!(explained.status.success(), "{explained:?}");
    let report: Value = serde_json::from_slice(&explained.stdout).expect("JSON");
    assert_eq!(report["machines"][0]["name"], "test");
    assert_eq!(report["machines"][0]["running"], true, "{report:#}");
    assert_eq!(report["actions"][0]["action"], "attach", "{report:#}");
}

/// A test-driver node with one domain, `vm`, running or shut off.
fn node(path: &Path, running: bool) {
    let state = if running {
        ""
    } else {
        "<test:runstate>5</test:runstate>"
    };
    write(
        path,
        &format!(
            "<node><domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>\
             <name>vm</name><memory unit='MiB'>64</memory><os><type>hvm</type></os>{state}\
             </domain></node>"
        ),
    );
}

#[test]
fn a_reload_that_changes_the_libvirt_uri_connects_to_the_new_one() {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&webcam("3-6", 5).build()).expect("webcam");
    let (off, on) = (tree.root().join("off.xml"), tree.root().join("on.xml"));
    node(&off, false);
    node(&on, true);
    let uri = |path: &Path| format!("test://{}", path.display());
    let config = tree.root().join("config.yml");
    let with_uri = |path: &Path| {
        webcams_to(
            "vm",
            &format!("interval: 60s\nlibvirt-uri: {}\n", uri(path)),
        )
    };
    write(&config, &with_uri(&off));
    let daemon = daemon(&tree, &[&config.display().to_string()]);
    wait_for(&daemon, &["DEBUG", "reconciled: "]);
    assert_eq!(
        count(&daemon, &["cannot attach"]),
        0,
        "vm is shut off there"
    );

    write(&config, &with_uri(&on));
    daemon.signal("HUP");
    wait_for(&daemon, &["cannot attach 003/005 (046d:0825) to vm"]);
    let status = binary(&tree, &["status", "--json"])
        .output()
        .expect("status runs");
    let state: Value = serde_json::from_slice(&status.stdout).expect("JSON");
    assert_eq!(state["libvirt"]["uri"], uri(&on), "{state:#}");
}
