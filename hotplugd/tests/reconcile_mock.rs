//! The reconciler over a real fixture tree and the in-memory hypervisor: idempotence, backoff of
//! failed actions, connection problems, machines dropped by a reload.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use fixtures::{FixtureTree, UsbDeviceBuilder};
use hotplugd::config::{merge, parse_main_file, Config};
use hotplugd::error_chain;
use hotplugd::reconcile::{Mode, Outcome, Reconciler};
use libvirt_sync::{
    Action, Cause, Error, Fault, FaultMode, HeldBack, HoldReason, HostdevSpec, Hypervisor,
    MockCall, MockCallKind, MockHypervisor,
};
use usb_discovery::SysfsDiscovery;

/// The interval of the configurations here.
const INTERVAL: Duration = Duration::from_secs(5);

/// One reconcile that applies its plan.
fn apply_once(reconciler: &mut Reconciler, config: &Config, now: Instant) -> Outcome {
    reconciler
        .reconcile(config, None, now, Mode::Apply, INTERVAL)
        .expect("reconciles")
}

/// The mock, shared between the reconciler (which owns its hypervisor) and the test.
#[derive(Clone)]
struct SharedMock(Arc<Mutex<MockHypervisor>>);

impl SharedMock {
    fn new(mock: MockHypervisor) -> Self {
        SharedMock(Arc::new(Mutex::new(mock)))
    }

    fn lock(&self) -> MutexGuard<'_, MockHypervisor> {
        self.0.lock().expect("not poisoned")
    }

    fn owned_on(&self, domain: &str) -> Vec<HostdevSpec> {
        self.lock()
            .hostdevs(domain)
            .iter()
            .filter_map(|hostdev| hostdev.owned_spec())
            .collect()
    }

    fn calls_of(&self, kind: MockCallKind) -> usize {
        self.lock()
            .calls()
            .iter()
            .filter(|call| call.kind() == kind)
            .count()
    }
}

impl SharedMock {
    /// A hypervisor that uses the shared mock.
    fn hypervisor(&self) -> Box<dyn Hypervisor> {
        Box::new(Arc::clone(&self.0))
    }
}

fn config(yaml: &str) -> Config {
    merge(
        parse_main_file(yaml, Path::new("/etc/hotplugd/config.yml")).expect("valid config"),
        Vec::new(),
    )
}

const WEBCAM_ON_VM: &str =
    "interval: 5s\nmachines:\n  vm:\n    devices:\n    - vendor-id: 0x046d\n";

fn reconciler(tree: &FixtureTree, mock: &SharedMock) -> Reconciler {
    let mock = mock.clone();
    Reconciler::new(
        Box::new(SysfsDiscovery::new(tree.root())),
        Box::new(move |_uri| Ok(mock.hypervisor())),
    )
}

/// A host with the webcam plugged in (003/005), the hypervisor `mock`, and a reconciler of both.
fn host_with_webcam(mock: MockHypervisor) -> (FixtureTree, SharedMock, Reconciler) {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&webcam(5)).expect("webcam");
    let mock = SharedMock::new(mock);
    let reconciler = reconciler(&tree, &mock);
    (tree, mock, reconciler)
}

fn webcam(device: u16) -> fixtures::DeviceFiles {
    UsbDeviceBuilder::new("3-6", device)
        .ids(0x046d, 0x0825)
        .build()
}

fn spec(device: u16) -> HostdevSpec {
    HostdevSpec {
        bus: 3,
        device,
        vendor_id: 0x046d,
        product_id: 0x0825,
    }
}

#[test]
fn a_matching_device_is_attached_once_and_a_replug_replaces_it() {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&UsbDeviceBuilder::root_hub(3).build())
        .expect("hub");
    tree.add(&webcam(5)).expect("webcam");
    let mock = SharedMock::new(MockHypervisor::new().with_domain("vm", true));
    let mut reconciler = reconciler(&tree, &mock);
    let config = config(WEBCAM_ON_VM);

    let first = apply_once(&mut reconciler, &config, Instant::now());
    assert!(first.is_success());
    assert_eq!(mock.owned_on("vm"), [spec(5)]);

    let second = apply_once(&mut reconciler, &config, Instant::now());
    assert!(
        second.plan.actions.is_empty(),
        "idempotent: {:?}",
        second.plan.actions
    );
    assert_eq!(mock.calls_of(MockCallKind::Attach), 1);

    tree.remove(&webcam(5)).expect("unplugged");
    tree.add(&webcam(9)).expect("plugged in again");
    let replug = apply_once(&mut reconciler, &config, Instant::now());
    assert_eq!(
        replug.plan.actions,
        [
            Action::Detach {
                machine: "vm".into(),
                hostdev: spec(5)
            },
            Action::Attach {
                machine: "vm".into(),
                hostdev: spec(9)
            },
        ]
    );
    assert_eq!(mock.owned_on("vm"), [spec(9)]);
}

#[test]
fn a_transiently_failing_attach_waits_for_its_retry_time_and_then_succeeds() {
    // A lost connection is transient: retried on the fast backoff.
    let (_tree, mock, mut reconciler) = host_with_webcam(
        MockHypervisor::new()
            .with_domain("vm", true)
            .with_fault(Fault::new(MockCallKind::Attach, FaultMode::DropConnection)),
    );
    let config = config(WEBCAM_ON_VM);
    let start = Instant::now();

    let failed = apply_once(&mut reconciler, &config, start);
    assert!(!failed.is_success());
    assert_eq!(failed.report.failures().count(), 1);
    let retry_at = reconciler.next_retry().expect("a retry is due later");
    assert!(
        retry_at > start && retry_at < start + INTERVAL / 2,
        "the first retry of a transient failure comes soon: {:?}",
        retry_at - start
    );

    // A trigger before the retry time plans the attach again but does not try it.
    let early = apply_once(&mut reconciler, &config, start);
    assert_eq!(
        early.plan.held_back,
        [HeldBack {
            action: Action::Attach {
                machine: "vm".into(),
                hostdev: spec(5)
            },
            why: HoldReason::Retrying
        }]
    );
    assert!(early.plan.actions.is_empty());
    assert_eq!(mock.calls_of(MockCallKind::Attach), 1);

    let retried = apply_once(&mut reconciler, &config, retry_at);
    assert!(retried.is_success());
    assert_eq!(mock.owned_on("vm"), [spec(5)]);
    assert_eq!(reconciler.next_retry(), None, "success clears the backoff");
}

#[test]
fn an_unreachable_libvirt_is_an_error_and_the_next_reconcile_connects() {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&webcam(5)).expect("webcam");
    let mock = SharedMock::new(MockHypervisor::new().with_domain("vm", true));
    let attempts = Arc::new(Mutex::new(0));
    let connector_mock = mock.clone();
    let counter = Arc::clone(&attempts);
    let mut reconciler = Reconciler::new(
        Box::new(SysfsDiscovery::new(tree.root())),
        Box::new(move |uri| {
            let mut attempts = counter.lock().expect("not poisoned");
            *attempts += 1;
            if *attempts == 1 {
                return Err(Error::Connect {
                    uri: uri.unwrap_or_default().to_owned(),
                    cause: Cause::refused("libvirtd is not running"),
                });
            }
            Ok(connector_mock.hypervisor())
        }),
    );
    let config = config(WEBCAM_ON_VM);
    let error = reconciler
        .reconcile(
            &config,
            Some("qemu:///system"),
            Instant::now(),
            Mode::Apply,
            INTERVAL,
        )
        .expect_err("no libvirt yet");
    assert!(
        error_chain(&error).contains("libvirtd is not running"),
        "{error}"
    );
    assert!(mock.owned_on("vm").is_empty());

    let outcome = reconciler
        .reconcile(
            &config,
            Some("qemu:///system"),
            Instant::now(),
            Mode::Apply,
            INTERVAL,
        )
        .expect("connected now");
    assert!(outcome.is_success());
    assert_eq!(mock.owned_on("vm"), [spec(5)]);
    assert_eq!(
        *attempts.lock().expect("not poisoned"),
        2,
        "one connection kept after that"
    );
    reconciler
        .reconcile(
            &config,
            Some("qemu:///system"),
            Instant::now(),
            Mode::Apply,
            INTERVAL,
        )
        .expect("again");
    assert_eq!(*attempts.lock().expect("not poisoned"), 2);
}

#[test]
fn a_machine_dropped_by_a_reload_loses_the_devices_the_daemon_attached() {
    let (_tree, mock, mut reconciler) = host_with_webcam(
        MockHypervisor::new()
            .with_domain("vm", true)
            .with_static_hostdev(
                "vm",
                libvirt_sync::ObservedHostdev {
                    vendor_id: Some(0x0403),
                    product_id: Some(0x6001),
                    bus: Some(2),
                    device: Some(4),
                    alias: Some("hostdev0".into()),
                },
            ),
    );
    apply_once(&mut reconciler, &config(WEBCAM_ON_VM), Instant::now());
    assert_eq!(mock.owned_on("vm"), [spec(5)]);

    let without_machines = config("interval: 5s\nmachines: {}\n");
    let outcome = apply_once(&mut reconciler, &without_machines, Instant::now());
    assert_eq!(
        outcome.plan.actions,
        [Action::Detach {
            machine: "vm".into(),
            hostdev: spec(5)
        }]
    );
    assert!(mock.owned_on("vm").is_empty());
    assert_eq!(
        mock.lock().hostdevs("vm").len(),
        1,
        "the static hostdev stays"
    );
}

#[test]
fn a_dry_run_plans_but_changes_nothing() {
    let (_tree, mock, mut reconciler) =
        host_with_webcam(MockHypervisor::new().with_domain("vm", true));
    let outcome = reconciler
        .reconcile(
            &config(WEBCAM_ON_VM),
            None,
            Instant::now(),
            Mode::DryRun,
            INTERVAL,
        )
        .expect("plans");
    assert_eq!(outcome.plan.actions.len(), 1);
    assert!(mock.owned_on("vm").is_empty());
    assert!(mock
        .lock()
        .calls()
        .iter()
        .all(|call| matches!(call, MockCall::Observe { .. })));
}

#[test]
fn while_a_device_cannot_be_read_owned_hostdevs_of_absent_devices_stay() {
    let (tree, mock, mut reconciler) =
        host_with_webcam(MockHypervisor::new().with_domain("vm", true));
    let config = config(WEBCAM_ON_VM);
    apply_once(&mut reconciler, &config, Instant::now());
    assert_eq!(mock.owned_on("vm"), [spec(5)]);

    // The webcam's idVendor turns unreadable: it is not in the scan, but it is not unplugged.
    let dir = tree.device_dir(&webcam(5).devpath);
    std::fs::write(dir.join("idVendor"), "zz\n").expect("corrupted");
    let outcome = apply_once(&mut reconciler, &config, Instant::now());
    assert_eq!(outcome.observation.unreadable.len(), 1);
    assert_eq!(outcome.observation.unreadable[0].kernel_name, "3-6");
    assert!(
        outcome.plan.actions.is_empty(),
        "{:?}",
        outcome.plan.actions
    );
    assert_eq!(
        outcome.plan.held_back,
        [HeldBack {
            action: Action::Detach {
                machine: "vm".into(),
                hostdev: spec(5)
            },
            why: HoldReason::UnreadableDevices {
                ports: vec!["3-6".into()]
            }
        }]
    );
    assert_eq!(mock.owned_on("vm"), [spec(5)], "still attached");

    // Readable again and then unplugged: now it goes.
    tree.remove(&webcam(5)).expect("unplugged");
    let outcome = apply_once(&mut reconciler, &config, Instant::now());
    assert!(outcome.plan.held_back.is_empty());
    assert!(mock.owned_on("vm").is_empty());
}

#[test]
fn with_no_machines_configured_the_devices_are_listed_and_libvirt_is_not_asked() {
    let (_tree, mock, mut reconciler) = host_with_webcam(MockHypervisor::new());
    let outcome = apply_once(&mut reconciler, &config("{}"), Instant::now());
    assert_eq!(
        outcome.observation.devices.len(),
        1,
        "explain shows the devices"
    );
    assert!(outcome.plan.actions.is_empty());
    assert!(mock.lock().calls().is_empty(), "libvirt is not asked");
}

#[test]
fn a_domain_that_cannot_be_read_keeps_the_devices_it_matches_from_going_elsewhere() {
    let (_tree, mock, mut reconciler) = host_with_webcam(
        MockHypervisor::new()
            .with_domain("first", true)
            .with_domain("second", true)
            .with_fault(Fault::new(MockCallKind::Observe, FaultMode::Always).on("first")),
    );
    let config = config(
        "machines:\n  first:\n    devices:\n    - vendor-id: 0x046d\n  second:\n    devices:\n    - vendor-id: 0x046d\n",
    );
    let outcome = apply_once(&mut reconciler, &config, Instant::now());
    let unreadable: Vec<&str> = outcome
        .unreadable_machines()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(unreadable, ["first"]);
    assert!(
        outcome.plan.actions.is_empty(),
        "{:?}",
        outcome.plan.actions
    );
    assert_eq!(
        outcome.plan.held_back,
        [HeldBack {
            action: Action::Attach {
                machine: "second".into(),
                hostdev: spec(5)
            },
            why: HoldReason::UnreadableMachine {
                machine: "first".into()
            }
        }],
        "the webcam may be on first: not attached to second"
    );
    assert!(mock.owned_on("second").is_empty());

    mock.lock().clear_faults();
    apply_once(&mut reconciler, &config, Instant::now());
    assert_eq!(
        mock.owned_on("first"),
        [spec(5)],
        "readable again: config order"
    );
    assert!(mock.owned_on("second").is_empty());
}

#[test]
fn a_permanent_failure_is_retried_when_something_changes_not_on_the_fast_backoff() {
    let (_tree, mock, mut reconciler) = host_with_webcam(
        MockHypervisor::new()
            .with_domain("vm", true)
            .with_fault(Fault::new(MockCallKind::Attach, FaultMode::Always)),
    );
    let config = config(WEBCAM_ON_VM);
    let start = Instant::now();
    let failed = apply_once(&mut reconciler, &config, start);
    let failing: Vec<_> = failed.failing.values().collect();
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0].kind, libvirt_sync::ErrorKind::Permanent);
    let retry_at = reconciler.next_retry().expect("retried later");
    assert!(
        retry_at >= start + INTERVAL,
        "not on the fast backoff: {:?}",
        retry_at - start
    );
    // Two seconds later, well past the transient backoff's first retries: still waiting.
    let later = start + Duration::from_secs(2);
    apply_once(&mut reconciler, &config, later);
    assert_eq!(mock.calls_of(MockCallKind::Attach), 1);
    // A udev or domain event: it is tried again at once (and fails again, once more logged as
    // failing with the same message).
    reconciler.something_changed(later);
    let retried = apply_once(&mut reconciler, &config, later);
    assert_eq!(mock.calls_of(MockCallKind::Attach), 2);
    assert_eq!(retried.failing.len(), 1);
}

#[test]
fn a_failed_detach_that_completes_later_is_not_taken_for_a_persons_detach() {
    let (_tree, mock, reconciler) = host_with_webcam(
        MockHypervisor::new()
            .with_domain("vm", true)
            .with_fault(Fault::new(MockCallKind::Detach, FaultMode::Once)),
    );
    let mut reconciler = reconciler.with_holds(Vec::new());
    let wanted = config(WEBCAM_ON_VM);
    let start = Instant::now();
    apply_once(&mut reconciler, &wanted, start);
    assert_eq!(mock.owned_on("vm"), [spec(5)]);

    // The rules no longer match the webcam: its detach fails (libvirt timed out, say) ...
    let unwanted =
        config("interval: 5s\nmachines:\n  vm:\n    devices:\n    - vendor-id: 0x9999\n");
    let failed = apply_once(&mut reconciler, &unwanted, start);
    assert_eq!(failed.failing.len(), 1, "{:?}", failed.plan.actions);
    assert_eq!(mock.owned_on("vm"), [spec(5)]);
    // ... and waits for its retry time, so the next reconcile does not try it again.
    let waiting = apply_once(&mut reconciler, &unwanted, start + Duration::from_millis(1));
    assert!(
        waiting.plan.actions.is_empty(),
        "{:?}",
        waiting.plan.actions
    );
    assert_eq!(mock.calls_of(MockCallKind::Detach), 1);

    // The timed-out detach completes in libvirt after all, and the rules are put back.
    Hypervisor::detach(&mut *mock.lock(), "vm", &spec(5)).expect("the late detach");
    let back = apply_once(&mut reconciler, &wanted, start + Duration::from_millis(2));
    assert!(
        reconciler.holds().is_empty(),
        "the daemon's own detach is not a person's: {:?}",
        reconciler.holds()
    );
    assert_eq!(
        back.plan.actions,
        [Action::Attach {
            machine: "vm".into(),
            hostdev: spec(5)
        }]
    );
    assert_eq!(mock.owned_on("vm"), [spec(5)]);
}
