//! The committed man pages and shell completions are exactly what the generator makes now from
//! the command line and docs/man: a change to either without `cargo xtask generate` fails here.

use std::fs;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ is inside the repository")
        .to_owned()
}

#[test]
fn committed_pages_and_completions_are_up_to_date() {
    let repo = repo();
    let files = xtask::generate(&repo).expect("the generator runs");
    let differences = xtask::differences(&repo, &files).expect("the committed files are readable");
    assert!(
        differences.is_empty(),
        "the generated files in contrib/ are out of date; run `cargo xtask generate` and commit \
         the result:\n{}",
        differences.join("\n")
    );
}

#[test]
fn every_command_has_a_page_and_every_shell_a_completion() {
    let files = xtask::generate(&repo()).expect("the generator runs");
    let names: Vec<String> = files
        .iter()
        .map(|file| file.path.to_string_lossy().into_owned())
        .collect();
    for expected in [
        "contrib/man/libvirt-usb-hotplugd.8",
        "contrib/man/libvirt-usb-hotplugd-list.8",
        "contrib/man/libvirt-usb-hotplugd-run.8",
        "contrib/man/libvirt-usb-hotplugd-explain.8",
        "contrib/man/libvirt-usb-hotplugd-check.8",
        "contrib/man/libvirt-usb-hotplugd.5",
        "contrib/completions/libvirt-usb-hotplugd.bash",
        "contrib/completions/_libvirt-usb-hotplugd",
        "contrib/completions/libvirt-usb-hotplugd.fish",
    ] {
        assert!(
            names.iter().any(|name| name == expected),
            "{expected} in {names:?}"
        );
    }
    let bash = files
        .iter()
        .find(|file| file.path.ends_with("libvirt-usb-hotplugd.bash"))
        .expect("bash completion");
    let bash = String::from_utf8_lossy(&bash.contents);
    for word in [
        "list",
        "run",
        "explain",
        "check",
        "--libvirt-uri",
        "--dry-run",
    ] {
        assert!(bash.contains(word), "the bash completion offers {word}");
    }
}

/// The check itself: a copy of the generated files that was edited, lost a file or gained one
/// is reported file by file.
#[test]
fn differences_name_each_changed_missing_and_stale_file() {
    let copy = tempfile::tempdir().expect("temp dir");
    let files = xtask::generate(&repo()).expect("the generator runs");
    xtask::write(copy.path(), &files).expect("written");
    assert_eq!(
        xtask::differences(copy.path(), &files).expect("read"),
        Vec::<String>::new()
    );

    let man = copy.path().join(xtask::MAN_DIR);
    fs::write(man.join("libvirt-usb-hotplugd.8"), "edited\n").expect("edit");
    fs::remove_file(man.join("libvirt-usb-hotplugd-list.8")).expect("remove");
    fs::write(man.join("libvirt-usb-hotplugd-gone.8"), "old\n").expect("add");
    assert_eq!(
        xtask::differences(copy.path(), &files).expect("read"),
        [
            "contrib/man/libvirt-usb-hotplugd.8: differs",
            "contrib/man/libvirt-usb-hotplugd-list.8: missing",
            "contrib/man/libvirt-usb-hotplugd-gone.8: not generated any more",
        ]
    );

    xtask::write(copy.path(), &files).expect("written again");
    assert_eq!(
        xtask::differences(copy.path(), &files).expect("read"),
        Vec::<String>::new()
    );
}
