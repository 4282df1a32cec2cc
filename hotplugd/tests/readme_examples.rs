//! The outputs the README shows are what the binary prints on the bundled demo and examples, so the
//! documentation cannot drift from the program. Each example is a `$ libvirt-usb-hotplugd ARGS`
//! line in a code block, followed by its output up to the end of the block: the test runs exactly
//! those arguments (`$PWD` is the workspace) and compares the whole output with the block.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the workspace")
}

/// The README's example whose command line ends with `ending`: its arguments and the output shown.
fn example(ending: &str) -> (Vec<String>, String) {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let mut lines = readme.lines();
    let command = lines
        .find(|line| line.starts_with("$ libvirt-usb-hotplugd ") && line.ends_with(ending))
        .unwrap_or_else(|| panic!("no `$ libvirt-usb-hotplugd … {ending}` line in README.md"));
    let workspace = workspace().display().to_string();
    let arguments = command
        .split_whitespace()
        .skip(2)
        .map(|argument| argument.replace("$PWD", &workspace))
        .collect();
    let shown: Vec<&str> = lines.take_while(|line| !line.starts_with("```")).collect();
    assert!(
        !shown.is_empty(),
        "the README shows no output for {command}"
    );
    (arguments, format!("{}\n", shown.join("\n")))
}

fn run(arguments: &[String]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_libvirt-usb-hotplugd"))
        .current_dir(workspace())
        .env_remove("WHAWTY_LIBVIRT_USB_HOTPLUGD_DEBUG")
        .args(arguments)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{arguments:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn assert_readme_shows(ending: &str) {
    let (arguments, shown) = example(ending);
    let printed = run(&arguments);
    assert_eq!(
        printed, shown,
        "README's example `{ending}` differs from what the binary prints"
    );
}

#[test]
fn the_readme_shows_the_real_explain_of_the_demo() {
    assert_readme_shows("explain examples/demo/config.yml");
}

#[test]
fn the_readme_shows_the_real_dry_run_of_the_demo() {
    assert_readme_shows("run --once --dry-run examples/demo/config.yml");
}

#[test]
fn the_readme_shows_the_real_check_of_the_example_config() {
    assert_readme_shows("check examples/config.yml");
}
