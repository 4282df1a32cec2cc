//! How often the daemon loop reconciles and retries, in-process: `Daemon::run` over a fixture tree
//! and the mock hypervisor, with the time of every device scan and every attach recorded.
//!
//! What is asserted are lower bounds on the gaps between two scans or two attach attempts: the
//! loop decides when it wakes, and a loaded machine can only make it wake later, never sooner. A
//! gap shorter than the bound is a loop that spins (an interval under the 100 ms floor, a retry
//! of a failed action every 50 ms, a reconcile that cannot observe retried at once).

use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use fixtures::FixtureTree;
use hotplugd::config;
use hotplugd::daemon::{Daemon, Trigger};
use hotplugd::options::RunOptions;
use hotplugd::reconcile::Reconciler;
use libvirt_sync::{
    Fault, FaultMode, HostdevSpec, Hypervisor, HypervisorView, MockCallKind, MockHypervisor,
};
use usb_discovery::{Discovery, Scan, SysfsDiscovery};

mod support;
use support::{wait_until, webcam};

const BOUND: Duration = Duration::from_secs(20);
/// The shortest interval the README promises: a shorter one is raised to it. (Not the
/// daemon's own constant, which a bug could change.)
const FLOOR: Duration = Duration::from_millis(100);

/// When things happened, in order.
type Times = Arc<Mutex<Vec<Instant>>>;

fn times(recorded: &Times) -> Vec<Instant> {
    recorded.lock().expect("not poisoned").clone()
}

/// The gaps between consecutive times.
fn gaps(times: &[Instant]) -> Vec<Duration> {
    times.windows(2).map(|pair| pair[1] - pair[0]).collect()
}

/// A discovery that records when each scan began.
struct TimedDiscovery {
    inner: SysfsDiscovery,
    scans: Times,
}

impl Discovery for TimedDiscovery {
    fn scan_all(&self) -> Result<Scan, usb_discovery::Error> {
        self.scans
            .lock()
            .expect("not poisoned")
            .push(Instant::now());
        self.inner.scan_all()
    }
}

/// The shared mock, recording when each attach was asked for.
struct TimedHypervisor {
    mock: Arc<Mutex<MockHypervisor>>,
    attaches: Times,
}

impl Hypervisor for TimedHypervisor {
    fn observe(&mut self, names: &[String]) -> Result<HypervisorView, libvirt_sync::Error> {
        self.mock.observe(names)
    }

    fn attach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), libvirt_sync::Error> {
        self.attaches
            .lock()
            .expect("not poisoned")
            .push(Instant::now());
        self.mock.attach(domain, spec)
    }

    fn detach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), libvirt_sync::Error> {
        self.mock.detach(domain, spec)
    }
}

/// The daemon loop on its own thread, on a tree with one webcam and a configuration giving every
/// Logitech device to the running mock domain `vm`.
struct Loop {
    _tree: FixtureTree,
    mock: Arc<Mutex<MockHypervisor>>,
    scans: Times,
    attaches: Times,
    triggers: Sender<Trigger>,
    thread: Option<JoinHandle<ExitCode>>,
}

impl Loop {
    fn start(interval: &str, mock: MockHypervisor) -> Loop {
        let tree = FixtureTree::new().expect("tree");
        tree.add(&webcam("3-6", 5).build()).expect("webcam");
        let config_path = tree.root().join("config.yml");
        fs::write(
            &config_path,
            format!(
                "interval: {interval}\nmachines:\n  vm:\n    devices:\n    - vendor-id: 0x046d\n"
            ),
        )
        .expect("config");
        let mock = Arc::new(Mutex::new(mock));
        let (scans, attaches) = (Times::default(), Times::default());
        let (triggers, received) = channel();
        let thread = {
            let root = tree.root().to_owned();
            let discovery = TimedDiscovery {
                inner: SysfsDiscovery::new(&root),
                scans: Arc::clone(&scans),
            };
            let (mock, attaches) = (Arc::clone(&mock), Arc::clone(&attaches));
            thread::spawn(move || {
                let reconciler = Reconciler::new(
                    Box::new(discovery),
                    Box::new(move |_| {
                        Ok(Box::new(TimedHypervisor {
                            mock: Arc::clone(&mock),
                            attaches: Arc::clone(&attaches),
                        }) as Box<dyn Hypervisor>)
                    }),
                );
                let config = config::load(&config_path).expect("valid");
                let mut daemon = Daemon::new(options(&root, &config_path), config, reconciler);
                daemon.run(&received, |_| {})
            })
        };
        Loop {
            _tree: tree,
            mock,
            scans,
            attaches,
            triggers,
            thread: Some(thread),
        }
    }

    /// Waits until `recorded` holds `count` times; them.
    fn wait_for(&self, recorded: &Times, count: usize, what: &str) -> Vec<Instant> {
        assert!(
            wait_until(BOUND, || times(recorded).len() >= count).is_some(),
            "fewer than {count} {what} within {BOUND:?}"
        );
        times(recorded)
    }

    fn stop(mut self) -> ExitCode {
        self.triggers
            .send(Trigger::Shutdown)
            .expect("the loop runs");
        self.thread
            .take()
            .expect("not stopped yet")
            .join()
            .expect("the loop ends")
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = self.triggers.send(Trigger::Shutdown);
    }
}

fn options(root: &Path, config_path: &Path) -> RunOptions {
    RunOptions {
        config_path: config_path.to_owned(),
        root: root.to_owned(),
        libvirt_uri: None,
        dry_run: false,
        state_dir: root.join("state"),
        data_dir: root.join("data"),
    }
}

/// A running `vm` whose every attach fails, permanently.
fn refusing_attaches() -> MockHypervisor {
    MockHypervisor::new()
        .with_domain("vm", true)
        .with_fault(Fault::new(MockCallKind::Attach, FaultMode::Always))
}

#[test]
fn an_interval_under_100ms_is_raised_so_that_ticks_come_no_sooner() {
    let daemon = Loop::start("1ms", MockHypervisor::new().with_domain("vm", true));
    let scans = daemon.wait_for(&daemon.scans, 6, "scans");
    for gap in gaps(&scans) {
        assert!(
            gap >= FLOOR,
            "two ticks {gap:?} apart with a 1ms interval: {:?}",
            gaps(&scans)
        );
    }
    assert_eq!(daemon.stop(), ExitCode::SUCCESS);
}

#[test]
fn with_an_interval_under_100ms_a_failed_attach_is_retried_no_sooner_than_100ms() {
    let daemon = Loop::start("10ms", refusing_attaches());
    let attaches = daemon.wait_for(&daemon.attaches, 5, "attach attempts");
    for gap in gaps(&attaches) {
        assert!(
            gap >= FLOOR,
            "a failed attach retried after {gap:?}: {:?}",
            gaps(&attaches)
        );
    }
    assert_eq!(daemon.stop(), ExitCode::SUCCESS);
}

#[test]
fn a_reconcile_that_cannot_observe_waits_for_the_tick_though_a_retry_is_due() {
    let interval = Duration::from_secs(1);
    let daemon = Loop::start("1s", refusing_attaches());
    // The attach failed: it waits for its retry (due at the interval, as it failed permanently).
    daemon.wait_for(&daemon.attaches, 1, "attach attempts");
    // Now libvirt cannot be reached: every reconcile fails before it can apply anything, and the
    // failed attach's retry time passes meanwhile.
    daemon
        .mock
        .lock()
        .expect("not poisoned")
        .set_reachable(false);
    let before = times(&daemon.scans).len();
    let scans = daemon.wait_for(&daemon.scans, before + 4, "scans");
    let failing = &scans[before..];
    for gap in gaps(failing) {
        assert!(
            gap >= interval,
            "reconciles that cannot observe {gap:?} apart with a {interval:?} interval: {:?}",
            gaps(failing)
        );
    }
    assert_eq!(
        times(&daemon.attaches).len(),
        1,
        "nothing was applied while libvirt could not be reached"
    );
    assert_eq!(daemon.stop(), ExitCode::SUCCESS);
}
