//! [`MockHypervisor`]: domains and hostdevs in memory, failures on demand, and a record of calls.

use crate::{
    check_detach_target, Cause, DomainState, Error, ErrorKind, HostdevSpec, Hypervisor,
    HypervisorView, ObservedDomain, ObservedHostdev,
};

/// The URI the mock names in [`Error::Connect`].
const MOCK_URI: &str = "mock:///";

/// The kind of a [`Hypervisor`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MockCallKind {
    /// [`Hypervisor::observe`].
    Observe,
    /// [`Hypervisor::attach`].
    Attach,
    /// [`Hypervisor::detach`].
    Detach,
}

/// A call the mock received, failed ones included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MockCall {
    /// [`Hypervisor::observe`] with these names.
    Observe {
        /// The names asked for.
        names: Vec<String>,
    },
    /// [`Hypervisor::attach`].
    Attach {
        /// The domain.
        domain: String,
        /// The device.
        hostdev: HostdevSpec,
    },
    /// [`Hypervisor::detach`].
    Detach {
        /// The domain.
        domain: String,
        /// The device.
        hostdev: HostdevSpec,
    },
}

impl MockCall {
    /// The kind of call.
    pub fn kind(&self) -> MockCallKind {
        match self {
            MockCall::Observe { .. } => MockCallKind::Observe,
            MockCall::Attach { .. } => MockCallKind::Attach,
            MockCall::Detach { .. } => MockCallKind::Detach,
        }
    }
}

/// How an injected fault makes a call fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultMode {
    /// The next matching call fails with a permanent error and has no effect; the fault is then
    /// gone.
    Once,
    /// Every matching call fails with a permanent error and has no effect, until
    /// [`MockHypervisor::clear_faults`].
    Always,
    /// The next matching call loses the connection before it takes effect: it fails with a
    /// transient error, as the libvirt backend reports a lost connection, and the call after it
    /// reconnects ([`MockHypervisor::connections_opened`] counts it). The fault is then gone.
    DropConnection,
    /// As [`DropConnection`](FaultMode::DropConnection), but an attach or detach takes effect before
    /// the connection is lost (libvirt did it; the answer never came).
    DropConnectionAfterEffect,
}

/// A failure to inject: which calls fail, and how.
///
/// For [`MockCallKind::Observe`] a fault limited to a domain applies to calls that see that domain;
/// with [`FaultMode::Once`] or [`FaultMode::Always`] it makes just that domain
/// [`DomainState::Unreadable`], as the libvirt backend reports a domain it cannot read. Without a
/// domain, those modes fail the whole call with [`Error::ListDomains`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fault {
    /// The kind of call that fails.
    pub call: MockCallKind,
    /// Only calls about this domain fail; `None`: any domain.
    pub domain: Option<String>,
    /// How it fails.
    pub mode: FaultMode,
}

impl Fault {
    /// A fault of every call of kind `call`.
    pub fn new(call: MockCallKind, mode: FaultMode) -> Fault {
        Fault {
            call,
            domain: None,
            mode,
        }
    }

    /// The same fault, limited to calls about `domain`.
    pub fn on(self, domain: &str) -> Fault {
        Fault {
            domain: Some(domain.to_string()),
            ..self
        }
    }
}

/// A domain of the mock.
#[derive(Debug, Clone)]
struct MockDomain {
    name: String,
    active: bool,
    /// The hostdevs of its persistent definition, live again whenever it starts.
    persistent: Vec<ObservedHostdev>,
    /// The hostdevs of its live XML (empty while inactive).
    live: Vec<ObservedHostdev>,
    /// Its id while it runs: a new one at every start.
    id: Option<u32>,
}

/// A [`Hypervisor`] in memory, for tests: domains (active or not) with hostdevs, attach and detach
/// that change them as libvirt would, injected failures, and a record of every call.
///
/// ```
/// use libvirt_sync::{
///     Fault, FaultMode, HostdevSpec, Hypervisor, MockCall, MockCallKind, MockHypervisor,
///     ObservedHostdev,
/// };
///
/// let webcam = HostdevSpec { bus: 3, device: 5, vendor_id: 0x046d, product_id: 0x0825 };
/// let yubikey = ObservedHostdev { vendor_id: Some(0x1050), product_id: Some(0x0407), ..Default::default() };
/// let mut mock = MockHypervisor::new()
///     .with_domain("office", true)
///     .with_static_hostdev("office", yubikey.clone())
///     .with_domain("lab", false)
///     .with_fault(Fault::new(MockCallKind::Attach, FaultMode::Once).on("office"));
///
/// assert!(mock.attach("office", &webcam).is_err());
/// mock.attach("office", &webcam).unwrap();
/// assert_eq!(mock.hostdevs("office"), [yubikey, ObservedHostdev::from(webcam)]);
/// assert!(mock.attach("lab", &webcam).unwrap_err().is_transient()); // not running
/// assert_eq!(mock.calls().len(), 3);
/// assert_eq!(mock.calls()[1], MockCall::Attach { domain: "office".into(), hostdev: webcam });
/// ```
#[derive(Debug, Clone)]
pub struct MockHypervisor {
    domains: Vec<MockDomain>,
    faults: Vec<Fault>,
    calls: Vec<MockCall>,
    /// How many domains were started: the last id given.
    starts: u32,
    reachable: bool,
    connected: bool,
    connections_opened: u32,
}

impl Default for MockHypervisor {
    fn default() -> Self {
        MockHypervisor {
            domains: Vec::new(),
            faults: Vec::new(),
            calls: Vec::new(),
            starts: 0,
            reachable: true,
            connected: true,
            connections_opened: 1,
        }
    }
}

impl MockHypervisor {
    /// A hypervisor without domains, connected.
    pub fn new() -> Self {
        Self::default()
    }

    /// A hypervisor with these domains: running ones with their hostdevs live (and not in their
    /// persistent definition, so they are gone if the domain is stopped and started again),
    /// inactive ones, and unreadable ones as inactive domains whose observation always fails.
    /// Undefined ones are left out.
    pub fn from_domains<'a>(domains: impl IntoIterator<Item = &'a ObservedDomain>) -> Self {
        let mut mock = Self::new();
        for domain in domains {
            match &domain.state {
                DomainState::Running { hostdevs } => {
                    mock.add_domain(&domain.name, true);
                    for hostdev in hostdevs {
                        mock.add_live_hostdev(&domain.name, hostdev.clone());
                    }
                }
                DomainState::Inactive => mock.add_domain(&domain.name, false),
                DomainState::Unreadable { .. } => {
                    mock.add_domain(&domain.name, false);
                    mock.inject(
                        Fault::new(MockCallKind::Observe, FaultMode::Always).on(&domain.name),
                    );
                }
                DomainState::Undefined => {}
            }
        }
        mock
    }

    /// Adds a domain, as [`add_domain`](Self::add_domain) does.
    pub fn with_domain(mut self, name: &str, active: bool) -> Self {
        self.add_domain(name, active);
        self
    }

    /// Adds a static hostdev, as [`add_static_hostdev`](Self::add_static_hostdev) does.
    ///
    /// # Panics
    /// When there is no domain `domain`.
    pub fn with_static_hostdev(mut self, domain: &str, hostdev: ObservedHostdev) -> Self {
        self.add_static_hostdev(domain, hostdev);
        self
    }

    /// Injects a fault, as [`inject`](Self::inject) does.
    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.inject(fault);
        self
    }

    /// Defines a domain without hostdevs, running if `active`; replaces a domain of that name.
    pub fn add_domain(&mut self, name: &str, active: bool) {
        self.remove_domain(name);
        let id = active.then(|| self.next_id());
        self.domains.push(MockDomain {
            name: name.to_string(),
            active,
            persistent: Vec::new(),
            live: Vec::new(),
            id,
        });
    }

    /// The id of the next domain to start, as libvirt counts them.
    fn next_id(&mut self) -> u32 {
        self.starts += 1;
        self.starts
    }

    /// Undefines (and stops) a domain; whether there was one.
    pub fn remove_domain(&mut self, name: &str) -> bool {
        let before = self.domains.len();
        self.domains.retain(|domain| domain.name != name);
        self.domains.len() != before
    }

    /// Starts (`true`: its live hostdevs become those of its definition) or stops (`false`: it has
    /// none) a domain.
    ///
    /// # Panics
    /// When there is no domain `name`.
    pub fn set_active(&mut self, name: &str, active: bool) {
        let starting = active && !self.domain_mut(name).active;
        let id = if starting { Some(self.next_id()) } else { None };
        let domain = self.domain_mut(name);
        if starting {
            domain.live = domain.persistent.clone();
            domain.id = id;
        } else if !active {
            domain.live.clear();
            domain.id = None;
        }
        domain.active = active;
    }

    /// Adds a hostdev to a domain's definition, and to its live XML if it runs: a static hostdev
    /// written by hand (or an owned one, to model an odd definition).
    ///
    /// # Panics
    /// When there is no domain `domain`.
    pub fn add_static_hostdev(&mut self, domain: &str, hostdev: ObservedHostdev) {
        let domain = self.domain_mut(domain);
        if domain.active {
            domain.live.push(hostdev.clone());
        }
        domain.persistent.push(hostdev);
    }

    /// Adds a hostdev to a running domain's live XML only, as `virsh attach-device --live` (or a
    /// daemon before a restart) would.
    ///
    /// # Panics
    /// When there is no domain `domain`, or it is not running.
    pub fn add_live_hostdev(&mut self, domain: &str, hostdev: ObservedHostdev) {
        let domain = self.domain_mut(domain);
        assert!(domain.active, "mock domain {} is not running", domain.name);
        domain.live.push(hostdev);
    }

    /// The live hostdevs of a domain (none if it is unknown or not running).
    pub fn hostdevs(&self, domain: &str) -> &[ObservedHostdev] {
        self.domain(domain)
            .map_or(&[], |domain| domain.live.as_slice())
    }

    /// Every domain and its state, in the order they were added (no fault applies).
    pub fn states(&self) -> Vec<ObservedDomain> {
        self.domains.iter().map(observed).collect()
    }

    /// Adds a fault; the first fault that matches a call applies to it.
    pub fn inject(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// Makes libvirt unreachable (`false`): every call fails with a transient error, until it is
    /// reachable again and a call reconnects.
    pub fn set_reachable(&mut self, reachable: bool) {
        self.reachable = reachable;
    }

    /// How many connections were opened: 1 at first, plus one for each reconnect after a drop or
    /// an outage.
    pub fn connections_opened(&self) -> u32 {
        self.connections_opened
    }

    /// Every call received, in order, failed ones included.
    pub fn calls(&self) -> &[MockCall] {
        &self.calls
    }

    /// Forgets the calls received so far.
    pub fn clear_calls(&mut self) {
        self.calls.clear();
    }

    fn domain(&self, name: &str) -> Option<&MockDomain> {
        self.domains.iter().find(|domain| domain.name == name)
    }

    fn domain_mut(&mut self, name: &str) -> &mut MockDomain {
        match self.domains.iter_mut().find(|domain| domain.name == name) {
            Some(domain) => domain,
            None => panic!("no domain {name} in the mock hypervisor"),
        }
    }

    /// Connects if needed; `Err` with the outage's message when unreachable.
    fn connect(&mut self) -> Result<(), String> {
        if !self.reachable {
            self.connected = false;
            return Err(format!(
                "cannot connect to libvirt at {MOCK_URI}: injected outage"
            ));
        }
        if !self.connected {
            self.connected = true;
            self.connections_opened += 1;
        }
        Ok(())
    }

    /// The mode of the first fault matching a call about `domain`, consuming it unless it is
    /// permanent.
    fn take_fault(&mut self, call: MockCallKind, domain: &str) -> Option<FaultMode> {
        let index = self.faults.iter().position(|fault| {
            fault.call == call && fault.domain.iter().all(|name| name == domain)
        })?;
        let mode = self.faults[index].mode;
        if mode != FaultMode::Always {
            self.faults.remove(index);
        }
        if matches!(
            mode,
            FaultMode::DropConnection | FaultMode::DropConnectionAfterEffect
        ) {
            self.connected = false;
        }
        Some(mode)
    }

    /// Runs an attach or detach: connection, faults, then `effect`.
    fn change(
        &mut self,
        call: MockCallKind,
        domain: &str,
        effect: Effect,
        spec: &HostdevSpec,
    ) -> Result<(), Refusal> {
        self.connect().map_err(Refusal::transient)?;
        let fault = self.take_fault(call, domain);
        if matches!(fault, Some(FaultMode::Once | FaultMode::Always)) {
            return Err(Refusal::permanent("injected failure".to_string()));
        }
        let lost = || {
            Refusal::transient(
                "lost the connection to libvirt: injected connection drop".to_string(),
            )
        };
        if fault == Some(FaultMode::DropConnection) {
            return Err(lost());
        }
        let Some(target) = self.domains.iter_mut().find(|d| d.name == domain) else {
            let message = format!("domain not found: no domain with matching name '{domain}'");
            return Err(Refusal::transient(message));
        };
        if !target.active {
            let message = "Requested operation is not valid: domain is not running";
            return Err(Refusal::transient(message.to_string()));
        }
        effect(target, spec)?;
        match fault {
            Some(FaultMode::DropConnectionAfterEffect) => Err(lost()),
            _ => Ok(()),
        }
    }
}

/// Why the mocked libvirt refused an attach or detach.
struct Refusal {
    message: String,
    kind: ErrorKind,
}

impl Refusal {
    fn transient(message: String) -> Refusal {
        Refusal {
            message,
            kind: ErrorKind::Transient,
        }
    }

    fn permanent(message: String) -> Refusal {
        Refusal {
            message,
            kind: ErrorKind::Permanent,
        }
    }
}

/// What an attach or detach does to a running domain.
type Effect = fn(&mut MockDomain, &HostdevSpec) -> Result<(), Refusal>;

/// Attaches as libvirt does: refuses a second hostdev with the same alias.
fn attach_to(domain: &mut MockDomain, spec: &HostdevSpec) -> Result<(), Refusal> {
    let alias = spec.alias();
    if domain
        .live
        .iter()
        .any(|h| h.alias.as_deref() == Some(&alias))
    {
        return Err(Refusal::permanent(format!(
            "non unique alias detected: {alias}"
        )));
    }
    domain.live.push(ObservedHostdev::from(*spec));
    Ok(())
}

/// Detaches as the libvirt backend does: libvirt picks the first hostdev with the source's bus
/// and device, which must be the owned one.
fn detach_from(domain: &mut MockDomain, spec: &HostdevSpec) -> Result<(), Refusal> {
    check_detach_target(&domain.live, spec).map_err(Refusal::permanent)?;
    let alias = spec.alias();
    domain
        .live
        .retain(|hostdev| hostdev.alias.as_deref() != Some(alias.as_str()));
    Ok(())
}

fn observed(domain: &MockDomain) -> ObservedDomain {
    let state = if domain.active {
        DomainState::Running {
            hostdevs: domain.live.clone(),
        }
    } else {
        DomainState::Inactive
    };
    ObservedDomain::new(&domain.name, state).with_id(domain.id)
}

impl MockHypervisor {
    /// The faults of `observe` that apply to a call seeing `visible` domains: `Err` when the whole
    /// call fails, else the domains that are unreadable this time.
    fn observe_faults(&mut self, visible: &[&str]) -> Result<Vec<String>, Error> {
        let mut unreadable: Vec<String> = Vec::new();
        let mut index = 0;
        while let Some(fault) = self.faults.get(index) {
            let seen = |domain: &str| visible.contains(&domain);
            if fault.call != MockCallKind::Observe
                || !fault.domain.iter().all(|domain| seen(domain))
            {
                index += 1;
                continue;
            }
            let fault = if fault.mode == FaultMode::Always {
                index += 1;
                fault.clone()
            } else {
                self.faults.remove(index)
            };
            match (fault.mode, fault.domain) {
                (FaultMode::Once | FaultMode::Always, Some(domain)) => unreadable.push(domain),
                (FaultMode::Once | FaultMode::Always, None) => {
                    return Err(Error::ListDomains {
                        cause: Cause::refused("injected failure"),
                    });
                }
                (FaultMode::DropConnection | FaultMode::DropConnectionAfterEffect, _) => {
                    self.connected = false;
                    return Err(Error::ConnectionLost {
                        cause: Cause::refused("injected connection drop"),
                    });
                }
            }
        }
        Ok(unreadable)
    }
}

impl Hypervisor for MockHypervisor {
    /// The domains of `names` in that order, and every other running domain by name. Every fault
    /// on `observe` limited to a domain it sees makes that domain unreadable (or drops the
    /// connection); the first unlimited one fails the call.
    fn observe(&mut self, names: &[String]) -> Result<HypervisorView, Error> {
        self.calls.push(MockCall::Observe {
            names: names.to_vec(),
        });
        self.connect().map_err(|message| Error::Connect {
            uri: MOCK_URI.to_string(),
            cause: Cause::refused(message),
        })?;
        let visible: Vec<String> = names
            .iter()
            .filter(|name| self.domain(name).is_some())
            .cloned()
            .chain(
                self.domains
                    .iter()
                    .filter(|domain| domain.active && !names.contains(&domain.name))
                    .map(|domain| domain.name.clone()),
            )
            .collect();
        let visible: Vec<&str> = visible.iter().map(String::as_str).collect();
        let unreadable = self.observe_faults(&visible)?;
        let look = |domain: &MockDomain| {
            if unreadable.contains(&domain.name) {
                ObservedDomain::new(
                    &domain.name,
                    DomainState::Unreadable {
                        error: Error::ReadDomain {
                            domain: domain.name.clone(),
                            cause: Cause::refused("injected failure"),
                        },
                    },
                )
            } else {
                observed(domain)
            }
        };
        let domains = names
            .iter()
            .map(|name| match self.domain(name) {
                Some(domain) => look(domain),
                None => ObservedDomain::new(name, DomainState::Undefined),
            })
            .collect();
        let mut others: Vec<ObservedDomain> = self
            .domains
            .iter()
            .filter(|domain| domain.active && !names.contains(&domain.name))
            .map(look)
            .collect();
        others.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(HypervisorView { domains, others })
    }

    /// Adds the owned hostdev of `spec` to the live XML of the running domain.
    fn attach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error> {
        self.calls.push(MockCall::Attach {
            domain: domain.to_string(),
            hostdev: *spec,
        });
        self.change(MockCallKind::Attach, domain, attach_to, spec)
            .map_err(|Refusal { message, kind }| Error::Attach {
                domain: domain.to_string(),
                device: *spec,
                kind,
                cause: Cause::Refused(message),
            })
    }

    /// Removes the owned hostdev of `spec`; like the libvirt backend, refuses (permanent error)
    /// when the first hostdev with its bus and device is not the owned one, or there is none.
    fn detach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error> {
        self.calls.push(MockCall::Detach {
            domain: domain.to_string(),
            hostdev: *spec,
        });
        self.change(MockCallKind::Detach, domain, detach_from, spec)
            .map_err(|Refusal { message, kind }| Error::Detach {
                domain: domain.to_string(),
                device: *spec,
                kind,
                cause: Cause::Refused(message),
            })
    }
}
