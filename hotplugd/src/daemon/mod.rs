//! The daemon: one reconcile at start, then one per trigger, until SIGINT or SIGTERM.
//!
//! One thread reconciles; it waits on one channel of [`Trigger`]s fed by the sources: the signal
//! thread (SIGHUP reloads, SIGINT/SIGTERM stop), the udev netlink monitor (a USB device was added or
//! removed), and libvirt's domain lifecycle events (a configured VM started or stopped). Waiting
//! times out at the resync interval (or at the retry time of a failed action): that is the tick.
//! A burst of triggers (a hub plugged in sends dozens of events) is drained into one reconcile.
//! When a source cannot be started the daemon says so once and goes on with the others; the tick
//! alone still keeps everything in step, as the original daemon's polling did.

mod triggers;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libvirt_sync::{Action, DomainEventSource, Hypervisor, LibvirtHypervisor};
use usb_discovery::{MonitorThread, Received, SysfsDiscovery, UeventMonitor};

pub use triggers::{gather, spawn_signal_source, Gathered, Trigger};

use crate::config::{self, format_duration, Config};
use crate::reconcile::{machine_names, Connector, Reconciler};
use crate::{error_chain, Error};

/// Set (to anything) to run without the udev netlink monitor, on the tick alone: for hosts where
/// netlink uevents are not delivered, and for the tests of that fallback.
pub const NO_UDEV_EVENTS_VARIABLE: &str = "LIBVIRT_USB_HOTPLUGD_NO_UDEV_EVENTS";

/// What `run` was asked to do.
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
}

impl RunOptions {
    /// The URI in force: the command line's, else the configuration's, else libvirt's default.
    pub fn uri<'a>(&'a self, config: &'a Config) -> Option<&'a str> {
        self.libvirt_uri
            .as_deref()
            .or(config.libvirt_uri.as_deref())
    }
}

/// The connector of the real daemon: a libvirt connection.
pub fn libvirt_connector() -> Connector {
    Box::new(|uri| {
        LibvirtHypervisor::open(uri).map(|hypervisor| Box::new(hypervisor) as Box<dyn Hypervisor>)
    })
}

/// Runs the daemon until SIGINT or SIGTERM. A configuration that cannot be loaded at the start is an
/// error; later, a bad one is reported and the old one kept.
pub fn run(options: &RunOptions) -> Result<ExitCode, Error> {
    let mut config = config::load(&options.config_path)?;
    let (sender, triggers) = channel();
    spawn_signal_source(sender.clone()).map_err(Error::Signals)?;
    // libvirt's event loop must be registered before the first connection is opened.
    if let Err(error) = libvirt_sync::init_event_loop() {
        log::warn!(
            "no libvirt domain events ({}): VMs that start get their devices on the next tick",
            error_chain(&error)
        );
    }
    let _udev_events = start_udev_events(sender.clone());
    let watched = Arc::new(Mutex::new(machine_names(&config)));
    let mut domain_events = start_domain_events(options.uri(&config), &sender, &watched);
    let mut reconciler = Reconciler::new(
        Box::new(SysfsDiscovery::new(&options.root)),
        libvirt_connector(),
    )
    .with_retries();
    warn_if_interval_too_short(&config);
    log::info!(
        "started: {} machine(s), resync every {}{}",
        config.machines.len(),
        format_duration(effective_interval(&config)),
        if options.dry_run {
            ", dry run: nothing is changed"
        } else {
            ""
        }
    );
    let mut last_dry_run: Vec<Action> = Vec::new();
    loop {
        let reconciled = reconciler.reconcile(
            &config,
            options.uri(&config),
            Instant::now(),
            options.dry_run,
        );
        let succeeded = reconciled.is_ok();
        match &reconciled {
            Ok(outcome) => log::debug!(
                "reconciled: {} device(s), {} action(s) planned, {} waiting for a retry",
                outcome.observed.devices.len(),
                outcome.plan.actions.len(),
                outcome.deferred.len()
            ),
            Err(_) => log::debug!("reconcile failed"),
        }
        match reconciled {
            // A dry run says what it would do when that changes, not on every tick.
            Ok(outcome) if options.dry_run && outcome.plan.actions != last_dry_run => {
                for action in &outcome.plan.actions {
                    log::info!("would {action}");
                }
                last_dry_run = outcome.plan.actions;
            }
            Ok(_) => {}
            // Said once; the next trigger or tick tries again.
            Err(error) => reconciler.log_problem_once(&error),
        }
        let now = Instant::now();
        let next_tick = now + effective_interval(&config);
        // Retry times matter only after a reconcile that got as far as applying; after a failed
        // one (libvirt unreachable, no device list) the next try is the tick or a trigger, so
        // that a failure never turns into a busy loop.
        let deadline = match reconciler.next_retry() {
            Some(retry) if succeeded => retry.max(now + MIN_WAIT).min(next_tick),
            _ => next_tick,
        };
        let gathered = gather(&triggers, deadline);
        if gathered.shutdown {
            log::info!("stopping; attached devices stay attached");
            return Ok(ExitCode::SUCCESS);
        }
        if gathered.reload {
            let old_uri = options.uri(&config).map(str::to_owned);
            reload(&options.config_path, &mut config);
            // Machines dropped by the reload still count: their hostdevs are being detached.
            if let Ok(mut watched) = watched.lock() {
                *watched = reconciler.machines_to_observe(&config);
            }
            if options.uri(&config) != old_uri.as_deref() {
                // The old source deregisters before the new one connects.
                drop(domain_events.take());
                domain_events = start_domain_events(options.uri(&config), &sender, &watched);
            }
        }
    }
}

/// The shortest wait between two reconciles that no trigger asked for.
pub const MIN_WAIT: Duration = Duration::from_millis(50);

/// The shortest resync interval the daemon uses: a shorter one in the configuration (the format
/// allows any positive duration, as the original's did) is raised to it, with a warning, so that a
/// typo such as `1ns` cannot make the daemon rescan without pause.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

fn effective_interval(config: &Config) -> Duration {
    config.interval.max(MIN_INTERVAL)
}

fn warn_if_interval_too_short(config: &Config) {
    if config.interval < MIN_INTERVAL {
        log::warn!(
            "interval {} is shorter than {}: resyncing every {} instead",
            format_duration(config.interval),
            format_duration(MIN_INTERVAL),
            format_duration(MIN_INTERVAL)
        );
    }
}

/// Re-reads the configuration; a bad one is reported and `config` kept.
fn reload(path: &Path, config: &mut Config) {
    match config::load(path) {
        Ok(new) => {
            log::info!(
                "reloaded {}: {} machine(s), resync every {}",
                path.display(),
                new.machines.len(),
                format_duration(new.interval)
            );
            warn_if_interval_too_short(&new);
            *config = new;
        }
        Err(error) => log::error!(
            "keeping the configuration in use: {}",
            error_chain(&Error::Config(error))
        ),
    }
}

/// Starts the udev netlink monitor, or says once why the daemon runs on the tick alone.
fn start_udev_events(sender: Sender<Trigger>) -> Option<MonitorThread> {
    if std::env::var_os(NO_UDEV_EVENTS_VARIABLE).is_some() {
        log::warn!("udev events are off ({NO_UDEV_EVENTS_VARIABLE} is set): devices are found on the resync tick only");
        return None;
    }
    let monitor = match UeventMonitor::open() {
        Ok(monitor) => monitor,
        Err(error) => {
            log::warn!(
                "no udev events ({}): devices are found on the resync tick only",
                error_chain(&error)
            );
            return None;
        }
    };
    let spawned = monitor.spawn(move |received| match received {
        Ok(Received::Device(event)) => {
            log::debug!("udev: {} {}", event.action, event.kernel_name);
            let _ = sender.send(Trigger::Uevent);
        }
        Ok(Received::Overflow) => {
            log::debug!("udev: events were lost (receive buffer full): rescanning");
            let _ = sender.send(Trigger::Uevent);
        }
        Ok(Received::Other(_)) => {}
        Ok(Received::Dropped(reason)) => log::debug!("udev: dropped a message: {reason}"),
        Err(error) => log::warn!(
            "udev events stopped ({}): devices are found on the resync tick only",
            error_chain(&error)
        ),
    });
    match spawned {
        Ok(thread) => Some(thread),
        Err(error) => {
            log::warn!(
                "no udev events ({}): devices are found on the resync tick only",
                error_chain(&error)
            );
            None
        }
    }
}

/// Starts the libvirt lifecycle event source for `uri`, or says once why there is none. Events of
/// domains that are not `watched` are ignored; a reconnection always triggers a reconcile, since
/// anything may have changed meanwhile.
fn start_domain_events(
    uri: Option<&str>,
    sender: &Sender<Trigger>,
    watched: &Arc<Mutex<Vec<String>>>,
) -> Option<DomainEventSource> {
    let sender = sender.clone();
    let watched = Arc::clone(watched);
    let source = DomainEventSource::start(uri, move |event| {
        let relevant = event.domain().is_none_or(|domain| {
            watched
                .lock()
                .map_or(true, |names| names.iter().any(|name| name == domain))
        });
        if relevant {
            log::debug!("libvirt: {event:?}");
            let _ = sender.send(Trigger::DomainEvent);
        }
    });
    match source {
        Ok(source) => Some(source),
        Err(error) => {
            log::warn!(
                "no libvirt domain events ({}): VMs that start get their devices on the next tick",
                error_chain(&error)
            );
            None
        }
    }
}
