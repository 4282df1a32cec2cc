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

mod document;
mod duration;
mod error;
mod files;
mod locate;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hotplug_match::{DenyRules, MachineRules};

pub use duration::{format_duration, parse_duration, DurationProblem};
pub use error::{ConfigError, Position};
pub use files::{parse_machine_file, parse_main_file, MainFile};

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
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let main = parse_main_file(&read(path)?, path)?;
    let folder = path
        .parent()
        .unwrap_or_else(|| Path::new(""))
        .join("machines.d");
    let mut snippets: Vec<Machine> = Vec::new();
    for (name, file) in machine_files(&folder)? {
        if let Some(other) = snippets.iter().find(|known| known.name == name) {
            return Err(ConfigError::MachineFilesClash {
                machine: name,
                file,
                other: other.source.clone(),
            });
        }
        snippets.push(parse_machine_file(&read(&file)?, &file, &name)?);
    }
    Ok(merge(main, snippets))
}

/// The `*.yml` and `*.yaml` files of `folder` with the machine each names, sorted by file name;
/// nothing when `folder` is not a directory.
fn machine_files(folder: &Path) -> Result<Vec<(String, PathBuf)>, ConfigError> {
    if !folder.is_dir() {
        return Ok(Vec::new());
    }
    let cannot_list = |source: io::Error| ConfigError::Read {
        path: folder.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(cannot_list)? {
        let file = entry.map_err(cannot_list)?.path();
        let is_yaml = file
            .extension()
            .is_some_and(|extension| extension == "yml" || extension == "yaml");
        if !is_yaml || !file.is_file() {
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

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}
