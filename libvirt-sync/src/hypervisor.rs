//! What the daemon needs of a hypervisor, behind an object-safe trait.

use crate::{Error, HostdevSpec, ObservedHostdev};

/// A configured domain as the hypervisor sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainState {
    /// The domain's name (the machine's name in the config).
    pub name: String,
    /// Whether the domain is active (running or paused, as libvirt's `isActive` says). Only active
    /// domains take part in the assignment.
    pub active: bool,
    /// The USB hostdevs of its live XML (empty when it is not active), in document order.
    pub hostdevs: Vec<ObservedHostdev>,
}

/// The hypervisor operations the daemon uses.
///
/// Object safe and `Send`, so the main loop holds a `Box<dyn Hypervisor>` and tests substitute the
/// mock.
pub trait Hypervisor: Send {
    /// The state of each named domain that the hypervisor knows, in the order of `names`. A name that
    /// it does not know is left out. A hostdev element that cannot be fully parsed is returned with
    /// what could be read; it never fails the whole domain.
    fn domains(&mut self, names: &[String]) -> Result<Vec<DomainState>, Error>;

    /// Attaches `spec` to the running domain `domain` (live only), with the owned alias.
    fn attach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error>;

    /// Detaches the owned hostdev `spec` from the running domain `domain` (live only), matching it by
    /// its source (vendor, product, bus and device), and returns once it is gone (bounded wait).
    fn detach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error>;

    /// The domains that the last [`Hypervisor::domains`] call found but could not read (their
    /// state or live XML), each with the error; they were left out of its answer. Their hostdevs
    /// are unknown, so a caller should not place elsewhere the devices they may hold.
    fn unreadable_domains(&self) -> Vec<Error> {
        Vec::new()
    }
}
