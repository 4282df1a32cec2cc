//! The state and data directories of a daemon (or of `run --once`): the lock it holds, and what it writes after each
//! reconcile whose outcome changed (the status, the holds, the machines it attached devices to).

use std::time::{Instant, SystemTime};

use libvirt_sync::{Assignment, DomainState};

use crate::options::RunOptions;
use crate::reconcile::{Outcome, Reconciler};
use crate::state::holds::{AssignmentRecord, Hold};
use crate::state::status::{DaemonInfo, ReloadStatus, Status};
use crate::state::{read_json, write_json, DataDir, InstanceLock, StateDir};
use crate::Error;

/// The state and data directories of a running daemon.
#[derive(Debug)]
pub struct Shared {
    state: StateDir,
    data: DataDir,
    _lock: InstanceLock,
    _data_lock: InstanceLock,
    info: DaemonInfo,
    /// What was written last, so that a file is replaced only when it changes.
    written_status: Option<Status>,
    written_holds: Option<Vec<Hold>>,
    written_assignments: Option<Vec<Assignment>>,
    recorded: Vec<String>,
    kept: Kept,
}

/// What the state and data directories keep for the reconciler across a restart: the devices on
/// hold, those given to a machine with `attach --to`, and the machines recorded as holding
/// hostdevs the daemon attached. `explain` and `run --once --dry-run` read them too, without
/// taking any lock, so that they say what the daemon does.
#[derive(Debug, Clone, Default)]
pub struct Kept {
    holds: Vec<Hold>,
    assignments: Vec<Assignment>,
    recorded: Vec<String>,
}

impl Kept {
    /// Reads what the directories of `options` keep; a file that cannot be read is warned about
    /// and counts as empty.
    pub fn read(options: &RunOptions) -> Kept {
        Kept::read_from(
            &StateDir::new(&options.state_dir),
            &DataDir::new(&options.data_dir),
        )
    }

    fn read_from(state: &StateDir, data: &DataDir) -> Kept {
        let holds = or_warned(read_json(&state.holds_file()), "no device is on hold");
        let assignments: Option<Vec<AssignmentRecord>> = or_warned(
            read_json(&state.assignments_file()),
            "no device is given to a machine by hand",
        );
        let recorded = or_warned(data.machines(), "the machines it names are not looked at");
        let holds = holds.unwrap_or_default();
        let assignments = assignments
            .unwrap_or_default()
            .into_iter()
            .map(Assignment::from)
            .collect();
        Kept {
            holds,
            assignments,
            recorded,
        }
    }

    /// `reconciler` with these holds, assignments and recorded machines.
    pub fn apply_to(&self, reconciler: Reconciler) -> Reconciler {
        let mut reconciler = reconciler
            .with_holds(self.holds.clone())
            .with_assignments(self.assignments.clone());
        for machine in &self.recorded {
            reconciler.remember(machine);
        }
        reconciler
    }
}

/// What a kept file gave, or (warned about, with `meaning` what that means) the empty value.
fn or_warned<T: Default>(read: Result<T, crate::state::StateError>, meaning: &str) -> T {
    read.unwrap_or_else(|error| {
        log::warn!("{}: {meaning}", crate::error_chain(&error));
        T::default()
    })
}

impl Shared {
    /// Creates the state and data directories and takes their locks (failing when another
    /// daemon holds either), and reads the data directory's record.
    pub fn open(options: &RunOptions) -> Result<Shared, Error> {
        let state = StateDir::new(&options.state_dir);
        state.create()?;
        let lock = state.lock()?;
        let data = DataDir::new(&options.data_dir);
        let data_lock = data.lock()?;
        let kept = Kept::read_from(&state, &data);
        Ok(Shared {
            state,
            data,
            _lock: lock,
            _data_lock: data_lock,
            info: Shared::info_without_state(options),
            written_status: None,
            written_holds: None,
            written_assignments: None,
            recorded: kept.recorded.clone(),
            kept,
        })
    }

    /// What a daemon of `options` knows of itself at the start.
    pub fn info_without_state(options: &RunOptions) -> DaemonInfo {
        DaemonInfo {
            pid: std::process::id(),
            started: SystemTime::now(),
            config: options.config_path.display().to_string(),
            reload: None,
            uri: options.libvirt_uri.clone(),
            connected_since: None,
            udev_events: false,
        }
    }

    /// The state directory.
    pub fn state(&self) -> &StateDir {
        &self.state
    }

    /// `reconciler`, with the holds and assignments the state directory kept and the machines
    /// the data directory recorded; `udev_events`: whether the udev monitor runs.
    pub fn prepare(&mut self, reconciler: Reconciler, udev_events: bool) -> Reconciler {
        self.info.udev_events = udev_events;
        self.kept.apply_to(reconciler)
    }

    /// A reload happened (`status`), and `uri` is in force now.
    pub fn reloaded(&mut self, status: ReloadStatus, uri: Option<&str>) {
        self.info.reload = Some(status);
        self.info.uri = uri.map(str::to_owned);
    }

    /// After a reconcile (`outcome`, the last one that observed when this one could not): writes
    /// what changed, the holds and assignments as `reconciler` has them now (a request may have
    /// changed them since `outcome`); the summary line.
    pub fn update(
        &mut self,
        outcome: &Outcome,
        reconciler: &Reconciler,
        now: Instant,
        wall_now: SystemTime,
    ) -> String {
        match (&outcome.problem, self.info.connected_since) {
            (None, None) => self.info.connected_since = Some(wall_now),
            (Some(_), Some(_)) => self.info.connected_since = None,
            _ => {}
        }
        let status = Status::new(&self.info, outcome, now, wall_now);
        let summary = status.summary(wall_now);
        if self.written_status.as_ref() != Some(&status) {
            match write_json(&self.state.status_file(), &status, 0o644) {
                Ok(()) => self.written_status = Some(status),
                Err(error) => log::warn!("{}", crate::error_chain(&error)),
            }
        }
        let holds = reconciler.holds();
        if self.written_holds.as_deref() != Some(holds) {
            match write_json(&self.state.holds_file(), &holds, 0o644) {
                Ok(()) => self.written_holds = Some(holds.to_vec()),
                Err(error) => log::warn!("{}", crate::error_chain(&error)),
            }
        }
        let assignments = reconciler.assignments();
        if self.written_assignments.as_deref() != Some(assignments) {
            let records: Vec<AssignmentRecord> =
                assignments.iter().map(AssignmentRecord::from).collect();
            match write_json(&self.state.assignments_file(), &records, 0o644) {
                Ok(()) => self.written_assignments = Some(assignments.to_vec()),
                Err(error) => log::warn!("{}", crate::error_chain(&error)),
            }
        }
        if outcome.problem.is_none() {
            let machines = machines_with_owned_hostdevs(outcome, &self.recorded);
            if machines != self.recorded {
                match self.data.record_machines(&machines) {
                    Ok(()) => self.recorded = machines,
                    Err(error) => log::warn!("{}", crate::error_chain(&error)),
                }
            }
        }
        summary
    }
}

/// The machines on which the daemon holds hostdevs it attached after `outcome`: those observed
/// with one (unless its detach succeeded) or given one by an attach that succeeded, and those
/// recorded before (`recorded`) whose state could not be read.
fn machines_with_owned_hostdevs(outcome: &Outcome, recorded: &[String]) -> Vec<String> {
    let mut machines: Vec<String> = Vec::new();
    let mut add = |machine: &str| {
        if !machines.iter().any(|known| known == machine) {
            machines.push(machine.to_owned());
        }
    };
    for domain in &outcome.observation.hypervisor.domains {
        match &domain.state {
            DomainState::Running { hostdevs } => {
                let keeps_one = hostdevs.iter().filter_map(|h| h.owned_spec()).any(|spec| {
                    !outcome.report.outcomes.iter().any(|done| {
                        !done.action.is_attach()
                            && done.result.is_ok()
                            && done.action.machine() == domain.name
                            && *done.action.hostdev() == spec
                    })
                });
                if keeps_one {
                    add(&domain.name);
                }
            }
            DomainState::Unreadable { .. } if recorded.contains(&domain.name) => add(&domain.name),
            _ => {}
        }
    }
    for done in &outcome.report.outcomes {
        if done.action.is_attach() && done.result.is_ok() {
            add(done.action.machine());
        }
    }
    machines.sort();
    machines
}
