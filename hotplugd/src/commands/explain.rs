//! `explain CONFIG`: why each device is (or is not) attached where, and what a reconcile would do.

use std::process::ExitCode;
use std::time::Instant;

use crate::explain::{explain, render_json, render_text};
use crate::options::RunOptions;
use crate::reconcile::Mode;
use crate::report::Reporter;
use crate::state::shared::Kept;
use crate::{config, Error};

/// Reconciles without changing anything, and prints the report.
pub fn run(options: &RunOptions, json: bool) -> Result<ExitCode, Error> {
    let config = config::load(&options.config_path)?;
    // What the daemon keeps (holds, assignments, recorded machines), read without its lock.
    let outcome = Kept::read(options)
        .apply_to(options.reconciler())
        .reconcile(
            &config,
            options.uri(&config),
            Instant::now(),
            Mode::DryRun,
            config.interval,
        )?;
    let report = explain(&config, &outcome);
    // Unreadable devices and domains are said on stderr too, as the daemon says them.
    Reporter::once().report_warnings(&outcome);
    super::print(&if json {
        render_json(&report)
    } else {
        render_text(&report)
    })?;
    Ok(ExitCode::SUCCESS)
}
