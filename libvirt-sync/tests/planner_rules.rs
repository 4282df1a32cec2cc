//! The planner's rules (DESIGN.md, Semantics 2–4), one small scenario each.

mod support;

use libvirt_sync::Cause;
use libvirt_sync::{
    plan, Action, DomainState, Error, HeldBack, HoldReason, HostdevSpec, ObservedDomain,
    ObservedHostdev, Placement, Plan, PlanInput,
};
use support::{attach, detach, plan_of, running, stopped, wanted_by, WEBCAM, YUBIKEY};

/// The same webcam, unplugged and plugged in again: a new device number.
const WEBCAM_REPLUGGED: HostdevSpec = HostdevSpec {
    device: 9,
    ..WEBCAM
};

/// A second webcam of the same model, without a serial number.
const OTHER_WEBCAM: HostdevSpec = HostdevSpec {
    bus: 1,
    device: 2,
    ..WEBCAM
};

fn owned(spec: HostdevSpec) -> ObservedHostdev {
    ObservedHostdev::from(spec)
}

/// A hand-written hostdev with the device's full source and a non-owned alias.
fn static_at(spec: HostdevSpec) -> ObservedHostdev {
    ObservedHostdev {
        alias: Some("hostdev0".into()),
        ..ObservedHostdev::from(spec)
    }
}

/// A hand-written hostdev naming only vendor and product.
fn static_ids(spec: HostdevSpec) -> ObservedHostdev {
    ObservedHostdev {
        vendor_id: Some(spec.vendor_id),
        product_id: Some(spec.product_id),
        ..ObservedHostdev::default()
    }
}

fn placement(plan: &Plan, device: &HostdevSpec) -> Placement {
    plan.decision(device).expect("a decision").placement.clone()
}

fn conflicts(plan: &Plan, device: &HostdevSpec) -> Vec<String> {
    plan.decision(device).expect("a decision").conflicts.clone()
}

fn on(machine: &str) -> String {
    machine.to_string()
}

#[test]
fn conflict_goes_to_the_first_running_machine_in_config_order() {
    // Config order is "zulu", then "alpha": not name order.
    let devices = [wanted_by(WEBCAM, &["zulu", "alpha"])];
    let plan = plan_of(&devices, &[running("alpha", &[]), running("zulu", &[])]);
    assert_eq!(plan.actions, [attach("zulu", WEBCAM)]);
    assert_eq!(
        placement(&plan, &WEBCAM),
        Placement::Attach {
            machine: on("zulu")
        }
    );
    assert_eq!(conflicts(&plan, &WEBCAM), [on("alpha")]);
}

#[test]
fn a_stopped_first_choice_leaves_the_device_to_the_next_running_one() {
    let devices = [wanted_by(WEBCAM, &["zulu", "alpha"])];
    let plan = plan_of(&devices, &[running("alpha", &[]), stopped("zulu")]);
    assert_eq!(plan.actions, [attach("alpha", WEBCAM)]);
    assert_eq!(conflicts(&plan, &WEBCAM), Vec::<String>::new());
}

#[test]
fn no_stealing_a_device_stays_on_a_later_machine_that_still_matches() {
    let devices = [wanted_by(WEBCAM, &["first", "second"])];
    let domains = [running("first", &[]), running("second", &[owned(WEBCAM)])];
    let plan = plan_of(&devices, &domains);
    assert_eq!(plan.actions, []);
    assert_eq!(
        placement(&plan, &WEBCAM),
        Placement::Owned {
            machine: on("second")
        }
    );
    assert_eq!(conflicts(&plan, &WEBCAM), [on("first")]);
}

#[test]
fn replug_detaches_the_stale_hostdev_and_attaches_the_new_device_number() {
    let devices = [wanted_by(WEBCAM_REPLUGGED, &["vm"])];
    let plan = plan_of(&devices, &[running("vm", &[owned(WEBCAM)])]);
    assert_eq!(
        plan.actions,
        [detach("vm", WEBCAM), attach("vm", WEBCAM_REPLUGGED)]
    );
}

#[test]
fn a_device_held_by_a_static_hostdev_of_a_non_matching_machine_is_busy_there() {
    let devices = [wanted_by(WEBCAM, &["vm"])];
    let domains = [running("vm", &[]), running("other", &[static_at(WEBCAM)])];
    let plan = plan_of(&devices, &domains);
    assert_eq!(
        plan.actions,
        [],
        "neither attached to vm nor detached from other"
    );
    assert_eq!(
        placement(&plan, &WEBCAM),
        Placement::Busy {
            machine: on("other")
        }
    );
    assert_eq!(conflicts(&plan, &WEBCAM), [on("vm")]);
}

#[test]
fn a_busy_device_owned_on_a_non_matching_machine_is_detached_there_and_not_attached() {
    let devices = [wanted_by(WEBCAM, &["vm"])];
    let domains = [
        running("vm", &[]),
        running("other", &[static_at(WEBCAM)]),
        running("old", &[owned(WEBCAM)]),
    ];
    let plan = plan_of(&devices, &domains);
    assert_eq!(plan.actions, [detach("old", WEBCAM)]);
    assert_eq!(
        placement(&plan, &WEBCAM),
        Placement::Busy {
            machine: on("other")
        }
    );
}

#[test]
fn a_static_hostdev_on_a_matching_machine_counts_as_placed() {
    for held in [static_at(WEBCAM), static_ids(WEBCAM)] {
        let devices = [wanted_by(WEBCAM, &["first", "vm"])];
        let plan = plan_of(
            &devices,
            &[
                running("first", &[]),
                running("vm", std::slice::from_ref(&held)),
            ],
        );
        assert_eq!(plan.actions, [], "{held:?}");
        assert_eq!(
            placement(&plan, &WEBCAM),
            Placement::Held { machine: on("vm") }
        );
        assert_eq!(conflicts(&plan, &WEBCAM), [on("first")]);
    }
}

#[test]
fn an_inactive_machine_gets_nothing_and_loses_nothing() {
    let devices = [wanted_by(WEBCAM, &["vm"]), wanted_by(YUBIKEY, &[])];
    let plan = plan_of(&devices, &[stopped("vm")]);
    assert_eq!(plan.actions, []);
    assert_eq!(placement(&plan, &WEBCAM), Placement::Unassigned);
    assert_eq!(conflicts(&plan, &WEBCAM), Vec::<String>::new());
}

#[test]
fn an_unknown_machine_is_not_running() {
    let plan = plan_of(&[wanted_by(WEBCAM, &["undefined"])], &[]);
    assert_eq!(plan.actions, []);
    assert_eq!(placement(&plan, &WEBCAM), Placement::Unassigned);
}

#[test]
fn a_gone_device_s_owned_hostdev_is_detached_and_a_static_one_kept() {
    let domains = [running("vm", &[owned(WEBCAM), static_at(YUBIKEY)])];
    let plan = plan_of(&[], &domains);
    assert_eq!(plan.actions, [detach("vm", WEBCAM)]);
    assert_eq!(plan.decisions, []);
}

#[test]
fn a_device_that_no_longer_matches_moves_to_the_machine_that_does() {
    let devices = [wanted_by(WEBCAM, &["new"])];
    let plan = plan_of(
        &devices,
        &[running("old", &[owned(WEBCAM)]), running("new", &[])],
    );
    assert_eq!(plan.actions, [detach("old", WEBCAM), attach("new", WEBCAM)]);
}

#[test]
fn a_device_no_machine_wants_any_more_is_detached_and_goes_nowhere() {
    // Also how a hub is listed: with no machines.
    let plan = plan_of(
        &[wanted_by(WEBCAM, &[])],
        &[running("vm", &[owned(WEBCAM)])],
    );
    assert_eq!(plan.actions, [detach("vm", WEBCAM)]);
    assert_eq!(placement(&plan, &WEBCAM), Placement::Unassigned);
}

#[test]
fn a_static_hostdev_is_never_detached_even_where_its_device_does_not_match() {
    let devices = [wanted_by(WEBCAM, &[]), wanted_by(YUBIKEY, &["vm"])];
    let domains = [running("vm", &[static_at(WEBCAM), static_ids(YUBIKEY)])];
    let plan = plan_of(&devices, &domains);
    assert_eq!(plan.actions, []);
    assert_eq!(
        placement(&plan, &WEBCAM),
        Placement::Busy { machine: on("vm") }
    );
    assert_eq!(
        placement(&plan, &YUBIKEY),
        Placement::Held { machine: on("vm") }
    );
}

#[test]
fn a_device_owned_on_two_matching_machines_stays_on_the_first_in_config_order() {
    let devices = [wanted_by(WEBCAM, &["b", "a"])];
    let domains = [
        running("a", &[owned(WEBCAM)]),
        running("b", &[owned(WEBCAM)]),
    ];
    let plan = plan_of(&devices, &domains);
    assert_eq!(plan.actions, [detach("a", WEBCAM)]);
    assert_eq!(
        placement(&plan, &WEBCAM),
        Placement::Owned { machine: on("b") }
    );
}

#[test]
fn a_static_hostdev_without_address_holds_the_first_identical_device_not_placed_otherwise() {
    // OTHER_WEBCAM (1/2) comes first in (bus, device) order, but is owned on a machine that
    // matches it: the static hostdev of "kiosk" holds WEBCAM (3/5), which is busy there.
    let devices = [wanted_by(WEBCAM, &["vm"]), wanted_by(OTHER_WEBCAM, &["vm"])];
    let domains = [
        running("vm", &[owned(OTHER_WEBCAM)]),
        running("kiosk", &[static_ids(WEBCAM)]),
    ];
    let placed = plan_of(&devices, &domains);
    assert_eq!(placed.actions, []);
    assert_eq!(
        placement(&placed, &WEBCAM),
        Placement::Busy {
            machine: on("kiosk")
        }
    );
    assert_eq!(
        placement(&placed, &OTHER_WEBCAM),
        Placement::Owned { machine: on("vm") }
    );

    // With nothing owned, it holds the first one, and the other goes to "vm".
    let fresh = plan_of(
        &devices,
        &[running("vm", &[]), running("kiosk", &[static_ids(WEBCAM)])],
    );
    assert_eq!(
        placement(&fresh, &OTHER_WEBCAM),
        Placement::Busy {
            machine: on("kiosk")
        }
    );
    assert_eq!(fresh.actions, [attach("vm", WEBCAM)]);
}

#[test]
fn a_static_hostdev_whose_ids_disagree_with_the_device_at_its_address_holds_nothing() {
    let mut stale = static_at(WEBCAM);
    stale.vendor_id = Some(0x1234);
    let devices = [wanted_by(WEBCAM, &["vm"])];
    let plan = plan_of(&devices, &[running("vm", &[]), running("other", &[stale])]);
    assert_eq!(plan.actions, [attach("vm", WEBCAM)]);
}

#[test]
fn an_owned_prefix_hostdev_that_names_no_device_is_left_alone() {
    let damaged = ObservedHostdev {
        vendor_id: Some(WEBCAM.vendor_id),
        alias: Some("ua-hotplugd-damaged".into()),
        ..ObservedHostdev::default()
    };
    assert!(damaged.is_owned() && damaged.owned_spec().is_none());
    let plan = plan_of(&[wanted_by(WEBCAM, &["vm"])], &[running("vm", &[damaged])]);
    assert_eq!(plan.actions, [attach("vm", WEBCAM)]);
}

#[test]
fn actions_are_detaches_then_attaches_each_by_machine_then_device() {
    let devices = [
        wanted_by(YUBIKEY, &["b"]),
        wanted_by(WEBCAM, &["a"]),
        wanted_by(OTHER_WEBCAM, &["a"]),
    ];
    let domains = [
        running("b", &[owned(WEBCAM_REPLUGGED)]),
        running("a", &[owned(YUBIKEY)]),
    ];
    let plan = plan_of(&devices, &domains);
    assert_eq!(
        plan.actions,
        [
            detach("a", YUBIKEY),
            detach("b", WEBCAM_REPLUGGED),
            attach("a", OTHER_WEBCAM),
            attach("a", WEBCAM),
            attach("b", YUBIKEY),
        ]
    );
}

#[test]
fn a_device_listed_twice_is_planned_once() {
    let devices = [wanted_by(WEBCAM, &["vm"]), wanted_by(WEBCAM, &["vm"])];
    let plan = plan_of(&devices, &[running("vm", &[])]);
    assert_eq!(plan.actions, [attach("vm", WEBCAM)]);
    assert_eq!(plan.decisions.len(), 1);
}

fn unreadable(name: &str) -> ObservedDomain {
    ObservedDomain::new(
        name,
        DomainState::Unreadable {
            error: Error::ReadDomain {
                domain: name.into(),
                cause: Cause::refused("injected"),
            },
        },
    )
}

#[test]
fn while_a_device_cannot_be_read_no_owned_hostdev_is_detached_as_gone() {
    // The webcam's owned hostdev on `vm` names a device that was not read (2-1.3 could not be
    // read: it may be the webcam); the YubiKey was read and no longer matches `vm`.
    let input = PlanInput {
        devices: vec![wanted_by(YUBIKEY, &[])],
        unreadable_devices: vec!["2-1.3".into()],
        machines: vec![running("vm", &[owned(WEBCAM), owned(YUBIKEY)])],
        ..PlanInput::default()
    };
    let plan = plan(&input);
    assert_eq!(plan.actions, [detach("vm", YUBIKEY)]);
    assert_eq!(
        plan.held_back,
        [HeldBack {
            action: detach("vm", WEBCAM),
            why: HoldReason::UnreadableDevices {
                ports: vec!["2-1.3".into()]
            },
        }]
    );
    // Readable again: the detach is planned.
    let readable = plan_of(&input.devices, &input.machines);
    assert!(readable.actions.contains(&detach("vm", WEBCAM)));
    assert!(readable.held_back.is_empty());
}

#[test]
fn a_device_an_unreadable_machine_matches_goes_nowhere_else() {
    // `first` cannot be read and may hold the webcam; the YubiKey is not its business.
    let devices = [
        wanted_by(WEBCAM, &["first", "second"]),
        wanted_by(YUBIKEY, &["second"]),
    ];
    let plan = plan_of(&devices, &[unreadable("first"), running("second", &[])]);
    assert_eq!(plan.actions, [attach("second", YUBIKEY)]);
    assert_eq!(
        plan.held_back,
        [HeldBack {
            action: attach("second", WEBCAM),
            why: HoldReason::UnreadableMachine {
                machine: "first".into()
            },
        }]
    );
    assert_eq!(
        placement(&plan, &WEBCAM),
        Placement::Attach {
            machine: on("second")
        }
    );
}

#[test]
fn a_device_held_by_a_domain_the_daemon_does_not_manage_is_busy_there() {
    // `foreign` runs but is not configured: whatever it holds, by an owned hostdev (attached by
    // this daemon before a reload dropped it) or one set up by hand, is busy there.
    let input = PlanInput {
        devices: vec![
            wanted_by(WEBCAM, &["vm"]),
            wanted_by(YUBIKEY, &["vm"]),
            wanted_by(OTHER_WEBCAM, &["vm"]),
        ],
        machines: vec![running("vm", &[])],
        others: vec![running("foreign", &[owned(WEBCAM), static_at(YUBIKEY)])],
        ..PlanInput::default()
    };
    let plan = plan(&input);
    assert_eq!(
        plan.actions,
        [attach("vm", OTHER_WEBCAM)],
        "nothing detached from foreign"
    );
    for device in [WEBCAM, YUBIKEY] {
        assert_eq!(
            placement(&plan, &device),
            Placement::Busy {
                machine: on("foreign")
            }
        );
    }
}

#[test]
fn a_failed_action_waits_and_so_does_an_attach_behind_its_detach() {
    // The webcam moves from `old` (which no longer matches it) to `new`; the detach failed
    // recently and waits for its retry, so the attach to `new` waits too. (Held-back actions are
    // in plan order: detaches, then attaches by machine and device.)
    let input = PlanInput {
        devices: vec![wanted_by(WEBCAM, &["new"]), wanted_by(YUBIKEY, &["new"])],
        machines: vec![running("old", &[owned(WEBCAM)]), running("new", &[])],
        retrying: vec![detach("old", WEBCAM), attach("new", YUBIKEY)],
        ..PlanInput::default()
    };
    let plan = plan(&input);
    assert_eq!(plan.actions, Vec::<Action>::new());
    assert_eq!(
        plan.held_back,
        [
            HeldBack {
                action: detach("old", WEBCAM),
                why: HoldReason::Retrying
            },
            HeldBack {
                action: attach("new", YUBIKEY),
                why: HoldReason::Retrying
            },
            HeldBack {
                action: attach("new", WEBCAM),
                why: HoldReason::DetachHeldBack { machine: on("old") }
            },
        ]
    );
}

#[test]
fn a_device_on_hold_goes_nowhere_and_leaves_where_the_daemon_put_it() {
    let input = PlanInput {
        devices: vec![wanted_by(WEBCAM, &["vm"]), wanted_by(YUBIKEY, &["vm"])],
        machines: vec![running("vm", &[owned(YUBIKEY)])],
        holds: vec![WEBCAM, YUBIKEY],
        ..PlanInput::default()
    };
    let plan = plan(&input);
    assert_eq!(plan.actions, [detach("vm", YUBIKEY)]);
    assert_eq!(placement(&plan, &WEBCAM), Placement::OnHold);
    assert_eq!(placement(&plan, &YUBIKEY), Placement::OnHold);
    assert_eq!(conflicts(&plan, &WEBCAM), Vec::<String>::new());
}

#[test]
fn an_assigned_device_moves_to_its_machine_and_a_hold_wins_over_it() {
    let input = PlanInput {
        devices: vec![wanted_by(WEBCAM, &["vm"]), wanted_by(YUBIKEY, &["vm"])],
        machines: vec![running("vm", &[owned(WEBCAM)]), running("other", &[])],
        assignments: vec![
            libvirt_sync::Assignment {
                device: WEBCAM,
                machine: "other".into(),
            },
            libvirt_sync::Assignment {
                device: YUBIKEY,
                machine: "other".into(),
            },
        ],
        holds: vec![YUBIKEY],
        ..PlanInput::default()
    };
    let plan = plan(&input);
    assert_eq!(
        plan.actions,
        [detach("vm", WEBCAM), attach("other", WEBCAM)],
        "moved; the YubiKey on hold goes nowhere"
    );
    assert_eq!(placement(&plan, &YUBIKEY), Placement::OnHold);
}

#[test]
fn a_denied_device_goes_nowhere_and_is_detached_where_the_daemon_put_it() {
    let input = PlanInput {
        devices: vec![wanted_by(WEBCAM, &["vm"]), wanted_by(YUBIKEY, &["vm"])],
        machines: vec![running("vm", &[owned(YUBIKEY)])],
        exclusions: vec![
            libvirt_sync::Excluded {
                device: WEBCAM,
                why: libvirt_sync::Exclusion::Denied {
                    rule: "excluded by deny[0]".into(),
                },
            },
            libvirt_sync::Excluded {
                device: YUBIKEY,
                why: libvirt_sync::Exclusion::Denied {
                    rule: "excluded by deny[1]".into(),
                },
            },
        ],
        ..PlanInput::default()
    };
    let plan = plan(&input);
    assert_eq!(plan.actions, [detach("vm", YUBIKEY)]);
    assert_eq!(
        placement(&plan, &WEBCAM),
        Placement::Denied {
            rule: "excluded by deny[0]".into()
        }
    );
}

#[test]
fn a_device_the_host_uses_is_not_attached_but_stays_where_it_is() {
    let in_use = |device| libvirt_sync::Excluded {
        device,
        why: libvirt_sync::Exclusion::InUse {
            reason: "/dev/sdb1 is mounted on /boot".into(),
        },
    };
    let input = PlanInput {
        devices: vec![
            wanted_by(WEBCAM, &["vm", "other"]),
            wanted_by(YUBIKEY, &["vm"]),
        ],
        machines: vec![running("vm", &[owned(YUBIKEY)]), running("other", &[])],
        exclusions: vec![in_use(WEBCAM), in_use(YUBIKEY)],
        ..PlanInput::default()
    };
    let plan = plan(&input);
    assert_eq!(plan.actions, Vec::<Action>::new());
    assert_eq!(
        placement(&plan, &WEBCAM),
        Placement::InUse {
            reason: "/dev/sdb1 is mounted on /boot".into()
        }
    );
    assert_eq!(conflicts(&plan, &WEBCAM), Vec::<String>::new());
    assert_eq!(
        placement(&plan, &YUBIKEY),
        Placement::Owned { machine: on("vm") },
        "already attached: not checked again"
    );
}

#[test]
fn an_owned_hostdev_is_known_by_its_source_before_its_alias_and_actions_say_their_kind() {
    // The source names the device libvirt holds; the alias only says who attached it.
    let moved = ObservedHostdev {
        bus: Some(WEBCAM.bus),
        device: Some(WEBCAM_REPLUGGED.device),
        vendor_id: Some(WEBCAM.vendor_id),
        product_id: Some(WEBCAM.product_id),
        alias: Some(format!(
            "ua-hotplugd-{}-{}-046d-0825",
            WEBCAM.bus, WEBCAM.device
        )),
    };
    assert_eq!(moved.owned_spec(), Some(WEBCAM_REPLUGGED));
    assert!(attach("vm", WEBCAM).is_attach());
    assert!(!detach("vm", WEBCAM).is_attach());
    assert_eq!(
        HoldReason::Retrying.to_string(),
        "it failed recently and waits for its retry"
    );
}
