//! Records, for `--version`, the git commit the binary is built from (when it is built from a git
//! checkout of this repository) and the cargo features it is built with.
//!
//! `HOTPLUGD_GIT_COMMIT`: the commit, 12 hex digits, or unset. `HOTPLUGD_FEATURES`: the enabled
//! features, comma-separated (empty for none). The commit is read again when `HEAD` or the
//! branch it names moves.

use std::path::Path;
use std::process::Command;

fn main() {
    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(name, _)| {
            name.strip_prefix("CARGO_FEATURE_")
                .map(|feature| feature.to_lowercase().replace('_', "-"))
        })
        .filter(|feature| feature != "default")
        .collect();
    features.sort();
    println!("cargo:rustc-env=HOTPLUGD_FEATURES={}", features.join(","));

    println!("cargo:rerun-if-changed=build.rs");
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let crate_dir = Path::new(&crate_dir);
    // Only a checkout that tracks this very crate counts: a copy unpacked inside some other
    // repository is not built from git.
    if git(crate_dir, &["ls-files", "--error-unmatch", "Cargo.toml"]).is_none() {
        return;
    }
    if let Some(commit) = git(crate_dir, &["rev-parse", "--short=12", "HEAD"]) {
        println!("cargo:rustc-env=HOTPLUGD_GIT_COMMIT={commit}");
    }
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(crate_dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        let path = git(
            crate_dir,
            &["rev-parse", "--path-format=absolute", "--git-path", &name],
        );
        // A path that does not exist would make cargo run this script on every build.
        if let Some(path) = path.filter(|path| Path::new(path).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}

/// What `git ARGS` prints in `dir`, trimmed; `None` when git is missing, fails or prints nothing.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (output.status.success() && !text.is_empty()).then(|| text.to_owned())
}
