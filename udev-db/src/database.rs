//! Reading records under a root path, each file read with a bound on its size.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::UdevRecord;

/// The largest udev database record or `uevent` file read, 1 MiB: real ones hold a few KiB, and a
/// bigger one is refused (for that device) rather than read whole.
pub const MAX_FILE_LEN: u64 = 1 << 20;

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
        match read_limited(&path, MAX_FILE_LEN) {
            Ok(bytes) => Ok(Some(UdevRecord::parse(&bytes))),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Read { path, source }),
        }
    }
}

/// The bytes of the file at `path`, reading at most `limit + 1` of them: a longer file is an error
/// of kind [`io::ErrorKind::FileTooLarge`], found without reading it all (a sysfs file's size says
/// nothing of its content, so the bound is on what is read, not on what `stat` says).
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("uevent");
/// std::fs::write(&path, "MAJOR=189\n")?;
/// assert_eq!(udev_db::read_limited(&path, 10)?, b"MAJOR=189\n");
/// let error = udev_db::read_limited(&path, 9).unwrap_err();
/// assert_eq!(error.kind(), std::io::ErrorKind::FileTooLarge);
/// assert_eq!(error.to_string(), "the file is larger than 9 bytes");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_limited(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    // The size is only a hint for the buffer, as `std::fs::read` takes it.
    let hint = file
        .metadata()
        .map_or(0, |metadata| metadata.len())
        .min(limit);
    let mut bytes = Vec::with_capacity(usize::try_from(hint).unwrap_or(0).saturating_add(1));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("the file is larger than {limit} bytes"),
        ));
    }
    Ok(bytes)
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

    #[test]
    fn a_record_over_the_bound_is_an_error_naming_the_path() {
        let root = tempfile::tempdir().expect("temp dir");
        let data = root.path().join("run/udev/data");
        std::fs::create_dir_all(&data).expect("mkdir");
        let line = b"E:ID_X=y\n";
        let mut huge = line.repeat(usize::try_from(MAX_FILE_LEN).expect("fits") / line.len());
        std::fs::write(data.join("c189:7"), &huge).expect("write");
        assert!(UdevDatabase::new(root.path())
            .char_device(189, 7)
            .expect("at the bound")
            .is_some());
        huge.extend_from_slice(line);
        std::fs::write(data.join("c189:7"), &huge).expect("write");
        let error = UdevDatabase::new(root.path())
            .char_device(189, 7)
            .expect_err("over the bound");
        let Error::Read { path, source } = &error;
        assert_eq!(*path, data.join("c189:7"));
        assert_eq!(source.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(error.to_string(), format!("cannot read {}", path.display()));
        assert_eq!(source.to_string(), "the file is larger than 1048576 bytes");
    }
}
