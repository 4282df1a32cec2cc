//! One reconcile: observe the devices and the configured domains, match, plan, apply.
//!
//! [`match_devices`] and the planner are pure; a [`Reconciler`] holds what lives across reconciles:
//! the discovery, the hypervisor connection (opened on demand, so a daemon started before libvirtd
//! keeps trying), the backoff of failed actions, and what it logged already, so that a conflict or
//! a failure is said once and not on every tick.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use hotplug_match::Device;
use libvirt_sync::{
    apply, plan, Action, ApplyReport, DomainState, HostdevSpec, Hypervisor, MatchedDevice,
    Placement, Plan,
};
use usb_discovery::{Discovery, Unreadable, UsbDevice};

use crate::backoff::Backoff;
use crate::config::{Config, Machine};
use crate::Error;

/// Opens a hypervisor connection (the real libvirt one, or a mock in tests).
pub type Connector =
    Box<dyn FnMut(Option<&str>) -> Result<Box<dyn Hypervisor>, libvirt_sync::Error> + Send>;

/// The identity the daemon attaches a device by.
pub fn hostdev_of(device: &UsbDevice) -> HostdevSpec {
    HostdevSpec {
        bus: device.bus,
        device: device.device,
        vendor_id: device.vendor_id,
        product_id: device.product_id,
    }
}

/// Every device with the machines whose rules match it, in config order (hubs match none).
pub fn match_devices(machines: &[Machine], devices: &[UsbDevice]) -> Vec<MatchedDevice> {
    devices
        .iter()
        .map(|device| MatchedDevice {
            spec: hostdev_of(device),
            machines: machines
                .iter()
                .filter(|machine| machine.rules.matches(device))
                .map(|machine| machine.name.clone())
                .collect(),
        })
        .collect()
}

/// The names of the configured machines, in config order.
pub fn machine_names(config: &Config) -> Vec<String> {
    config
        .machines
        .iter()
        .map(|machine| machine.name.clone())
        .collect()
}

/// What a reconcile saw.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The USB devices present, sorted by bus and device.
    pub devices: Vec<UsbDevice>,
    /// The configured domains that libvirt knows, in config order.
    pub domains: Vec<DomainState>,
    /// Devices present that could not be read.
    pub unreadable: Vec<Unreadable>,
    /// Configured domains that libvirt has but whose state or XML could not be read.
    pub unreadable_domains: Vec<String>,
}

/// What a reconcile did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// What it saw.
    pub observed: Observed,
    /// The plan made.
    pub plan: Plan,
    /// What applying it did (empty for a dry run).
    pub report: ApplyReport,
    /// Planned actions not tried now because they failed recently and wait for their retry time.
    pub deferred: Vec<Action>,
    /// Detaches held back because some device could not be read: it may be the one whose hostdev
    /// would be detached as gone.
    pub held_back: Vec<Action>,
}

impl Outcome {
    /// Whether every action tried succeeded and none is waiting for a retry.
    pub fn is_success(&self) -> bool {
        self.report.is_success() && self.deferred.is_empty()
    }
}

/// The state kept between reconciles.
pub struct Reconciler {
    discovery: Box<dyn Discovery + Send>,
    connector: Connector,
    hypervisor: Option<(Option<String>, Box<dyn Hypervisor>)>,
    backoff: Backoff<Action>,
    /// The conflict or busy note last logged for each device.
    notes: HashMap<HostdevSpec, String>,
    /// The last connection or observation problem logged, so that it is said once.
    last_problem: Option<String>,
    /// Devices already described at debug level, so that a tick does not repeat them.
    described: HashSet<UsbDevice>,
    /// Every machine configured since the start, so that the hostdevs this daemon attached to a
    /// machine are detached when a reload drops the machine from the configuration.
    remembered: Vec<String>,
    /// Whether failed actions are retried later (a daemon), or not (a single run).
    retries: bool,
    /// Unreadable devices already logged.
    unreadable_logged: HashSet<Unreadable>,
    /// Unreadable domains already logged (their error lines).
    unreadable_domains_logged: HashSet<String>,
}

impl Reconciler {
    /// A reconciler reading devices from `discovery` and opening connections with `connector`.
    pub fn new(discovery: Box<dyn Discovery + Send>, connector: Connector) -> Reconciler {
        Reconciler {
            discovery,
            connector,
            hypervisor: None,
            backoff: Backoff::new(),
            notes: HashMap::new(),
            last_problem: None,
            described: HashSet::new(),
            remembered: Vec::new(),
            retries: false,
            unreadable_logged: HashSet::new(),
            unreadable_domains_logged: HashSet::new(),
        }
    }

    /// Says, when an action fails, that it will be retried (as the daemon does).
    pub fn with_retries(mut self) -> Reconciler {
        self.retries = true;
        self
    }

    /// The machines to observe: the configured ones in config order, then those configured
    /// earlier (since the start) and dropped since.
    pub fn machines_to_observe(&mut self, config: &Config) -> Vec<String> {
        let mut names = machine_names(config);
        for name in &names {
            if !self.remembered.contains(name) {
                self.remembered.push(name.clone());
            }
        }
        for name in &self.remembered {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    /// The devices present and the configured domains (and those dropped by a reload since the
    /// start), connecting first if needed. `uri` is the libvirt URI in force; a different one than
    /// last time reconnects. With no machine at all, libvirt is not asked.
    pub fn observe(&mut self, config: &Config, uri: Option<&str>) -> Result<Observed, Error> {
        let names = self.machines_to_observe(config);
        self.observe_machines(names, uri)
    }

    /// [`Reconciler::observe`] for the machines `names`.
    fn observe_machines(
        &mut self,
        names: Vec<String>,
        uri: Option<&str>,
    ) -> Result<Observed, Error> {
        let scan = self.discovery.scan_all()?;
        self.describe(&scan.devices);
        self.log_unreadable(&scan.unreadable);
        if names.is_empty() {
            return Ok(Observed {
                devices: scan.devices,
                unreadable: scan.unreadable,
                ..Observed::default()
            });
        }
        let hypervisor = self.connection(uri)?;
        let domains = match hypervisor.domains(&names) {
            Ok(domains) => domains,
            Err(error) => {
                if matches!(error, libvirt_sync::Error::ConnectionLost { .. }) {
                    self.hypervisor = None;
                }
                return Err(Error::Libvirt(error));
            }
        };
        let unreadable_domains = hypervisor.unreadable_domains();
        self.log_unreadable_domains(&unreadable_domains);
        Ok(Observed {
            devices: scan.devices,
            domains,
            unreadable: scan.unreadable,
            unreadable_domains: unreadable_domains
                .iter()
                .filter_map(|error| match error {
                    libvirt_sync::Error::ReadDomain { domain, .. }
                    | libvirt_sync::Error::DomainXml { domain, .. } => Some(domain.clone()),
                    _ => None,
                })
                .collect(),
        })
    }

    /// One full reconcile at `now`: observe, plan, and (unless `dry_run`) apply the actions whose
    /// backoff allows it. Failures are logged once per action and error; the retry waits grow up to
    /// `config.interval`.
    pub fn reconcile(
        &mut self,
        config: &Config,
        uri: Option<&str>,
        now: Instant,
        dry_run: bool,
    ) -> Result<Outcome, Error> {
        let names = self.machines_to_observe(config);
        if names.is_empty() {
            // No machine configured (now or before): nothing to scan or ask.
            return Ok(Outcome::default());
        }
        let observed = self.observe_machines(names, uri)?;
        self.last_problem = None;
        let matched = match_devices(&config.machines, &observed.devices);
        let mut plan = plan(&matched, &observed.domains);
        let mut held_back = hold_back_detaches_of_absent(&mut plan, &observed);
        held_back.extend(hold_back_attaches_near_unreadable_domains(
            &mut plan, &matched, &observed,
        ));
        self.log_notes(&plan);
        self.backoff.retain(|action| plan.actions.contains(action));
        if dry_run {
            return Ok(Outcome {
                observed,
                plan,
                held_back,
                ..Outcome::default()
            });
        }
        let (due, deferred): (Vec<Action>, Vec<Action>) = plan
            .actions
            .iter()
            .cloned()
            .partition(|action| self.backoff.is_due(action, now));
        let report = match self.hypervisor.as_mut() {
            Some((_, hypervisor)) => apply(
                &Plan {
                    actions: due,
                    decisions: Vec::new(),
                },
                hypervisor.as_mut(),
            ),
            None => ApplyReport::default(),
        };
        // Retry times count from when the actions ended, not from when the reconcile began (a
        // detach may wait seconds for libvirt).
        self.record(&report, Instant::now().max(now), config.interval);
        Ok(Outcome {
            observed,
            plan,
            report,
            deferred,
            held_back,
        })
    }

    /// Logs a failed reconcile, unless the same problem was logged last time (a daemon whose
    /// libvirtd is down says so once, not on every tick).
    pub fn log_problem_once(&mut self, error: &Error) {
        let line = crate::error_chain(error);
        if self.last_problem.as_deref() != Some(line.as_str()) {
            log::warn!("{line}");
            self.last_problem = Some(line);
        }
    }

    /// When the earliest failed action may be tried again.
    pub fn next_retry(&self) -> Option<Instant> {
        self.backoff.next_retry()
    }

    fn connection(&mut self, uri: Option<&str>) -> Result<&mut Box<dyn Hypervisor>, Error> {
        let connection = match self.hypervisor.take() {
            Some(connection) if connection.0.as_deref() == uri => connection,
            _ => {
                let hypervisor = (self.connector)(uri)?;
                if self.last_problem.is_some() {
                    log::info!("connected to libvirt");
                }
                (uri.map(str::to_owned), hypervisor)
            }
        };
        Ok(&mut self.hypervisor.insert(connection).1)
    }

    fn record(&mut self, report: &ApplyReport, now: Instant, cap: Duration) {
        for outcome in &report.outcomes {
            match &outcome.result {
                Ok(()) => {
                    self.backoff.succeeded(&outcome.action);
                    log::info!("{}", done(&outcome.action));
                }
                Err(error) => {
                    let message = crate::error_chain(error);
                    if self
                        .backoff
                        .failed(outcome.action.clone(), &message, now, cap)
                    {
                        let retry = if self.retries {
                            " (retrying with backoff)"
                        } else {
                            ""
                        };
                        log::warn!("{message}{retry}");
                    }
                }
            }
        }
    }

    /// Logs each unreadable device once (per problem), not on every scan.
    fn log_unreadable(&mut self, unreadable: &[Unreadable]) {
        for device in unreadable {
            if self.unreadable_logged.insert(device.clone()) {
                log::warn!(
                    "cannot read USB device {} ({}): it is left out, and hostdevs this daemon \
                     attached are not detached while a device cannot be read",
                    device.kernel_name,
                    device.problem
                );
            }
        }
        self.unreadable_logged
            .retain(|device| unreadable.contains(device));
    }

    /// Logs each unreadable domain once (per error), not on every reconcile.
    fn log_unreadable_domains(&mut self, errors: &[libvirt_sync::Error]) {
        let lines: HashSet<String> = errors
            .iter()
            .map(|error| crate::error_chain(error))
            .collect();
        for line in &lines {
            if !self.unreadable_domains_logged.contains(line) {
                log::warn!(
                    "{line}: it is left out, and devices it matches are not attached elsewhere \
                     until it can be read"
                );
            }
        }
        self.unreadable_domains_logged = lines;
    }

    fn log_notes(&mut self, plan: &Plan) {
        let mut seen = HashSet::new();
        for decision in &plan.decisions {
            seen.insert(decision.device);
            let note = match (&decision.placement, decision.conflicts.as_slice()) {
                (Placement::Busy { machine }, _) => format!(
                    "{} is held by a hostdev on {machine} that this daemon did not attach, and {machine} \
                     does not match it: it stays there and goes nowhere else",
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
                _ => {
                    self.notes.remove(&decision.device);
                    continue;
                }
            };
            if self.notes.get(&decision.device) != Some(&note) {
                log::info!("{note}");
                self.notes.insert(decision.device, note);
            }
        }
        self.notes.retain(|device, _| seen.contains(device));
    }

    fn describe(&mut self, devices: &[UsbDevice]) {
        if !log::log_enabled!(log::Level::Debug) {
            return;
        }
        for device in devices {
            if self.described.contains(device) {
                continue;
            }
            let properties: Vec<String> = device
                .properties
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            log::debug!(
                "found {} at port {}{}: properties: {}; tags: {:?}; current tags: {:?}",
                hostdev_of(device),
                device.kernel_name(),
                if device.is_hub() { " (hub)" } else { "" },
                properties.join(" "),
                device.tags,
                device.current_tags,
            );
        }
        self.described = devices.iter().cloned().collect();
    }
}

/// While some device present cannot be read, an owned hostdev whose device is not among those read
/// may be that device: its detach (unplugged or replugged, as the plan sees it) is taken out of the
/// plan and returned. Detaches of devices that were read (no longer matching, placed elsewhere) stay.
pub fn hold_back_detaches_of_absent(plan: &mut Plan, observed: &Observed) -> Vec<Action> {
    if observed.unreadable.is_empty() {
        return Vec::new();
    }
    let present: HashSet<HostdevSpec> = observed.devices.iter().map(hostdev_of).collect();
    let (kept, held_back) = plan.actions.drain(..).partition(
        |action| !matches!(action, Action::Detach { hostdev, .. } if !present.contains(hostdev)),
    );
    plan.actions = kept;
    held_back
}

/// A domain whose state could not be read may hold any device it matches: attaching such a device
/// to another machine could put it on two. Those attaches are taken out of the plan and returned.
pub fn hold_back_attaches_near_unreadable_domains(
    plan: &mut Plan,
    matched: &[MatchedDevice],
    observed: &Observed,
) -> Vec<Action> {
    if observed.unreadable_domains.is_empty() {
        return Vec::new();
    }
    let near_unreadable: HashSet<HostdevSpec> = matched
        .iter()
        .filter(|device| {
            device
                .machines
                .iter()
                .any(|machine| observed.unreadable_domains.contains(machine))
        })
        .map(|device| device.spec)
        .collect();
    let (kept, held_back) = plan.actions.drain(..).partition(|action| {
        !matches!(action, Action::Attach { hostdev, .. } if near_unreadable.contains(hostdev))
    });
    plan.actions = kept;
    held_back
}

/// The log line of a successful action.
fn done(action: &Action) -> String {
    match action {
        Action::Attach { machine, hostdev } => format!("attached {hostdev} to {machine}"),
        Action::Detach { machine, hostdev } => format!("detached {hostdev} from {machine}"),
    }
}
