//! The one channel of triggers that drives the reconcile loop, and the signal source that feeds it.
//!
//! Every source (signals, the udev monitor, libvirt's domain events) only sends a [`Trigger`]; the
//! loop waits for one (or for the tick: the wait times out), drains whatever else arrived meanwhile
//! (a hub plugged in sends dozens of events) and runs one full reconcile.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Why the loop should reconcile now (the tick is a wait that timed out, not a trigger).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A udev event for a USB device.
    Uevent,
    /// A configured domain started, stopped or resumed.
    DomainEvent,
    /// SIGHUP: re-read the configuration, then reconcile.
    Reload,
    /// A control request (`attach`, `detach`) arrived in the state directory.
    Request,
    /// SIGINT or SIGTERM: stop; attached devices stay attached.
    Shutdown,
}

/// What a wait on the channel gathered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gathered {
    /// How many triggers arrived (0 when the wait timed out).
    pub triggers: usize,
    /// Whether one of them asked for a reload.
    pub reload: bool,
    /// Whether a control request arrived.
    pub requests: bool,
    /// Whether one of them asked to stop, or every sender is gone.
    pub shutdown: bool,
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
    for trigger in std::iter::once(first).chain(triggers.try_iter()) {
        gathered.triggers += 1;
        match trigger {
            Trigger::Reload => gathered.reload = true,
            Trigger::Request => gathered.requests = true,
            Trigger::Shutdown => gathered.shutdown = true,
            Trigger::Uevent | Trigger::DomainEvent => {}
        }
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
        for _ in 0..40 {
            sender.send(Trigger::Uevent).expect("open");
        }
        sender.send(Trigger::Reload).expect("open");
        let gathered = gather(&receiver, Instant::now() + Duration::from_secs(5));
        assert_eq!(
            gathered,
            Gathered {
                triggers: 41,
                reload: true,
                requests: false,
                shutdown: false
            }
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
