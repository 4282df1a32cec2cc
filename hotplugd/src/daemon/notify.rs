//! systemd's notification protocol (`Type=notify`), through the `sd-notify` crate: `READY=1` after
//! the first reconcile, `STATUS=` with the summary line whenever it changes, `RELOADING=1` and
//! `READY=1` around a reload, `STOPPING=1`, and `WATCHDOG=1` from the main loop at half the
//! `WATCHDOG_USEC` systemd asks for, so that a hung loop is restarted. Without `NOTIFY_SOCKET`
//! every call does nothing.

use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// The daemon's side of the protocol.
#[derive(Debug)]
pub struct Notifier {
    enabled: bool,
    /// How often to send `WATCHDOG=1`, when systemd watches.
    watchdog: Option<Duration>,
    next_watchdog: Option<Instant>,
    ready: bool,
    last_status: String,
}

impl Notifier {
    /// A notifier for this process's environment (`NOTIFY_SOCKET`, `WATCHDOG_USEC`).
    pub fn from_environment() -> Notifier {
        let enabled = std::env::var_os("NOTIFY_SOCKET").is_some();
        let mut usec = 0;
        let watchdog = (enabled && sd_notify::watchdog_enabled(false, &mut usec))
            .then(|| Duration::from_micros(usec / 2))
            .filter(|every| !every.is_zero());
        Notifier {
            enabled,
            watchdog,
            next_watchdog: watchdog.map(|every| Instant::now() + every),
            ready: false,
            last_status: String::new(),
        }
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        if self.enabled {
            if let Err(error) = sd_notify::notify(false, states) {
                log::debug!("cannot notify systemd: {error}");
            }
        }
    }

    /// After a reconcile: `READY=1` the first time, `STATUS=` when `summary` changed.
    pub fn reconciled(&mut self, summary: &str) {
        if summary != self.last_status {
            self.last_status = summary.to_owned();
            self.send(&[NotifyState::Status(summary)]);
        }
        if !self.ready {
            self.ready = true;
            self.send(&[NotifyState::Ready]);
        }
    }

    /// Before a reload.
    pub fn reloading(&self) {
        self.send(&[NotifyState::Reloading]);
    }

    /// After a reload, good or bad (the daemon runs on, with one configuration or the other).
    pub fn reloaded(&self) {
        self.send(&[NotifyState::Ready]);
    }

    /// Before the daemon stops.
    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }

    /// When the loop must wake up at the latest to ping the watchdog.
    pub fn watchdog_deadline(&self) -> Option<Instant> {
        self.next_watchdog
    }

    /// Sends `WATCHDOG=1` when it is due.
    pub fn keep_alive(&mut self, now: Instant) {
        if let (Some(every), Some(next)) = (self.watchdog, self.next_watchdog) {
            if now >= next {
                self.send(&[NotifyState::Watchdog]);
                self.next_watchdog = Some(now + every);
            }
        }
    }
}
