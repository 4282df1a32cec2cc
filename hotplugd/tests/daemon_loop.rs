//! The daemon's loop as a process, without libvirtd: a libvirt test-driver node (which refuses
//! every attach) and a fixture root. What is checked is how often it reconciles: once per tick or
//! trigger, never in a busy loop, even when a reconcile fails while a failed action waits for its
//! retry.

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

    // The test driver refuses the attach: the action waits for its retry.
    daemon.wait_for("cannot attach 003/005");
    daemon.wait_for("waiting for a retry");

    // Now the device list itself cannot be read: every reconcile fails, with the retry time
    // passing meanwhile.
    fs::rename(tree.bus_devices(), tree.root().join("sys/bus/usb/moved")).expect("moved");
    daemon.wait_for("reconcile failed");
    let failed_before = daemon.count("reconcile failed");
    // Two ticks later (bounded by the failures themselves: the third one ends the wait).
    let deadline = Instant::now() + Duration::from_secs(20);
    while daemon.count("reconcile failed") < failed_before + 2 {
        assert!(Instant::now() < deadline, "no tick:\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let failed = daemon.count("reconcile failed") - failed_before;
    assert!(
        failed <= 3,
        "{failed} failed reconciles in about two 1 s ticks: a busy loop\n{}",
        daemon.log()
    );
    assert_eq!(
        daemon.count("cannot list /"),
        1,
        "the failure is logged once"
    );
}
