//! The one channel of triggers that drives the reconcile loop, and the signal source that feeds it.
//!
//! Every source (signals, the udev monitor, libvirt's domain events) only sends a [`Trigger`]; the
//! loop waits for one (or for the tick: the wait times out), drains whatever else arrived meanwhile
//! (a hub plugged in sends dozens of events) and runs one reconcile: incremental when every trigger
//! names what changed (a device's udev event, a hostdev's removal), full otherwise.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::reconcile::{Change, Refresh};

/// Why the loop should reconcile now (the tick is a wait that timed out, not a trigger).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A udev event for the USB device `kernel_name` (`add 3-6.3`), or the kernel's own event for a
    /// device whose rules need nothing of udev.
    Uevent {
        /// `add`, `remove`, `change`, …
        action: String,
        /// The device's kernel name.
        kernel_name: String,
        /// Whether it is the kernel's event (sent before udevd's rules ran), not udev's.
        from_kernel: bool,
    },
    /// udev events were lost (the receive buffer overflowed): anything may have changed.
    UeventsLost,
    /// libvirt's device-removed event: the hostdev `alias` left `domain`.
    HostdevRemoved {
        /// The domain.
        domain: String,
        /// The hostdev's alias.
        alias: String,
    },
    /// A watched domain started, stopped or resumed, or libvirt's connection is back.
    DomainEvent,
    /// SIGHUP: re-read the configuration, then reconcile.
    Reload,
    /// A control request (`attach`, `detach`) arrived in the state directory.
    Request,
    /// SIGINT or SIGTERM: stop; attached devices stay attached.
    Shutdown,
}

/// What a wait on the channel gathered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gathered {
    /// How many triggers arrived (0 when the wait timed out).
    pub triggers: usize,
    /// Whether one of them asked for a reload.
    pub reload: bool,
    /// Whether a control request arrived.
    pub requests: bool,
    /// Whether one of them asked to stop, or every sender is gone.
    pub shutdown: bool,
    /// What changed, as far as the triggers say: [`Refresh::Only`] when every one of them named
    /// what (a timeout, a reload, a request, a lifecycle event or lost events mean anything may
    /// have changed: [`Refresh::Full`]).
    pub refresh: Refresh,
    /// What woke the loop, for the log: `tick`, `udev add 3-6.3`, `reload`, ….
    pub cause: String,
}

impl Default for Gathered {
    fn default() -> Self {
        Gathered {
            triggers: 0,
            reload: false,
            requests: false,
            shutdown: false,
            refresh: Refresh::Full,
            cause: "tick".to_owned(),
        }
    }
}

/// Waits until `deadline` for a trigger, then drains the channel without waiting. A timeout is a
/// tick: it returns with `triggers == 0`.
pub fn gather(triggers: &Receiver<Trigger>, deadline: Instant) -> Gathered {
    let mut gathered = Gathered::default();
    let timeout = deadline.saturating_duration_since(Instant::now());
    let first = match triggers.recv_timeout(timeout) {
        Ok(trigger) => trigger,
        Err(RecvTimeoutError::Timeout) => return gathered,
        Err(RecvTimeoutError::Disconnected) => {
            gathered.shutdown = true;
            return gathered;
        }
    };
    let mut changes: Vec<Change> = Vec::new();
    let mut full = false;
    let mut causes: Vec<String> = Vec::new();
    for trigger in std::iter::once(first).chain(triggers.try_iter()) {
        gathered.triggers += 1;
        let cause = match trigger {
            Trigger::Reload => {
                gathered.reload = true;
                full = true;
                "reload".to_owned()
            }
            Trigger::Request => {
                gathered.requests = true;
                full = true;
                "request".to_owned()
            }
            Trigger::Shutdown => {
                gathered.shutdown = true;
                "shutdown".to_owned()
            }
            Trigger::Uevent {
                action,
                kernel_name,
                from_kernel,
            } => {
                let known = changes.iter_mut().find(|change| {
                    matches!(change, Change::Device { kernel_name: known, .. } if *known == kernel_name)
                });
                match known {
                    // udev's event after the kernel's: not early any more.
                    Some(Change::Device { early, .. }) => *early = *early && from_kernel,
                    _ => changes.push(Change::Device {
                        kernel_name: kernel_name.clone(),
                        early: from_kernel,
                    }),
                }
                let source = if from_kernel { "kernel" } else { "udev" };
                format!("{source} {action} {kernel_name}")
            }
            Trigger::HostdevRemoved { domain, alias } => {
                let cause = format!("{alias} removed from {domain}");
                changes.push(Change::HostdevRemoved { domain, alias });
                cause
            }
            Trigger::UeventsLost => {
                full = true;
                "udev events lost".to_owned()
            }
            Trigger::DomainEvent => {
                full = true;
                "domain event".to_owned()
            }
        };
        if !causes.contains(&cause) {
            causes.push(cause);
        }
    }
    gathered.refresh = if full || changes.is_empty() {
        Refresh::Full
    } else {
        Refresh::Only(changes)
    };
    const SHOWN: usize = 3;
    gathered.cause = causes
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if causes.len() > SHOWN {
        gathered
            .cause
            .push_str(&format!(" and {} more", causes.len() - SHOWN));
    }
    gathered
}

/// How long the loop has to stop after SIGINT or SIGTERM before the signal thread ends the process
/// itself: the loop may be waiting for libvirt (at most its call bound), and attached devices stay
/// attached either way, so exiting during a call is safe.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// Starts a thread that turns SIGHUP into [`Trigger::Reload`] and SIGINT/SIGTERM into
/// [`Trigger::Shutdown`]; if the loop has not ended the process [`SHUTDOWN_GRACE`] after a
/// SIGINT/SIGTERM, the thread exits it with status 0. The handlers are installed before this
/// returns, so no signal sent after it is lost.
pub fn spawn_signal_source(sender: Sender<Trigger>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGHUP, SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            let mut grace_started = false;
            for signal in signals.forever() {
                let trigger = if signal == SIGHUP {
                    Trigger::Reload
                } else {
                    if !grace_started {
                        grace_started = true;
                        start_shutdown_grace();
                    }
                    Trigger::Shutdown
                };
                if sender.send(trigger).is_err() {
                    break;
                }
            }
        })?;
    Ok(())
}

/// Ends the process [`SHUTDOWN_GRACE`] from now, unless the loop has ended it first.
fn start_shutdown_grace() {
    let spawned = std::thread::Builder::new()
        .name("shutdown".to_owned())
        .spawn(|| {
            std::thread::sleep(SHUTDOWN_GRACE);
            log::warn!(
                "stopping now: the main loop is still waiting (for libvirt?); attached devices \
                 stay attached"
            );
            std::process::exit(0);
        });
    if let Err(error) = spawned {
        log::warn!("cannot start the shutdown timer: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;
    use std::time::Duration;

    #[test]
    fn a_burst_is_gathered_into_one_wake_up() {
        let (sender, receiver) = channel();
        for port in 0..40 {
            sender
                .send(Trigger::Uevent {
                    action: "add".into(),
                    kernel_name: format!("3-{}", port % 4),
                    from_kernel: port < 4,
                })
                .expect("open");
        }
        let gathered = gather(&receiver, Instant::now() + Duration::from_secs(5));
        assert_eq!(gathered.triggers, 40);
        let four = (0..4)
            .map(|port| Change::Device {
                kernel_name: format!("3-{port}"),
                early: false,
            })
            .collect();
        assert_eq!(
            gathered.refresh,
            Refresh::Only(four),
            "each device once, not early once udev's event is in"
        );
        assert_eq!(
            gathered.cause,
            "kernel add 3-0, kernel add 3-1, kernel add 3-2 and 5 more"
        );
        sender
            .send(Trigger::Uevent {
                action: "add".into(),
                kernel_name: "3-1".into(),
                from_kernel: false,
            })
            .expect("open");
        sender.send(Trigger::Reload).expect("open");
        let gathered = gather(&receiver, Instant::now() + Duration::from_secs(5));
        assert!(gathered.reload && !gathered.shutdown);
        assert_eq!(
            gathered.refresh,
            Refresh::Full,
            "a reload looks at everything"
        );
        assert!(receiver.try_recv().is_err(), "drained");
    }

    #[test]
    fn a_timeout_is_a_tick_and_a_closed_channel_a_shutdown() {
        let (sender, receiver) = channel::<Trigger>();
        let gathered = gather(&receiver, Instant::now() + Duration::from_millis(10));
        assert_eq!(gathered, Gathered::default());
        drop(sender);
        assert!(gather(&receiver, Instant::now() + Duration::from_secs(5)).shutdown);
    }
}
