//! `check CONFIG`: load and validate the configuration and `machines.d`, print a summary.
//!
//! Needs neither root nor libvirt. An invalid configuration is an `Err` (printed on one line by
//! `main`, exit 1).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::config::{self, format_duration, Config};
use crate::Error;

/// Loads `config_path` and prints what it configures.
pub fn run(config_path: &Path) -> Result<ExitCode, Error> {
    let config = config::load(config_path)?;
    let mut out = std::io::stdout().lock();
    out.write_all(summary(config_path, &config).as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Output)?;
    Ok(ExitCode::SUCCESS)
}

/// The summary `check` prints:
///
/// ```text
/// config.yml: valid
/// interval: 5s
/// libvirt-uri: qemu:///system
/// machines: 2
///   webcam-test: 1 matcher (config.yml)
///   yubikey: 2 matchers (machines.d/yubikey.yml, replacing the one in config.yml)
/// ```
pub fn summary(config_path: &Path, config: &Config) -> String {
    let mut text = format!("{}: valid\n", config_path.display());
    text.push_str(&format!("interval: {}\n", format_duration(config.interval)));
    match &config.libvirt_uri {
        Some(uri) => text.push_str(&format!("libvirt-uri: {uri}\n")),
        None => text.push_str("libvirt-uri: not set (libvirt's default)\n"),
    }
    if config.machines.is_empty() {
        text.push_str("machines: none\n");
    } else {
        text.push_str(&format!("machines: {}\n", config.machines.len()));
    }
    for machine in &config.machines {
        let count = machine.rules.matchers().len();
        let plural = if count == 1 { "" } else { "s" };
        text.push_str(&format!(
            "  {}: {count} matcher{plural} ({}",
            machine.name,
            machine.source.display()
        ));
        let replaced = config
            .replacements
            .iter()
            .filter(|replacement| replacement.machine == machine.name);
        for replacement in replaced {
            text.push_str(&format!(
                ", replacing the one in {}",
                replacement.replaced.display()
            ));
        }
        text.push_str(")\n");
    }
    text
}
