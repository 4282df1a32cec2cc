//! The `explain` report: for every device, which machines match it and why the others do not, where
//! it goes and why; the devices that could not be read; the hostdevs of every configured machine;
//! the actions a reconcile takes now, and those it holds back and why.
//!
//! Built by a pure function from the configuration and a reconcile's [`Outcome`] (the same one the
//! daemon would apply: the actions shown are the actions taken), typed with enums, and rendered
//! from those as text for people or as one JSON object (`--json`) for scripts and tests.

use std::collections::BTreeMap;

use libvirt_sync::{Action, DomainState, HostdevSpec, Placement};
use serde::{Deserialize, Serialize};
use usb_discovery::UsbDevice;

use crate::config::Config;
use crate::reconcile::{hostdev_of, Outcome};

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExplainReport {
    /// Every USB device read.
    pub devices: Vec<DeviceReport>,
    /// The USB devices present that could not be read.
    pub unreadable: Vec<UnreadableReport>,
    /// Every configured machine, in config order.
    pub machines: Vec<MachineReport>,
    /// What a reconcile does now.
    pub actions: Vec<ActionReport>,
    /// What it holds back, and why.
    pub held_back: Vec<HeldBackReport>,
}

/// How a device is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlacementKind {
    /// To be attached now (or held back: see the report's `held-back`).
    Attach,
    /// Attached by this daemon to a matching machine.
    Attached,
    /// On a matching machine by a hostdev this daemon did not attach.
    Held,
    /// Held on a machine that does not match it by a hostdev this daemon may not detach.
    Busy,
    /// A person put it on hold: it goes nowhere until replugged or released.
    OnHold,
    /// A top-level deny rule keeps it on the host.
    Denied,
    /// The host uses it (a mounted file system, swap, a device-mapper member): never attached.
    InUse,
    /// No running machine matches it.
    Unassigned,
}

/// One interface of a device's active configuration: each code as two lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InterfaceReport {
    /// `bInterfaceClass`.
    pub class: String,
    /// `bInterfaceSubClass`.
    pub subclass: String,
    /// `bInterfaceProtocol`.
    pub protocol: String,
}

impl From<&hotplug_match::Interface> for InterfaceReport {
    fn from(interface: &hotplug_match::Interface) -> Self {
        InterfaceReport {
            class: format!("{:02x}", interface.class),
            subclass: format!("{:02x}", interface.subclass),
            protocol: format!("{:02x}", interface.protocol),
        }
    }
}

/// One device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct DeviceReport {
    /// Bus number.
    pub bus: u16,
    /// Device number.
    pub device: u16,
    /// Vendor id, 4 lower-case hex digits.
    pub vendor_id: String,
    /// Product id, 4 lower-case hex digits.
    pub product_id: String,
    /// Kernel name (port path).
    pub port: String,
    /// Whether it is a hub (never attached).
    pub hub: bool,
    /// `bDeviceClass`, two lower-case hex digits.
    pub device_class: String,
    /// The interfaces of its active configuration.
    pub interfaces: Vec<InterfaceReport>,
    /// Manufacturer and product strings.
    pub description: String,
    /// The machines whose rules match it, in config order.
    pub matches: Vec<String>,
    /// The machine it is (or is to be) attached to, or null.
    pub assigned: Option<String>,
    /// How it is placed.
    pub placement: PlacementKind,
    /// Why, in words, when the host keeps it: the deny rule (`excluded by deny[0] (…)`), what
    /// uses it (`/dev/sdb1 is mounted on /boot`), or its hold.
    pub placement_reason: Option<String>,
    /// The machine holding it when it is busy.
    pub busy_on: Option<String>,
    /// Other running matching machines that do not get it.
    pub conflicts: Vec<String>,
    /// For each configured machine that does not match it, the first failing criterion of each
    /// matcher.
    pub reasons: BTreeMap<String, String>,
}

/// A device that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreadableReport {
    /// Its kernel name (port path).
    pub port: String,
    /// What went wrong.
    pub error: String,
}

/// One configured machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MachineReport {
    /// Domain name.
    pub name: String,
    /// Whether it is active (running or paused).
    pub running: bool,
    /// Whether libvirt knows a domain of that name.
    pub defined: bool,
    /// Whether libvirt has it but its state or XML could not be read (it then counts as neither
    /// running nor defined, and devices it matches are not attached elsewhere).
    pub unreadable: bool,
    /// Its USB hostdevs (live XML).
    pub hostdevs: Vec<HostdevReport>,
}

/// One USB hostdev of a machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct HostdevReport {
    /// Bus number, if the source names one.
    pub bus: Option<u16>,
    /// Device number, if the source names one.
    pub device: Option<u16>,
    /// Vendor id, if the source names one.
    pub vendor_id: Option<String>,
    /// Product id, if the source names one.
    pub product_id: Option<String>,
    /// Its alias.
    pub alias: Option<String>,
    /// Whether this daemon attached it.
    pub owned: bool,
    /// Whether it is stale: attached by this daemon for a device that is gone (unplugged, or
    /// plugged in again under a new device number). It is detached, unless its detach is held
    /// back (see the report's `held-back`).
    pub stale: bool,
    /// Whether this daemon detaches it now: stale, or its device no longer matches this machine
    /// or belongs elsewhere.
    pub detach: bool,
}

/// Attach or detach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    /// Attach.
    Attach,
    /// Detach.
    Detach,
}

/// One action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ActionReport {
    /// Attach or detach.
    pub action: ActionKind,
    /// The machine.
    pub machine: String,
    /// Bus number.
    pub bus: u16,
    /// Device number.
    pub device: u16,
    /// Vendor id.
    pub vendor_id: String,
    /// Product id.
    pub product_id: String,
}

/// An action held back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldBackReport {
    /// The action.
    #[serde(flatten)]
    pub action: ActionReport,
    /// Why it waits, in words.
    pub why: String,
}

fn hex(id: u16) -> String {
    format!("{id:04x}")
}

impl From<&Action> for ActionReport {
    fn from(action: &Action) -> Self {
        let hostdev = action.hostdev();
        ActionReport {
            action: match action {
                Action::Attach { .. } => ActionKind::Attach,
                Action::Detach { .. } => ActionKind::Detach,
            },
            machine: action.machine().to_owned(),
            bus: hostdev.bus,
            device: hostdev.device,
            vendor_id: hex(hostdev.vendor_id),
            product_id: hex(hostdev.product_id),
        }
    }
}

/// Builds the report of `outcome` (a reconcile under `config`).
pub fn explain(config: &Config, outcome: &Outcome) -> ExplainReport {
    let observation = &outcome.observation;
    let devices = observation
        .devices
        .iter()
        .zip(&outcome.input.devices)
        .map(|(device, matched)| device_report(config, device, &matched.machines, outcome))
        .collect();
    let present: Vec<HostdevSpec> = observation.devices.iter().map(hostdev_of).collect();
    let detaching = |machine: &str, spec: &HostdevSpec| {
        outcome.plan.actions.iter().any(|action| {
            !action.is_attach() && action.machine() == machine && action.hostdev() == spec
        })
    };
    let machines = config
        .machines
        .iter()
        .map(|machine| {
            let state = observation
                .hypervisor
                .domains
                .iter()
                .find(|domain| domain.name == machine.name)
                .map(|domain| &domain.state);
            let hostdevs = state
                .map(DomainState::hostdevs)
                .unwrap_or_default()
                .iter()
                .map(|hostdev| {
                    let spec = hostdev.owned_spec();
                    let detach = spec.is_some_and(|spec| detaching(&machine.name, &spec));
                    let gone = spec.is_some_and(|spec| !present.contains(&spec));
                    HostdevReport {
                        bus: hostdev.bus,
                        device: hostdev.device,
                        vendor_id: hostdev.vendor_id.map(hex),
                        product_id: hostdev.product_id.map(hex),
                        alias: hostdev.alias.clone(),
                        owned: hostdev.is_owned(),
                        stale: gone,
                        detach,
                    }
                })
                .collect();
            MachineReport {
                name: machine.name.clone(),
                running: state.is_some_and(DomainState::is_running),
                defined: matches!(
                    state,
                    Some(DomainState::Running { .. } | DomainState::Inactive)
                ),
                unreadable: matches!(state, Some(DomainState::Unreadable { .. })),
                hostdevs,
            }
        })
        .collect();
    ExplainReport {
        devices,
        unreadable: observation
            .unreadable
            .iter()
            .map(|device| UnreadableReport {
                port: device.kernel_name.clone(),
                error: device.problem.clone(),
            })
            .collect(),
        machines,
        actions: outcome
            .plan
            .actions
            .iter()
            .map(ActionReport::from)
            .collect(),
        held_back: outcome
            .plan
            .held_back
            .iter()
            .map(|held| HeldBackReport {
                action: ActionReport::from(&held.action),
                why: held.why.to_string(),
            })
            .collect(),
    }
}

fn device_report(
    config: &Config,
    device: &UsbDevice,
    matches: &[String],
    outcome: &Outcome,
) -> DeviceReport {
    let decision = outcome.plan.decision(&hostdev_of(device));
    let placement = decision.map(|decision| &decision.placement);
    let (placement, assigned, busy_on) = match placement {
        Some(Placement::Attach { machine }) => (PlacementKind::Attach, Some(machine.clone()), None),
        Some(Placement::Owned { machine }) => {
            (PlacementKind::Attached, Some(machine.clone()), None)
        }
        Some(Placement::Held { machine }) => (PlacementKind::Held, Some(machine.clone()), None),
        Some(Placement::Busy { machine }) => (PlacementKind::Busy, None, Some(machine.clone())),
        Some(Placement::OnHold) => (PlacementKind::OnHold, None, None),
        Some(Placement::Denied { .. }) => (PlacementKind::Denied, None, None),
        Some(Placement::InUse { .. }) => (PlacementKind::InUse, None, None),
        Some(Placement::Unassigned) | None => (PlacementKind::Unassigned, None, None),
    };
    let placement_reason = match decision.map(|decision| &decision.placement) {
        Some(Placement::Denied { rule }) => Some(rule.clone()),
        Some(Placement::InUse { reason }) => Some(reason.clone()),
        Some(Placement::OnHold) => Some(
            "on hold: detached by a person; it goes nowhere until it is plugged in again or \
             released with `attach`"
                .to_owned(),
        ),
        _ => None,
    };
    let reasons = config
        .machines
        .iter()
        .filter_map(|machine| {
            let mismatch = machine.rules.explain(device)?;
            Some((machine.name.clone(), mismatch.to_string()))
        })
        .collect();
    DeviceReport {
        bus: device.bus,
        device: device.device,
        vendor_id: hex(device.vendor_id),
        product_id: hex(device.product_id),
        port: device.kernel_name.clone(),
        hub: device.is_hub(),
        device_class: format!("{:02x}", device.device_class),
        interfaces: device
            .interfaces
            .iter()
            .map(InterfaceReport::from)
            .collect(),
        description: device.description(),
        matches: matches.to_vec(),
        assigned,
        placement,
        placement_reason,
        busy_on,
        conflicts: decision
            .map(|decision| decision.conflicts.clone())
            .unwrap_or_default(),
        reasons,
    }
}

/// The report as one JSON object, with a final newline.
pub fn render_json(report: &ExplainReport) -> String {
    // Strings, numbers, booleans and maps of strings always serialize.
    serde_json::to_string_pretty(report).unwrap_or_default() + "\n"
}

/// The report for people.
pub fn render_text(report: &ExplainReport) -> String {
    let mut text = String::from("Devices:\n");
    if report.devices.is_empty() && report.unreadable.is_empty() {
        text.push_str("  no USB devices\n");
    }
    for device in &report.devices {
        render_device(report, device, &mut text);
    }
    for device in &report.unreadable {
        text.push_str(&format!(
            "  at port {}: cannot be read ({})\n    left out; while it cannot be read, no \
             hostdev this daemon attached is detached as gone\n",
            device.port, device.error
        ));
    }
    text.push_str("Machines:\n");
    if report.machines.is_empty() {
        text.push_str("  none configured\n");
    }
    for machine in &report.machines {
        render_machine(machine, &mut text);
    }
    text.push_str("Actions:\n");
    if report.actions.is_empty() && report.held_back.is_empty() {
        text.push_str("  none: everything is in place\n");
    }
    for action in &report.actions {
        text.push_str(&format!("  {}\n", action_text(action)));
    }
    for held in &report.held_back {
        text.push_str(&format!(
            "  held back: {} ({})\n",
            action_text(&held.action),
            held.why
        ));
    }
    text
}

fn render_device(report: &ExplainReport, device: &DeviceReport, text: &mut String) {
    text.push_str(&format!(
        "  {:03}/{:03} {}:{} at port {}{}\n",
        device.bus,
        device.device,
        device.vendor_id,
        device.product_id,
        device.port,
        if device.description.is_empty() {
            String::new()
        } else {
            format!(": {}", device.description)
        }
    ));
    if device.hub {
        text.push_str("    a hub: never attached (it would take every device behind it)\n");
        return;
    }
    let configured = |machine: &str| report.machines.iter().any(|known| known.name == machine);
    let placement = match (device.placement, &device.assigned, &device.busy_on) {
        (PlacementKind::Attach, Some(machine), _) => format!("to be attached to {machine}"),
        (PlacementKind::Attached, Some(machine), _) => {
            format!("attached to {machine} by this daemon")
        }
        (PlacementKind::Held, Some(machine), _) => {
            format!("on {machine} through a hostdev set up by hand (left alone)")
        }
        (PlacementKind::Busy, _, Some(machine)) if configured(machine) => format!(
            "busy: held on {machine} by a hostdev set up by hand, and {machine} does not match it"
        ),
        (PlacementKind::Busy, _, Some(machine)) => format!(
            "busy: held on {machine}, a running VM this configuration does not name: it goes \
             nowhere else"
        ),
        (PlacementKind::OnHold | PlacementKind::Denied, ..) => {
            device.placement_reason.clone().unwrap_or_default()
        }
        (PlacementKind::InUse, ..) => format!(
            "in use by the host: {} (never attached)",
            device.placement_reason.as_deref().unwrap_or_default()
        ),
        _ if device.matches.is_empty() => "goes nowhere: no machine matches it".to_owned(),
        _ => "goes nowhere: no matching machine is running".to_owned(),
    };
    if !device.matches.is_empty() {
        text.push_str(&format!("    matches {}\n", device.matches.join(", ")));
    }
    text.push_str(&format!("    {placement}\n"));
    if !device.conflicts.is_empty() {
        text.push_str(&format!(
            "    conflict: also matches running {} ({})\n",
            device.conflicts.join(", "),
            if device.placement == PlacementKind::Attach {
                "the first in config order wins"
            } else {
                "it stays where it is"
            }
        ));
    }
    // In config order, as the machines are listed.
    for machine in &report.machines {
        if let Some(reason) = device.reasons.get(&machine.name) {
            text.push_str(&format!("    not {}: {reason}\n", machine.name));
        }
    }
}

fn render_machine(machine: &MachineReport, text: &mut String) {
    let state = match (machine.unreadable, machine.defined, machine.running) {
        (true, _, _) => "cannot be read from libvirt (devices it matches go nowhere else)",
        (false, _, true) => "running",
        (false, true, false) => "shut off",
        (false, false, false) => "not defined in libvirt",
    };
    text.push_str(&format!("  {}: {state}\n", machine.name));
    for hostdev in &machine.hostdevs {
        let number = |value: Option<u16>| value.map_or("?".to_owned(), |v| format!("{v:03}"));
        let id = |value: &Option<String>| value.clone().unwrap_or_else(|| "????".to_owned());
        text.push_str(&format!(
            "    hostdev {}/{} {}:{} alias {}{}\n",
            number(hostdev.bus),
            number(hostdev.device),
            id(&hostdev.vendor_id),
            id(&hostdev.product_id),
            hostdev.alias.as_deref().unwrap_or("(none)"),
            match (hostdev.owned, hostdev.stale, hostdev.detach) {
                (true, true, true) => " (attached by this daemon; stale: to be detached)",
                (true, true, false) => {
                    " (attached by this daemon; stale: its detach is held back)"
                }
                (true, false, true) => {
                    " (attached by this daemon; to be detached: no longer wanted here)"
                }
                (true, false, false) => " (attached by this daemon)",
                (false, _, _) => " (set up by hand: never detached by this daemon)",
            }
        ));
    }
}

fn action_text(action: &ActionReport) -> String {
    let (verb, direction) = match action.action {
        ActionKind::Attach => ("attach", "to"),
        ActionKind::Detach => ("detach", "from"),
    };
    format!(
        "{verb} {:03}/{:03} ({}:{}) {direction} {}",
        action.bus, action.device, action.vendor_id, action.product_id, action.machine
    )
}
