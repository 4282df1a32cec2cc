//! Finds where a value is in a YAML text, by its path.
//!
//! serde_yaml keeps no positions in the values it builds, but every error it returns carries the
//! position of the node being read. So to find `machines.webcam.devices[0].port`, deserialize the
//! text once more with a visitor that walks down that path, skipping everything else, and fails on
//! arriving: the failure's position is the node's. When the path does not exist all the way, the
//! deepest node that does is found.

use std::fmt;

use hotplug_match::{PathSegment, RulePath};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::Position;

/// The position of the node at `path` in `text` (or of its deepest existing ancestor); `None` when
/// the parser gives none (an empty document).
pub(crate) fn locate(text: &str, path: &RulePath) -> Option<Position> {
    let deserializer = serde_yaml::Deserializer::from_str(text);
    match (Seek {
        path: path.segments(),
    })
    .deserialize(deserializer)
    {
        Ok(()) => None,
        Err(error) => error.location().map(|location| Position {
            line: location.line(),
            column: location.column(),
        }),
    }
}

/// Walks down `path`; always ends in an error, raised at the node it stops on.
#[derive(Clone, Copy)]
struct Seek<'p> {
    path: &'p [PathSegment],
}

const ARRIVED: &str = "arrived";

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    // Every other visit (a scalar, null) falls back to serde's default: an error, raised at the
    // scalar, which is what is wanted since no path goes below a scalar.

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if let Some((PathSegment::Key(wanted), rest)) = self.path.split_first() {
            while let Some(key) = map.next_key_seed(KeyText)? {
                if key.as_deref() == Some(wanted.as_str()) {
                    map.next_value_seed(Seek { path: rest })?;
                    break;
                }
                map.next_value::<IgnoredAny>()?;
            }
        }
        Err(de::Error::custom(ARRIVED))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if let Some((PathSegment::Index(wanted), rest)) = self.path.split_first() {
            for _ in 0..*wanted {
                if seq.next_element::<IgnoredAny>()?.is_none() {
                    return Err(de::Error::custom(ARRIVED));
                }
            }
            seq.next_element_seed(Seek { path: rest })?;
        }
        Err(de::Error::custom(ARRIVED))
    }
}

/// A mapping key as text (`Some`), as the configuration's own types read keys; `None` for a key
/// that is not a scalar.
struct KeyText;

impl<'de> DeserializeSeed<'de> for KeyText {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyText {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<String>, E> {
        Ok(Some(key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
interval: 5s
machines:
  webcam-test:
    devices:
    - vendor-id: 0x046d
      udev:
        env:
        - name: A
          equals: x
        - name: B
          pattern: '('
";

    fn at(path: &RulePath) -> Option<(usize, usize)> {
        locate(TEXT, path).map(|p| (p.line, p.column))
    }

    #[test]
    fn finds_nodes_by_path() {
        let machine = RulePath::root().key("machines").key("webcam-test");
        let matcher = machine.clone().key("devices").index(0);
        let env = matcher.clone().key("udev").key("env");
        assert_eq!(at(&RulePath::root().key("interval")), Some((1, 11)));
        assert_eq!(at(&machine), Some((4, 5)));
        assert_eq!(at(&matcher), Some((5, 7)));
        assert_eq!(at(&matcher.clone().key("vendor-id")), Some((5, 18)));
        assert_eq!(at(&env.clone().index(1)), Some((10, 11)));
        assert_eq!(at(&env.clone().index(1).key("pattern")), Some((11, 20)));
    }

    #[test]
    fn missing_paths_stop_at_the_deepest_existing_node() {
        let machine = RulePath::root().key("machines").key("webcam-test");
        assert_eq!(at(&machine.clone().key("nothing")), Some((4, 5)));
        assert_eq!(
            at(&machine.clone().key("devices").index(7)),
            at(&machine.key("devices"))
        );
        // An empty document: the parser stops at its start.
        assert_eq!(
            locate("", &RulePath::root().key("devices")),
            Some(Position { line: 1, column: 1 })
        );
    }
}
