//! The in-use guard's I/O: whether the host itself uses a block device below a USB device.
//!
//! A USB device is *in use by the host* when a block device below it in sysfs (a disk or a
//! partition of one) is
//! * mounted: a line of `ROOT/proc/self/mountinfo` has the block device's `major:minor` (its
//!   `dev` file), or names it as the mount source (`/dev/sdb1`; btrfs reports an anonymous
//!   `0:N` device instead of the disk's number);
//! * active swap: a line of `ROOT/proc/swaps` names it. The kernel writes there the path the swap
//!   area was opened by, symlinks resolved (`/dev/sdb2`, `/dev/dm-0`), so an entry counts for the
//!   block device whose node it names: `/dev/<kernel name>` (a `!` in a kernel name is a `/` in
//!   `/dev`). A swap file lives in a mounted file system, which the mount check finds already;
//!   swap on device-mapper shows as a holder of the disk below it;
//! * held: its `holders/` folder is not empty (device-mapper, md, LVM, bcache use it).
//!
//! The block devices are found through `ROOT/sys/class/block`, whose links lead into
//! `sys/devices`: one listing a scan, and each block device belongs to the deepest USB device
//! whose sysfs folder holds it (the disk's own device, not the hubs in front of it). The two
//! process files are read once a scan, and only when some USB device has a block device below it,
//! so a scan of a host without USB storage reads neither. A missing file means nothing there
//! (`proc/swaps` is missing without swap support); a file that cannot be read, or a line not of
//! its form, makes every block device it would decide about [`HostUse::Unchecked`], which counts as
//! in use: when in doubt, the device stays with the host. When `sys/class/block` itself cannot be
//! read (other than missing), which device has block devices is unknown, and every device is
//! unchecked.

mod proc_files;

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};

use proc_files::{parse_mountinfo, parse_swaps, Mount};

use crate::UsbDevice;

/// One way the host uses a USB device, through a block device below it. Any value at all makes
/// the device one the daemon never attaches.
///
/// ```
/// use usb_discovery::HostUse;
///
/// let mounted = HostUse::Mounted { block_device: "/dev/sdb1".into(), mount_point: "/boot".into() };
/// assert_eq!(mounted.to_string(), "/dev/sdb1 is mounted on /boot");
/// let held = HostUse::Held { block_device: "/dev/sdb".into(), holders: vec!["dm-0".into()] };
/// assert_eq!(held.to_string(), "/dev/sdb is held by dm-0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostUse {
    /// The block device holds a mounted file system.
    Mounted {
        /// The block device's node (`/dev/sdb1`).
        block_device: String,
        /// Where it is mounted (`/boot`).
        mount_point: String,
    },
    /// The block device is active swap.
    Swap {
        /// The block device's node (`/dev/sdb2`).
        block_device: String,
    },
    /// Other block devices are built on it (`holders/`: device-mapper, md, LVM).
    Held {
        /// The block device's node (`/dev/sdb`).
        block_device: String,
        /// The kernel names of its holders (`dm-0`, `md127`), sorted.
        holders: Vec<String>,
    },
    /// Whether the block device (or, without one, any block device below the USB device) is in
    /// use cannot be told, since a file cannot be read; it counts as in use.
    Unchecked {
        /// The block device's node, when the problem is about one.
        block_device: Option<String>,
        /// What cannot be read, and why.
        problem: String,
    },
}

impl fmt::Display for HostUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostUse::Mounted {
                block_device,
                mount_point,
            } => write!(f, "{block_device} is mounted on {mount_point}"),
            HostUse::Swap { block_device } => write!(f, "{block_device} is active swap"),
            HostUse::Held {
                block_device,
                holders,
            } => write!(f, "{block_device} is held by {}", holders.join(", ")),
            HostUse::Unchecked {
                block_device: Some(block_device),
                problem,
            } => write!(f, "cannot tell whether {block_device} is in use: {problem}"),
            HostUse::Unchecked {
                block_device: None,
                problem,
            } => write!(
                f,
                "cannot tell whether a block device below it is in use: {problem}"
            ),
        }
    }
}

/// Reads how the host uses the block devices below USB devices, under a root.
#[derive(Debug, Clone)]
pub(crate) struct HostUseReader {
    sys: PathBuf,
    class_block: PathBuf,
    mountinfo: PathBuf,
    swaps: PathBuf,
}

/// A block device below a USB device.
struct BlockDevice {
    /// Which of the devices holds it.
    owner: usize,
    /// Its folder: `<root>/sys/devices/…/block/sdb/sdb1`.
    dir: PathBuf,
    /// `/dev/sdb1`.
    node: String,
}

impl HostUseReader {
    pub(crate) fn new(root: &Path) -> HostUseReader {
        HostUseReader {
            sys: root.join("sys"),
            class_block: root.join("sys/class/block"),
            mountinfo: root.join("proc/self/mountinfo"),
            swaps: root.join("proc/swaps"),
        }
    }

    /// Sets [`UsbDevice::host_use`] of every device in `devices`.
    pub(crate) fn assess(&self, devices: &mut [UsbDevice]) {
        let blocks = match self.block_devices(devices) {
            Ok(blocks) => blocks,
            Err(problem) => {
                for device in devices.iter_mut() {
                    device.host_use = vec![HostUse::Unchecked {
                        block_device: None,
                        problem: problem.clone(),
                    }];
                }
                return;
            }
        };
        if blocks.is_empty() {
            return;
        }
        let mounts = read_optional(&self.mountinfo).and_then(|text| {
            parse_mountinfo(&text).map_err(|line| {
                format!("{}:{line}: not a mountinfo line", self.mountinfo.display())
            })
        });
        let swaps = read_optional(&self.swaps).map(|text| parse_swaps(&text));
        for block in blocks {
            let uses = block_uses(&block, mounts.as_deref(), swaps.as_deref());
            let host_use = &mut devices[block.owner].host_use;
            host_use.extend(uses);
            host_use.sort();
            host_use.dedup();
        }
    }

    /// Every block device of `ROOT/sys/class/block` below one of `devices`.
    fn block_devices(&self, devices: &[UsbDevice]) -> Result<Vec<BlockDevice>, String> {
        let cannot_list =
            |error: io::Error| format!("cannot list {}: {}", self.class_block.display(), error);
        let entries = match std::fs::read_dir(&self.class_block) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(cannot_list(error)),
        };
        let mut blocks = Vec::new();
        for entry in entries {
            let entry = entry.map_err(cannot_list)?;
            let target = match std::fs::read_link(entry.path()) {
                Ok(target) => target,
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(error) => {
                    return Err(format!(
                        "cannot read the link {}: {error}",
                        entry.path().display()
                    ))
                }
            };
            let Some(devpath) = devpath_of_link(&target) else {
                continue;
            };
            let Some(owner) = owner_of(devices, &devpath) else {
                continue;
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            blocks.push(BlockDevice {
                owner,
                dir: self.sys.join(devpath.trim_start_matches('/')),
                node: format!("/dev/{}", name.replace('!', "/")),
            });
        }
        Ok(blocks)
    }
}

/// How the host uses one block device: its mounts, its swap, its holders, or why that cannot be
/// told. A block device that vanished meanwhile has none.
fn block_uses(
    block: &BlockDevice,
    mounts: Result<&[Mount], &String>,
    swaps: Result<&[String], &String>,
) -> Vec<HostUse> {
    let unchecked = |problem: String| HostUse::Unchecked {
        block_device: Some(block.node.clone()),
        problem,
    };
    let mut uses = Vec::new();
    let dev_path = block.dir.join("dev");
    let text = udev_db::read_limited(&dev_path, udev_db::MAX_FILE_LEN)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    match text {
        Err(error) if error.kind() == io::ErrorKind::NotFound => return uses,
        Err(error) => uses.push(unchecked(format!(
            "cannot read {}: {error}",
            dev_path.display()
        ))),
        Ok(text) => match (parse_dev(&text), mounts) {
            (_, Err(problem)) => uses.push(unchecked(problem.clone())),
            (None, Ok(_)) => uses.push(unchecked(format!(
                "{}: {:?} is not MAJOR:MINOR",
                dev_path.display(),
                text.trim_end()
            ))),
            (Some(dev), Ok(mounts)) => {
                uses.extend(
                    mounts
                        .iter()
                        .filter(|mount| mount.dev == dev || mount.source == block.node)
                        .map(|mount| HostUse::Mounted {
                            block_device: block.node.clone(),
                            mount_point: mount.mount_point.clone(),
                        }),
                );
            }
        },
    }
    match swaps {
        Err(problem) => uses.push(unchecked(problem.clone())),
        Ok(swaps) if swaps.contains(&block.node) => uses.push(HostUse::Swap {
            block_device: block.node.clone(),
        }),
        Ok(_) => {}
    }
    let holders_path = block.dir.join("holders");
    match std::fs::read_dir(&holders_path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => uses.push(unchecked(format!(
            "cannot list {}: {error}",
            holders_path.display()
        ))),
        Ok(entries) => {
            let holders: BTreeSet<String> = entries
                .filter_map(|entry| entry.ok())
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect();
            if !holders.is_empty() {
                uses.push(HostUse::Held {
                    block_device: block.node.clone(),
                    holders: holders.into_iter().collect(),
                });
            }
        }
    }
    uses
}

/// The most read of `/proc/self/mountinfo` or `/proc/swaps`: a host with tens of thousands of
/// mounts (containers) stays well below it. Past it the guard cannot tell, and says so: the
/// devices are then kept by the host (unchecked), never attached on a guess.
pub const MAX_PROC_FILE_LEN: u64 = 16 << 20;

/// The contents of a file that may be missing (then empty), at most [`MAX_PROC_FILE_LEN`] bytes;
/// an error names the file.
fn read_optional(path: &Path) -> Result<String, String> {
    match udev_db::read_limited(path, MAX_PROC_FILE_LEN) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(error) => Err(format!("cannot read {}: {error}", path.display())),
    }
}

fn parse_dev(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.trim().split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The devpath (`/devices/…/block/sdb`) a link in `sys/class/block` leads to: the kernel's links
/// are relative (`../../devices/…`), resolved here from `class/block` without touching the disk.
fn devpath_of_link(target: &Path) -> Option<String> {
    let mut parts: Vec<&std::ffi::OsStr> = vec!["class".as_ref(), "block".as_ref()];
    for component in target.components() {
        match component {
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    let mut devpath = String::new();
    for part in parts {
        devpath.push('/');
        devpath.push_str(part.to_str()?);
    }
    Some(devpath)
}

/// The device whose folder holds `devpath` most closely (the longest devpath that is a parent).
fn owner_of(devices: &[UsbDevice], devpath: &str) -> Option<usize> {
    devices
        .iter()
        .enumerate()
        .filter(|(_, device)| {
            devpath
                .strip_prefix(device.devpath.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|(_, device)| device.devpath.len())
        .map(|(index, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_to_devpaths() {
        assert_eq!(
            devpath_of_link(Path::new(
                "../../devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb/sdb1"
            ))
            .as_deref(),
            Some("/devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb/sdb1")
        );
        assert_eq!(
            devpath_of_link(Path::new("../../devices/virtual/block/loop0")).as_deref(),
            Some("/devices/virtual/block/loop0")
        );
        assert_eq!(devpath_of_link(Path::new("../../../../etc")), None);
        assert_eq!(devpath_of_link(Path::new("/sys/devices/x")), None);
    }

    #[test]
    fn sentences() {
        let cases = [
            (
                HostUse::Swap {
                    block_device: "/dev/sdb2".into(),
                },
                "/dev/sdb2 is active swap",
            ),
            (
                HostUse::Held {
                    block_device: "/dev/sdb1".into(),
                    holders: vec!["dm-0".into(), "md127".into()],
                },
                "/dev/sdb1 is held by dm-0, md127",
            ),
            (
                HostUse::Unchecked {
                    block_device: Some("/dev/sdb".into()),
                    problem: "cannot read /proc/self/mountinfo: permission denied".into(),
                },
                "cannot tell whether /dev/sdb is in use: cannot read /proc/self/mountinfo: permission denied",
            ),
            (
                HostUse::Unchecked {
                    block_device: None,
                    problem: "cannot list /sys/class/block: permission denied".into(),
                },
                "cannot tell whether a block device below it is in use: cannot list /sys/class/block: permission denied",
            ),
        ];
        for (host_use, sentence) in cases {
            assert_eq!(host_use.to_string(), sentence);
        }
    }
}
