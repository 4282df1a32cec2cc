//! `libvirt-usb-hotplugd check CONFIG`, run as a process: exit status, summary and messages.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_libvirt-usb-hotplugd"));
    // No debug logging from the environment, no journal mode.
    command
        .env_remove("WHAWTY_LIBVIRT_USB_HOTPLUGD_DEBUG")
        .env_remove("JOURNAL_STREAM");
    command
}

fn check(config: &Path) -> Output {
    binary()
        .arg("check")
        .arg(config)
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 output")
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("folder");
    }
    fs::write(path, text).expect("written");
}

#[test]
fn the_shipped_example_passes_with_its_summary() {
    let config = examples().join("config.yml");
    let output = check(&config);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let snippet = examples().join("machines.d/fingerprint-lab.yml");
    let backup = examples().join("machines.d/backup-vm.yml");
    assert_eq!(
        text(&output.stdout),
        format!(
            "{config}: valid\n\
             interval: 5s\n\
             libvirt-uri: qemu:///system\n\
             deny: 1 rule\n  \
             deny[0]: vendor-id 0781, product-id 5581, ID_USB_SERIAL_SHORT = \"4C530001230822117382\"\n\
             machines: 7\n  \
             webcam-test: 1 matcher ({config})\n  \
             yubikey-vm: 1 matcher ({config})\n  \
             desk-vm: 2 matchers, 1 deny rule ({config})\n    \
             deny[0]: interface-class 03, interface-protocol 01\n  \
             print-vm: 1 matcher ({config})\n  \
             video-vm: 1 matcher ({config})\n  \
             backup-vm: 1 matcher, 1 deny rule ({backup})\n    \
             deny[0]: port 1-4\n  \
             fingerprint-lab: 2 matchers ({snippet})\n",
            config = config.display(),
            snippet = snippet.display(),
            backup = backup.display(),
        )
    );
    assert_eq!(text(&output.stderr), "", "no warnings");
}

/// Deny rules at the top and in a `machines.d` file are listed under what they belong to.
#[test]
fn deny_rules_are_listed_at_both_levels() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.yml");
    write(
        &config,
        "deny:\n- vendor-id: 0x0781\n- interface-class: 0x08\n  port: 2-1.*\nmachines:\n  vm:\n    devices: [{bus: 1}]\n    deny: [{device-class: 0xef}]\n",
    );
    let snippet = dir.path().join("machines.d/backup.yml");
    write(
        &snippet,
        "devices:\n- interface-class: 8\ndeny:\n- port: 1-4\n- product-id: '5581'\n",
    );
    let output = check(&config);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        format!(
            "{config}: valid\ninterval: 5s\nlibvirt-uri: not set (libvirt's default)\n\
             deny: 2 rules\n  deny[0]: vendor-id 0781\n  deny[1]: interface-class 08, port 2-1.*\n\
             machines: 2\n  vm: 1 matcher, 1 deny rule ({config})\n    deny[0]: device-class ef\n  \
             backup: 1 matcher, 2 deny rules ({snippet})\n    deny[0]: port 1-4\n    deny[1]: product-id 5581\n",
            config = config.display(),
            snippet = snippet.display()
        )
    );
}

#[test]
fn a_broken_config_fails_with_one_line_naming_the_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.yml");
    write(
        &config,
        "interval: 5s\nmachines:\n  webcam-test:\n    devices:\n    - udev:\n        env:\n        - name: A\n          equals: x\n        - name: B\n          equals: y\n          pattern: z\n",
    );
    let output = check(&config);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(text(&output.stdout), "");
    assert_eq!(
        text(&output.stderr),
        format!(
            "libvirt-usb-hotplugd: cannot load the configuration: {}:9:11: \
             machines.webcam-test.devices[0].udev.env[1]: 'equals' and 'pattern' are mutually exclusive\n",
            config.display()
        )
    );
}

#[test]
fn a_broken_machines_d_file_fails_naming_that_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.yml");
    write(&config, "{}\n");
    let snippet = dir.path().join("machines.d/vm.yml");
    write(&snippet, "devices:\n- vendor-id: 0x10000\n");
    let output = check(&config);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        format!(
            "libvirt-usb-hotplugd: cannot load the configuration: {}:2:14: devices[0].vendor-id: 0x10000 is over 0xffff\n",
            snippet.display()
        )
    );
}

#[test]
fn a_missing_config_fails_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("absent.yml");
    let output = check(&config);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "libvirt-usb-hotplugd: cannot load the configuration: cannot read {}: ",
            config.display()
        )),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn replacements_are_shown_and_warned_about() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.yml");
    write(
        &config,
        "interval: 300ms\nmachines:\n  vm:\n    devices: [{bus: 1}]\n  other:\n    devices: [{bus: 2}]\n",
    );
    let snippet = dir.path().join("machines.d/vm.yml");
    write(&snippet, "devices: [{bus: 3}, {bus: 4}]\n");
    let output = check(&config);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        format!(
            "{config}: valid\ninterval: 300ms\nlibvirt-uri: not set (libvirt's default)\ndeny: none\nmachines: 2\n  \
             vm: 2 matchers ({snippet}, replacing the one in {config})\n  \
             other: 1 matcher ({config})\n",
            config = config.display(),
            snippet = snippet.display()
        )
    );
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("WARN"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "machine \"vm\" of {} is replaced by {}",
            config.display(),
            snippet.display()
        )),
        "{stderr}"
    );
}

/// A relative CONFIG finds `machines.d` relative to the working directory; `{}` is a configuration
/// without machines of its own.
#[test]
fn a_relative_path_and_an_empty_mapping() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(&dir.path().join("config.yml"), "{}\n");
    write(
        &dir.path().join("machines.d/vm.yml"),
        "devices: [{port: 1-2.*}]\n",
    );
    let output = binary()
        .current_dir(dir.path())
        .args(["check", "config.yml"])
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "config.yml: valid\ninterval: 5s\nlibvirt-uri: not set (libvirt's default)\ndeny: none\nmachines: 1\n  \
         vm: 1 matcher (machines.d/vm.yml)\n"
    );

    fs::remove_file(dir.path().join("machines.d/vm.yml")).expect("removed");
    let output = binary()
        .current_dir(dir.path())
        .args(["check", "config.yml"])
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(0));
    assert!(text(&output.stdout).ends_with("machines: none\n"));
}
