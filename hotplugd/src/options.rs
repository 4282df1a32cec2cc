//! What a command that reconciles was asked to do, and the reconciler it works with.

use std::path::PathBuf;

use libvirt_sync::{BoundedHypervisor, Hypervisor, LibvirtHypervisor, DEFAULT_CALL_BOUND};
use usb_discovery::SysfsDiscovery;

use crate::config::Config;
use crate::reconcile::{Connector, Reconciler};

/// What `run`, `explain` or the daemon was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The main configuration file.
    pub config_path: PathBuf,
    /// Where /sys and /run/udev are read.
    pub root: PathBuf,
    /// `--libvirt-uri`, which overrides the configuration's.
    pub libvirt_uri: Option<String>,
    /// Plan and log, change nothing.
    pub dry_run: bool,
    /// The state directory (`--state-dir`).
    pub state_dir: PathBuf,
    /// The data directory (`--data-dir`).
    pub data_dir: PathBuf,
}

impl RunOptions {
    /// The URI in force: the command line's, else the configuration's, else libvirt's default.
    pub fn uri<'a>(&'a self, config: &'a Config) -> Option<&'a str> {
        self.libvirt_uri
            .as_deref()
            .or(config.libvirt_uri.as_deref())
    }

    /// A reconciler of the devices under the root and the real libvirt.
    pub fn reconciler(&self) -> Reconciler {
        Reconciler::new(
            Box::new(SysfsDiscovery::new(&self.root)),
            libvirt_connector(),
        )
    }
}

/// The connector of the real daemon: a libvirt connection, opened on the first call, whose calls
/// never block longer than [`DEFAULT_CALL_BOUND`] (a libvirtd that stops answering is reported as
/// not answering, and the daemon goes on).
pub fn libvirt_connector() -> Connector {
    Box::new(|uri| {
        let bounded = BoundedHypervisor::spawn(LibvirtHypervisor::new(uri), DEFAULT_CALL_BOUND)?;
        Ok(Box::new(bounded) as Box<dyn Hypervisor>)
    })
}
