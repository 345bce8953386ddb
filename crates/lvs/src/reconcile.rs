//! From one table to another in IPVS operations, in keepalived's order, touching only the
//! services we manage; adoption of what the kernel already has at start; and repair of our
//! services when another tool removes them, with a back-off when the repair keeps being undone.
//!
//! Pure: tables in, operations and log lines out; time is a number the caller passes.

use crate::table::{DestKey, Op, ServiceKey, Table, TableService};
use std::collections::{BTreeMap, BTreeSet};

/// The operations that turn `from` into `to`.
///
/// Order (keepalived's): services that go away lose their destinations one by one and then
/// themselves; kept services get their settings edited, then lose destinations, then have
/// destinations edited, then gain new ones (so a sorry-server swap deletes the real servers
/// before adding the sorry server, and the reverse on the way back); new services come last,
/// each followed by its destinations. Services in neither table are never named.
pub fn plan(from: &Table, to: &Table) -> Vec<Op> {
    let mut ops = Vec::new();
    for (key, old) in &from.services {
        if !to.services.contains_key(key) {
            for dest in old.dests.keys() {
                ops.push(Op::DelDest(*key, *dest));
            }
            ops.push(Op::DelService(*key));
        }
    }
    for (key, new) in &to.services {
        let Some(old) = from.services.get(key) else {
            continue;
        };
        if old.spec != new.spec {
            ops.push(Op::EditService(*key, new.spec.clone()));
        }
        for dest in old.dests.keys() {
            if !new.dests.contains_key(dest) {
                ops.push(Op::DelDest(*key, *dest));
            }
        }
        for (dest, spec) in &new.dests {
            if let Some(was) = old.dests.get(dest) {
                if was != spec {
                    ops.push(Op::EditDest(*key, *dest, *spec));
                }
            }
        }
        for (dest, spec) in &new.dests {
            if !old.dests.contains_key(dest) {
                ops.push(Op::AddDest(*key, *dest, *spec));
            }
        }
    }
    for (key, new) in &to.services {
        if from.services.contains_key(key) {
            continue;
        }
        ops.push(Op::AddService(*key, new.spec.clone()));
        for (dest, spec) in &new.dests {
            ops.push(Op::AddDest(*key, *dest, *spec));
        }
    }
    ops
}

/// Applies one successful operation to the table we believe the kernel has, so the next plan
/// starts from the truth (a failed operation is simply planned again next time).
pub fn record(believed: &mut Table, op: &Op) {
    match op {
        Op::AddService(k, spec) | Op::EditService(k, spec) => {
            let svc = believed.services.entry(*k).or_insert_with(|| TableService {
                spec: spec.clone(),
                dests: BTreeMap::new(),
            });
            svc.spec = spec.clone();
        }
        Op::DelService(k) => {
            believed.services.remove(k);
        }
        Op::AddDest(k, d, spec) | Op::EditDest(k, d, spec) => {
            if let Some(svc) = believed.services.get_mut(k) {
                svc.dests.insert(*d, *spec);
            }
        }
        Op::DelDest(k, d) => {
            if let Some(svc) = believed.services.get_mut(k) {
                svc.dests.remove(d);
            }
        }
        Op::Flush => believed.services.clear(),
        Op::SetTimeouts(_) | Op::StartDaemon(_) | Op::StopDaemon(_) | Op::Zero(_) => {}
    }
}

/// What we take over from the kernel at start for a desired table: services and destinations
/// that already exist count as ours and as programmed the way we want them (keepalived 2.2.7
/// adopts them the same way and leaves their settings as found); the drift check then reports
/// where the kernel's settings differ. Destinations of those services that we do not configure
/// stay the kernel's business.
pub fn adopt(desired: &Table, kernel: &Table) -> Table {
    let mut believed = Table::default();
    for (key, want) in &desired.services {
        let Some(have) = kernel.services.get(key) else {
            continue;
        };
        let dests = want
            .dests
            .iter()
            .filter(|(d, _)| have.dests.contains_key(d))
            .map(|(d, s)| (*d, *s))
            .collect();
        believed.services.insert(
            *key,
            TableService {
                spec: want.spec.clone(),
                dests,
            },
        );
    }
    believed
}

/// Adopts, for desired services we do not manage yet (new at a reload), what the kernel already
/// has, as [`adopt`] does at start.
pub fn adopt_new(believed: &mut Table, desired: &Table, kernel: &Table) {
    let fresh = Table {
        services: desired
            .services
            .iter()
            .filter(|(k, _)| !believed.services.contains_key(k))
            .map(|(k, s)| (*k, s.clone()))
            .collect(),
    };
    believed.services.extend(adopt(&fresh, kernel).services);
}

/// One difference between what we programmed and what the kernel has now.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Drift {
    /// Our service is gone.
    ServiceMissing(ServiceKey),
    /// Our destination is gone.
    DestMissing(ServiceKey, DestKey),
    /// Our service's settings were changed (scheduler, flags, persistence).
    ServiceChanged(ServiceKey, String),
    /// Our destination's settings were changed (a drain to weight 0, a new forwarding method).
    DestChanged(ServiceKey, DestKey, String),
}

/// Compares our believed table with a dump, for our services only.
pub fn drift(believed: &Table, kernel: &Table) -> Vec<Drift> {
    let mut out = Vec::new();
    for (key, ours) in &believed.services {
        let Some(have) = kernel.services.get(key) else {
            out.push(Drift::ServiceMissing(*key));
            continue;
        };
        if have.spec != ours.spec {
            let mut what = Vec::new();
            if have.spec.scheduler != ours.spec.scheduler {
                what.push(format!(
                    "scheduler {} (configured {})",
                    have.spec.scheduler, ours.spec.scheduler
                ));
            }
            if have.spec.flags != ours.spec.flags {
                what.push(format!(
                    "flags {:#x} (configured {:#x})",
                    have.spec.flags, ours.spec.flags
                ));
            }
            if have.spec.timeout != ours.spec.timeout
                || have.spec.netmask_prefix != ours.spec.netmask_prefix
                || have.spec.pe_name != ours.spec.pe_name
            {
                what.push("persistence".to_string());
            }
            out.push(Drift::ServiceChanged(*key, what.join(", ")));
        }
        for (dest, spec) in &ours.dests {
            match have.dests.get(dest) {
                None => out.push(Drift::DestMissing(*key, *dest)),
                Some(h) if h != spec => {
                    let mut what = Vec::new();
                    if h.weight != spec.weight {
                        what.push(format!("weight {} (set {})", h.weight, spec.weight));
                    }
                    if h.forward != spec.forward {
                        what.push("forwarding".to_string());
                    }
                    if h.u_thresh != spec.u_thresh || h.l_thresh != spec.l_thresh {
                        what.push("thresholds".to_string());
                    }
                    out.push(Drift::DestChanged(*key, *dest, what.join(", ")));
                }
                Some(_) => {}
            }
        }
    }
    out
}

/// Repairs of our services with memory: what was reported already (said once, not every
/// period) and how often a repair was undone (back off instead of fighting another tool).
#[derive(Debug, Clone, Default)]
pub struct Repairer {
    reported: BTreeSet<Drift>,
    /// Per service: repairs in the current window, window start, and "no repair before".
    history: BTreeMap<ServiceKey, RepairHistory>,
}

#[derive(Debug, Clone, Copy, Default)]
struct RepairHistory {
    count: u32,
    window_start_ms: u64,
    backoff_ms: u64,
    hold_until_ms: u64,
}

/// Repairs inside this window count together.
const REPAIR_WINDOW_MS: u64 = 60_000;
/// Repairs of one service tolerated in a window before backing off.
const REPAIRS_BEFORE_BACKOFF: u32 = 3;
/// First back-off; doubles each time, capped.
const FIRST_BACKOFF_MS: u64 = 30_000;
const MAX_BACKOFF_MS: u64 = 600_000;

/// The outcome of one repair round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repair {
    /// Operations that re-create what is missing.
    pub ops: Vec<Op>,
    /// Log lines (new drifts, repairs, back-offs).
    pub logs: Vec<String>,
}

impl Repairer {
    /// A repairer with nothing reported yet.
    pub fn new() -> Repairer {
        Repairer::default()
    }

    /// Compares `believed` with a `kernel` dump at time `now_ms`: missing services and
    /// destinations of ours are re-created (logged), changed settings are logged once and left
    /// alone (an operator's drain stays), and a service whose repair keeps being undone is left
    /// alone for a growing while. `names` gives the virtual server name of a service for logs.
    pub fn round(
        &mut self,
        believed: &Table,
        kernel: &Table,
        now_ms: u64,
        names: &dyn Fn(&ServiceKey) -> String,
    ) -> Repair {
        let mut out = Repair::default();
        let drifts = drift(believed, kernel);
        // Drifts that went away may be reported again if they come back.
        self.reported.retain(|d| drifts.contains(d));
        let mut repaired: BTreeSet<ServiceKey> = BTreeSet::new();
        for d in &drifts {
            let key = match d {
                Drift::ServiceMissing(k)
                | Drift::DestMissing(k, _)
                | Drift::ServiceChanged(k, _)
                | Drift::DestChanged(k, _, _) => *k,
            };
            let vs = names(&key);
            match d {
                Drift::ServiceChanged(_, what) | Drift::DestChanged(_, _, what) => {
                    if self.reported.insert(d.clone()) {
                        let target = match d {
                            Drift::DestChanged(_, dest, _) => format!("destination {dest} of "),
                            _ => String::new(),
                        };
                        out.logs.push(format!(
                            "IPVS {target}service {key} of VS {vs} was changed outside keepalived-rs: {what}; left as it is"
                        ));
                    }
                }
                Drift::ServiceMissing(_) | Drift::DestMissing(..) => {
                    let h = self.history.entry(key).or_default();
                    if now_ms < h.hold_until_ms {
                        if self.reported.insert(d.clone()) {
                            out.logs.push(format!(
                                "IPVS service {key} of VS {vs} is still being changed by another tool; not repairing it for {} s",
                                (h.hold_until_ms - now_ms).div_ceil(1000)
                            ));
                        }
                        continue;
                    }
                    if !repaired.insert(key) {
                        continue;
                    }
                    if now_ms.saturating_sub(h.window_start_ms) > REPAIR_WINDOW_MS {
                        h.window_start_ms = now_ms;
                        h.count = 0;
                    }
                    h.count += 1;
                    if h.count > REPAIRS_BEFORE_BACKOFF {
                        h.backoff_ms = (h.backoff_ms * 2).clamp(FIRST_BACKOFF_MS, MAX_BACKOFF_MS);
                        h.hold_until_ms = now_ms + h.backoff_ms;
                        h.count = 0;
                        h.window_start_ms = now_ms;
                        out.logs.push(format!(
                            "IPVS service {key} of VS {vs} keeps being removed by another tool; backing off for {} s",
                            h.backoff_ms / 1000
                        ));
                        continue;
                    }
                    out.ops.extend(repair_ops(believed, kernel, &key));
                    out.logs.push(match d {
                        Drift::ServiceMissing(_) => format!(
                            "IPVS service {key} of VS {vs} disappeared from the kernel (removed by another tool?); re-creating it"
                        ),
                        _ => format!(
                            "IPVS destinations of service {key} of VS {vs} disappeared from the kernel; re-adding them"
                        ),
                    });
                }
            }
        }
        out
    }
}

/// Re-creates our part of one service as the kernel lacks it.
fn repair_ops(believed: &Table, kernel: &Table, key: &ServiceKey) -> Vec<Op> {
    let Some(ours) = believed.services.get(key) else {
        return Vec::new();
    };
    let mut ops = Vec::new();
    let have = kernel.services.get(key);
    if have.is_none() {
        ops.push(Op::AddService(*key, ours.spec.clone()));
    }
    for (dest, spec) in &ours.dests {
        if have.is_none_or(|h| !h.dests.contains_key(dest)) {
            ops.push(Op::AddDest(*key, *dest, *spec));
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::memory::MemoryBackend;
    use crate::table::{DestSpec, Family, Forward, Protocol, ServiceSpec};
    use proptest::prelude::*;

    fn svc(n: u8) -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: format!("192.0.2.{n}").parse().expect("addr"),
            port: 80,
        }
    }

    fn dest(n: u8) -> DestKey {
        DestKey {
            addr: format!("198.51.100.{n}").parse().expect("addr"),
            port: 80,
        }
    }

    fn dspec(weight: u32) -> DestSpec {
        DestSpec {
            forward: Forward::Route,
            weight,
            u_thresh: 0,
            l_thresh: 0,
        }
    }

    /// (service number, scheduler, [(destination number, weight)]).
    type Entry<'a> = (u8, &'a str, &'a [(u8, u32)]);

    fn table(entries: &[Entry]) -> Table {
        let mut t = Table::default();
        for (s, sched, dests) in entries {
            t.services.insert(
                svc(*s),
                TableService {
                    spec: ServiceSpec::new(sched, Family::Inet),
                    dests: dests.iter().map(|(d, w)| (dest(*d), dspec(*w))).collect(),
                },
            );
        }
        t
    }

    #[test]
    fn a_sorry_swap_deletes_before_it_adds() {
        let from = table(&[(1, "rr", &[(10, 1), (11, 1)])]);
        let to = table(&[(1, "rr", &[(20, 1)])]);
        let ops = plan(&from, &to);
        assert_eq!(
            ops,
            vec![
                Op::DelDest(svc(1), dest(10)),
                Op::DelDest(svc(1), dest(11)),
                Op::AddDest(svc(1), dest(20), dspec(1)),
            ]
        );
    }

    #[test]
    fn a_removed_service_loses_its_destinations_first() {
        let from = table(&[(1, "rr", &[(10, 1)])]);
        let ops = plan(&from, &Table::default());
        assert_eq!(
            ops,
            vec![Op::DelDest(svc(1), dest(10)), Op::DelService(svc(1))]
        );
    }

    #[test]
    fn adoption_leaves_foreign_destinations_and_settings_alone() {
        let kernel = table(&[(1, "rr", &[(10, 5), (99, 1)]), (2, "rr", &[])]);
        let desired = table(&[(1, "wrr", &[(10, 2), (11, 1)])]);
        let believed = adopt(&desired, &kernel);
        let ops = plan(&believed, &desired);
        // Only the missing destination is added; weight 5 and rr stay, 99 and service 2 untouched.
        assert_eq!(ops, vec![Op::AddDest(svc(1), dest(11), dspec(1))]);
        let d = drift(&believed, &kernel);
        assert_eq!(d.len(), 2, "{d:?}");
    }

    #[test]
    fn repairs_recreate_then_back_off() {
        let believed = table(&[(1, "rr", &[(10, 1)])]);
        let mut r = Repairer::new();
        let names = |k: &ServiceKey| k.to_string();
        let mut now = 0;
        for round in 0..3 {
            let rep = r.round(&believed, &Table::default(), now, &names);
            assert_eq!(rep.ops.len(), 2, "round {round}");
            now += 1000;
        }
        let rep = r.round(&believed, &Table::default(), now, &names);
        assert!(rep.ops.is_empty());
        assert!(
            rep.logs[0].contains("backing off for 30 s"),
            "{:?}",
            rep.logs
        );
        let rep = r.round(&believed, &Table::default(), now + 1000, &names);
        assert!(rep.ops.is_empty());
        let rep = r.round(&believed, &Table::default(), now + 31_000, &names);
        assert_eq!(rep.ops.len(), 2);
    }

    #[test]
    fn a_drain_is_reported_once_and_not_reverted() {
        let believed = table(&[(1, "rr", &[(10, 3)])]);
        let kernel = table(&[(1, "rr", &[(10, 0)])]);
        let mut r = Repairer::new();
        let names = |k: &ServiceKey| k.to_string();
        let rep = r.round(&believed, &kernel, 0, &names);
        assert!(rep.ops.is_empty());
        assert_eq!(rep.logs.len(), 1);
        assert!(rep.logs[0].contains("weight 0 (set 3)"), "{:?}", rep.logs);
        let rep = r.round(&believed, &kernel, 5000, &names);
        assert!(rep.logs.is_empty());
    }

    fn arb_table(max_services: usize) -> impl Strategy<Value = Table> {
        let service = (
            1u8..12,
            prop_oneof![Just("rr"), Just("wrr"), Just("wlc")],
            prop::collection::btree_map(1u8..8, 0u32..4, 0..5),
        );
        prop::collection::vec(service, 0..max_services).prop_map(|v| {
            let mut t = Table::default();
            for (s, sched, dests) in v {
                t.services.insert(
                    svc(s),
                    TableService {
                        spec: ServiceSpec::new(sched, Family::Inet),
                        dests: dests
                            .into_iter()
                            .map(|(d, w)| (dest(d), dspec(w)))
                            .collect(),
                    },
                );
            }
            t
        })
    }

    proptest! {
        /// For random desired tables and random kernels (with services of other tools), adopting
        /// then planning reaches every desired service and destination, and leaves services we do
        /// not manage exactly as they were.
        #[test]
        fn plans_reach_the_desired_table_and_leave_the_rest(
            desired in arb_table(6),
            kernel in arb_table(8),
            next in arb_table(6),
        ) {
            let mut backend = MemoryBackend::with_table(kernel.clone());
            let mut believed = adopt(&desired, &kernel);
            for op in plan(&believed, &desired) {
                backend.apply(&op).map_err(|e| TestCaseError::fail(format!("{op:?}: {e}")))?;
                record(&mut believed, &op);
            }
            let now = backend.dump().map_err(|e| TestCaseError::fail(e.to_string()))?;
            for (k, want) in &desired.services {
                let have = now.services.get(k).ok_or_else(|| TestCaseError::fail("missing service"))?;
                for d in want.dests.keys() {
                    prop_assert!(have.dests.contains_key(d));
                }
            }
            for (k, s) in &kernel.services {
                if !desired.services.contains_key(k) {
                    prop_assert_eq!(now.services.get(k), Some(s));
                }
            }
            // Then a second configuration: from what we programmed to `next`, exactly.
            adopt_new(&mut believed, &next, &now);
            // Destinations our operations set: exactly as planned afterwards. The others were
            // adopted (at start, or found in our service at this reload) and keep their settings.
            let mut touched: BTreeSet<(ServiceKey, DestKey)> = BTreeSet::new();
            for op in plan(&believed, &next) {
                match backend.apply(&op) {
                    Ok(()) => {
                        if let Op::AddDest(k, d, _) | Op::EditDest(k, d, _) = &op {
                            touched.insert((*k, *d));
                        }
                    }
                    // A destination another tool put in our service: adopted, as at start.
                    Err(e) => prop_assert!(e.is_benign_for(&op), "{:?}: {}", op, e),
                }
                record(&mut believed, &op);
            }
            let after = backend.dump().map_err(|e| TestCaseError::fail(e.to_string()))?;
            for (k, want) in &next.services {
                let have = after.services.get(k).ok_or_else(|| TestCaseError::fail("missing service"))?;
                for (d, spec) in &want.dests {
                    if touched.contains(&(*k, *d)) {
                        prop_assert_eq!(have.dests.get(d), Some(spec));
                    } else {
                        prop_assert!(have.dests.contains_key(d));
                    }
                }
                // Destinations of ours that `next` drops are gone; foreign ones may remain.
                if let Some(old) = desired.services.get(k) {
                    for d in old.dests.keys() {
                        if !want.dests.contains_key(d) {
                            prop_assert!(!have.dests.contains_key(d));
                        }
                    }
                }
            }
            for (k, s) in &kernel.services {
                if !desired.services.contains_key(k) && !next.services.contains_key(k) {
                    prop_assert_eq!(after.services.get(k), Some(s));
                }
            }
            prop_assert_eq!(&believed, &{
                let mut b = Table::default();
                for (k, s) in &next.services { b.services.insert(*k, s.clone()); }
                b
            });
        }
    }
}
