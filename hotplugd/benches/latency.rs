//! Plug-to-attach latency: the time from a udev `add` message sent on the netlink socket to the
//! attach call reaching the hypervisor (the in-memory mock), through the daemon's own pieces: the
//! uevent monitor thread, the trigger channel, `gather`, and the reconcile the daemon runs for it:
//! incremental (re-reading the one device, planning against the last observation, apply), or with
//! `--full` a full one (scan of the 30-device fixture tree, matching against 10 machines, planning,
//! apply). The same for unplug to detach.
//!
//! Run as root: `cargo bench -p hotplugd --bench latency` (it re-executes itself inside a private
//! network namespace with `unshare -n`, see `fixtures::netns`, so the injected events reach nothing
//! else). Optional arguments: the number of plug/unplug rounds (default 1000), `--full`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

use fixtures::{FixtureTree, UsbDeviceBuilder};
use hotplugd::config::{merge, parse_main_file};
use hotplugd::daemon::{gather, Trigger};
use hotplugd::reconcile::{Mode, Reconciler, Refresh};
use libvirt_sync::{Cause, Error, HostdevSpec, Hypervisor, HypervisorView, MockHypervisor};
use usb_discovery::{encode_udev_message, Received, SysfsDiscovery, UeventMonitor, UeventSender};

const SERIAL: &str = "PLUG0001";

/// The mock, reporting when each attach or detach call arrives.
struct TimingHypervisor {
    inner: MockHypervisor,
    calls: Sender<(&'static str, Instant)>,
}

impl Hypervisor for TimingHypervisor {
    fn observe(&mut self, names: &[String]) -> Result<HypervisorView, Error> {
        self.inner.observe(names)
    }
    fn attach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error> {
        let _ = self.calls.send(("attach", Instant::now()));
        self.inner.attach(domain, spec)
    }
    fn detach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error> {
        let _ = self.calls.send(("detach", Instant::now()));
        self.inner.detach(domain, spec)
    }
}

fn main() -> ExitCode {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(1000);
    let full = std::env::args().any(|arg| arg == "--full");
    if !fixtures::netns::is_child() {
        let status = fixtures::netns::reexecute_command().and_then(|mut command| {
            command.arg(rounds.to_string());
            if full {
                command.arg("--full");
            }
            command.status()
        });
        return match status {
            Ok(status) if status.success() => ExitCode::SUCCESS,
            Ok(status) => {
                eprintln!("latency: the benchmark failed ({status}); it needs root for unshare -n and netlink");
                ExitCode::FAILURE
            }
            Err(error) => {
                eprintln!("latency: cannot re-run myself under unshare -n: {error}");
                ExitCode::FAILURE
            }
        };
    }
    match run(rounds, full) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("latency: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Ten machines: the first wants the plugged device by serial; the others have rules of every kind
/// that do not match it.
fn config_text() -> String {
    let mut text = format!(
        "interval: 60s\nmachines:\n  vm0:\n    devices:\n    - vendor-id: 0x046d\n      udev:\n        env:\n        - name: ID_SERIAL_SHORT\n          equals: '{SERIAL}'\n"
    );
    for index in 1..10 {
        text.push_str(&format!(
            "  vm{index}:\n    devices:\n    - vendor-id: 0x{:04x}\n      product-id: 0x{:04x}\n    - port: 4-{index}.*\n    - udev:\n        env:\n        - name: ID_SERIAL\n          pattern: 'Model{index}_[0-9]+$'\n        tags: [uaccess]\n",
            0x2000 + index,
            0x3000 + index
        ));
    }
    text
}

fn run(rounds: usize, full: bool) -> Result<(), String> {
    let config = merge(
        parse_main_file(&config_text(), Path::new("bench.yml")).map_err(|e| e.to_string())?,
        Vec::new(),
    );
    let tree = FixtureTree::new().map_err(|e| e.to_string())?;
    // 29 devices present all the time (two root hubs and 27 devices on bus 2), and the one that is
    // plugged and unplugged on bus 1: 30 in the tree while it is plugged.
    for bus in [1, 2] {
        tree.add(&UsbDeviceBuilder::root_hub(bus).build())
            .map_err(|e| e.to_string())?;
    }
    for port in 1..=27u16 {
        let device = UsbDeviceBuilder::new(&format!("2-{port}"), port + 1)
            .ids(0x1000 + port, 0x0001)
            .manufacturer("Vendor")
            .product(&format!("Model {port}"))
            .serial(&format!("SN{port:04}"))
            .property("ID_PATH", &format!("pci-0000:00:14.0-usb-0:{port}"))
            .tag("seat")
            .build();
        tree.add(&device).map_err(|e| e.to_string())?;
    }

    let (calls_sender, calls) = channel();
    let mut mock = MockHypervisor::new();
    for index in 0..10 {
        mock.add_domain(&format!("vm{index}"), true);
    }
    let hypervisor = TimingHypervisor {
        inner: mock,
        calls: calls_sender,
    };
    let mut hypervisor = Some(hypervisor);
    let mut reconciler = Reconciler::new(
        Box::new(SysfsDiscovery::new(tree.root())),
        Box::new(move |_| {
            hypervisor
                .take()
                .map(|h| Box::new(h) as Box<dyn Hypervisor>)
                .ok_or_else(|| Error::ConnectionLost {
                    cause: Cause::refused("opened once only"),
                })
        }),
    );
    // The first reconcile connects, as the daemon's does at start.
    reconciler
        .reconcile(&config, None, Instant::now(), Mode::Apply, config.interval)
        .map_err(|e| e.to_string())?;

    let (trigger_sender, triggers) = channel();
    let monitor = UeventMonitor::open().map_err(|e| format!("monitor: {e}"))?;
    let _thread = monitor
        .spawn(move |received| {
            let trigger = match received {
                Ok(Received::Device(event)) => Trigger::Uevent {
                    action: event.action.to_string(),
                    kernel_name: event.kernel_name,
                    from_kernel: false,
                },
                Ok(Received::Overflow) => Trigger::UeventsLost,
                _ => return,
            };
            let _ = trigger_sender.send(trigger);
        })
        .map_err(|e| e.to_string())?;
    let sender = UeventSender::open().map_err(|e| format!("sender: {e}"))?;

    let (done_sender, done) = channel::<()>();
    let loop_thread = std::thread::spawn(move || loop {
        let gathered = gather(&triggers, Instant::now() + Duration::from_secs(60));
        if gathered.shutdown {
            break;
        }
        let refresh = if full {
            Refresh::Full
        } else {
            gathered.refresh
        };
        let _ = reconciler.reconcile_with(
            &config,
            None,
            Instant::now(),
            Mode::Apply,
            config.interval,
            &refresh,
        );
        let _ = done_sender.send(());
    });

    let mut attach = Vec::with_capacity(rounds);
    let mut detach = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let devnum = 20 + (round % 100) as u16;
        let files = UsbDeviceBuilder::new("1-4", devnum)
            .ids(0x046d, 0x0825)
            .manufacturer("Logitech")
            .product("Webcam C270")
            .serial(SERIAL)
            .tag("uaccess")
            .build();
        tree.add(&files).map_err(|e| e.to_string())?;
        attach.push(inject(
            &sender,
            &calls,
            &done,
            "add",
            &files.devpath,
            devnum,
            "attach",
        )?);
        tree.remove(&files).map_err(|e| e.to_string())?;
        detach.push(inject(
            &sender,
            &calls,
            &done,
            "remove",
            &files.devpath,
            devnum,
            "detach",
        )?);
    }
    drop(sender);
    drop(loop_thread);

    println!("plug-to-attach and unplug-to-detach latency over {rounds} rounds");
    println!("(udev message sent -> call reaches the hypervisor; 30-device tree, 10 machines)");
    report("add -> attach", &mut attach);
    report("remove -> detach", &mut detach);
    Ok(())
}

/// Sends one udev message and waits for the hypervisor call it causes and for the reconcile to end.
fn inject(
    sender: &UeventSender,
    calls: &Receiver<(&'static str, Instant)>,
    done: &Receiver<()>,
    action: &str,
    devpath: &str,
    devnum: u16,
    expected: &str,
) -> Result<Duration, String> {
    let devnum = format!("{devnum:03}");
    let message = encode_udev_message([
        ("ACTION", action),
        ("DEVPATH", devpath),
        ("SUBSYSTEM", "usb"),
        ("DEVTYPE", "usb_device"),
        ("SEQNUM", "1"),
        ("BUSNUM", "001"),
        ("DEVNUM", devnum.as_str()),
    ]);
    let sent = Instant::now();
    sender.send(&message).map_err(|e| e.to_string())?;
    let (kind, at) = calls
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| format!("no {expected} within 10 s"))?;
    if kind != expected {
        return Err(format!("expected {expected}, got {kind}"));
    }
    // Let the reconcile finish before the next round, so rounds do not overlap.
    done.recv_timeout(Duration::from_secs(10))
        .map_err(|_| "the reconcile did not finish".to_owned())?;
    Ok(at.duration_since(sent))
}

fn report(name: &str, samples: &mut [Duration]) {
    samples.sort_unstable();
    let at = |fraction: f64| samples[((samples.len() - 1) as f64 * fraction).round() as usize];
    let micros = |duration: Duration| duration.as_secs_f64() * 1e6;
    println!(
        "{name:18} p50 {:8.0} µs   p99 {:8.0} µs   max {:8.0} µs",
        micros(at(0.5)),
        micros(at(0.99)),
        micros(at(1.0))
    );
}
