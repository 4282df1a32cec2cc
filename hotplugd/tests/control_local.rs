//! The running daemon as a person and systemd meet it, on a fixture root and libvirt's test
//! driver (no libvirtd needed): one instance per state directory, `status` and its exit codes,
//! and the sd_notify messages a `Type=notify` unit gets.

mod support;

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use fixtures::FixtureTree;
use serde_json::Value;
use support::{private_directories, wait_until, webcam, write, Daemon, BINARY, GENEROUS};

/// The test driver's default node: one running domain, `test`.
const TEST_DRIVER: &str = "test:///default";

/// A fixture root with a webcam, and a configuration giving it to `test`.
fn host(interval: &str) -> FixtureTree {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&webcam("3-6", 5).build()).expect("webcam");
    write(
        &tree.root().join("config.yml"),
        &format!(
            "interval: {interval}\nmachines:\n  test:\n    devices:\n    - vendor-id: 0x046d\n"
        ),
    );
    tree
}

/// The binary on `tree` with its own state and data directories.
fn binary(tree: &FixtureTree) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET")
        .env("LIBVIRT_USB_HOTPLUGD_NO_UDEV_EVENTS", "1")
        .args(["--libvirt-uri", TEST_DRIVER, "--root"])
        .arg(tree.root())
        .args(private_directories(tree.root()));
    command
}

fn daemon(tree: &FixtureTree, log: &str) -> Daemon {
    let mut command = binary(tree);
    command.arg(tree.root().join("config.yml"));
    let daemon = Daemon::spawn(command, &tree.root().join(log));
    daemon.wait_started();
    daemon
}

#[test]
fn one_daemon_per_state_directory_and_status_says_whether_one_runs() {
    let tree = host("60s");
    let status = |json: bool| {
        let mut command = binary(&tree);
        command.arg("status");
        if json {
            command.arg("--json");
        }
        command.output().expect("status runs")
    };
    let before = status(false);
    assert_eq!(before.status.code(), Some(3), "{before:?}");
    assert!(String::from_utf8_lossy(&before.stderr).contains("no daemon runs"));

    let first = daemon(&tree, "first.log");
    // The state file appears once the first reconcile is over.
    assert!(
        wait_until(GENEROUS, || tree.root().join("state/state.json").exists()).is_some(),
        "{}",
        first.log()
    );
    let shown = status(true);
    assert_eq!(shown.status.code(), Some(0), "{shown:?}");
    let state: Value = serde_json::from_slice(&shown.stdout).expect("JSON");
    assert_eq!(state["pid"], first.pid());
    assert_eq!(state["devices"][0]["port"], "3-6");
    // The test driver cannot hotplug: the attach fails, permanently, and is said so.
    assert_eq!(state["failing"][0]["action"], "attach", "{state:#}");
    assert_eq!(state["failing"][0]["kind"], "permanent");
    assert!(state["failing"][0]["retry-at"].is_string());
    let text = status(false);
    let text = String::from_utf8_lossy(&text.stdout);
    let summary = text.lines().next().unwrap_or_default();
    assert!(
        summary.starts_with("0 attached") && summary.contains("1 failing (retry in "),
        "{summary}"
    );

    // A second daemon on the same state directory: exit 1, naming the first one's pid.
    let mut second = binary(&tree);
    second.arg(tree.root().join("config.yml"));
    let refused = second.output().expect("runs");
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("pid {}", first.pid())),
        "names the first daemon: {stderr}"
    );

    // Another state directory but the same data directory: refused as well, naming --data-dir,
    // since both would take the record of the machines they attached to for their own.
    let refused = Command::new(BINARY)
        .env("LIBVIRT_USB_HOTPLUGD_NO_UDEV_EVENTS", "1")
        .args(["--libvirt-uri", TEST_DRIVER, "--root"])
        .arg(tree.root())
        .arg("--state-dir")
        .arg(tree.root().join("other-state"))
        .arg("--data-dir")
        .arg(tree.root().join("data"))
        .arg(tree.root().join("config.yml"))
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!("pid {}", first.pid()))
            && stderr.contains("data directory")
            && stderr.contains("--data-dir"),
        "{stderr}"
    );

    let mut first = first;
    first.signal("TERM");
    assert!(first
        .wait_exit(GENEROUS)
        .is_some_and(|status| status.success()));
    assert_eq!(status(true).status.code(), Some(3), "none runs any more");
}

/// Receives one datagram on `socket` (waiting at most its read timeout), adding its lines to
/// `seen`.
fn receive_one(socket: &UnixDatagram, seen: &mut Vec<String>) {
    let mut buffer = [0u8; 4096];
    if let Ok(length) = socket.recv(&mut buffer) {
        seen.extend(
            String::from_utf8_lossy(&buffer[..length])
                .lines()
                .map(str::to_owned),
        );
    }
}

/// Receives until `seen` holds a line satisfying `wanted`, for at most [`GENEROUS`].
fn receive_until_line(
    socket: &UnixDatagram,
    seen: &mut Vec<String>,
    wanted: impl Fn(&[String]) -> bool,
) -> bool {
    let deadline = Instant::now() + GENEROUS;
    while !wanted(seen) && Instant::now() < deadline {
        receive_one(socket, seen);
    }
    wanted(seen)
}

/// Receives until `wanted` is among the lines seen, for at most [`GENEROUS`].
fn receive_until(socket: &UnixDatagram, wanted: &str, seen: &mut Vec<String>) -> bool {
    receive_until_line(socket, seen, |seen| seen.iter().any(|line| line == wanted))
}

#[test]
fn a_notify_unit_hears_ready_status_reloading_watchdog_and_stopping() {
    let tree = host("60s");
    let socket_path = tree.root().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("the notify socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut command = binary(&tree);
    command
        .env("NOTIFY_SOCKET", &socket_path)
        // A watchdog of 400 ms: WATCHDOG=1 every 200 ms.
        .env("WATCHDOG_USEC", "400000")
        .arg(tree.root().join("config.yml"));
    // systemd names the watched process in WATCHDOG_PID: the shell gives its pid, then becomes
    // the daemon.
    let mut command = {
        let mut shell = Command::new("sh");
        shell
            .args(["-c", "WATCHDOG_PID=$$ exec \"$0\" \"$@\""])
            .arg(command.get_program())
            .args(command.get_args())
            .envs(
                command
                    .get_envs()
                    .filter_map(|(key, value)| Some((key, value?))),
            )
            .env_remove("JOURNAL_STREAM");
        shell
    };
    command.env_remove("WATCHDOG_PID");
    let mut daemon = Daemon::spawn(command, &tree.root().join("daemon.log"));
    let mut seen = Vec::new();
    assert!(
        receive_until(&socket, "READY=1", &mut seen),
        "{seen:?}\n{}",
        daemon.log()
    );
    assert!(
        seen.iter()
            .any(|line| line.starts_with("STATUS=0 attached")),
        "{seen:?}"
    );

    // WATCHDOG=1 keeps coming while the loop idles (the next tick is a minute away).
    let pings = |seen: &[String]| seen.iter().filter(|line| *line == "WATCHDOG=1").count();
    let before = pings(&seen);
    assert!(
        receive_until_line(&socket, &mut seen, |seen| pings(seen) >= before + 3),
        "{seen:?}"
    );

    seen.clear();
    daemon.signal("HUP");
    assert!(receive_until(&socket, "RELOADING=1", &mut seen), "{seen:?}");
    let reloading = seen.iter().position(|line| line == "RELOADING=1");
    assert!(receive_until(&socket, "READY=1", &mut seen), "{seen:?}");
    let ready = seen.iter().rposition(|line| line == "READY=1");
    assert!(reloading < ready, "RELOADING=1, then READY=1: {seen:?}");

    seen.clear();
    daemon.signal("TERM");
    assert!(receive_until(&socket, "STOPPING=1", &mut seen), "{seen:?}");
    assert!(daemon
        .wait_exit(GENEROUS)
        .is_some_and(|status| status.success()));
}
