//! Parsers for the two files that hold a device's udev view, and a reader that finds them under a
//! root path.
//!
//! * [`UdevRecord`]: a udev database record, `/run/udev/data/c<major>:<minor>` for a character device
//!   (`S:` devlinks, `L:` link priority, `I:` initialization time, `E:` properties, `G:` tags, `Q:`
//!   current tags, `V:` database version). Parsing is lenient like systemd's reader: unknown or
//!   malformed lines are skipped, an `E:` line with an empty value removes the property.
//! * [`Uevent`]: a sysfs `uevent` file (`KEY=value` lines written by the kernel).
//! * [`UdevDatabase`]: reads a device's record under a root (`/` on a host, a fixture tree in tests).
//!   A missing record means "not initialized by udev yet", which is not an error.
//!
//! Both parsers are pure and take bytes: the files are not guaranteed to be UTF-8, and a byte that is
//! not is replaced (U+FFFD) rather than failing the record.
//!
//! ```
//! use udev_db::{UdevRecord, Uevent};
//!
//! let record = UdevRecord::parse(b"I:4269642\nE:ID_SERIAL_SHORT=ABC123\nG:uaccess\nQ:uaccess\nV:1\n");
//! assert_eq!(record.usec_initialized, Some(4269642));
//! assert_eq!(record.property("ID_SERIAL_SHORT"), Some("ABC123"));
//! assert_eq!(record.current_tags(), ["uaccess"]);
//!
//! let uevent = Uevent::parse(b"MAJOR=189\nMINOR=260\nDEVNAME=bus/usb/003/005\n");
//! assert_eq!(uevent.get("DEVNAME"), Some("bus/usb/003/005"));
//! ```
#![forbid(unsafe_code)]

mod database;
mod properties;
mod record;
mod uevent;

pub use database::{Error, UdevDatabase};
pub use properties::Properties;
pub use record::UdevRecord;
pub use uevent::Uevent;

/// The lines of a text file, each decoded as UTF-8 with invalid bytes replaced; a final line without
/// a trailing newline counts, an empty last piece does not.
fn lossy_lines(bytes: &[u8]) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes
        .split(|&byte| byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(String::from_utf8_lossy)
}
