//! `LibvirtHypervisor` against libvirt's test driver and the node file `tests/data/node.xml`: the
//! observed state of running, paused and shut-off domains, and the errors of a driver that cannot
//! hotplug. No daemon is needed; each connection gets its own copy of the node's state.

use libvirt_sync::{
    error_chain, Cause, DomainState, Error, ErrorKind, HostdevSpec, Hypervisor, LibvirtHypervisor,
    ObservedDomain, ObservedHostdev,
};

fn open_node() -> LibvirtHypervisor {
    let uri = format!("test://{}/tests/data/node.xml", env!("CARGO_MANIFEST_DIR"));
    LibvirtHypervisor::open(Some(&uri)).unwrap()
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| name.to_string()).collect()
}

fn domain(name: &str) -> DomainState {
    let mut view = open_node().observe(&names(&[name])).unwrap();
    assert_eq!(view.domains.len(), 1, "{name}: {view:?}");
    view.domains.remove(0).state
}

/// libvirt's `VIR_ERR_NO_SUPPORT`: the driver has no such function.
const VIR_ERR_NO_SUPPORT: u32 = 3;

const WEBCAM: HostdevSpec = HostdevSpec {
    bus: 3,
    device: 5,
    vendor_id: 0x046d,
    product_id: 0x0825,
};

#[test]
fn running_domain_has_owned_and_static_usb_hostdevs_but_no_pci() {
    let state = domain("webcam-vm");
    assert!(state.is_running());
    assert_eq!(
        state.hostdevs(),
        vec![
            ObservedHostdev::from(WEBCAM),
            ObservedHostdev {
                bus: Some(1),
                device: Some(7),
                vendor_id: Some(0x1050),
                product_id: Some(0x0407),
                alias: Some("ua-yubikey".into()),
            },
            ObservedHostdev {
                bus: Some(2),
                device: Some(4),
                vendor_id: Some(0x0403),
                product_id: Some(0x6001),
                alias: None,
            },
        ]
    );
    let owned: Vec<_> = state
        .hostdevs()
        .iter()
        .filter_map(ObservedHostdev::owned_spec)
        .collect();
    assert_eq!(owned, vec![WEBCAM]);
}

#[test]
fn hostdevs_without_address_or_product_are_read_with_what_they_have() {
    let state = domain("partial-vm");
    assert!(state.is_running());
    assert_eq!(
        state.hostdevs(),
        vec![
            ObservedHostdev {
                vendor_id: Some(0x046d),
                product_id: Some(0x0825),
                ..Default::default()
            },
            ObservedHostdev {
                bus: Some(4),
                device: Some(2),
                alias: Some("ua-by-port".into()),
                ..Default::default()
            },
        ]
    );
    assert!(state.hostdevs().iter().all(|hostdev| !hostdev.is_owned()));
}

#[test]
fn paused_domain_is_active_and_shut_off_domain_has_no_live_hostdevs() {
    let paused = domain("paused-vm");
    assert!(paused.is_running());
    let usb_nic = HostdevSpec {
        bus: 2,
        device: 3,
        vendor_id: 0x0bda,
        product_id: 0x8153,
    };
    assert_eq!(paused.hostdevs(), vec![ObservedHostdev::from(usb_nic)]);

    // stopped-vm has an owned hostdev in its configuration, but nothing is live.
    assert_eq!(domain("stopped-vm"), DomainState::Inactive);
}

#[test]
fn observe_follows_the_given_names_and_lists_every_other_running_domain() {
    let mut libvirt = open_node();
    let view = libvirt
        .observe(&names(&["stopped-vm", "no-such-vm", "webcam-vm", ""]))
        .unwrap();
    let listed: Vec<(&str, &DomainState)> = view
        .domains
        .iter()
        .map(|domain| (domain.name.as_str(), &domain.state))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("stopped-vm", &DomainState::Inactive),
            ("no-such-vm", &DomainState::Undefined),
            ("webcam-vm", &domain("webcam-vm")),
            ("", &DomainState::Undefined),
        ]
    );
    // The running (or paused) domains not asked for, by name, with their hostdevs: a device they
    // hold is busy there.
    let others: Vec<&str> = view
        .others
        .iter()
        .map(|other| other.name.as_str())
        .collect();
    assert_eq!(others, ["partial-vm", "paused-vm"]);
    assert_eq!(
        view.others[0],
        ObservedDomain::new("partial-vm", domain("partial-vm")).with_id(view.others[0].id)
    );
    // Running domains carry libvirt's id of their run; the asked-for inactive one has none.
    assert!(view.others.iter().all(|other| other.id.is_some()));
    assert!(view.domains[2].id.is_some() && view.domains[0].id.is_none());
    let nothing_asked = libvirt.observe(&[]).unwrap();
    assert!(nothing_asked.domains.is_empty());
    assert_eq!(nothing_asked.others.len(), 3);
}

#[test]
fn attach_on_a_driver_without_hotplug_is_a_permanent_error_naming_domain_and_device() {
    let mut libvirt = open_node();
    let yubikey = HostdevSpec {
        bus: 1,
        device: 9,
        vendor_id: 0x1050,
        product_id: 0x0407,
    };
    let error = libvirt.attach("partial-vm", &yubikey).unwrap_err();
    let Error::Attach {
        domain: failed_on,
        device,
        kind,
        cause: Cause::Libvirt(cause),
    } = &error
    else {
        panic!("not an attach error from libvirt: {error:?}");
    };
    assert_eq!(
        (failed_on.as_str(), *device, *kind),
        ("partial-vm", yubikey, ErrorKind::Permanent)
    );
    // libvirt's own error, with its code, is the cause.
    assert_eq!(cause.code, VIR_ERR_NO_SUPPORT, "{cause:?}");
    assert!(cause.message.contains("not supported"), "{cause:?}");
    assert_eq!(
        error_chain(&error),
        format!(
            "cannot attach 001/009 (1050:0407) to partial-vm: {}",
            cause.message
        )
    );
    // Nothing changed, and the connection still works.
    let view = libvirt.observe(&names(&["partial-vm"])).unwrap();
    assert_eq!(view.domains[0].state, domain("partial-vm"));
}

#[test]
fn detach_of_an_owned_hostdev_on_a_driver_without_hotplug_is_a_permanent_error() {
    let mut libvirt = open_node();
    let error = libvirt.detach("webcam-vm", &WEBCAM).unwrap_err();
    assert!(
        matches!(&error, Error::Detach { device, kind: ErrorKind::Permanent, .. } if *device == WEBCAM),
        "{error:?}"
    );
    assert!(error_chain(&error).contains("not supported"), "{error}");
    let view = libvirt.observe(&names(&["webcam-vm"])).unwrap();
    assert!(view.domains[0].state.hostdevs().contains(&WEBCAM.into()));
}

#[test]
fn detach_refuses_a_hostdev_the_daemon_does_not_own() {
    let mut libvirt = open_node();
    // The yubikey of webcam-vm has a user alias that is not the daemon's; libvirt would detach it
    // for any detach request with its bus and device.
    let yubikey = HostdevSpec {
        bus: 1,
        device: 7,
        vendor_id: 0x1050,
        product_id: 0x0407,
    };
    let error = libvirt.detach("webcam-vm", &yubikey).unwrap_err();
    assert!(!error.is_transient(), "{error:?}");
    let message = error_chain(&error);
    assert!(
        message.starts_with("cannot detach 001/007 (1050:0407) from webcam-vm: "),
        "{message}"
    );
    assert!(
        message.contains("aliased ua-yubikey") && message.contains("refusing"),
        "{message}"
    );

    // Same bus and device as the alias-less static hostdev, other ids.
    let other = HostdevSpec {
        bus: 2,
        device: 4,
        vendor_id: 0x1234,
        product_id: 0x5678,
    };
    let message = error_chain(&libvirt.detach("webcam-vm", &other).unwrap_err());
    assert!(message.contains("one without alias"), "{message}");
}

#[test]
fn detach_of_a_device_that_is_not_attached_is_a_permanent_error() {
    let mut libvirt = open_node();
    let absent = HostdevSpec {
        bus: 9,
        device: 9,
        ..WEBCAM
    };
    let error = libvirt.detach("webcam-vm", &absent).unwrap_err();
    assert!(!error.is_transient(), "{error:?}");
    assert!(error_chain(&error).contains("device not found"), "{error}");
}

#[test]
fn operations_on_a_shut_off_or_unknown_domain_are_transient_errors() {
    let mut libvirt = open_node();
    let stale = HostdevSpec {
        bus: 3,
        device: 6,
        ..WEBCAM
    };
    let error = libvirt.detach("stopped-vm", &stale).unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    assert!(
        error_chain(&error).contains("domain is not running"),
        "{error}"
    );

    for error in [
        libvirt.attach("no-such-vm", &WEBCAM).unwrap_err(),
        libvirt.detach("no-such-vm", &WEBCAM).unwrap_err(),
    ] {
        assert!(error.is_transient(), "{error:?}");
        assert!(error_chain(&error).contains("no-such-vm"), "{error}");
    }
}

#[test]
fn a_node_file_that_does_not_exist_is_a_connect_error_naming_the_uri() {
    let uri = format!(
        "test://{}/tests/data/no-such-node.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    let error = LibvirtHypervisor::open(Some(&uri)).unwrap_err();
    assert!(
        matches!(&error, Error::Connect { uri: tried, .. } if *tried == uri),
        "{error:?}"
    );
    assert!(error.is_transient());
    assert!(
        error_chain(&error).starts_with(&format!("cannot connect to libvirt at {uri}: ")),
        "{error}"
    );
    // The lazy hypervisor fails the same way on its first call.
    let lazy = LibvirtHypervisor::new(Some(&uri)).observe(&[]).unwrap_err();
    assert!(matches!(lazy, Error::Connect { .. }), "{lazy:?}");
}
