//! Log lines as a user sees them on stderr: timestamps unless systemd's journal takes the output,
//! the original's debug variable, one warning per failed action.

use std::path::Path;
use std::process::{Command, Output};

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// `run --once` on the demo: its test-driver libvirt refuses every attach and detach, which the
/// daemon logs as warnings.
fn run_once_on_demo(environment: &[(&str, &str)], extra: &[&str]) -> Output {
    let private = tempfile::tempdir().expect("temp dir");
    let node = workspace()
        .join("examples/demo/libvirt-node.xml")
        .canonicalize()
        .expect("demo node file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_libvirt-usb-hotplugd"));
    command
        .current_dir(workspace())
        .env_remove("JOURNAL_STREAM")
        .env_remove("WHAWTY_LIBVIRT_USB_HOTPLUGD_DEBUG")
        .envs(environment.iter().copied())
        .args(["--root", "examples/demo/root", "--libvirt-uri"])
        .arg(format!("test:///{}", node.display()))
        .args(extra)
        .arg("--state-dir")
        .arg(private.path().join("state"))
        .arg("--data-dir")
        .arg(private.path().join("data"))
        .args(["run", "--once", "examples/demo/config.yml"]);
    command.output().expect("runs")
}

fn warnings(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.contains("WARN"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn lines_carry_a_timestamp_except_under_the_journal() {
    let plain = run_once_on_demo(&[], &[]);
    assert_eq!(
        plain.status.code(),
        Some(2),
        "the test driver refuses hotplug"
    );
    let lines = warnings(&plain);
    assert_eq!(lines.len(), 4, "one warning per failed action: {lines:#?}");
    for line in &lines {
        assert!(line.starts_with("20"), "a timestamp first: {line}");
        assert!(
            !line.contains("retrying"),
            "run --once retries nothing: {line}"
        );
    }

    let journal = run_once_on_demo(&[("JOURNAL_STREAM", "8:12345")], &[]);
    let lines = warnings(&journal);
    assert_eq!(lines.len(), 4);
    for line in &lines {
        assert!(
            line.starts_with("WARN"),
            "no timestamp under the journal: {line}"
        );
    }
}

#[test]
fn the_original_debug_variable_and_verbose_show_every_device_with_its_properties() {
    let quiet_about_devices = run_once_on_demo(&[], &[]);
    let stderr = String::from_utf8_lossy(&quiet_about_devices.stderr);
    assert!(!stderr.contains("DEBUG"), "{stderr}");

    for (environment, extra) in [
        (&[("WHAWTY_LIBVIRT_USB_HOTPLUGD_DEBUG", "1")][..], &[][..]),
        (&[][..], &["-v"][..]),
    ] {
        let output = run_once_on_demo(environment, extra);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let found: Vec<&str> = stderr
            .lines()
            .filter(|line| line.contains("DEBUG") && line.contains("found "))
            .collect();
        assert_eq!(found.len(), 8, "the demo's eight devices: {stderr}");
        let yubikey = found
            .iter()
            .find(|line| line.contains("(1050:0120)"))
            .expect("the YubiKey is described");
        assert!(
            yubikey.contains("ID_SERIAL=Yubico_Security_Key_by_Yubico"),
            "{yubikey}"
        );
        assert!(yubikey.contains("tags: {\"seat\"}"), "{yubikey}");
    }
}

#[test]
fn quiet_keeps_warnings_only() {
    let output = run_once_on_demo(&[], &["-q"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("INFO"), "{stderr}");
    assert_eq!(warnings(&output).len(), 4);
}
