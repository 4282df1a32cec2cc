//! What the daemon shares and remembers, in two directories:
//!
//! * the **state directory** (`/run/libvirt-usb-hotplugd`, `--state-dir`; gone at reboot):
//!   `daemon.pid` (the one-instance lock, held with `flock` while the daemon runs, with its pid),
//!   `state.json` (the [`Status`](status::Status) after every change, replaced atomically),
//!   `holds.json` (devices a person detached, so that a restart keeps them detached),
//!   `assignments.json` (devices given to a machine with `attach --to`, kept likewise), and
//!   `requests/` + `responses/` (mode 0700: the `attach` and `detach` commands' requests and the
//!   daemon's answers);
//! * the **data directory** (`/var/lib/libvirt-usb-hotplugd`, `--data-dir`; kept across reboots):
//!   `machines.json`, the machines on which the daemon holds hostdevs it attached, so that after a
//!   restart it also cleans up a machine dropped from the configuration while it was down, and
//!   `daemon.lock` (held like `daemon.pid`: two daemons sharing a data directory would each clean
//!   up the other's machines).
//!
//! Files are written to a temporary name in the same directory, then renamed: a reader sees the
//! old content or the new, never half of it.

pub mod control;
pub mod holds;
pub mod shared;
pub mod status;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The default state directory.
pub const DEFAULT_STATE_DIR: &str = "/run/libvirt-usb-hotplugd";
/// The default data directory.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/libvirt-usb-hotplugd";

/// The lock file of the state directory, with the pid of the daemon holding it.
const LOCK_FILE: &str = "daemon.pid";
/// The lock file of the data directory, with the pid of the daemon holding it.
const DATA_LOCK_FILE: &str = "daemon.lock";
/// The status the daemon shares.
pub const STATUS_FILE: &str = "state.json";
/// The devices on hold.
const HOLDS_FILE: &str = "holds.json";
/// The devices given to a machine with `attach --to`.
const ASSIGNMENTS_FILE: &str = "assignments.json";
/// The machines with hostdevs the daemon attached.
const MACHINES_FILE: &str = "machines.json";

/// A failure with the state or data directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A directory or file cannot be created, read or written.
    #[error("cannot {what} {path}")]
    Io {
        /// What was being done (`create`, `read`, `write`, `lock`).
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A file does not hold what it should.
    #[error("{path} is not valid: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Another daemon holds the lock of the state or the data directory.
    #[error(
        "another libvirt-usb-hotplugd (pid {pid}) runs with the {kind} directory {dir}; stop it \
         first, or give this one another --{kind}-dir"
    )]
    AlreadyRunning {
        /// The pid written in the lock file ("?" when it cannot be read).
        pid: String,
        /// `state` or `data`.
        kind: &'static str,
        /// The directory.
        dir: PathBuf,
    },
}

fn io_error<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> StateError + 'p {
    move |source| StateError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// Writes `value` as JSON to `path`, atomically (a temporary file in the same folder, renamed),
/// with `mode`.
pub fn write_json<T: Serialize>(path: &Path, value: &T, mode: u32) -> Result<(), StateError> {
    // Serializing the daemon's own plain data cannot fail.
    let text = serde_json::to_string_pretty(value).unwrap_or_default() + "\n";
    write_atomically(path, text.as_bytes(), mode)
}

/// Writes `bytes` to `path` atomically, with `mode`.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StateError> {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned());
    let temporary = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.unwrap_or_default(),
        std::process::id()
    ));
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temporary)
        .and_then(|mut file| {
            // The mode as given, whatever the umask (the unit's is 0077): `status` reads as anyone.
            file.set_permissions(fs::Permissions::from_mode(mode))?;
            file.write_all(bytes)?;
            file.sync_all()
        });
    if let Err(source) = written {
        let _ = fs::remove_file(&temporary);
        return Err(io_error("write", path)(source));
    }
    fs::rename(&temporary, path).map_err(io_error("write", path))
}

/// Reads the JSON of `path`; `None` when the file does not exist.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, StateError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io_error("read", path)(source)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|error| StateError::Invalid {
            path: path.to_owned(),
            message: error.to_string(),
        })
}

/// Creates the directory `path` (and its parents) if missing, and gives it `mode` whatever the
/// umask.
fn create_dir(path: &Path, mode: u32) -> Result<(), StateError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(io_error("create", path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_error("create", path))
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
}

/// The one-instance lock: held while this value lives.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

impl StateDir {
    /// The state directory at `path`.
    pub fn new(path: &Path) -> StateDir {
        StateDir {
            path: path.to_owned(),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The status file.
    pub fn status_file(&self) -> PathBuf {
        self.path.join(STATUS_FILE)
    }

    /// The holds file.
    pub fn holds_file(&self) -> PathBuf {
        self.path.join(HOLDS_FILE)
    }

    /// The assignments file.
    pub fn assignments_file(&self) -> PathBuf {
        self.path.join(ASSIGNMENTS_FILE)
    }

    /// The folder of the control requests.
    pub fn requests(&self) -> PathBuf {
        self.path.join("requests")
    }

    /// The folder of the daemon's answers to them.
    pub fn responses(&self) -> PathBuf {
        self.path.join("responses")
    }

    /// Creates the directory (0755) and its request and response folders (0700: only root, or
    /// whoever runs the daemon, may ask it anything).
    pub fn create(&self) -> Result<(), StateError> {
        create_dir(&self.path, 0o755)?;
        for folder in [self.requests(), self.responses()] {
            create_dir(&folder, 0o700)?;
        }
        Ok(())
    }

    /// Takes the one-instance lock and writes this process's pid into it. Fails when another
    /// daemon holds it, naming its pid.
    pub fn lock(&self) -> Result<InstanceLock, StateError> {
        take_lock(&self.path, LOCK_FILE, "state")
    }

    /// Whether a live daemon holds the lock (the lock file need only be readable). `Ok(None)`
    /// when none does; else its pid as written.
    pub fn running_daemon(&self) -> Result<Option<String>, StateError> {
        let path = self.path.join(LOCK_FILE);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(io_error("open", &path)(source)),
        };
        match flock(&file, FlockOperation::NonBlockingLockShared) {
            Ok(()) => {
                let _ = flock(&file, FlockOperation::Unlock);
                Ok(None)
            }
            Err(errno) if errno == rustix::io::Errno::WOULDBLOCK => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                Ok(Some(pid.trim().to_owned()))
            }
            Err(errno) => Err(io_error("lock", &path)(errno.into())),
        }
    }
}

/// Takes the lock `file` of the `kind` directory `dir` and writes this process's pid into it;
/// fails when another process holds it, naming its pid.
fn take_lock(dir: &Path, file: &str, kind: &'static str) -> Result<InstanceLock, StateError> {
    let path = dir.join(file);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(&path)
        .map_err(io_error("open", &path))?;
    file.set_permissions(fs::Permissions::from_mode(0o644))
        .map_err(io_error("open", &path))?;
    if let Err(errno) = flock(&file, FlockOperation::NonBlockingLockExclusive) {
        if errno == rustix::io::Errno::WOULDBLOCK {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            return Err(StateError::AlreadyRunning {
                pid: if pid.is_empty() {
                    "?".into()
                } else {
                    pid.into()
                },
                kind,
                dir: dir.to_owned(),
            });
        }
        return Err(io_error("lock", &path)(errno.into()));
    }
    file.set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(io_error("write", &path))?;
    Ok(InstanceLock { _file: file })
}

/// The data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    path: PathBuf,
}

impl DataDir {
    /// The data directory at `path`.
    pub fn new(path: &Path) -> DataDir {
        DataDir {
            path: path.to_owned(),
        }
    }

    /// The machines recorded as holding hostdevs this daemon attached (none when nothing is
    /// recorded yet).
    pub fn machines(&self) -> Result<Vec<String>, StateError> {
        Ok(read_json(&self.path.join(MACHINES_FILE))?.unwrap_or_default())
    }

    /// Creates the directory (0755) if needed and takes its lock: two daemons with different
    /// state directories but one data directory would each take the other's record for their own.
    pub fn lock(&self) -> Result<InstanceLock, StateError> {
        create_dir(&self.path, 0o755)?;
        take_lock(&self.path, DATA_LOCK_FILE, "data")
    }

    /// Records `machines`, creating the directory (0755) if needed.
    pub fn record_machines(&self, machines: &[String]) -> Result<(), StateError> {
        create_dir(&self.path, 0o755)?;
        write_json(&self.path.join(MACHINES_FILE), &machines, 0o644)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lock_at_a_time_and_status_sees_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let state = StateDir::new(&dir.path().join("state"));
        state.create().expect("created");
        assert_eq!(state.running_daemon().expect("readable"), None);
        let lock = state.lock().expect("the first lock");
        let pid = std::process::id().to_string();
        match state.lock() {
            Err(StateError::AlreadyRunning { pid: holder, .. }) => assert_eq!(holder, pid),
            other => panic!("a second lock: {other:?}"),
        }
        assert_eq!(state.running_daemon().expect("readable"), Some(pid));
        drop(lock);
        assert_eq!(state.running_daemon().expect("readable"), None);
        assert!(state.lock().is_ok(), "free again");
    }

    #[test]
    fn json_is_replaced_whole_and_a_missing_file_is_none() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = DataDir::new(&dir.path().join("data"));
        assert_eq!(data.machines().expect("nothing yet"), Vec::<String>::new());
        data.record_machines(&["vm".into()]).expect("written");
        assert_eq!(data.machines().expect("read"), ["vm"]);
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("data"))
            .expect("listed")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers, ["machines.json"], "no temporary file left");
    }
}
