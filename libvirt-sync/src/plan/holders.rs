//! Which running domains hold which device, read from their hostdevs (the rules are in the
//! planner's module documentation, "How a hostdev is read as holding a device").

use std::collections::{HashMap, HashSet};

use crate::{HostdevSpec, MatchedDevice, ObservedDomain, ObservedHostdev};

/// A running domain holding a device by one of its hostdevs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Holder<'a> {
    /// The domain.
    pub(super) machine: &'a str,
    /// Whether by a hostdev the daemon owns on a machine it manages (one it may detach).
    pub(super) owned: bool,
}

/// Which running domains hold which device.
pub(super) struct Holders<'a> {
    /// Per device (index into the canonical devices), the domains holding it.
    by_device: Vec<Vec<Holder<'a>>>,
    /// Every owned hostdev of a running managed machine: (machine, spec).
    pub(super) owned: Vec<(&'a str, HostdevSpec)>,
}

impl<'a> Holders<'a> {
    /// Reads the hostdevs of the running `managed` machines and `others` domains against
    /// `devices` (canonical: sorted by spec, each once).
    pub(super) fn observe(
        devices: &[&MatchedDevice],
        managed: &HashMap<&'a str, &'a ObservedDomain>,
        others: &HashMap<&'a str, &'a ObservedDomain>,
        kept: &HashSet<HostdevSpec>,
    ) -> Self {
        let mut index_of = HashMap::with_capacity(devices.len());
        let mut at_address: HashMap<(u16, u16), Vec<usize>> = HashMap::new();
        let mut with_ids: HashMap<(u16, u16), Vec<usize>> = HashMap::new();
        for (index, device) in devices.iter().enumerate() {
            let spec = device.spec;
            index_of.insert(spec, index);
            at_address
                .entry((spec.bus, spec.device))
                .or_default()
                .push(index);
            with_ids
                .entry((spec.vendor_id, spec.product_id))
                .or_default()
                .push(index);
        }

        let mut domains: Vec<(&'a str, &'a ObservedDomain, bool)> = managed
            .iter()
            .map(|(name, domain)| (*name, *domain, true))
            .chain(others.iter().map(|(name, domain)| (*name, *domain, false)))
            .collect();
        domains.sort_unstable_by_key(|(name, ..)| *name);
        let mut holders = Holders {
            by_device: vec![Vec::new(); devices.len()],
            owned: Vec::new(),
        };
        let mut unowned_held = vec![false; devices.len()];
        let mut without_address = Vec::new();
        for (machine, domain, is_managed) in domains {
            for hostdev in domain.state.hostdevs() {
                let owned_spec = hostdev.owned_spec();
                if let (Some(spec), true) = (owned_spec, is_managed) {
                    holders.owned.push((machine, spec));
                    if let Some(&index) = index_of.get(&spec) {
                        holders.add(index, machine, true);
                    }
                } else if let Some(spec) = owned_spec {
                    // Owned, on a domain the daemon does not manage: it holds exactly its device,
                    // which is busy there.
                    if let Some(&index) = index_of.get(&spec) {
                        holders.add(index, machine, false);
                        unowned_held[index] = true;
                    }
                } else if let (Some(bus), Some(device)) = (hostdev.bus, hostdev.device) {
                    let held = at_address.get(&(bus, device)).and_then(|candidates| {
                        candidates
                            .iter()
                            .copied()
                            .find(|&index| ids_agree(hostdev, &devices[index].spec))
                    });
                    if let Some(index) = held {
                        holders.add(index, machine, false);
                        unowned_held[index] = true;
                    }
                } else if let (Some(vendor), Some(product)) =
                    (hostdev.vendor_id, hostdev.product_id)
                {
                    without_address.push((machine, vendor, product));
                }
            }
        }

        // Devices that stay where an owned hostdev put them are not free for a hostdev without
        // an address; nothing the plan does changes this set for the devices such a hostdev may
        // take, so the choice below is the same when planning again.
        let owned_placed: Vec<bool> = holders
            .by_device
            .iter()
            .zip(devices)
            .map(|(holders, device)| {
                holders.iter().any(|holder| {
                    holder.owned && device.machines.iter().any(|name| name == holder.machine)
                })
            })
            .collect();
        for (machine, vendor, product) in without_address {
            let free = with_ids.get(&(vendor, product)).and_then(|candidates| {
                candidates.iter().copied().find(|&index| {
                    !unowned_held[index]
                        && !owned_placed[index]
                        && !kept.contains(&devices[index].spec)
                })
            });
            if let Some(index) = free {
                holders.add(index, machine, false);
                unowned_held[index] = true;
            }
        }
        holders
    }

    fn add(&mut self, index: usize, machine: &'a str, owned: bool) {
        if let Some(holders) = self.by_device.get_mut(index) {
            holders.push(Holder { machine, owned });
        }
    }

    /// The domains holding the device at `index`.
    pub(super) fn of(&self, index: usize) -> &[Holder<'a>] {
        self.by_device.get(index).map_or(&[], Vec::as_slice)
    }
}

/// Whether the ids an unowned hostdev gives (if any) are the device's.
fn ids_agree(hostdev: &ObservedHostdev, spec: &HostdevSpec) -> bool {
    hostdev.vendor_id.unwrap_or(spec.vendor_id) == spec.vendor_id
        && hostdev.product_id.unwrap_or(spec.product_id) == spec.product_id
}
