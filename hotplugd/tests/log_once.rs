//! The log says each change once, never on every tick: the lines `report::changes` gives for a
//! series of real reconciles (the reconciler over a fixture tree and the mock hypervisor), as the
//! daemon's reporter writes them. Each scenario reconciles many times in the same state and
//! checks that the state was acted on each time, so that a line said once is not a line that
//! had no chance to repeat. (`one_plan.rs` checks a conflict and an unreadable device on the
//! running binary.)

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use fixtures::{FixtureTree, UsbDeviceBuilder};
use hotplugd::config::{merge, parse_main_file, Config};
use hotplugd::reconcile::{Mode, Outcome, Reconciler};
use hotplugd::report::{changes, LogLine};
use libvirt_sync::{Fault, FaultMode, Hypervisor, MockCallKind, MockHypervisor, ObservedHostdev};
use log::Level;
use usb_discovery::SysfsDiscovery;

const INTERVAL: Duration = Duration::from_secs(5);
/// How many reconciles each unchanged state lasts.
const RECONCILES: usize = 10;

const WEBCAM_ON_VM: &str =
    "interval: 5s\nmachines:\n  vm:\n    devices:\n    - vendor-id: 0x046d\n";

fn config(yaml: &str) -> Config {
    merge(
        parse_main_file(yaml, Path::new("/etc/hotplugd/config.yml")).expect("valid config"),
        Vec::new(),
    )
}

/// A host with the webcam 003/005, the mock, and what the daemon's reporter keeps: the previous
/// outcome. Each reconcile is an interval after the one before, so that every failed action is
/// due for its retry.
struct Host {
    _tree: FixtureTree,
    mock: Arc<Mutex<MockHypervisor>>,
    reconciler: Reconciler,
    config: Config,
    previous: Outcome,
    now: Instant,
}

impl Host {
    fn new(mock: MockHypervisor) -> Host {
        let tree = FixtureTree::new().expect("tree");
        tree.add(&UsbDeviceBuilder::new("3-6", 5).ids(0x046d, 0x0825).build())
            .expect("webcam");
        let mock = Arc::new(Mutex::new(mock));
        let shared = Arc::clone(&mock);
        let reconciler = Reconciler::new(
            Box::new(SysfsDiscovery::new(tree.root())),
            Box::new(move |_| Ok(Box::new(Arc::clone(&shared)) as Box<dyn Hypervisor>)),
        );
        Host {
            _tree: tree,
            mock,
            reconciler,
            config: config(WEBCAM_ON_VM),
            previous: Outcome::default(),
            now: Instant::now(),
        }
    }

    fn mock(&self) -> MutexGuard<'_, MockHypervisor> {
        self.mock.lock().expect("not poisoned")
    }

    fn attach_calls(&self) -> usize {
        self.mock()
            .calls()
            .iter()
            .filter(|call| call.kind() == MockCallKind::Attach)
            .count()
    }

    /// One reconcile and the lines the daemon logs for it.
    fn reconcile(&mut self) -> Vec<LogLine> {
        self.now += INTERVAL;
        let outcome = self
            .reconciler
            .reconcile(&self.config, None, self.now, Mode::Apply, INTERVAL)
            .expect("reconciles");
        let lines = changes(&self.previous, &outcome, true);
        self.previous = outcome;
        lines
    }

    /// `count` reconciles and every line they logged.
    fn reconcile_times(&mut self, count: usize) -> Vec<LogLine> {
        (0..count).flat_map(|_| self.reconcile()).collect()
    }
}

/// The texts of `lines` that contain `needle`.
fn saying<'a>(lines: &'a [LogLine], needle: &str) -> Vec<&'a LogLine> {
    lines
        .iter()
        .filter(|line| line.text.contains(needle))
        .collect()
}

#[test]
fn a_failed_attach_is_logged_once_per_error_and_its_success_once() {
    let mut host = Host::new(
        MockHypervisor::new()
            .with_domain("vm", true)
            .with_fault(Fault::new(MockCallKind::Attach, FaultMode::Always)),
    );
    let lines = host.reconcile_times(RECONCILES);
    assert_eq!(host.attach_calls(), RECONCILES, "tried on every reconcile");
    let failed = saying(&lines, "cannot attach 003/005");
    assert_eq!(failed.len(), 1, "said once: {lines:#?}");
    assert_eq!(failed[0].level, Level::Warn);
    assert!(
        failed[0]
            .text
            .ends_with("(retrying when something changes, or at the interval)"),
        "{:?}",
        failed[0].text
    );

    // Another error of the same action: said once more.
    host.mock().clear_faults();
    host.mock()
        .inject(Fault::new(MockCallKind::Attach, FaultMode::DropConnection));
    let lines = host.reconcile();
    let failed = saying(&lines, "cannot attach 003/005");
    assert_eq!(failed.len(), 1, "a new error: {lines:#?}");
    assert!(
        failed[0].text.ends_with("(retrying with backoff)"),
        "{:?}",
        failed[0].text
    );

    // The retry succeeds: one line, then none.
    let lines = host.reconcile_times(RECONCILES);
    assert_eq!(
        lines,
        [LogLine {
            level: Level::Info,
            text: "attached 003/005 (046d:0825) to vm".to_owned(),
        }]
    );
}

#[test]
fn a_device_busy_on_another_vm_is_said_once_and_its_end_once() {
    let held = ObservedHostdev {
        bus: Some(3),
        device: Some(5),
        vendor_id: Some(0x046d),
        product_id: Some(0x0825),
        alias: None,
    };
    // `holder` is running and not configured; a hostdev someone added by hand holds the webcam.
    let mut host = Host::new(
        MockHypervisor::new()
            .with_domain("vm", true)
            .with_domain("holder", true)
            .with_static_hostdev("holder", held),
    );
    let lines = host.reconcile_times(RECONCILES);
    let busy = saying(&lines, "003/005 (046d:0825) is held by a hostdev on holder");
    assert_eq!(busy.len(), 1, "said once: {lines:#?}");
    assert_eq!(busy[0].level, Level::Info);
    assert_eq!(host.attach_calls(), 0, "busy: attached nowhere else");
    assert!(
        host.previous
            .plan
            .decisions
            .iter()
            .all(|decision| matches!(decision.placement, libvirt_sync::Placement::Busy { .. })),
        "still busy on the last reconcile: {:?}",
        host.previous.plan.decisions
    );

    // The holder goes away: the note ends, once, and the webcam goes to vm.
    assert!(host.mock().remove_domain("holder"));
    let lines = host.reconcile_times(RECONCILES);
    let texts: Vec<&str> = lines.iter().map(|line| line.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "003/005 (046d:0825) is no longer in conflict",
            "attached 003/005 (046d:0825) to vm"
        ]
    );
}

#[test]
fn a_domain_that_cannot_be_read_is_warned_about_once_and_its_return_said_once() {
    let mut host = Host::new(
        MockHypervisor::new()
            .with_domain("vm", true)
            .with_fault(Fault::new(MockCallKind::Observe, FaultMode::Always).on("vm")),
    );
    let lines = host.reconcile_times(RECONCILES);
    let observed = host
        .mock()
        .calls()
        .iter()
        .filter(|call| call.kind() == MockCallKind::Observe)
        .count();
    assert_eq!(observed, RECONCILES, "asked on every reconcile");
    assert_eq!(lines.len(), 1, "one warning: {lines:#?}");
    assert_eq!(lines[0].level, Level::Warn);
    assert!(
        lines[0].text.contains("vm") && lines[0].text.contains("it is left out"),
        "{:?}",
        lines[0].text
    );

    host.mock().clear_faults();
    let lines = host.reconcile_times(RECONCILES);
    let texts: Vec<&str> = lines.iter().map(|line| line.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "domain vm can be read again",
            "attached 003/005 (046d:0825) to vm"
        ]
    );
}
