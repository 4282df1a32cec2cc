//! `status [--json]`: what the running daemon is doing, from its state directory. Needs neither
//! libvirt nor root (only a readable state directory).

use std::process::ExitCode;
use std::time::SystemTime;

use crate::state::status::Status;
use crate::state::{read_json, StateDir};
use crate::Error;

/// Prints the running daemon's status; exit status [`super::NOT_RUNNING`] when no daemon holds the
/// state directory's lock.
pub fn run(state: &StateDir, json: bool) -> Result<ExitCode, Error> {
    if state.running_daemon()?.is_none() {
        eprintln!(
            "libvirt-usb-hotplugd: no daemon runs with the state directory {}",
            state.path().display()
        );
        return Ok(ExitCode::from(super::NOT_RUNNING));
    }
    let path = state.status_file();
    let Some(status) = read_json::<Status>(&path)? else {
        eprintln!(
            "libvirt-usb-hotplugd: the daemon runs, but has not written {} yet",
            path.display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    if json {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        super::print(&text)?;
    } else {
        super::print(&status.render_text(SystemTime::now()))?;
    }
    Ok(ExitCode::SUCCESS)
}
