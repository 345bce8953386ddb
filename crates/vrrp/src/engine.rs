//! The engine: every instance and sync group of one router, behind one
//! `handle(now, input) -> actions` / `poll_timeout()` interface, so a single thread can own
//! all protocol state and wait on sockets plus one deadline.

use crate::instance::{Action, FaultReason, Instance, InstanceConfig, Received, State};
use crate::packet::{
    decode, peek_vrid, Advert, Auth, DropReason, EncodeOptions, Family, RxMeta, UnicastPeer,
    ValidationContext, Version,
};
use crate::priority::{combine, Binding, TrackerId, TrackerState};
use crate::time::Duration;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// What an instance puts on and expects from the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireConfig {
    /// Advert source address (primary address, `unicast_src_ip` or `mcast_src_ip`).
    pub src: IpAddr,
    /// Where adverts go: the multicast group, or each unicast peer.
    pub destinations: Vec<IpAddr>,
    /// Unicast peers (empty: a multicast instance).
    pub unicast_peers: Vec<UnicastPeer>,
    /// Drop unicast adverts from non-peers.
    pub check_unicast_src: bool,
    /// VRRPv2 authentication.
    pub auth: Auth,
    /// The advertised virtual addresses.
    pub addresses: Vec<IpAddr>,
    /// `v3_checksum_as_v2`.
    pub v3_checksum_as_v2: bool,
}

/// One instance as the engine is given it.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    /// Its settings.
    pub config: InstanceConfig,
    /// Whether it runs over IPv6.
    pub ipv6: bool,
    /// Its trackers (instance-level plus its sync group's).
    pub bindings: Vec<Binding>,
    /// Its wire settings; `None` for protocol-only use (tests, simulations).
    pub wire: Option<WireConfig>,
}

impl InstanceSpec {
    /// An IPv4 instance without trackers or wire settings.
    pub fn plain(config: InstanceConfig) -> Self {
        InstanceSpec {
            config,
            ipv6: false,
            bindings: vec![],
            wire: None,
        }
    }
}

/// A received packet, as the socket layer hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Interface it arrived on.
    pub interface: String,
    /// Source, destination and TTL / hop limit.
    pub meta: RxMeta,
    /// The VRRP message (after the IP header).
    pub msg: Vec<u8>,
}

/// The fault reason trackers raise (one for all of an instance's trackers).
fn tracker_fault() -> FaultReason {
    FaultReason::Tracker("tracked object failed".into())
}
use crate::time::Instant;

/// Index of an instance in the engine (stable for the engine's life).
pub type InstanceId = usize;

/// What happened, as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Start every instance.
    Start,
    /// A deadline from `poll_timeout` passed (calling it early is harmless).
    Timeout,
    /// A packet arrived: it is decoded, validated (every drop counted) and dispatched.
    Packet(Packet),
    /// A valid advert for `vrid` arrived on the instance's interface and family.
    Advert {
        /// VRID carried.
        vrid: u8,
        /// Whether it came over IPv6.
        ipv6: bool,
        /// Its fields.
        received: Received,
    },
    /// A link went down or came back: instances on that interface go to FAULT or leave it
    /// (tracked interfaces with weights are trackers instead; `dont_track_primary` instances
    /// are simply not told).
    InterfaceChanged {
        /// Interface name.
        name: String,
        /// Whether it is up.
        up: bool,
    },
    /// A fault reason appeared (`active`) or cleared for one instance.
    Fault {
        /// Which instance.
        instance: InstanceId,
        /// The reason.
        reason: FaultReason,
        /// Appeared (true) or cleared (false).
        active: bool,
    },
    /// A tracker (script, interface, file, process) changed state.
    TrackerChanged {
        /// Which tracker.
        tracker: TrackerId,
        /// Its new state.
        state: TrackerState,
    },
    /// The kernel confirmed (or refused) the addresses of an instance.
    AddressesApplied {
        /// Which instance.
        instance: InstanceId,
        /// Whether every address was added.
        ok: bool,
    },
    /// Orderly shutdown.
    Shutdown,
}

/// A sync group: members move together.
#[derive(Debug, Clone)]
pub struct SyncGroup {
    /// Its name.
    pub name: String,
    /// Member instances.
    pub members: Vec<InstanceId>,
    /// `sync_group_tracking_weight`: members' tracker weights apply (else they are ignored).
    pub tracking_weight: bool,
}

/// All VRRP state of one router.
#[derive(Debug, Clone)]
pub struct Engine {
    instances: Vec<Instance>,
    ipv6: Vec<bool>,
    groups: Vec<SyncGroup>,
    group_of: Vec<Option<usize>>,
    bindings: Vec<Vec<Binding>>,
    trackers: Vec<TrackerState>,
    group_states: Vec<State>,
    /// Instances per (VRID, family): slot `vrid + 256 * ipv6`.
    by_vrid: Vec<Vec<InstanceId>>,
    wire: Vec<Option<WireConfig>>,
    /// Dropped packets per (instance, reason); `None` = no instance matched.
    drops: BTreeMap<(Option<InstanceId>, DropReason), u64>,
    /// Adverts whose address list differs from ours (logged and counted, still processed:
    /// a deliberate difference from 2.2.7, which drops them and so makes two masters).
    addr_list_mismatches: BTreeMap<InstanceId, u64>,
}

fn index_by_vrid(instances: &[Instance], ipv6: &[bool]) -> Vec<Vec<InstanceId>> {
    let mut idx = vec![Vec::new(); 512];
    for (id, i) in instances.iter().enumerate() {
        let slot = usize::from(i.config().vrid) + if ipv6.get(id) == Some(&true) { 256 } else { 0 };
        idx[slot].push(id);
    }
    idx
}

/// The reload identity of an instance: keepalived matches instances across a reload by VRID,
/// family, interface and unicast source, not by name.
pub type InstanceIdentity = (u8, bool, String, Option<std::net::IpAddr>);

fn identity(i: &InstanceConfig, ipv6: bool) -> InstanceIdentity {
    (i.vrid, ipv6, i.interface.clone(), i.unicast_src)
}

impl InstanceSpec {
    /// Its reload identity: what a reload matches it by to carry its state over.
    pub fn identity(&self) -> InstanceIdentity {
        identity(&self.config, self.ipv6)
    }
}

impl Engine {
    /// An engine for these instances (`(config, is_ipv6)`) and sync groups.
    pub fn new(instances: Vec<InstanceSpec>, groups: Vec<SyncGroup>) -> Self {
        let n = instances.len();
        let mut group_of = vec![None; n];
        for (g, group) in groups.iter().enumerate() {
            for &m in &group.members {
                if let Some(slot) = group_of.get_mut(m) {
                    *slot = Some(g);
                }
            }
        }
        let ipv6 = instances.iter().map(|s| s.ipv6).collect();
        let wire = instances.iter().map(|s| s.wire.clone()).collect();
        let bindings: Vec<Vec<Binding>> = instances.iter().map(|s| s.bindings.clone()).collect();
        let n_trackers = bindings
            .iter()
            .flatten()
            .map(|b| b.tracker + 1)
            .max()
            .unwrap_or(0);
        Engine {
            instances: instances
                .into_iter()
                .map(|s| Instance::new(s.config))
                .collect(),
            ipv6,
            groups,
            group_of,
            bindings,
            trackers: vec![TrackerState::Unknown; n_trackers],
            group_states: Vec::new(),
            by_vrid: Vec::new(),
            wire,
            drops: BTreeMap::new(),
            addr_list_mismatches: BTreeMap::new(),
        }
        .indexed()
    }

    fn indexed(mut self) -> Self {
        self.by_vrid = index_by_vrid(&self.instances, &self.ipv6);
        self
    }

    /// Reload: instances that keep their identity keep their state, timers and tracker
    /// adjustments (a master stays master and advertises first); new ones start; removed ones
    /// release as at shutdown. `trackers` are the tracker states in the new numbering.
    pub fn reload(
        &mut self,
        now: Instant,
        specs: Vec<InstanceSpec>,
        groups: Vec<SyncGroup>,
        trackers: Vec<TrackerState>,
    ) -> Vec<(InstanceId, Action)> {
        let mut out = Vec::new();
        let mut old: Vec<Option<Instance>> = std::mem::take(&mut self.instances)
            .into_iter()
            .map(Some)
            .collect();
        let old_ipv6 = std::mem::take(&mut self.ipv6);
        let mut fresh = Vec::new();
        let mut instances = Vec::with_capacity(specs.len());
        for (id, spec) in specs.iter().enumerate() {
            let key = spec.identity();
            let found = old.iter().enumerate().position(|(n, o)| {
                o.as_ref().is_some_and(|i| {
                    identity(i.config(), old_ipv6.get(n).copied().unwrap_or(false)) == key
                })
            });
            match found.and_then(|n| old[n].take()) {
                Some(mut i) => {
                    let mut a = vec![];
                    i.reconfigure(now, spec.config.clone(), &mut a);
                    out.extend(a.into_iter().map(|x| (id, x)));
                    instances.push(i);
                }
                None => {
                    instances.push(Instance::new(spec.config.clone()));
                    fresh.push(id);
                }
            }
        }
        // Removed instances release like at shutdown (reported against no surviving id).
        for mut i in old.into_iter().flatten() {
            let mut a = vec![];
            i.shutdown(&mut a);
            out.extend(a.into_iter().map(|x| (usize::MAX, x)));
        }
        let fresh_engine = Engine::new(specs, groups);
        self.ipv6 = fresh_engine.ipv6;
        self.groups = fresh_engine.groups;
        self.group_of = fresh_engine.group_of;
        self.bindings = fresh_engine.bindings;
        self.trackers = trackers;
        self.wire = fresh_engine.wire;
        self.instances = instances;
        self.by_vrid = index_by_vrid(&self.instances, &self.ipv6);
        let before: Vec<State> = self.instances.iter().map(Instance::state).collect();
        let all: Vec<InstanceId> = (0..self.instances.len()).collect();
        for id in 0..self.instances.len() {
            self.apply_trackers(now, id, &mut out);
        }
        for id in fresh {
            let mut a = vec![];
            self.instances[id].start(now, &mut a);
            out.extend(a.into_iter().map(|x| (id, x)));
        }
        self.settle(now, &before, &all, &mut out);
        self.count(now, &out);
        out
    }

    /// Re-evaluates one instance's trackers.
    fn apply_trackers(
        &mut self,
        now: Instant,
        id: InstanceId,
        out: &mut Vec<(InstanceId, Action)>,
    ) {
        let (mut delta, fault) = combine(&self.bindings[id], &self.trackers);
        if let Some(g) = self.group_of[id] {
            if !self.groups[g].tracking_weight {
                delta = 0;
            }
        }
        let mut a = vec![];
        let i = &mut self.instances[id];
        let reason = tracker_fault();
        if fault && !i.has_fault(&reason) {
            i.add_fault(now, reason, &mut a);
        } else if !fault && i.has_fault(&reason) {
            i.clear_fault(now, &reason, &mut a);
        }
        i.set_tracker_delta(now, delta, &mut a);
        out.extend(a.into_iter().map(|x| (id, x)));
    }

    /// An instance.
    pub fn instance(&self, id: InstanceId) -> Option<&Instance> {
        self.instances.get(id)
    }

    /// The trackers' current states, by `TrackerId` (they carry over a reload).
    pub fn tracker_states(&self) -> &[TrackerState] {
        &self.trackers
    }

    /// The trackers an instance follows and their weights (status shows what moves a priority).
    pub fn bindings(&self, id: InstanceId) -> &[Binding] {
        self.bindings.get(id).map(Vec::as_slice).unwrap_or_default()
    }

    /// Every instance.
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// The earliest deadline any instance needs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.instances
            .iter()
            .filter_map(Instance::poll_timeout)
            .min()
    }

    /// Decodes and validates a packet for every instance it may be for; drops are counted.
    fn receive_packet(&mut self, p: &Packet) -> Vec<(InstanceId, Received)> {
        let ipv6 = p.meta.src.is_ipv6();
        let Some(vrid) = peek_vrid(&p.msg) else {
            *self.drops.entry((None, DropReason::TooShort)).or_default() += 1;
            return vec![];
        };
        let slot = usize::from(vrid) + if ipv6 { 256 } else { 0 };
        let candidates: Vec<InstanceId> = self
            .by_vrid
            .get(slot)
            .map(|ids| {
                ids.iter()
                    .copied()
                    .filter(|&id| self.instances[id].config().interface == p.interface)
                    .collect()
            })
            .unwrap_or_default();
        if candidates.is_empty() {
            *self
                .drops
                .entry((None, DropReason::UnknownVrid))
                .or_default() += 1;
            return vec![];
        }
        let mut accepted = Vec::new();
        for id in candidates {
            let Some(w) = self.wire.get(id).and_then(Option::as_ref) else {
                continue;
            };
            let cfg = self.instances[id].config();
            let version = if cfg.version == 2 {
                Version::V2
            } else {
                Version::V3
            };
            let mut ctx = ValidationContext::new(version);
            ctx.auth = w.auth;
            ctx.interval_cs =
                u16::try_from(cfg.advert_int.as_micros() / 10_000).unwrap_or(u16::MAX);
            ctx.unicast_peers = &w.unicast_peers;
            ctx.check_unicast_src = w.check_unicast_src;
            // The address list is compared below: a mismatch is counted, not dropped.
            ctx.expected_addresses = None;
            ctx.v3_checksum_as_v2 = w.v3_checksum_as_v2;
            match decode(&p.msg, &p.meta, &ctx) {
                Ok(adv) => {
                    if adv.addresses != w.addresses {
                        *self.addr_list_mismatches.entry(id).or_default() += 1;
                    }
                    accepted.push((
                        id,
                        Received {
                            src: p.meta.src,
                            priority: adv.priority,
                            interval: Duration::from_centis(u64::from(adv.interval_cs)),
                        },
                    ));
                }
                Err(reason) => *self.drops.entry((Some(id), reason)).or_default() += 1,
            }
        }
        accepted
    }

    /// The advert packets an instance sends for `SendAdvert { priority }`: one VRRP message per
    /// destination (the IPv4 checksum covers the destination). Empty without wire settings.
    pub fn encode_advert(&self, id: InstanceId, priority: u8) -> Vec<(IpAddr, Vec<u8>)> {
        let (Some(i), Some(Some(w))) = (self.instances.get(id), self.wire.get(id)) else {
            return vec![];
        };
        let cfg = i.config();
        let advert = Advert {
            version: if cfg.version == 2 {
                Version::V2
            } else {
                Version::V3
            },
            vrid: cfg.vrid,
            priority,
            interval_cs: u16::try_from(cfg.advert_int.as_micros() / 10_000).unwrap_or(u16::MAX),
            addresses: w.addresses.clone(),
            auth: w.auth,
            checksum: 0,
        };
        let opts = EncodeOptions {
            v3_checksum_as_v2: w.v3_checksum_as_v2,
        };
        w.destinations
            .iter()
            .filter(|d| Family::of(d) == Family::of(&w.src))
            .filter_map(|d| {
                advert
                    .encode(w.src, *d, &opts)
                    .ok()
                    .map(|bytes| (*d, bytes))
            })
            .collect()
    }

    /// Drop counters: (instance or none, reason) -> count. The reason's `counter_name()` is
    /// the name used in logs, stats and metrics.
    pub fn drop_counters(&self) -> &BTreeMap<(Option<InstanceId>, DropReason), u64> {
        &self.drops
    }

    /// Adverts accepted although their address list differs from ours, per instance.
    pub fn address_list_mismatches(&self) -> &BTreeMap<InstanceId, u64> {
        &self.addr_list_mismatches
    }

    /// Zeroes the counters (keepalived's STATS_CLEAR): drops, address-list mismatches and each
    /// instance's advert and transition counts; the master address stays.
    pub fn clear_counters(&mut self) {
        self.drops.clear();
        self.addr_list_mismatches.clear();
        for i in &mut self.instances {
            let st = i.stats_mut();
            *st = crate::instance::InstanceStats {
                master_address: st.master_address,
                last_transition: st.last_transition,
                ..Default::default()
            };
        }
    }

    /// Processes one input and returns what to do, in order.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<(InstanceId, Action)> {
        let out = self.handle_input(now, input);
        self.count(now, &out);
        out
    }

    /// Counts what the actions say happened: adverts sent, transitions.
    fn count(&mut self, now: Instant, out: &[(InstanceId, Action)]) {
        for (id, action) in out {
            let Some(i) = self.instances.get_mut(*id) else {
                continue;
            };
            let own = i.config().primary_address;
            let st = i.stats_mut();
            match action {
                Action::SendAdvert { priority } => {
                    st.adverts_sent += 1;
                    if *priority == 0 {
                        st.priority_zero_sent += 1;
                    }
                }
                Action::StateChanged { from, to, .. } => {
                    st.last_transition = Some(now);
                    if *to == State::Master {
                        st.became_master += 1;
                        st.master_address = Some(own);
                    } else if *from == State::Master {
                        st.released_master += 1;
                        st.master_address = None;
                    }
                }
                _ => {}
            }
        }
    }

    /// Counts an advert accepted for instance `id`.
    fn count_received(&mut self, id: InstanceId, received: &Received) {
        if let Some(i) = self.instances.get_mut(id) {
            let backup = i.state() != State::Master;
            let st = i.stats_mut();
            st.adverts_received += 1;
            if received.priority == 0 {
                st.priority_zero_received += 1;
            } else if backup {
                st.master_address = Some(received.src);
            }
        }
    }

    fn handle_input(&mut self, now: Instant, input: Input) -> Vec<(InstanceId, Action)> {
        let mut out = Vec::new();
        // Only sync-group rules look at the states before this input.
        let before: Vec<State> = if self.groups.is_empty() {
            Vec::new()
        } else {
            self.instances.iter().map(Instance::state).collect()
        };
        let mut touched: Vec<InstanceId> = Vec::new();
        match input {
            Input::Start => {
                touched.extend(0..self.instances.len());
                for id in 0..self.instances.len() {
                    self.apply_trackers(now, id, &mut out);
                }
                for (id, i) in self.instances.iter_mut().enumerate() {
                    let mut a = vec![];
                    i.start(now, &mut a);
                    out.extend(a.into_iter().map(|x| (id, x)));
                }
            }
            Input::Timeout => {
                for (id, i) in self.instances.iter_mut().enumerate() {
                    if i.poll_timeout().is_some_and(|t| t <= now) {
                        let mut a = vec![];
                        i.timeout(now, &mut a);
                        out.extend(a.into_iter().map(|x| (id, x)));
                        touched.push(id);
                    }
                }
            }
            Input::InterfaceChanged { name, up } => {
                let reason = FaultReason::InterfaceDown(name.clone());
                for (id, inst) in self.instances.iter_mut().enumerate() {
                    if inst.config().interface != name {
                        continue;
                    }
                    let mut a = vec![];
                    if up {
                        inst.clear_fault(now, &reason, &mut a);
                    } else {
                        inst.add_fault(now, reason.clone(), &mut a);
                    }
                    out.extend(a.into_iter().map(|x| (id, x)));
                    touched.push(id);
                }
            }
            Input::Packet(p) => {
                for (id, received) in self.receive_packet(&p) {
                    self.count_received(id, &received);
                    let mut a = vec![];
                    self.instances[id].receive(now, received, &mut a);
                    out.extend(a.into_iter().map(|x| (id, x)));
                    touched.push(id);
                }
            }
            Input::Advert {
                vrid,
                ipv6,
                received,
            } => {
                let slot = usize::from(vrid) + if ipv6 { 256 } else { 0 };
                let ids = self.by_vrid.get(slot).cloned().unwrap_or_default();
                for id in ids {
                    self.count_received(id, &received);
                    let mut a = vec![];
                    self.instances[id].receive(now, received, &mut a);
                    out.extend(a.into_iter().map(|x| (id, x)));
                    touched.push(id);
                }
            }
            Input::Fault {
                instance,
                reason,
                active,
            } => {
                touched.push(instance);
                if let Some(i) = self.instances.get_mut(instance) {
                    let mut a = vec![];
                    if active {
                        i.add_fault(now, reason, &mut a);
                    } else {
                        i.clear_fault(now, &reason, &mut a);
                    }
                    out.extend(a.into_iter().map(|x| (instance, x)));
                }
            }
            Input::TrackerChanged { tracker, state } => {
                if tracker >= self.trackers.len() {
                    self.trackers.resize(tracker + 1, TrackerState::Unknown);
                }
                self.trackers[tracker] = state;
                for id in 0..self.instances.len() {
                    if self.bindings[id].iter().any(|b| b.tracker == tracker) {
                        self.apply_trackers(now, id, &mut out);
                        touched.push(id);
                    }
                }
            }
            Input::AddressesApplied { instance, ok } => {
                touched.push(instance);
                if let Some(i) = self.instances.get_mut(instance) {
                    let mut a = vec![];
                    i.addresses_applied(now, ok, &mut a);
                    out.extend(a.into_iter().map(|x| (instance, x)));
                }
            }
            Input::Shutdown => {
                for (id, i) in self.instances.iter_mut().enumerate() {
                    let mut a = vec![];
                    i.shutdown(&mut a);
                    out.extend(a.into_iter().map(|x| (id, x)));
                }
                return out;
            }
        }
        self.settle(now, &before, &touched, &mut out);
        out
    }

    /// Applies sync-group rules until nothing changes, then lets lone instances and complete
    /// groups take over.
    fn settle(
        &mut self,
        now: Instant,
        before: &[State],
        touched: &[InstanceId],
        out: &mut Vec<(InstanceId, Action)>,
    ) {
        for group in &self.groups {
            let members: Vec<InstanceId> = group.members.clone();
            // One member left MASTER for BACKUP: the whole group goes BACKUP.
            let dropped = members.iter().any(|&m| {
                before.get(m) == Some(&State::Master)
                    && self.instances.get(m).map(Instance::state) == Some(State::Backup)
            });
            // Any member in FAULT: the others follow (as a group fault).
            let own_fault = members.iter().any(|&m| {
                self.instances
                    .get(m)
                    .is_some_and(|i| i.state() == State::Fault && !i.faults_only_group(&group.name))
            });
            for &m in &members {
                let Some(i) = self.instances.get_mut(m) else {
                    continue;
                };
                let mut a = vec![];
                let reason = FaultReason::Tracker(format!("sync group {}", group.name));
                if own_fault {
                    if i.state() != State::Fault {
                        i.add_fault(now, reason, &mut a);
                    }
                } else if i.has_fault(&reason) {
                    i.clear_fault(now, &reason, &mut a);
                }
                if dropped && !own_fault {
                    i.force_backup(now, &group.name, &mut a);
                }
                out.extend(a.into_iter().map(|x| (m, x)));
            }
        }
        // Takeovers: a lone instance whose timer expired goes MASTER; a group only when every
        // member is MASTER already or wants to be.
        let mut candidates: Vec<InstanceId> = touched.to_vec();
        for &id in touched {
            if let Some(g) = self.group_of.get(id).copied().flatten() {
                candidates.extend(self.groups[g].members.iter().copied());
            }
        }
        for id in candidates {
            if id >= self.instances.len() || !self.instances[id].wants_master() {
                continue;
            }
            let ready = match self.group_of[id] {
                None => true,
                Some(g) => self.groups[g].members.iter().all(|&m| {
                    self.instances
                        .get(m)
                        .is_some_and(|i| i.state() == State::Master || i.wants_master())
                }),
            };
            if ready {
                let mut a = vec![];
                self.instances[id].release_to_master(now, &mut a);
                out.extend(a.into_iter().map(|x| (id, x)));
            }
        }
        // Group states, for group notifies.
        self.group_states.resize(self.groups.len(), State::Init);
        for (g, group) in self.groups.iter().enumerate() {
            let states: Vec<State> = group
                .members
                .iter()
                .filter_map(|&m| self.instances.get(m).map(Instance::state))
                .collect();
            let now_state = if states.contains(&State::Fault) {
                State::Fault
            } else if !states.is_empty() && states.iter().all(|s| *s == State::Master) {
                State::Master
            } else if states.iter().all(|s| *s == State::Init) {
                State::Init
            } else {
                State::Backup
            };
            let from = self.group_states[g];
            if from != now_state {
                self.group_states[g] = now_state;
                let first = group.members.first().copied().unwrap_or(0);
                out.push((
                    first,
                    Action::GroupStateChanged {
                        group: group.name.clone(),
                        from,
                        to: now_state,
                    },
                ));
            }
        }
    }
}

impl Instance {
    /// Whether its only fault reasons come from its sync group.
    pub fn faults_only_group(&self, group: &str) -> bool {
        self.fault_reasons()
            .iter()
            .all(|r| matches!(r, FaultReason::Tracker(t) if t == &format!("sync group {group}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::priority::Binding;
    use crate::time::Duration;
    use std::net::{IpAddr, Ipv4Addr};

    fn cfg(name: &str, vrid: u8, prio: u8) -> InstanceSpec {
        let a = IpAddr::V4(Ipv4Addr::new(10, 200, 0, prio));
        InstanceSpec::plain(InstanceConfig::simple(name, vrid, prio, a))
    }

    #[test]
    fn sync_group_waits_for_every_member() {
        let mut e = Engine::new(
            vec![cfg("A", 1, 100), cfg("B", 2, 150)],
            vec![SyncGroup {
                name: "G".into(),
                members: vec![0, 1],
                tracking_weight: false,
            }],
        );
        e.handle(Instant(0), Input::Start);
        // B (prio 150) times out first, but waits for A.
        let b_down = e
            .instance(1)
            .map(|i| i.master_down_interval())
            .unwrap_or_default();
        e.handle(Instant(0) + b_down, Input::Timeout);
        assert_eq!(e.instance(1).map(Instance::state), Some(State::Backup));
        let a_down = e
            .instance(0)
            .map(|i| i.master_down_interval())
            .unwrap_or_default();
        e.handle(Instant(0) + a_down, Input::Timeout);
        assert_eq!(e.instance(0).map(Instance::state), Some(State::Master));
        assert_eq!(e.instance(1).map(Instance::state), Some(State::Master));
        // A hears a higher priority: the whole group goes BACKUP.
        let r = Received {
            src: IpAddr::V4(Ipv4Addr::new(10, 200, 0, 250)),
            priority: 250,
            interval: Duration::from_secs(1),
        };
        e.handle(
            Instant(5_000_000),
            Input::Advert {
                vrid: 1,
                ipv6: false,
                received: r,
            },
        );
        assert_eq!(e.instance(0).map(Instance::state), Some(State::Backup));
        assert_eq!(e.instance(1).map(Instance::state), Some(State::Backup));
        // A fault on B pulls A into FAULT; clearing it brings both back.
        let reason = FaultReason::InterfaceDown("eth0".into());
        e.handle(
            Instant(6_000_000),
            Input::Fault {
                instance: 1,
                reason: reason.clone(),
                active: true,
            },
        );
        assert_eq!(e.instance(0).map(Instance::state), Some(State::Fault));
        e.handle(
            Instant(7_000_000),
            Input::Fault {
                instance: 1,
                reason,
                active: false,
            },
        );
        assert_eq!(e.instance(0).map(Instance::state), Some(State::Backup));
        assert_eq!(e.instance(1).map(Instance::state), Some(State::Backup));
    }

    #[test]
    fn trackers_drive_priority_and_fault() {
        let mut spec = cfg("A", 1, 100);
        spec.bindings = vec![
            Binding {
                tracker: 0,
                weight: 0,
                reverse: false,
            },
            Binding {
                tracker: 1,
                weight: -30,
                reverse: false,
            },
        ];
        let mut e = Engine::new(vec![spec], vec![]);
        // An unweighted tracker with no result yet holds the instance in FAULT.
        e.handle(Instant(0), Input::Start);
        assert_eq!(e.instance(0).map(Instance::state), Some(State::Fault));
        e.handle(
            Instant(1),
            Input::TrackerChanged {
                tracker: 0,
                state: TrackerState::Up,
            },
        );
        assert_eq!(e.instance(0).map(Instance::state), Some(State::Backup));
        e.handle(
            Instant(2),
            Input::TrackerChanged {
                tracker: 1,
                state: TrackerState::Down,
            },
        );
        assert_eq!(e.instance(0).map(Instance::priority), Some(70));
        e.handle(
            Instant(3),
            Input::TrackerChanged {
                tracker: 0,
                state: TrackerState::Down,
            },
        );
        assert_eq!(e.instance(0).map(Instance::state), Some(State::Fault));
    }

    #[test]
    fn counters_follow_adverts_and_transitions() {
        let mut e = Engine::new(vec![cfg("A", 1, 100)], vec![]);
        e.handle(Instant(0), Input::Start);
        let peer: IpAddr = "10.0.0.9".parse().expect("ip");
        let heard = |prio: u8| Input::Advert {
            vrid: 1,
            ipv6: false,
            received: Received {
                src: peer,
                priority: prio,
                interval: Duration::from_secs(1),
            },
        };
        e.handle(Instant(10), heard(200));
        let st = e.instance(0).map(|i| i.stats().clone()).unwrap_or_default();
        assert_eq!(st.adverts_received, 1);
        assert_eq!(st.master_address, Some(peer));
        // The master leaves: priority 0, then we take over after Skew_Time.
        e.handle(Instant(20), heard(0));
        let t = e.poll_timeout().expect("timer");
        e.handle(t, Input::Timeout);
        let i = e.instance(0).expect("instance");
        assert_eq!(i.state(), State::Master);
        assert_eq!(i.stats().priority_zero_received, 1);
        assert_eq!(i.stats().became_master, 1);
        assert!(i.stats().adverts_sent >= 1);
        assert_eq!(i.stats().master_address, Some(i.config().primary_address));
        e.handle(t, Input::Shutdown);
        let i = e.instance(0).expect("instance");
        assert_eq!(i.stats().priority_zero_sent, 1);
        assert_eq!(i.stats().released_master, 1);
    }

    #[test]
    fn a_master_reports_a_lower_priority_master() {
        let mut e = Engine::new(vec![cfg("A", 1, 150)], vec![]);
        e.handle(Instant(0), Input::Start);
        let t = e.poll_timeout().expect("timer");
        e.handle(t, Input::Timeout);
        let out = e.handle(
            t,
            Input::Advert {
                vrid: 1,
                ipv6: false,
                received: Received {
                    src: "10.0.0.9".parse().expect("ip"),
                    priority: 100,
                    interval: Duration::from_secs(1),
                },
            },
        );
        assert!(out.iter().any(|(_, a)| matches!(
            a,
            Action::MasterHeardLowerPriority {
                priority: 100,
                ours: 150,
                ..
            }
        )));
    }

    #[test]
    fn reload_matches_by_identity_not_name() {
        let mut e = Engine::new(vec![cfg("A", 1, 100), cfg("B", 2, 100)], vec![]);
        e.handle(Instant(0), Input::Start);
        let down = e
            .instance(0)
            .map(|i| i.master_down_interval())
            .unwrap_or_default();
        e.handle(Instant(0) + down, Input::Timeout);
        assert_eq!(e.instance(0).map(Instance::state), Some(State::Master));
        // Renamed, same VRID/interface: same instance, still master, advertises first.
        let mut renamed = cfg("A_renamed", 1, 100);
        renamed.config.priority = 120;
        let out = e.reload(
            Instant(5_000_000),
            vec![renamed, cfg("C", 3, 100)],
            vec![],
            vec![],
        );
        assert_eq!(e.instance(0).map(Instance::state), Some(State::Master));
        assert_eq!(
            out.first(),
            Some(&(0, Action::SendAdvert { priority: 120 }))
        );
        // B is gone: it released; C is new: it starts in BACKUP.
        assert_eq!(e.instance(1).map(Instance::state), Some(State::Backup));
        assert!(out.iter().any(|(id, a)| *id == usize::MAX
            && matches!(
                a,
                Action::StateChanged {
                    to: State::Init,
                    ..
                }
            )));
    }

    #[test]
    fn group_state_changes_are_reported() {
        let mut e = Engine::new(
            vec![cfg("A", 1, 100), cfg("B", 2, 100)],
            vec![SyncGroup {
                name: "G".into(),
                members: vec![0, 1],
                tracking_weight: false,
            }],
        );
        let out = e.handle(Instant(0), Input::Start);
        assert!(out.iter().any(|(_, a)| matches!(
            a,
            Action::GroupStateChanged {
                to: State::Backup,
                ..
            }
        )));
        let down = e
            .instance(0)
            .map(|i| i.master_down_interval())
            .unwrap_or_default();
        let out = e.handle(Instant(0) + down, Input::Timeout);
        assert!(out.iter().any(|(_, a)| matches!(
            a,
            Action::GroupStateChanged {
                to: State::Master,
                ..
            }
        )));
    }

    fn wired(name: &str, prio: u8, me: u8, password: &[u8]) -> InstanceSpec {
        let src = IpAddr::V4(Ipv4Addr::new(10, 200, 0, me));
        let mut spec = cfg(name, 51, prio);
        spec.config.version = 2;
        spec.config.primary_address = src;
        spec.wire = Some(WireConfig {
            src,
            destinations: vec![IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18))],
            unicast_peers: vec![],
            check_unicast_src: false,
            auth: Auth::password(password),
            addresses: vec![IpAddr::V4(Ipv4Addr::new(10, 200, 0, 100))],
            v3_checksum_as_v2: false,
        });
        spec
    }

    fn packet_from(e: &Engine, priority: u8) -> Packet {
        let (dst, msg) = e
            .encode_advert(0, priority)
            .into_iter()
            .next()
            .expect("one destination");
        let src = e.wire[0].as_ref().map(|w| w.src).expect("wire");
        Packet {
            interface: "eth0".into(),
            meta: RxMeta {
                src,
                dst,
                ttl: Some(255),
            },
            msg,
        }
    }

    #[test]
    fn real_packets_drive_the_election() {
        let mut a = Engine::new(vec![wired("A", 200, 1, b"secret")], vec![]);
        let mut b = Engine::new(vec![wired("B", 100, 2, b"secret")], vec![]);
        a.handle(Instant(0), Input::Start);
        b.handle(Instant(0), Input::Start);
        let t = Instant(0)
            + a.instance(0)
                .map(|i| i.master_down_interval())
                .unwrap_or_default();
        a.handle(t, Input::Timeout);
        assert_eq!(a.instance(0).map(Instance::state), Some(State::Master));
        // B hears A's real advert: timer reset, stays backup.
        let p = packet_from(&a, 200);
        let before = b.poll_timeout();
        b.handle(Instant(3_000_000), Input::Packet(p));
        assert!(b.poll_timeout() > before);
        assert!(b.drop_counters().is_empty());
        // A wrong password is dropped and counted by its reason.
        let mut c = Engine::new(vec![wired("C", 100, 3, b"other")], vec![]);
        c.handle(Instant(0), Input::Start);
        c.handle(Instant(1), Input::Packet(packet_from(&a, 200)));
        assert_eq!(
            c.drop_counters().get(&(Some(0), DropReason::AuthFailure)),
            Some(&1)
        );
        // An unknown VRID is counted without an instance.
        let mut p = packet_from(&a, 200);
        p.interface = "eth9".into();
        c.handle(Instant(2), Input::Packet(p));
        assert_eq!(
            c.drop_counters().get(&(None, DropReason::UnknownVrid)),
            Some(&1)
        );
    }

    #[test]
    fn address_list_mismatch_is_counted_not_dropped() {
        let mut a = Engine::new(vec![wired("A", 200, 1, b"s")], vec![]);
        let mut b_spec = wired("B", 100, 2, b"s");
        if let Some(w) = b_spec.wire.as_mut() {
            w.addresses.push(IpAddr::V4(Ipv4Addr::new(10, 200, 0, 101)));
        }
        let mut b = Engine::new(vec![b_spec], vec![]);
        a.handle(Instant(0), Input::Start);
        b.handle(Instant(0), Input::Start);
        let before = b.poll_timeout();
        b.handle(Instant(1_000_000), Input::Packet(packet_from(&a, 200)));
        assert!(
            b.poll_timeout() > before,
            "processed: the down timer was reset"
        );
        assert_eq!(b.address_list_mismatches().get(&0), Some(&1));
    }

    #[test]
    fn interface_down_is_a_fault_for_its_instances() {
        let mut e = Engine::new(vec![cfg("A", 1, 100), cfg("B", 2, 100)], vec![]);
        e.handle(Instant(0), Input::Start);
        e.handle(
            Instant(1),
            Input::InterfaceChanged {
                name: "eth0".into(),
                up: false,
            },
        );
        assert_eq!(e.instance(0).map(Instance::state), Some(State::Fault));
        assert_eq!(e.instance(1).map(Instance::state), Some(State::Fault));
        e.handle(
            Instant(2),
            Input::InterfaceChanged {
                name: "eth1".into(),
                up: true,
            },
        );
        assert_eq!(e.instance(0).map(Instance::state), Some(State::Fault));
        e.handle(
            Instant(3),
            Input::InterfaceChanged {
                name: "eth0".into(),
                up: true,
            },
        );
        assert_eq!(e.instance(0).map(Instance::state), Some(State::Backup));
    }
}
