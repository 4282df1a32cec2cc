//! The daemon: one reconcile at start, then one per trigger, until SIGINT or SIGTERM.
//!
//! One thread reconciles ([`Daemon::run`]); it waits on one channel of [`Trigger`]s fed by the
//! sources: the signal thread (SIGHUP reloads, SIGINT/SIGTERM stop), the udev netlink monitor (a
//! USB device was added or removed), and libvirt's domain lifecycle events (a configured VM started
//! or stopped). Waiting times out at the resync interval (or at the retry time of a failed action):
//! that is the tick. A burst of triggers (a hub plugged in sends dozens of events) is drained into
//! one reconcile. When a source cannot be started the daemon says so once and goes on with the
//! others; the tick alone still keeps everything in step, as the original daemon's polling did.
//!
//! [`run`] starts the real sources; [`Daemon`] is the loop alone, fed by any channel, so that tests
//! run it in-process with a mock hypervisor and triggers of their own.

mod notify;
mod requests;
mod sources;
mod triggers;

use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant, SystemTime};

use libvirt_sync::HoldReason;

pub use notify::Notifier;
pub use sources::{start_domain_events, start_udev_events, KernelDecides, NO_UDEV_EVENTS_VARIABLE};
pub use triggers::{gather, spawn_signal_source, Gathered, Trigger, SHUTDOWN_GRACE};

use crate::config::{self, format_duration, Config};
use crate::options::RunOptions;
use crate::reconcile::{Mode, Reconciler, Refresh};
use crate::report::Reporter;
use crate::state::control;
use crate::state::shared::Shared;
use crate::state::status::ReloadStatus;
use crate::state::StateDir;
use crate::{error_chain, Error};

/// The shortest wait between two reconciles that no trigger asked for.
pub const MIN_WAIT: Duration = Duration::from_millis(50);

/// The shortest resync interval the daemon uses: a shorter one in the configuration (the format
/// allows any positive duration, as the original's did) is raised to it, with a warning, so that a
/// typo such as `1ns` cannot make the daemon rescan without pause.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// The resync interval in force for `config`: its interval, at least [`MIN_INTERVAL`]. Retries of
/// failed actions wait at most this long.
pub fn effective_interval(config: &Config) -> Duration {
    config.interval.max(MIN_INTERVAL)
}

/// Runs the daemon until SIGINT or SIGTERM, with the real sources of triggers. A configuration
/// that cannot be loaded at the start is an error; later, a bad one is reported and the old one
/// kept.
pub fn run(options: &RunOptions) -> Result<ExitCode, Error> {
    let config = config::load(&options.config_path)?;
    // A dry run changes nothing, so it shares nothing and takes no lock.
    let mut shared = if options.dry_run {
        None
    } else {
        Some(Shared::open(options)?)
    };
    let (sender, triggers) = channel();
    spawn_signal_source(sender.clone()).map_err(Error::Signals)?;
    // libvirt's event loop must be registered before the first connection is opened.
    if let Err(error) = libvirt_sync::init_event_loop() {
        log::warn!(
            "no libvirt domain events ({}): VMs that start get their devices on the next tick",
            error_chain(&error)
        );
    }
    let kernel_decides = KernelDecides::default();
    kernel_decides.set(config.decidable_from_sysfs());
    let udev_events = start_udev_events(sender.clone(), kernel_decides.clone());
    let mut reconciler = options.reconciler();
    if let Some(shared) = &mut shared {
        reconciler = shared.prepare(reconciler, udev_events.is_some());
        let state = StateDir::new(&options.state_dir);
        let watching = control::watch(
            &state.requests(),
            control::waking(sender.clone(), Trigger::Request),
        );
        if let Err(error) = watching {
            log::warn!(
                "cannot watch {} ({error}): requests are answered at the next wake-up",
                state.requests().display()
            );
        }
    }
    let mut daemon = Daemon::new(options.clone(), config, reconciler);
    daemon.shared = shared;
    let watched = sources::Watched::new(daemon.machines_to_observe());
    let mut domain_events = start_domain_events(options.uri(&daemon.config), &sender, &watched);
    Ok(daemon.run(&triggers, |reloaded| {
        watched.set(reloaded.machines);
        kernel_decides.set(reloaded.config.decidable_from_sysfs());
        if reloaded.uri_changed {
            // The old source deregisters before the new one connects.
            drop(domain_events.take());
            domain_events = start_domain_events(reloaded.uri, &sender, &watched);
        }
    }))
}

/// What a reload changed, for the event sources (also told, with the URI unchanged, when a
/// request such as `attach --to` made the daemon observe another machine).
#[derive(Debug)]
pub struct Reloaded<'a> {
    /// Whether the libvirt URI changed.
    pub uri_changed: bool,
    /// The URI in force.
    pub uri: Option<&'a str>,
    /// The machines to observe (those dropped by the reload included).
    pub machines: Vec<String>,
    /// The configuration in force.
    pub config: &'a Config,
}

/// The reconcile loop, with its configuration and reconciler.
pub struct Daemon {
    options: RunOptions,
    config: Config,
    reconciler: Reconciler,
    reporter: Reporter,
    /// The state and data directories (not for a dry run, or a loop run in a test without them).
    shared: Option<Shared>,
    notifier: Notifier,
}

impl Daemon {
    /// A daemon for `options`, started with `config`, reconciling with `reconciler`.
    pub fn new(options: RunOptions, config: Config, reconciler: Reconciler) -> Daemon {
        Daemon {
            options,
            config,
            reconciler,
            reporter: Reporter::daemon(),
            shared: None,
            notifier: Notifier::from_environment(),
        }
    }

    /// The same daemon, sharing its state in `shared`.
    pub fn with_shared(mut self, shared: Shared) -> Daemon {
        self.shared = Some(shared);
        self
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The machines the daemon observes now (configured, and dropped since the start).
    pub fn machines_to_observe(&mut self) -> Vec<String> {
        self.reconciler.machines_to_observe(&self.config)
    }

    /// Reconciles at once, then once per trigger or tick, until a [`Trigger::Shutdown`] arrives or
    /// every sender of `triggers` is gone. After a reload, `reloaded` is told what it changed, and
    /// after requests that changed the machines to observe, the new machines.
    /// Exit status 0.
    pub fn run(
        &mut self,
        triggers: &Receiver<Trigger>,
        mut reloaded: impl FnMut(Reloaded<'_>),
    ) -> ExitCode {
        warn_if_interval_too_short(&self.config);
        log::info!(
            "started: {} machine(s), resync every {}{}",
            self.config.machines.len(),
            format_duration(effective_interval(&self.config)),
            if self.options.dry_run {
                ", dry run: nothing is changed"
            } else {
                ""
            }
        );
        let mut accepted = Vec::new();
        let mut refresh = Refresh::Full;
        let mut cause = "start".to_owned();
        let mut observed = self.machines_to_observe();
        loop {
            let succeeded = self.reconcile_once(&refresh, &cause);
            self.answer(&mut accepted);
            let now = Instant::now();
            let next_tick = now + effective_interval(&self.config);
            // Retry times matter only after a reconcile that got as far as applying; after a
            // failed one (libvirt unreachable, no device list) the next try is the tick or a
            // trigger, so that a failure never turns into a busy loop.
            let deadline = match self.reconciler.next_retry() {
                Some(retry) if succeeded => retry.max(now + MIN_WAIT).min(next_tick),
                _ => next_tick,
            };
            // Woken for systemd's watchdog too; that alone is not a tick.
            let gathered = loop {
                let wake = self
                    .notifier
                    .watchdog_deadline()
                    .map_or(deadline, |ping| ping.min(deadline));
                let gathered = gather(triggers, wake);
                self.notifier.keep_alive(Instant::now());
                if gathered.triggers > 0 || gathered.shutdown || Instant::now() >= deadline {
                    break gathered;
                }
            };
            refresh = gathered.refresh.clone();
            cause = gathered.cause.clone();
            if gathered.shutdown {
                self.notifier.stopping();
                log::info!("stopping; attached devices stay attached");
                return ExitCode::SUCCESS;
            }
            if gathered.triggers > 0 {
                self.reconciler.something_changed(Instant::now());
            }
            if gathered.reload {
                self.notifier.reloading();
                let old_uri = self.options.uri(&self.config).map(str::to_owned);
                self.reload();
                self.notifier.reloaded();
                // Machines dropped by the reload still count: their hostdevs are being detached.
                observed = self.machines_to_observe();
                let uri = self.options.uri(&self.config);
                reloaded(Reloaded {
                    uri_changed: uri != old_uri.as_deref(),
                    uri,
                    machines: observed.clone(),
                    config: &self.config,
                });
            }
            self.take_requests(&mut accepted);
            // `attach --to` may name a machine observed from now on: its domain events count.
            let machines = self.machines_to_observe();
            if machines != observed {
                observed = machines;
                reloaded(Reloaded {
                    uri_changed: false,
                    uri: self.options.uri(&self.config),
                    machines: observed.clone(),
                    config: &self.config,
                });
            }
        }
    }

    /// Takes the control requests waiting in the state directory; those that cannot be carried
    /// out are answered at once, the others after the next reconcile.
    fn take_requests(&mut self, accepted: &mut Vec<requests::Accepted>) {
        let Some(shared) = &self.shared else {
            return;
        };
        for (id, request) in control::take(shared.state()) {
            log::info!("request {id}: {request:?}");
            match requests::accept(
                id.clone(),
                request,
                self.reporter.last(),
                &mut self.reconciler,
            ) {
                Ok(taken) => accepted.push(taken),
                Err(response) => control::answer(shared.state(), &id, &response),
            }
        }
    }

    /// Answers the requests the last reconcile carried out.
    fn answer(&mut self, accepted: &mut Vec<requests::Accepted>) {
        let Some(shared) = &self.shared else {
            accepted.clear();
            return;
        };
        for taken in accepted.drain(..) {
            let response = requests::answer(&taken, self.reporter.last());
            log::info!("request {}: {}", taken.id, response.message);
            control::answer(shared.state(), &taken.id, &response);
        }
    }

    /// One reconcile after `refresh` (what woke the loop: `cause`), logged; whether it could
    /// observe.
    fn reconcile_once(&mut self, refresh: &Refresh, cause: &str) -> bool {
        let mode = if self.options.dry_run {
            Mode::DryRun
        } else {
            Mode::Apply
        };
        let reconciled = self.reconciler.reconcile_with(
            &self.config,
            self.options.uri(&self.config),
            Instant::now(),
            mode,
            effective_interval(&self.config),
            refresh,
        );
        match reconciled {
            Ok(outcome) => {
                let waiting = outcome
                    .plan
                    .held_back
                    .iter()
                    .filter(|held| held.why == HoldReason::Retrying)
                    .count();
                log::debug!(
                    "reconciled: {} device(s), {} action(s) taken, {} held back ({} waiting for a \
                     retry); {cause}: {}",
                    outcome.observation.devices.len(),
                    outcome.report.outcomes.len(),
                    outcome.plan.held_back.len(),
                    waiting,
                    stages(&outcome)
                );
                self.reporter.report(outcome);
                self.share();
                true
            }
            Err(error) => {
                log::debug!("reconcile failed");
                self.reporter.report_problem(&error);
                self.share();
                false
            }
        }
    }

    /// Writes the status, the holds and the record of machines when they changed, and tells
    /// systemd.
    fn share(&mut self) {
        let outcome = self.reporter.last();
        let summary = match &mut self.shared {
            Some(shared) => {
                shared.update(outcome, &self.reconciler, Instant::now(), SystemTime::now())
            }
            None => crate::state::status::Status::new(
                &Shared::info_without_state(&self.options),
                outcome,
                Instant::now(),
                SystemTime::now(),
            )
            .summary(SystemTime::now()),
        };
        self.notifier.reconciled(&summary);
    }

    /// Re-reads the configuration; a bad one is reported and the old one kept. Holds of devices
    /// that were on a machine whose rules changed are released.
    fn reload(&mut self) {
        let path = self.options.config_path.clone();
        let status = match reload(&path) {
            Ok(new) => {
                for machine in &self.config.machines {
                    let now = new.machines.iter().find(|known| known.name == machine.name);
                    // The compiled rules print as what they match (patterns included).
                    let changed = now.is_none_or(|now| {
                        format!("{:?}", now.rules) != format!("{:?}", machine.rules)
                    });
                    if changed {
                        self.reconciler.release_holds_on(&machine.name);
                    }
                }
                self.config = new;
                ReloadStatus {
                    at: crate::state::status::rfc3339(SystemTime::now()),
                    ok: true,
                    error: None,
                }
            }
            Err(error) => ReloadStatus {
                at: crate::state::status::rfc3339(SystemTime::now()),
                ok: false,
                error: Some(error),
            },
        };
        if let Some(shared) = &mut self.shared {
            shared.reloaded(status, self.options.uri(&self.config));
        }
    }
}

/// The stages of a reconcile and how long each took, for the debug log: `incremental: scan
/// 0.21 ms, libvirt 0.00 ms, plan 0.03 ms, attach 003/005 (046d:0825) to vm 4.10 ms, total
/// 4.40 ms`.
fn stages(outcome: &crate::reconcile::Outcome) -> String {
    let ms = |duration: Duration| format!("{:.2} ms", duration.as_secs_f64() * 1000.0);
    let timings = &outcome.timings;
    let mut parts = vec![
        format!("scan {}", ms(timings.scan)),
        format!("libvirt {}", ms(timings.libvirt)),
        format!("plan {}", ms(timings.plan)),
    ];
    for done in &outcome.report.outcomes {
        parts.push(format!("{} {}", done.action, ms(done.took)));
    }
    parts.push(format!(
        "total {} (cpu {} before the calls)",
        ms(timings.total),
        ms(timings.cpu_before_calls)
    ));
    let path = if timings.incremental {
        "incremental"
    } else {
        "full"
    };
    format!("{path}: {}", parts.join(", "))
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

/// Re-reads the configuration at `path`: the new one, or (after logging it) the error.
fn reload(path: &Path) -> Result<Config, String> {
    match config::load(path) {
        Ok(new) => {
            log::info!(
                "reloaded {}: {} machine(s), resync every {}",
                path.display(),
                new.machines.len(),
                format_duration(new.interval)
            );
            warn_if_interval_too_short(&new);
            Ok(new)
        }
        Err(error) => {
            let line = error_chain(&Error::Config(error));
            log::error!("keeping the configuration in use: {line}");
            Err(line)
        }
    }
}
