//! From the validated configuration to the VRRP engine's inputs: instance specs, sync groups
//! and the tracker table. Pure (the interface addresses the engine needs come from a lookup
//! the caller supplies), so it is tested without a machine.

use ka_config::model::{Auth as CfgAuth, Config, InitialState, Instance, TrackRef};
use ka_vrrp::engine::{InstanceSpec, SyncGroup, WireConfig};
use ka_vrrp::instance::InstanceConfig;
use ka_vrrp::packet::{Auth, UnicastPeer};
use ka_vrrp::priority::{Binding, TrackerId};
use ka_vrrp::time::Duration;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a tracker watches; its index in [`Setup::trackers`] is its `TrackerId`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrackerKey {
    /// A network interface (link watcher).
    Interface(String),
    /// A `vrrp_script` (script runner).
    Script(String),
    /// A `track_file` (file watcher).
    File(String),
    /// A `vrrp_track_process` (process watcher).
    Process(String),
}

/// Everything the engine is built from.
#[derive(Debug, Clone)]
pub struct Setup {
    /// One spec per `vrrp_instance`, in file order.
    pub instances: Vec<InstanceSpec>,
    /// Sync groups, members as instance indices.
    pub groups: Vec<SyncGroup>,
    /// The trackers, indexed by `TrackerId`.
    pub trackers: Vec<TrackerKey>,
}

/// Addresses the engine needs that only the running system knows.
pub trait InterfaceAddresses {
    /// The interface's primary IPv4 address.
    fn primary_ipv4(&self, ifname: &str) -> Option<Ipv4Addr>;
    /// The interface's IPv6 link-local address.
    fn link_local(&self, ifname: &str) -> Option<Ipv6Addr>;
}

impl Setup {
    /// The trackers as log lines name them (`vrrp_script chk_nginx`), indexed by tracker id.
    pub fn tracker_names(&self) -> Vec<String> {
        self.trackers
            .iter()
            .map(|t| match t {
                TrackerKey::Interface(n) => format!("track_interface {n}"),
                TrackerKey::Script(n) => format!("vrrp_script {n}"),
                TrackerKey::File(n) => format!("track_file {n}"),
                TrackerKey::Process(n) => format!("vrrp_track_process {n}"),
            })
            .collect()
    }

    fn tracker(&mut self, key: TrackerKey) -> TrackerId {
        match self.trackers.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                self.trackers.push(key);
                self.trackers.len() - 1
            }
        }
    }
}

/// `Duration` from centiseconds, seconds and microseconds of the model.
fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

/// Builds the engine's inputs from a validated configuration.
pub fn build(cfg: &Config, addrs: &dyn InterfaceAddresses) -> Setup {
    let mut setup = Setup {
        instances: vec![],
        groups: vec![],
        trackers: vec![],
    };
    let g = &cfg.global;
    for inst in &cfg.instances {
        let ipv6 = inst
            .virtual_ipaddress
            .first()
            .is_some_and(|a| a.address.is_ipv6());
        let ifname = inst.interface.clone().unwrap_or_default();
        let src: Option<IpAddr> = inst.unicast_src_ip.or(inst.mcast_src_ip).or_else(|| {
            if ipv6 {
                addrs.link_local(&ifname).map(IpAddr::V6)
            } else {
                addrs.primary_ipv4(&ifname).map(IpAddr::V4)
            }
        });
        let unspecified = if ipv6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        let mut config = instance_config(cfg, inst, src.unwrap_or(unspecified), ipv6);
        // use_vmac: adverts are sent and received on the macvlan (a peer's advert, from the
        // same virtual MAC, is delivered to our macvlan, not to the base interface); the
        // source address stays the base interface's.
        if inst.use_vmac.is_some() && !inst.vmac_xmit_base {
            config.interface = crate::vmac::vip_interface(inst);
        }
        let mut bindings = Vec::new();
        push_bindings(&mut setup, cfg, inst, &mut bindings);
        let destinations: Vec<IpAddr> = if inst.unicast_peer.is_empty() {
            vec![if ipv6 {
                g.vrrp_mcast_group6
            } else {
                g.vrrp_mcast_group4
            }]
        } else {
            inst.unicast_peer.iter().map(|p| p.address).collect()
        };
        let unicast_peers = inst
            .unicast_peer
            .iter()
            .map(|p| UnicastPeer {
                addr: p.address,
                min_ttl: p.min_ttl.unwrap_or(0),
                max_ttl: p.max_ttl.unwrap_or(255),
            })
            .collect();
        let auth = match &inst.authentication {
            Some(CfgAuth::Pass(p)) if inst.version == 2 => Auth::password(p.as_bytes()),
            _ => Auth::none(),
        };
        let wire = WireConfig {
            src: src.unwrap_or(unspecified),
            destinations,
            unicast_peers,
            check_unicast_src: inst.check_unicast_src,
            auth,
            addresses: inst.virtual_ipaddress.iter().map(|a| a.address).collect(),
            v3_checksum_as_v2: false,
        };
        setup.instances.push(InstanceSpec {
            config,
            ipv6,
            bindings,
            wire: Some(wire),
        });
    }
    for group in &cfg.sync_groups {
        let members: Vec<usize> = group
            .group
            .iter()
            .filter_map(|m| cfg.instances.iter().position(|i| &i.name == m))
            .collect();
        // Group-level trackers apply to every member.
        let mut extra = Vec::new();
        for t in &group.track_interface {
            let id = setup.tracker(TrackerKey::Interface(t.name.clone()));
            extra.push(binding(id, t, 0));
        }
        for t in &group.track_script {
            let base = cfg
                .vrrp_scripts
                .iter()
                .find(|s| s.name == t.name)
                .map_or(0, |s| s.weight);
            let id = setup.tracker(TrackerKey::Script(t.name.clone()));
            extra.push(binding(id, t, base));
        }
        for &m in &members {
            if let Some(spec) = setup.instances.get_mut(m) {
                spec.bindings.extend(extra.iter().copied());
            }
        }
        setup.groups.push(SyncGroup {
            name: group.name.clone(),
            members,
            tracking_weight: group.sync_group_tracking_weight,
        });
    }
    setup
}

impl Setup {
    /// Renumbers the trackers so that those already known keep their ids (`previous` is the
    /// running table): threads reporting on them need not change. New trackers are appended.
    pub fn keep_tracker_ids(&mut self, previous: &[TrackerKey]) {
        let mut table: Vec<TrackerKey> = previous.to_vec();
        let mut map = Vec::with_capacity(self.trackers.len());
        for key in &self.trackers {
            let id = match table.iter().position(|k| k == key) {
                Some(i) => i,
                None => {
                    table.push(key.clone());
                    table.len() - 1
                }
            };
            map.push(id);
        }
        for spec in &mut self.instances {
            for b in &mut spec.bindings {
                if let Some(&id) = map.get(b.tracker) {
                    b.tracker = id;
                }
            }
        }
        self.trackers = table;
    }
}

fn binding(tracker: TrackerId, r: &TrackRef, default_weight: i32) -> Binding {
    Binding {
        tracker,
        weight: r.weight.unwrap_or(default_weight),
        reverse: r.reverse,
    }
}

fn push_bindings(setup: &mut Setup, cfg: &Config, inst: &Instance, out: &mut Vec<Binding>) {
    for t in &inst.track_interface {
        let id = setup.tracker(TrackerKey::Interface(t.name.clone()));
        out.push(binding(id, t, 0));
    }
    for t in &inst.track_script {
        if let Some(s) = cfg.vrrp_scripts.iter().find(|s| s.name == t.name) {
            let id = setup.tracker(TrackerKey::Script(t.name.clone()));
            let mut b = binding(id, t, s.weight);
            if t.weight.is_none() {
                b.reverse = s.weight_reverse;
            }
            out.push(b);
        }
    }
    for t in &inst.track_file {
        if let Some(f) = cfg.track_files.iter().find(|f| f.name == t.name) {
            let id = setup.tracker(TrackerKey::File(t.name.clone()));
            let weight = t.weight.unwrap_or(f.weight.clamp(-254, 254) as i32);
            out.push(Binding {
                tracker: id,
                weight,
                reverse: t.reverse || f.weight_reverse,
            });
        }
    }
    for t in &inst.track_process {
        if let Some(p) = cfg.track_processes.iter().find(|p| p.name == t.name) {
            let id = setup.tracker(TrackerKey::Process(t.name.clone()));
            let mut b = binding(id, t, p.weight);
            if t.weight.is_none() {
                b.reverse = p.weight_reverse;
            }
            out.push(b);
        }
    }
}

fn instance_config(cfg: &Config, inst: &Instance, src: IpAddr, ipv6: bool) -> InstanceConfig {
    let g = &cfg.global;
    InstanceConfig {
        name: inst.name.clone(),
        vrid: inst.virtual_router_id,
        version: if ipv6 { 3 } else { inst.version },
        priority: inst.priority,
        wants_master: inst.state == InitialState::Master,
        advert_int: Duration::from_centis(u64::from(inst.advert_int_cs)),
        nopreempt: inst.nopreempt,
        preempt_delay: Duration::from_micros(inst.preempt_delay_us),
        down_timer_adverts: inst.down_timer_adverts,
        lower_prio_no_advert: inst.lower_prio_no_advert,
        higher_prio_send_advert: inst.higher_prio_send_advert,
        primary_address: src,
        garp_master_repeat: inst.garp_master_repeat,
        garp_master_delay: secs(inst.garp_master_delay),
        garp_master_refresh: secs(inst.garp_master_refresh),
        garp_master_refresh_repeat: inst.garp_master_refresh_repeat,
        garp_lower_prio_repeat: inst.garp_lower_prio_repeat,
        garp_lower_prio_delay: secs(inst.garp_lower_prio_delay),
        garp_interval: Duration::from_micros(if ipv6 {
            g.vrrp_gna_interval_us
        } else {
            g.vrrp_garp_interval_us
        }),
        startup_delay: Duration::from_micros(g.vrrp_startup_delay_us),
        auth_ah: matches!(inst.authentication, Some(CfgAuth::Ah(_))),
        interface: inst.interface.clone().unwrap_or_default(),
        unicast_src: inst.unicast_src_ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ka_config::env::FakeEnvironment;
    use ka_config::preprocess::Options;

    struct Addrs;
    impl InterfaceAddresses for Addrs {
        fn primary_ipv4(&self, _: &str) -> Option<Ipv4Addr> {
            Some(Ipv4Addr::new(10, 200, 0, 11))
        }
        fn link_local(&self, _: &str) -> Option<Ipv6Addr> {
            "fe80::1".parse().ok()
        }
    }

    fn load(text: &str) -> Config {
        let dir = std::env::temp_dir().join(format!("ka-setup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let p = dir.join("k.conf");
        std::fs::write(&p, text).ok();
        let opts = Options {
            config_id: "t".into(),
            ..Options::default()
        };
        ka_config::load(&p, &opts, &FakeEnvironment::lab()).config
    }

    #[test]
    fn instances_groups_and_trackers() {
        let cfg = load(
            "vrrp_script chk {\n script /bin/true\n weight -20\n}\n\
             vrrp_instance A {\n state MASTER\n interface eth0\n virtual_router_id 51\n priority 150\n \
             advert_int 1\n authentication {\n auth_type PASS\n auth_pass secret\n }\n \
             track_script {\n chk\n }\n track_interface {\n eth1 weight 10\n }\n \
             virtual_ipaddress {\n 10.200.0.100/24\n }\n}\n\
             vrrp_instance B {\n interface eth0\n virtual_router_id 52\n version 3\n advert_int 0.1\n \
             unicast_src_ip 10.200.0.11\n unicast_peer {\n 10.200.0.12\n }\n \
             virtual_ipaddress {\n 10.200.0.101/24\n }\n}\n\
             vrrp_sync_group G {\n group {\n A\n B\n }\n}\n",
        );
        let s = build(&cfg, &Addrs);
        assert_eq!(s.instances.len(), 2);
        let a = &s.instances[0];
        assert_eq!(a.config.priority, 150);
        assert!(a.config.wants_master);
        assert_eq!(a.config.advert_int, Duration::from_secs(1));
        let w = a.wire.as_ref().expect("wire");
        assert_eq!(w.src, IpAddr::V4(Ipv4Addr::new(10, 200, 0, 11)));
        assert_eq!(
            w.destinations,
            vec![IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18))]
        );
        assert_eq!(w.auth, Auth::password(b"secret"));
        assert_eq!(a.bindings.len(), 2);
        assert_eq!(
            s.trackers,
            vec![
                TrackerKey::Interface("eth1".into()),
                TrackerKey::Script("chk".into())
            ]
        );
        let b = &s.instances[1];
        assert_eq!(b.config.advert_int, Duration::from_millis(100));
        assert_eq!(
            b.config.unicast_src,
            Some(IpAddr::V4(Ipv4Addr::new(10, 200, 0, 11)))
        );
        assert_eq!(
            b.wire.as_ref().map(|w| w.destinations.clone()),
            Some(vec![IpAddr::V4(Ipv4Addr::new(10, 200, 0, 12))])
        );
        assert_eq!(s.groups[0].members, vec![0, 1]);
    }
}
