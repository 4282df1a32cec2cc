//! What the daemon needs of a hypervisor, behind an object-safe trait, and what it observes.

use std::sync::{Arc, Mutex, PoisonError};

use crate::{Error, HostdevSpec, ObservedHostdev};

/// What the hypervisor says of one domain now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainState {
    /// Active (running or paused, as libvirt's `isActive` says), with the USB hostdevs of its live
    /// XML in document order. Only active domains take part in the assignment.
    Running {
        /// The USB hostdevs of the live XML.
        hostdevs: Vec<ObservedHostdev>,
    },
    /// Defined but not active: it has no live hostdevs.
    Inactive,
    /// The hypervisor knows no domain of that name.
    Undefined,
    /// The hypervisor has it, but its state or live XML could not be read: which devices it holds
    /// is unknown.
    Unreadable {
        /// Why it could not be read.
        error: Error,
    },
}

impl DomainState {
    /// Whether the domain is active.
    pub fn is_running(&self) -> bool {
        matches!(self, DomainState::Running { .. })
    }

    /// Its live USB hostdevs: none unless it runs.
    pub fn hostdevs(&self) -> &[ObservedHostdev] {
        match self {
            DomainState::Running { hostdevs } => hostdevs,
            _ => &[],
        }
    }
}

/// A domain and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedDomain {
    /// The domain's name.
    pub name: String,
    /// What the hypervisor says of it.
    pub state: DomainState,
    /// libvirt's id of the domain while it runs: a new one each time it starts, so that a caller
    /// can tell a domain that ran on from one that was restarted (and lost its live hostdevs).
    /// `None` when not running, or not known.
    pub id: Option<u32>,
}

impl ObservedDomain {
    /// A running domain with these hostdevs.
    pub fn running(name: &str, hostdevs: Vec<ObservedHostdev>) -> ObservedDomain {
        ObservedDomain {
            name: name.to_owned(),
            state: DomainState::Running { hostdevs },
            id: None,
        }
    }

    /// The same domain with libvirt's id `id`.
    pub fn with_id(self, id: Option<u32>) -> ObservedDomain {
        ObservedDomain { id, ..self }
    }

    /// A domain in `state`.
    pub fn new(name: &str, state: DomainState) -> ObservedDomain {
        ObservedDomain {
            name: name.to_owned(),
            state,
            id: None,
        }
    }
}

/// What one look at the hypervisor saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HypervisorView {
    /// One entry per name asked for, in that order.
    pub domains: Vec<ObservedDomain>,
    /// Every other active domain, sorted by name, with its hostdevs (or unreadable): the devices
    /// they hold are busy there, whether the daemon manages those domains or not.
    pub others: Vec<ObservedDomain>,
}

/// The hypervisor operations the daemon uses.
///
/// Object safe and `Send`, so the main loop holds a `Box<dyn Hypervisor>` and tests substitute the
/// mock. Implementations connect on demand and reconnect by themselves: a call after a failed one
/// tries again from scratch.
pub trait Hypervisor: Send {
    /// The state of each domain of `names` (in that order; [`DomainState::Undefined`] for a name
    /// the hypervisor does not know), and every other active domain with its USB hostdevs. One
    /// domain that cannot be read is [`DomainState::Unreadable`] and never fails the others; a
    /// hostdev element that cannot be fully parsed is returned with what could be read. Fails only
    /// when the hypervisor cannot be reached or the domains cannot be listed.
    fn observe(&mut self, names: &[String]) -> Result<HypervisorView, Error>;

    /// Attaches `spec` to the running domain `domain` (live only), with the owned alias.
    fn attach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error>;

    /// Detaches the owned hostdev `spec` from the running domain `domain` (live only), matching it
    /// by its source (vendor, product, bus and device), and returns once it is gone (bounded wait).
    /// Refuses when the hostdev libvirt would remove is not the owned one
    /// ([`check_detach_target`](crate::check_detach_target)).
    fn detach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error>;
}

impl Hypervisor for Box<dyn Hypervisor> {
    fn observe(&mut self, names: &[String]) -> Result<HypervisorView, Error> {
        self.as_mut().observe(names)
    }

    fn attach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error> {
        self.as_mut().attach(domain, spec)
    }

    fn detach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error> {
        self.as_mut().detach(domain, spec)
    }
}

/// A hypervisor shared between its user and a test that looks at it (the mock, typically): each
/// call locks it.
impl<H: Hypervisor> Hypervisor for Arc<Mutex<H>> {
    fn observe(&mut self, names: &[String]) -> Result<HypervisorView, Error> {
        self.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .observe(names)
    }

    fn attach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error> {
        self.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .attach(domain, spec)
    }

    fn detach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error> {
        self.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .detach(domain, spec)
    }
}
