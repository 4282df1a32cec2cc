//! An ordered property list with udev's set/remove rules.

/// `KEY=value` properties in the order they were first set, as udev keeps them.
///
/// Setting a key that exists replaces its value in place; setting an empty value removes the key
/// (both as systemd's `device_add_property_internal` does).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    entries: Vec<(String, String)>,
}

impl Properties {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`, or removes `key` when `value` is empty.
    pub fn set(&mut self, key: &str, value: &str) {
        let existing = self.entries.iter().position(|(name, _)| name == key);
        match (existing, value.is_empty()) {
            (Some(index), true) => {
                self.entries.remove(index);
            }
            (Some(index), false) => self.entries[index].1 = value.to_owned(),
            (None, true) => {}
            (None, false) => self.entries.push((key.to_owned(), value.to_owned())),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    /// The properties in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// How many properties there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_in_place_and_empty_removes() {
        let mut properties = Properties::new();
        properties.set("A", "1");
        properties.set("B", "2");
        properties.set("A", "3");
        assert_eq!(
            properties.iter().collect::<Vec<_>>(),
            [("A", "3"), ("B", "2")]
        );
        properties.set("A", "");
        properties.set("C", "");
        assert_eq!(properties.iter().collect::<Vec<_>>(), [("B", "2")]);
        assert_eq!(properties.get("A"), None);
        assert_eq!(properties.len(), 1);
        assert!(!properties.is_empty());
        properties.set("D", "4");
        assert_eq!(properties.len(), 2);
        assert!(Properties::new().is_empty());
    }
}
