//! The configuration: the main YAML file and the `machines.d` folder beside it.
//!
//! The format is the original daemon's, extended (unknown keys are errors):
//!
//! ```yaml
//! interval: 5s                  # Go-style duration; default 5s
//! libvirt-uri: qemu:///system   # optional
//! deny:                         # optional: a device matching one goes to no machine
//! - vendor-id: 0x0781
//! machines:
//!   webcam-test:
//!     devices:                  # alternatives: any one matching is enough
//!     - vendor-id: 0x046d
//!       product-id: 0x0825
//!       port: "3-6.*"
//!       interface-class: 0x0e   # also device-class/-subclass/-protocol, interface-subclass/-protocol
//!       udev:
//!         env:
//!         - name: ID_USB_SERIAL_SHORT
//!           equals: 'ABC123'    # or: pattern: '^ABC1[0-9]+$'
//!         tags: [uaccess]
//!         current-tags: [uaccess]
//!     deny:                     # optional: what this machine does not match
//!     - port: 3-6.4
//! ```
//!
//! Every `*.yml` and `*.yaml` file in `machines.d` next to the main file holds one machine, named
//! after the file, with its `devices:` and `deny:`. It replaces a machine of the same name in the
//! main file (with a warning), in that machine's place. Machines keep the config order: the main
//! file's order, then the `machines.d` files by name.
//!
//! Parsing is pure ([`parse_main_file`], [`parse_machine_file`], [`merge`]); [`load`] reads the
//! files and hands them over.
//!
//! An empty main file (no bytes, or only comments and blanks) is an error, as in the original, and
//! so is `machines:` without a value: both are what a file cut short by its writer looks like, and
//! reading them as "no machines" would detach every device. `machines: {}` says "no machines".
//!
//! # Reading
//!
//! A reload must never act on a file that is half written or is not a file: see the `read`
//! module. In short: each file is opened with `O_NONBLOCK` and must be a regular file by `fstat`
//! (a FIFO, a device or a folder is an error), at most [`MAX_FILE_LEN`] bytes are read, every
//! `machines.d/*.yml` entry must resolve (a dangling symlink, a loop or an entry that cannot be
//! examined is an error naming it), and the files count only once settled: when any was changed
//! in the last [`RECENT`] all are read again after [`SETTLE`] and must be the same, up to
//! [`ATTEMPTS`] times. Files at rest are read once, so `check` and `explain` do not wait.
//!
//! # Bounds
//!
//! Before serde_yaml parses a file, a linear pre-scan (saphyr-parser) refuses one nested deeper
//! than [`MAX_DEPTH`] or whose aliases expand it past [`MAX_NODES`] nodes or [`MAX_SCALAR_BYTES`]
//! bytes of scalars, with the file, line and column; so parsing any file under the size limit
//! takes well under a second and 100 MiB (figures in `docs/benchmarks.md`).
//!
//! ```
//! use std::path::Path;
//! use hotplugd::config::{merge, parse_machine_file, parse_main_file};
//!
//! let main = parse_main_file(
//!     "machines:\n  vm1:\n    devices:\n    - vendor-id: 0x1050\n",
//!     Path::new("/etc/hotplugd/config.yml"),
//! )?;
//! let snippet = parse_machine_file(
//!     "devices:\n- port: 3-6.*\n",
//!     Path::new("/etc/hotplugd/machines.d/vm2.yml"),
//!     "vm2",
//! )?;
//! let config = merge(main, vec![snippet]);
//! let names: Vec<&str> = config.machines.iter().map(|m| m.name.as_str()).collect();
//! assert_eq!(names, ["vm1", "vm2"]);
//! assert_eq!(config.interval.as_secs(), 5);
//! # Ok::<(), hotplugd::config::ConfigError>(())
//! ```

mod bounds;
mod document;
mod duration;
mod error;
mod files;
mod locate;
mod read;

use std::path::{Path, PathBuf};
use std::time::Duration;

use hotplug_match::{DenyRules, MachineRules};

pub use bounds::{MAX_DEPTH, MAX_NODES, MAX_SCALAR_BYTES};
pub use duration::{format_duration, parse_duration, DurationProblem};
pub use error::{ConfigError, Position};
pub use files::{parse_machine_file, parse_main_file, MainFile};
pub use read::{ATTEMPTS, MAX_FILE_LEN, RECENT, SETTLE};

/// The interval when the configuration sets none, as in the original.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// The whole configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// How often to resynchronise in any case.
    pub interval: Duration,
    /// The libvirt connection URI of the file, when set (the command line may override it).
    pub libvirt_uri: Option<String>,
    /// The top-level deny rules: a device matching any of them is attached to no machine.
    pub deny: DenyRules,
    /// The machines in config order: the main file's order, then `machines.d` by file name.
    pub machines: Vec<Machine>,
    /// The main file's machines that a `machines.d` file replaced.
    pub replacements: Vec<Replacement>,
}

impl Config {
    /// Every matcher of the configuration: each machine's devices and deny rules, and the
    /// top-level deny rules.
    fn matchers(&self) -> impl Iterator<Item = &hotplug_match::Matcher> + '_ {
        self.machines
            .iter()
            .flat_map(|machine| {
                machine
                    .rules
                    .matchers()
                    .iter()
                    .chain(machine.rules.deny().matchers())
            })
            .chain(self.deny.matchers())
    }

    /// Whether every rule can be decided from sysfs alone, so that the kernel's own uevent may
    /// decide a new device before udev's: no matcher or deny rule looks at udev properties or
    /// tags. (Interfaces and the in-use guard are checked per device: see
    /// [`UsbDevice::is_settled`](usb_discovery::UsbDevice::is_settled).)
    pub fn decidable_from_sysfs(&self) -> bool {
        !self.matchers().any(hotplug_match::Matcher::needs_udev)
    }

    /// Whether a matcher or deny rule looks at a device's interfaces, which the kernel adds only
    /// after it announces the device: a decision on the kernel's event then waits until they are
    /// all there.
    pub fn rules_need_interfaces(&self) -> bool {
        self.matchers()
            .any(hotplug_match::Matcher::needs_interfaces)
    }
}

/// One machine (a libvirt domain name) and its device matchers.
#[derive(Debug, Clone)]
pub struct Machine {
    /// The libvirt domain name.
    pub name: String,
    /// The matchers and the machine's deny rules; a device matching any matcher and no deny rule
    /// matches the machine.
    pub rules: MachineRules,
    /// The file that defines the machine.
    pub source: PathBuf,
}

/// A main-file machine replaced by a `machines.d` file of the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    /// The machine.
    pub machine: String,
    /// The main file, whose definition no longer counts.
    pub replaced: PathBuf,
    /// The `machines.d` file that counts instead.
    pub by: PathBuf,
}

/// Puts the `machines.d` machines (already in file-name order) into the main file's: a machine of
/// the same name is replaced in its place (and a warning logged), the others are appended.
pub fn merge(main: MainFile, snippets: Vec<Machine>) -> Config {
    let mut machines = main.machines;
    let mut replacements = Vec::new();
    for snippet in snippets {
        match machines.iter_mut().find(|known| known.name == snippet.name) {
            Some(known) => {
                log::warn!(
                    "machine {:?} of {} is replaced by {}",
                    snippet.name,
                    known.source.display(),
                    snippet.source.display()
                );
                replacements.push(Replacement {
                    machine: snippet.name.clone(),
                    replaced: known.source.clone(),
                    by: snippet.source.clone(),
                });
                *known = snippet;
            }
            None => machines.push(snippet),
        }
    }
    Config {
        interval: main.interval,
        libvirt_uri: main.libvirt_uri,
        deny: main.deny,
        machines,
        replacements,
    }
}

/// Reads and validates the main file `path` and the `machines.d` folder beside it (when there is
/// one; files not ending in `.yml` or `.yaml`, and folders, are ignored).
///
/// The files are read as [`read`](self#reading) says: only regular files of at most
/// [`MAX_FILE_LEN`] bytes, opened without blocking, once their content is settled (which may take
/// half a second for files written in the last second); an entry of `machines.d` that cannot be
/// resolved or read is an error naming it. Parsing is bounded as [`bounds`](self#bounds) says.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let files = read::read_settled(path)?;
    let main = parse_main_file(&files.main.text, path)?;
    let snippets = files
        .machines
        .iter()
        .map(|(name, file)| parse_machine_file(&file.text, &file.path, name))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(merge(main, snippets))
}
