//! `detach DEVICE` and `attach DEVICE [--to MACHINE]`: asked of the running daemon through its
//! state directory; they print its answer. Exit 0 when it was done, 1 when not, 3 when no daemon
//! runs.

use std::process::ExitCode;
use std::time::Duration;

use crate::state::control::{submit, Request};
use crate::state::StateDir;
use crate::Error;

/// How long the command waits for the daemon's answer: a reconcile, with a detach that may wait
/// for libvirt (5 s at most) or a call to a stalled libvirtd (15 s).
pub const ANSWER_WAIT: Duration = Duration::from_secs(20);

/// Asks the daemon of `state`, and prints what it did.
pub fn run(state: &StateDir, request: Request) -> Result<ExitCode, Error> {
    if state.running_daemon()?.is_none() {
        eprintln!(
            "libvirt-usb-hotplugd: no daemon runs with the state directory {}",
            state.path().display()
        );
        return Ok(ExitCode::from(super::NOT_RUNNING));
    }
    let response = submit(state, request, ANSWER_WAIT)?;
    if response.ok {
        super::print(&format!("{}\n", response.message))?;
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("libvirt-usb-hotplugd: {}", response.message);
        Ok(ExitCode::FAILURE)
    }
}
