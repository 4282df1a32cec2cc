//! Memory over many reconciles: the resident set size of this process (`VmRSS`) while a
//! `Reconciler` runs 100,000 full reconciles (scan of a 30-device fixture tree, matching against
//! 10 machines, planning, apply to the in-memory mock), with a device plugged and unplugged every
//! 100 reconciles so that attaches and detaches happen too. Flat means no leak per reconcile.
//!
//! Run: `cargo bench -p hotplugd --bench memory` (optional argument: the number of reconciles).

use std::path::Path;
use std::time::Instant;

use fixtures::{FixtureTree, UsbDeviceBuilder};
use hotplugd::config::{merge, parse_main_file};
use std::time::Duration;

use hotplugd::reconcile::{Mode, Reconciler};
use libvirt_sync::{Cause, Error, HostdevSpec, Hypervisor, HypervisorView, MockHypervisor};
use usb_discovery::SysfsDiscovery;

/// The mock without its record of calls, which would grow by design (a record is what tests want).
struct MockWithoutRecord(MockHypervisor);

impl Hypervisor for MockWithoutRecord {
    fn observe(&mut self, names: &[String]) -> Result<HypervisorView, Error> {
        self.0.clear_calls();
        self.0.observe(names)
    }
    fn attach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error> {
        self.0.attach(domain, spec)
    }
    fn detach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error> {
        self.0.detach(domain, spec)
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|value| value.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let reconciles: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(100_000);
    let mut text = String::from("interval: 5s\nmachines:\n  vm0:\n    devices:\n    - vendor-id: 0x046d\n      udev:\n        env:\n        - name: ID_SERIAL_SHORT\n          pattern: '^PLUG'\n");
    for index in 1..10 {
        text.push_str(&format!(
            "  vm{index}:\n    devices:\n    - vendor-id: 0x{:04x}\n    - port: 4-{index}.*\n",
            0x2000 + index
        ));
    }
    let Ok(main) = parse_main_file(&text, Path::new("bench.yml")) else {
        eprintln!("memory: the bench configuration does not parse");
        return;
    };
    let config = merge(main, Vec::new());
    let Ok(tree) = FixtureTree::new() else {
        eprintln!("memory: cannot create the fixture tree");
        return;
    };
    let mut devices = vec![
        UsbDeviceBuilder::root_hub(1).build(),
        UsbDeviceBuilder::root_hub(2).build(),
    ];
    for port in 1..=27u16 {
        devices.push(
            UsbDeviceBuilder::new(&format!("2-{port}"), port + 1)
                .ids(0x1000 + port, 1)
                .serial(&format!("SN{port:04}"))
                .tag("seat")
                .build(),
        );
    }
    for device in &devices {
        if tree.add(device).is_err() {
            eprintln!("memory: cannot write the fixture tree");
            return;
        }
    }
    let mut mock = MockHypervisor::new();
    for index in 0..10 {
        mock.add_domain(&format!("vm{index}"), true);
    }
    let mut mock = Some(mock);
    let mut reconciler = Reconciler::new(
        Box::new(SysfsDiscovery::new(tree.root())),
        Box::new(move |_| {
            mock.take()
                .map(|mock| Box::new(MockWithoutRecord(mock)) as Box<dyn Hypervisor>)
                .ok_or_else(|| Error::ConnectionLost {
                    cause: Cause::refused("once"),
                })
        }),
    );
    let start = Instant::now();
    println!("reconciles   VmRSS (KiB)   elapsed");
    let mut plugged = None;
    for round in 0..=reconciles {
        if round % 100 == 0 {
            match plugged.take() {
                Some(device) => {
                    let _ = tree.remove(&device);
                }
                None => {
                    let device = UsbDeviceBuilder::new("1-4", 20 + (round / 100 % 100) as u16)
                        .ids(0x046d, 0x0825)
                        .serial("PLUG1")
                        .build();
                    let _ = tree.add(&device);
                    plugged = Some(device);
                }
            }
        }
        let reconciled = reconciler.reconcile(
            &config,
            None,
            Instant::now(),
            Mode::Apply,
            Duration::from_secs(5),
        );
        if let Err(error) = reconciled {
            eprintln!("memory: reconcile failed: {error}");
            return;
        }
        if round % (reconciles / 10).max(1) == 0 {
            println!("{round:10}   {:11}   {:.1?}", rss_kib(), start.elapsed());
        }
    }
}
