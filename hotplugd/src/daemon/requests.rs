//! Carrying out `attach` and `detach`: a request changes what the reconciler holds or assigns, the
//! next reconcile acts on it, and the answer says what that reconcile did.

use libvirt_sync::{Action, DomainState, HostdevSpec, Placement};

use crate::reconcile::{hostdev_of, Outcome, Reconciler};
use crate::state::control::{resolve, Request, Response};

/// A request taken, waiting for the reconcile that carries it out.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// Its id.
    pub id: String,
    /// The device it concerns.
    pub device: HostdevSpec,
    /// What was asked.
    pub request: Request,
}

/// Takes `request` against what the last reconcile saw: puts the device on hold (`detach`),
/// releases it (`attach`) or assigns it (`attach --to`). An answer at once when it cannot be
/// carried out (no such device, no such running machine).
pub fn accept(
    id: String,
    request: Request,
    last: &Outcome,
    reconciler: &mut Reconciler,
) -> Result<Accepted, Response> {
    let refuse = |message: String| Response { ok: false, message };
    let device = resolve(request.device(), &last.observation.devices).map_err(refuse)?;
    let spec = hostdev_of(device);
    match &request {
        Request::Detach { .. } => {
            let on = last
                .plan
                .decision(&spec)
                .and_then(|decision| match &decision.placement {
                    Placement::Owned { machine } => Some(machine.clone()),
                    _ => None,
                });
            reconciler.hold(
                spec,
                on.as_deref(),
                "detached with `libvirt-usb-hotplugd detach`".to_owned(),
            );
        }
        Request::Attach { to: None, .. } => {
            reconciler.release(spec);
        }
        Request::Attach {
            to: Some(machine), ..
        } => {
            let running = last
                .observation
                .hypervisor
                .domains
                .iter()
                .chain(&last.observation.hypervisor.others)
                .any(|domain| domain.name == *machine && domain.state.is_running());
            if !running {
                return Err(refuse(format!("{machine} is not a running VM")));
            }
            reconciler.assign(spec, machine);
        }
    }
    Ok(Accepted {
        id,
        device: spec,
        request,
    })
}

/// The answer to `accepted`, from the reconcile that carried it out.
pub fn answer(accepted: &Accepted, outcome: &Outcome) -> Response {
    let device = accepted.device;
    let done = |attach: bool| {
        outcome
            .report
            .outcomes
            .iter()
            .find(|done| done.action.is_attach() == attach && *done.action.hostdev() == device)
    };
    if let Some(problem) = &outcome.problem {
        return Response {
            ok: false,
            message: format!("{problem}: tried again at the next reconcile"),
        };
    }
    match &accepted.request {
        Request::Detach { .. } => match done(false) {
            Some(outcome) => match &outcome.result {
                Ok(()) => Response {
                    ok: true,
                    message: format!(
                        "detached {device} from {}; on hold until it is plugged in again or \
                         released with `attach`",
                        outcome.action.machine()
                    ),
                },
                Err(error) => Response {
                    ok: false,
                    message: format!(
                        "{}; it is on hold, and the detach is tried again",
                        crate::error_chain(error)
                    ),
                },
            },
            None if still_owned(outcome, device) => Response {
                ok: false,
                message: format!(
                    "{device} is still attached: its detach waits ({}); it is on hold",
                    waiting_reason(outcome, device)
                ),
            },
            None => Response {
                ok: true,
                message: format!(
                    "{device} was not attached by this daemon; on hold until it is plugged in \
                     again or released with `attach`"
                ),
            },
        },
        Request::Attach { .. } => match done(true) {
            Some(done) => match &done.result {
                Ok(()) => Response {
                    ok: true,
                    message: format!("attached {device} to {}", done.action.machine()),
                },
                Err(error) => Response {
                    ok: false,
                    message: format!(
                        "{}; it is tried again with backoff",
                        crate::error_chain(error)
                    ),
                },
            },
            None => placed(outcome, device),
        },
    }
}

/// Whether a managed machine still has the daemon's hostdev of `device`, and no detach of it was
/// done.
fn still_owned(outcome: &Outcome, device: HostdevSpec) -> bool {
    outcome.observation.hypervisor.domains.iter().any(|domain| {
        matches!(&domain.state, DomainState::Running { hostdevs }
            if hostdevs.iter().any(|hostdev| hostdev.owned_spec() == Some(device)))
    })
}

fn waiting_reason(outcome: &Outcome, device: HostdevSpec) -> String {
    outcome
        .plan
        .held_back
        .iter()
        .find(|held| {
            *held.action.hostdev() == device && matches!(held.action, Action::Detach { .. })
        })
        .map_or_else(|| "not planned".to_owned(), |held| held.why.to_string())
}

/// The answer to an `attach` that attached nothing now: where the device is.
fn placed(outcome: &Outcome, device: HostdevSpec) -> Response {
    let placement = outcome
        .plan
        .decision(&device)
        .map(|decision| decision.placement.clone());
    let (ok, message) = match placement {
        Some(Placement::Owned { machine }) => (true, format!("{device} is attached to {machine}")),
        Some(Placement::Held { machine }) => (
            true,
            format!("{device} is on {machine} through a hostdev set up by hand"),
        ),
        Some(Placement::Attach { machine }) => (
            false,
            format!(
                "{device} is to be attached to {machine}, but that waits: {}",
                outcome
                    .plan
                    .held_back
                    .iter()
                    .find(|held| *held.action.hostdev() == device)
                    .map_or_else(|| "see `status`".to_owned(), |held| held.why.to_string())
            ),
        ),
        Some(Placement::Busy { machine }) => (
            false,
            format!("{device} is busy on {machine}, which this daemon may not take it from"),
        ),
        Some(Placement::Denied { rule }) => (false, format!("{device} is denied: {rule}")),
        Some(Placement::InUse { reason }) => {
            (false, format!("{device} is in use by the host: {reason}"))
        }
        Some(Placement::OnHold) => (false, format!("{device} is still on hold")),
        Some(Placement::Unassigned) | None => (
            true,
            format!("{device} is released; no running machine matches it now"),
        ),
    };
    Response { ok, message }
}
