//! Failed actions: logged once, retried with exponential backoff (DESIGN.md, Semantics 6).
//!
//! A pure value: the caller passes the time in. A failure is logged when it is new, or when the same
//! action fails with another error; it is retried after 0.5 s, 1 s, 2 s, … capped at the interval.
//! A success clears it, and so does a change of state that drops the action from the plan.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// The first retry delay; each further failure doubles it up to the cap.
pub const FIRST_RETRY: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
struct Failure {
    attempts: u32,
    retry_at: Instant,
    message: String,
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

    /// Records a failure at `now`, with the delay before the next try capped at `cap`. Returns
    /// whether to log it: the first failure of this action, or a different error than last time.
    pub fn failed(&mut self, key: K, message: &str, now: Instant, cap: Duration) -> bool {
        let failure = self.failures.entry(key).or_insert_with(|| Failure {
            attempts: 0,
            retry_at: now,
            message: String::new(),
        });
        let is_new = failure.attempts == 0 || failure.message != message;
        failure.attempts = failure.attempts.saturating_add(1);
        let factor = 1u32 << failure.attempts.saturating_sub(1).min(16);
        failure.retry_at = now + FIRST_RETRY.saturating_mul(factor).min(cap);
        failure.message = message.to_owned();
        is_new
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
    fn a_failure_is_logged_once_and_retried_later_and_later_up_to_the_cap() {
        let mut backoff = Backoff::new();
        let start = Instant::now();
        assert!(backoff.is_due(&"attach", start));
        assert!(backoff.failed("attach", "device busy", start, CAP));
        assert!(!backoff.is_due(&"attach", start));
        assert!(backoff.is_due(&"attach", start + FIRST_RETRY));
        let mut delays = Vec::new();
        for _ in 0..6 {
            let now = backoff.next_retry().expect("failing");
            assert!(
                !backoff.failed("attach", "device busy", now, CAP),
                "same error: not logged again"
            );
            delays.push(backoff.next_retry().expect("failing") - now);
        }
        let millis: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [1000, 2000, 4000, 5000, 5000, 5000]);
    }

    #[test]
    fn a_different_error_is_logged_and_success_or_a_changed_plan_clear_it() {
        let mut backoff = Backoff::new();
        let now = Instant::now();
        backoff.failed("a", "busy", now, CAP);
        assert!(
            backoff.failed("a", "gone", now, CAP),
            "a new error is logged"
        );
        backoff.succeeded(&"a");
        assert!(backoff.is_empty() && backoff.is_due(&"a", now));
        backoff.failed("b", "busy", now, CAP);
        backoff.failed("c", "busy", now, CAP);
        assert_eq!(backoff.retain(|key| *key == "c"), 1);
        assert_eq!(backoff.len(), 1);
        assert!(
            backoff.failed("b", "busy", now, CAP),
            "forgotten, so new again"
        );
    }
}
