//! `--version` says what a bug report needs: the version, the git commit of the build (when built
//! from a git checkout, as CI's clean clone is), the libvirt library the process runs against,
//! and the cargo features; `-V` the version alone.

use std::path::Path;
use std::process::Command;

fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn version_lines(flag: &str) -> Vec<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_libvirt-usb-hotplugd"))
        .arg(flag)
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn long_version_names_commit_libvirt_library_and_features() {
    let lines = version_lines("--version");
    let mut expected = vec![format!(
        "libvirt-usb-hotplugd {}",
        env!("CARGO_PKG_VERSION")
    )];

    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .to_str()
        .expect("utf-8 path");
    let in_git = output_of(
        "git",
        &["-C", crate_dir, "ls-files", "--error-unmatch", "Cargo.toml"],
    )
    .is_some();
    if in_git {
        let head = output_of("git", &["-C", crate_dir, "rev-parse", "--short=12", "HEAD"])
            .expect("git rev-parse HEAD");
        expected.push(format!("git commit: {head}"));
    }

    // The binary links the libvirt that pkg-config describes (libvirt-dev), and runs against it.
    let libvirt =
        output_of("pkg-config", &["--modversion", "libvirt"]).expect("pkg-config libvirt");
    expected.push(format!("libvirt library: {libvirt}"));
    // hotplugd has no cargo features yet: each one added to its Cargo.toml shows here by name.
    expected.push("features: none".to_owned());
    assert_eq!(lines, expected);
}

#[test]
fn short_version_is_the_version_alone() {
    assert_eq!(
        version_lines("-V"),
        [format!(
            "libvirt-usb-hotplugd {}",
            env!("CARGO_PKG_VERSION")
        )]
    );
}
