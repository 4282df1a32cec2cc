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

use usb_discovery::Announcement;

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
    /// The kernel's own `add` of a USB device, with what its message says of the device, for a
    /// configuration that needs nothing of udev.
    Announced(Box<Announcement>),
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
                let source = if from_kernel { "kernel" } else { "udev" };
                let cause = format!("{source} {action} {kernel_name}");
                merge_device_change(
                    &mut changes,
                    Change::Device {
                        kernel_name,
                        early: from_kernel,
                    },
                );
                cause
            }
            Trigger::Announced(announcement) => {
                let cause = format!("kernel add {}", announcement.kernel_name);
                merge_device_change(&mut changes, Change::Announced(announcement));
                cause
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

/// Adds `change` (of one device) to `changes`, which keep one change a device: a later event of a
/// device already there takes its place, early only while every event of it was the kernel's
/// (udev's event after the kernel's: not early any more).
fn merge_device_change(changes: &mut Vec<Change>, change: Change) {
    let Some(kernel_name) = change.device().map(str::to_owned) else {
        changes.push(change);
        return;
    };
    match changes
        .iter_mut()
        .find(|known| known.device() == Some(kernel_name.as_str()))
    {
        Some(known) if known.is_early() && change.is_early() => *known = change,
        Some(known) => {
            *known = Change::Device {
                kernel_name,
                early: false,
            }
        }
        None => changes.push(change),
    }
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

    fn announcement(kernel_name: &str) -> Box<Announcement> {
        let devpath = format!("/devices/pci0000:00/0000:00:14.0/usb3/{kernel_name}");
        let message = format!(
            "add@{devpath}\0ACTION=add\0DEVPATH={devpath}\0SUBSYSTEM=usb\0MAJOR=189\0MINOR=261\0\
             DEVNAME=bus/usb/003/006\0DEVTYPE=usb_device\0PRODUCT=46d/825/12\0TYPE=0/0/0\0\
             BUSNUM=003\0DEVNUM=006\0SEQNUM=1\0"
        );
        let event = usb_discovery::UeventMessage::parse(message.as_bytes())
            .ok()
            .and_then(|message| message.usb_device())
            .expect("a usb_device event");
        Box::new(Announcement::from_uevent(&event).expect("complete"))
    }

    fn uevent(action: &str, kernel_name: &str, from_kernel: bool) -> Trigger {
        Trigger::Uevent {
            action: action.into(),
            kernel_name: kernel_name.into(),
            from_kernel,
        }
    }

    #[test]
    fn the_kernel_s_add_keeps_its_message_until_another_event_of_the_device_comes() {
        let (sender, receiver) = channel();
        let gather_now = |triggers: Vec<Trigger>| {
            for trigger in triggers {
                sender.send(trigger).expect("open");
            }
            gather(&receiver, Instant::now() + Duration::from_secs(5))
        };
        let alone = gather_now(vec![Trigger::Announced(announcement("3-6"))]);
        assert_eq!(
            alone.refresh,
            Refresh::Only(vec![Change::Announced(announcement("3-6"))])
        );
        assert_eq!(alone.cause, "kernel add 3-6");

        // The kernel's remove after it: early still, by name (a glance finds it gone).
        let removed = gather_now(vec![
            Trigger::Announced(announcement("3-6")),
            uevent("remove", "3-6", true),
        ]);
        let by_name = |early| Change::Device {
            kernel_name: "3-6".into(),
            early,
        };
        assert_eq!(removed.refresh, Refresh::Only(vec![by_name(true)]));

        // udev's event after it, or before it: read whole.
        for triggers in [
            vec![
                Trigger::Announced(announcement("3-6")),
                uevent("add", "3-6", false),
            ],
            vec![
                uevent("remove", "3-6", false),
                Trigger::Announced(announcement("3-6")),
            ],
        ] {
            assert_eq!(
                gather_now(triggers).refresh,
                Refresh::Only(vec![by_name(false)])
            );
        }

        // A kernel's remove, then the add of a new device at the port: the add's message.
        let replugged = gather_now(vec![
            uevent("remove", "3-6", true),
            Trigger::Announced(announcement("3-6")),
            Trigger::Announced(announcement("3-7")),
        ]);
        assert_eq!(
            replugged.refresh,
            Refresh::Only(vec![
                Change::Announced(announcement("3-6")),
                Change::Announced(announcement("3-7")),
            ])
        );
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
