//! Runs the engine's actions against the system through an `Edge` (sockets, netlink, GARP,
//! notify), and logs every state change with keepalived's wording plus its cause. The edge is
//! a trait so that ordering (advert first, addresses, GARP only once the kernel confirmed, then
//! notify) is tested without a machine.

use crate::vrrp_log::{cause_line, keepalived_line};
use ka_vrrp::engine::{Engine, Input, InstanceId};
use ka_vrrp::instance::{Action, NotifyTarget, State};
use ka_vrrp::priority::TrackerState;
use ka_vrrp::time::{Duration, Instant};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// What the VRRP thread asks of the system. Slow work (netlink, scripts) must be queued, not
/// done inline: its completion comes back as an engine input.
pub trait Edge {
    /// Sends one VRRP message of an instance to one destination.
    fn send(&mut self, instance: InstanceId, dst: IpAddr, msg: &[u8]);
    /// Queues adding the instance's addresses, routes and rules (answer: `AddressesApplied`).
    fn add_addresses(&mut self, instance: InstanceId);
    /// Queues removing them.
    fn remove_addresses(&mut self, instance: InstanceId);
    /// Queues a GARP / unsolicited NA burst for the instance's addresses.
    fn garp(&mut self, instance: InstanceId, count: u32, interval: Duration);
    /// Queues notify scripts and FIFO lines for a state change.
    fn notify(&mut self, target: NotifyTarget, name: &str, state: State, priority: u8);
    /// Writes a log line.
    fn log(&mut self, line: &str);
    /// As master, a lower priority was heard (`notify_master_rx_lower_pri`).
    fn master_rx_lower(&mut self, _name: &str, _priority: u8) {}
}

/// An instance's last state change, as `status` reports it.
#[derive(Debug, Clone)]
pub struct Transition {
    /// The state it left.
    pub from: State,
    /// The state it entered.
    pub to: State,
    /// Our cause line (the one logged after keepalived's).
    pub cause: String,
    /// When.
    pub at: Instant,
}

/// The engine and its edge.
pub struct Driver<E: Edge> {
    engine: Engine,
    edge: E,
    /// How trackers are named in log lines (`vrrp_script chk_nginx`), indexed by tracker id.
    tracker_names: Vec<String>,
    /// Each instance's last state change, by instance name (kept across reloads).
    last_transition: BTreeMap<String, Transition>,
    /// State changes counted by (instance, state entered, cause kind), for metrics.
    transition_counts: BTreeMap<(String, &'static str, &'static str), u64>,
    /// The time of the input being handled (actions carry none).
    now: Instant,
}

impl<E: Edge> Driver<E> {
    /// A driver for an engine.
    pub fn new(engine: Engine, edge: E) -> Self {
        Driver {
            engine,
            edge,
            tracker_names: Vec::new(),
            last_transition: BTreeMap::new(),
            transition_counts: BTreeMap::new(),
            now: Instant(0),
        }
    }

    /// Each instance's last state change, by instance name.
    pub fn last_transitions(&self) -> &BTreeMap<String, Transition> {
        &self.last_transition
    }

    /// State changes by (instance, state entered, cause kind) since start.
    pub fn transition_counts(&self) -> &BTreeMap<(String, &'static str, &'static str), u64> {
        &self.transition_counts
    }

    /// Names the trackers for log lines (at start and after a reload changed the set).
    pub fn set_tracker_names(&mut self, names: Vec<String>) {
        self.tracker_names = names;
    }

    /// The engine (for status and counters).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine, mutably (reload).
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// The edge (tests inspect it).
    pub fn edge(&self) -> &E {
        &self.edge
    }

    /// The edge, mutably (the event loop drains its queues).
    pub fn edge_mut(&mut self) -> &mut E {
        &mut self.edge
    }

    /// The next deadline the thread must wake for.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.engine.poll_timeout()
    }

    /// Feeds one input and runs the resulting actions, in order.
    pub fn input(&mut self, now: Instant, input: Input) {
        self.now = now;
        let tracker_change = match &input {
            Input::TrackerChanged { tracker, state } => Some((*tracker, *state)),
            _ => None,
        };
        let before: Vec<u8> = self
            .engine
            .instances()
            .iter()
            .map(|i| i.priority())
            .collect();
        let actions = self.engine.handle(now, input);
        if let Some((tracker, state)) = tracker_change {
            self.log_tracker_change(tracker, state, &before);
        }
        self.run(actions);
    }

    /// keepalived's lines for a tracker result and the priority changes it causes, then ours
    /// naming the cause, so an operator sees why an election went the way it did.
    fn log_tracker_change(&mut self, tracker: usize, state: TrackerState, before: &[u8]) {
        let name = self
            .tracker_names
            .get(tracker)
            .cloned()
            .unwrap_or_else(|| format!("tracker {tracker}"));
        let verdict = match state {
            TrackerState::Up => "up".to_string(),
            TrackerState::Down => "down".to_string(),
            TrackerState::Unknown => "unknown".to_string(),
            TrackerState::Value(v) => format!("value {v}"),
        };
        if let Some(script) = name.strip_prefix("vrrp_script ") {
            match state {
                TrackerState::Up => self.edge.log(&format!("VRRP_Script({script}) succeeded")),
                TrackerState::Down => self.edge.log(&format!("VRRP_Script({script}) failed")),
                _ => {}
            }
        }
        let changes: Vec<(String, u8, u8)> = self
            .engine
            .instances()
            .iter()
            .zip(before)
            .filter(|(i, &old)| i.priority() != old)
            .map(|(i, &old)| (i.config().name.clone(), old, i.priority()))
            .collect();
        for (instance, old, new) in changes {
            self.edge.log(&format!(
                "({instance}) Changing effective priority from {old} to {new}"
            ));
            self.edge.log(&format!(
                "({instance}) effective priority {old} -> {new}: {name} is {verdict}"
            ));
        }
    }

    /// Sets the time the next `run` happens at (a reload runs actions outside `input`).
    pub fn set_now(&mut self, now: Instant) {
        self.now = now;
    }

    /// Runs actions the engine returned (also those of a reload).
    pub fn run(&mut self, actions: Vec<(InstanceId, Action)>) {
        for (id, action) in actions {
            match action {
                Action::SendAdvert { priority } => {
                    for (dst, msg) in self.engine.encode_advert(id, priority) {
                        self.edge.send(id, dst, &msg);
                    }
                }
                Action::AddAddresses => self.edge.add_addresses(id),
                Action::RemoveAddresses => self.edge.remove_addresses(id),
                Action::Garp { count, interval } => self.edge.garp(id, count, interval),
                Action::MasterHeardLowerPriority {
                    from,
                    priority,
                    ours,
                } => {
                    let Some(inst) = self.engine.instance(id) else {
                        continue;
                    };
                    let name = inst.config().name.clone();
                    self.edge.log(&format!(
                        "({name}) Received advert from {from} with lower priority {priority}, ours {ours}, forcing new election"
                    ));
                    self.edge.master_rx_lower(&name, ours);
                }
                Action::StateChanged { from, to, cause } => {
                    let Some(inst) = self.engine.instance(id) else {
                        continue;
                    };
                    let name = inst.config().name.clone();
                    let priority = inst.priority();
                    let master_down = inst.master_down_interval();
                    if let Some(line) = keepalived_line(&name, from, to) {
                        self.edge.log(&line);
                    }
                    let line = cause_line(&name, &cause, master_down);
                    self.edge.log(&line);
                    *self
                        .transition_counts
                        .entry((name.clone(), to.as_str(), cause.kind()))
                        .or_default() += 1;
                    self.last_transition.insert(
                        name.clone(),
                        Transition {
                            from,
                            to,
                            cause: line,
                            at: self.now,
                        },
                    );
                    self.edge
                        .notify(NotifyTarget::Instance, &name, to, priority);
                }
                Action::GroupStateChanged { group, from: _, to } => {
                    self.edge.log(&format!(
                        "VRRP_Group({group}) Syncing instances to {} state",
                        to.as_str()
                    ));
                    self.edge.notify(NotifyTarget::Group, &group, to, 0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ka_vrrp::engine::{InstanceSpec, WireConfig};
    use ka_vrrp::instance::InstanceConfig;
    use ka_vrrp::packet::Auth;
    use std::net::Ipv4Addr;

    #[derive(Default)]
    struct Recorder {
        calls: Vec<String>,
    }

    impl Edge for Recorder {
        fn send(&mut self, instance: InstanceId, dst: IpAddr, msg: &[u8]) {
            self.calls
                .push(format!("send {instance} {dst} {}", msg.len()));
        }
        fn add_addresses(&mut self, instance: InstanceId) {
            self.calls.push(format!("add {instance}"));
        }
        fn remove_addresses(&mut self, instance: InstanceId) {
            self.calls.push(format!("remove {instance}"));
        }
        fn garp(&mut self, instance: InstanceId, count: u32, _interval: Duration) {
            self.calls.push(format!("garp {instance} {count}"));
        }
        fn notify(&mut self, _t: NotifyTarget, name: &str, state: State, _p: u8) {
            self.calls.push(format!("notify {name} {}", state.as_str()));
        }
        fn log(&mut self, line: &str) {
            self.calls.push(format!("log {line}"));
        }
    }

    #[test]
    fn takeover_order_is_advert_addresses_notify_then_garp_after_confirmation() {
        let src = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 11));
        let mut c = InstanceConfig::simple("VI_1", 51, 150, src);
        c.version = 3;
        let mut spec = InstanceSpec::plain(c);
        spec.wire = Some(WireConfig {
            src,
            destinations: vec![IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18))],
            unicast_peers: vec![],
            check_unicast_src: false,
            auth: Auth::none(),
            addresses: vec![IpAddr::V4(Ipv4Addr::new(10, 200, 0, 100))],
            v3_checksum_as_v2: false,
        });
        let mut d = Driver::new(Engine::new(vec![spec], vec![]), Recorder::default());
        d.input(Instant(0), Input::Start);
        assert!(d
            .edge()
            .calls
            .contains(&"log (VI_1) Entering BACKUP STATE (init)".to_string()));
        assert!(d.edge().calls.contains(&"notify VI_1 BACKUP".to_string()));
        let t = d.poll_timeout().expect("a down timer");
        d.edge_mut().calls.clear();
        d.input(t, Input::Timeout);
        let calls = &d.edge().calls;
        assert!(calls[0].starts_with("send 0 224.0.0.18"), "{calls:?}");
        assert_eq!(calls[1], "add 0");
        assert!(calls.contains(&"log (VI_1) Entering MASTER STATE".to_string()));
        assert!(
            !calls.iter().any(|c| c.starts_with("garp")),
            "no GARP before the kernel confirms"
        );
        d.edge_mut().calls.clear();
        d.input(
            t,
            Input::AddressesApplied {
                instance: 0,
                ok: true,
            },
        );
        assert_eq!(d.edge().calls, vec!["garp 0 5".to_string()]);
    }

    #[test]
    fn a_script_result_that_moves_the_priority_is_logged_with_its_cause() {
        let src = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 11));
        let mut spec = InstanceSpec::plain(InstanceConfig::simple("VI_1", 51, 100, src));
        spec.bindings = vec![ka_vrrp::priority::Binding {
            tracker: 0,
            weight: -20,
            reverse: false,
        }];
        let mut d = Driver::new(Engine::new(vec![spec], vec![]), Recorder::default());
        d.set_tracker_names(vec!["vrrp_script chk_nginx".to_string()]);
        d.input(Instant(0), Input::Start);
        d.edge_mut().calls.clear();
        d.input(
            Instant(1),
            Input::TrackerChanged {
                tracker: 0,
                state: TrackerState::Down,
            },
        );
        let calls = &d.edge().calls;
        assert!(
            calls.contains(&"log VRRP_Script(chk_nginx) failed".to_string()),
            "{calls:?}"
        );
        assert!(
            calls.contains(&"log (VI_1) Changing effective priority from 100 to 80".to_string()),
            "{calls:?}"
        );
        assert!(
            calls.contains(
                &"log (VI_1) effective priority 100 -> 80: vrrp_script chk_nginx is down"
                    .to_string()
            ),
            "{calls:?}"
        );
    }
}
