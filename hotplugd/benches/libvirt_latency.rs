//! A udev event to the device in the guest, against the real libvirtd (issue 16): the time from a
//! udev `add` message sent on netlink to libvirt's device-added event for the guest, through the
//! daemon's own pieces (the monitor thread, the trigger channel, `gather`, the incremental
//! reconcile, the bounded libvirt hypervisor), beside a bare attach of the same hostdev through the
//! same hypervisor (call to device-added). Their ratio is the daemon's cost over libvirt's own.
//!
//! Run as root, with the environment of `scripts/libvirt-env.sh start`:
//! `cargo bench -p hotplugd --bench libvirt_latency` (optional: the number of rounds, default 50).
//! It re-executes itself in a private network namespace (`unshare -n`), so the injected events
//! reach nothing else; it uses the running guest `hotplugd-test` (`HOTPLUGD_TEST_DOMAIN`) with
//! devices on host bus 90, which no test uses.

use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use fixtures::libvirt::RealLibvirt;
use fixtures::{FixtureTree, UsbDeviceBuilder};
use hotplugd::config::{merge, parse_main_file};
use hotplugd::daemon::{gather, Trigger};
use hotplugd::options::libvirt_connector;
use hotplugd::reconcile::{Mode, Reconciler};
use libvirt_sync::{DomainEvent, DomainEventSource, HostdevSpec, Hypervisor};
use usb_discovery::{encode_udev_message, Received, SysfsDiscovery, UeventMonitor, UeventSender};

const BUS: u16 = 90;
const BOUND: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(50);
    if !fixtures::netns::is_child() {
        let status = fixtures::netns::reexecute_command()
            .and_then(|mut command| command.arg(rounds.to_string()).status());
        return match status {
            Ok(status) if status.success() => ExitCode::SUCCESS,
            _ => {
                eprintln!(
                    "libvirt_latency: failed; it needs root and scripts/libvirt-env.sh start"
                );
                ExitCode::FAILURE
            }
        };
    }
    match run(rounds) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("libvirt_latency: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Waits for `wanted` on `events`, skipping others; when it came.
fn wait_for(events: &Receiver<DomainEvent>, wanted: &DomainEvent) -> Result<Instant, String> {
    let deadline = Instant::now() + BOUND;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) if &event == wanted => return Ok(Instant::now()),
            Ok(_) => {}
            Err(_) => return Err(format!("no {wanted:?} within {BOUND:?}")),
        }
    }
}

fn device_event(added: bool, domain: &str, spec: &HostdevSpec) -> DomainEvent {
    let (domain, alias) = (domain.to_owned(), spec.alias());
    if added {
        DomainEvent::DeviceAdded { domain, alias }
    } else {
        DomainEvent::DeviceRemoved { domain, alias }
    }
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn run(rounds: usize) -> Result<(), String> {
    let libvirt = RealLibvirt::from_env("libvirt_latency").ok_or("opted out")?;
    let guest = libvirt.running.clone();
    libvirt_sync::init_event_loop().map_err(|e| e.to_string())?;
    let (event_sender, events) = channel();
    let _source = DomainEventSource::start(Some(&libvirt.uri), move |event| {
        let _ = event_sender.send(event);
    })
    .map_err(|e| e.to_string())?;

    // Bare: the attach call of the same bounded libvirt hypervisor the daemon uses.
    let mut bare = libvirt_connector()(Some(&libvirt.uri)).map_err(|e| e.to_string())?;
    let mut bare_times = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let spec = HostdevSpec {
            bus: BUS,
            device: 1 + (round % 100) as u16,
            vendor_id: 0x046d,
            product_id: 0x0825,
        };
        let asked = Instant::now();
        bare.attach(&guest, &spec).map_err(|e| e.to_string())?;
        let added = wait_for(&events, &device_event(true, &guest, &spec))?;
        bare_times.push(added - asked);
        bare.detach(&guest, &spec).map_err(|e| e.to_string())?;
        wait_for(&events, &device_event(false, &guest, &spec))?;
    }

    // The daemon's path.
    let tree = FixtureTree::new().map_err(|e| e.to_string())?;
    for port in 1..=29u16 {
        let other = UsbDeviceBuilder::new(&format!("{}-{port}", BUS + 1), port + 1)
            .ids(0x2000 + port, 1)
            .build();
        tree.add(&other).map_err(|e| e.to_string())?;
    }
    let text = format!(
        "interval: 60s\nmachines:\n  {guest}:\n    devices:\n    - vendor-id: 0x046d\n      product-id: 0x0825\n"
    );
    let config = merge(
        parse_main_file(&text, Path::new("bench.yml")).map_err(|e| e.to_string())?,
        Vec::new(),
    );
    let mut reconciler = Reconciler::new(
        Box::new(SysfsDiscovery::new(tree.root())),
        libvirt_connector(),
    );
    let uri = libvirt.uri.clone();
    reconciler
        .reconcile(
            &config,
            Some(&uri),
            Instant::now(),
            Mode::Apply,
            config.interval,
        )
        .map_err(|e| e.to_string())?;
    let (trigger_sender, triggers) = channel();
    let _monitor = UeventMonitor::open()
        .and_then(|monitor| {
            monitor.spawn(move |received| {
                if let Ok(Received::Device(event)) = received {
                    let _ = trigger_sender.send(Trigger::Uevent {
                        action: event.action.to_string(),
                        kernel_name: event.kernel_name,
                        from_kernel: false,
                    });
                }
            })
        })
        .map_err(|e| e.to_string())?;
    let _loop = std::thread::spawn(move || loop {
        let gathered = gather(&triggers, Instant::now() + Duration::from_secs(60));
        if gathered.shutdown {
            break;
        }
        let _ = reconciler.reconcile_with(
            &config,
            Some(&uri),
            Instant::now(),
            Mode::Apply,
            config.interval,
            &gathered.refresh,
        );
    });
    let sender = UeventSender::open().map_err(|e| e.to_string())?;
    let mut daemon_times = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let number = 1 + (round % 100) as u16;
        let files = UsbDeviceBuilder::new(&format!("{BUS}-1"), number)
            .ids(0x046d, 0x0825)
            .build();
        let spec = HostdevSpec {
            bus: BUS,
            device: number,
            vendor_id: 0x046d,
            product_id: 0x0825,
        };
        let message = |action: &str| {
            let (busnum, devnum) = (format!("{BUS:03}"), format!("{number:03}"));
            encode_udev_message([
                ("ACTION", action),
                ("DEVPATH", files.devpath.as_str()),
                ("SUBSYSTEM", "usb"),
                ("DEVTYPE", "usb_device"),
                ("SEQNUM", "1"),
                ("BUSNUM", busnum.as_str()),
                ("DEVNUM", devnum.as_str()),
            ])
        };
        tree.add(&files).map_err(|e| e.to_string())?;
        let sent = Instant::now();
        sender.send(&message("add")).map_err(|e| e.to_string())?;
        let added = wait_for(&events, &device_event(true, &guest, &spec))?;
        daemon_times.push(added - sent);
        tree.remove(&files).map_err(|e| e.to_string())?;
        sender.send(&message("remove")).map_err(|e| e.to_string())?;
        wait_for(&events, &device_event(false, &guest, &spec))?;
    }
    let bare = median(&mut bare_times);
    let daemon = median(&mut daemon_times);
    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    println!("udev add -> device-added against the real libvirtd, {rounds} rounds each (medians)");
    println!(
        "bare attach call -> device-added: {:.2} ms (min {:.2}, max {:.2})",
        ms(bare),
        ms(bare_times[0]),
        ms(bare_times[bare_times.len() - 1])
    );
    println!(
        "daemon: udev add -> device-added: {:.2} ms (min {:.2}, max {:.2})",
        ms(daemon),
        ms(daemon_times[0]),
        ms(daemon_times[daemon_times.len() - 1])
    );
    println!("ratio daemon / bare: {:.2}", ms(daemon) / ms(bare));
    Ok(())
}
