//! Reading records under a root path.

use std::io;
use std::path::{Path, PathBuf};

use crate::UdevRecord;

/// A file that exists but could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading a file failed (other than it being absent where that is allowed).
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// The udev database under a root: `<root>/run/udev/data`.
#[derive(Debug, Clone)]
pub struct UdevDatabase {
    data_dir: PathBuf,
}

impl UdevDatabase {
    /// The database of the system whose file tree starts at `root` (`/` on a host).
    pub fn new(root: &Path) -> UdevDatabase {
        UdevDatabase {
            data_dir: root.join("run/udev/data"),
        }
    }

    /// The path of a character device's record: `<root>/run/udev/data/c<major>:<minor>`.
    pub fn char_device_path(&self, major: u32, minor: u32) -> PathBuf {
        self.data_dir.join(format!("c{major}:{minor}"))
    }

    /// The record of a character device, or `None` when udev has not initialized it (yet).
    pub fn char_device(&self, major: u32, minor: u32) -> Result<Option<UdevRecord>, Error> {
        let path = self.char_device_path(major, minor);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(UdevRecord::parse(&bytes))),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Read { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_record_by_major_minor_and_absent_means_uninitialized() {
        let root = tempfile::tempdir().expect("temp dir");
        let data = root.path().join("run/udev/data");
        std::fs::create_dir_all(&data).expect("mkdir");
        std::fs::write(data.join("c189:901"), "E:ID_BUS=usb\n").expect("write");
        let database = UdevDatabase::new(root.path());
        let record = database.char_device(189, 901).expect("readable");
        assert_eq!(
            record
                .and_then(|r| r.property("ID_BUS").map(str::to_owned))
                .as_deref(),
            Some("usb")
        );
        assert!(database
            .char_device(189, 1)
            .expect("absent is fine")
            .is_none());
    }

    #[test]
    fn an_unreadable_record_is_an_error_naming_the_path() {
        let root = tempfile::tempdir().expect("temp dir");
        // A directory where the file should be cannot be read as a file.
        std::fs::create_dir_all(root.path().join("run/udev/data/c189:5")).expect("mkdir");
        let error = UdevDatabase::new(root.path())
            .char_device(189, 5)
            .expect_err("a directory");
        assert!(
            error.to_string().contains("run/udev/data/c189:5"),
            "{error}"
        );
    }
}
