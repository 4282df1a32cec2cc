//! The reconciler over a real fixture tree and the in-memory hypervisor: idempotence, backoff of
//! failed actions, connection problems, machines dropped by a reload.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use fixtures::{FixtureTree, UsbDeviceBuilder};
use hotplugd::config::{merge, parse_main_file, Config};
use hotplugd::reconcile::Reconciler;
use libvirt_sync::{
    Action, DomainState, Error, Fault, FaultMode, HostdevSpec, Hypervisor, MockCall, MockCallKind,
    MockHypervisor,
};
use usb_discovery::SysfsDiscovery;

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

impl Hypervisor for SharedMock {
    fn domains(&mut self, names: &[String]) -> Result<Vec<DomainState>, Error> {
        self.lock().domains(names)
    }
    fn attach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error> {
        self.lock().attach(domain, spec)
    }
    fn detach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error> {
        self.lock().detach(domain, spec)
    }
    fn unreadable_domains(&self) -> Vec<Error> {
        self.lock().unreadable_domains()
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
        Box::new(move |_uri| Ok(Box::new(mock.clone()) as Box<dyn Hypervisor>)),
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

    let first = reconciler
        .reconcile(&config, None, Instant::now(), false)
        .expect("reconciles");
    assert!(first.is_success());
    assert_eq!(mock.owned_on("vm"), [spec(5)]);

    let second = reconciler
        .reconcile(&config, None, Instant::now(), false)
        .expect("reconciles");
    assert!(
        second.plan.actions.is_empty(),
        "idempotent: {:?}",
        second.plan.actions
    );
    assert_eq!(mock.calls_of(MockCallKind::Attach), 1);

    tree.remove(&webcam(5)).expect("unplugged");
    tree.add(&webcam(9)).expect("plugged in again");
    let replug = reconciler
        .reconcile(&config, None, Instant::now(), false)
        .expect("reconciles");
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
fn a_failing_attach_waits_for_its_retry_time_and_then_succeeds() {
    let (_tree, mock, mut reconciler) = host_with_webcam(
        MockHypervisor::new()
            .with_domain("vm", true)
            .with_fault(Fault::new(MockCallKind::Attach, FaultMode::Once)),
    );
    let config = config(WEBCAM_ON_VM);
    let start = Instant::now();

    let failed = reconciler
        .reconcile(&config, None, start, false)
        .expect("reconciles");
    assert!(!failed.is_success());
    assert_eq!(failed.report.failures().count(), 1);
    let retry_at = reconciler.next_retry().expect("a retry is due later");
    assert!(retry_at > start && retry_at <= start + config.interval);

    // A trigger before the retry time plans the attach again but does not try it.
    let early = reconciler
        .reconcile(&config, None, start, false)
        .expect("reconciles");
    assert_eq!(early.deferred.len(), 1);
    assert_eq!(mock.calls_of(MockCallKind::Attach), 1);

    let retried = reconciler
        .reconcile(&config, None, retry_at, false)
        .expect("reconciles");
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
                    message: "libvirtd is not running".into(),
                });
            }
            Ok(Box::new(connector_mock.clone()) as Box<dyn Hypervisor>)
        }),
    );
    let config = config(WEBCAM_ON_VM);
    let error = reconciler
        .reconcile(&config, Some("qemu:///system"), Instant::now(), false)
        .expect_err("no libvirt yet");
    assert!(
        error.to_string().contains("libvirtd is not running"),
        "{error}"
    );
    assert!(mock.owned_on("vm").is_empty());

    let outcome = reconciler
        .reconcile(&config, Some("qemu:///system"), Instant::now(), false)
        .expect("connected now");
    assert!(outcome.is_success());
    assert_eq!(mock.owned_on("vm"), [spec(5)]);
    assert_eq!(
        *attempts.lock().expect("not poisoned"),
        2,
        "one connection kept after that"
    );
    reconciler
        .reconcile(&config, Some("qemu:///system"), Instant::now(), false)
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
    reconciler
        .reconcile(&config(WEBCAM_ON_VM), None, Instant::now(), false)
        .expect("attached");
    assert_eq!(mock.owned_on("vm"), [spec(5)]);

    let without_machines = config("interval: 5s\n");
    let outcome = reconciler
        .reconcile(&without_machines, None, Instant::now(), false)
        .expect("reconciles");
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
fn with_no_machines_configured_nothing_is_scanned_or_asked() {
    let mock = SharedMock::new(MockHypervisor::new());
    let mut reconciler = Reconciler::new(
        Box::new(SysfsDiscovery::new(Path::new("/nonexistent-root"))),
        {
            let mock = mock.clone();
            Box::new(move |_| Ok(Box::new(mock.clone()) as Box<dyn Hypervisor>))
        },
    );
    let outcome = reconciler
        .reconcile(&config("{}"), None, Instant::now(), false)
        .expect("no scan of the missing root, no libvirt call");
    assert!(outcome.plan.actions.is_empty() && outcome.observed.devices.is_empty());
    assert!(mock.lock().calls().is_empty());
}

#[test]
fn a_dry_run_plans_but_changes_nothing() {
    let (_tree, mock, mut reconciler) =
        host_with_webcam(MockHypervisor::new().with_domain("vm", true));
    let outcome = reconciler
        .reconcile(&config(WEBCAM_ON_VM), None, Instant::now(), true)
        .expect("plans");
    assert_eq!(outcome.plan.actions.len(), 1);
    assert!(mock.owned_on("vm").is_empty());
    assert!(mock
        .lock()
        .calls()
        .iter()
        .all(|call| matches!(call, MockCall::Domains { .. })));
}

#[test]
fn while_a_device_cannot_be_read_owned_hostdevs_of_absent_devices_stay() {
    let (tree, mock, mut reconciler) =
        host_with_webcam(MockHypervisor::new().with_domain("vm", true));
    let config = config(WEBCAM_ON_VM);
    reconciler
        .reconcile(&config, None, Instant::now(), false)
        .expect("attached");
    assert_eq!(mock.owned_on("vm"), [spec(5)]);

    // The webcam's idVendor turns unreadable: it is not in the scan, but it is not unplugged.
    let dir = tree.device_dir(&webcam(5).devpath);
    std::fs::write(dir.join("idVendor"), "zz\n").expect("corrupted");
    let outcome = reconciler
        .reconcile(&config, None, Instant::now(), false)
        .expect("reconciles");
    assert_eq!(outcome.observed.unreadable.len(), 1);
    assert_eq!(outcome.observed.unreadable[0].kernel_name, "3-6");
    assert!(
        outcome.plan.actions.is_empty(),
        "{:?}",
        outcome.plan.actions
    );
    assert_eq!(
        outcome.held_back,
        [Action::Detach {
            machine: "vm".into(),
            hostdev: spec(5)
        }]
    );
    assert_eq!(mock.owned_on("vm"), [spec(5)], "still attached");

    // Readable again and then unplugged: now it goes.
    tree.remove(&webcam(5)).expect("unplugged");
    let outcome = reconciler
        .reconcile(&config, None, Instant::now(), false)
        .expect("reconciles");
    assert!(outcome.held_back.is_empty());
    assert!(mock.owned_on("vm").is_empty());
}

#[test]
fn observing_without_machines_still_lists_the_devices() {
    let (_tree, mock, mut reconciler) = host_with_webcam(MockHypervisor::new());
    let observed = reconciler.observe(&config("{}"), None).expect("observes");
    assert_eq!(observed.devices.len(), 1, "explain shows the devices");
    assert!(mock.lock().calls().is_empty(), "libvirt is not asked");
}

#[test]
fn a_domain_that_cannot_be_read_keeps_the_devices_it_matches_from_going_elsewhere() {
    let (_tree, mock, mut reconciler) = host_with_webcam(
        MockHypervisor::new()
            .with_domain("first", true)
            .with_domain("second", true)
            .with_fault(Fault::new(MockCallKind::Domains, FaultMode::Always).on("first")),
    );
    let config = config(
        "machines:\n  first:\n    devices:\n    - vendor-id: 0x046d\n  second:\n    devices:\n    - vendor-id: 0x046d\n",
    );
    let outcome = reconciler
        .reconcile(&config, None, Instant::now(), false)
        .expect("reconciles");
    assert_eq!(outcome.observed.unreadable_domains, ["first"]);
    assert!(
        outcome.plan.actions.is_empty(),
        "{:?}",
        outcome.plan.actions
    );
    assert_eq!(
        outcome.held_back,
        [Action::Attach {
            machine: "second".into(),
            hostdev: spec(5)
        }],
        "the webcam may be on first: not attached to second"
    );
    assert!(mock.owned_on("second").is_empty());

    mock.lock().clear_faults();
    reconciler
        .reconcile(&config, None, Instant::now(), false)
        .expect("reconciles");
    assert_eq!(
        mock.owned_on("first"),
        [spec(5)],
        "readable again: config order"
    );
    assert!(mock.owned_on("second").is_empty());
}
