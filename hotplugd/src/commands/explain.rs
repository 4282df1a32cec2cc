//! `explain CONFIG`: why each device is (or is not) attached where, and what a reconcile would do.

use std::io::Write;
use std::process::ExitCode;

use libvirt_sync::plan;
use usb_discovery::SysfsDiscovery;

use crate::daemon::{libvirt_connector, RunOptions};
use crate::explain::{explain, render_json, render_text};
use crate::reconcile::{match_devices, Reconciler};
use crate::{config, Error};

/// Observes, plans (changing nothing) and prints the report.
pub fn run(options: &RunOptions, json: bool) -> Result<ExitCode, Error> {
    let config = config::load(&options.config_path)?;
    let mut reconciler = Reconciler::new(
        Box::new(SysfsDiscovery::new(&options.root)),
        libvirt_connector(),
    );
    let observed = reconciler.observe(&config, options.uri(&config))?;
    let plan = plan(
        &match_devices(&config.machines, &observed.devices),
        &observed.domains,
    );
    let report = explain(&config, &observed, &plan);
    let text = if json {
        render_json(&report)
    } else {
        render_text(&report)
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Output)?;
    Ok(ExitCode::SUCCESS)
}
