//! Helpers of the tests driven by events: a private network namespace per test (so that injected
//! uevents reach no other monitor), the daemon started with udev events on, the udev messages.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fixtures::netns::in_private_network_namespace;
use fixtures::{DeviceFiles, FixtureTree};
use libvirt_sync::HostdevSpec;
use usb_discovery::{encode_kernel_message, encode_udev_message};

use super::{binary, one_at_a_time, spec, wait_until, write, Daemon, Guest, RealLibvirt, GENEROUS};

/// Runs `body` with the real libvirt environment inside a private network namespace (see
/// `fixtures::netns`): in the child directly, in the parent by re-running the test `name` of this
/// binary under `unshare -n`, one at a time, and passing on the latencies the child printed.
pub fn in_private_netns(name: &str, body: fn(&RealLibvirt)) {
    let Some(libvirt) = RealLibvirt::from_env(name) else {
        return;
    };
    let _one_at_a_time = one_at_a_time();
    let Some(child_stdout) = in_private_network_namespace(name, || body(&libvirt)) else {
        return;
    };
    // The child's libtest prints `test NAME ... ` before the test's own first line.
    for line in child_stdout
        .lines()
        .filter_map(|line| line.find("latency").map(|at| &line[at..]))
    {
        println!("{line}");
    }
}

pub fn webcam(port: &str, device: u16) -> DeviceFiles {
    super::webcam(port, device).build()
}

pub fn webcam_spec(bus: u16, device: u16) -> HostdevSpec {
    spec(bus, device, 0x046d, 0x0825)
}

/// A configuration giving every Logitech C270 to `machine`, with the resync `interval`.
pub fn webcam_config(machine: &str, interval: &str) -> String {
    format!(
        "interval: {interval}\nmachines:\n  {machine}:\n    devices:\n    \
         - vendor-id: 0x046d\n      product-id: 0x0825\n"
    )
}

/// The daemon (debug log on) on `tree` with `config`; returns once it said it started, that is
/// once its udev monitor and domain event source are open.
pub fn start_daemon(
    tree: &FixtureTree,
    libvirt: &RealLibvirt,
    config: &str,
    udev_events: bool,
) -> Daemon {
    let path = tree.root().join("config.yml");
    write(&path, config);
    let mut command = binary(tree.root(), libvirt);
    command.arg("-v").arg(&path);
    if !udev_events {
        command.env("LIBVIRT_USB_HOTPLUGD_NO_UDEV_EVENTS", "1");
    }
    let daemon = Daemon::spawn(command, &tree.root().join("daemon.log"));
    daemon.wait_started();
    daemon
}

/// The udev-format message udevd multicasts for `device` after its rules ran.
pub fn uevent(action: &str, device: &DeviceFiles, bus: u16, number: u16) -> Vec<u8> {
    encode_udev_message(
        uevent_properties(action, device, bus, number)
            .iter()
            .map(pair),
    )
}

/// The kernel-format message the kernel multicasts for `device` before udevd's rules ran (sent by
/// a test to udev's group, where the monitor reads it as the kernel's format).
pub fn kernel_uevent(action: &str, device: &DeviceFiles, bus: u16, number: u16) -> Vec<u8> {
    encode_kernel_message(
        uevent_properties(action, device, bus, number)
            .iter()
            .map(pair),
    )
}

fn pair<'a>((key, value): &'a (&'static str, String)) -> (&'a str, &'a str) {
    (key, value.as_str())
}

fn uevent_properties(
    action: &str,
    device: &DeviceFiles,
    bus: u16,
    number: u16,
) -> [(&'static str, String); 7] {
    static SEQNUM: AtomicU64 = AtomicU64::new(1000);
    let seqnum = SEQNUM.fetch_add(1, Ordering::SeqCst).to_string();
    [
        ("ACTION", action.to_owned()),
        ("DEVPATH", device.devpath.clone()),
        ("SUBSYSTEM", "usb".to_owned()),
        ("DEVTYPE", "usb_device".to_owned()),
        ("SEQNUM", seqnum),
        ("BUSNUM", format!("{bus:03}")),
        ("DEVNUM", format!("{number:03}")),
    ]
}

/// Waits (generously) until the guest's owned hostdevs are `expected`; how long that took.
pub fn wait_for_owned(
    guest: &Guest,
    daemon: &Daemon,
    expected: &[HostdevSpec],
    what: &str,
) -> Duration {
    wait_until(GENEROUS, || guest.owned() == expected).unwrap_or_else(|| {
        panic!(
            "{what}: the owned hostdevs are {:?}, not {expected:?}, after {GENEROUS:?}:\n{}",
            guest.owned(),
            daemon.log()
        )
    })
}
