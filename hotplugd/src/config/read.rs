//! Reading the configuration's files so that a reload can never act on a file half written or on
//! something that is no file.
//!
//! * Each file is opened without blocking (`O_NONBLOCK`, so a FIFO put in its place returns at
//!   once) and must then be a regular file by `fstat` of that open file: a FIFO, a device or a
//!   folder is an error naming it. No check by path comes before the open, so nothing can be
//!   swapped in between.
//! * At most [`MAX_FILE_LEN`] bytes are read (one more tells a longer file), so `/dev/zero` or a
//!   runaway file costs nothing.
//! * Every `*.yml`/`*.yaml` entry of `machines.d` must resolve: a dangling symlink, a symlink loop
//!   or an entry that cannot be examined (a folder that can be listed but not entered) is an error
//!   naming it, as is a `machines.d` that exists but cannot be listed or resolved. Folders among
//!   the entries, and entries with other names, are ignored.
//! * The files are read only once their content is settled. Reading every file is one snapshot
//!   (the bytes and, for each, device, inode, size, modification and change time, the same
//!   before and after its read). When no file was changed in the last [`RECENT`] (by its
//!   modification or change time, by the system clock) and none changed while being read, the
//!   snapshot is taken as it is: `check` and `explain` on a configuration at rest do not wait.
//!   Otherwise the snapshot is taken again after [`SETTLE`] and must be the same; if it is not,
//!   again, up to [`ATTEMPTS`] times (about half a second), then the load fails naming a file that
//!   kept changing. An editor saving or a tool writing the file is thus waited for; a writer that
//!   stops for longer than [`SETTLE`] halfway cannot be told from a finished one, which is why an
//!   empty file and `machines:` without a value are errors as well.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::ConfigError;

/// The largest configuration file read (1 MiB); a configuration of a thousand machines is a tenth
/// of that.
pub const MAX_FILE_LEN: u64 = 1 << 20;
/// A file changed this recently is read twice, [`SETTLE`] apart, before it counts.
pub const RECENT: Duration = Duration::from_secs(1);
/// The pause between two snapshots of files that may still be being written.
pub const SETTLE: Duration = Duration::from_millis(100);
/// How many times the files are read again before a load gives up on files that keep changing.
pub const ATTEMPTS: usize = 5;

/// The text of one configuration file, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileText {
    /// The path the file was found at.
    pub(crate) path: PathBuf,
    /// Its content.
    pub(crate) text: String,
    /// Its identity and times when read.
    stamp: Stamp,
}

/// What says that a file changed: identity, size and times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    len: u64,
    modified: (i64, i64),
    changed: (i64, i64),
    /// Whether the file changed while it was read (its stamp before and after differ).
    moving: bool,
}

impl Stamp {
    fn of(metadata: &Metadata) -> Stamp {
        Stamp {
            device: metadata.dev(),
            inode: metadata.ino(),
            len: metadata.len(),
            modified: (metadata.mtime(), metadata.mtime_nsec()),
            changed: (metadata.ctime(), metadata.ctime_nsec()),
            moving: false,
        }
    }

    /// Whether the file was modified or changed after `since` (or its times are in the future).
    fn changed_after(&self, since: SystemTime) -> bool {
        let latest = self.modified.max(self.changed);
        let since = match since.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(since) => (
                i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
                i64::from(since.subsec_nanos()),
            ),
            Err(_) => return true,
        };
        latest >= since
    }
}

/// Every file of a configuration: the main file, then the `machines.d` files by name with the
/// machine each names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigFiles {
    pub(crate) main: FileText,
    pub(crate) machines: Vec<(String, FileText)>,
}

impl ConfigFiles {
    fn all(&self) -> impl Iterator<Item = &FileText> {
        std::iter::once(&self.main).chain(self.machines.iter().map(|(_, file)| file))
    }

    /// Whether a file may still be being written: changed recently, or while it was read.
    fn unsettled(&self, now: SystemTime) -> bool {
        let since = now.checked_sub(RECENT).unwrap_or(SystemTime::UNIX_EPOCH);
        self.all()
            .any(|file| file.stamp.moving || file.stamp.changed_after(since))
    }

    /// The first file that differs between `self` and `other` (or the main file).
    fn first_difference<'a>(&'a self, other: &ConfigFiles) -> &'a Path {
        let theirs: Vec<&FileText> = other.all().collect();
        self.all()
            .enumerate()
            .find(|(at, file)| theirs.get(*at) != Some(file) || file.stamp.moving)
            .map_or(&self.main.path, |(_, file)| &file.path)
    }
}

/// Reads the main file `path` and the `machines.d` folder beside it, once they are settled.
pub(crate) fn read_settled(path: &Path) -> Result<ConfigFiles, ConfigError> {
    let mut previous = read_all(path)?;
    if !previous.unsettled(SystemTime::now()) {
        return Ok(previous);
    }
    let mut changing = previous.main.path.clone();
    for _ in 0..ATTEMPTS {
        std::thread::sleep(SETTLE);
        let current = read_all(path)?;
        if current == previous && current.all().all(|file| !file.stamp.moving) {
            return Ok(current);
        }
        current
            .first_difference(&previous)
            .clone_into(&mut changing);
        log::debug!(
            "{} is changing: reading the configuration again in {} ms",
            changing.display(),
            SETTLE.as_millis()
        );
        previous = current;
    }
    Err(ConfigError::Unsettled {
        path: changing,
        attempts: ATTEMPTS + 1,
        pause: SETTLE,
    })
}

/// One snapshot of every file.
fn read_all(path: &Path) -> Result<ConfigFiles, ConfigError> {
    let main = read_file(path)?;
    let folder = path
        .parent()
        .unwrap_or_else(|| Path::new(""))
        .join("machines.d");
    let mut machines: Vec<(String, FileText)> = Vec::new();
    for (name, file) in machine_files(&folder)? {
        if let Some((_, other)) = machines.iter().find(|(known, _)| *known == name) {
            return Err(ConfigError::MachineFilesClash {
                machine: name,
                file,
                other: other.path.clone(),
            });
        }
        let text = read_file(&file)?;
        machines.push((name, text));
    }
    Ok(ConfigFiles { main, machines })
}

/// The `*.yml` and `*.yaml` files of `folder` with the machine each names, sorted by file name;
/// nothing when there is no `folder` or it is not a folder.
fn machine_files(folder: &Path) -> Result<Vec<(String, PathBuf)>, ConfigError> {
    let cannot = |source: io::Error| ConfigError::Read {
        path: folder.to_owned(),
        source,
    };
    match folder.symlink_metadata() {
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(cannot(error)),
        Ok(_) => {}
    }
    // A symlink to a folder counts; one that leads nowhere is an error, not "no folder".
    let metadata = folder
        .metadata()
        .map_err(|error| resolve_error(folder, error))?;
    if !metadata.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(cannot)? {
        let file = entry.map_err(cannot)?.path();
        let is_yaml = file
            .extension()
            .is_some_and(|extension| extension == "yml" || extension == "yaml");
        if !is_yaml {
            continue;
        }
        let metadata = file
            .metadata()
            .map_err(|error| resolve_error(&file, error))?;
        if metadata.is_dir() {
            continue;
        }
        let name = file
            .file_stem()
            .and_then(|stem| stem.to_str())
            .ok_or_else(|| ConfigError::MachineFileName { file: file.clone() })?;
        files.push((name.to_owned(), file));
    }
    files.sort_by(|(_, a), (_, b)| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// The error of a path that could not be followed: a dangling symlink says where it points.
fn resolve_error(path: &Path, error: io::Error) -> ConfigError {
    if error.kind() == io::ErrorKind::NotFound {
        if let Ok(target) = std::fs::read_link(path) {
            return ConfigError::DanglingLink {
                path: path.to_owned(),
                target,
            };
        }
    }
    ConfigError::Read {
        path: path.to_owned(),
        source: error,
    }
}

/// Reads one regular file of at most [`MAX_FILE_LEN`] bytes, without blocking on anything else.
fn read_file(path: &Path) -> Result<FileText, ConfigError> {
    let cannot = |source: io::Error| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|error| resolve_error(path, error))?;
    let before = file.metadata().map_err(cannot)?;
    if !before.is_file() {
        return Err(ConfigError::NotAFile {
            path: path.to_owned(),
            kind: kind_of(&before),
        });
    }
    let bytes = read_bounded(&file, before.len()).map_err(cannot)?;
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
            limit: MAX_FILE_LEN,
        });
    }
    let after = file.metadata().map_err(cannot)?;
    let mut stamp = Stamp::of(&before);
    stamp.moving = Stamp::of(&after) != stamp;
    let text = String::from_utf8(bytes).map_err(|error| {
        cannot(io::Error::new(
            io::ErrorKind::InvalidData,
            error.utf8_error(),
        ))
    })?;
    Ok(FileText {
        path: path.to_owned(),
        text,
        stamp,
    })
}

/// At most `MAX_FILE_LEN + 1` bytes of `file`; `len` (its size by `fstat`) is a hint only.
fn read_bounded(file: &File, len: u64) -> io::Result<Vec<u8>> {
    let hint = usize::try_from(len.min(MAX_FILE_LEN)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(hint + 1);
    file.take(MAX_FILE_LEN + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// What a file that is not a regular file is, in words.
fn kind_of(metadata: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let kind = metadata.file_type();
    if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(modified: i64) -> Stamp {
        Stamp {
            device: 1,
            inode: 2,
            len: 3,
            modified: (modified, 0),
            changed: (0, 0),
            moving: false,
        }
    }

    #[test]
    fn recent_means_modified_or_changed_at_or_after_the_time() {
        let at = |secs: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        assert!(stamp(100).changed_after(at(100)));
        assert!(stamp(101).changed_after(at(100)));
        assert!(!stamp(99).changed_after(at(100)));
        let mut changed = stamp(0);
        changed.changed = (100, 5);
        assert!(changed.changed_after(at(100)));
    }
}
