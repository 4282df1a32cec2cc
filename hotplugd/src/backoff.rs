//! When a failed action is tried again (DESIGN.md, Semantics 6): a pure value; the caller passes
//! the time in. It only schedules retries; what is logged is decided by comparing outcomes
//! ([`crate::report`]).
//!
//! * A **transient** failure (libvirt busy or not answering, the connection lost, the domain not
//!   running yet) is retried after 0.5 s, 1 s, 2 s, … capped at the interval.
//! * A **permanent** failure (no such device on the host, the XML refused, no USB controller) is
//!   retried only when something changes ([`Backoff::something_changed`]: a udev or domain event,
//!   a reload) or at the interval: trying it sooner would fail the same way.
//!
//! A success clears the action, and so does a change of state that drops it from the plan.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use hotplugd::backoff::{Backoff, FIRST_RETRY};
//! use libvirt_sync::ErrorKind;
//!
//! let mut backoff = Backoff::new();
//! let now = Instant::now();
//! backoff.failed("attach", ErrorKind::Transient, now, Duration::from_secs(5));
//! assert!(!backoff.is_due(&"attach", now));
//! assert!(backoff.is_due(&"attach", now + FIRST_RETRY));
//! ```

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use libvirt_sync::ErrorKind;

/// The first retry delay of a transient failure; each further failure doubles it up to the cap.
pub const FIRST_RETRY: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
struct Failure {
    attempts: u32,
    kind: ErrorKind,
    retry_at: Instant,
}

/// The failing actions, keyed by whatever names an action (machine, device, kind).
#[derive(Debug, Clone)]
pub struct Backoff<K> {
    failures: HashMap<K, Failure>,
}

impl<K> Default for Backoff<K> {
    fn default() -> Self {
        Backoff {
            failures: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> Backoff<K> {
    /// No failures.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the action may be tried at `now`: it never failed, or its retry time has come.
    pub fn is_due(&self, key: &K, now: Instant) -> bool {
        self.failures
            .get(key)
            .is_none_or(|failure| failure.retry_at <= now)
    }

    /// The failing actions whose retry time has not come at `now`.
    pub fn waiting(&self, now: Instant) -> impl Iterator<Item = &K> + '_ {
        self.failures
            .iter()
            .filter(move |(_, failure)| failure.retry_at > now)
            .map(|(key, _)| key)
    }

    /// Records a failure of `kind` at `now`; `cap` is the interval, the longest wait.
    pub fn failed(&mut self, key: K, kind: ErrorKind, now: Instant, cap: Duration) {
        let failure = self.failures.entry(key).or_insert(Failure {
            attempts: 0,
            kind,
            retry_at: now,
        });
        failure.attempts = failure.attempts.saturating_add(1);
        failure.kind = kind;
        let delay = match kind {
            ErrorKind::Transient => {
                let factor = 1u32 << failure.attempts.saturating_sub(1).min(16);
                FIRST_RETRY.saturating_mul(factor).min(cap)
            }
            ErrorKind::Permanent => cap,
        };
        failure.retry_at = now + delay;
    }

    /// Something changed (a udev or domain event, a reload): permanent failures may be tried
    /// again at `now`. Transient ones keep their schedule.
    pub fn something_changed(&mut self, now: Instant) {
        for failure in self.failures.values_mut() {
            if failure.kind == ErrorKind::Permanent {
                failure.retry_at = failure.retry_at.min(now);
            }
        }
    }

    /// Records a success: the action is no longer failing.
    pub fn succeeded(&mut self, key: &K) {
        self.failures.remove(key);
    }

    /// Forgets the actions that `still_planned` rejects (the state changed, so they are no longer
    /// wanted). Returns how many were forgotten.
    pub fn retain(&mut self, mut still_planned: impl FnMut(&K) -> bool) -> usize {
        let before = self.failures.len();
        self.failures.retain(|key, _| still_planned(key));
        before - self.failures.len()
    }

    /// When the failing action `key` may be tried again.
    pub fn retry_at(&self, key: &K) -> Option<Instant> {
        self.failures.get(key).map(|failure| failure.retry_at)
    }

    /// The earliest retry time of any failing action.
    pub fn next_retry(&self) -> Option<Instant> {
        self.failures.values().map(|failure| failure.retry_at).min()
    }

    /// How many actions are failing.
    pub fn len(&self) -> usize {
        self.failures.len()
    }

    /// Whether no action is failing.
    pub fn is_empty(&self) -> bool {
        self.failures.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: Duration = Duration::from_secs(5);

    #[test]
    fn a_transient_failure_is_retried_later_and_later_up_to_the_cap() {
        let mut backoff = Backoff::new();
        let start = Instant::now();
        assert!(backoff.is_due(&"attach", start));
        backoff.failed("attach", ErrorKind::Transient, start, CAP);
        assert!(!backoff.is_due(&"attach", start));
        assert!(backoff.is_due(&"attach", start + FIRST_RETRY));
        let mut delays = Vec::new();
        for _ in 0..6 {
            let now = backoff.next_retry().expect("failing");
            backoff.failed("attach", ErrorKind::Transient, now, CAP);
            delays.push(backoff.next_retry().expect("failing") - now);
        }
        let millis: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [1000, 2000, 4000, 5000, 5000, 5000]);
    }

    #[test]
    fn a_permanent_failure_waits_for_a_change_or_the_interval() {
        let mut backoff = Backoff::new();
        let start = Instant::now();
        backoff.failed("attach", ErrorKind::Permanent, start, CAP);
        backoff.failed("detach", ErrorKind::Transient, start, CAP);
        assert!(!backoff.is_due(&"attach", start + FIRST_RETRY * 4));
        assert!(backoff.is_due(&"attach", start + CAP));
        let later = start + Duration::from_millis(100);
        backoff.something_changed(later);
        assert!(backoff.is_due(&"attach", later), "a change makes it due");
        assert!(
            !backoff.is_due(&"detach", later),
            "a transient one keeps its schedule"
        );
        let waiting: Vec<&&str> = backoff.waiting(later).collect();
        assert_eq!(waiting, [&"detach"]);
    }

    #[test]
    fn success_or_a_changed_plan_clear_a_failure() {
        let mut backoff = Backoff::new();
        let now = Instant::now();
        backoff.failed("a", ErrorKind::Transient, now, CAP);
        backoff.succeeded(&"a");
        assert!(backoff.is_empty() && backoff.is_due(&"a", now));
        backoff.failed("b", ErrorKind::Transient, now, CAP);
        backoff.failed("c", ErrorKind::Transient, now, CAP);
        backoff.failed("c", ErrorKind::Transient, now, CAP);
        assert_eq!((backoff.len(), backoff.is_empty()), (2, false));
        assert_eq!(backoff.retry_at(&"b"), Some(now + FIRST_RETRY));
        assert!(
            backoff.retry_at(&"c") > Some(now + FIRST_RETRY),
            "failed twice, so waits longer"
        );
        assert_eq!(backoff.retry_at(&"a"), None, "not failing");
        assert_eq!(backoff.retain(|key| *key == "c"), 1);
        assert_eq!(backoff.len(), 1);
        backoff.failed("b", ErrorKind::Transient, now, CAP);
        assert_eq!(
            backoff.next_retry(),
            Some(now + FIRST_RETRY),
            "forgotten, so its first retry again"
        );
    }
}
