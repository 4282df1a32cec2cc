//! Why a configuration cannot be loaded: each error names the file, the line and column where the
//! YAML parser gives them, and the path inside the file.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

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
            ConfigError::Read { path, .. } => path,
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
