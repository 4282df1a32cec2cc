//! The built binary running as a daemon (`libvirt-usb-hotplugd --root R --libvirt-uri URI CONFIG`)
//! against a fixture root and the real libvirtd (see `support`): attach on the resync tick, reload
//! with SIGHUP (a broken configuration is reported and the old one kept; a configuration without
//! the machine detaches its devices), and a clean stop on SIGTERM or SIGINT that leaves attached
//! devices attached. udev events are off (`LIBVIRT_USB_HOTPLUGD_NO_UDEV_EVENTS=1`), so only the
//! tick finds devices here. The tests run one at a time, so that no other test's guest starting
//! or stopping wakes the daemon with a libvirt domain event.

mod support;

use std::path::Path;

use fixtures::{DeviceFiles, FixtureTree};
use support::{
    binary, one_at_a_time, spec, write, Daemon, Guest, GuestKind, RealLibvirt, GENEROUS,
};

/// The resync interval of these tests.
const INTERVAL: &str = "300ms";

fn webcam(port: &str, device: u16) -> DeviceFiles {
    support::webcam(port, device).build()
}

/// A configuration giving every Logitech C270 to `machine`, resynchronising every [`INTERVAL`].
fn webcam_config(machine: &str) -> String {
    format!(
        "interval: {INTERVAL}\nmachines:\n  {machine}:\n    devices:\n    \
         - vendor-id: 0x046d\n      product-id: 0x0825\n"
    )
}

/// The daemon on `tree` with `config`, udev events off, its log beside the configuration; returns
/// once it said it started.
fn start_daemon(tree: &FixtureTree, libvirt: &RealLibvirt, config: &Path) -> Daemon {
    let mut command = binary(tree.root(), libvirt);
    command
        .env("LIBVIRT_USB_HOTPLUGD_NO_UDEV_EVENTS", "1")
        .arg(config);
    let daemon = Daemon::spawn(command, &tree.root().join("daemon.log"));
    daemon.wait_started();
    daemon
}

#[test]
fn the_daemon_attaches_on_the_tick_survives_a_broken_reload_and_detaches_a_dropped_machine() {
    let Some(libvirt) = RealLibvirt::from_env(
        "the_daemon_attaches_on_the_tick_survives_a_broken_reload_and_detaches_a_dropped_machine",
    ) else {
        return;
    };
    let _one_at_a_time = one_at_a_time();
    let guest = Guest::create(&libvirt, "daemon", GuestKind::Running);
    let tree = FixtureTree::new().expect("fixture tree");
    let config = tree.root().join("config.yml");
    write(&config, &webcam_config(guest.name()));
    let daemon = start_daemon(&tree, &libvirt, &config);
    assert!(
        daemon
            .log_line(&["udev events are off", "LIBVIRT_USB_HOTPLUGD_NO_UDEV_EVENTS"])
            .is_some(),
        "{}",
        daemon.log()
    );
    assert!(
        daemon
            .log_line(&["started: 1 machine(s), resync every 300ms"])
            .is_some(),
        "{}",
        daemon.log()
    );

    // Plugged in while the daemon runs: attached on a tick (two intervals are 600 ms; the bound
    // is generous for a loaded machine).
    tree.add(&webcam("54-1", 5)).expect("device added");
    let first = spec(54, 5, 0x046d, 0x0825);
    let latency = support::wait_until(GENEROUS, || guest.owned() == vec![first])
        .unwrap_or_else(|| panic!("not attached within {GENEROUS:?}:\n{}", daemon.log()));
    println!("plugged -> attached on the tick ({INTERVAL} interval): {latency:?}");

    // A broken configuration and SIGHUP: an error naming the file, and the old one is kept.
    write(
        &config,
        &format!("interval: soon\nmachines:\n  {}: {{}}\n", guest.name()),
    );
    daemon.signal("HUP");
    let config_name = config.display().to_string();
    assert!(
        daemon
            .wait_for_line(
                &["ERROR", "keeping the configuration in use", &config_name],
                GENEROUS
            )
            .is_some(),
        "no error naming {config_name}:\n{}",
        daemon.log()
    );
    tree.add(&webcam("54-2", 6)).expect("device added");
    let second = spec(54, 6, 0x046d, 0x0825);
    let latency = support::wait_until(GENEROUS, || guest.owned() == vec![first, second])
        .unwrap_or_else(|| {
            panic!(
                "the daemon stopped working after a bad reload:\n{}",
                daemon.log()
            )
        });
    println!("plugged -> attached after a rejected reload: {latency:?}");

    // A configuration without the machine and SIGHUP: what the daemon attached there goes.
    write(&config, &format!("interval: {INTERVAL}\nmachines: {{}}\n"));
    daemon.signal("HUP");
    let latency = support::wait_until(GENEROUS, || guest.owned().is_empty())
        .unwrap_or_else(|| panic!("the dropped machine keeps its devices:\n{}", daemon.log()));
    println!("reload without the machine -> detached: {latency:?}");
    assert!(
        daemon
            .log_line(&["reloaded", &config_name, "0 machine(s)"])
            .is_some(),
        "{}",
        daemon.log()
    );
    assert!(guest.is_running());
}

/// Starts the daemon with a device plugged in, waits for the attach, stops it with `signal`, and
/// checks the exit status and that the device stays attached.
fn stop_leaves_devices_attached(test: &str, signal: &str, bus: u16) {
    let Some(libvirt) = RealLibvirt::from_env(test) else {
        return;
    };
    let _one_at_a_time = one_at_a_time();
    let guest = Guest::create(&libvirt, &signal.to_lowercase(), GuestKind::Running);
    let tree = FixtureTree::new().expect("fixture tree");
    let config = tree.root().join("config.yml");
    write(&config, &webcam_config(guest.name()));
    tree.add(&webcam(&format!("{bus}-1"), 3))
        .expect("device added");
    let attached = vec![spec(bus, 3, 0x046d, 0x0825)];
    let mut daemon = start_daemon(&tree, &libvirt, &config);
    assert!(
        support::wait_until(GENEROUS, || guest.owned() == attached).is_some(),
        "not attached at the start:\n{}",
        daemon.log()
    );

    daemon.signal(signal);
    let status = daemon.wait_exit(GENEROUS).unwrap_or_else(|| {
        panic!(
            "still running {GENEROUS:?} after SIG{signal}:\n{}",
            daemon.log()
        )
    });
    assert_eq!(status.code(), Some(0), "{}", daemon.log());
    assert!(
        daemon
            .log_line(&["stopping; attached devices stay attached"])
            .is_some(),
        "{}",
        daemon.log()
    );
    assert_eq!(guest.owned(), attached, "{}", daemon.log());
}

#[test]
fn sigterm_exits_0_and_attached_devices_stay_attached() {
    stop_leaves_devices_attached(
        "sigterm_exits_0_and_attached_devices_stay_attached",
        "TERM",
        55,
    );
}

#[test]
fn sigint_exits_0_and_attached_devices_stay_attached() {
    stop_leaves_devices_attached(
        "sigint_exits_0_and_attached_devices_stay_attached",
        "INT",
        56,
    );
}

#[test]
fn a_reload_with_a_shorter_interval_applies_it_at_once() {
    let Some(libvirt) =
        RealLibvirt::from_env("a_reload_with_a_shorter_interval_applies_it_at_once")
    else {
        return;
    };
    let _one_at_a_time = one_at_a_time();
    let guest = Guest::create(&libvirt, "interval", GuestKind::Running);
    let tree = FixtureTree::new().expect("fixture tree");
    let config = tree.root().join("config.yml");
    write(
        &config,
        &webcam_config(guest.name()).replace(INTERVAL, "1h"),
    );
    let daemon = start_daemon(&tree, &libvirt, &config);
    write(&config, &webcam_config(guest.name()));
    daemon.signal("HUP");
    assert!(
        daemon
            .wait_for_line(&["reloaded", "resync every 300ms"], GENEROUS)
            .is_some(),
        "{}",
        daemon.log()
    );
    // Without the new interval the next tick would be an hour away.
    tree.add(&webcam("57-1", 4)).expect("device added");
    let latency = support::wait_until(GENEROUS, || {
        guest.owned() == vec![spec(57, 4, 0x046d, 0x0825)]
    })
    .unwrap_or_else(|| panic!("not attached within {GENEROUS:?}:\n{}", daemon.log()));
    println!("plugged -> attached after the interval was shortened by a reload: {latency:?}");
}
