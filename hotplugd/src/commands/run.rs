//! `run CONFIG --once [--dry-run [--json]]`: one reconcile, then exit.
//!
//! Without `--dry-run` it takes the state directory's lock like the daemon (it fails while a daemon
//! runs), leaves alone the devices on hold, and records the machines it gave devices to.

use std::process::ExitCode;
use std::time::{Instant, SystemTime};

use crate::explain::{explain, render_json};
use crate::options::RunOptions;
use crate::reconcile::Mode;
use crate::report::Reporter;
use crate::state::shared::{Kept, Shared};
use crate::{config, Error};

/// The exit status of a `--once` run in which some action failed.
pub const SOME_ACTIONS_FAILED: u8 = 2;

/// One reconcile. Exit status 0 when every action succeeded, [`SOME_ACTIONS_FAILED`] when some
/// failed; an error (exit 1) when the configuration, the devices or libvirt cannot be read.
pub fn once(options: &RunOptions, json: bool) -> Result<ExitCode, Error> {
    let config = config::load(&options.config_path)?;
    let mode = if options.dry_run {
        Mode::DryRun
    } else {
        Mode::Apply
    };
    // A run that changes things takes the daemon's lock (two would fight), respects the devices
    // on hold and keeps the record of the machines given devices.
    let mut shared = match mode {
        Mode::Apply => Some(Shared::open(options)?),
        Mode::DryRun => None,
    };
    // A dry run reads what the directories keep without the lock, to plan as the daemon would.
    let mut reconciler = match &mut shared {
        Some(shared) => shared.prepare(options.reconciler(), false),
        None => Kept::read(options).apply_to(options.reconciler()),
    };
    let outcome = reconciler.reconcile(
        &config,
        options.uri(&config),
        Instant::now(),
        mode,
        config.interval,
    )?;
    if let Some(shared) = &mut shared {
        shared.update(&outcome, &reconciler, Instant::now(), SystemTime::now());
    }
    let succeeded = outcome.is_success();
    if options.dry_run {
        Reporter::once().report_warnings(&outcome);
        super::print(&if json {
            render_json(&explain(&config, &outcome))
        } else if outcome.plan.actions.is_empty() {
            "nothing to do\n".to_owned()
        } else {
            outcome
                .plan
                .actions
                .iter()
                .map(|action| format!("{action}\n"))
                .collect()
        })?;
    } else {
        Reporter::once().report(outcome);
    }
    Ok(if succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(SOME_ACTIONS_FAILED)
    })
}
