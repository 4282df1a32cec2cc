//! An ordered property list with udev's set/remove rules.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::ops::Range;

/// `KEY=value` properties in the order they were first set, as udev keeps them.
///
/// Setting a key that exists replaces its value in place; setting an empty value removes the key
/// (both as systemd's `device_add_property_internal` does); a removed key set again goes last.
///
/// Setting, removing and looking up take constant time, so a record of a million lines parses in
/// linear time: the keys and values live back to back in one string, the properties in a list in
/// order, and a hash index (keyed by each key's randomly seeded hash, with a chain for the rare
/// collision) finds a key's place in the list. A removed property leaves a hole in the list.
#[derive(Debug, Clone, Default)]
pub struct Properties {
    /// Every key and value set, back to back (a replaced value stays behind, unused).
    text: String,
    /// In first-set order; `None` where a property was removed.
    entries: Vec<Option<Entry>>,
    /// The hash of each present key → its entry, the first of a chain through [`Entry::next`].
    index: HashMap<u64, usize, BuildHasherDefault<HashValue>>,
    /// Hashes the keys.
    seed: RandomState,
    /// How many properties are present.
    len: usize,
}

/// One property: where its key and value are in [`Properties::text`].
#[derive(Debug, Clone)]
struct Entry {
    key: Range<usize>,
    value: Range<usize>,
    /// The next entry whose key has the same hash.
    next: Option<usize>,
}

/// Where a key is: its entry and the entry before it in its hash chain.
struct Found {
    at: usize,
    before: Option<usize>,
}

impl Properties {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`, or removes `key` when `value` is empty.
    pub fn set(&mut self, key: &str, value: &str) {
        let hash = self.seed.hash_one(key);
        match (self.find(hash, key), value.is_empty()) {
            (Some(found), true) => self.remove(hash, found),
            (Some(found), false) => {
                let value = self.store(value);
                if let Some(entry) = &mut self.entries[found.at] {
                    entry.value = value;
                }
            }
            (None, true) => {}
            (None, false) => {
                let key = self.store(key);
                let value = self.store(value);
                let next = self.index.insert(hash, self.entries.len());
                self.entries.push(Some(Entry { key, value, next }));
                self.len += 1;
            }
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        let found = self.find(self.seed.hash_one(key), key)?;
        self.entries[found.at]
            .as_ref()
            .map(|entry| &self.text[entry.value.clone()])
    }

    /// The properties in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().flatten().map(|entry| {
            (
                &self.text[entry.key.clone()],
                &self.text[entry.value.clone()],
            )
        })
    }

    /// How many properties there are.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn find(&self, hash: u64, key: &str) -> Option<Found> {
        let mut before = None;
        let mut at = *self.index.get(&hash)?;
        loop {
            let entry = self.entries[at].as_ref()?;
            if self.text[entry.key.clone()] == *key {
                return Some(Found { at, before });
            }
            before = Some(at);
            at = entry.next?;
        }
    }

    fn remove(&mut self, hash: u64, found: Found) {
        let next = self.entries[found.at].take().and_then(|entry| entry.next);
        match (found.before, next) {
            (Some(before), _) => {
                if let Some(entry) = &mut self.entries[before] {
                    entry.next = next;
                }
            }
            (None, Some(next)) => {
                self.index.insert(hash, next);
            }
            (None, None) => {
                self.index.remove(&hash);
            }
        }
        self.len -= 1;
    }

    fn store(&mut self, piece: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(piece);
        start..self.text.len()
    }
}

/// Two lists are equal when they hold the same properties in the same order.
impl PartialEq for Properties {
    fn eq(&self, other: &Properties) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Properties {}

/// The hasher of the index, whose keys are hashes already: it passes them through.
#[derive(Debug, Default)]
struct HashValue(u64);

impl Hasher for HashValue {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
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

    #[test]
    fn a_removed_key_set_again_goes_last_and_equality_ignores_removals() {
        let mut properties = Properties::new();
        for (key, value) in [("A", "1"), ("B", "2"), ("A", ""), ("A", "4")] {
            properties.set(key, value);
        }
        assert_eq!(
            properties.iter().collect::<Vec<_>>(),
            [("B", "2"), ("A", "4")]
        );
        let mut same = Properties::new();
        same.set("B", "2");
        same.set("A", "4");
        assert_eq!(properties, same);
        same.set("A", "5");
        assert_ne!(properties, same);
    }

    /// Keys whose hashes collide share a chain. A collision of the seeded hash cannot be made on
    /// purpose, so the chain is built here by hand and walked through `find` and `remove`.
    #[test]
    fn a_hash_chain_finds_and_removes_each_key() {
        let mut properties = Properties::new();
        let hash = 42;
        for (i, key) in ["A", "B", "C"].into_iter().enumerate() {
            let key_range = properties.store(key);
            let value = properties.store("v");
            let next = properties.index.insert(hash, i);
            properties.entries.push(Some(Entry {
                key: key_range,
                value,
                next,
            }));
            properties.len += 1;
        }
        for key in ["A", "B", "C"] {
            assert!(properties.find(hash, key).is_some(), "{key}");
        }
        let middle = properties.find(hash, "B").expect("B");
        properties.remove(hash, middle);
        assert!(properties.find(hash, "B").is_none());
        let head = properties.find(hash, "C").expect("C");
        assert_eq!(head.before, None);
        properties.remove(hash, head);
        assert!(properties.find(hash, "A").is_some());
        assert_eq!(properties.iter().collect::<Vec<_>>(), [("A", "v")]);
    }
}
