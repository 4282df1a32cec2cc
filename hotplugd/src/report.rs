//! The log, written by comparing an outcome with the previous one: each change is said once, never
//! a repeat on every tick.
//!
//! [`changes`] is pure; [`Reporter`] keeps the previous outcome and writes the lines to the log.
//! Each of these gives one line when it happens and one when it ends: a reconcile that cannot
//! observe (libvirt unreachable or not answering, the device list unreadable), a device or a
//! configured domain that cannot be read, a conflict or a busy device, a failing action (its
//! success, the `attached`/`detached` line, is its end). Every action done gives its line; with
//! debug logging, so does every device newly found, with its properties and tags.
//!
//! ```
//! use hotplugd::reconcile::Outcome;
//! use hotplugd::report::changes;
//!
//! let previous = Outcome::default();
//! let failed = previous.failed("cannot connect to libvirt at qemu:///system".to_owned());
//! let lines = changes(&previous, &failed, true);
//! assert_eq!(lines.len(), 1);
//! assert!(changes(&failed, &failed.failed("cannot connect to libvirt at qemu:///system".to_owned()), true).is_empty());
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};

use libvirt_sync::{Action, ErrorKind, HostdevSpec, Placement};
use log::Level;

use crate::reconcile::{hostdev_of, Outcome};

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its level.
    pub level: Level,
    /// Its text.
    pub text: String,
}

impl LogLine {
    fn new(level: Level, text: String) -> LogLine {
        LogLine { level, text }
    }
}

/// Writes the log of a series of outcomes.
#[derive(Debug, Default)]
pub struct Reporter {
    previous: Outcome,
    retries: bool,
}

impl Reporter {
    /// A reporter of a single run (failures are not retried).
    pub fn once() -> Reporter {
        Reporter::default()
    }

    /// A reporter of the daemon (failures are retried, and it says how).
    pub fn daemon() -> Reporter {
        Reporter {
            retries: true,
            ..Reporter::default()
        }
    }

    /// Logs what changed since the previous outcome; `outcome` becomes the previous one.
    pub fn report(&mut self, outcome: Outcome) {
        for line in changes(&self.previous, &outcome, self.retries) {
            log::log!(line.level, "{}", line.text);
        }
        self.previous = outcome;
    }

    /// Logs only the warnings of `outcome` (devices or domains that cannot be read, failures):
    /// what a command that prints its own report says on stderr.
    pub fn report_warnings(&mut self, outcome: &Outcome) {
        for line in changes(&self.previous, outcome, self.retries) {
            if line.level <= Level::Warn {
                log::log!(line.level, "{}", line.text);
            }
        }
    }

    /// Logs a reconcile that could not observe, for `problem`.
    pub fn report_problem(&mut self, problem: &dyn std::error::Error) {
        let failed = self.previous.failed(crate::error_chain(problem));
        self.report(failed);
    }

    /// The last outcome reported.
    pub fn last(&self) -> &Outcome {
        &self.previous
    }
}

/// The lines that say what changed from `previous` to `current`. `retries`: whether failed
/// actions are retried (a daemon) or not (a single run).
pub fn changes(previous: &Outcome, current: &Outcome, retries: bool) -> Vec<LogLine> {
    let mut lines = Vec::new();
    problem(previous, current, &mut lines);
    if current.problem.is_some() {
        return lines;
    }
    found_devices(previous, current, &mut lines);
    unreadable_devices(previous, current, &mut lines);
    unreadable_machines(previous, current, &mut lines);
    notes(previous, current, &mut lines);
    if current.dry_run {
        would(previous, current, &mut lines);
    }
    done_and_failed(previous, current, retries, &mut lines);
    lines
}

fn problem(previous: &Outcome, current: &Outcome, lines: &mut Vec<LogLine>) {
    match (&previous.problem, &current.problem) {
        (old, Some(new)) if old.as_ref() != Some(new) => {
            lines.push(LogLine::new(Level::Warn, new.clone()));
        }
        (Some(_), None) => lines.push(LogLine::new(
            Level::Info,
            "libvirt and the USB devices can be read again".to_owned(),
        )),
        _ => {}
    }
}

fn found_devices(previous: &Outcome, current: &Outcome, lines: &mut Vec<LogLine>) {
    if !log::log_enabled!(Level::Debug) {
        return;
    }
    let known: HashSet<_> = previous.observation.devices.iter().collect();
    for device in &current.observation.devices {
        if known.contains(device) {
            continue;
        }
        let properties: Vec<String> = device
            .properties
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        lines.push(LogLine::new(
            Level::Debug,
            format!(
                "found {} at port {}{}: properties: {}; tags: {:?}; current tags: {:?}",
                hostdev_of(device),
                device.kernel_name,
                if device.is_hub() { " (hub)" } else { "" },
                properties.join(" "),
                device.tags,
                device.current_tags,
            ),
        ));
    }
}

fn unreadable_devices(previous: &Outcome, current: &Outcome, lines: &mut Vec<LogLine>) {
    let before: HashMap<&str, &str> = previous
        .observation
        .unreadable
        .iter()
        .map(|device| (device.kernel_name.as_str(), device.problem.as_str()))
        .collect();
    let now: HashSet<&str> = current
        .observation
        .unreadable
        .iter()
        .map(|device| device.kernel_name.as_str())
        .collect();
    for device in &current.observation.unreadable {
        if before.get(device.kernel_name.as_str()) != Some(&device.problem.as_str()) {
            lines.push(LogLine::new(
                Level::Warn,
                format!(
                    "cannot read USB device {} ({}): it is left out, and hostdevs this daemon \
                     attached are not detached while a device cannot be read",
                    device.kernel_name, device.problem
                ),
            ));
        }
    }
    for port in before.keys().filter(|port| !now.contains(*port)) {
        let present = current
            .observation
            .devices
            .iter()
            .any(|device| device.kernel_name == *port);
        let text = if present {
            format!("USB device {port} can be read again")
        } else {
            format!("USB device {port}, which could not be read, is gone")
        };
        lines.push(LogLine::new(Level::Info, text));
    }
}

fn unreadable_machines(previous: &Outcome, current: &Outcome, lines: &mut Vec<LogLine>) {
    let before: HashMap<&str, String> = previous.unreadable_machines().collect();
    let now: HashMap<&str, String> = current.unreadable_machines().collect();
    for (name, error) in &now {
        if before.get(name) != Some(error) {
            lines.push(LogLine::new(
                Level::Warn,
                format!(
                    "{error}: it is left out, and devices it matches are not attached elsewhere \
                     until it can be read"
                ),
            ));
        }
    }
    for name in before.keys().filter(|name| !now.contains_key(*name)) {
        lines.push(LogLine::new(
            Level::Info,
            format!("domain {name} can be read again"),
        ));
    }
}

/// The conflict or busy note of each device that has one.
fn device_notes(outcome: &Outcome) -> BTreeMap<HostdevSpec, String> {
    let mut notes = BTreeMap::new();
    for decision in &outcome.plan.decisions {
        let note = match (&decision.placement, decision.conflicts.as_slice()) {
            (Placement::Busy { machine }, _) => format!(
                "{} is held by a hostdev on {machine} that this daemon may not detach, and \
                 {machine} does not match it: it stays there and goes nowhere else",
                decision.device
            ),
            (placement, conflicts) if !conflicts.is_empty() => match placement.machine() {
                Some(machine) => format!(
                    "{} also matches running machine(s) {}: it goes to {machine} ({})",
                    decision.device,
                    conflicts.join(", "),
                    if matches!(placement, Placement::Attach { .. }) {
                        "first in config order"
                    } else {
                        "already there"
                    }
                ),
                None => continue,
            },
            _ => continue,
        };
        notes.insert(decision.device, note);
    }
    notes
}

fn notes(previous: &Outcome, current: &Outcome, lines: &mut Vec<LogLine>) {
    let before = device_notes(previous);
    let now = device_notes(current);
    for (device, note) in &now {
        if before.get(device) != Some(note) {
            lines.push(LogLine::new(Level::Info, note.clone()));
        }
    }
    for device in before.keys().filter(|device| !now.contains_key(*device)) {
        if current.plan.decision(device).is_some() {
            lines.push(LogLine::new(
                Level::Info,
                format!("{device} is no longer in conflict"),
            ));
        }
    }
}

fn would(previous: &Outcome, current: &Outcome, lines: &mut Vec<LogLine>) {
    if previous.dry_run && previous.plan.actions == current.plan.actions {
        return;
    }
    for action in &current.plan.actions {
        lines.push(LogLine::new(Level::Info, format!("would {action}")));
    }
}

fn done_and_failed(previous: &Outcome, current: &Outcome, retries: bool, lines: &mut Vec<LogLine>) {
    for outcome in &current.report.outcomes {
        if outcome.result.is_ok() {
            lines.push(LogLine::new(Level::Info, done(&outcome.action)));
        }
    }
    for (action, failing) in &current.failing {
        if previous.failing.get(action).map(|old| &old.message) == Some(&failing.message) {
            continue;
        }
        let retry = match (retries, failing.kind) {
            (false, _) => "",
            (true, ErrorKind::Transient) => " (retrying with backoff)",
            (true, ErrorKind::Permanent) => {
                " (retrying when something changes, or at the interval)"
            }
        };
        lines.push(LogLine::new(
            Level::Warn,
            format!("{}{retry}", failing.message),
        ));
    }
}

/// The log line of a successful action.
fn done(action: &Action) -> String {
    match action {
        Action::Attach { machine, hostdev } => format!("attached {hostdev} to {machine}"),
        Action::Detach { machine, hostdev } => format!("detached {hostdev} from {machine}"),
    }
}
