//! The shell completions, by clap_complete, for the shells Debian packages look for: bash, zsh
//! and fish.

use std::path::Path;

use clap_complete::Shell;

use crate::{GeneratedFile, COMPLETIONS_DIR};

/// Each shell with the name of its completion file (as installed: bash-completion looks up the
/// command's name, zsh a function `_NAME`, fish `NAME.fish`).
const SHELLS: [(Shell, &str); 3] = [
    (Shell::Bash, "libvirt-usb-hotplugd.bash"),
    (Shell::Zsh, "_libvirt-usb-hotplugd"),
    (Shell::Fish, "libvirt-usb-hotplugd.fish"),
];

/// The completion scripts.
pub(crate) fn scripts() -> Vec<GeneratedFile> {
    let mut command = crate::man::command();
    let name = command.get_name().to_owned();
    SHELLS
        .iter()
        .map(|(shell, file)| {
            let mut contents = Vec::new();
            clap_complete::generate(*shell, &mut command, &name, &mut contents);
            GeneratedFile {
                path: Path::new(COMPLETIONS_DIR).join(file),
                contents,
            }
        })
        .collect()
}
