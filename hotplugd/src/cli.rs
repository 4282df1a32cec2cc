//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Attaches host USB devices to running libvirt VMs by rules, and detaches them again.
// `-V` prints the version; `--version` also the git commit of the build, the libvirt library this
// process runs against, and the cargo features built in (`crate::version`).
#[derive(Debug, Parser)]
#[command(
    name = "libvirt-usb-hotplugd",
    version,
    long_version = crate::version::long_version(),
    about
)]
pub struct Cli {
    /// Prefix under which /sys and /run/udev are read (a fixture tree in tests).
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// The libvirt connection URI; overrides `libvirt-uri` of the config.
    #[arg(long, global = true, value_name = "URI")]
    pub libvirt_uri: Option<String>,

    /// Where the running daemon keeps its lock, its status and its holds (gone at reboot).
    #[arg(long, global = true, value_name = "DIR", default_value = crate::state::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,

    /// Where the daemon records the machines it attached devices to (kept across reboots).
    #[arg(long, global = true, value_name = "DIR", default_value = crate::state::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// Log debug messages (every device found, with its properties).
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,

    /// Log only warnings and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// What to do; without one, run the daemon with CONFIG (the original's call).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The configuration file, to run the daemon with.
    #[arg(value_name = "CONFIG")]
    pub config: Option<PathBuf>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the USB devices with all their udev properties and tags, as udevadm shows them.
    List {
        /// Print a JSON array instead.
        #[arg(long)]
        json: bool,
    },
    /// Run the daemon (the same as giving CONFIG alone), or one reconcile with --once.
    Run {
        /// The main configuration file.
        #[arg(value_name = "CONFIG")]
        config: PathBuf,
        /// Reconcile once and exit: 0 when every action succeeded, 2 when some failed.
        #[arg(long)]
        once: bool,
        /// Plan and print (or log), change nothing.
        #[arg(long)]
        dry_run: bool,
        /// With --once --dry-run: print the report of `explain --json`.
        #[arg(long, requires_all = ["once", "dry_run"])]
        json: bool,
    },
    /// Say for every device which machines match it (and why the others do not), where it goes,
    /// the hostdevs of every configured machine, and the actions a reconcile would take now.
    Explain {
        /// The main configuration file.
        #[arg(value_name = "CONFIG")]
        config: PathBuf,
        /// Print one JSON object instead.
        #[arg(long)]
        json: bool,
    },
    /// Show what the running daemon is doing: placements, holds, failing actions and their retry
    /// (exit 0; 3 when no daemon runs).
    Status {
        /// Print the state as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Detach a device now (if attached) and hold it: not attached again until it is plugged in
    /// again or released with `attach` (exit 3 when no daemon runs).
    Detach {
        /// The device as `list` prints it: BUS/DEV (003/004) or the port (3-6.3).
        #[arg(value_name = "DEVICE")]
        device: String,
    },
    /// Release a device's hold, so that it is attached by the rules again; with --to, give it to
    /// that running machine until it is unplugged (exit 3 when no daemon runs).
    Attach {
        /// The device as `list` prints it: BUS/DEV (003/004) or the port (3-6.3).
        #[arg(value_name = "DEVICE")]
        device: String,
        /// The running machine to give it to, whatever the rules say.
        #[arg(long, value_name = "MACHINE")]
        to: Option<String>,
    },
    /// Validate the configuration and its machines.d folder, and print a summary (exit 0 or 1).
    Check {
        /// The main configuration file.
        #[arg(value_name = "CONFIG")]
        config: PathBuf,
    },
}
