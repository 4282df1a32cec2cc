//! `run CONFIG --once [--dry-run [--json]]`: one reconcile, then exit.

use std::process::ExitCode;
use std::time::Instant;

use crate::explain::{explain, render_json};
use crate::options::RunOptions;
use crate::reconcile::Mode;
use crate::report::Reporter;
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
    let outcome = options.reconciler().reconcile(
        &config,
        options.uri(&config),
        Instant::now(),
        mode,
        config.interval,
    )?;
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
