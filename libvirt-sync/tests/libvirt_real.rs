//! `LibvirtHypervisor` against a real libvirtd and a running QEMU/KVM guest, as started by
//! `scripts/libvirt-env.sh start STATE_DIR` and found by `fixtures::libvirt::RealLibvirt` (from
//! `HOTPLUGD_TEST_LIBVIRT_URI`, `HOTPLUGD_TEST_DOMAIN` and `HOTPLUGD_TEST_DOMAIN_OFF`; without the
//! URI these tests fail, unless `HOTPLUGD_SKIP_LIBVIRT_TESTS=1` opts out, and then they say they
//! were skipped).
//!
//! The USB devices attached here are absent from the host: hostdevs with `startupPolicy='optional'`
//! are attached all the same (libvirt marks them `missing='yes'`). Each test uses its own host bus
//! number, so the tests may run in parallel on the one guest, and each detaches what it attached,
//! even when it fails.

use fixtures::libvirt::RealLibvirt;
use libvirt_sync::{
    error_chain, hostdev_xml, Action, Cause, DomainState, Error, ErrorKind, HostdevSpec,
    Hypervisor, LibvirtHypervisor, MatchedDevice, ObservedDomain, ObservedHostdev, Placement,
    PlanInput, StartupPolicy,
};

/// What these tests do with the real environment's running guest.
trait RunningGuest {
    /// A connection to the real libvirtd.
    fn open(&self) -> LibvirtHypervisor;
    /// `virsh attach-device --live` of a hand-written hostdev, as a user would add a static one.
    fn attach_by_hand(&self, hostdev: &str);
    /// The running guest's live XML, as virsh prints it.
    fn live_xml(&self) -> String;
    /// The running guest's USB hostdevs, through the API.
    fn hostdevs(&self, libvirt: &mut LibvirtHypervisor) -> Vec<ObservedHostdev>;
    /// The running guest's state with only this test's hostdevs (those on `bus`, and for bus 42 the
    /// static one without address), so that the tests running beside it do not disturb its plans.
    fn state_on_bus(&self, libvirt: &mut LibvirtHypervisor, bus: u16) -> ObservedDomain;
    /// The running guest's USB hostdevs whose source is on host bus `bus`, through the API.
    fn hostdevs_on_bus(&self, libvirt: &mut LibvirtHypervisor, bus: u16) -> Vec<ObservedHostdev>;
}

impl RunningGuest for RealLibvirt {
    fn open(&self) -> LibvirtHypervisor {
        LibvirtHypervisor::open(Some(&self.uri)).unwrap()
    }

    fn attach_by_hand(&self, hostdev: &str) {
        self.virsh(
            &["attach-device", &self.running, "/dev/stdin", "--live"],
            hostdev,
        )
        .unwrap_or_else(|error| panic!("virsh attach-device {hostdev}: {error}"));
    }

    fn live_xml(&self) -> String {
        self.virsh(&["dumpxml", &self.running], "").unwrap()
    }

    fn hostdevs(&self, libvirt: &mut LibvirtHypervisor) -> Vec<ObservedHostdev> {
        let view = libvirt
            .observe(std::slice::from_ref(&self.running))
            .unwrap();
        assert!(
            view.domains[0].state.is_running(),
            "{} is not running",
            self.running
        );
        view.domains[0].state.hostdevs().to_vec()
    }

    fn state_on_bus(&self, libvirt: &mut LibvirtHypervisor, bus: u16) -> ObservedDomain {
        let hostdevs = self
            .hostdevs(libvirt)
            .into_iter()
            .filter(|hostdev| hostdev.bus.map_or(bus == 42, |on| on == bus))
            .collect();
        ObservedDomain::running(&self.running, hostdevs)
    }

    fn hostdevs_on_bus(&self, libvirt: &mut LibvirtHypervisor, bus: u16) -> Vec<ObservedHostdev> {
        let mut hostdevs = self.hostdevs(libvirt);
        hostdevs.retain(|hostdev| hostdev.bus == Some(bus));
        hostdevs
    }
}

/// Detaches (with virsh, by source) every hostdev given to it when dropped, so that a failing test
/// leaves the guest as it found it. Errors are ignored: most are already detached by the test.
struct DetachOnDrop<'a> {
    libvirt: &'a RealLibvirt,
    hostdevs: Vec<String>,
}

impl Drop for DetachOnDrop<'_> {
    fn drop(&mut self) {
        for hostdev in &self.hostdevs {
            let _ = self.libvirt.virsh(
                &[
                    "detach-device",
                    &self.libvirt.running,
                    "/dev/stdin",
                    "--live",
                ],
                hostdev,
            );
        }
    }
}

fn webcam_on(bus: u16, device: u16) -> HostdevSpec {
    HostdevSpec {
        bus,
        device,
        vendor_id: 0x046d,
        product_id: 0x0825,
    }
}

#[test]
fn real_owned_hostdev_is_attached_seen_with_its_alias_and_detached() {
    let Some(real) =
        RealLibvirt::from_env("real_owned_hostdev_is_attached_seen_with_its_alias_and_detached")
    else {
        return;
    };
    let mut libvirt = real.open();
    let webcam = webcam_on(41, 11);
    let _cleanup = DetachOnDrop {
        libvirt: &real,
        hostdevs: vec![hostdev_xml(&webcam)],
    };
    assert_eq!(
        real.hostdevs_on_bus(&mut libvirt, 41),
        vec![],
        "left over from an earlier run?"
    );

    libvirt.attach(&real.running, &webcam).unwrap();

    let seen = real.hostdevs_on_bus(&mut libvirt, 41);
    assert_eq!(seen, vec![ObservedHostdev::from(webcam)]);
    assert_eq!(seen[0].owned_spec(), Some(webcam));

    // Planning against the observed state, with the device still wanted there: nothing to do.
    let wanted = [MatchedDevice {
        spec: webcam,
        machines: vec![real.running.clone()],
    }];
    let plan = libvirt_sync::plan(&PlanInput {
        devices: wanted.to_vec(),
        machines: vec![real.state_on_bus(&mut libvirt, 41)],
        ..PlanInput::default()
    });
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(
        plan.decision(&webcam).map(|decision| &decision.placement),
        Some(&Placement::Owned {
            machine: real.running.clone()
        })
    );
    // libvirt kept the alias and marked the absent device as missing.
    let live = real.live_xml();
    assert!(
        live.contains("<alias name='ua-hotplugd-41-11-046d-0825'/>"),
        "{live}"
    );
    assert!(
        live.contains("<source startupPolicy='optional' missing='yes'>"),
        "{live}"
    );

    // Attaching it again is refused by libvirt (the alias is taken), as a permanent error.
    let again = libvirt.attach(&real.running, &webcam).unwrap_err();
    assert!(
        matches!(
            &again,
            Error::Attach {
                kind: ErrorKind::Permanent,
                ..
            }
        ),
        "{again:?}"
    );
    assert!(
        error_chain(&again).contains("ua-hotplugd-41-11-046d-0825"),
        "{again}"
    );

    libvirt.detach(&real.running, &webcam).unwrap();

    // detach returns once the hostdev is gone from the live XML.
    assert_eq!(real.hostdevs_on_bus(&mut libvirt, 41), vec![]);
    assert!(!real.live_xml().contains("ua-hotplugd-41-11-046d-0825"));
    let error = libvirt.detach(&real.running, &webcam).unwrap_err();
    assert!(
        !error.is_transient() && error_chain(&error).contains("device not found"),
        "{error}"
    );
}

#[test]
fn real_static_hostdevs_are_unowned_and_survive_detaching_the_owned_ones() {
    let Some(real) = RealLibvirt::from_env(
        "real_static_hostdevs_are_unowned_and_survive_detaching_the_owned_ones",
    ) else {
        return;
    };
    let mut libvirt = real.open();
    // Added by hand: one without alias (libvirt names it hostdevN), one with a user alias of its
    // own, and one with the same ids as the owned ones but no address (libvirt's detach, matching
    // by bus and device, must not take it).
    let static_without_alias = "<hostdev mode='subsystem' type='usb' managed='yes'><source startupPolicy='optional'>\
         <vendor id='0x046d'/><product id='0x0825'/><address bus='42' device='1'/></source></hostdev>";
    let static_with_alias =
        "<hostdev mode='subsystem' type='usb'><source startupPolicy='optional'>\
         <vendor id='0x1050'/><product id='0x0407'/><address bus='42' device='2'/></source>\
         <alias name='ua-static-yubikey-42'/></hostdev>";
    let static_without_address = "<hostdev mode='subsystem' type='usb'><source startupPolicy='optional'>\
         <vendor id='0x2a42'/><product id='0x0042'/></source><alias name='ua-static-no-address-42'/></hostdev>";
    let owned = [
        webcam_on(42, 3),
        HostdevSpec {
            vendor_id: 0x2a42,
            product_id: 0x0042,
            ..webcam_on(42, 4)
        },
    ];
    let _cleanup = DetachOnDrop {
        libvirt: &real,
        hostdevs: [
            static_without_alias,
            static_with_alias,
            static_without_address,
        ]
        .map(str::to_string)
        .into_iter()
        .chain(owned.iter().map(hostdev_xml))
        .collect(),
    };
    real.attach_by_hand(static_without_address);
    real.attach_by_hand(static_without_alias);
    for spec in &owned {
        libvirt.attach(&real.running, spec).unwrap();
    }
    real.attach_by_hand(static_with_alias);

    // The one without address has no bus: find it by its alias.
    let all = real.hostdevs(&mut libvirt);
    let no_address: Vec<_> = all
        .iter()
        .filter(|hostdev| hostdev.alias.as_deref() == Some("ua-static-no-address-42"))
        .collect();
    assert_eq!(
        no_address,
        vec![&ObservedHostdev {
            vendor_id: Some(0x2a42),
            product_id: Some(0x0042),
            alias: Some("ua-static-no-address-42".into()),
            ..Default::default()
        }]
    );
    let on_bus = real.hostdevs_on_bus(&mut libvirt, 42);
    let summary: Vec<_> = on_bus
        .iter()
        .map(|hostdev| (hostdev.device, hostdev.is_owned()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (Some(1), false),
            (Some(3), true),
            (Some(4), true),
            (Some(2), false)
        ]
    );
    let libvirt_alias = on_bus[0].alias.as_deref().unwrap_or_default();
    assert!(
        libvirt_alias.starts_with("hostdev"),
        "libvirt's own alias, not ours: {libvirt_alias}"
    );

    // A reconcile in which no device is wanted any more (all unplugged): the plan detaches the two
    // owned hostdevs and nothing else, and applying it on the real libvirtd succeeds.
    let observed = real.state_on_bus(&mut libvirt, 42);
    let plan = libvirt_sync::plan(&PlanInput {
        machines: vec![observed],
        ..PlanInput::default()
    });
    let detached: Vec<HostdevSpec> = plan
        .actions
        .iter()
        .map(|action| {
            assert!(matches!(action, Action::Detach { .. }), "{action}");
            *action.hostdev()
        })
        .collect();
    assert_eq!(detached, owned.to_vec());
    let report = libvirt_sync::apply(&plan, &mut libvirt);
    assert!(report.is_success(), "{report}");
    let after = real.hostdevs(&mut libvirt);
    let statics: Vec<_> = all
        .iter()
        .filter(|hostdev| !hostdev.is_owned() && !is_other_tests(hostdev))
        .cloned()
        .collect();
    let remaining: Vec<_> = after
        .into_iter()
        .filter(|hostdev| !is_other_tests(hostdev))
        .collect();
    assert_eq!(remaining, statics);
    assert_eq!(statics.len(), 3);

    // A detach aimed at a static hostdev's source is refused, and it stays.
    let static_webcam = webcam_on(42, 1);
    let error = libvirt.detach(&real.running, &static_webcam).unwrap_err();
    assert!(
        !error.is_transient() && error_chain(&error).contains("refusing"),
        "{error}"
    );
    assert_eq!(real.hostdevs_on_bus(&mut libvirt, 42).len(), 2);
}

/// Hostdevs the other tests (running in parallel on the same guest) attach: on other buses.
fn is_other_tests(hostdev: &ObservedHostdev) -> bool {
    hostdev.bus.is_some_and(|bus| bus != 42)
}

#[test]
fn real_mandatory_attach_of_an_absent_device_is_a_clear_permanent_error() {
    let Some(real) = RealLibvirt::from_env(
        "real_mandatory_attach_of_an_absent_device_is_a_clear_permanent_error",
    ) else {
        return;
    };
    let mut libvirt = real.open();
    let absent = webcam_on(43, 1);
    let _cleanup = DetachOnDrop {
        libvirt: &real,
        hostdevs: vec![hostdev_xml(&absent)],
    };

    let error = libvirt
        .attach_with_policy(&real.running, &absent, StartupPolicy::Mandatory)
        .unwrap_err();

    let Error::Attach {
        domain,
        device,
        kind,
        cause: Cause::Libvirt(cause),
    } = &error
    else {
        panic!("not an attach error from libvirt: {error:?}");
    };
    assert_eq!(
        (domain, *device, *kind),
        (&real.running, absent, ErrorKind::Permanent)
    );
    assert!(
        cause
            .message
            .contains("Did not find USB device 046d:0825 bus:43 device:1"),
        "{cause:?}"
    );
    // libvirt's VIR_ERR_INTERNAL_ERROR, kept as the cause.
    assert_eq!(cause.code, 1, "{cause:?}");
    assert_eq!(
        error_chain(&error),
        format!(
            "cannot attach 043/001 (046d:0825) to {}: {}",
            real.running, cause.message
        )
    );
    assert_eq!(real.hostdevs_on_bus(&mut libvirt, 43), vec![]);
    // The connection is still good for the next call.
    libvirt.attach(&real.running, &absent).unwrap();
    libvirt.detach(&real.running, &absent).unwrap();
}

#[test]
fn real_shut_off_domain_is_inactive_and_unknown_names_are_undefined() {
    let Some(real) =
        RealLibvirt::from_env("real_shut_off_domain_is_inactive_and_unknown_names_are_undefined")
    else {
        return;
    };
    let mut libvirt = real.open();
    let view = libvirt
        .observe(&[
            real.shut_off.clone(),
            "hotplugd-no-such-domain".to_string(),
            real.running.clone(),
        ])
        .unwrap();
    let states: Vec<&DomainState> = view.domains.iter().map(|domain| &domain.state).collect();
    assert_eq!(states.len(), 3, "{states:?}");
    assert_eq!(states[0], &DomainState::Inactive);
    assert_eq!(states[1], &DomainState::Undefined);
    assert!(states[2].is_running(), "{states:?}");
    // Every other running domain is seen too (the e2e tests' guests, if any run now), never the
    // ones asked for.
    assert!(view
        .others
        .iter()
        .all(|other| other.name != real.running && other.state.is_running()));

    // Attaching to or detaching from a guest that is not running may work later: transient.
    let webcam = webcam_on(44, 1);
    for error in [
        libvirt.attach(&real.shut_off, &webcam).unwrap_err(),
        libvirt.detach(&real.shut_off, &webcam).unwrap_err(),
    ] {
        assert!(error.is_transient(), "{error:?}");
        assert!(
            error_chain(&error).contains("domain is not running"),
            "{error}"
        );
    }
}

/// Destroys (a transient domain: removes) the domain `name` when dropped, also when a test fails.
struct DestroyOnDrop<'a> {
    libvirt: &'a RealLibvirt,
    name: String,
}

impl Drop for DestroyOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.libvirt.virsh(&["destroy", &self.name], "");
    }
}

#[test]
fn real_attach_reaches_a_domain_created_again_under_the_same_name() {
    let Some(real) =
        RealLibvirt::from_env("real_attach_reaches_a_domain_created_again_under_the_same_name")
    else {
        return;
    };
    // A transient guest of its own, so that the shared one is never destroyed.
    let name = format!("hotplugd-recreated-{}", std::process::id());
    let template_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/test-guest.xml.in");
    let domain_type = if std::path::Path::new("/dev/kvm").exists() {
        "kvm"
    } else {
        "qemu"
    };
    let xml = std::fs::read_to_string(&template_path)
        .unwrap()
        .replace("@NAME@", &name)
        .replace("@TYPE@", domain_type);
    let _cleanup = DestroyOnDrop {
        libvirt: &real,
        name: name.clone(),
    };
    real.virsh(&["create", "/dev/stdin"], &xml).unwrap();
    let mut libvirt = real.open();
    let names = [name.clone()];
    let first_uuid = real.virsh(&["domuuid", &name], "").unwrap();
    // The observation keeps the running domain's handle for the attaches that follow.
    assert!(libvirt.observe(&names).unwrap().domains[0]
        .state
        .is_running());

    // The domain goes, and a new one (a new UUID) comes under the same name: the kept handle is
    // libvirt's no more, and the attach looks the domain up again.
    real.virsh(&["destroy", &name], "").unwrap();
    real.virsh(&["create", "/dev/stdin"], &xml).unwrap();
    let second_uuid = real.virsh(&["domuuid", &name], "").unwrap();
    assert_ne!(first_uuid, second_uuid, "a new domain");
    let webcam = webcam_on(45, 3);
    libvirt.attach(&name, &webcam).unwrap();
    let view = libvirt.observe(&names).unwrap();
    assert_eq!(
        view.domains[0].state.hostdevs(),
        [ObservedHostdev::from(webcam)],
        "in the new domain"
    );

    // Between two observations the handle is kept: a second attach goes to the same domain.
    let second = webcam_on(45, 4);
    libvirt.attach(&name, &second).unwrap();
    let view = libvirt.observe(&names).unwrap();
    assert_eq!(view.domains[0].state.hostdevs().len(), 2, "{view:?}");
}
