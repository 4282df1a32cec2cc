//! The criteria of a matcher that need more than a comparison: ports and udev properties.

use regex::Regex;

use crate::{EnvSpec, Problem};

/// `port:`: the kernel name exactly, or (`3-6.*`) the port and every port behind it.
#[derive(Debug, Clone)]
pub(crate) struct PortRule {
    pub(crate) written: String,
    port: String,
    and_behind: bool,
}

impl PortRule {
    pub(crate) fn parse(written: &str) -> Option<PortRule> {
        let (port, and_behind) = match written.strip_suffix(".*") {
            Some(port) => (port, true),
            None => (written, false),
        };
        let (bus, chain) = port.split_once('-')?;
        let number = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        (number(bus) && chain.split('.').all(number)).then(|| PortRule {
            written: written.to_owned(),
            port: port.to_owned(),
            and_behind,
        })
    }

    pub(crate) fn matches(&self, kernel_name: &str) -> bool {
        match kernel_name.strip_prefix(self.port.as_str()) {
            Some("") => true,
            Some(rest) => self.and_behind && rest.starts_with('.'),
            None => false,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct EnvRule {
    pub(crate) name: String,
    pub(crate) test: EnvTest,
}

#[derive(Debug, Clone)]
pub(crate) enum EnvTest {
    Equals(String),
    Pattern(Regex),
}

impl EnvRule {
    pub(crate) fn build(spec: &EnvSpec) -> Result<EnvRule, Problem> {
        let name = match spec.name.as_deref() {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => return Err(Problem::EnvWithoutName),
        };
        let test = match (&spec.equals, &spec.pattern) {
            (Some(_), Some(_)) => return Err(Problem::EqualsAndPattern),
            (None, None) => return Err(Problem::NeitherEqualsNorPattern),
            (Some(value), None) => EnvTest::Equals(value.clone()),
            (None, Some(pattern)) => EnvTest::Pattern(compile(pattern)?),
        };
        Ok(EnvRule { name, test })
    }

    pub(crate) fn holds(&self, value: &str) -> bool {
        match &self.test {
            EnvTest::Equals(expected) => value == expected,
            EnvTest::Pattern(regex) => regex.is_match(value),
        }
    }
}

fn compile(pattern: &str) -> Result<Regex, Problem> {
    Regex::new(pattern).map_err(|error| Problem::BadPattern {
        pattern: pattern.to_owned(),
        reason: one_line(&error),
    })
}

/// The regex crate explains a syntax error over several lines (the pattern, a caret, then
/// `error: …`); a config error is one line, so keep the `error:` line.
fn one_line(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .map(str::to_owned)
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_rules() {
        let rule = |written: &str| PortRule::parse(written).expect("valid port");
        assert!(rule("3-6.3").matches("3-6.3"));
        assert!(!rule("3-6.3").matches("3-6.3.1"));
        assert!(!rule("3-6").matches("3-6.1"));
        for behind in ["3-6", "3-6.1", "3-6.1.4"] {
            assert!(rule("3-6.*").matches(behind), "{behind}");
        }
        for elsewhere in ["3-61", "3-7", "13-6", "3-6:1.0", "usb3"] {
            assert!(!rule("3-6.*").matches(elsewhere), "{elsewhere}");
        }
        for bad in [
            "", "3", "3-", "3-6.", "3-6*", "-6", "usb3", "3-6.x", "3-6.*.*", "3-6.**",
        ] {
            assert!(PortRule::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn regex_errors_fit_on_one_line() {
        let Err(Problem::BadPattern { reason, .. }) = compile("(") else {
            panic!("an unclosed group is invalid");
        };
        assert_eq!(reason, "unclosed group");
    }
}
