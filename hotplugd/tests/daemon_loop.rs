//! The daemon's loop as a process, without libvirtd: a libvirt test-driver node (which refuses
//! every attach) and a fixture root. What is checked is how often it reconciles: once per tick or
//! trigger, never in a busy loop, even when a reconcile fails while a failed action waits for its
//! retry (`daemon_pacing.rs` checks the same in-process, with the time of every scan).

use std::fs;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fixtures::{FixtureTree, UsbDeviceBuilder};

struct Daemon {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Daemon {
    fn log(&self) -> String {
        let mut text = String::new();
        let _ = fs::File::open(self.log.path()).and_then(|mut f| f.read_to_string(&mut text));
        text
    }

    fn count(&self, needle: &str) -> usize {
        self.log()
            .lines()
            .filter(|line| line.contains(needle))
            .count()
    }

    /// Waits (bounded) until the log has a line containing `needle`.
    fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.count(needle) == 0 {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(root: &std::path::Path, config: &std::path::Path, node: &std::path::Path) -> Daemon {
    let log = tempfile::NamedTempFile::new().expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_libvirt-usb-hotplugd"))
        .env("LIBVIRT_USB_HOTPLUGD_NO_UDEV_EVENTS", "1")
        .env_remove("JOURNAL_STREAM")
        .arg("-v")
        .arg("--root")
        .arg(root)
        .arg("--libvirt-uri")
        .arg(format!("test://{}", node.display()))
        .arg("--state-dir")
        .arg(root.join("state"))
        .arg("--data-dir")
        .arg(root.join("data"))
        .arg(config)
        .stdout(Stdio::null())
        .stderr(log.reopen().expect("log file"))
        .spawn()
        .expect("the daemon starts");
    Daemon { child, log }
}

#[test]
fn a_failing_reconcile_waits_for_the_tick_instead_of_spinning() {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&UsbDeviceBuilder::new("3-6", 5).ids(0x046d, 0x0825).build())
        .expect("webcam");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.yml");
    fs::write(
        &config,
        "interval: 1s\nmachines:\n  vm:\n    devices:\n    - vendor-id: 0x046d\n",
    )
    .expect("config");
    let node = dir.path().join("node.xml");
    fs::write(
        &node,
        "<node><domain type='test'><name>vm</name><memory unit='MiB'>64</memory>\
         <os><type>hvm</type></os></domain></node>",
    )
    .expect("node");
    let daemon = start(tree.root(), &config, &node);

    // The test driver refuses the attach, permanently: it is retried at the interval, 1 s after
    // it failed.
    daemon.wait_for("cannot attach 003/005");

    // Now the device list itself cannot be read: every reconcile fails, with the retry time
    // passing meanwhile.
    fs::rename(tree.bus_devices(), tree.root().join("sys/bus/usb/moved")).expect("moved");
    daemon.wait_for("reconcile failed");
    // Three more failed reconciles: each must have waited for its 1 s tick. The lines' own
    // timestamps tell when they were logged; a loop that retries at once logs them 50 ms apart.
    let deadline = Instant::now() + Duration::from_secs(20);
    while daemon.count("reconcile failed") < 4 {
        assert!(Instant::now() < deadline, "no tick:\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let failed: Vec<u64> = daemon
        .log()
        .lines()
        .filter(|line| line.contains("reconcile failed"))
        .map(|line| millis_of_day(line).unwrap_or_else(|| panic!("no timestamp: {line}")))
        .collect();
    for pair in failed.windows(2) {
        // Across midnight the clock starts again at 0.
        let gap = (pair[1] + DAY_MILLIS - pair[0]) % DAY_MILLIS;
        // The timestamps have whole milliseconds.
        assert!(
            gap + 1 >= 1000,
            "failed reconciles {gap} ms apart with a 1 s interval: a busy loop\n{}",
            daemon.log()
        );
    }
    assert_eq!(
        daemon.count("cannot list /"),
        1,
        "the failure is logged once"
    );
}

const DAY_MILLIS: u64 = 24 * 3600 * 1000;

/// The time of day of a log line, from its UTC timestamp (`2026-05-04T06:01:02.345Z INFO …`), in
/// milliseconds.
fn millis_of_day(line: &str) -> Option<u64> {
    let time = line.split_whitespace().next()?.split_once('T')?.1;
    let time = time.strip_suffix('Z')?;
    let (clock, millis) = time.split_once('.')?;
    let mut parts = clock.split(':').map(|part| part.parse::<u64>().ok());
    let (hours, minutes, seconds) = (parts.next()??, parts.next()??, parts.next()??);
    Some(((hours * 60 + minutes) * 60 + seconds) * 1000 + millis.parse::<u64>().ok()?)
}
