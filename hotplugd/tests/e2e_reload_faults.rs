//! The fault suite's reload cases (issue 10, reproduction 1, against the real libvirtd and a KVM
//! guest of the test's own, see `support`): the daemon has attached a device to the running guest;
//! the configuration is then replaced by a truncated one (cut at a line end), an emptied one, a
//! FIFO, a symlink loop and an unreadable one, with SIGHUP after each. Each time: exactly one error
//! line, nothing detached (the guest's live XML), and the old configuration still in force (a
//! device plugged in afterwards is attached by its rules). At the end the good configuration
//! reloads again.
//!
//! The daemon runs without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (`setpriv`, see
//! [`support::without_file_capabilities`]): root reads mode-000 files otherwise, and a daemon
//! under systemd's hardening may well be without them too. udev events are off, so the resync
//! tick (300 ms) finds devices.

mod support;

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use fixtures::FixtureTree;
use support::{
    binary, one_at_a_time, spec, write, Daemon, Guest, GuestKind, RealLibvirt, GENEROUS,
};

/// The configuration in force: every Logitech C270 to `machine`, resync every 300 ms.
fn webcam_config(machine: &str) -> String {
    format!(
        "interval: 300ms\nmachines:\n  {machine}:\n    devices:\n    \
         - vendor-id: 0x046d\n      product-id: 0x0825\n"
    )
}

/// Removes whatever is at `path` (a file, a FIFO, a link), so that nothing writes into a FIFO.
fn remove(path: &Path) {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            panic!("cannot remove {}: {error}", path.display())
        }
        _ => {}
    }
}

fn error_lines(daemon: &Daemon) -> Vec<String> {
    daemon
        .log()
        .lines()
        .filter(|line| line.contains("ERROR"))
        .map(str::to_owned)
        .collect()
}

/// One bad configuration: its name, how it is put in place of `config` (given the good text), and
/// what the error line says about it.
struct Fault {
    what: &'static str,
    make: fn(&Path, &str),
    says: &'static str,
}

const FAULTS: &[Fault] = &[
    Fault {
        what: "truncated at a line end",
        make: |config, good| {
            remove(config);
            write(config, &good[..good.find("  hotplugd").expect("machines")]);
        },
        says: "machines: has no value (write `machines: {}` for no machines)",
    },
    Fault {
        what: "emptied",
        make: |config, _| {
            remove(config);
            write(config, "");
        },
        says: "the configuration is empty",
    },
    Fault {
        what: "a FIFO",
        make: |config, _| {
            remove(config);
            let status = Command::new("mkfifo")
                .arg(config)
                .status()
                .expect("mkfifo runs");
            assert!(status.success());
        },
        says: "is a FIFO, not a regular file",
    },
    Fault {
        what: "a symlink loop",
        make: |config, _| {
            remove(config);
            symlink(config, config).expect("symlink");
        },
        says: "Too many levels of symbolic links",
    },
    Fault {
        what: "unreadable (the same good text, mode 000)",
        make: |config, good| {
            remove(config);
            write(config, good);
            fs::set_permissions(config, fs::Permissions::from_mode(0o000)).expect("chmod");
        },
        says: "Permission denied",
    },
];

#[test]
fn reloads_of_truncated_emptied_fifo_looped_and_unreadable_configurations_detach_nothing() {
    let Some(libvirt) = RealLibvirt::from_env(
        "reloads_of_truncated_emptied_fifo_looped_and_unreadable_configurations_detach_nothing",
    ) else {
        return;
    };
    let _one_at_a_time = one_at_a_time();
    let guest = Guest::create(&libvirt, "reload-faults", GuestKind::Running);
    let tree = FixtureTree::new().expect("fixture tree");
    let config = tree.root().join("config.yml");
    let good = webcam_config(guest.name());
    assert!(good.contains(&format!("  {}:", guest.name())) && guest.name().starts_with("hotplugd"));
    write(&config, &good);
    tree.add(&support::webcam("58-1", 2).build())
        .expect("device added");
    let mut attached = vec![spec(58, 2, 0x046d, 0x0825)];

    let mut command = binary(tree.root(), &libvirt);
    command
        .env("LIBVIRT_USB_HOTPLUGD_NO_UDEV_EVENTS", "1")
        .arg(&config);
    let daemon = Daemon::spawn(
        support::without_file_capabilities(&command),
        &tree.root().join("daemon.log"),
    );
    daemon.wait_started();
    assert!(
        support::wait_until(GENEROUS, || guest.owned() == attached).is_some(),
        "not attached at the start:\n{}",
        daemon.log()
    );

    for (number, fault) in (3..).zip(FAULTS) {
        let errors_before = error_lines(&daemon).len();
        (fault.make)(&config, &good);
        daemon.signal("HUP");
        assert!(
            support::wait_until(GENEROUS, || error_lines(&daemon).len() > errors_before).is_some(),
            "{}: no error line within {GENEROUS:?}:\n{}",
            fault.what,
            daemon.log()
        );
        let error = error_lines(&daemon)[errors_before].clone();
        println!("{}: {error}", fault.what);
        let config_name = config.display().to_string();
        for part in ["keeping the configuration in use", &config_name, fault.says] {
            assert!(
                error.contains(part),
                "{}: {error:?} lacks {part:?}",
                fault.what
            );
        }
        assert_eq!(
            guest.owned(),
            attached,
            "{}: detached:\n{}",
            fault.what,
            daemon.log()
        );

        // The old configuration is in force: a device plugged in now is attached by its rules,
        // and the one before stays.
        let port = format!("58-{}", number - 1);
        tree.add(&support::webcam(&port, number).build())
            .expect("device added");
        attached.push(spec(58, number, 0x046d, 0x0825));
        assert!(
            support::wait_until(GENEROUS, || guest.owned() == attached).is_some(),
            "{}: the old configuration is not in force: {:?}\n{}",
            fault.what,
            guest.owned(),
            daemon.log()
        );
        assert_eq!(
            error_lines(&daemon).len(),
            errors_before + 1,
            "{}: not exactly one error line:\n{}",
            fault.what,
            daemon.log()
        );
    }

    remove(&config);
    write(&config, &good);
    daemon.signal("HUP");
    assert!(
        daemon
            .wait_for_line(&["reloaded", "1 machine(s)"], GENEROUS)
            .is_some(),
        "the good configuration does not reload:\n{}",
        daemon.log()
    );
    assert_eq!(guest.owned(), attached);
    assert!(guest.is_running());
}
