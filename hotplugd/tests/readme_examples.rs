//! The outputs the README shows are what the binary prints on the bundled demo and examples, so the
//! documentation cannot drift from the program.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(args: &[&str]) -> String {
    let demo_uri = format!(
        "test:///{}",
        workspace()
            .join("examples/demo/libvirt-node.xml")
            .canonicalize()
            .expect("demo node file")
            .display()
    );
    let output = Command::new(env!("CARGO_BIN_EXE_libvirt-usb-hotplugd"))
        .current_dir(workspace())
        .args(["--root", "examples/demo/root", "--libvirt-uri", &demo_uri])
        .args(args)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn readme() -> String {
    std::fs::read_to_string(workspace().join("README.md")).expect("README.md")
}

#[test]
fn the_readme_shows_the_real_explain_of_the_demo() {
    let output = run(&["explain", "examples/demo/config.yml"]);
    assert!(output.contains("Actions:\n  detach 001/009"), "{output}");
    assert!(
        readme().contains(&output),
        "README's explain block differs from:\n{output}"
    );
}

#[test]
fn the_readme_shows_the_real_dry_run_of_the_demo() {
    let output = run(&["run", "--once", "--dry-run", "examples/demo/config.yml"]);
    assert!(
        readme().contains(&output),
        "README's run block differs from:\n{output}"
    );
}

#[test]
fn the_readme_shows_the_real_check_of_the_example_config() {
    let output = run(&["check", "examples/config.yml"]);
    assert!(
        readme().contains(&output),
        "README's check block differs from:\n{output}"
    );
}
