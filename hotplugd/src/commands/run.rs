//! `run CONFIG --once [--dry-run [--json]]`: one reconcile, then exit.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use usb_discovery::SysfsDiscovery;

use crate::daemon::{libvirt_connector, RunOptions};
use crate::explain::{explain, render_json};
use crate::reconcile::Reconciler;
use crate::{config, Error};

/// The exit status of a `--once` run in which some action failed.
pub const SOME_ACTIONS_FAILED: u8 = 2;

/// One reconcile. Exit status 0 when every action succeeded, [`SOME_ACTIONS_FAILED`] when some
/// failed; an error (exit 1) when the configuration, the devices or libvirt cannot be read.
pub fn once(options: &RunOptions, json: bool) -> Result<ExitCode, Error> {
    let config = config::load(&options.config_path)?;
    let mut reconciler = Reconciler::new(
        Box::new(SysfsDiscovery::new(&options.root)),
        libvirt_connector(),
    );
    let outcome = reconciler.reconcile(
        &config,
        options.uri(&config),
        Instant::now(),
        options.dry_run,
    )?;
    if options.dry_run {
        let text = if json {
            render_json(&explain(&config, &outcome.observed, &outcome.plan))
        } else if outcome.plan.actions.is_empty() {
            "nothing to do\n".to_owned()
        } else {
            outcome
                .plan
                .actions
                .iter()
                .map(|action| format!("{action}\n"))
                .collect()
        };
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(Error::Output)?;
    }
    Ok(if outcome.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(SOME_ACTIONS_FAILED)
    })
}
