//! Where a value sits inside a rule: `udev.env[1].pattern`, `machines.webcam.devices[0]`.

use std::fmt;

/// One step of a [`RulePath`]: a mapping key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// A mapping key (`udev`, `vendor-id`, a machine's name).
    Key(String),
    /// A position in a list, counted from 0.
    Index(usize),
}

/// A path inside a YAML document, rendered the way serde_yaml renders its own:
/// `machines.webcam-test.devices[0].udev.env[1]`.
///
/// ```
/// use hotplug_match::RulePath;
///
/// let inner = RulePath::root().index(0).key("udev").key("env").index(1);
/// let path = RulePath::root().key("machines").key("webcam").key("devices").join(&inner);
/// assert_eq!(path.to_string(), "machines.webcam.devices[0].udev.env[1]");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RulePath(Vec<PathSegment>);

impl RulePath {
    /// The empty path: the document (or the rule) itself.
    pub fn root() -> RulePath {
        RulePath(Vec::new())
    }

    /// This path followed by the mapping key `key`.
    pub fn key(mut self, key: impl Into<String>) -> RulePath {
        self.0.push(PathSegment::Key(key.into()));
        self
    }

    /// This path followed by the list index `index`.
    pub fn index(mut self, index: usize) -> RulePath {
        self.0.push(PathSegment::Index(index));
        self
    }

    /// This path followed by every step of `rest`.
    pub fn join(&self, rest: &RulePath) -> RulePath {
        let mut joined = self.clone();
        joined.0.extend(rest.0.iter().cloned());
        joined
    }

    /// The steps, outermost first.
    pub fn segments(&self) -> &[PathSegment] {
        &self.0
    }

    /// Whether this is the root (no step at all).
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for RulePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, segment) in self.0.iter().enumerate() {
            match segment {
                PathSegment::Key(key) if position == 0 => f.write_str(key)?,
                PathSegment::Key(key) => write!(f, ".{key}")?,
                PathSegment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_serde_yaml() {
        assert_eq!(RulePath::root().to_string(), "");
        assert_eq!(
            RulePath::root().index(2).key("port").to_string(),
            "[2].port"
        );
        assert_eq!(
            RulePath::root()
                .key("devices")
                .index(0)
                .key("bus")
                .to_string(),
            "devices[0].bus"
        );
    }
}
