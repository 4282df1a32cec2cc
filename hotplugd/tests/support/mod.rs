//! Shared helpers of the end-to-end tests, which run the built `libvirt-usb-hotplugd` against a
//! fixture root and the real libvirtd started by `scripts/libvirt-env.sh start STATE_DIR`:
//! * [`RealLibvirt::from_env`] (from `fixtures::libvirt`) finds that environment from
//!   `HOTPLUGD_TEST_LIBVIRT_URI` (required; without it the tests fail saying how to start it,
//!   unless `HOTPLUGD_SKIP_LIBVIRT_TESTS=1` opts out);
//! * [`Guest`] is a guest of the test's own, created from `libvirt-sync/tests/data/test-guest.xml.in`
//!   and removed on drop: a daemon detaches every hostdev it owns on its machines whose device is
//!   not in *its* fixture tree, so tests running in parallel must not share a guest;
//! * [`Daemon`] is the binary running as a daemon, its log in a file, killed on drop;
//! * [`wait_until`] is the one bounded poller every test waits with;
//! * [`explain`] holds the helpers of the `explain` scenario tests, which need no libvirtd.
//!
//! The USB devices exist only in the fixture trees: libvirtd runs with an empty
//! `/sys/bus/usb/devices`, where hostdevs with `startupPolicy='optional'` attach all the same.
#![allow(dead_code)] // each test binary uses a part of these helpers

pub mod events;
pub mod explain;
pub mod unprivileged;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

pub use fixtures::libvirt::RealLibvirt;
use fixtures::UsbDeviceBuilder;
use libvirt_sync::{parse_usb_hostdevs, HostdevSpec, ObservedHostdev};

/// The binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_libvirt-usb-hotplugd");
/// The pause between two looks at a condition.
const POLL: Duration = Duration::from_millis(10);
/// The bound on waits for things that take no time unless something is broken (a daemon's
/// start, its exit after a signal, the effect of a reload), generous for a loaded 2-core machine.
pub const GENEROUS: Duration = Duration::from_secs(10);
/// The prefix of every guest these tests create; the creator's PID follows it.
const GUEST_PREFIX: &str = "hotplugd-e2e-";

/// Polls `condition` every 10 ms until it holds or `timeout` passed; how long it took, or `None`.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if condition() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return None;
        }
        thread::sleep(POLL);
    }
}

/// Holds the tests of one binary apart while it is alive, for tests in which a libvirt domain event
/// from another test's guest (every daemon reconciles on any domain's lifecycle event) would make
/// a result pass for the wrong reason or blur a measured latency. A test that failed while holding
/// it does not stop the others.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes the guests of earlier runs whose creator is gone (a test process killed before its
/// guests' drop ran), once per process.
fn remove_orphaned_guests(libvirt: &RealLibvirt) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Ok(names) = libvirt.virsh(&["list", "--all", "--name"], "") else {
            return;
        };
        for name in names.lines().map(str::trim) {
            let Some(pid) = name
                .strip_prefix(GUEST_PREFIX)
                .and_then(|rest| rest.split('-').next())
            else {
                continue;
            };
            if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                let _ = libvirt.virsh(&["destroy", name], "");
                let _ = libvirt.virsh(&["undefine", name], "");
            }
        }
    });
}

/// How a [`Guest`] is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestKind {
    /// Transient and running (`virsh create`).
    Running,
    /// Transient and running, with no USB controller (`<controller type='usb' model='none'/>`):
    /// libvirt refuses every USB hostdev attach to it.
    RunningWithoutUsb,
    /// Persistent and shut off (`virsh define`); [`Guest::start`] starts it.
    ShutOff,
}

/// A guest of one test, named `hotplugd-e2e-<pid>-<n>-<label>`; destroyed (and undefined when
/// persistent) on drop, even when the test fails.
#[derive(Debug)]
pub struct Guest {
    libvirt: RealLibvirt,
    name: String,
    persistent: bool,
}

impl Guest {
    /// Creates a guest from the test guest template, KVM where `/dev/kvm` exists, else TCG.
    pub fn create(libvirt: &RealLibvirt, label: &str, kind: GuestKind) -> Guest {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        remove_orphaned_guests(libvirt);
        let name = format!(
            "{GUEST_PREFIX}{}-{}-{label}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let template_path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../libvirt-sync/tests/data/test-guest.xml.in");
        let template = fs::read_to_string(&template_path)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", template_path.display()));
        let domain_type = if Path::new("/dev/kvm").exists() {
            "kvm"
        } else {
            "qemu"
        };
        let mut xml = template
            .replace("@NAME@", &name)
            .replace("@TYPE@", domain_type);
        if kind == GuestKind::RunningWithoutUsb {
            let controller = "<controller type='usb' model='qemu-xhci' ports='15'/>";
            assert!(xml.contains(controller), "the template changed: {template}");
            xml = xml.replace(controller, "<controller type='usb' model='none'/>");
        }
        let persistent = kind == GuestKind::ShutOff;
        let verb = if persistent { "define" } else { "create" };
        // From here on, drop removes the guest, also when creating it half failed.
        let guest = Guest {
            libvirt: libvirt.clone(),
            name,
            persistent,
        };
        libvirt
            .virsh(&[verb, "/dev/stdin"], &xml)
            .unwrap_or_else(|error| panic!("virsh {verb} {}: {error}", guest.name));
        guest
    }

    /// The domain name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `virsh start` (for a [`GuestKind::ShutOff`] guest).
    pub fn start(&self) {
        self.libvirt
            .virsh(&["start", &self.name], "")
            .unwrap_or_else(|error| panic!("virsh start {}: {error}", self.name));
    }

    /// Whether libvirt says the guest is running.
    pub fn is_running(&self) -> bool {
        self.libvirt
            .virsh(&["domstate", &self.name], "")
            .is_ok_and(|state| state.trim() == "running")
    }

    /// `virsh dumpxml`: the live XML of a running guest.
    pub fn live_xml(&self) -> String {
        self.libvirt
            .virsh(&["dumpxml", &self.name], "")
            .unwrap_or_else(|error| panic!("virsh dumpxml {}: {error}", self.name))
    }

    /// The USB hostdevs of the live XML, in document order.
    pub fn hostdevs(&self) -> Vec<ObservedHostdev> {
        let xml = self.live_xml();
        parse_usb_hostdevs(&self.name, &xml).unwrap_or_else(|error| {
            panic!(
                "the live XML of {} does not parse: {error}\n{xml}",
                self.name
            )
        })
    }

    /// The devices of the hostdevs the daemon owns (alias `ua-hotplugd-…`), in document order.
    pub fn owned(&self) -> Vec<HostdevSpec> {
        self.hostdevs()
            .iter()
            .filter_map(ObservedHostdev::owned_spec)
            .collect()
    }

    /// The hostdevs the daemon does not own, in document order.
    pub fn not_owned(&self) -> Vec<ObservedHostdev> {
        self.hostdevs()
            .into_iter()
            .filter(|hostdev| !hostdev.is_owned())
            .collect()
    }

    /// `virsh attach-device --live` of a hand-written hostdev, as a user adds a static one.
    pub fn attach_by_hand(&self, hostdev_xml: &str) {
        self.libvirt
            .virsh(
                &["attach-device", &self.name, "/dev/stdin", "--live"],
                hostdev_xml,
            )
            .unwrap_or_else(|error| panic!("virsh attach-device {hostdev_xml}: {error}"));
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let destroyed = self.libvirt.virsh(&["destroy", &self.name], "");
        if self.persistent {
            let undefined = self.libvirt.virsh(&["undefine", &self.name], "");
            if let Err(error) = undefined {
                eprintln!("cannot undefine the test guest {}: {error}", self.name);
            }
        } else if let Err(error) = destroyed {
            eprintln!("cannot destroy the test guest {}: {error}", self.name);
        }
    }
}

/// The identity of a device as the daemon attaches it.
pub fn spec(bus: u16, device: u16, vendor_id: u16, product_id: u16) -> HostdevSpec {
    HostdevSpec {
        bus,
        device,
        vendor_id,
        product_id,
    }
}

/// Writes `text` to `path`, creating its folder.
pub fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("the folder is created");
    }
    fs::write(path, text)
        .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
}

/// The binary with global options `--root ROOT --libvirt-uri URI`, a state and a data directory of
/// the root's own (`ROOT/state`, `ROOT/data`: daemons of parallel tests never share a lock, holds
/// or a record), and no debug logging or journal mode from the environment.
pub fn binary(root: &Path, libvirt: &RealLibvirt) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env_remove("WHAWTY_LIBVIRT_USB_HOTPLUGD_DEBUG")
        .env_remove("JOURNAL_STREAM")
        .env_remove("LIBVIRT_USB_HOTPLUGD_NO_UDEV_EVENTS")
        .env_remove("NOTIFY_SOCKET")
        .arg("--root")
        .arg(root)
        .arg("--libvirt-uri")
        .arg(&libvirt.uri)
        .args(private_directories(root));
    command
}

/// `--state-dir ROOT/state --data-dir ROOT/data`.
pub fn private_directories(root: &Path) -> [std::ffi::OsString; 4] {
    [
        "--state-dir".into(),
        root.join("state").into(),
        "--data-dir".into(),
        root.join("data").into(),
    ]
}

/// `run --once CONFIG`, to the end.
pub fn run_once(root: &Path, libvirt: &RealLibvirt, config: &Path) -> Output {
    binary(root, libvirt)
        .args(["run", "--once"])
        .arg(config)
        .output()
        .expect("the binary runs")
}

/// Text of an output stream.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The binary running as a daemon, its stderr (the log) in a file; killed on drop if it still runs.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    log_path: PathBuf,
}

impl Daemon {
    /// Starts `command` with its stdout and stderr going to `log_path`.
    pub fn spawn(mut command: Command, log_path: &Path) -> Daemon {
        let log = File::create(log_path).expect("the log file is created");
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file is shared"))
            .stderr(log)
            .spawn()
            .expect("the daemon starts");
        Daemon {
            child,
            log_path: log_path.to_owned(),
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Waits (at most `timeout`) until its log holds a line containing every one of `parts`.
    pub fn wait_for_line(&self, parts: &[&str], timeout: Duration) -> Option<Duration> {
        wait_until(timeout, || self.log_line(parts).is_some())
    }

    /// The first line of the log that contains every one of `parts`.
    pub fn log_line(&self, parts: &[&str]) -> Option<String> {
        self.log()
            .lines()
            .find(|line| parts.iter().all(|part| line.contains(part)))
            .map(str::to_owned)
    }

    /// Waits for the `started: …` line, which comes after its event sources were started.
    pub fn wait_started(&self) {
        assert!(
            self.wait_for_line(&["started: "], GENEROUS).is_some(),
            "the daemon did not say it started within {GENEROUS:?}:\n{}",
            self.log()
        );
    }

    /// Sends a signal (`HUP`, `TERM`, `INT`) with `kill`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(
            status.success(),
            "kill -{signal} {} failed",
            self.child.id()
        );
    }

    /// Waits (at most `timeout`) for it to exit; its status, or `None` if it still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(timeout, || {
            status = self.child.try_wait().expect("waitpid works");
            status.is_some()
        });
        status
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A Logitech C270 webcam (046d:0825) at `port` with device number `device`.
pub fn webcam(port: &str, device: u16) -> UsbDeviceBuilder {
    UsbDeviceBuilder::new(port, device)
        .ids(0x046d, 0x0825)
        .manufacturer("Logitech")
        .product("Webcam C270")
}

/// `command` run by `setpriv` without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (in the bounding
/// and inheritable sets, so an execed root process has neither): file modes then hold for it as
/// for any user, so a mode-000 file is unreadable even to root.
pub fn without_file_capabilities(command: &Command) -> Command {
    let mut wrapped = Command::new("setpriv");
    wrapped
        .args([
            "--bounding-set",
            "-dac_override,-dac_read_search",
            "--inh-caps",
            "-dac_override,-dac_read_search",
            "--",
        ])
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    wrapped
}
