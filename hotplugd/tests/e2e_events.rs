//! Event-driven hotplug, end to end: the built daemon with a 60 s resync interval against a fixture
//! root and the real libvirtd (see `support`), woken by udev-format uevents injected on netlink and
//! by libvirt's domain lifecycle events; and, with udev events off, still attaching on the tick.
//!
//! Each test re-runs itself in a child process under `unshare -n` (a private network namespace,
//! see `fixtures::netns`), so the uevents it injects reach no other monitor on the machine;
//! libvirtd is still reached over its unix socket, which no network namespace hides. This needs
//! root and util-linux's `unshare`; without them the tests fail, unless
//! `HOTPLUGD_SKIP_NETNS_TESTS=1` is set. The tests run one at a time, so that no other test's
//! guest wakes a daemon with a domain event while a latency is measured.
//!
//! The tests prove the event path, not a speed: with a 60 s interval, a device attached or
//! detached within the wait's bound (`GENEROUS`, 10 s) was handled on the event, since no tick
//! comes in that time. The latencies are printed (`--nocapture` shows them); what they are on
//! this kind of machine is in docs/benchmarks.md, and the benchmark `latency` measures the event
//! path's own figure.

mod support;

use std::time::Instant;

use fixtures::FixtureTree;
use support::events::{
    in_private_netns, kernel_uevent, start_daemon, uevent, wait_for_owned, webcam, webcam_config,
    webcam_spec,
};
use support::{spec, Guest, GuestKind, GENEROUS};
use usb_discovery::UeventSender;

#[test]
fn a_udev_add_attaches_and_a_udev_remove_detaches_without_waiting_for_the_tick() {
    in_private_netns(
        "a_udev_add_attaches_and_a_udev_remove_detaches_without_waiting_for_the_tick",
        |libvirt| {
            let guest = Guest::create(libvirt, "udev", GuestKind::Running);
            let tree = FixtureTree::new().expect("fixture tree");
            // Plugged before the start: its attach says that the first reconcile is over, so
            // that what follows is the events' doing (the next tick is 60 s away).
            tree.add(&webcam("60-1", 2)).expect("device added");
            let daemon = start_daemon(&tree, libvirt, &webcam_config(guest.name(), "60s"), true);
            wait_for_owned(
                &guest,
                &daemon,
                &[webcam_spec(60, 2)],
                "plugged before the start",
            );
            assert!(
                daemon.log_line(&["no udev events"]).is_none(),
                "the monitor did not open:\n{}",
                daemon.log()
            );
            let sender = UeventSender::open().expect("open the uevent sender");

            // Five replugs into one port, each with the next device number.
            for number in 5..10 {
                let device = webcam("60-2", number);
                tree.add(&device).expect("device added");
                sender
                    .send(&uevent("add", &device, 60, number))
                    .expect("send the add event");
                let attached = wait_for_owned(
                    &guest,
                    &daemon,
                    &[webcam_spec(60, 2), webcam_spec(60, number)],
                    "after the add event",
                );
                println!("latency udev add -> in the live XML: {attached:?}");

                tree.remove(&device).expect("device removed");
                sender
                    .send(&uevent("remove", &device, 60, number))
                    .expect("send the remove event");
                let detached = wait_for_owned(
                    &guest,
                    &daemon,
                    &[webcam_spec(60, 2)],
                    "after the remove event",
                );
                println!("latency udev remove -> gone from the live XML: {detached:?}");
            }
            for action in ["add", "remove"] {
                assert!(
                    daemon.log_line(&["udev: ", action, " 60-2"]).is_some(),
                    "the daemon did not log the {action} event:\n{}",
                    daemon.log()
                );
            }
        },
    );
}

#[test]
fn a_guest_started_after_the_device_was_plugged_gets_it_without_waiting_for_the_tick() {
    in_private_netns(
        "a_guest_started_after_the_device_was_plugged_gets_it_without_waiting_for_the_tick",
        |libvirt| {
            let guest = Guest::create(libvirt, "start", GuestKind::ShutOff);
            let tree = FixtureTree::new().expect("fixture tree");
            tree.add(&webcam("61-1", 5)).expect("device added");
            let daemon = start_daemon(&tree, libvirt, &webcam_config(guest.name(), "60s"), true);
            assert!(!guest.is_running(), "{} runs already", guest.name());

            let asked = Instant::now();
            guest.start();
            let running = asked.elapsed();
            let attached =
                wait_for_owned(&guest, &daemon, &[webcam_spec(61, 5)], "after virsh start");
            println!(
                "latency virsh start returned -> in the live XML: {attached:?} \
                 (virsh start itself took {running:?})"
            );
            assert!(
                daemon
                    .log_line(&["libvirt: Lifecycle", guest.name(), "Started"])
                    .is_some(),
                "the daemon did not log the start event:\n{}",
                daemon.log()
            );
        },
    );
}

#[test]
fn without_udev_events_the_daemon_attaches_on_the_tick() {
    in_private_netns(
        "without_udev_events_the_daemon_attaches_on_the_tick",
        |libvirt| {
            let guest = Guest::create(libvirt, "tick", GuestKind::Running);
            let tree = FixtureTree::new().expect("fixture tree");
            let daemon = start_daemon(&tree, libvirt, &webcam_config(guest.name(), "300ms"), false);
            assert!(
                daemon
                    .log_line(&["WARN", "udev events are off", "resync tick only"])
                    .is_some(),
                "{}",
                daemon.log()
            );
            let device = webcam("62-1", 5);
            tree.add(&device).expect("device added");
            // The event is sent all the same: nobody listens.
            UeventSender::open()
                .expect("open the uevent sender")
                .send(&uevent("add", &device, 62, 5))
                .expect("send the add event");
            let attached = wait_for_owned(&guest, &daemon, &[webcam_spec(62, 5)], "on the tick");
            println!("latency plugged -> in the live XML on a 300ms tick: {attached:?}");
            assert!(
                daemon.log_line(&["udev: add"]).is_none(),
                "a udev event reached a daemon that should not listen:\n{}",
                daemon.log()
            );
        },
    );
}

#[test]
fn a_mounted_disk_is_not_attached_until_it_is_unmounted_and_udev_says_so() {
    in_private_netns(
        "a_mounted_disk_is_not_attached_until_it_is_unmounted_and_udev_says_so",
        |libvirt| {
            let guest = Guest::create(libvirt, "in-use", GuestKind::Running);
            let tree = FixtureTree::new().expect("fixture tree");
            let disk = fixtures::UsbDeviceBuilder::usb_disk("63-1", 4)
                .disk("sdb", (8, 16))
                .partition("sdb1", (8, 17))
                .build();
            tree.add(&disk).expect("disk added");
            let mount = fixtures::Mount {
                dev: (8, 17),
                source: "/dev/sdb1",
                mount_point: "/srv/backup",
                fs_type: "ext4",
            };
            tree.write_mountinfo(&[mount]).expect("mountinfo");
            tree.write_swaps(&[]).expect("swaps");
            // Any mass-storage interface goes to the guest.
            let config = format!(
                "interval: 60s\nmachines:\n  {}:\n    devices:\n    - interface-class: 0x08\n",
                guest.name()
            );
            let daemon = start_daemon(&tree, libvirt, &config, true);
            assert!(
                daemon.wait_for_line(&["reconciled: "], GENEROUS).is_some(),
                "{}",
                daemon.log()
            );
            assert_eq!(guest.owned(), [], "mounted: not attached");

            // Unmounted; udev reports the change.
            tree.write_mountinfo(&[]).expect("mountinfo");
            let sender = UeventSender::open().expect("open the uevent sender");
            sender
                .send(&uevent("change", &disk, 63, 4))
                .expect("send the change event");
            let disk_spec = spec(63, 4, 0x0781, 0x5581);
            let attached = wait_for_owned(&guest, &daemon, &[disk_spec], "after unmounting");
            println!("latency udev change after unmount -> in the live XML: {attached:?}");
        },
    );
}

#[test]
fn the_kernel_s_event_decides_when_no_rule_needs_udev_and_waits_for_udev_otherwise() {
    in_private_netns(
        "the_kernel_s_event_decides_when_no_rule_needs_udev_and_waits_for_udev_otherwise",
        |libvirt| {
            let guest = Guest::create(libvirt, "kernel", GuestKind::Running);
            let sender = UeventSender::open().expect("open the uevent sender");

            // Ids only: the kernel's add alone attaches it.
            let tree = FixtureTree::new().expect("fixture tree");
            let daemon = start_daemon(&tree, libvirt, &webcam_config(guest.name(), "60s"), true);
            let device = webcam("64-1", 5);
            tree.add(&device).expect("device added");
            sender
                .send(&kernel_uevent("add", &device, 64, 5))
                .expect("send the kernel's add");
            let attached = wait_for_owned(
                &guest,
                &daemon,
                &[webcam_spec(64, 5)],
                "on the kernel's add",
            );
            println!("latency kernel add -> in the live XML: {attached:?}");
            assert!(
                daemon.log_line(&["kernel: add 64-1"]).is_some(),
                "{}",
                daemon.log()
            );
            drop(daemon);

            // A rule on a udev property: the kernel's add is not enough, udev's event decides.
            let tree = FixtureTree::new().expect("fixture tree");
            let config = format!(
                "interval: 60s\nmachines:\n  {}:\n    devices:\n    - udev:\n        env:\n        \
                 - name: ID_VENDOR_ID\n          equals: '046d'\n",
                guest.name()
            );
            let daemon = start_daemon(&tree, libvirt, &config, true);
            wait_for_owned(
                &guest,
                &daemon,
                &[],
                "the first device's hostdev gone with its tree",
            );
            let device = webcam("64-2", 6);
            tree.add(&device).expect("device added");
            sender
                .send(&kernel_uevent("add", &device, 64, 6))
                .expect("send the kernel's add");
            // Another device's udev event makes the daemon reconcile (incrementally) meanwhile.
            let other = fixtures::UsbDeviceBuilder::new("64-3", 7)
                .ids(0x1234, 1)
                .build();
            tree.add(&other).expect("other device added");
            sender
                .send(&uevent("add", &other, 64, 7))
                .expect("send the other's add");
            assert!(
                daemon.wait_for_line(&["udev add 64-3"], GENEROUS).is_some(),
                "{}",
                daemon.log()
            );
            assert_eq!(guest.owned(), [], "not decided on the kernel's event");
            sender
                .send(&uevent("add", &device, 64, 6))
                .expect("send udev's add");
            wait_for_owned(&guest, &daemon, &[webcam_spec(64, 6)], "on udev's add");
        },
    );
}
