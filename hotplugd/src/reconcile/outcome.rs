//! What a reconcile saw, planned and did: the value the log, `explain` and the exit status are
//! made from.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use libvirt_sync::{Action, ApplyReport, DomainState, ErrorKind, Plan, PlanInput};

use super::Observation;
use crate::state::holds::Hold;

/// A failing action's last error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failing {
    /// The error and its causes on one line.
    pub message: String,
    /// Whether it is retried on the fast backoff (transient) or when something changes.
    pub kind: ErrorKind,
    /// When it may be tried again.
    pub retry_at: Option<Instant>,
}

/// What one reconcile saw, planned and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// What it saw.
    pub observation: Observation,
    /// What the planner was given (the devices with the machines matching each, in the order of
    /// the observation's devices).
    pub input: PlanInput,
    /// The whole plan.
    pub plan: Plan,
    /// What applying it did (empty for a dry run).
    pub report: ApplyReport,
    /// Every action failing now, this time or before (and still planned), with its last error.
    pub failing: BTreeMap<Action, Failing>,
    /// The devices on hold.
    pub holds: Vec<Hold>,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// Why it could not observe (libvirt unreachable, the device list unreadable), on one line;
    /// everything else is then the last outcome that could.
    pub problem: Option<String>,
    /// How long its stages took.
    pub timings: Timings,
}

/// How long the stages of a reconcile took (the libvirt calls are in the report).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Whether it started from the last observation (re-reading only what changed).
    pub incremental: bool,
    /// Reading the devices: every one, or those that changed.
    pub scan: Duration,
    /// Asking libvirt about the domains (nothing when incremental).
    pub libvirt: Duration,
    /// Matching and planning.
    pub plan: Duration,
    /// The whole reconcile, the libvirt calls included.
    pub total: Duration,
    /// The CPU time the reconciling thread ran before its first libvirt call (observing and
    /// planning): what the daemon itself costs on an event, where the wall times above also
    /// count waiting for the CPU on a busy host.
    pub cpu_before_calls: Duration,
}

impl Outcome {
    /// Whether every action tried succeeded.
    pub fn is_success(&self) -> bool {
        self.report.is_success()
    }

    /// The outcome of a reconcile that could not observe, after `self`: what was known stays,
    /// nothing was done.
    pub fn failed(&self, problem: String) -> Outcome {
        Outcome {
            report: ApplyReport::default(),
            problem: Some(problem),
            ..self.clone()
        }
    }

    /// The configured (or remembered) machines that could not be read, with the error on one
    /// line.
    pub fn unreadable_machines(&self) -> impl Iterator<Item = (&str, String)> + '_ {
        self.observation
            .hypervisor
            .domains
            .iter()
            .filter_map(|domain| match &domain.state {
                DomainState::Unreadable { error } => {
                    Some((domain.name.as_str(), crate::error_chain(error)))
                }
                _ => None,
            })
    }
}
