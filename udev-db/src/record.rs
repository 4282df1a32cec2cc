//! The udev database record (`/run/udev/data/<device id>`).

use std::collections::HashSet;

use crate::{lines, Properties};

/// One device's record in the udev database, as systemd's `device_update_db()` writes it.
///
/// Only what udev added is in it: the kernel's own keys (MAJOR, DEVNAME, PRODUCT, …) live in the
/// sysfs `uevent` file instead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UdevRecord {
    /// `S:` lines: device links relative to `/dev`, in file order.
    pub devlinks: Vec<String>,
    /// `L:` line: the device link priority.
    pub devlink_priority: Option<i32>,
    /// `I:` line: `USEC_INITIALIZED`, microseconds of CLOCK_MONOTONIC when udev first saw the device.
    pub usec_initialized: Option<u64>,
    /// `E:` lines: the properties set by udev rules and builtins.
    pub properties: Properties,
    /// `G:` lines: every tag ever set (`TAGS`).
    pub tags: Vec<String>,
    /// `Q:` lines: the tags set now (`CURRENT_TAGS`); see [`UdevRecord::current_tags`].
    pub current_tag_lines: Vec<String>,
    /// `V:` line: the database format version (1 since systemd 247).
    pub version: Option<u32>,
}

impl UdevRecord {
    /// Parses a record. Never fails: like systemd's reader, it skips lines that are not `X:value`,
    /// unknown keys, `E:` lines without `=`, and numbers that do not parse. Takes time linear in
    /// the size of the record.
    pub fn parse(bytes: &[u8]) -> UdevRecord {
        let mut record = UdevRecord::default();
        let (mut devlinks, mut tags, mut current_tags) = (
            UniqueList::default(),
            UniqueList::default(),
            UniqueList::default(),
        );
        let text = String::from_utf8_lossy(bytes);
        for line in lines(&text) {
            let mut chars = line.chars();
            let (Some(key), Some(':')) = (chars.next(), chars.next()) else {
                continue;
            };
            let value = chars.as_str();
            match key {
                'S' if !value.is_empty() => devlinks.push(value),
                'L' => record.devlink_priority = value.parse().ok().or(record.devlink_priority),
                'I' => record.usec_initialized = value.parse().ok().or(record.usec_initialized),
                'E' => {
                    if let Some((name, value)) = value.split_once('=') {
                        if !name.is_empty() {
                            record.properties.set(name, value);
                        }
                    }
                }
                'G' if !value.is_empty() => tags.push(value),
                'Q' if !value.is_empty() => current_tags.push(value),
                'V' => record.version = value.parse().ok().or(record.version),
                _ => {}
            }
        }
        record.devlinks = devlinks.items;
        record.tags = tags.items;
        record.current_tag_lines = current_tags.items;
        record
    }

    /// The value of an `E:` property.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name)
    }

    /// The current tags. A database without a version (written before systemd 247) has no `Q:`
    /// lines, and then every tag counts as current, as udev itself reads it.
    pub fn current_tags(&self) -> &[String] {
        if self.version.unwrap_or(0) >= 1 {
            &self.current_tag_lines
        } else {
            &self.tags
        }
    }
}

/// Values in first-seen order, each once.
#[derive(Default)]
struct UniqueList<'t> {
    items: Vec<String>,
    seen: HashSet<&'t str>,
}

impl<'t> UniqueList<'t> {
    fn push(&mut self, value: &'t str) {
        if self.seen.insert(value) {
            self.items.push(value.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_line_kind() {
        let record = UdevRecord::parse(
            b"S:libmtp-1-1.5.2.4\nS:serial/by-id/x\nL:-10\nI:11864116\nE:ID_VENDOR=06cb\n\
              G:seat\nG:uaccess\nQ:uaccess\nV:1\nW:3\n",
        );
        assert_eq!(record.devlinks, ["libmtp-1-1.5.2.4", "serial/by-id/x"]);
        assert_eq!(record.devlink_priority, Some(-10));
        assert_eq!(record.usec_initialized, Some(11864116));
        assert_eq!(record.property("ID_VENDOR"), Some("06cb"));
        assert_eq!(record.tags, ["seat", "uaccess"]);
        assert_eq!(record.current_tags(), ["uaccess"]);
        assert_eq!(record.version, Some(1));
    }

    #[test]
    fn values_keep_equals_colons_spaces_and_utf8() {
        let record = UdevRecord::parse(
            "E:ID_PATH=pci-0000:00:14.0-usb-0:1.4\nE:EQ=a=b==c\nE:MODEL=U.are.U® 4500 \nE:T=:a:b:\n"
                .as_bytes(),
        );
        assert_eq!(
            record.property("ID_PATH"),
            Some("pci-0000:00:14.0-usb-0:1.4")
        );
        assert_eq!(record.property("EQ"), Some("a=b==c"));
        assert_eq!(record.property("MODEL"), Some("U.are.U® 4500 "));
        assert_eq!(record.property("T"), Some(":a:b:"));
    }

    #[test]
    fn empty_value_removes_a_property_and_later_lines_win() {
        let record = UdevRecord::parse(b"E:A=1\nE:B=2\nE:A=\nE:B=3\nE:C=\n");
        assert_eq!(record.properties.iter().collect::<Vec<_>>(), [("B", "3")]);
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let record = UdevRecord::parse(
            b"garbage\nE\nE:\nE:NOEQUALS\nE:=novalue\nX:unknown\nI:notanumber\nL:\nV:x\n:E:A=1\nE :B=2\n\
              S:\nG:\nQ:\nE:GOOD=yes\n",
        );
        assert_eq!(
            record.properties.iter().collect::<Vec<_>>(),
            [("GOOD", "yes")]
        );
        assert_eq!(record.usec_initialized, None);
        assert_eq!(record.devlink_priority, None);
        assert_eq!(record.version, None);
        assert!(record.devlinks.is_empty() && record.tags.is_empty());
        assert!(record.current_tag_lines.is_empty());
    }

    #[test]
    fn missing_trailing_newline_and_invalid_utf8() {
        let record = UdevRecord::parse(b"E:A=1\nE:B=caf\xe9");
        assert_eq!(record.property("A"), Some("1"));
        assert_eq!(record.property("B"), Some("caf\u{fffd}"));
        assert_eq!(UdevRecord::parse(b""), UdevRecord::default());
    }

    #[test]
    fn without_version_current_tags_fall_back_to_tags() {
        let old = UdevRecord::parse(b"G:udev-acl\nG:seat\n");
        assert_eq!(old.current_tags(), ["udev-acl", "seat"]);
        let version_zero = UdevRecord::parse(b"G:seat\nQ:seat\nV:0\n");
        assert_eq!(version_zero.current_tags(), ["seat"]);
        let new_without_current = UdevRecord::parse(b"G:seat\nV:1\n");
        assert!(new_without_current.current_tags().is_empty());
    }
}
