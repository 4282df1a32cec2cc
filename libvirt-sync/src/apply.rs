//! Running a [`Plan`] against a [`Hypervisor`], every action whatever happens to the others.

use std::fmt;
use std::time::{Duration, Instant};

use crate::{Action, Cause, Error, ErrorKind, HostdevSpec, Hypervisor, Plan};

/// What became of one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionOutcome {
    /// The action.
    pub action: Action,
    /// `Ok` when the hypervisor did it, else its error.
    pub result: Result<(), Error>,
    /// How long the hypervisor call took (zero when it was not made).
    pub took: Duration,
}

/// What became of each action of a plan, in the order they ran.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApplyReport {
    /// One outcome per action.
    pub outcomes: Vec<ActionOutcome>,
}

impl ApplyReport {
    /// Whether every action succeeded (also when there were none).
    pub fn is_success(&self) -> bool {
        self.outcomes.iter().all(|outcome| outcome.result.is_ok())
    }

    /// The actions that failed, with their errors, in the order they ran.
    pub fn failures(&self) -> impl Iterator<Item = (&Action, &Error)> + '_ {
        self.outcomes
            .iter()
            .filter_map(|outcome| outcome.result.as_ref().err().map(|e| (&outcome.action, e)))
    }
}

impl fmt::Display for ApplyReport {
    /// One line per action: `detach 003/005 (046d:0825) from vm: ok`, or the error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for outcome in &self.outcomes {
            match &outcome.result {
                Ok(()) => writeln!(f, "{}: ok", outcome.action)?,
                Err(error) => writeln!(f, "{}: {}", outcome.action, crate::error_chain(error))?,
            }
        }
        Ok(())
    }
}

/// Runs every action of `plan`: all detaches first (freeing devices that move), then all attaches,
/// each group in plan order. A failed action does not stop the others; the report says what
/// became of each.
///
/// ```
/// use libvirt_sync::{apply, Action, HostdevSpec, MockHypervisor, Plan};
///
/// let webcam = HostdevSpec { bus: 3, device: 5, vendor_id: 0x046d, product_id: 0x0825 };
/// let mut hypervisor = MockHypervisor::new().with_domain("lab", true);
/// let plan = Plan {
///     actions: vec![Action::Attach { machine: "lab".into(), hostdev: webcam }],
///     ..Plan::default()
/// };
/// let report = apply(&plan, &mut hypervisor);
/// assert!(report.is_success());
/// assert_eq!(hypervisor.hostdevs("lab")[0].owned_spec(), Some(webcam));
/// ```
pub fn apply(plan: &Plan, hypervisor: &mut dyn Hypervisor) -> ApplyReport {
    let detaches = plan
        .actions
        .iter()
        .filter(|action| matches!(action, Action::Detach { .. }));
    let attaches = plan
        .actions
        .iter()
        .filter(|action| matches!(action, Action::Attach { .. }));
    let mut outcomes: Vec<ActionOutcome> = Vec::with_capacity(plan.actions.len());
    for action in detaches.chain(attaches) {
        let started = Instant::now();
        let result = match action {
            Action::Detach { machine, hostdev } => hypervisor.detach(machine, hostdev),
            Action::Attach { machine, hostdev } => match failed_detach(&outcomes, hostdev) {
                // The device is still on the machine it was to leave: attaching it elsewhere
                // would put it on two machines (libvirt refuses that, the mock would not).
                Some(from) => Err(Error::Attach {
                    domain: machine.clone(),
                    device: *hostdev,
                    kind: ErrorKind::Transient,
                    cause: Cause::refused(format!("not tried: its detach from {from} failed")),
                }),
                None => hypervisor.attach(machine, hostdev),
            },
        };
        outcomes.push(ActionOutcome {
            action: action.clone(),
            result,
            took: started.elapsed(),
        });
    }
    ApplyReport { outcomes }
}

/// The machine from which a detach of `hostdev` failed in `outcomes`, if one did.
fn failed_detach<'a>(outcomes: &'a [ActionOutcome], hostdev: &HostdevSpec) -> Option<&'a str> {
    outcomes
        .iter()
        .find_map(|outcome| match (&outcome.action, &outcome.result) {
            (
                Action::Detach {
                    machine,
                    hostdev: detached,
                },
                Err(_),
            ) if detached == hostdev => Some(machine.as_str()),
            _ => None,
        })
}
