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
//! * [`read_limited`]: reads a file with a bound on its size ([`MAX_FILE_LEN`] for records and
//!   `uevent` files: a bigger one is an error for that device, found without reading it all).
//!
//! Both parsers are pure, take bytes and run in time linear in their size: the files are not
//! guaranteed to be UTF-8, and a byte that is not is replaced (U+FFFD) rather than failing the
//! record.
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

pub use database::{read_limited, Error, UdevDatabase, MAX_FILE_LEN};
pub use properties::Properties;
pub use record::UdevRecord;
pub use uevent::Uevent;

/// The lines of a text file (decoded as UTF-8 with invalid bytes replaced); a final line without
/// a trailing newline counts, empty lines do not.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n').filter(|line| !line.is_empty())
}
