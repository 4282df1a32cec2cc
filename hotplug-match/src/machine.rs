//! A machine's matchers: alternatives, any one of which may match (OR).

use std::fmt;

use crate::{Device, Error, Matcher, MatcherSpec, Mismatch, Problem, RulePath};

/// The device matchers of one machine; a device matches the machine when any of them matches.
///
/// ```
/// use hotplug_match::{MachineRules, MatcherSpec};
///
/// let specs: Vec<MatcherSpec> = serde_yaml::from_str("- vendor-id: 0x1050\n- port: 3-6.*\n")?;
/// let rules = MachineRules::from_specs(&specs)?;
/// assert_eq!(rules.matchers().len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct MachineRules {
    matchers: Vec<Matcher>,
}

impl MachineRules {
    /// Builds every matcher of `specs` (a machine's `devices:` list). An empty list is an error;
    /// error paths start at the list (`[1].udev.env[0]`).
    pub fn from_specs(specs: &[MatcherSpec]) -> Result<MachineRules, Error> {
        let matchers = specs
            .iter()
            .enumerate()
            .map(|(index, spec)| {
                Matcher::new(spec).map_err(|error| error.within(&RulePath::root().index(index)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        MachineRules::new(matchers)
    }

    /// The rules of already built matchers; an empty list is an error.
    pub fn new(matchers: Vec<Matcher>) -> Result<MachineRules, Error> {
        if matchers.is_empty() {
            return Err(Error::at(RulePath::root(), Problem::NoMatchers));
        }
        Ok(MachineRules { matchers })
    }

    /// The matchers, in config order.
    pub fn matchers(&self) -> &[Matcher] {
        &self.matchers
    }

    /// Whether any matcher matches `device`.
    pub fn matches(&self, device: &(impl Device + ?Sized)) -> bool {
        self.matchers.iter().any(|matcher| matcher.matches(device))
    }

    /// The position of the first matcher that matches `device`.
    pub fn first_match(&self, device: &(impl Device + ?Sized)) -> Option<usize> {
        self.matchers
            .iter()
            .position(|matcher| matcher.matches(device))
    }

    /// Why no matcher matches `device` (each one's first failing criterion); `None` when one
    /// matches.
    pub fn explain(&self, device: &(impl Device + ?Sized)) -> Option<MachineMismatch> {
        let mismatches = self
            .matchers
            .iter()
            .map(|matcher| matcher.explain(device))
            .collect::<Option<Vec<_>>>()?;
        Some(MachineMismatch { mismatches })
    }
}

/// Why no matcher of a machine matches a device: one [`Mismatch`] per matcher, in order.
///
/// It renders as the one mismatch when the machine has one matcher, and as
/// `devices[0]: …; devices[1]: …` otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineMismatch {
    /// The first failing criterion of each matcher, in config order.
    pub mismatches: Vec<Mismatch>,
}

impl fmt::Display for MachineMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [only] = self.mismatches.as_slice() {
            return write!(f, "{only}");
        }
        for (index, mismatch) in self.mismatches.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "devices[{index}]: {mismatch}")?;
        }
        Ok(())
    }
}
