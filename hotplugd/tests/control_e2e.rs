//! A person and the daemon, end to end on the real libvirtd and KVM guests, in a private network
//! namespace (see `support::events`): a hostdev detached by hand stays detached and its device on
//! hold until `attach` or a replug; `detach` and `attach --to` move a device until it is plugged in
//! again, across a restart of the daemon; and after a restart the daemon cleans up a machine dropped from the configuration while
//! it was down, but never a machine another daemon's data directory recorded.

mod support;

use std::process::Output;
use std::time::{Duration, Instant};

use fixtures::FixtureTree;
use libvirt_sync::{hostdev_xml, HostdevSpec};
use serde_json::Value;
use support::events::{
    in_private_netns, start_daemon, uevent, wait_for_owned, webcam, webcam_spec,
};
use support::{binary, wait_until, write, Daemon, Guest, GuestKind, RealLibvirt, GENEROUS};
use usb_discovery::UeventSender;

/// `COMMAND ARGS…` of the binary, with the tree's root and state directory.
fn command(tree: &FixtureTree, libvirt: &RealLibvirt, args: &[&str]) -> Output {
    binary(tree.root(), libvirt)
        .args(args)
        .output()
        .expect("the binary runs")
}

/// `status --json`.
fn status(tree: &FixtureTree, libvirt: &RealLibvirt) -> Value {
    let output = command(tree, libvirt, &["status", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// Whether `status` shows the device at `port` on hold.
fn held(tree: &FixtureTree, libvirt: &RealLibvirt, port: &str) -> bool {
    status(tree, libvirt)["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|device| device["port"] == port && device["held"] == true)
}

/// `virsh detach-device --live` of the daemon's hostdev of `spec`, as a person would.
fn detach_by_hand(libvirt: &RealLibvirt, guest: &Guest, spec: &HostdevSpec) {
    libvirt
        .virsh(
            &["detach-device", guest.name(), "/dev/stdin", "--live"],
            &hostdev_xml(spec),
        )
        .expect("virsh detach-device");
}

/// Asserts that `guest` holds no hostdev of the daemon for all of `window` (polled).
fn stays_detached(guest: &Guest, window: Duration) {
    let start = Instant::now();
    while start.elapsed() < window {
        assert_eq!(
            guest.owned(),
            [],
            "attached again after {:?}",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Plugs the device at `port` in again under device number `number` (the old one gone), with
/// the udev events a replug sends.
fn replug(tree: &FixtureTree, port: &str, bus: u16, old: u16, number: u16) {
    let sender = UeventSender::open().expect("the uevent sender");
    let unplugged = webcam(port, old);
    tree.remove(&unplugged).expect("unplugged");
    sender
        .send(&uevent("remove", &unplugged, bus, old))
        .expect("remove event");
    let plugged = webcam(port, number);
    tree.add(&plugged).expect("plugged in");
    sender
        .send(&uevent("add", &plugged, bus, number))
        .expect("add event");
}

fn config_for(tree: &FixtureTree, guest: &Guest) -> String {
    let text = format!(
        "interval: 60s\nmachines:\n  {}:\n    devices:\n    - vendor-id: 0x046d\n",
        guest.name()
    );
    write(&tree.root().join("config.yml"), &text);
    text
}

#[test]
fn a_device_detached_by_hand_stays_detached_until_attach_or_a_replug() {
    in_private_netns(
        "a_device_detached_by_hand_stays_detached_until_attach_or_a_replug",
        |libvirt| {
            let guest = Guest::create(libvirt, "by-hand", GuestKind::Running);
            let tree = FixtureTree::new().expect("tree");
            tree.add(&webcam("82-1", 5)).expect("webcam");
            let daemon = start_daemon(&tree, libvirt, &config_for(&tree, &guest), true);
            let first = webcam_spec(82, 5);
            wait_for_owned(&guest, &daemon, &[first], "at the start");

            detach_by_hand(libvirt, &guest, &first);
            assert!(
                wait_until(GENEROUS, || held(&tree, libvirt, "82-1")).is_some(),
                "status does not show the device held:\n{}",
                daemon.log()
            );
            stays_detached(&guest, Duration::from_secs(3));
            assert!(held(&tree, libvirt, "82-1"));

            let asked = Instant::now();
            let attached = command(&tree, libvirt, &["attach", "082/005"]);
            assert_eq!(attached.status.code(), Some(0), "{attached:?}");
            let again = wait_for_owned(&guest, &daemon, &[first], "after attach");
            println!(
                "latency attach command -> in the live XML: {:?} (the command itself {:?})",
                again,
                asked.elapsed()
            );
            assert!(!held(&tree, libvirt, "82-1"));

            // Detached by hand again, then replugged: a new device, attached without a command.
            detach_by_hand(libvirt, &guest, &first);
            assert!(wait_until(GENEROUS, || held(&tree, libvirt, "82-1")).is_some());
            replug(&tree, "82-1", 82, 5, 6);
            wait_for_owned(&guest, &daemon, &[webcam_spec(82, 6)], "after the replug");
            assert!(
                !held(&tree, libvirt, "82-1"),
                "the hold went with the old device"
            );
        },
    );
}

#[test]
fn detach_then_attach_to_another_guest_moves_the_device_until_it_is_plugged_in_again() {
    in_private_netns(
        "detach_then_attach_to_another_guest_moves_the_device_until_it_is_plugged_in_again",
        |libvirt| {
            let rules = Guest::create(libvirt, "rules", GuestKind::Running);
            let other = Guest::create(libvirt, "other", GuestKind::Running);
            let tree = FixtureTree::new().expect("tree");
            tree.add(&webcam("83-1", 5)).expect("webcam");
            let daemon = start_daemon(&tree, libvirt, &config_for(&tree, &rules), true);
            let device = webcam_spec(83, 5);
            wait_for_owned(&rules, &daemon, &[device], "at the start");

            let detached = command(&tree, libvirt, &["detach", "83-1"]);
            assert_eq!(detached.status.code(), Some(0), "{detached:?}");
            assert!(
                String::from_utf8_lossy(&detached.stdout).contains("detached 083/005"),
                "{detached:?}"
            );
            assert_eq!(rules.owned(), [], "the command returns once it is detached");

            let given = command(&tree, libvirt, &["attach", "083/005", "--to", other.name()]);
            assert_eq!(given.status.code(), Some(0), "{given:?}");
            wait_for_owned(&other, &daemon, &[device], "after attach --to");
            assert_eq!(rules.owned(), []);

            // Restarted: the state directory kept the assignment, so the device stays on the
            // other guest and does not go back to the rules' machine.
            let mut daemon = daemon;
            daemon.signal("TERM");
            assert!(daemon.wait_exit(GENEROUS).is_some(), "{}", daemon.log());
            let daemon = start_daemon(&tree, libvirt, &config_for(&tree, &rules), true);
            stays_detached(&rules, Duration::from_secs(3));
            assert_eq!(other.owned(), [device], "{}", daemon.log());

            // Unplugged and plugged in again: back to the machine of the rules.
            replug(&tree, "83-1", 83, 5, 6);
            wait_for_owned(&rules, &daemon, &[webcam_spec(83, 6)], "after the replug");
            wait_for_owned(&other, &daemon, &[], "the stale hostdev on the other guest");
        },
    );
}

#[test]
fn after_a_restart_a_machine_dropped_meanwhile_is_cleaned_up_and_another_daemons_is_not() {
    let test =
        "after_a_restart_a_machine_dropped_meanwhile_is_cleaned_up_and_another_daemons_is_not";
    let Some(libvirt) = RealLibvirt::from_env(test) else {
        return;
    };
    let dropped = Guest::create(&libvirt, "dropped", GuestKind::Running);
    let theirs = Guest::create(&libvirt, "theirs", GuestKind::Running);
    let tree = FixtureTree::new().expect("tree");
    tree.add(&webcam("84-1", 5)).expect("webcam");
    let ours = webcam_spec(84, 5);
    // Another daemon, with a data directory of its own, attached a device to `theirs`.
    let their_device = webcam_spec(85, 5);
    libvirt
        .virsh(
            &["attach-device", theirs.name(), "/dev/stdin", "--live"],
            &hostdev_xml(&their_device),
        )
        .expect("attached by the other daemon");
    let their_data = tree.root().join("their-data");
    std::fs::create_dir_all(&their_data).expect("their data directory");
    write(
        &their_data.join("machines.json"),
        &serde_json::to_string(&[theirs.name()]).expect("JSON"),
    );

    let config = tree.root().join("config.yml");
    config_for(&tree, &dropped);
    let mut first = Daemon::spawn(
        {
            let mut command = binary(tree.root(), &libvirt);
            command
                .env("LIBVIRT_USB_HOTPLUGD_NO_UDEV_EVENTS", "1")
                .arg(&config);
            command
        },
        &tree.root().join("first.log"),
    );
    first.wait_started();
    assert!(
        wait_until(GENEROUS, || dropped.owned() == [ours]).is_some(),
        "{}",
        first.log()
    );
    let record = tree.root().join("data/machines.json");
    let recorded = wait_until(GENEROUS, || {
        std::fs::read_to_string(&record).is_ok_and(|text| text.contains(dropped.name()))
    });
    assert!(recorded.is_some(), "the data directory records the machine");

    // Killed; the configuration drops the machine while no daemon runs.
    first.signal("KILL");
    assert!(first.wait_exit(GENEROUS).is_some());
    write(&config, "interval: 60s\nmachines: {}\n");
    let second = Daemon::spawn(
        {
            let mut command = binary(tree.root(), &libvirt);
            command
                .env("LIBVIRT_USB_HOTPLUGD_NO_UDEV_EVENTS", "1")
                .arg(&config);
            command
        },
        &tree.root().join("second.log"),
    );
    second.wait_started();
    assert!(
        wait_until(GENEROUS, || dropped.owned().is_empty()).is_some(),
        "the hostdev on the dropped machine stays:\n{}",
        second.log()
    );
    assert_eq!(
        theirs.owned(),
        [their_device],
        "another daemon's machine is not touched"
    );
    let _ = std::fs::remove_dir_all(&their_data);
}
