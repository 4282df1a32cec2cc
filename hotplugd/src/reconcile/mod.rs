//! One reconcile, as data flowing one way: observe → match → plan → apply → report.
//!
//! 1. Observe (I/O): scans the devices and asks the hypervisor about the machines to observe
//!    (configured, and dropped since the start) and every other running domain: an
//!    [`Observation`]. On an event that names what changed, the last observation is refreshed
//!    instead (only the changed devices re-read, see `incremental`).
//! 2. [`plan_input`] (pure): matches every device against the configured machines once and builds
//!    the planner's [`PlanInput`] from the observation and the actions waiting for a retry.
//! 3. [`libvirt_sync::plan`] (pure): the whole [`Plan`](libvirt_sync::Plan); nothing after it changes the actions.
//! 4. [`libvirt_sync::apply`] (I/O): the plan's actions, unless it is a dry run.
//! 5. The [`Outcome`] of it all, which [`crate::report`] compares with the previous one to log
//!    what changed.
//!
//! [`Reconciler::reconcile`] (and [`Reconciler::reconcile_with`], the daemon's, given what
//! changed) runs the five steps; `explain`, `run --once` (with or without `--dry-run`) and the
//! daemon loop all call it. The reconciler keeps what lives across
//! reconciles: the discovery, the hypervisor (its backend reconnects by itself), the backoff of
//! failed actions with their last errors, and the machines configured since the start.

mod incremental;
mod outcome;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use libvirt_sync::{
    apply, plan, Action, ApplyReport, Assignment, DomainState, Excluded, Exclusion, HostdevSpec,
    Hypervisor, HypervisorView, MatchedDevice, ObservedDomain, PlanInput,
};
use usb_discovery::{Discovery, Unreadable, UsbDevice};

use crate::backoff::Backoff;
use crate::config::{Config, Machine};
use crate::state::holds::{manual_detaches, Hold};
use crate::Error;

pub use incremental::{Change, Refresh};
pub use outcome::{Failing, Outcome, Timings};

/// Opens a hypervisor for a libvirt URI (the real, bounded libvirt one, or a mock in tests). It
/// connects lazily: opening fails only when no hypervisor can be made at all.
pub type Connector =
    Box<dyn FnMut(Option<&str>) -> Result<Box<dyn Hypervisor>, libvirt_sync::Error> + Send>;

/// The CPU time the calling thread has run so far.
fn thread_cpu_time() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

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

/// The managed machines as they are once `report`'s successful actions took effect: what the next
/// observation should show, unless someone else changed them.
fn after_apply(domains: &[ObservedDomain], report: &ApplyReport) -> Vec<ObservedDomain> {
    let mut domains = domains.to_vec();
    for done in report.outcomes.iter().filter(|done| done.result.is_ok()) {
        let spec = *done.action.hostdev();
        let Some(libvirt_sync::DomainState::Running { hostdevs }) = domains
            .iter_mut()
            .find(|domain| domain.name == done.action.machine())
            .map(|domain| &mut domain.state)
        else {
            continue;
        };
        if done.action.is_attach() {
            hostdevs.push(spec.into());
        } else {
            hostdevs.retain(|hostdev| hostdev.owned_spec() != Some(spec));
        }
    }
    domains
}

/// What one look at the host and the hypervisor saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    /// The USB devices read, sorted by bus and device.
    pub devices: Vec<UsbDevice>,
    /// The devices present that could not be read.
    pub unreadable: Vec<Unreadable>,
    /// The machines observed (the configured ones in config order, then those dropped since the
    /// start), and every other running domain. Empty when no machine is to be observed: libvirt
    /// is not asked then.
    pub hypervisor: HypervisorView,
}

/// What the host keeps of `devices`: those a top-level deny rule matches, and those it uses.
pub fn exclusions(config: &Config, devices: &[UsbDevice]) -> Vec<Excluded> {
    devices
        .iter()
        .filter_map(|device| {
            let why = if let Some(denial) = config.deny.explain(device) {
                Exclusion::Denied {
                    rule: denial.to_string(),
                }
            } else if device.is_in_use_by_host() {
                let reasons: Vec<String> =
                    device.host_use.iter().map(ToString::to_string).collect();
                Exclusion::InUse {
                    reason: reasons.join("; "),
                }
            } else {
                return None;
            };
            Some(Excluded {
                device: hostdev_of(device),
                why,
            })
        })
        .collect()
}

/// Step 2: the planner's input. Pure: every device is matched against `config`'s machines (and its
/// deny rules) once.
pub fn plan_input(config: &Config, observation: &Observation, retrying: Vec<Action>) -> PlanInput {
    PlanInput {
        exclusions: exclusions(config, &observation.devices),
        devices: match_devices(&config.machines, &observation.devices),
        unreadable_devices: observation
            .unreadable
            .iter()
            .map(|device| device.kernel_name.clone())
            .collect(),
        machines: observation.hypervisor.domains.clone(),
        others: observation.hypervisor.others.clone(),
        retrying,
        ..PlanInput::default()
    }
}

/// Whether a reconcile changes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Apply the plan.
    Apply,
    /// Plan only (`explain`, `--dry-run`).
    DryRun,
}

/// The state kept between reconciles.
pub struct Reconciler {
    discovery: Box<dyn Discovery + Send>,
    connector: Connector,
    hypervisor: Option<(Option<String>, Box<dyn Hypervisor>)>,
    backoff: Backoff<Action>,
    /// The failing actions and their last errors.
    failing: BTreeMap<Action, Failing>,
    /// Every machine configured since the start (and those recorded in the data directory, or
    /// given a device with `attach --to`), so that the hostdevs this daemon attached to a machine
    /// are detached when it is no longer configured.
    remembered: Vec<String>,
    /// The devices on hold.
    holds: Vec<Hold>,
    /// The devices a person assigned to a machine.
    assignments: Vec<Assignment>,
    /// Whether a hostdev the daemon attached that a person removed puts its device on hold (the
    /// daemon); a single run has nothing to compare with.
    detects_manual_detaches: bool,
    /// The managed machines of the last observation, and the actions tried after it.
    last_machines: Vec<ObservedDomain>,
    last_attempted: Vec<Action>,
    /// The detaches tried (in any reconcile) whose hostdev was still there when last seen: one
    /// that failed or timed out may still complete, and its hostdev then vanishes without a
    /// person's hand.
    detaches_pending: Vec<Action>,
    /// The last observation, as its reconcile left it, for the incremental path; `None` after
    /// any doubt (a reconcile that could not observe, or whose actions did not all succeed).
    cache: Option<incremental::Cache>,
}

impl Reconciler {
    /// A reconciler reading devices from `discovery` and making hypervisors with `connector`.
    pub fn new(discovery: Box<dyn Discovery + Send>, connector: Connector) -> Reconciler {
        Reconciler {
            discovery,
            connector,
            hypervisor: None,
            backoff: Backoff::new(),
            failing: BTreeMap::new(),
            remembered: Vec::new(),
            holds: Vec::new(),
            assignments: Vec::new(),
            detects_manual_detaches: false,
            last_machines: Vec::new(),
            last_attempted: Vec::new(),
            detaches_pending: Vec::new(),
            cache: None,
        }
    }

    /// A reconciler that notices hostdevs a person removed, and puts their devices on hold, with
    /// the holds `holds` to start with (those the state directory kept): the daemon's.
    pub fn with_holds(mut self, holds: Vec<Hold>) -> Reconciler {
        self.holds = holds;
        self.detects_manual_detaches = true;
        self
    }

    /// A reconciler whose devices given to a machine with `attach --to` are `assignments` to
    /// start with (those the state directory kept); their machines are observed.
    pub fn with_assignments(mut self, assignments: Vec<Assignment>) -> Reconciler {
        for assignment in &assignments {
            self.remember(&assignment.machine);
        }
        self.assignments = assignments;
        self
    }

    /// The devices given to a machine with `attach --to`, until they are unplugged.
    pub fn assignments(&self) -> &[Assignment] {
        &self.assignments
    }

    /// Observes `machine` from now on, as a machine the daemon manages (recorded as holding its
    /// hostdevs, or the target of `attach --to`).
    pub fn remember(&mut self, machine: &str) {
        if !self.remembered.iter().any(|known| known == machine) {
            self.remembered.push(machine.to_owned());
        }
    }

    /// The devices on hold.
    pub fn holds(&self) -> &[Hold] {
        &self.holds
    }

    /// Puts `spec` on hold (it was on `machine`, if any), for `reason`; it loses any assignment.
    pub fn hold(&mut self, spec: HostdevSpec, machine: Option<&str>, reason: String) {
        self.assignments
            .retain(|assignment| assignment.device != spec);
        if !self.holds.iter().any(|hold| hold.spec() == spec) {
            self.holds.push(Hold::new(spec, machine, reason));
        }
    }

    /// Releases the hold of `spec`; whether there was one.
    pub fn release(&mut self, spec: HostdevSpec) -> bool {
        let before = self.holds.len();
        self.holds.retain(|hold| hold.spec() != spec);
        self.holds.len() != before
    }

    /// Releases every hold of a device that was on `machine` (its rules changed).
    pub fn release_holds_on(&mut self, machine: &str) {
        self.holds
            .retain(|hold| hold.machine.as_deref() != Some(machine));
    }

    /// Assigns `spec` to `machine` until it is unplugged, releasing any hold.
    pub fn assign(&mut self, spec: HostdevSpec, machine: &str) {
        self.release(spec);
        self.remember(machine);
        self.assignments
            .retain(|assignment| assignment.device != spec);
        self.assignments.push(Assignment {
            device: spec,
            machine: machine.to_owned(),
        });
    }

    /// The machines to observe: the configured ones in config order, then those configured
    /// earlier (since the start) and dropped since.
    pub fn machines_to_observe(&mut self, config: &Config) -> Vec<String> {
        let mut names: Vec<String> = config
            .machines
            .iter()
            .map(|machine| machine.name.clone())
            .collect();
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

    /// Step 1: the devices present and the machines `names` (with every other running domain),
    /// timing the scan and libvirt. `uri` is the libvirt URI in force; a different one than last
    /// time makes a new hypervisor. With no machine at all, libvirt is not asked.
    fn observe_timed(
        &mut self,
        names: &[String],
        uri: Option<&str>,
        timings: &mut Timings,
    ) -> Result<Observation, Error> {
        let scanning = Instant::now();
        let scan = self.discovery.scan_all()?;
        timings.scan = scanning.elapsed();
        let asking = Instant::now();
        let hypervisor = if names.is_empty() {
            HypervisorView::default()
        } else {
            self.hypervisor(uri)?.observe(names)?
        };
        timings.libvirt = asking.elapsed();
        Ok(Observation {
            devices: scan.devices,
            unreadable: scan.unreadable,
            hypervisor,
        })
    }

    /// One full reconcile at `now` (steps 1 to 5). Actions that failed recently and whose retry
    /// time has not come are held back by the planner; the retry waits grow up to `interval`.
    pub fn reconcile(
        &mut self,
        config: &Config,
        uri: Option<&str>,
        now: Instant,
        mode: Mode,
        interval: Duration,
    ) -> Result<Outcome, Error> {
        self.reconcile_with(config, uri, now, mode, interval, &Refresh::Full)
    }

    /// One reconcile after `refresh`: incremental (step 1 from the last observation, re-reading
    /// only what changed) when it names what changed and the last reconcile left no doubt, else
    /// full.
    pub fn reconcile_with(
        &mut self,
        config: &Config,
        uri: Option<&str>,
        now: Instant,
        mode: Mode,
        interval: Duration,
        refresh: &Refresh,
    ) -> Result<Outcome, Error> {
        let started = Instant::now();
        let cpu_started = thread_cpu_time();
        let names = self.machines_to_observe(config);
        let cache = self
            .cache
            .take()
            .filter(|cache| cache.names == names && cache.uri.as_deref() == uri);
        let mut timings = Timings::default();
        let observation = match (refresh, cache) {
            (Refresh::Only(changes), Some(cache)) => {
                timings.incremental = true;
                let refreshed = incremental::refresh(
                    cache.observation,
                    changes,
                    &*self.discovery,
                    config.rules_need_interfaces(),
                );
                timings.scan = refreshed.scan;
                refreshed.observation
            }
            _ => self.observe_timed(&names, uri, &mut timings)?,
        };
        let planning = Instant::now();
        let retrying = match mode {
            Mode::Apply => self.backoff.waiting(now).cloned().collect(),
            Mode::DryRun => Vec::new(),
        };
        let mut input = plan_input(config, &observation, retrying);
        self.update_holds(&observation, &input.devices);
        input.holds = self.holds.iter().map(Hold::spec).collect();
        input.assignments = self.assignments.clone();
        let plan = plan(&input);
        timings.plan = planning.elapsed();
        let wanted = |action: &Action| {
            plan.actions.contains(action)
                || plan.held_back.iter().any(|held| held.action == *action)
        };
        self.backoff.retain(wanted);
        self.failing.retain(|action, _| wanted(action));
        timings.cpu_before_calls = thread_cpu_time().saturating_sub(cpu_started);
        let report = match (mode, self.hypervisor.as_mut()) {
            (Mode::Apply, Some((_, hypervisor))) => apply(&plan, hypervisor.as_mut()),
            _ => ApplyReport::default(),
        };
        // Retry times count from when the actions ended, not from when the reconcile began (a
        // detach may wait seconds for libvirt).
        self.record(&report, Instant::now().max(now), interval);
        for (action, failing) in &mut self.failing {
            failing.retry_at = self.backoff.retry_at(action);
        }
        let domains_after = after_apply(&observation.hypervisor.domains, &report);
        self.cache = report.is_success().then(|| incremental::Cache {
            names,
            uri: uri.map(str::to_owned),
            observation: Observation {
                hypervisor: HypervisorView {
                    domains: domains_after.clone(),
                    others: observation.hypervisor.others.clone(),
                },
                ..observation.clone()
            },
        });
        timings.total = started.elapsed();
        if mode == Mode::Apply {
            self.last_machines = domains_after;
            self.last_attempted = report
                .outcomes
                .iter()
                .map(|outcome| outcome.action.clone())
                .collect();
            for outcome in &report.outcomes {
                if outcome.result.is_err()
                    && !outcome.action.is_attach()
                    && !self.detaches_pending.contains(&outcome.action)
                {
                    self.detaches_pending.push(outcome.action.clone());
                }
            }
        }
        Ok(Outcome {
            observation,
            input,
            plan,
            report,
            failing: self.failing.clone(),
            holds: self.holds.clone(),
            dry_run: mode == Mode::DryRun,
            problem: None,
            timings,
        })
    }

    /// Puts on hold what a person detached since the last observation, and forgets the holds and
    /// assignments of devices that are gone (unplugged, or plugged in again under a new number).
    /// While some device cannot be read, nothing is forgotten: it may be that device.
    fn update_holds(&mut self, observation: &Observation, devices: &[MatchedDevice]) {
        if self.detects_manual_detaches {
            let attempted: Vec<Action> = self
                .last_attempted
                .iter()
                .chain(&self.detaches_pending)
                .cloned()
                .collect();
            let removed = manual_detaches(
                &self.last_machines,
                &observation.hypervisor.domains,
                &attempted,
                devices,
                &self.assignments,
            );
            for (machine, spec) in removed {
                self.hold(
                    spec,
                    Some(&machine),
                    format!("its hostdev was removed from {machine}, not by this daemon"),
                );
            }
        }
        // A pending detach is over once its hostdev is seen gone (or its machine stopped).
        let domains = &observation.hypervisor.domains;
        self.detaches_pending.retain(|action| {
            domains.iter().any(|domain| {
                domain.name == action.machine()
                    // Not readable now: whether it went is not known.
                    && (matches!(domain.state, DomainState::Unreadable { .. })
                        || domain
                            .state
                            .hostdevs()
                            .iter()
                            .any(|hostdev| hostdev.owned_spec() == Some(*action.hostdev())))
            })
        });
        if observation.unreadable.is_empty() {
            let present: Vec<HostdevSpec> = observation.devices.iter().map(hostdev_of).collect();
            self.holds.retain(|hold| present.contains(&hold.spec()));
            self.assignments
                .retain(|assignment| present.contains(&assignment.device));
        }
    }

    /// Something changed (a udev or domain event, a reload): actions that failed permanently may
    /// be tried again at once.
    pub fn something_changed(&mut self, now: Instant) {
        self.backoff.something_changed(now);
    }

    /// When the earliest failed action may be tried again.
    pub fn next_retry(&self) -> Option<Instant> {
        self.backoff.next_retry()
    }

    fn hypervisor(&mut self, uri: Option<&str>) -> Result<&mut Box<dyn Hypervisor>, Error> {
        let current = match self.hypervisor.take() {
            Some(current) if current.0.as_deref() == uri => current,
            _ => (uri.map(str::to_owned), (self.connector)(uri)?),
        };
        Ok(&mut self.hypervisor.insert(current).1)
    }

    fn record(&mut self, report: &ApplyReport, now: Instant, cap: Duration) {
        for outcome in &report.outcomes {
            match &outcome.result {
                Ok(()) => {
                    self.backoff.succeeded(&outcome.action);
                    self.failing.remove(&outcome.action);
                }
                Err(error) => {
                    self.backoff
                        .failed(outcome.action.clone(), error.kind(), now, cap);
                    self.failing.insert(
                        outcome.action.clone(),
                        Failing {
                            message: crate::error_chain(error),
                            kind: error.kind(),
                            retry_at: self.backoff.retry_at(&outcome.action),
                        },
                    );
                }
            }
        }
    }
}
