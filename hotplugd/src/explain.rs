//! The `explain` report: for every device, which machines match it and why the others do not, where
//! it goes and why; the hostdevs of every configured machine; the actions a reconcile would take.
//!
//! Built by a pure function from the configuration, what was observed and the plan; rendered as
//! text for people or as one JSON object (`--json`) for scripts and tests.

use std::collections::BTreeMap;

use hotplug_match::Device;
use libvirt_sync::{Action, Placement, Plan};
use serde::Serialize;
use usb_discovery::UsbDevice;

use crate::commands::list::description;
use crate::config::Config;
use crate::reconcile::{hostdev_of, match_devices, Observed};

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainReport {
    /// Every USB device present.
    pub devices: Vec<DeviceReport>,
    /// Every configured machine, in config order.
    pub machines: Vec<MachineReport>,
    /// What a reconcile would do now.
    pub actions: Vec<ActionReport>,
}

/// One device.
#[derive(Debug, Clone, Serialize)]
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
    /// Manufacturer and product strings.
    pub description: String,
    /// The machines whose rules match it, in config order.
    pub matches: Vec<String>,
    /// The machine it is (or is to be) attached to, or null.
    pub assigned: Option<String>,
    /// How it is placed: `attach` (to be attached now), `attached` (by this daemon), `held` (by a
    /// hostdev this daemon did not attach, on a matching machine), `busy` (held by such a hostdev on
    /// a machine that does not match it), `unassigned`.
    pub placement: &'static str,
    /// The machine holding it when it is `busy`.
    pub busy_on: Option<String>,
    /// Other running matching machines that do not get it.
    pub conflicts: Vec<String>,
    /// For each machine that does not match it, the first failing criterion of each matcher.
    pub reasons: BTreeMap<String, String>,
}

/// One configured machine.
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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
    /// plugged in again under a new device number), and to be detached.
    pub stale: bool,
    /// Whether this daemon is to detach it now: stale, or its device no longer matches this machine
    /// or belongs elsewhere.
    pub detach: bool,
}

/// One planned action.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ActionReport {
    /// `attach` or `detach`.
    pub action: &'static str,
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

fn hex(id: u16) -> String {
    format!("{id:04x}")
}

/// Builds the report.
pub fn explain(config: &Config, observed: &Observed, plan: &Plan) -> ExplainReport {
    let matched = match_devices(&config.machines, &observed.devices);
    let present: Vec<_> = observed.devices.iter().map(hostdev_of).collect();
    let devices = observed
        .devices
        .iter()
        .zip(&matched)
        .map(|(device, matched)| device_report(config, device, &matched.machines, plan))
        .collect();
    let machines = config
        .machines
        .iter()
        .map(|machine| {
            let state = observed
                .domains
                .iter()
                .find(|domain| domain.name == machine.name);
            let hostdevs = state
                .map(|state| {
                    state
                        .hostdevs
                        .iter()
                        .map(|hostdev| {
                            let detach = hostdev.owned_spec().is_some_and(|spec| {
                                plan.actions.iter().any(|action| {
                                    matches!(action, Action::Detach { .. })
                                        && action.machine() == machine.name
                                        && *action.hostdev() == spec
                                })
                            });
                            let gone = hostdev
                                .owned_spec()
                                .is_some_and(|spec| !present.contains(&spec));
                            HostdevReport {
                                bus: hostdev.bus,
                                device: hostdev.device,
                                vendor_id: hostdev.vendor_id.map(hex),
                                product_id: hostdev.product_id.map(hex),
                                alias: hostdev.alias.clone(),
                                owned: hostdev.is_owned(),
                                stale: detach && gone,
                                detach,
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            MachineReport {
                name: machine.name.clone(),
                running: state.is_some_and(|state| state.active),
                defined: state.is_some(),
                unreadable: observed.unreadable_domains.contains(&machine.name),
                hostdevs,
            }
        })
        .collect();
    let actions = plan
        .actions
        .iter()
        .map(|action| {
            let hostdev = action.hostdev();
            ActionReport {
                action: match action {
                    Action::Attach { .. } => "attach",
                    Action::Detach { .. } => "detach",
                },
                machine: action.machine().to_owned(),
                bus: hostdev.bus,
                device: hostdev.device,
                vendor_id: hex(hostdev.vendor_id),
                product_id: hex(hostdev.product_id),
            }
        })
        .collect();
    ExplainReport {
        devices,
        machines,
        actions,
    }
}

fn device_report(
    config: &Config,
    device: &UsbDevice,
    matches: &[String],
    plan: &Plan,
) -> DeviceReport {
    let decision = plan.decision(&hostdev_of(device));
    let placement = decision.map(|decision| &decision.placement);
    let (placement_name, assigned, busy_on) = match placement {
        Some(Placement::Attach { machine }) => ("attach", Some(machine.clone()), None),
        Some(Placement::Owned { machine }) => ("attached", Some(machine.clone()), None),
        Some(Placement::Held { machine }) => ("held", Some(machine.clone()), None),
        Some(Placement::Busy { machine }) => ("busy", None, Some(machine.clone())),
        Some(Placement::Unassigned) | None => ("unassigned", None, None),
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
        port: device.kernel_name().to_owned(),
        hub: device.is_hub(),
        description: description(device),
        matches: matches.to_vec(),
        assigned,
        placement: placement_name,
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
    if report.devices.is_empty() {
        text.push_str("  no USB devices\n");
    }
    for device in &report.devices {
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
            continue;
        }
        let placement = match (device.placement, &device.assigned, &device.busy_on) {
            ("attach", Some(machine), _) => format!("to be attached to {machine}"),
            ("attached", Some(machine), _) => format!("attached to {machine} by this daemon"),
            ("held", Some(machine), _) => {
                format!("on {machine} through a hostdev set up by hand (left alone)")
            }
            ("busy", _, Some(machine)) => format!(
                "busy: held on {machine} by a hostdev set up by hand, and {machine} does not match it"
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
                if device.placement == "attach" {
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
    text.push_str("Machines:\n");
    if report.machines.is_empty() {
        text.push_str("  none configured\n");
    }
    for machine in &report.machines {
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
                    (true, true, _) => " (attached by this daemon; stale: to be detached)",
                    (true, false, true) => {
                        " (attached by this daemon; to be detached: no longer wanted here)"
                    }
                    (true, false, false) => " (attached by this daemon)",
                    (false, _, _) => " (set up by hand: never detached by this daemon)",
                }
            ));
        }
    }
    text.push_str("Actions:\n");
    if report.actions.is_empty() {
        text.push_str("  none: everything is in place\n");
    }
    for action in &report.actions {
        let direction = if action.action == "attach" {
            "to"
        } else {
            "from"
        };
        text.push_str(&format!(
            "  {} {:03}/{:03} ({}:{}) {direction} {}\n",
            action.action,
            action.bus,
            action.device,
            action.vendor_id,
            action.product_id,
            action.machine
        ));
    }
    text
}
