//! Helpers of the tests driven by events: a private network namespace per test (so that injected
//! uevents reach no other monitor), the daemon started with udev events on, the udev messages.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fixtures::netns::in_private_network_namespace;
use fixtures::{DeviceFiles, FixtureTree};
use libvirt_sync::HostdevSpec;
use usb_discovery::encode_udev_message;

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
    static SEQNUM: AtomicU64 = AtomicU64::new(1000);
    let seqnum = SEQNUM.fetch_add(1, Ordering::SeqCst).to_string();
    let (busnum, devnum) = (format!("{bus:03}"), format!("{number:03}"));
    encode_udev_message([
        ("ACTION", action),
        ("DEVPATH", device.devpath.as_str()),
        ("SUBSYSTEM", "usb"),
        ("DEVTYPE", "usb_device"),
        ("SEQNUM", seqnum.as_str()),
        ("BUSNUM", busnum.as_str()),
        ("DEVNUM", devnum.as_str()),
    ])
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
