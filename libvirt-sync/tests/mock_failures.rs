//! Every failure the `MockHypervisor` can inject, met through `apply`: the other actions of the
//! plan still run, the report names each failure, and planning again afterwards converges.

mod support;

use libvirt_sync::{
    apply, error_chain, Action, ApplyReport, DomainState, Error, ErrorKind, Fault, FaultMode,
    HostdevSpec, Hypervisor, MatchedDevice, MockCall, MockCallKind, MockHypervisor, ObservedDomain,
    ObservedHostdev, Plan,
};
use support::{attach, detach, plan_of, wanted_by, WEBCAM, YUBIKEY};

const WEBCAM_BEFORE_REPLUG: HostdevSpec = HostdevSpec {
    device: 4,
    ..WEBCAM
};
const SERIAL: HostdevSpec = HostdevSpec {
    bus: 2,
    device: 4,
    vendor_id: 0x0403,
    product_id: 0x6001,
};

/// "office" has the webcam from before it was replugged and a static hostdev; "lab" has the
/// serial adapter, which now belongs to "office". The plan: two detaches, three attaches.
fn host() -> (Vec<MatchedDevice>, MockHypervisor) {
    let devices = vec![
        wanted_by(WEBCAM, &["office"]),
        wanted_by(YUBIKEY, &["lab"]),
        wanted_by(SERIAL, &["office"]),
    ];
    let mut mock = MockHypervisor::new()
        .with_domain("office", true)
        .with_static_hostdev(
            "office",
            ObservedHostdev {
                vendor_id: Some(0x0bda),
                product_id: Some(0x8153),
                ..ObservedHostdev::default()
            },
        )
        .with_domain("lab", true);
    mock.add_live_hostdev("office", ObservedHostdev::from(WEBCAM_BEFORE_REPLUG));
    mock.add_live_hostdev("lab", ObservedHostdev::from(SERIAL));
    (devices, mock)
}

fn machines() -> Vec<String> {
    vec!["office".to_string(), "lab".to_string()]
}

fn plan_now(devices: &[MatchedDevice], mock: &mut MockHypervisor) -> Plan {
    let view = mock.observe(&machines()).expect("the domains");
    plan_of(devices, &view.domains)
}

/// The names of the domains of an observation that are not undefined.
fn defined(domains: &[ObservedDomain]) -> Vec<&str> {
    domains
        .iter()
        .filter(|domain| domain.state != DomainState::Undefined)
        .map(|domain| domain.name.as_str())
        .collect()
}

fn all_actions() -> Vec<Action> {
    vec![
        detach("lab", SERIAL),
        detach("office", WEBCAM_BEFORE_REPLUG),
        attach("lab", YUBIKEY),
        attach("office", SERIAL),
        attach("office", WEBCAM),
    ]
}

fn failed(report: &ApplyReport) -> Vec<(Action, Error)> {
    report
        .failures()
        .map(|(action, error)| (action.clone(), error.clone()))
        .collect()
}

fn ran(report: &ApplyReport) -> Vec<Action> {
    report.outcomes.iter().map(|o| o.action.clone()).collect()
}

/// Applies plans until one succeeds (at most three rounds); the rounds it took.
fn converge(devices: &[MatchedDevice], mock: &mut MockHypervisor) -> usize {
    for round in 1..=3 {
        let next = plan_now(devices, mock);
        if next.is_empty() {
            return round;
        }
        assert!(apply(&next, mock).is_success(), "round {round}");
    }
    panic!("no convergence in 3 rounds");
}

#[test]
fn the_plan_is_as_expected_and_applies_cleanly_without_faults() {
    let (devices, mut mock) = host();
    let planned = plan_now(&devices, &mut mock);
    assert_eq!(planned.actions, all_actions());
    let report = apply(&planned, &mut mock);
    assert!(report.is_success(), "{report}");
    assert_eq!(ran(&report), all_actions());
    assert_eq!(converge(&devices, &mut mock), 1);
}

#[test]
fn an_attach_failing_once_leaves_the_others_done_and_succeeds_on_the_next_round() {
    let (devices, mut mock) = host();
    mock.inject(Fault::new(MockCallKind::Attach, FaultMode::Once).on("office"));
    let report = apply(&plan_now(&devices, &mut mock), &mut mock);

    assert_eq!(ran(&report), all_actions());
    let failures = failed(&report);
    assert_eq!(failures.len(), 1, "{report}");
    assert_eq!(failures[0].0, attach("office", SERIAL));
    assert!(matches!(
        &failures[0].1,
        Error::Attach { domain, device, kind: ErrorKind::Permanent, .. } if domain == "office" && *device == SERIAL
    ));
    assert!(report
        .to_string()
        .contains("attach 002/004 (0403:6001) to office: cannot attach 002/004 (0403:6001) to office: injected failure"), "{report}");
    assert!(mock
        .hostdevs("office")
        .contains(&ObservedHostdev::from(WEBCAM)));
    assert!(mock
        .hostdevs("lab")
        .contains(&ObservedHostdev::from(YUBIKEY)));

    let retry = plan_now(&devices, &mut mock);
    assert_eq!(retry.actions, [attach("office", SERIAL)]);
    assert_eq!(converge(&devices, &mut mock), 2);
}

#[test]
fn a_detach_failing_always_fails_every_round_while_the_attaches_run() {
    let (devices, mut mock) = host();
    mock.inject(Fault::new(MockCallKind::Detach, FaultMode::Always));
    let report = apply(&plan_now(&devices, &mut mock), &mut mock);

    let failures = failed(&report);
    let failed_actions: Vec<Action> = failures.iter().map(|(a, _)| a.clone()).collect();
    assert_eq!(
        failed_actions,
        [
            detach("lab", SERIAL),
            detach("office", WEBCAM_BEFORE_REPLUG),
            attach("office", SERIAL),
        ]
    );
    assert!(failures[..2].iter().all(|(_, error)| matches!(
        error,
        Error::Detach {
            kind: ErrorKind::Permanent,
            ..
        }
    )));
    // The serial adapter is still on "lab", so attaching it to "office" is not tried.
    assert!(error_chain(&failures[2].1).contains("its detach from lab failed"));
    assert!(!mock
        .hostdevs("office")
        .contains(&ObservedHostdev::from(SERIAL)));
    assert_eq!(report.outcomes.len(), 5);
    assert!(mock
        .hostdevs("lab")
        .contains(&ObservedHostdev::from(YUBIKEY)));
    assert!(mock
        .hostdevs("office")
        .contains(&ObservedHostdev::from(WEBCAM)));

    let again = apply(&plan_now(&devices, &mut mock), &mut mock);
    assert_eq!(again.failures().count(), 3, "{again}");
    mock.clear_faults();
    assert_eq!(converge(&devices, &mut mock), 2);
}

#[test]
fn a_dropped_connection_fails_one_call_transiently_and_the_next_call_reconnects() {
    let (devices, mut mock) = host();
    mock.inject(Fault::new(MockCallKind::Detach, FaultMode::DropConnection).on("lab"));
    let report = apply(&plan_now(&devices, &mut mock), &mut mock);

    let failures = failed(&report);
    assert_eq!(failures.len(), 2, "{report}");
    assert_eq!(failures[0].0, detach("lab", SERIAL));
    assert!(failures[0].1.is_transient());
    assert!(error_chain(&failures[0].1).contains("lost the connection"));
    // Still on "lab": not attached to "office" in the same run.
    assert_eq!(failures[1].0, attach("office", SERIAL));
    assert!(failures[1].1.is_transient());
    assert_eq!(mock.connections_opened(), 2);
    assert!(mock
        .hostdevs("lab")
        .contains(&ObservedHostdev::from(SERIAL)));
    assert_eq!(report.outcomes.len(), 5);
    assert_eq!(converge(&devices, &mut mock), 2);
}

#[test]
fn a_connection_dropped_after_the_attach_happened_needs_no_retry() {
    let (devices, mut mock) = host();
    mock.inject(Fault::new(MockCallKind::Attach, FaultMode::DropConnectionAfterEffect).on("lab"));
    let report = apply(&plan_now(&devices, &mut mock), &mut mock);

    let failures = failed(&report);
    assert_eq!(failures.len(), 1, "{report}");
    assert_eq!(failures[0].0, attach("lab", YUBIKEY));
    assert!(failures[0].1.is_transient());
    assert!(mock
        .hostdevs("lab")
        .contains(&ObservedHostdev::from(YUBIKEY)));
    assert_eq!(converge(&devices, &mut mock), 1);
}

#[test]
fn while_libvirt_is_unreachable_every_action_fails_transiently_and_is_reported() {
    let (devices, mut mock) = host();
    let planned = plan_now(&devices, &mut mock);
    mock.set_reachable(false);
    let report = apply(&planned, &mut mock);

    let failures = failed(&report);
    assert_eq!(failures.len(), 5, "{report}");
    assert!(failures.iter().all(|(_, error)| error.is_transient()));
    assert!(matches!(
        mock.observe(&machines()),
        Err(Error::Connect { .. })
    ));
    mock.set_reachable(true);
    assert_eq!(converge(&devices, &mut mock), 2);
    assert_eq!(mock.connections_opened(), 2);
}

#[test]
fn observe_faults_fail_the_call_or_make_the_domain_unreadable() {
    let (devices, mut mock) = host();
    let names = machines();

    mock.inject(Fault::new(MockCallKind::Observe, FaultMode::Once));
    assert!(matches!(
        mock.observe(&names),
        Err(Error::ListDomains { .. })
    ));
    assert_eq!(
        defined(&mock.observe(&names).unwrap().domains),
        ["office", "lab"]
    );

    mock.inject(Fault::new(MockCallKind::Observe, FaultMode::DropConnection));
    assert!(matches!(
        mock.observe(&names),
        Err(Error::ConnectionLost { .. })
    ));
    assert_eq!(mock.observe(&names).unwrap().domains.len(), 2);
    assert_eq!(mock.connections_opened(), 2);

    // A domain that cannot be read says so, and nothing is planned for it.
    mock.inject(Fault::new(MockCallKind::Observe, FaultMode::Always).on("lab"));
    for _ in 0..2 {
        let view = mock.observe(&names).unwrap();
        assert!(view.domains[0].state.is_running());
        assert!(matches!(
            view.domains[1].state,
            DomainState::Unreadable { .. }
        ));
    }
    let planned = plan_now(&devices, &mut mock);
    assert!(planned
        .actions
        .iter()
        .all(|action| action.machine() == "office"));
    // A fault on a domain that the call does not see does not apply: "lab" is running, so it is
    // among the others, unreadable there too.
    let office_only = mock.observe(&["office".to_string()]).unwrap();
    assert!(office_only.domains[0].state.is_running());
    assert_eq!(office_only.others.len(), 1);
    mock.set_active("lab", false);
    let without_lab = mock.observe(&["office".to_string()]).unwrap();
    assert!(without_lab.others.is_empty());
}

#[test]
fn libvirt_s_own_refusals_are_reported_and_do_not_stop_the_plan() {
    let (_, mut mock) = host();
    mock.add_domain("stopped", false);
    // A plan built by hand, attaches first: `apply` still detaches first.
    let planned = Plan {
        actions: vec![
            attach("stopped", WEBCAM),
            attach("nowhere", WEBCAM),
            attach("lab", SERIAL),
            detach("office", YUBIKEY),
            detach("office", WEBCAM_BEFORE_REPLUG),
        ],
        ..Plan::default()
    };
    let report = apply(&planned, &mut mock);
    assert_eq!(
        ran(&report),
        [
            detach("office", YUBIKEY),
            detach("office", WEBCAM_BEFORE_REPLUG),
            attach("stopped", WEBCAM),
            attach("nowhere", WEBCAM),
            attach("lab", SERIAL),
        ]
    );
    let messages: Vec<String> = report.failures().map(|(_, e)| error_chain(e)).collect();
    assert_eq!(messages.len(), 4, "{report}");
    assert!(messages[0].contains("device not found"), "{}", messages[0]);
    assert!(
        messages[1].contains("domain is not running"),
        "{}",
        messages[1]
    );
    assert!(messages[2].contains("no domain with matching name 'nowhere'"));
    assert!(messages[3].contains("non unique alias"), "{}", messages[3]);
    let transient: Vec<bool> = report.failures().map(|(_, e)| e.is_transient()).collect();
    assert_eq!(transient, [false, true, true, false]);
    assert!(!mock
        .hostdevs("office")
        .contains(&ObservedHostdev::from(WEBCAM_BEFORE_REPLUG)));
}

#[test]
fn a_detach_that_libvirt_would_aim_at_a_static_hostdev_is_refused() {
    let static_first = ObservedHostdev {
        alias: Some("hostdev0".into()),
        ..ObservedHostdev::from(WEBCAM)
    };
    let mut mock = MockHypervisor::new()
        .with_domain("vm", true)
        .with_static_hostdev("vm", static_first.clone());
    mock.add_live_hostdev("vm", ObservedHostdev::from(WEBCAM));
    let error = mock.detach("vm", &WEBCAM).unwrap_err();
    assert!(error_chain(&error).contains("refusing"), "{error}");
    assert_eq!(
        mock.hostdevs("vm"),
        [static_first, ObservedHostdev::from(WEBCAM)]
    );
}

#[test]
fn every_call_is_recorded_in_order_failed_ones_included() {
    let (devices, mut mock) = host();
    mock.inject(Fault::new(MockCallKind::Attach, FaultMode::Always).on("lab"));
    let planned = plan_now(&devices, &mut mock);
    apply(&planned, &mut mock);
    let kinds: Vec<MockCallKind> = mock.calls().iter().map(MockCall::kind).collect();
    use MockCallKind::{Attach, Detach, Observe};
    assert_eq!(kinds, [Observe, Detach, Detach, Attach, Attach, Attach]);
    assert_eq!(
        mock.calls()[3],
        MockCall::Attach {
            domain: "lab".into(),
            hostdev: YUBIKEY
        }
    );
    mock.clear_calls();
    assert!(mock.calls().is_empty());
}

#[test]
fn stopping_a_domain_drops_its_live_hostdevs_and_starting_it_restores_the_static_ones() {
    let (_, mut mock) = host();
    mock.set_active("office", false);
    let stopped = mock.observe(&machines()).unwrap();
    assert_eq!(
        stopped.domains[0],
        ObservedDomain::new("office", DomainState::Inactive)
    );
    mock.set_active("office", true);
    let hostdevs = mock.hostdevs("office");
    assert_eq!(hostdevs.len(), 1);
    assert!(!hostdevs[0].is_owned());
    assert!(mock.remove_domain("lab"));
    assert_eq!(
        defined(&mock.observe(&machines()).unwrap().domains),
        ["office"]
    );
}

/// A device moving between machines whose detach fails is not attached to the other machine in the
/// same run: it would be on two machines at once. The report says why, and once the detach works
/// the move completes.
#[test]
fn a_move_whose_detach_fails_does_not_attach_the_device_twice() {
    let mut mock = MockHypervisor::new()
        .with_domain("lab", true)
        .with_domain("office", true)
        .with_fault(Fault::new(MockCallKind::Detach, FaultMode::Once));
    mock.add_live_hostdev("lab", ObservedHostdev::from(WEBCAM));
    // The webcam no longer matches "lab"; it matches "office".
    let devices = [wanted_by(WEBCAM, &["office"])];
    let moving = plan_of(&devices, &mock.states());
    assert_eq!(
        moving.actions,
        [detach("lab", WEBCAM), attach("office", WEBCAM)]
    );

    let report = apply(&moving, &mut mock);
    let failures: Vec<String> = report
        .failures()
        .map(|(_, error)| error_chain(error))
        .collect();
    assert_eq!(failures.len(), 2, "{report}");
    assert!(
        failures[1].contains("its detach from lab failed"),
        "{report}"
    );
    assert!(
        !mock
            .calls()
            .iter()
            .any(|call| matches!(call, MockCall::Attach { .. })),
        "the attach was not tried"
    );
    assert_eq!(mock.hostdevs("office"), []);

    let retried = apply(&plan_of(&devices, &mock.states()), &mut mock);
    assert!(retried.is_success(), "{retried}");
    assert_eq!(mock.hostdevs("lab"), []);
    assert_eq!(mock.hostdevs("office"), [ObservedHostdev::from(WEBCAM)]);
}
