//! The built binary on configurations that are faulty in ways a careful operator meets (issue 10,
//! reproductions 1, 2 and 5): `check` and the daemon's start fail with exit status 1 and one line
//! naming the file, within a bound, and in bounded memory, whatever the file is.
//!
//! Files a root process cannot be kept from reading (mode 000, a folder without `x`) are made
//! unreadable by running the binary without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
//! (`setpriv --bounding-set -dac_override,-dac_read_search`, util-linux) when the tests run as
//! root; as another user the modes alone do it.

mod support;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use support::{text, wait_until, write, BINARY, GENEROUS};

/// The most memory (data segment: heap and anonymous maps) a `check` may take here: parsing any
/// configuration file stays under 100 MiB, and the rest of the process is a few MiB.
const DATA_LIMIT: u64 = 160 << 20;

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"))
    })
}

/// The binary with `args`, without the file-permission capabilities when root, limited to
/// [`DATA_LIMIT`] of data (`prlimit`), no debug logging from the environment.
fn binary(args: &[&str]) -> Command {
    let mut plain = Command::new(BINARY);
    plain.args(args);
    let unprivileged = if is_root() {
        support::without_file_capabilities(&plain)
    } else {
        plain
    };
    let mut command = Command::new("prlimit");
    command
        .arg(format!("--data={DATA_LIMIT}"))
        .arg("--")
        .arg(unprivileged.get_program())
        .args(unprivileged.get_args())
        .env_remove("WHAWTY_LIBVIRT_USB_HOTPLUGD_DEBUG")
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs `binary(args)` to its end, at most [`GENEROUS`] (then it is killed and the test fails):
/// the exit code and stderr.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let mut child = binary(args).spawn().expect("the binary starts");
    let mut status = None;
    wait_until(GENEROUS, || {
        status = child.try_wait().expect("waitpid works");
        status.is_some()
    });
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{args:?} still ran after {GENEROUS:?}");
    }
    let output = child.wait_with_output().expect("output");
    (output.status.code(), text(&output.stderr))
}

/// `check CONFIG` fails with exit 1 and exactly the one line `libvirt-usb-hotplugd: cannot load
/// the configuration: MESSAGE`; so does starting the daemon with it.
fn refused(config: &Path, message: &str) {
    let config = config.to_str().expect("a UTF-8 path");
    for args in [
        vec!["check", config],
        vec!["--libvirt-uri", "test:///default", config],
    ] {
        let (code, stderr) = run(&args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert_eq!(
            stderr,
            format!("libvirt-usb-hotplugd: cannot load the configuration: {message}\n"),
            "{args:?}"
        );
    }
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

const GOOD: &str = "interval: 5s\nmachines:\n  vm:\n    devices:\n    - vendor-id: 0x046d\n";

#[test]
fn a_good_configuration_passes_under_the_same_limits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.yml");
    write(&config, GOOD);
    let (code, stderr) = run(&["check", config.to_str().expect("utf-8")]);
    assert_eq!(code, Some(0), "{stderr}");
}

/// Reproduction 1: emptied, cut at a line end, or a FIFO (whose open blocked, and whose EOF was
/// then "no machines").
#[test]
fn an_emptied_truncated_or_fifo_configuration_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.yml");
    write(&config, "");
    refused(
        &config,
        &format!(
            "{}: the configuration is empty (write `machines: {{}}` for one without machines)",
            config.display()
        ),
    );
    write(&config, &GOOD[..GOOD.find("  vm:").expect("cut")]);
    refused(
        &config,
        &format!(
            "{}:2:10: machines: has no value (write `machines: {{}}` for no machines)",
            config.display()
        ),
    );
    fs::remove_file(&config).expect("removed");
    mkfifo(&config);
    refused(
        &config,
        &format!("{}: is a FIFO, not a regular file", config.display()),
    );
}

/// Reproduction 2: a dangling symlink, a symlink loop, a `machines.d` that can be listed but not
/// entered, and an unreadable file, each named.
#[test]
fn machines_d_entries_that_cannot_be_read_are_refused_naming_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.yml");
    write(&config, GOOD);
    let d = dir.path().join("machines.d");
    write(&d.join("a.yml"), "devices: [{bus: 1}]\n");

    let dangling = d.join("b.yml");
    symlink("/nonexistent/b.yml", &dangling).expect("symlink");
    refused(
        &config,
        &format!(
            "{}: is a symbolic link to /nonexistent/b.yml, which does not exist",
            dangling.display()
        ),
    );
    fs::remove_file(&dangling).expect("removed");

    let looped = d.join("c.yml");
    symlink(&looped, &looped).expect("symlink");
    refused(
        &config,
        &format!(
            "cannot read {}: Too many levels of symbolic links (os error 40)",
            looped.display()
        ),
    );
    fs::remove_file(&looped).expect("removed");

    let unreadable = d.join("d.yml");
    write(&unreadable, "devices: [{bus: 2}]\n");
    fs::set_permissions(&unreadable, fs::Permissions::from_mode(0o000)).expect("chmod");
    refused(
        &config,
        &format!(
            "cannot read {}: Permission denied (os error 13)",
            unreadable.display()
        ),
    );
    fs::remove_file(&unreadable).expect("removed");

    // Listable (r) but not enterable (no x): the names are there, the files cannot be opened.
    fs::set_permissions(&d, fs::Permissions::from_mode(0o644)).expect("chmod");
    refused(
        &config,
        &format!(
            "cannot read {}: Permission denied (os error 13)",
            d.join("a.yml").display()
        ),
    );
    fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).expect("chmod back");

    // The main file itself unreadable.
    fs::set_permissions(&config, fs::Permissions::from_mode(0o000)).expect("chmod");
    refused(
        &config,
        &format!(
            "cannot read {}: Permission denied (os error 13)",
            config.display()
        ),
    );
}

/// Reproduction 5: `/dev/zero` (which grew `check` to 11 GB), a 512 KB configuration whose anchor
/// is reused 20 000 times (4.4 GB expanded), 64 000 nested `[` (35 s in libyaml's scanner): each is
/// refused with its position, within the data limit of [`DATA_LIMIT`].
#[test]
fn a_device_an_alias_bomb_and_deep_nesting_are_refused_in_bounded_memory() {
    refused(
        Path::new("/dev/zero"),
        "/dev/zero: is a character device, not a regular file",
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.yml");
    let mut bomb =
        String::from("machines:\n  vm:\n    devices:\n    - &m\n      udev:\n        env:\n");
    let entry = format!("        - {{name: A, equals: {}}}\n", "x".repeat(300));
    while bomb.len() < 330_000 {
        bomb.push_str(&entry);
    }
    for _ in 0..20_000 {
        bomb.push_str("    - *m\n");
    }
    assert!(bomb.len() < 512 * 1024);
    write(&config, &bomb);
    refused(
        &config,
        &format!(
            "{}:1019:7: the document's scalars exceed 4194304 bytes, aliases expanded",
            config.display()
        ),
    );

    write(
        &config,
        &format!("machines: {}{}\n", "[".repeat(64_000), "]".repeat(64_000)),
    );
    refused(
        &config,
        &format!(
            "{}:1:266: collections nested deeper than 32 levels",
            config.display()
        ),
    );
}
