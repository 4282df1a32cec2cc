//! `libvirt-usb-hotplugd run --once`, the built binary against a fixture root and the real libvirtd
//! (see `support` for the environment): attach, idempotence, detach, a static hostdev left alone,
//! replug, and the exit status when an action fails. Each test has guests of its own and uses its
//! own host bus numbers.

mod support;

use fixtures::{DeviceFiles, FixtureTree, UsbDeviceBuilder};
use support::{run_once, spec, text, write, Guest, GuestKind, RealLibvirt};

/// The only matcher of these tests' configurations: a Logitech C270 webcam by its ids.
fn webcam(port: &str, device: u16) -> DeviceFiles {
    support::webcam(port, device).serial("2F5C3A10").build()
}

/// A configuration giving every Logitech C270 to `machine`.
fn webcam_config(machine: &str) -> String {
    format!("machines:\n  {machine}:\n    devices:\n    - vendor-id: 0x046d\n      product-id: 0x0825\n")
}

#[test]
fn once_attaches_then_does_nothing_then_detaches_and_leaves_a_static_hostdev_alone() {
    let Some(libvirt) = RealLibvirt::from_env(
        "once_attaches_then_does_nothing_then_detaches_and_leaves_a_static_hostdev_alone",
    ) else {
        return;
    };
    let guest = Guest::create(&libvirt, "once", GuestKind::Running);
    // A hostdev the user added by hand (no alias: libvirt names it hostdev0) for a webcam that is
    // not plugged in: it matches the rules and its device is absent, and still it is not the
    // daemon's to detach.
    guest.attach_by_hand(
        "<hostdev mode='subsystem' type='usb' managed='yes'>\
           <source startupPolicy='optional'>\
             <vendor id='0x046d'/><product id='0x0825'/><address bus='51' device='9'/>\
           </source>\
         </hostdev>",
    );
    let static_hostdevs = guest.not_owned();
    assert_eq!(static_hostdevs.len(), 1, "{static_hostdevs:?}");
    assert!(
        static_hostdevs[0]
            .alias
            .as_deref()
            .is_some_and(|alias| !alias.starts_with("ua-")),
        "{static_hostdevs:?}"
    );
    let tree = FixtureTree::new().expect("fixture tree");
    let config = tree.root().join("config.yml");
    write(&config, &webcam_config(guest.name()));
    let device = webcam("51-1", 5);
    tree.add(&device).expect("device added");

    // First run: the webcam is attached with the owned alias.
    let output = run_once(tree.root(), &libvirt, &config);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let xml = guest.live_xml();
    assert!(
        xml.contains("<alias name='ua-hotplugd-51-5-046d-0825'/>"),
        "no owned hostdev in the live XML:\n{xml}"
    );
    assert_eq!(guest.owned(), vec![spec(51, 5, 0x046d, 0x0825)]);
    assert_eq!(guest.not_owned(), static_hostdevs);
    assert!(
        text(&output.stderr).contains(&format!("attached 051/005 (046d:0825) to {}", guest.name())),
        "{}",
        text(&output.stderr)
    );

    // Second run: nothing to do, the live XML stays as it was.
    let output = run_once(tree.root(), &libvirt, &config);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(guest.live_xml(), xml, "the second run changed the guest");
    assert!(
        !text(&output.stderr).contains("attached") && !text(&output.stderr).contains("detached"),
        "{}",
        text(&output.stderr)
    );

    // Unplugged: the owned hostdev goes, the static one stays.
    tree.remove(&device).expect("device removed");
    let output = run_once(tree.root(), &libvirt, &config);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(guest.owned(), vec![]);
    assert_eq!(guest.not_owned(), static_hostdevs);
    assert!(
        text(&output.stderr).contains(&format!(
            "detached 051/005 (046d:0825) from {}",
            guest.name()
        )),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn replug_with_a_new_device_number_ends_with_one_hostdev_for_the_new_number() {
    let Some(libvirt) = RealLibvirt::from_env(
        "replug_with_a_new_device_number_ends_with_one_hostdev_for_the_new_number",
    ) else {
        return;
    };
    let guest = Guest::create(&libvirt, "replug", GuestKind::Running);
    let tree = FixtureTree::new().expect("fixture tree");
    let config = tree.root().join("config.yml");
    write(&config, &webcam_config(guest.name()));
    let before = webcam("52-2", 7);
    tree.add(&before).expect("device added");
    let output = run_once(tree.root(), &libvirt, &config);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(guest.owned(), vec![spec(52, 7, 0x046d, 0x0825)]);

    // Unplugged and plugged back into the same port between two runs: same ids and serial, the
    // next device number.
    tree.remove(&before).expect("device removed");
    let after = webcam("52-2", 8);
    tree.add(&after).expect("device added again");
    let output = run_once(tree.root(), &libvirt, &config);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(guest.owned(), vec![spec(52, 8, 0x046d, 0x0825)]);
    assert_eq!(guest.hostdevs().len(), 1, "{}", guest.live_xml());

    // And that is where it rests.
    let xml = guest.live_xml();
    let output = run_once(tree.root(), &libvirt, &config);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(guest.live_xml(), xml);
}

#[test]
fn once_exits_2_when_an_attach_fails_and_still_does_the_other_actions() {
    let Some(libvirt) =
        RealLibvirt::from_env("once_exits_2_when_an_attach_fails_and_still_does_the_other_actions")
    else {
        return;
    };
    // libvirt refuses every USB hostdev for a guest without a USB controller.
    let without_usb = Guest::create(&libvirt, "no-usb", GuestKind::RunningWithoutUsb);
    let with_usb = Guest::create(&libvirt, "usb", GuestKind::Running);
    let tree = FixtureTree::new().expect("fixture tree");
    let config = tree.root().join("config.yml");
    write(
        &config,
        &format!(
            "machines:\n  {}:\n    devices:\n    - vendor-id: 0x046d\n      product-id: 0x0825\n  \
             {}:\n    devices:\n    - vendor-id: 0x1050\n      product-id: 0x0407\n",
            without_usb.name(),
            with_usb.name()
        ),
    );
    tree.add(&webcam("53-1", 5)).expect("device added");
    let yubikey = UsbDeviceBuilder::new("53-2", 6)
        .ids(0x1050, 0x0407)
        .manufacturer("Yubico")
        .product("YubiKey OTP+FIDO+CCID")
        .build();
    tree.add(&yubikey).expect("device added");

    let output = run_once(tree.root(), &libvirt, &config);
    let log = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{log}");
    assert_eq!(without_usb.owned(), vec![]);
    assert_eq!(with_usb.owned(), vec![spec(53, 6, 0x1050, 0x0407)], "{log}");
    let failure = log
        .lines()
        .find(|line| line.contains("WARN") || line.contains("ERROR"))
        .unwrap_or_else(|| panic!("the failure is not logged:\n{log}"));
    assert!(
        failure.contains("053/005") && failure.contains(without_usb.name()),
        "the failure line does not say which device and machine: {failure}"
    );
    println!("the failure as logged: {failure}");
    assert!(
        log.contains(&format!(
            "attached 053/006 (1050:0407) to {}",
            with_usb.name()
        )),
        "{log}"
    );
}
