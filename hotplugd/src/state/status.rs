//! What the running daemon shares in `state.json`, and how `status` shows it.
//!
//! [`Status::new`] is pure: from what the daemon knows of itself ([`DaemonInfo`]) and its last
//! [`Outcome`]. [`Status::summary`] is the line systemd's `STATUS=` and `status` print first:
//! `4 attached, 1 on hold, 1 conflict, 1 failing (retry in 2 s)`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libvirt_sync::{ErrorKind, Placement};
use serde::{Deserialize, Serialize};

use crate::explain::{ActionReport, HeldBackReport, PlacementKind};
use crate::reconcile::{hostdev_of, Outcome};

/// What the daemon knows of itself.
#[derive(Debug, Clone)]
pub struct DaemonInfo {
    /// Its pid.
    pub pid: u32,
    /// When it started.
    pub started: SystemTime,
    /// The main configuration file.
    pub config: String,
    /// The last reload, if any.
    pub reload: Option<ReloadStatus>,
    /// The libvirt URI in force (`None`: libvirt's default).
    pub uri: Option<String>,
    /// Since when libvirt answers (since the last reconcile that could observe after one that
    /// could not).
    pub connected_since: Option<SystemTime>,
    /// Whether udev events are received.
    pub udev_events: bool,
}

/// The state of the running daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Status {
    /// The daemon's pid.
    pub pid: u32,
    /// When it started (RFC 3339, UTC).
    pub started: String,
    /// Its configuration file.
    pub config: String,
    /// The last reload.
    pub reload: Option<ReloadStatus>,
    /// The libvirt connection.
    pub libvirt: LibvirtStatus,
    /// Whether udev events are received (else the tick alone finds devices).
    pub udev_events: bool,
    /// Every device, with its placement.
    pub devices: Vec<DeviceStatus>,
    /// Every failing action.
    pub failing: Vec<FailingStatus>,
    /// The actions held back, and why.
    pub held_back: Vec<HeldBackReport>,
}

/// The last reload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadStatus {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Whether the new configuration is in force.
    pub ok: bool,
    /// Why not, when it is not.
    pub error: Option<String>,
}

/// The libvirt connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibvirtStatus {
    /// The URI (null: libvirt's default).
    pub uri: Option<String>,
    /// Whether the last reconcile could ask libvirt.
    pub connected: bool,
    /// Since when (RFC 3339, UTC), when connected.
    pub since: Option<String>,
    /// Why not, when not: the daemon is reconnecting.
    pub error: Option<String>,
}

/// One device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DeviceStatus {
    /// Bus number.
    pub bus: u16,
    /// Device number.
    pub device: u16,
    /// Vendor id, 4 lower-case hex digits.
    pub vendor_id: String,
    /// Product id, 4 lower-case hex digits.
    pub product_id: String,
    /// Its port.
    pub port: String,
    /// Manufacturer and product.
    pub description: String,
    /// How it is placed (as in `explain --json`).
    pub placement: PlacementKind,
    /// The machine it is on or goes to.
    pub machine: Option<String>,
    /// The machine holding it, when busy.
    pub busy_on: Option<String>,
    /// Other running machines that match it.
    pub conflicts: Vec<String>,
    /// Whether it is on hold (a person detached it).
    pub held: bool,
    /// The hold, when on hold.
    pub hold: Option<HoldStatus>,
}

/// A device's hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldStatus {
    /// The machine it was on.
    pub machine: Option<String>,
    /// Why.
    pub reason: String,
    /// Since when (RFC 3339, UTC).
    pub since: String,
}

/// A failing action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FailingStatus {
    /// The action.
    #[serde(flatten)]
    pub action: ActionReport,
    /// Its last error.
    pub error: String,
    /// `transient` (retried on the backoff) or `permanent` (retried on a change or at the
    /// interval).
    pub kind: String,
    /// When it is tried again (RFC 3339, UTC), if known.
    pub retry_at: Option<String>,
    /// The same, in milliseconds since the Unix epoch.
    pub retry_at_ms: Option<u64>,
}

impl Status {
    /// The status of a daemon `info` whose last reconcile is `outcome`, at `now` (both clocks).
    pub fn new(info: &DaemonInfo, outcome: &Outcome, now: Instant, wall_now: SystemTime) -> Status {
        let at_wall = |instant: Instant| -> SystemTime {
            match instant.checked_duration_since(now) {
                Some(ahead) => wall_now + ahead,
                None => wall_now - now.saturating_duration_since(instant),
            }
        };
        let devices = outcome
            .observation
            .devices
            .iter()
            .map(|device| {
                let spec = hostdev_of(device);
                let decision = outcome.plan.decision(&spec);
                let placement = decision.map(|decision| &decision.placement);
                let hold = outcome.holds.iter().find(|hold| hold.spec() == spec);
                DeviceStatus {
                    bus: device.bus,
                    device: device.device,
                    vendor_id: format!("{:04x}", device.vendor_id),
                    product_id: format!("{:04x}", device.product_id),
                    port: device.kernel_name.clone(),
                    description: device.description(),
                    placement: placement.map_or(PlacementKind::Unassigned, placement_kind),
                    machine: match placement {
                        Some(Placement::Busy { .. }) => None,
                        Some(other) => other.machine().map(str::to_owned),
                        None => None,
                    },
                    busy_on: match placement {
                        Some(Placement::Busy { machine }) => Some(machine.clone()),
                        _ => None,
                    },
                    conflicts: decision
                        .map(|decision| decision.conflicts.clone())
                        .unwrap_or_default(),
                    held: hold.is_some(),
                    hold: hold.map(|hold| HoldStatus {
                        machine: hold.machine.clone(),
                        reason: hold.reason.clone(),
                        since: rfc3339(UNIX_EPOCH + Duration::from_secs(hold.since)),
                    }),
                }
            })
            .collect();
        let failing = outcome
            .failing
            .iter()
            .map(|(action, failing)| {
                let retry = failing.retry_at.map(at_wall);
                FailingStatus {
                    action: ActionReport::from(action),
                    error: failing.message.clone(),
                    kind: match failing.kind {
                        ErrorKind::Transient => "transient".to_owned(),
                        ErrorKind::Permanent => "permanent".to_owned(),
                    },
                    retry_at: retry.map(rfc3339),
                    retry_at_ms: retry.map(unix_millis),
                }
            })
            .collect();
        Status {
            pid: info.pid,
            started: rfc3339(info.started),
            config: info.config.clone(),
            reload: info.reload.clone(),
            libvirt: LibvirtStatus {
                uri: info.uri.clone(),
                connected: outcome.problem.is_none(),
                since: info.connected_since.map(rfc3339),
                error: outcome.problem.clone(),
            },
            udev_events: info.udev_events,
            devices,
            failing,
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

    /// The summary line, at `now`: `4 attached, 1 on hold, 1 conflict, 1 failing (retry in 2 s)`.
    pub fn summary(&self, now: SystemTime) -> String {
        let count = |kind: PlacementKind| {
            self.devices
                .iter()
                .filter(|device| device.placement == kind)
                .count()
        };
        let mut parts = vec![format!("{} attached", count(PlacementKind::Attached))];
        for (number, what) in [
            (count(PlacementKind::OnHold), "on hold"),
            (count(PlacementKind::Busy), "busy"),
            (count(PlacementKind::Denied), "denied"),
            (count(PlacementKind::InUse), "in use by the host"),
        ] {
            if number > 0 {
                parts.push(format!("{number} {what}"));
            }
        }
        let conflicts = self
            .devices
            .iter()
            .filter(|device| !device.conflicts.is_empty())
            .count();
        if conflicts > 0 {
            let plural = if conflicts == 1 { "" } else { "s" };
            parts.push(format!("{conflicts} conflict{plural}"));
        }
        if !self.failing.is_empty() {
            let next = self
                .failing
                .iter()
                .filter_map(|failing| failing.retry_at_ms)
                .min();
            let retry = match next {
                Some(ms) => {
                    let at = UNIX_EPOCH + Duration::from_millis(ms);
                    let wait = at.duration_since(now).unwrap_or_default();
                    format!(" (retry in {} s)", wait.as_secs_f64().ceil() as u64)
                }
                None => String::new(),
            };
            parts.push(format!("{} failing{retry}", self.failing.len()));
        }
        if !self.libvirt.connected {
            parts.push("libvirt not answering".to_owned());
        }
        parts.join(", ")
    }

    /// The status for people, at `now`.
    pub fn render_text(&self, now: SystemTime) -> String {
        let mut text = format!("{}\n", self.summary(now));
        text.push_str(&format!(
            "daemon: pid {}, running since {}, configuration {}\n",
            self.pid, self.started, self.config
        ));
        if let Some(reload) = &self.reload {
            match &reload.error {
                None => text.push_str(&format!("last reload: {}, ok\n", reload.at)),
                Some(error) => text.push_str(&format!(
                    "last reload: {}, failed (the configuration before it is in force): {error}\n",
                    reload.at
                )),
            }
        }
        let uri = self
            .libvirt
            .uri
            .as_deref()
            .unwrap_or("libvirt's default URI");
        match (&self.libvirt.error, &self.libvirt.since) {
            (Some(error), _) => text.push_str(&format!("libvirt: {uri}: reconnecting: {error}\n")),
            (None, Some(since)) => {
                text.push_str(&format!("libvirt: {uri}: connected since {since}\n"))
            }
            (None, None) => text.push_str(&format!("libvirt: {uri}: connected\n")),
        }
        text.push_str(if self.udev_events {
            "udev events: on\n"
        } else {
            "udev events: off (devices are found on the resync tick)\n"
        });
        text.push_str("Devices:\n");
        if self.devices.is_empty() {
            text.push_str("  no USB devices\n");
        }
        for device in &self.devices {
            let place = match (device.placement, &device.machine, &device.busy_on) {
                (PlacementKind::Attached, Some(machine), _) => format!("attached to {machine}"),
                (PlacementKind::Attach, Some(machine), _) => format!("to be attached to {machine}"),
                (PlacementKind::Held, Some(machine), _) => {
                    format!("on {machine} by a hostdev set up by hand")
                }
                (PlacementKind::Busy, _, Some(machine)) => format!("busy on {machine}"),
                (PlacementKind::OnHold, ..) => match &device.hold {
                    Some(hold) => format!("on hold since {}: {}", hold.since, hold.reason),
                    None => "on hold".to_owned(),
                },
                (PlacementKind::Denied, ..) => "denied".to_owned(),
                (PlacementKind::InUse, ..) => "in use by the host".to_owned(),
                _ => "goes nowhere".to_owned(),
            };
            let conflicts = if device.conflicts.is_empty() {
                String::new()
            } else {
                format!(" (also matches {})", device.conflicts.join(", "))
            };
            text.push_str(&format!(
                "  {:03}/{:03} {}:{} at port {}: {place}{conflicts}\n",
                device.bus, device.device, device.vendor_id, device.product_id, device.port
            ));
        }
        if !self.failing.is_empty() {
            text.push_str("Failing:\n");
            for failing in &self.failing {
                let retry = failing
                    .retry_at
                    .as_deref()
                    .map_or(String::new(), |at| format!(" (next try {at})"));
                text.push_str(&format!("  {} [{}]{retry}\n", failing.error, failing.kind));
            }
        }
        for held in &self.held_back {
            text.push_str(&format!(
                "held back: {} {} {:03}/{:03}: {}\n",
                match held.action.action {
                    crate::explain::ActionKind::Attach => "attach",
                    crate::explain::ActionKind::Detach => "detach",
                },
                held.action.machine,
                held.action.bus,
                held.action.device,
                held.why
            ));
        }
        text
    }
}

fn placement_kind(placement: &Placement) -> PlacementKind {
    match placement {
        Placement::Owned { .. } => PlacementKind::Attached,
        Placement::Held { .. } => PlacementKind::Held,
        Placement::Busy { .. } => PlacementKind::Busy,
        Placement::Attach { .. } => PlacementKind::Attach,
        Placement::OnHold => PlacementKind::OnHold,
        Placement::Denied { .. } => PlacementKind::Denied,
        Placement::InUse { .. } => PlacementKind::InUse,
        Placement::Unassigned => PlacementKind::Unassigned,
    }
}

fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    })
}

/// `time` as RFC 3339 in UTC, to the second: `2026-12-02T05:30:00Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let of_day = seconds % 86_400;
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// The proleptic Gregorian date of `days` since 1970-01-01: eras of 400 years (146,097 days), the
/// year counted from March so that the leap day comes last.
fn civil_date(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // days from 0000-03-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339_in_utc() {
        let at = |seconds: u64| rfc3339(UNIX_EPOCH + Duration::from_secs(seconds));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_796_189_425), "2026-12-02T05:30:25Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
    }
}
