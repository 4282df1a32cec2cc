//! Why a configuration cannot be loaded: each error names the file, the line and column where the
//! YAML parser gives them, and the path inside the file.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A line and column in a file, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
}

/// Loading the configuration failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file or the `machines.d` folder cannot be read.
    #[error("cannot read {}", .path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A configuration file or `machines.d` entry is a symbolic link to nothing.
    #[error("{}: is a symbolic link to {}, which does not exist", .path.display(), .target.display())]
    DanglingLink {
        /// The link.
        path: PathBuf,
        /// Where it points.
        target: PathBuf,
    },
    /// A configuration file is not a regular file (a FIFO, a device, a folder).
    #[error("{}: is {kind}, not a regular file", .path.display())]
    NotAFile {
        /// The file.
        path: PathBuf,
        /// What it is: `a FIFO`, `a character device`, `a folder`…
        kind: &'static str,
    },
    /// A configuration file is larger than the limit.
    #[error("{}: is larger than {limit} bytes", .path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit, 1 MiB.
        limit: u64,
    },
    /// A configuration file kept changing while it was read: it is being written.
    #[error(
        "{}: kept changing while being read ({attempts} reads, {} ms apart): try again once it is written",
        .path.display(),
        .pause.as_millis()
    )]
    Unsettled {
        /// A file that changed between the last two reads.
        path: PathBuf,
        /// How many times it was read.
        attempts: usize,
        /// The pause between two reads.
        pause: Duration,
    },
    /// The main file holds nothing: no bytes, or only comments and blanks. A file cut short by a
    /// writer looks like that, so it is refused rather than read as "no machines".
    #[error("{}: the configuration is empty (write `machines: {{}}` for one without machines)", .file.display())]
    Empty {
        /// The file.
        file: PathBuf,
    },
    /// A file would cost too much to parse: nested too deep, or aliases expanding too far. Also
    /// a syntax error found by the pre-scan where serde_yaml is not asked (see `bounds`).
    #[error("{}:{}:{}: {reason}", .file.display(), .position.line, .position.column)]
    Limit {
        /// The file.
        file: PathBuf,
        /// Where.
        position: Position,
        /// Which limit, or the syntax error.
        reason: String,
    },
    /// The text is not YAML, or not of the configuration's shape (an unknown key, a list where a
    /// mapping belongs). The message is serde_yaml's, which starts with the path when there is one.
    #[error("{}: {message}", Place(.file, .position))]
    Parse {
        /// The file.
        file: PathBuf,
        /// Where the parser stopped.
        position: Option<Position>,
        /// What it says, the path inside the file first.
        message: String,
    },
    /// A value breaks a rule (an empty matcher, a bad regex, a bad duration…).
    #[error("{}: {}{reason}", Place(.file, .position), PathPrefix(.path))]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Where the value is.
        position: Option<Position>,
        /// The path inside the file: `machines.webcam-test.devices[0].udev.env[1]`.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A file in `machines.d` has a name that is not UTF-8, so it cannot name a machine.
    #[error("{}: the file name is not valid UTF-8, so it cannot name a machine", .file.display())]
    MachineFileName {
        /// The file.
        file: PathBuf,
    },
    /// Two files in `machines.d` define the same machine (`a.yml` and `a.yaml`).
    #[error("{}: machine {machine:?} is also defined by {}", .file.display(), .other.display())]
    MachineFilesClash {
        /// The machine.
        machine: String,
        /// The file read second.
        file: PathBuf,
        /// The file read first.
        other: PathBuf,
    },
}

impl ConfigError {
    /// The file the error is about.
    pub fn file(&self) -> &Path {
        match self {
            ConfigError::Read { path, .. }
            | ConfigError::DanglingLink { path, .. }
            | ConfigError::NotAFile { path, .. }
            | ConfigError::TooLarge { path, .. }
            | ConfigError::Unsettled { path, .. } => path,
            ConfigError::Empty { file } | ConfigError::Limit { file, .. } => file,
            ConfigError::Parse { file, .. }
            | ConfigError::Invalid { file, .. }
            | ConfigError::MachineFileName { file }
            | ConfigError::MachineFilesClash { file, .. } => file,
        }
    }

    /// Where in the file, when the parser says.
    pub fn position(&self) -> Option<Position> {
        match self {
            ConfigError::Parse { position, .. } | ConfigError::Invalid { position, .. } => {
                *position
            }
            ConfigError::Limit { position, .. } => Some(*position),
            _ => None,
        }
    }
}

/// `file:line:column`, or just `file` without a position.
struct Place<'a>(&'a Path, &'a Option<Position>);

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.display())?;
        if let Some(position) = self.1 {
            write!(f, ":{}:{}", position.line, position.column)?;
        }
        Ok(())
    }
}

/// `path: `, or nothing for the whole document.
struct PathPrefix<'a>(&'a str);

impl fmt::Display for PathPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, "{}: ", self.0)
        }
    }
}
