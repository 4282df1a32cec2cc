//! A machine's matchers: alternatives, any one of which may match (OR), and its deny rules.

use std::fmt;

use crate::deny::build_all;
use crate::{Denial, DenyRules, Device, Error, Matcher, MatcherSpec, Mismatch, Problem, RulePath};

/// The device matchers of one machine and its deny rules: a device matches the machine when any
/// matcher matches it and no deny rule does.
///
/// ```
/// use hotplug_match::{DenyRules, MachineRules, MatcherSpec};
///
/// let specs: Vec<MatcherSpec> = serde_yaml::from_str("- vendor-id: 0x1050\n- port: 3-6.*\n")?;
/// let deny: Vec<MatcherSpec> = serde_yaml::from_str("- port: 3-6.4\n")?;
/// let rules = MachineRules::from_specs(&specs)?.with_deny(DenyRules::from_specs(&deny)?);
/// assert_eq!(rules.matchers().len(), 2);
/// assert_eq!(rules.deny().matchers().len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct MachineRules {
    matchers: Vec<Matcher>,
    deny: DenyRules,
}

impl MachineRules {
    /// Builds every matcher of `specs` (a machine's `devices:` list), without deny rules. An
    /// empty list is an error; error paths start at the list (`[1].udev.env[0]`).
    pub fn from_specs(specs: &[MatcherSpec]) -> Result<MachineRules, Error> {
        MachineRules::new(build_all(specs)?)
    }

    /// The rules of already built matchers, without deny rules; an empty list is an error.
    pub fn new(matchers: Vec<Matcher>) -> Result<MachineRules, Error> {
        if matchers.is_empty() {
            return Err(Error::at(RulePath::root(), Problem::NoMatchers));
        }
        Ok(MachineRules {
            matchers,
            deny: DenyRules::default(),
        })
    }

    /// The same matchers with the machine's deny rules (`deny:` next to `devices:`).
    pub fn with_deny(self, deny: DenyRules) -> MachineRules {
        MachineRules { deny, ..self }
    }

    /// The matchers, in config order.
    pub fn matchers(&self) -> &[Matcher] {
        &self.matchers
    }

    /// The machine's deny rules, in config order.
    pub fn deny(&self) -> &DenyRules {
        &self.deny
    }

    /// Whether `device` matches the machine: a matcher matches it and no deny rule does.
    pub fn matches(&self, device: &(impl Device + ?Sized)) -> bool {
        self.first_match(device).is_some()
    }

    /// The position of the first matcher that matches `device`; `None` when none does, or when a
    /// deny rule excludes the device.
    pub fn first_match(&self, device: &(impl Device + ?Sized)) -> Option<usize> {
        let position = self
            .matchers
            .iter()
            .position(|matcher| matcher.matches(device))?;
        self.deny.denied_by(device).is_none().then_some(position)
    }

    /// Why `device` does not match the machine: each matcher's first failing criterion, or, when
    /// a matcher matches, the deny rule that excludes it; `None` when the device matches.
    pub fn explain(&self, device: &(impl Device + ?Sized)) -> Option<MachineMismatch> {
        let mismatches = self
            .matchers
            .iter()
            .map(|matcher| matcher.explain(device))
            .collect::<Option<Vec<_>>>();
        match mismatches {
            Some(mismatches) => Some(MachineMismatch::NoMatcher { mismatches }),
            None => self.deny.explain(device).map(MachineMismatch::Denied),
        }
    }
}

/// Why a device does not match a machine.
///
/// `NoMatcher` renders as the one mismatch when the machine has one matcher, and as
/// `devices[0]: …; devices[1]: …` otherwise; `Denied` as the [`Denial`]
/// (`excluded by deny[0] (port 3-6.4)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineMismatch {
    /// No matcher matches: the first failing criterion of each matcher, in config order.
    NoMatcher {
        /// One per matcher.
        mismatches: Vec<Mismatch>,
    },
    /// A matcher matches, but one of the machine's deny rules matches too.
    Denied(Denial),
}

impl fmt::Display for MachineMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mismatches = match self {
            MachineMismatch::Denied(denial) => return write!(f, "{denial}"),
            MachineMismatch::NoMatcher { mismatches } => mismatches,
        };
        if let [only] = mismatches.as_slice() {
            return write!(f, "{only}");
        }
        for (index, mismatch) in mismatches.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "devices[{index}]: {mismatch}")?;
        }
        Ok(())
    }
}
