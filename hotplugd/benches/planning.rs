//! Planning benchmark (issue 6, DESIGN.md "Performance"): match + plan with the devices in memory.
//!
//! For each size (devices x machines) it builds, outside the timed part:
//! * the devices: `UsbDevice` values made from the bundled real recordings' `udevadm` property sets
//!   (~30 properties each, their tags, hubs included), each with its own bus/device number, port,
//!   serial and product id;
//! * the rules: a configuration written as YAML text and read with `parse_main_file`, three
//!   matchers per machine cycling through six kinds (vendor/product ids; vendor + serial `equals`;
//!   serial `pattern` + tag; port `B-H.*` + product; ids + tags + current tags; bus + model
//!   `pattern`);
//! * the domains: every tenth one inactive; the others hold owned hostdevs the plan keeps (half of
//!   the devices the rules place), one stale owned hostdev each (an old device number: detached),
//!   and every seventh one a static hostdev the daemon does not own.
//!
//! The timed part is what a reconcile does once it has observed the devices and domains: for each
//! device the machines whose rules match it, in config order (`MachineRules::matches`, as the
//! daemon does), then `libvirt_sync::plan`. It also times the two halves apart.
//!
//! Run: `cargo bench -p hotplugd --bench planning`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use hotplugd::config::{parse_main_file, Machine};
use hotplugd::reconcile::match_devices;
use libvirt_sync::{
    plan, Action, DomainState, HostdevSpec, MatchedDevice, ObservedDomain, ObservedHostdev, Plan,
    PlanInput,
};
use usb_discovery::UsbDevice;

/// Matchers per machine in the generated configuration.
const MATCHERS_PER_MACHINE: usize = 3;
/// Devices per bus (device numbers 2..=101, behind ten hubs of ten ports).
const DEVICES_PER_BUS: usize = 100;
/// The sizes measured: (devices, machines).
const SIZES: [(usize, usize); 7] = [
    (30, 10),
    (100, 10),
    (300, 30),
    (1000, 10),
    (1000, 30),
    (1000, 100),
    (3000, 100),
];
/// Time spent sampling each measurement (after a warm-up).
const BUDGET: Duration = Duration::from_millis(1500);

/// A real device's view, from a bundled recording.
struct Template {
    vendor_id: u16,
    product_id: u16,
    class: u8,
    properties: BTreeMap<String, String>,
    tags: BTreeSet<String>,
    current_tags: BTreeSet<String>,
}

fn templates() -> Vec<Template> {
    let recordings = fixtures::recordings().expect("the bundled recordings load");
    recordings
        .iter()
        .map(|recording| {
            let udevadm = recording.udevadm().expect("udevadm.txt parses");
            let files = recording.device_files().expect("the recording loads");
            let attribute = |name: &str| {
                files
                    .attributes
                    .iter()
                    .find(|(key, _)| key == name)
                    .map(|(_, value)| String::from_utf8_lossy(value).trim().to_owned())
                    .unwrap_or_else(|| panic!("{}: no {name}", recording.name))
            };
            let hex = |name: &str| {
                u16::from_str_radix(&attribute(name), 16)
                    .unwrap_or_else(|_| panic!("{}: {name} is not hex", recording.name))
            };
            let tags: BTreeSet<String> = udevadm.list_property("TAGS").into_iter().collect();
            let current_tags = match udevadm.property("CURRENT_TAGS") {
                Some(_) => udevadm.list_property("CURRENT_TAGS").into_iter().collect(),
                None => tags.clone(),
            };
            Template {
                vendor_id: hex("idVendor"),
                product_id: hex("idProduct"),
                class: u8::try_from(hex("bDeviceClass")).expect("a byte"),
                properties: udevadm
                    .properties
                    .iter()
                    .filter(|(key, _)| key != "TAGS" && key != "CURRENT_TAGS")
                    .cloned()
                    .collect(),
                tags,
                current_tags,
            }
        })
        .collect()
}

/// Where device `index` sits: bus, device number, hub port and port behind it.
fn position(index: usize) -> (u16, u16, usize, usize) {
    let on_bus = index % DEVICES_PER_BUS;
    let bus = 1 + index / DEVICES_PER_BUS;
    (
        u16::try_from(bus).expect("few buses"),
        u16::try_from(2 + on_bus).expect("device numbers up to 101"),
        1 + on_bus / 10,
        1 + on_bus % 10,
    )
}

/// Device `index`: a copy of a recording with its own address, port, serial and product id.
fn device(index: usize, templates: &[Template]) -> UsbDevice {
    let template = &templates[index % templates.len()];
    let (bus, number, hub, port) = position(index);
    let generation = u16::try_from(index / templates.len()).expect("small");
    let product_id = template.product_id.wrapping_add(generation);
    let kernel_name = format!("{bus}-{hub}.{port}");
    let devpath = format!("/devices/pci0000:00/0000:00:14.0/usb{bus}/{bus}-{hub}/{kernel_name}");
    let serial = format!("{index:08X}");
    let mut properties = template.properties.clone();
    let vendor_name = properties.get("ID_VENDOR").cloned().unwrap_or_default();
    let model_name = properties.get("ID_MODEL").cloned().unwrap_or_default();
    let minor = (u32::from(bus) - 1) * 128 + u32::from(number) - 1;
    let product = format!("{:x}/{product_id:x}/100", template.vendor_id);
    for (key, value) in [
        ("DEVPATH", devpath.clone()),
        ("BUSNUM", format!("{bus:03}")),
        ("DEVNUM", format!("{number:03}")),
        ("DEVNAME", format!("/dev/bus/usb/{bus:03}/{number:03}")),
        ("MINOR", minor.to_string()),
        ("PRODUCT", product),
        ("ID_MODEL_ID", format!("{product_id:04x}")),
        ("ID_SERIAL_SHORT", serial.clone()),
        ("ID_SERIAL", format!("{vendor_name}_{model_name}_{serial}")),
        ("ID_PATH", format!("pci-0000:00:14.0-usb-0:{hub}.{port}")),
        (
            "ID_PATH_TAG",
            format!("pci-0000_00_14_0-usb-0_{hub}_{port}"),
        ),
        ("USEC_INITIALIZED", (4_000_000 + index).to_string()),
    ] {
        properties.insert(key.to_owned(), value);
    }
    let mut tags = template.tags.clone();
    let mut current_tags = template.current_tags.clone();
    if index % 2 == 0 {
        tags.insert("uaccess".to_owned());
        current_tags.insert("uaccess".to_owned());
    }
    UsbDevice {
        bus,
        device: number,
        vendor_id: template.vendor_id,
        product_id,
        device_class: template.class,
        kernel_name,
        devpath,
        manufacturer: None,
        product: properties.get("ID_MODEL").cloned(),
        serial: Some(serial),
        properties,
        tags,
        current_tags,
        initialized: true,
        ..UsbDevice::default()
    }
}

/// The configuration text: `machines` machines of [`MATCHERS_PER_MACHINE`] matchers, each aimed
/// at one non-hub device (some of them still miss it: a tag it lacks, a pattern that also needs a
/// bus).
fn config_text(devices: &[UsbDevice], machines: usize) -> String {
    let targets: Vec<&UsbDevice> = devices.iter().filter(|d| !d.is_hub()).collect();
    let mut text = String::from("interval: 5s\nmachines:\n");
    for machine in 0..machines {
        let _ = writeln!(text, "  vm-{machine:03}:\n    devices:");
        for slot in 0..MATCHERS_PER_MACHINE {
            let rule = machine * MATCHERS_PER_MACHINE + slot;
            let target = targets[(rule * 7919 + 13) % targets.len()];
            let (vendor, product) = (target.vendor_id, target.product_id);
            let serial = target.serial.as_deref().unwrap_or_default();
            let (hub_port, _) = target
                .kernel_name
                .rsplit_once('.')
                .expect("ports behind a hub");
            let matcher = match rule % 6 {
                0 => format!("    - vendor-id: 0x{vendor:04x}\n      product-id: \"{product:04x}\"\n"),
                1 => format!(
                    "    - vendor-id: 0x{vendor:04x}\n      udev:\n        env:\n\
                     \x20       - name: ID_SERIAL_SHORT\n          equals: '{serial}'\n"
                ),
                2 => format!(
                    "    - udev:\n        env:\n        - name: ID_SERIAL\n          pattern: '_{serial}$'\n\
                     \x20       tags: [uaccess]\n"
                ),
                3 => format!("    - port: \"{hub_port}.*\"\n      product-id: 0x{product:04x}\n"),
                4 => format!(
                    "    - vendor-id: 0x{vendor:04x}\n      product-id: 0x{product:04x}\n      udev:\n\
                     \x20       tags: [uaccess]\n        current-tags: [uaccess]\n"
                ),
                _ => format!(
                    "    - bus: {}\n      udev:\n        env:\n        - name: ID_MODEL\n\
                     \x20         pattern: '(?i)finger|key'\n",
                    target.bus
                ),
            };
            text.push_str(&matcher);
        }
    }
    text
}

/// The domains: every tenth inactive; the active ones hold half of the devices the plan would
/// attach (owned, kept), one stale owned hostdev each, and every seventh one a static hostdev.
fn domains(machines: &[Machine], matched: &[MatchedDevice]) -> Vec<ObservedDomain> {
    let mut domains: Vec<ObservedDomain> = machines
        .iter()
        .enumerate()
        .map(|(index, machine)| {
            let state = if index % 10 == 9 {
                DomainState::Inactive
            } else {
                DomainState::Running {
                    hostdevs: Vec::new(),
                }
            };
            ObservedDomain::new(&machine.name, state)
        })
        .collect();
    let fresh = plan(&input(matched.to_vec(), &domains));
    let attaches = fresh.actions.iter().filter_map(|action| match action {
        Action::Attach { machine, hostdev } => Some((machine, hostdev)),
        Action::Detach { .. } => None,
    });
    for (machine, hostdev) in attaches.step_by(2) {
        if let Some(DomainState::Running { hostdevs }) = domains
            .iter_mut()
            .find(|d| d.name == *machine)
            .map(|d| &mut d.state)
        {
            hostdevs.push(ObservedHostdev::from(*hostdev));
        }
    }
    for (index, domain) in domains.iter_mut().enumerate() {
        let DomainState::Running { hostdevs } = &mut domain.state else {
            continue;
        };
        let some_device = matched[(index * 31) % matched.len()].spec;
        let stale = HostdevSpec {
            device: 110 + u16::try_from(index % 17).expect("small"),
            ..some_device
        };
        hostdevs.push(ObservedHostdev::from(stale));
        if index % 7 == 3 {
            let held = matched[(index * 53 + 5) % matched.len()].spec;
            hostdevs.push(ObservedHostdev {
                bus: Some(held.bus),
                device: Some(held.device),
                vendor_id: Some(held.vendor_id),
                product_id: Some(held.product_id),
                alias: Some(format!("ua-static-{index}")),
            });
        }
    }
    domains
}

/// The planner's input: the matched devices and the domains, as a reconcile builds it.
fn input(devices: Vec<MatchedDevice>, domains: &[ObservedDomain]) -> PlanInput {
    PlanInput {
        devices,
        machines: domains.to_vec(),
        ..PlanInput::default()
    }
}

/// Per-sample durations of one measurement.
struct Samples(Vec<Duration>);

impl Samples {
    fn percentile(&self, fraction: f64) -> Duration {
        let index = ((self.0.len() - 1) as f64 * fraction).round() as usize;
        self.0[index]
    }
    fn min(&self) -> Duration {
        self.0[0]
    }
    fn median(&self) -> Duration {
        self.percentile(0.5)
    }
    fn p99(&self) -> Duration {
        self.percentile(0.99)
    }
    fn mean(&self) -> Duration {
        self.0.iter().sum::<Duration>() / u32::try_from(self.0.len()).expect("few samples")
    }
}

/// Runs `work` a few times to warm up, then as often as [`BUDGET`] allows (20 to 20 000 times),
/// timing each run.
fn measure<T>(mut work: impl FnMut() -> T) -> Samples {
    let warm_up = Instant::now();
    for _ in 0..3 {
        black_box(work());
    }
    let estimate = warm_up.elapsed() / 3;
    let runs = (BUDGET.as_nanos() / estimate.as_nanos().max(1)).clamp(20, 20_000) as usize;
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        black_box(work());
        samples.push(start.elapsed());
    }
    samples.sort_unstable();
    Samples(samples)
}

fn micros(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1e6)
}

fn main() {
    let templates = templates();
    println!(
        "planning benchmark: match ({MATCHERS_PER_MACHINE} matchers per machine) + plan, devices in \
         memory; times per plan in µs"
    );
    println!(
        "{:>7} {:>8} {:>8} {:>10} {:>7} | {:>9} {:>9} {:>9} {:>9} | {:>7} | {:>9} {:>7} | {:>9} {:>7} | {:>7} {:>7} {:>5}",
        "devices",
        "machines",
        "matchers",
        "pairs",
        "samples",
        "min",
        "median",
        "p99",
        "mean",
        "ns/pair",
        "match",
        "ns/pair",
        "plan",
        "ns/dev",
        "matched",
        "actions",
        "props"
    );
    for (device_count, machine_count) in SIZES {
        let devices: Vec<UsbDevice> = (0..device_count)
            .map(|index| device(index, &templates))
            .collect();
        let text = config_text(&devices, machine_count);
        let machines = parse_main_file(&text, Path::new("bench.yml"))
            .expect("the generated configuration is valid")
            .machines;
        let matchers: usize = machines.iter().map(|m| m.rules.matchers().len()).sum();
        let matched = match_devices(&machines, &devices);
        let domains = domains(&machines, &matched);

        let whole = measure(|| {
            let matched = match_devices(black_box(&machines), black_box(&devices));
            plan(&input(matched, black_box(&domains)))
        });
        let matching = measure(|| match_devices(black_box(&machines), black_box(&devices)));
        let planned_input = input(matched.clone(), &domains);
        let planning = measure(|| plan(black_box(&planned_input)));

        let result: Plan = plan(&planned_input);
        let wanted = matched.iter().filter(|m| !m.machines.is_empty()).count();
        let pairs = device_count * matchers;
        let properties = devices.iter().map(|d| d.properties.len()).sum::<usize>() / device_count;
        println!(
            "{:>7} {:>8} {:>8} {:>10} {:>7} | {:>9} {:>9} {:>9} {:>9} | {:>7.1} | {:>9} {:>7.1} | {:>9} {:>7.0} | {:>7} {:>7} {:>5}",
            device_count,
            machine_count,
            matchers,
            pairs,
            whole.0.len(),
            micros(whole.min()),
            micros(whole.median()),
            micros(whole.p99()),
            micros(whole.mean()),
            whole.median().as_nanos() as f64 / pairs as f64,
            micros(matching.median()),
            matching.median().as_nanos() as f64 / pairs as f64,
            micros(planning.median()),
            planning.median().as_nanos() as f64 / device_count as f64,
            wanted,
            result.actions.len(),
            properties,
        );
    }
    println!(
        "pairs = devices x matchers; ns/pair = median / pairs; match, plan = medians of each half \
         alone (match per pair, plan per device)"
    );
    println!(
        "matched = devices some machine wants; actions = detaches + attaches planned; props = \
         properties per device (mean)"
    );
}
