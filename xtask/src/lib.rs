//! The generator of libvirt-usb-hotplugd's man pages and shell completions (`cargo xtask`).
//!
//! Everything it writes comes from two sources: the command line as clap defines it
//! (`hotplugd::cli::Cli`) and the hand-written Markdown in `docs/man/`:
//!
//! * `contrib/man/libvirt-usb-hotplugd.8` and one `libvirt-usb-hotplugd-COMMAND.8` per
//!   subcommand, by clap_mangen; `docs/man/PAGE.md` (for example `libvirt-usb-hotplugd.8.md`),
//!   when there is one, is appended to that page before its VERSION section;
//! * every other `docs/man/NAME.SECTION.md` (the configuration file's `libvirt-usb-hotplugd.5.md`)
//!   as a page of its own, titled by its first line `# NAME(SECTION)`;
//! * `contrib/completions/` for bash, zsh and fish, by clap_complete.
//!
//! The two output folders hold generated files only: [`write()`] replaces their contents, and
//! [`differences`] tells how the committed files differ from a fresh generation (the test
//! `xtask/tests/generated_files.rs` fails on any difference).
//!
//! ```no_run
//! use std::path::Path;
//!
//! let repo = Path::new(".");
//! let files = xtask::generate(repo)?;
//! assert!(xtask::differences(repo, &files)?.is_empty(), "run `cargo xtask generate`");
//! # Ok::<(), xtask::Error>(())
//! ```
#![forbid(unsafe_code)]

mod completions;
mod man;
pub mod markdown;

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Where the generated man pages go, relative to the repository.
pub const MAN_DIR: &str = "contrib/man";
/// Where the generated shell completions go, relative to the repository.
pub const COMPLETIONS_DIR: &str = "contrib/completions";
/// Where the hand-written Markdown parts of the man pages are, relative to the repository.
pub const DOCS_DIR: &str = "docs/man";

/// A failure of the generator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file or folder could not be written or removed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A Markdown source uses something the man page writer does not support.
    #[error("{}:{line}: {what}", file.display())]
    Markdown {
        /// The Markdown file.
        file: PathBuf,
        /// The line (from 1).
        line: usize,
        /// What is not supported.
        what: String,
    },
    /// A stand-alone page's Markdown does not open with its title.
    #[error("{}: the first line must be the title `# {expected}`", file.display())]
    Title {
        /// The Markdown file.
        file: PathBuf,
        /// The title its name calls for.
        expected: String,
    },
}

/// One generated file: its path relative to the repository, and its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// The path, relative to the repository (`contrib/man/libvirt-usb-hotplugd.8`).
    pub path: PathBuf,
    /// What the file holds.
    pub contents: Vec<u8>,
}

/// Generates every man page and completion from the command line and `repo`'s `docs/man`.
pub fn generate(repo: &Path) -> Result<Vec<GeneratedFile>, Error> {
    let mut files = man::pages(&repo.join(DOCS_DIR))?;
    files.extend(completions::scripts());
    Ok(files)
}

/// Replaces the contents of `repo`'s output folders by `files`.
pub fn write(repo: &Path, files: &[GeneratedFile]) -> Result<(), Error> {
    for folder in [MAN_DIR, COMPLETIONS_DIR] {
        let folder = repo.join(folder);
        for stale in list(&folder)? {
            let path = folder.join(stale);
            fs::remove_file(&path).map_err(|source| Error::Write { path, source })?;
        }
        fs::create_dir_all(&folder).map_err(|source| Error::Write {
            path: folder.clone(),
            source,
        })?;
    }
    for file in files {
        let path = repo.join(&file.path);
        fs::write(&path, &file.contents).map_err(|source| Error::Write { path, source })?;
    }
    Ok(())
}

/// How `repo`'s output folders differ from `files`, one line per file (empty: they are equal).
pub fn differences(repo: &Path, files: &[GeneratedFile]) -> Result<Vec<String>, Error> {
    let mut differences = Vec::new();
    let mut expected = BTreeSet::new();
    for file in files {
        expected.insert(file.path.clone());
        let path = repo.join(&file.path);
        match fs::read(&path) {
            Ok(contents) if contents == file.contents => {}
            Ok(_) => differences.push(format!("{}: differs", file.path.display())),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                differences.push(format!("{}: missing", file.path.display()));
            }
            Err(source) => return Err(Error::Read { path, source }),
        }
    }
    for folder in [MAN_DIR, COMPLETIONS_DIR] {
        for name in list(&repo.join(folder))? {
            let path = Path::new(folder).join(name);
            if !expected.contains(&path) {
                differences.push(format!("{}: not generated any more", path.display()));
            }
        }
    }
    Ok(differences)
}

/// The names of the files in `folder`, sorted; none when it does not exist.
fn list(folder: &Path) -> Result<Vec<String>, Error> {
    let cannot_read = |source: io::Error| Error::Read {
        path: folder.to_owned(),
        source,
    };
    let entries = match fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(cannot_read(source)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(cannot_read)?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}
