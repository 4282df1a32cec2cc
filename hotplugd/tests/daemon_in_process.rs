//! The daemon loop in-process: `Daemon::run` fed by a channel of triggers this test sends, over a
//! fixture tree and the mock hypervisor. With a 60 s interval, nothing but a trigger wakes it.

use std::fs;
use std::process::ExitCode;
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use fixtures::FixtureTree;
use hotplugd::config;
use hotplugd::daemon::{Daemon, Trigger};
use hotplugd::options::RunOptions;
use hotplugd::reconcile::Reconciler;
use libvirt_sync::{HostdevSpec, Hypervisor, MockHypervisor};
use usb_discovery::SysfsDiscovery;

mod support;
use support::{wait_until, webcam};

const BOUND: Duration = Duration::from_secs(10);

fn owned_on(mock: &Arc<Mutex<MockHypervisor>>, domain: &str) -> Vec<HostdevSpec> {
    mock.lock()
        .expect("not poisoned")
        .hostdevs(domain)
        .iter()
        .filter_map(|hostdev| hostdev.owned_spec())
        .collect()
}

/// The webcam at device number `device` of bus 3.
fn webcam_spec(device: u16) -> HostdevSpec {
    support::spec(3, device, 0x046d, 0x0825)
}

#[test]
fn the_loop_reconciles_on_each_trigger_reloads_and_stops() {
    let tree = FixtureTree::new().expect("tree");
    tree.add(&webcam("3-6", 5).build()).expect("webcam");
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("config.yml");
    fs::write(
        &config_path,
        "interval: 60s\nmachines:\n  vm:\n    devices:\n    - vendor-id: 0x046d\n",
    )
    .expect("config");
    let mock = Arc::new(Mutex::new(MockHypervisor::new().with_domain("vm", true)));

    let (triggers, received) = channel();
    let loop_thread = {
        let mock = Arc::clone(&mock);
        let root = tree.root().to_owned();
        let config_path = config_path.clone();
        thread::spawn(move || {
            let options = RunOptions {
                config_path: config_path.clone(),
                root: root.clone(),
                libvirt_uri: None,
                dry_run: false,
                state_dir: root.join("state"),
                data_dir: root.join("data"),
            };
            let reconciler = Reconciler::new(
                Box::new(SysfsDiscovery::new(&root)),
                Box::new(move |_| Ok(Box::new(Arc::clone(&mock)) as Box<dyn Hypervisor>)),
            );
            let config = config::load(&config_path).expect("valid");
            let mut reloads = Vec::new();
            let mut daemon = Daemon::new(options, config, reconciler);
            let code = daemon.run(&received, |reloaded| {
                reloads.push((reloaded.uri_changed, reloaded.machines));
            });
            (code, reloads)
        })
    };

    // The first reconcile comes by itself.
    assert!(wait_until(BOUND, || owned_on(&mock, "vm") == [webcam_spec(5)]).is_some());

    // A second webcam: attached on the udev trigger, long before the 60 s tick.
    tree.add(&webcam("3-7", 6).build()).expect("second webcam");
    triggers
        .send(Trigger::Uevent {
            action: "add".into(),
            kernel_name: "3-7".into(),
            from_kernel: false,
        })
        .expect("the loop runs");
    assert!(wait_until(BOUND, || owned_on(&mock, "vm")
        == [webcam_spec(5), webcam_spec(6)])
    .is_some());

    // A reload that drops the machine: what the daemon attached to it is detached.
    fs::write(&config_path, "interval: 60s\nmachines: {}\n").expect("config");
    triggers.send(Trigger::Reload).expect("the loop runs");
    assert!(wait_until(BOUND, || owned_on(&mock, "vm").is_empty()).is_some());

    triggers.send(Trigger::Shutdown).expect("the loop runs");
    let (code, reloads) = loop_thread.join().expect("the loop ends");
    assert_eq!(code, ExitCode::SUCCESS);
    assert_eq!(
        reloads,
        [(false, vec!["vm".to_owned()])],
        "told once, with the dropped machine still observed"
    );
}
