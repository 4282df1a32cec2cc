//! Scanning benchmark (issue 6, DESIGN.md "Performance"): `SysfsDiscovery::scan` of a 1000-device
//! fixture tree against the floor of reading the same files with one `cat`.
//!
//! The tree (a `fixtures::FixtureTree` in the temporary directory, on the real disk) holds 10
//! buses, each with a root hub, 9 hubs on its ports and 10 devices behind each hub: 1000 USB
//! devices. Every device is a copy of a bundled real recording (its ~25-60 attribute files, its
//! uevent, its udev database record and its interface folders), moved to its own bus, port, device
//! number and `c189:<minor>` record.
//!
//! What a scan does (`usb-discovery/src/sysfs.rs`): list `sys/bus/usb/devices` (devices and
//! interfaces), canonicalize `sys` once, and for each name without `:` canonicalize its link and
//! read `uevent`, `dev`, the udev record `run/udev/data/c189:<minor>`, `busnum`, `devnum`,
//! `idVendor`, `idProduct`, `bDeviceClass`, `bDeviceSubClass`, `bDeviceProtocol`, try
//! `manufacturer`, `product` and `serial` (absent ones fail to open), and for a device with
//! interfaces `bConfigurationValue` and each interface's `bInterfaceClass`, `bInterfaceSubClass`
//! and `bInterfaceProtocol`; then it tries to list `sys/class/block` once (absent here: no USB
//! disk, so neither `proc/self/mountinfo` nor `proc/swaps` is read). The floor is `cat` of exactly
//! the files it reads that exist, by their real paths, in one process with its output to
//! `/dev/null`: it includes the process start and every open/read/close, and excludes the
//! directory listing, the canonicalizations, the failed opens of absent optional attributes, and
//! all parsing. It also reports the start of `cat` alone, and the same reads done in this process
//! with `std::fs::read` (no process start).
//!
//! Every figure is with a warm page and dentry cache (each measurement runs after warm-up runs),
//! which is the fair comparison: a host's sysfs is in memory.
//!
//! Run: `cargo bench -p usb-discovery --bench scan`.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fixtures::{recordings, DeviceFiles, FixtureTree, InterfaceFiles, Recording};
use usb_discovery::{Discovery, SysfsDiscovery};

/// Buses in the tree; each holds 100 devices.
const BUSES: u16 = 10;
/// Hubs on each root hub's ports.
const HUBS_PER_BUS: u16 = 9;
/// Devices behind each hub.
const DEVICES_PER_HUB: u16 = 10;

/// A device as written into the tree, with what the floor needs to know of it.
struct Placed {
    kernel_name: String,
    files: DeviceFiles,
}

/// The files of `template` moved to `devpath` with device number `number` on `bus`.
fn relocate(template: &DeviceFiles, devpath: String, bus: u16, number: u16) -> DeviceFiles {
    let minor = (u32::from(bus) - 1) * 128 + u32::from(number) - 1;
    let kernel_name = devpath.rsplit('/').next().unwrap_or_default().to_owned();
    let port_path = kernel_name
        .split_once('-')
        .map_or("0".to_owned(), |(_, ports)| ports.to_owned());
    let attributes = template
        .attributes
        .iter()
        .map(|(name, value)| {
            let value = match name.as_str() {
                "busnum" => format!("{bus}\n").into_bytes(),
                "devnum" => format!("{number}\n").into_bytes(),
                "devpath" => format!("{port_path}\n").into_bytes(),
                "dev" => format!("189:{minor}\n").into_bytes(),
                _ => value.clone(),
            };
            (name.clone(), value)
        })
        .collect();
    let uevent: String = String::from_utf8_lossy(&template.uevent)
        .lines()
        .map(|line| {
            let key = line.split_once('=').map_or(line, |(key, _)| key);
            match key {
                "MINOR" => format!("MINOR={minor}\n"),
                "DEVNAME" => format!("DEVNAME=bus/usb/{bus:03}/{number:03}\n"),
                "BUSNUM" => format!("BUSNUM={bus:03}\n"),
                "DEVNUM" => format!("DEVNUM={number:03}\n"),
                _ => format!("{line}\n"),
            }
        })
        .collect();
    let interface_prefix = if kernel_name.starts_with("usb") {
        format!("{bus}-0")
    } else {
        kernel_name.clone()
    };
    let interfaces = template
        .interfaces
        .iter()
        .map(|interface| {
            let position = interface.name.split_once(':').map_or("1.0", |(_, p)| p);
            InterfaceFiles {
                name: format!("{interface_prefix}:{position}"),
                ..interface.clone()
            }
        })
        .collect();
    DeviceFiles {
        devpath,
        attributes,
        uevent: uevent.into_bytes(),
        dev: (189, minor),
        udev_db: template.udev_db.clone(),
        interfaces,
        block_devices: Vec::new(),
    }
}

/// Writes the 1000-device tree: per bus a root hub, hubs on its ports, devices behind the hubs.
fn build_tree() -> (FixtureTree, Vec<Placed>) {
    let all: Vec<(Recording, DeviceFiles)> = recordings()
        .expect("the bundled recordings")
        .into_iter()
        .map(|recording| {
            let files = recording.device_files().expect("a recording loads");
            (recording, files)
        })
        .collect();
    let is_hub = |files: &DeviceFiles| {
        files
            .attributes
            .iter()
            .any(|(name, value)| name == "bDeviceClass" && value.starts_with(b"09"))
    };
    let root_hubs: Vec<&DeviceFiles> = all
        .iter()
        .filter(|(recording, _)| recording.name.starts_with("roothub"))
        .map(|(_, files)| files)
        .collect();
    let hubs: Vec<&DeviceFiles> = all
        .iter()
        .filter(|(recording, files)| !recording.name.starts_with("roothub") && is_hub(files))
        .map(|(_, files)| files)
        .collect();
    let devices: Vec<&DeviceFiles> = all
        .iter()
        .filter(|(_, files)| !is_hub(files))
        .map(|(_, files)| files)
        .collect();

    let tree = FixtureTree::new().expect("a temporary tree");
    let mut placed = Vec::new();
    let mut place = |files: DeviceFiles| {
        tree.add(&files).expect("device written");
        placed.push(Placed {
            kernel_name: files.kernel_name().to_owned(),
            files,
        });
    };
    let mut counter = 0usize;
    for bus in 1..=BUSES {
        let controller = format!(
            "/devices/pci0000:00/0000:00:{:02x}.0/usb{bus}",
            0x14 + bus / 2
        );
        let mut number = 1;
        place(relocate(
            root_hubs[usize::from(bus) % root_hubs.len()],
            controller.clone(),
            bus,
            number,
        ));
        for hub in 1..=HUBS_PER_BUS {
            number += 1;
            let hub_path = format!("{controller}/{bus}-{hub}");
            place(relocate(
                hubs[usize::from(hub) % hubs.len()],
                hub_path.clone(),
                bus,
                number,
            ));
            for port in 1..=DEVICES_PER_HUB {
                number += 1;
                counter += 1;
                place(relocate(
                    devices[counter % devices.len()],
                    format!("{hub_path}/{bus}-{hub}.{port}"),
                    bus,
                    number,
                ));
            }
        }
    }
    (tree, placed)
}

/// Every file the scan reads successfully, by its real path, in scan order per device.
fn files_read(tree: &FixtureTree, placed: &[Placed]) -> Vec<PathBuf> {
    let root = std::fs::canonicalize(tree.root()).expect("the root resolves");
    let mut files = Vec::new();
    for device in placed {
        let dir = root
            .join("sys")
            .join(device.files.devpath.trim_start_matches('/'));
        files.push(dir.join("uevent"));
        files.push(dir.join("dev"));
        files.push(
            root.join("run/udev/data")
                .join(format!("c{}:{}", device.files.dev.0, device.files.dev.1)),
        );
        for name in [
            "busnum",
            "devnum",
            "idVendor",
            "idProduct",
            "bDeviceClass",
            "bDeviceSubClass",
            "bDeviceProtocol",
        ] {
            files.push(dir.join(name));
        }
        for name in ["manufacturer", "product", "serial"] {
            let path = dir.join(name);
            if path.exists() {
                files.push(path);
            }
        }
        if !device.files.interfaces.is_empty() {
            files.push(dir.join("bConfigurationValue"));
        }
        for interface in &device.files.interfaces {
            for name in [
                "bInterfaceClass",
                "bInterfaceSubClass",
                "bInterfaceProtocol",
            ] {
                files.push(dir.join(&interface.name).join(name));
            }
        }
    }
    files
}

/// Sorted durations of repeated runs.
struct Samples(Vec<Duration>);

impl Samples {
    fn percentile(&self, fraction: f64) -> Duration {
        let index = ((self.0.len() - 1) as f64 * fraction).round() as usize;
        self.0[index]
    }
}

/// `warm_up` untimed runs, then `runs` timed ones.
fn measure<T>(warm_up: usize, runs: usize, mut work: impl FnMut() -> T) -> Samples {
    for _ in 0..warm_up {
        black_box(work());
    }
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(work());
            start.elapsed()
        })
        .collect();
    samples.sort_unstable();
    Samples(samples)
}

fn cat(files: &[PathBuf]) {
    let status = Command::new("cat")
        .args(files)
        .stdout(Stdio::null())
        .status()
        .expect("cat runs");
    assert!(status.success(), "cat read every file");
}

fn row(what: &str, unit: &str, samples: &Samples, per: usize, per_name: &str) {
    let scale = if unit == "ms" { 1e3 } else { 1e6 };
    let show = |duration: Duration| format!("{:.3}", duration.as_secs_f64() * scale);
    println!(
        "{what:<44} {:>7} {:>9} {:>9} {:>9}   {:>7.2} µs/{per_name}",
        samples.0.len(),
        show(samples.percentile(0.0)),
        show(samples.percentile(0.5)),
        show(samples.percentile(0.99)),
        samples.percentile(0.5).as_secs_f64() * 1e6 / per as f64,
    );
}

fn main() {
    let (tree, placed) = build_tree();
    let discovery = SysfsDiscovery::new(tree.root());
    let found = discovery.scan().expect("the scan works");
    assert_eq!(found.len(), placed.len(), "the scan finds every device");
    let interfaces = std::fs::read_dir(tree.bus_devices())
        .expect("the bus list")
        .count()
        - placed.len();
    let files = files_read(&tree, &placed);
    let argument_bytes: usize = files.iter().map(|f| f.as_os_str().len() + 1).sum();
    println!(
        "scanning benchmark: {} devices ({} hubs) and {interfaces} interfaces in {}",
        placed.len(),
        found.iter().filter(|d| d.is_hub()).count(),
        tree.root().display()
    );
    println!(
        "the scan reads {} files ({:.1} per device; {argument_bytes} bytes of cat arguments); warm \
         cache",
        files.len(),
        files.len() as f64 / placed.len() as f64
    );
    println!(
        "{:<44} {:>7} {:>9} {:>9} {:>9}   {:>10}",
        "measurement", "runs", "min", "median", "p99", "median per"
    );

    let scan = measure(3, 30, || discovery.scan().expect("the scan works"));
    row(
        "scan() of the whole tree (ms)",
        "ms",
        &scan,
        files.len(),
        "file",
    );
    let floor = measure(3, 30, || cat(&files));
    row(
        "floor: one cat of the same files (ms)",
        "ms",
        &floor,
        files.len(),
        "file",
    );
    let start = measure(3, 30, || cat(&[PathBuf::from("/dev/null")]));
    row(
        "cat start alone: cat /dev/null (ms)",
        "ms",
        &start,
        1,
        "run",
    );
    let in_process = measure(3, 30, || {
        files
            .iter()
            .map(|file| std::fs::read(file).expect("readable").len())
            .sum::<usize>()
    });
    row(
        "std::fs::read of the same files (ms)",
        "ms",
        &in_process,
        files.len(),
        "file",
    );

    let names: Vec<&str> = placed.iter().map(|d| d.kernel_name.as_str()).collect();
    let mut next = 0;
    let single = measure(1000, 10_000, || {
        next = (next + 1) % names.len();
        discovery
            .read_device(names[next])
            .expect("the device reads")
            .expect("a usb_device")
    });
    row(
        "read_device(name) of one device (µs)",
        "µs",
        &single,
        1,
        "device",
    );

    let ratio = scan.percentile(0.5).as_secs_f64() / floor.percentile(0.5).as_secs_f64();
    let best_ratio = scan.percentile(0.0).as_secs_f64() / floor.percentile(0.0).as_secs_f64();
    println!(
        "scan / floor: {ratio:.2}x by medians, {best_ratio:.2}x by minimums (target: within 2x); \
         scan / in-process reads: {:.2}x by medians",
        scan.percentile(0.5).as_secs_f64() / in_process.percentile(0.5).as_secs_f64()
    );
    println!(
        "read_device / scan per device: {:.2}x by medians",
        single.percentile(0.5).as_secs_f64()
            / (scan.percentile(0.5).as_secs_f64() / placed.len() as f64)
    );
}
