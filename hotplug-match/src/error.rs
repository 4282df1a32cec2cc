//! The crate's error: a rule that cannot be built, with where it breaks and why.

use std::fmt;

use crate::RulePath;

/// Building a [`Matcher`](crate::Matcher), [`MachineRules`](crate::MachineRules) or
/// [`DenyRules`](crate::DenyRules) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A value of the rule breaks a rule of the format.
    #[error("{}{problem}", prefix(path))]
    InvalidRule {
        /// Where, relative to what was being built (`udev.env[1]`; `[0].port` for a machine's list).
        path: RulePath,
        /// What is wrong there.
        problem: Problem,
    },
}

impl Error {
    /// Where the problem is, relative to what was being built.
    pub fn path(&self) -> &RulePath {
        match self {
            Error::InvalidRule { path, .. } => path,
        }
    }

    /// What is wrong.
    pub fn problem(&self) -> &Problem {
        match self {
            Error::InvalidRule { problem, .. } => problem,
        }
    }

    pub(crate) fn at(path: RulePath, problem: Problem) -> Error {
        Error::InvalidRule { path, problem }
    }

    /// The same error, its path placed behind `outer`.
    pub(crate) fn within(self, outer: &RulePath) -> Error {
        match self {
            Error::InvalidRule { path, problem } => Error::InvalidRule {
                path: outer.join(&path),
                problem,
            },
        }
    }
}

fn prefix(path: &RulePath) -> String {
    if path.is_root() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

/// What is wrong with a rule; its `Display` is a short lowercase sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A machine without any device matcher.
    NoMatchers,
    /// A matcher that sets no criterion at all (it would match every device).
    EmptyMatcher,
    /// A vendor or product id outside 0 to 0xffff.
    IdOutOfRange {
        /// The value written.
        value: i128,
    },
    /// A vendor or product id string that is not a hex number.
    IdNotHex {
        /// The text written.
        text: String,
    },
    /// A class, subclass or protocol code outside 0 to 0xff.
    ClassOutOfRange {
        /// The value written.
        value: i128,
    },
    /// A class, subclass or protocol string that is not a hex number.
    ClassNotHex {
        /// The text written.
        text: String,
    },
    /// A number written as a string with so many digits that it is out of any range.
    NumberTooLong {
        /// The text written.
        text: String,
    },
    /// A bus or device number outside its range.
    NumberOutOfRange {
        /// The value written.
        value: i128,
        /// The smallest valid value.
        min: u16,
        /// The largest valid value.
        max: u16,
    },
    /// A bus or device number string that is not a decimal number.
    NumberNotDecimal {
        /// The text written.
        text: String,
    },
    /// A `port` that is not a port path.
    BadPort {
        /// The text written.
        port: String,
    },
    /// An `env` entry without `name` (or with an empty one).
    EnvWithoutName,
    /// An `env` entry with both `equals` and `pattern`.
    EqualsAndPattern,
    /// An `env` entry with neither `equals` nor `pattern`.
    NeitherEqualsNorPattern,
    /// A `pattern` that is not a valid regular expression.
    BadPattern {
        /// The pattern written.
        pattern: String,
        /// Why the regex engine refused it, on one line.
        reason: String,
    },
    /// An empty string in `tags` or `current-tags`.
    EmptyTag,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NoMatchers => f.write_str("no device matchers (a machine needs at least one)"),
            Problem::EmptyMatcher => {
                f.write_str("the matcher sets no criterion (it would match every device)")
            }
            Problem::IdOutOfRange { value } if *value < 0 => {
                write!(f, "{value} is negative (a usb id is 0 to 0xffff)")
            }
            Problem::IdOutOfRange { value } => write!(f, "{value:#x} is over 0xffff"),
            Problem::IdNotHex { text } => write!(
                f,
                "{text:?} is not a hex number (write ids like 046d or 0x046d)"
            ),
            Problem::ClassOutOfRange { value } if *value < 0 => {
                write!(f, "{value} is negative (a usb class code is 0 to 0xff)")
            }
            Problem::ClassOutOfRange { value } => write!(f, "{value:#x} is over 0xff"),
            Problem::ClassNotHex { text } => write!(
                f,
                "{text:?} is not a hex number (write class codes like 08 or 0x08)"
            ),
            Problem::NumberOutOfRange { value, min, max } => {
                write!(f, "{value} is out of range ({min} to {max})")
            }
            Problem::NumberTooLong { text } => write!(f, "{text:?} is far too large"),
            Problem::NumberNotDecimal { text } => write!(f, "{text:?} is not a decimal number"),
            Problem::BadPort { port } => write!(
                f,
                "{port:?} is not a port like 3-6.3 (or 3-6.* for the port and all behind it)"
            ),
            Problem::EnvWithoutName => f.write_str("env entry without 'name'"),
            Problem::EqualsAndPattern => {
                f.write_str("'equals' and 'pattern' are mutually exclusive")
            }
            Problem::NeitherEqualsNorPattern => {
                f.write_str("env entry needs 'equals' or 'pattern'")
            }
            Problem::BadPattern { pattern, reason } => {
                write!(f, "invalid regex {pattern:?}: {reason}")
            }
            Problem::EmptyTag => f.write_str("empty tag"),
        }
    }
}
