//! `check CONFIG`: load and validate the configuration and `machines.d`, print a summary.
//!
//! Needs neither root nor libvirt. An invalid configuration is an `Err` (printed on one line by
//! `main`, exit 1).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use hotplug_match::DenyRules;

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
/// deny: 1 rule
///   deny[0]: vendor-id 0781, product-id 5581
/// machines: 2
///   webcam-test: 1 matcher (config.yml)
///   yubikey: 2 matchers, 1 deny rule (machines.d/yubikey.yml, replacing the one in config.yml)
///     deny[0]: port 2-1.4
/// ```
pub fn summary(config_path: &Path, config: &Config) -> String {
    let mut text = format!("{}: valid\n", config_path.display());
    text.push_str(&format!("interval: {}\n", format_duration(config.interval)));
    match &config.libvirt_uri {
        Some(uri) => text.push_str(&format!("libvirt-uri: {uri}\n")),
        None => text.push_str("libvirt-uri: not set (libvirt's default)\n"),
    }
    if config.deny.is_empty() {
        text.push_str("deny: none\n");
    } else {
        text.push_str(&format!(
            "deny: {}\n",
            count(config.deny.matchers().len(), "rule")
        ));
    }
    text.push_str(&deny_lines(&config.deny, "  "));
    if config.machines.is_empty() {
        text.push_str("machines: none\n");
    } else {
        text.push_str(&format!("machines: {}\n", config.machines.len()));
    }
    for machine in &config.machines {
        let deny = machine.rules.deny();
        let deny_count = if deny.is_empty() {
            String::new()
        } else {
            format!(", {}", count(deny.matchers().len(), "deny rule"))
        };
        text.push_str(&format!(
            "  {}: {}{deny_count} ({}",
            machine.name,
            count(machine.rules.matchers().len(), "matcher"),
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
        text.push_str(&deny_lines(deny, "    "));
    }
    text
}

/// `1 matcher`, `2 matchers`.
fn count(number: usize, noun: &str) -> String {
    let plural = if number == 1 { "" } else { "s" };
    format!("{number} {noun}{plural}")
}

/// One line per deny rule, `indent` first: `deny[0]: vendor-id 0781, product-id 5581`.
fn deny_lines(deny: &DenyRules, indent: &str) -> String {
    deny.matchers()
        .iter()
        .enumerate()
        .map(|(index, rule)| format!("{indent}deny[{index}]: {rule}\n"))
        .collect()
}
