//! The `libvirt-usb-hotplugd` binary: parses the command line and hands over to the library.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use hotplugd::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    hotplugd::logging::init(cli.verbose, cli.quiet);
    match hotplugd::execute(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("libvirt-usb-hotplugd: {}", hotplugd::error_chain(&error));
            ExitCode::FAILURE
        }
    }
}
