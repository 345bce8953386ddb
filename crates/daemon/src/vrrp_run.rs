//! The running VRRP side: the engine on this thread, waiting with `poll` on its sockets, an
//! absolute timerfd deadline, a signalfd and a wake-up pipe; slow work (netlink, GARP bursts,
//! notify scripts) on a worker thread whose results come back as engine inputs; a link watcher
//! thread; a script runner thread.
//!
//! ```text
//!  sockets ──recv──►┐                     ┌──► worker thread: netlink add/del, GARP/NA, notify
//!  timerfd ────────►│  VRRP thread:       │         │ AddressesApplied
//!  signalfd ───────►│  Driver<SysEdge>    ├─────────┘ (channel + wake pipe)
//!  wake pipe ──────►│  (engine + actions) │◄── link watcher: InterfaceChanged / TrackerChanged
//!                   └──send──► sockets    │◄── script runner: TrackerChanged
//! ```

use crate::clock::{self, DeadlineTimer};
use crate::firewall::Firewall;
use crate::mail::{self, Mailer};
use crate::notify_fifo::NotifyFifos;
use crate::process::{PidFiles, Request, Signals};
use crate::script_runner;
use crate::scripts::ScriptPolicy;
use crate::status;
use crate::trackers;
use crate::vmac;
use crate::vrrp_driver::{Driver, Edge};
use crate::vrrp_setup::{self, InterfaceAddresses, Setup, TrackerKey};
use anyhow::Context;
use ka_config::model::script::Script;
use ka_config::model::{Config, Instance, Notify, VirtualAddress};
use ka_config::model::{RouteLine, RuleLine};
use ka_sys::garp::{interface_info, GarpSocket, NaSocket};
use ka_sys::netlink::{
    ipv4_broadcast, AddrFlags, AddressSpec, Event, Family as NlFamily, IpPrefix, Netlink,
    NetlinkError, RouteKind, RouteSpec, RuleAction, RuleSpec, Watcher,
};
use ka_sys::vrrp_socket::{Family, SocketOptions, VrrpSocket};
use ka_vrrp::engine::{Engine, Input, InstanceId, Packet};
use ka_vrrp::instance::{generic_notify_args, NotifyTarget, State};
use ka_vrrp::packet::RxMeta;
use ka_vrrp::priority::TrackerState;
use ka_vrrp::time::Duration;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc::{channel, Receiver, Sender};

use crate::logging::{log, sd_notify};

/// Interface addresses from the running system.
struct SysAddrs;

impl InterfaceAddresses for SysAddrs {
    fn primary_ipv4(&self, ifname: &str) -> Option<Ipv4Addr> {
        interface_info(ifname).ok().and_then(|i| i.ipv4)
    }
    fn link_local(&self, ifname: &str) -> Option<Ipv6Addr> {
        interface_info(ifname).ok().and_then(|i| i.ipv6_link_local)
    }
}

/// Work for the worker thread.
enum Work {
    Add {
        instance: InstanceId,
        specs: Vec<AddressSpec>,
    },
    Remove {
        specs: Vec<AddressSpec>,
    },
    Garp {
        ifname: String,
        v4: Vec<Ipv4Addr>,
        v6: Vec<Ipv6Addr>,
        count: u32,
        interval: Duration,
    },
    /// A notify script: who it runs as and whether it may run (user lookups, path checks)
    /// is decided here, on the worker, never on the VRRP thread.
    Run {
        policy: ScriptPolicy,
        script: Script,
        /// Arguments appended (the generic `notify`'s four).
        extra: Vec<String>,
    },
    /// `virtual_routes` / `virtual_rules`: added after the addresses, removed before them.
    Routes {
        add: bool,
        routes: Vec<RouteSpec>,
        rules: Vec<RuleSpec>,
    },
    /// Accept mode off: a master's VIPs enter (or leave) the nftables drop set.
    Firewall {
        add: bool,
        addrs: Vec<IpAddr>,
    },
    /// Exit: delete the nftables tables.
    FirewallTeardown,
    /// A static address to put back; not an instance's, so nothing is confirmed.
    AddStatic {
        specs: Vec<AddressSpec>,
    },
    /// A status dump (SIGUSR1/SIGUSR2/JSON): built on the VRRP thread, written here.
    WriteFile {
        path: std::path::PathBuf,
        contents: String,
    },
    /// Answered once everything queued before it is done (shutdown ordering).
    Flush(Sender<()>),
}

/// Inputs from other threads, plus the pipe that wakes the poll loop.
#[derive(Clone)]
struct Inbox {
    tx: Sender<Msg>,
    wake: std::sync::Arc<OwnedFd>,
}

/// What other threads tell the VRRP thread.
enum Msg {
    /// An engine input.
    Input(Input),
    /// An address disappeared from an interface (someone ran `ip addr del`).
    AddressRemoved(IpAddr),
    /// An interface we use came back with a new ifindex: its sockets must be reopened.
    LinkRecreated(String),
    /// A route or policy rule was removed (by someone else, or by the kernel with its
    /// interface).
    RoutingRemoved(Removed),
    /// `keepalived-rs status` or `/metrics` asks for a copy of the VRRP side's state.
    Status(Sender<status::View>),
}

/// Sentinel socket index of an instance whose interface does not exist (yet):
/// `dynamic_interfaces`, or an IPv6 link-local still tentative. Sends are dropped.
const NO_SOCKET: usize = usize::MAX;

impl Inbox {
    fn send(&self, input: Input) {
        self.post(Msg::Input(input));
    }
    fn post(&self, msg: Msg) {
        if self.tx.send(msg).is_ok() {
            let _ = nix::unistd::write(&*self.wake, &[1u8]);
        }
    }
}

/// The edge on a real system.
struct SysEdge {
    sockets: Vec<VrrpSocket>,
    /// Socket of each instance.
    socket_of: Vec<usize>,
    src_of: Vec<IpAddr>,
    /// TTL of each instance's adverts: 255, or `unicast_ttl` for unicast peers.
    ttl_of: Vec<u8>,
    addresses: Vec<Vec<AddressSpec>>,
    routes: Vec<(Vec<RouteSpec>, Vec<RuleSpec>)>,
    garp_of: Vec<(String, Vec<Ipv4Addr>, Vec<Ipv6Addr>)>,
    /// Notify scripts of the instances that have any (most have none: no copy kept).
    instance_notify: BTreeMap<String, Notify>,
    /// The LVS side's inbox, told of instance states (`lvs_sync_daemon`).
    lvs_states: Option<Sender<crate::lvs_run::Cmd>>,
    group_notify: BTreeMap<String, Notify>,
    work: Sender<Work>,
    /// For the common case of a few addresses, the add is done here, right after the advert:
    /// one netlink round trip (~0.1 ms) instead of a thread hand-over (~1 ms under load).
    nl: Option<Netlink>,
    inbox: Inbox,
    /// `-V`: addresses, routes and rules stay when the daemon stops.
    keep_on_stop: bool,
    stopping: bool,
    /// GARP / NA sockets per interface, for bursts sent inline (no spacing, few packets).
    garp_sockets: BTreeMap<String, (Option<GarpSocket>, Option<NaSocket>)>,
    /// Who scripts run as, and which may run.
    scripts: ScriptPolicy,
    /// `notify_fifo` / `vrrp_notify_fifo`.
    fifos: NotifyFifos,
    /// `notify_fifo` and `vrrp_notify_fifo` as opened (a reload reopens them when they change).
    fifo_settings: [ka_config::model::NotifyFifo; 2],
    /// Per instance: accept mode off (`no_accept`, or strict and not the owner).
    no_accept: Vec<bool>,
    /// SMTP alerts: the mail thread and `router_id`, when mail is configured.
    mailer: Option<(Mailer, String)>,
    /// (is a group, name) with `smtp_alert` on.
    mail_on: BTreeSet<(bool, String)>,
}

/// Largest back-to-back GARP/NA burst sent inline; bigger or spaced bursts go to the worker.
const INLINE_GARPS: usize = 64;

/// Most addresses added inline on the VRRP thread; more go to the worker so that a mass
/// takeover never holds up adverts.
const INLINE_ADDRESSES: usize = 4;
/// How long the VRRP thread waits for the kernel to add an address before it gives the job to
/// the worker. The kernel answers in microseconds; this only bounds a stalled kernel.
const INLINE_NETLINK_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(20);

impl Edge for SysEdge {
    fn send(&mut self, instance: InstanceId, dst: IpAddr, msg: &[u8]) {
        let (Some(&s), Some(&src)) = (self.socket_of.get(instance), self.src_of.get(instance))
        else {
            return;
        };
        if let Some(sock) = self.sockets.get_mut(s) {
            let ttl = self.ttl_of.get(instance).copied().unwrap_or(255);
            if let Err(e) = sock.send(src, dst, msg, ttl) {
                log(&format!("send to {dst} failed: {e}"));
            }
        }
    }
    fn add_addresses(&mut self, instance: InstanceId) {
        self.firewall(instance, true);
        self.add_vips(instance);
        // Routes and rules after the addresses (a route may use a VIP as its source).
        if let Some((routes, rules)) = self.routes.get(instance).cloned() {
            if !routes.is_empty() || !rules.is_empty() {
                let _ = self.work.send(Work::Routes {
                    add: true,
                    routes,
                    rules,
                });
            }
        }
    }
    fn remove_addresses(&mut self, instance: InstanceId) {
        if self.stopping && self.keep_on_stop {
            return;
        }
        if let Some((routes, rules)) = self.routes.get(instance).cloned() {
            if !routes.is_empty() || !rules.is_empty() {
                let _ = self.work.send(Work::Routes {
                    add: false,
                    routes,
                    rules,
                });
            }
        }
        let specs = self.addresses.get(instance).cloned().unwrap_or_default();
        let _ = self.work.send(Work::Remove { specs });
        self.firewall(instance, false);
    }
    fn garp(&mut self, instance: InstanceId, count: u32, interval: Duration) {
        let Some((ifname, v4, v6)) = self.garp_of.get(instance).cloned() else {
            return;
        };
        let total = count as usize * (v4.len() + v6.len());
        if interval.as_micros() == 0 && total <= INLINE_GARPS {
            // Clients follow the new master as soon as these are out: no thread hand-over.
            let (g, n) = self
                .garp_sockets
                .entry(ifname.clone())
                .or_insert_with(|| (GarpSocket::open(&ifname).ok(), NaSocket::open(&ifname).ok()));
            for _ in 0..count {
                announce_once(g.as_ref(), n.as_ref(), &v4, &v6);
            }
            return;
        }
        let _ = self.work.send(Work::Garp {
            ifname,
            v4,
            v6,
            count,
            interval,
        });
    }
    fn notify(&mut self, target: NotifyTarget, name: &str, state: State, priority: u8) {
        let group = target == NotifyTarget::Group;
        if let (NotifyTarget::Instance, Some(tx)) = (target, &self.lvs_states) {
            let _ = tx.send(crate::lvs_run::Cmd::VrrpState {
                instance: name.to_string(),
                master: state == State::Master,
            });
        }
        if let Some((mailer, router_id)) = &self.mailer {
            if state != State::Init && self.mail_on.contains(&(group, name.to_string())) {
                let (subject, body) = mail::vrrp_message(router_id, group, name, state);
                mailer.alert(subject, body);
            }
        }
        let n = match target {
            NotifyTarget::Instance => self.instance_notify.get(name).cloned(),
            NotifyTarget::Group => self.group_notify.get(name).cloned(),
        };
        let Some(n) = n else {
            self.fifos.write(target, name, state, priority);
            return;
        };
        let specific = match state {
            State::Master => n.master.clone(),
            State::Backup => n.backup.clone(),
            State::Fault => n.fault.clone(),
            State::Init => n.stop.clone(),
        };
        if let Some(script) = specific {
            self.run_script(script, Vec::new());
        }
        if let Some(script) = n.generic {
            let extra = generic_notify_args(target, name, state, priority).to_vec();
            self.run_script(script, extra);
        }
        self.fifos.write(target, name, state, priority);
    }
    fn log(&mut self, line: &str) {
        log(line);
    }

    fn master_rx_lower(&mut self, name: &str, priority: u8) {
        let script = self
            .instance_notify
            .get(name)
            .and_then(|n| n.master_rx_lower_pri.clone());
        if let Some(script) = script {
            self.run_script(script, Vec::new());
        }
        self.fifos.write_line(&format!(
            "INSTANCE \"{name}\" MASTER_RX_LOWER_PRI {priority}\n"
        ));
    }
}

impl SysEdge {
    /// Hands a notify script to the worker.
    fn run_script(&self, script: Script, extra: Vec<String>) {
        let _ = self.work.send(Work::Run {
            policy: self.scripts.clone(),
            script,
            extra,
        });
    }

    /// Accept mode off: the instance's addresses enter or leave the drop set (worker thread).
    fn firewall(&mut self, instance: InstanceId, add: bool) {
        if !self.no_accept.get(instance).copied().unwrap_or(false) {
            return;
        }
        let addrs: Vec<IpAddr> = self
            .addresses
            .get(instance)
            .map(|v| v.iter().map(|a| a.address).collect())
            .unwrap_or_default();
        let _ = self.work.send(Work::Firewall { add, addrs });
    }

    /// Adds an instance's addresses: inline for a few, through the worker for more.
    fn add_vips(&mut self, instance: InstanceId) {
        let specs = self.addresses.get(instance).cloned().unwrap_or_default();
        if specs.len() <= INLINE_ADDRESSES {
            if let Some(nl) = self.nl.as_mut() {
                // A kernel that does not answer within INLINE_NETLINK_TIMEOUT hands the job to
                // the worker (re-adding what went in is harmless): adverts must not wait.
                if let Some(ok) = add_addresses(nl, &specs) {
                    self.inbox.send(Input::AddressesApplied { instance, ok });
                    return;
                }
                log("netlink is slow to answer: the worker adds the addresses");
            }
        }
        let _ = self.work.send(Work::Add { instance, specs });
    }
}

/// keepalived's scope names.
fn scope(s: &str) -> Option<u8> {
    match s {
        "global" => Some(0),
        "site" => Some(200),
        "link" => Some(253),
        "host" => Some(254),
        "nowhere" => Some(255),
        n => n.parse().ok(),
    }
}

/// The netlink spec of a VIP line.
fn address_spec(a: &VirtualAddress, default_if: &str) -> Option<AddressSpec> {
    let ifname = a.dev.as_deref().unwrap_or(default_if);
    let ifindex = interface_info(ifname).ok()?.index;
    let mut spec = AddressSpec::new(ifindex, a.address, a.prefix_len);
    if let (IpAddr::V4(v4), Some(b)) = (a.address, a.broadcast.as_deref()) {
        spec.broadcast = match b {
            "+" => Some(ipv4_broadcast(v4, a.prefix_len)),
            "-" => None,
            other => other.parse().ok(),
        };
    }
    spec.scope = a.scope.as_deref().and_then(scope);
    spec.label = a.label.clone();
    spec.peer = a
        .peer
        .as_deref()
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok());
    let mut flags = AddrFlags::NONE;
    for f in &a.flags {
        match f.as_str() {
            "-nodad" | "nodad" => flags |= AddrFlags::NODAD,
            "home" => flags |= AddrFlags::HOME,
            "mngtmpaddr" => flags |= AddrFlags::MNGTMPADDR,
            "noprefixroute" => flags |= AddrFlags::NOPREFIXROUTE,
            _ => {}
        }
    }
    spec.flags = flags;
    // keepalived adds IPv6 /128 VIPs deprecated, so the kernel does not use them as source.
    spec.preferred_lft = match (a.address, a.preferred_lft.as_deref()) {
        (_, Some("forever")) => None,
        (_, Some(n)) => n.parse().ok(),
        (IpAddr::V6(_), None) if a.prefix_len == 128 => Some(0),
        _ => None,
    };
    Some(spec)
}

/// A routing table by number or by the names every system has.
fn table(t: &str) -> Option<u32> {
    match t {
        "main" => Some(254),
        "local" => Some(255),
        "default" => Some(253),
        n => n.parse().ok(),
    }
}

/// The netlink spec of a `virtual_routes` line (the common forms; others are logged).
fn route_spec(r: &RouteLine, default_if: &str) -> Option<RouteSpec> {
    let opt = |k: &str| {
        r.options
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    let gateway = opt("via")
        .or(opt("gw"))
        .and_then(|g| g.parse::<IpAddr>().ok());
    let v6 = r.to.contains(':') || gateway.is_some_and(|g| g.is_ipv6());
    let dst = if r.to == "default" {
        IpPrefix::new(
            if v6 {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            },
            0,
        )
    } else {
        let (a, len) = ka_config::model::addr::parse_prefix(&r.to)?;
        IpPrefix::new(a, len)
    };
    let mut spec = RouteSpec::new(dst);
    spec.gateway = gateway;
    let dev = opt("dev").or(opt("oif"));
    let unicast = r.kind.as_deref().is_none_or(|k| k == "unicast");
    if unicast && (dev.is_some() || gateway.is_none()) {
        spec.ifindex = interface_info(dev.unwrap_or(default_if))
            .ok()
            .map(|i| i.index);
    }
    spec.src = opt("src").and_then(|a| a.parse().ok());
    if let Some(t) = opt("table").and_then(table) {
        spec.table = t;
    }
    spec.metric = opt("metric")
        .or(opt("priority"))
        .or(opt("preference"))
        .and_then(|m| m.parse().ok());
    spec.scope = opt("scope").and_then(scope);
    spec.kind = match r.kind.as_deref() {
        Some("blackhole") => RouteKind::Blackhole,
        Some("unreachable") => RouteKind::Unreachable,
        Some("prohibit") => RouteKind::Prohibit,
        _ => RouteKind::Unicast,
    };
    spec.protocol = opt("proto")
        .or(opt("protocol"))
        .and_then(|p| p.parse().ok());
    Some(spec)
}

/// The netlink spec of a `virtual_rules` line (the common forms).
fn rule_spec(r: &RuleLine) -> Option<RuleSpec> {
    let opt = |k: &str| {
        r.options
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    let flag = |k: &str| r.options.iter().any(|(n, _)| n == k);
    let prefix = |v: Option<&str>| {
        v.filter(|v| *v != "all")
            .and_then(ka_config::model::addr::parse_prefix)
            .map(|(a, l)| IpPrefix::new(a, l))
    };
    let from = prefix(opt("from"));
    let to = prefix(opt("to"));
    let v6 = r.inet6
        || from
            .as_ref()
            .or(to.as_ref())
            .is_some_and(|p| p.addr.is_ipv6());
    let action = if let Some(t) = opt("table").or(opt("lookup")).and_then(table) {
        RuleAction::Table(t)
    } else if flag("blackhole") {
        RuleAction::Blackhole
    } else if flag("unreachable") {
        RuleAction::Unreachable
    } else if flag("prohibit") {
        RuleAction::Prohibit
    } else {
        return None;
    };
    let mut spec = RuleSpec::new(if v6 { NlFamily::V6 } else { NlFamily::V4 }, action);
    spec.from = from;
    spec.to = to;
    spec.priority = opt("preference")
        .or(opt("priority"))
        .or(opt("pref"))
        .and_then(|p| p.parse().ok());
    if let Some(m) = opt("fwmark") {
        let (mark, mask) = m.split_once('/').map_or((m, None), |(a, b)| (a, Some(b)));
        spec.fwmark = number(mark);
        spec.fwmask = mask.and_then(number);
    }
    spec.iif = opt("iif").map(String::from);
    spec.oif = opt("oif").map(String::from);
    Some(spec)
}

/// A number written in decimal or `0x` hex (fwmarks).
fn number(x: &str) -> Option<u32> {
    match x.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => x.parse().ok(),
    }
}

/// Routes and rules of an instance.
fn instance_routes(inst: &Instance) -> (Vec<RouteSpec>, Vec<RuleSpec>) {
    let ifname = inst.interface.clone().unwrap_or_default();
    let routes = inst
        .virtual_routes
        .iter()
        .filter_map(|r| route_spec(r, &ifname))
        .collect();
    let rules = inst.virtual_rules.iter().filter_map(rule_spec).collect();
    (routes, rules)
}

fn instance_addresses(inst: &Instance) -> Vec<AddressSpec> {
    let base = inst.interface.clone().unwrap_or_default();
    // With use_vmac, addresses meant for the base interface go on the macvlan.
    let vif = vmac::vip_interface(inst);
    inst.virtual_ipaddress
        .iter()
        .chain(&inst.virtual_ipaddress_excluded)
        .filter_map(|a| {
            if vif != base && a.dev.as_deref().is_none_or(|d| d == base) {
                let mut moved = a.clone();
                moved.dev = Some(vif.clone());
                address_spec(&moved, &vif)
            } else {
                address_spec(a, &base)
            }
        })
        .collect()
}

/// Adds addresses in order; an address already there counts as added. Some(all went in) or
/// None when the kernel did not answer in time (the caller decides who retries).
fn add_addresses(nl: &mut Netlink, specs: &[AddressSpec]) -> Option<bool> {
    let mut ok = true;
    for s in specs {
        match nl.add_address(s) {
            Ok(()) => {}
            Err(NetlinkError::Timeout) => return None,
            Err(e) if e.already_done() => {}
            Err(e) => {
                log(&format!("adding {} failed: {e}", s.address));
                ok = false;
            }
        }
    }
    Some(ok)
}

/// The worker: netlink changes, GARP bursts, scripts. Never blocks the VRRP thread.
fn worker(rx: Receiver<Work>, inbox: Inbox) {
    normal_priority();
    let mut firewall = Firewall::default();
    let mut nl = match Netlink::open() {
        Ok(n) => Some(n),
        Err(e) => {
            log(&format!("netlink unavailable: {e}"));
            None
        }
    };
    while let Ok(work) = rx.recv() {
        match work {
            Work::Add { instance, specs } => {
                let ok = match nl.as_mut() {
                    Some(nl) => add_addresses(nl, &specs).unwrap_or_else(|| {
                        log("adding addresses failed: netlink timed out");
                        false
                    }),
                    None => false,
                };
                inbox.send(Input::AddressesApplied { instance, ok });
            }
            Work::Remove { specs } => {
                if let Some(nl) = nl.as_mut() {
                    for s in &specs {
                        if let Err(e) = nl.del_address(s) {
                            if !e.already_done() {
                                log(&format!("removing {} failed: {e}", s.address));
                            }
                        }
                    }
                }
            }
            Work::Garp {
                ifname,
                v4,
                v6,
                count,
                interval,
            } => {
                let garp = if v4.is_empty() {
                    None
                } else {
                    GarpSocket::open(&ifname).ok()
                };
                let na = if v6.is_empty() {
                    None
                } else {
                    NaSocket::open(&ifname).ok()
                };
                for _ in 0..count {
                    announce_once(garp.as_ref(), na.as_ref(), &v4, &v6);
                    if interval.as_micros() > 0 {
                        std::thread::sleep(std::time::Duration::from_micros(interval.as_micros()));
                    }
                }
            }
            Work::Run {
                policy,
                script,
                extra,
            } => {
                let Some(mut launch) = policy.launch(&script) else {
                    continue;
                };
                launch.argv.extend(extra);
                if let Some(mut cmd) = launch.command() {
                    match cmd.spawn() {
                        // Reaped by a small thread: notify scripts are fire-and-forget.
                        Ok(mut child) => {
                            std::thread::spawn(move || {
                                let _ = child.wait();
                            });
                        }
                        Err(e) => log(&format!("cannot run {}: {e}", launch.argv[0])),
                    }
                }
            }
            Work::Routes { add, routes, rules } => {
                if let Some(nl) = nl.as_mut() {
                    if add {
                        for r in &routes {
                            if let Err(e) = nl.add_route(r) {
                                if !e.already_done() {
                                    log(&format!("adding route to {:?} failed: {e}", r.dst));
                                }
                            }
                        }
                        for r in &rules {
                            if let Err(e) = nl.add_rule(r) {
                                if !e.already_done() {
                                    log(&format!("adding rule failed: {e}"));
                                }
                            }
                        }
                    } else {
                        for r in &rules {
                            let _ = nl.del_rule(r);
                        }
                        for r in &routes {
                            let _ = nl.del_route(r);
                        }
                    }
                }
            }
            Work::Firewall { add, addrs } => firewall.set(add, &addrs),
            Work::FirewallTeardown => firewall.teardown(),
            Work::WriteFile { path, contents } => {
                if let Err(e) = std::fs::write(&path, contents) {
                    log(&format!("cannot write {}: {e}", path.display()));
                }
            }
            Work::AddStatic { specs } => {
                if let Some(nl) = nl.as_mut() {
                    let _ = add_addresses(nl, &specs);
                }
            }
            Work::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// Watches links: interface trackers and the instances' own interfaces. An interface is
/// usable when it is up with carrier and, for interfaces of IPv6 instances (`own6`), when it
/// has a link-local address that is not tentative (DAD running after the link came up): until
/// then adverts cannot be sent from it, so its instances are in FAULT.
fn link_watcher(
    inbox: Inbox,
    trackers: Vec<(usize, String)>,
    own: Vec<String>,
    own6: Vec<String>,
    routes: bool,
) {
    normal_priority();
    let Ok(mut w) = Watcher::open_with_routes(routes) else {
        log("link watcher unavailable");
        return;
    };
    let mut last: BTreeMap<String, bool> = BTreeMap::new();
    let mut index_of: BTreeMap<String, u32> = BTreeMap::new();
    let mut link_ok: BTreeMap<String, bool> = BTreeMap::new();
    let mut last_link: BTreeMap<String, bool> = BTreeMap::new();
    // Link-locals per ifindex: address -> tentative.
    let mut link_locals: BTreeMap<u32, BTreeMap<Ipv6Addr, bool>> = BTreeMap::new();
    // Know today's ifindexes, so a deleted and re-created interface is recognised.
    if let Ok(mut nl) = Netlink::open() {
        for l in nl.links().unwrap_or_default() {
            index_of.insert(l.name.clone(), l.ifindex);
            link_ok.insert(l.name.clone(), l.up && l.running);
        }
        for a in nl.addresses().unwrap_or_default() {
            note_link_local(&mut link_locals, &a, true);
        }
    }
    let has_usable_ll = |link_locals: &BTreeMap<u32, BTreeMap<Ipv6Addr, bool>>,
                         index_of: &BTreeMap<String, u32>,
                         name: &str| {
        index_of
            .get(name)
            .and_then(|i| link_locals.get(i))
            .is_some_and(|m| m.values().any(|tentative| !tentative))
    };
    for name in &own6 {
        last.insert(
            name.clone(),
            link_ok.get(name).copied().unwrap_or(false)
                && has_usable_ll(&link_locals, &index_of, name),
        );
    }
    loop {
        // Nothing here is periodic: sleep until the kernel reports something (an idle daemon
        // should not wake up for nothing).
        let events = match w.next_events(std::time::Duration::from_secs(3600)) {
            Ok(e) => e,
            Err(e) => {
                log(&format!("link watcher: {e}"));
                // Never spin on a broken socket.
                std::thread::sleep(std::time::Duration::from_secs(1));
                continue;
            }
        };
        let mut touched: Vec<String> = Vec::new();
        for ev in events {
            match ev {
                Event::Link {
                    ifindex,
                    name,
                    up,
                    running,
                } => {
                    if let Some(old) = index_of.insert(name.clone(), ifindex) {
                        if old != ifindex && own.contains(&name) {
                            inbox.post(Msg::LinkRecreated(name.clone()));
                        }
                    }
                    link_ok.insert(name.clone(), up && running);
                    touched.push(name);
                }
                Event::LinkDeleted { name, ifindex } => {
                    link_ok.insert(name.clone(), false);
                    link_locals.remove(&ifindex);
                    touched.push(name);
                }
                Event::AddressAdded(a) if note_link_local(&mut link_locals, &a, true) => {
                    touched.extend(
                        index_of
                            .iter()
                            .filter(|(_, i)| **i == a.ifindex)
                            .map(|(n, _)| n.clone()),
                    );
                }
                Event::AddressRemoved(a) => {
                    if note_link_local(&mut link_locals, &a, false) {
                        touched.extend(
                            index_of
                                .iter()
                                .filter(|(_, i)| **i == a.ifindex)
                                .map(|(n, _)| n.clone()),
                        );
                    }
                    inbox.post(Msg::AddressRemoved(a.address));
                }
                Event::RouteRemoved { dst, table } => {
                    inbox.post(Msg::RoutingRemoved(Removed::Route { dst, table }));
                }
                Event::RuleRemoved { priority, from, to } => {
                    inbox.post(Msg::RoutingRemoved(Removed::Rule { priority, from, to }));
                }
                Event::Overrun => {
                    // The kernel dropped notifications: rebuild the picture from dumps.
                    log("link watcher: netlink events were lost; re-reading links and addresses");
                    if let Ok(mut nl) = Netlink::open() {
                        link_locals.clear();
                        for l in nl.links().unwrap_or_default() {
                            index_of.insert(l.name.clone(), l.ifindex);
                            link_ok.insert(l.name.clone(), l.up && l.running);
                            touched.push(l.name);
                        }
                        for a in nl.addresses().unwrap_or_default() {
                            note_link_local(&mut link_locals, &a, true);
                        }
                    }
                }
                _ => {}
            }
        }
        touched.sort();
        touched.dedup();
        for name in touched {
            let link = link_ok.get(&name).copied().unwrap_or(false);
            let usable =
                link && (!own6.contains(&name) || has_usable_ll(&link_locals, &index_of, &name));
            if last_link.insert(name.clone(), link) != Some(link) {
                if link && !usable {
                    log(&format!(
                        "{name}: no usable IPv6 link-local yet (duplicate address detection): its IPv6 instances wait in FAULT"
                    ));
                }
                for (id, t) in &trackers {
                    if *t == name {
                        let state = if link {
                            TrackerState::Up
                        } else {
                            TrackerState::Down
                        };
                        inbox.send(Input::TrackerChanged {
                            tracker: *id,
                            state,
                        });
                    }
                }
            }
            if last.insert(name.clone(), usable) == Some(usable) {
                continue;
            }
            if own.contains(&name) {
                inbox.send(Input::InterfaceChanged {
                    name: name.clone(),
                    up: usable,
                });
            }
        }
    }
}

/// Records an IPv6 link-local's presence and tentative flag; true when it was one.
fn note_link_local(
    map: &mut BTreeMap<u32, BTreeMap<Ipv6Addr, bool>>,
    a: &ka_sys::netlink::AddrInfo,
    present: bool,
) -> bool {
    let IpAddr::V6(v6) = a.address else {
        return false;
    };
    if v6.segments()[0] & 0xffc0 != 0xfe80 {
        return false;
    }
    let entry = map.entry(a.ifindex).or_default();
    if present {
        entry.insert(v6, a.tentative || a.dad_failed);
    } else {
        entry.remove(&v6);
    }
    true
}

/// Starts the runners of trackers `from..`: one thread per `vrrp_script`, one for every
/// `track_file`, one for every `vrrp_track_process` (interfaces belong to the link watcher).
fn spawn_trackers(
    cfg: &Config,
    setup: &Setup,
    from: usize,
    inbox: &Inbox,
    policy: &ScriptPolicy,
) -> std::io::Result<()> {
    let mut files = Vec::new();
    let mut procs = Vec::new();
    let mut jobs = Vec::new();
    for (id, key) in setup.trackers.iter().enumerate().skip(from) {
        match key {
            TrackerKey::Script(name) => {
                let Some(s) = cfg.vrrp_scripts.iter().find(|s| &s.name == name).cloned() else {
                    continue;
                };
                let Some(launch) = s.script.as_ref().and_then(|sc| policy.launch(sc)) else {
                    continue;
                };
                jobs.push(script_runner::ScriptJob {
                    tracker: id,
                    script: s,
                    launch,
                });
            }
            TrackerKey::File(name) => {
                if let Some(f) = cfg.track_files.iter().find(|f| &f.name == name) {
                    files.push((id, f.clone()));
                }
            }
            TrackerKey::Process(name) => {
                if let Some(p) = cfg.track_processes.iter().find(|p| &p.name == name) {
                    procs.push((id, p.clone()));
                }
            }
            TrackerKey::Interface(_) => {}
        }
    }
    let report = |inbox: &Inbox| -> trackers::Report {
        let inbox = inbox.clone();
        std::sync::Arc::new(move |tracker, state| {
            inbox.send(Input::TrackerChanged { tracker, state });
        })
    };
    script_runner::spawn(jobs, report(inbox))?;
    trackers::spawn_file_trackers(files, report(inbox))?;
    trackers::spawn_process_trackers(procs, report(inbox))?;
    Ok(())
}

/// Drops `vrrp_script`s the script policy refuses (unsafe with `enable_script_security`,
/// unknown user): as in keepalived, instances then no longer track them.
fn drop_refused_scripts(cfg: &mut Config, policy: &ScriptPolicy) {
    use ka_config::env::Environment;
    let env = crate::env::SystemEnvironment;
    cfg.vrrp_scripts.retain(|s| {
        let Some(sc) = s.script.as_ref() else {
            return false;
        };
        // As keepalived: a program that cannot be found (e.g. shell syntax such as
        // `[[ -f x ]] && exit 1`, which is not run through a shell) disables the script.
        let program = sc.program().unwrap_or_default();
        if env.resolve_program(program).is_none() {
            log(&format!(
                "vrrp_script {}: '{program}' is not found/accessible: disabled (not tracked)",
                s.name
            ));
            return false;
        }
        let keep = policy.launch(sc).is_some();
        if !keep {
            log(&format!("vrrp_script {} is disabled", s.name));
        }
        keep
    });
}

/// Threads other than the VRRP thread run at normal priority even when the VRRP thread (which
/// may have spawned them) is real-time, and so do the scripts they start.
fn normal_priority() {
    let _ = ka_sys::sched::set_current_thread_normal();
}

/// Longest wait for an IPv6 link-local to finish duplicate address detection at start-up.
const DAD_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens a VRRP socket; an IPv6 source still tentative (DAD, 1-2 s on a fresh link) cannot be
/// bound yet, so wait for it rather than fail.
fn open_waiting_for_dad(
    ifname: &str,
    family: Family,
    opts: SocketOptions,
) -> std::io::Result<VrrpSocket> {
    let start = std::time::Instant::now();
    let mut waited = false;
    loop {
        match VrrpSocket::open(ifname, family, opts) {
            Err(e)
                if family == Family::Ipv6
                    && e.raw_os_error() == Some(nix::errno::Errno::EADDRNOTAVAIL as i32)
                    && start.elapsed() < DAD_WAIT =>
            {
                waited = true;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            other => {
                if other.is_ok() && waited {
                    log(&format!(
                        "{ifname}: the IPv6 link-local became usable after {:.1} s",
                        start.elapsed().as_secs_f64()
                    ));
                }
                return other;
            }
        }
    }
}

/// One round of gratuitous ARPs and unsolicited NAs, address by address as keepalived
/// sends them; a missing socket (it failed to open) skips its family. Send errors are
/// ignored: the next round, or the next advert, repairs a lost announcement.
fn announce_once(
    garp: Option<&GarpSocket>,
    na: Option<&NaSocket>,
    v4: &[Ipv4Addr],
    v6: &[Ipv6Addr],
) {
    if let Some(garp) = garp {
        for a in v4 {
            let _ = garp.send(*a);
        }
    }
    if let Some(na) = na {
        for a in v6 {
            let _ = na.send(*a);
        }
    }
}

/// Opens the sockets the instances need (reusing open ones) and maps each instance to its
/// socket and advert source. A missing interface stops the daemon, as in keepalived, unless
/// `dynamic` (`dynamic_interfaces`): its instances then get [`NO_SOCKET`] and wait in FAULT
/// for it to appear. So does an IPv6 interface whose link-local is still tentative when
/// `wait_dad` is off (at run time nothing may block the VRRP thread).
fn socket_table(
    setup: &Setup,
    sockets: &mut Vec<VrrpSocket>,
    keys: &mut Vec<(String, bool)>,
    dynamic: bool,
    wait_dad: bool,
) -> anyhow::Result<(Vec<usize>, Vec<IpAddr>)> {
    let mut socket_of = Vec::new();
    let mut src_of = Vec::new();
    for spec in &setup.instances {
        let ifname = spec.config.interface.clone();
        let key = (ifname.clone(), spec.ipv6);
        let missing = nix::net::if_::if_nametoindex(ifname.as_str()).is_err();
        let idx = match keys.iter().position(|k| *k == key) {
            Some(i) => i,
            None if missing && dynamic => {
                log(&format!(
                    "({}) interface {ifname} does not exist (yet): FAULT until it appears (dynamic_interfaces)",
                    spec.config.name
                ));
                NO_SOCKET
            }
            None if missing => {
                anyhow::bail!(
                    "interface {ifname} for vrrp_instance {} does not exist (set dynamic_interfaces to wait for it)",
                    spec.config.name
                );
            }
            None => {
                let family = if spec.ipv6 {
                    Family::Ipv6
                } else {
                    Family::Ipv4
                };
                let mut opts = SocketOptions::multicast(family);
                if spec.ipv6 {
                    opts.bind = spec.wire.as_ref().map(|w| w.src);
                }
                let opened = if wait_dad {
                    open_waiting_for_dad(&ifname, family, opts)
                } else {
                    VrrpSocket::open(&ifname, family, opts)
                };
                match opened {
                    Ok(sock) => {
                        sockets.push(sock);
                        keys.push(key);
                        sockets.len() - 1
                    }
                    Err(e)
                        if spec.ipv6
                            && e.raw_os_error()
                                == Some(nix::errno::Errno::EADDRNOTAVAIL as i32) =>
                    {
                        log(&format!(
                            "({}) {ifname} has no usable IPv6 link-local yet: FAULT until it has",
                            spec.config.name
                        ));
                        NO_SOCKET
                    }
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("opening the VRRP socket on {ifname}"))
                    }
                }
            }
        };
        socket_of.push(idx);
        src_of.push(
            spec.wire
                .as_ref()
                .map(|w| w.src)
                .unwrap_or(spec.config.primary_address),
        );
    }
    Ok((socket_of, src_of))
}

/// The TTL of each instance's adverts.
fn ttl_table(cfg: &Config) -> Vec<u8> {
    cfg.instances
        .iter()
        .map(|i| {
            if i.unicast_peer.is_empty() {
                255
            } else {
                i.unicast_ttl
            }
        })
        .collect()
}

/// The GARP / NA targets of each instance.
fn garp_table(cfg: &Config) -> Vec<(String, Vec<Ipv4Addr>, Vec<Ipv6Addr>)> {
    cfg.instances
        .iter()
        .map(|i| {
            let v4 = i.virtual_ipaddress.iter().filter_map(|a| match a.address {
                IpAddr::V4(v) => Some(v),
                IpAddr::V6(_) => None,
            });
            let v6 = i.virtual_ipaddress.iter().filter_map(|a| match a.address {
                IpAddr::V6(v) => Some(v),
                IpAddr::V4(_) => None,
            });
            (vmac::vip_interface(i), v4.collect(), v6.collect())
        })
        .collect()
}

/// keepalived's reload identity of an instance.
/// An interface was deleted and created again: sockets bound to the old one are dead.
fn reopen_sockets(
    driver: &mut Driver<SysEdge>,
    keys: &[(String, bool)],
    setup: &Setup,
    name: &str,
) {
    for (idx, (ifname, ipv6)) in keys.iter().enumerate() {
        if ifname != name {
            continue;
        }
        let family = if *ipv6 { Family::Ipv6 } else { Family::Ipv4 };
        let mut opts = SocketOptions::multicast(family);
        if *ipv6 {
            opts.bind = setup
                .instances
                .iter()
                .find(|s| s.config.interface == name && s.ipv6)
                .and_then(|s| s.wire.as_ref().map(|w| w.src));
        }
        match VrrpSocket::open(ifname, family, opts) {
            Ok(sock) => {
                if let Some(slot) = driver.edge_mut().sockets.get_mut(idx) {
                    *slot = sock;
                }
                log(&format!(
                    "{name} was re-created: its VRRP socket is reopened"
                ));
            }
            Err(e) => log(&format!(
                "{name} was re-created but its socket cannot be reopened: {e}"
            )),
        }
    }
    driver.edge_mut().garp_sockets.remove(name);
}

/// A VIP deleted from outside while we are master is put back (the kernel confirms the add,
/// and the engine then sends GARPs so clients follow it again).
fn restore_vip(driver: &Driver<SysEdge>, addr: IpAddr) {
    for (id, inst) in driver.engine().instances().iter().enumerate() {
        if inst.state() != State::Master {
            continue;
        }
        let specs = driver.edge().addresses.get(id).cloned().unwrap_or_default();
        if specs.iter().any(|s| s.address == addr) {
            log(&format!(
                "({}) VIP {addr} was removed from outside: putting it back",
                inst.config().name
            ));
            let _ = driver.edge().work.send(Work::Add {
                instance: id,
                specs,
            });
        }
    }
}

/// A route or rule the kernel reported removed.
#[derive(Debug, Clone, Copy)]
enum Removed {
    /// A route, by destination and table.
    Route {
        dst: ka_sys::netlink::IpPrefix,
        table: u32,
    },
    /// A policy rule, by priority and selectors.
    Rule {
        priority: Option<u32>,
        from: Option<ka_sys::netlink::IpPrefix>,
        to: Option<ka_sys::netlink::IpPrefix>,
    },
}

impl Removed {
    fn is_route(&self, spec: &RouteSpec) -> bool {
        matches!(self, Removed::Route { dst, table } if spec.dst == *dst && spec.table == *table)
    }

    /// A rule matches on its priority (when ours has one) and its selectors.
    fn is_rule(&self, spec: &RuleSpec) -> bool {
        matches!(self, Removed::Rule { priority, from, to }
            if spec.priority.is_none_or(|p| Some(p) == *priority)
                && spec.from == *from
                && spec.to == *to)
    }

    /// How log lines name it: `route to 10.202.0.0/16`, `rule 1000`.
    fn describe(&self) -> String {
        match self {
            Removed::Route { dst, .. } => format!("route to {}/{}", dst.addr, dst.len),
            Removed::Rule { priority, .. } => format!(
                "rule {}",
                priority.map_or_else(|| "without priority".to_string(), |p| p.to_string())
            ),
        }
    }
}

/// A route or rule of a master instance was removed from outside (`ip route del`, or the
/// kernel with its interface): put the instance's routes and rules back (those still present
/// answer EEXIST, which is fine). keepalived 2.2.7 does not restore them.
fn restore_routing(driver: &Driver<SysEdge>, removed: Removed) {
    for (id, inst) in driver.engine().instances().iter().enumerate() {
        if inst.state() != State::Master {
            continue;
        }
        let Some((routes, rules)) = driver.edge().routes.get(id) else {
            continue;
        };
        if routes.iter().any(|r| removed.is_route(r)) || rules.iter().any(|r| removed.is_rule(r)) {
            log(&format!(
                "({}) {} was removed: putting it back",
                inst.config().name,
                removed.describe()
            ));
            let _ = driver.edge().work.send(Work::Routes {
                add: true,
                routes: routes.clone(),
                rules: rules.clone(),
            });
        }
    }
}

/// SIGHUP: parse the file again; if it cannot run, keep the old configuration; otherwise
/// apply the difference without dropping mastership (matched instances keep their state, a
/// master advertises first, VIP sets change in place).
fn reload_config(
    reload: &dyn Fn() -> ka_config::Loaded,
    driver: &mut Driver<SysEdge>,
    old: &Setup,
    keys: &mut Vec<(String, bool)>,
    inbox: &Inbox,
) -> Option<(Config, Setup)> {
    log("Reloading");
    let loaded = reload();
    for d in loaded.diagnostics.items() {
        if d.severity >= ka_config::diag::Severity::Warning {
            log(&d.to_string());
        }
    }
    if loaded.diagnostics.exit_code() == 4 {
        log("the new configuration cannot run: keeping the running one");
        return None;
    }
    let applied = apply_config(loaded.config, driver, old, keys, inbox, "reload");
    if applied.is_some() {
        log("Reload finished");
    }
    applied
}

/// Applies a configuration to the running engine without dropping mastership (a reload, or
/// the same configuration again when an interface appears): instances matched by identity
/// keep their state, timers and tracker states; a master advertises first and changes its VIP
/// set in place; new trackers get their runners.
fn apply_config(
    mut cfg: Config,
    driver: &mut Driver<SysEdge>,
    old: &Setup,
    keys: &mut Vec<(String, bool)>,
    inbox: &Inbox,
    why: &str,
) -> Option<(Config, Setup)> {
    let policy = ScriptPolicy::from_config(&cfg);
    drop_refused_scripts(&mut cfg, &policy);
    let mut setup = vrrp_setup::build(&cfg, &SysAddrs);
    setup.keep_tracker_ids(&old.trackers);
    let mut states = driver.engine().tracker_states().to_vec();
    states.resize(setup.trackers.len(), TrackerState::Unknown);
    // Addresses each surviving instance held before, by identity.
    let old_addrs: BTreeMap<_, Vec<AddressSpec>> = old
        .instances
        .iter()
        .zip(driver.edge().addresses.iter())
        .map(|(spec, a)| (spec.identity(), a.clone()))
        .collect();
    let edge = driver.edge_mut();
    let dynamic = cfg.global.dynamic_interfaces;
    let (socket_of, src_of) = match socket_table(&setup, &mut edge.sockets, keys, dynamic, false) {
        Ok(t) => t,
        Err(e) => {
            log(&format!(
                "{why} failed: {e:#}; keeping the running configuration"
            ));
            return None;
        }
    };
    edge.scripts = policy.clone();
    // Changed FIFOs (path, mode, script): the old readers stop, the new FIFOs open. Unchanged
    // ones stay open, so their readers lose no line across the reload.
    let fifo_settings = [
        cfg.global.notify_fifo.clone(),
        cfg.global.vrrp_notify_fifo.clone(),
    ];
    if fifo_settings != edge.fifo_settings {
        log("notify FIFOs changed: reopening them");
        edge.fifos.stop();
        edge.fifos = NotifyFifos::open(&cfg, &policy);
        edge.fifo_settings = fifo_settings;
    }
    edge.socket_of = socket_of;
    edge.src_of = src_of;
    edge.ttl_of = ttl_table(&cfg);
    edge.addresses = cfg.instances.iter().map(instance_addresses).collect();
    edge.routes = cfg.instances.iter().map(instance_routes).collect();
    edge.garp_of = garp_table(&cfg);
    edge.no_accept = cfg.instances.iter().map(|i| !i.accept).collect();
    edge.mail_on = mail_on(&cfg);
    edge.instance_notify = notify_table(&cfg);
    edge.group_notify = cfg
        .sync_groups
        .iter()
        .map(|g| (g.name.clone(), g.notify.clone()))
        .collect();
    let now = clock::now();
    let actions =
        driver
            .engine_mut()
            .reload(now, setup.instances.clone(), setup.groups.clone(), states);
    driver.set_now(clock::now());
    driver.run(actions);
    driver.set_tracker_names(setup.tracker_names());
    // Masters apply their new VIP set in place: drop what went, add what came (the kernel
    // confirms the add, and the engine sends GARPs).
    for (id, spec) in setup.instances.iter().enumerate() {
        let master = driver
            .engine()
            .instance(id)
            .is_some_and(|i| i.state() == State::Master);
        if !master {
            continue;
        }
        let new = driver.edge().addresses.get(id).cloned().unwrap_or_default();
        let before = old_addrs.get(&spec.identity()).cloned().unwrap_or_default();
        let gone: Vec<AddressSpec> = before
            .iter()
            .filter(|a| !new.iter().any(|n| n.address == a.address))
            .cloned()
            .collect();
        if !gone.is_empty() {
            let _ = driver.edge().work.send(Work::Remove { specs: gone });
        }
        let _ = driver.edge().work.send(Work::Add {
            instance: id,
            specs: new,
        });
    }
    // Trackers that are new get their runner.
    if let Err(e) = spawn_trackers(&cfg, &setup, old.trackers.len(), inbox, &policy) {
        log(&format!("starting trackers failed: {e}"));
    }
    Some((cfg, setup))
}

/// Logs dropped adverts per (instance, reason) at a limited rate: the first drop at once, then
/// at most one line a minute with the count since the last line, so a flood never becomes a
/// log storm.
#[derive(Default)]
struct DropLog {
    logged:
        BTreeMap<(Option<InstanceId>, ka_vrrp::packet::DropReason), (u64, ka_vrrp::time::Instant)>,
}

/// Shortest gap between two drop lines for the same instance and reason.
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(60);

impl DropLog {
    fn report(&mut self, driver: &Driver<SysEdge>, now: ka_vrrp::time::Instant) {
        for (key, &count) in driver.engine().drop_counters() {
            let (seen, at) = self
                .logged
                .get(key)
                .copied()
                .unwrap_or((0, ka_vrrp::time::Instant(0)));
            let first = seen == 0;
            if count > seen && (first || now - at >= DROP_LOG_INTERVAL) {
                let who = key
                    .0
                    .and_then(|id| driver.engine().instance(id))
                    .map_or_else(
                        || "(no instance)".to_string(),
                        |i| format!("({})", i.config().name),
                    );
                log(&format!(
                    "{who} dropped {} advert(s): {} (counter {})",
                    count - seen,
                    key.1,
                    key.1.counter_name()
                ));
                self.logged.insert(*key, (count, now));
            }
        }
    }
}

/// A copy of the VRRP side's state for `status` (see `status::View`).
fn status_view(driver: &Driver<SysEdge>, cfg: &Config, setup: &Setup) -> status::View {
    // Each address with its device: its `dev`, else the instance's interface.
    let with_devices =
        |pick: fn(&ka_config::model::Instance) -> &[ka_config::model::VirtualAddress]| {
            cfg.instances
                .iter()
                .zip(&setup.instances)
                .map(|(i, spec)| {
                    pick(i)
                        .iter()
                        .map(|a| {
                            let dev = a.dev.clone();
                            (
                                a.address,
                                dev.unwrap_or_else(|| spec.config.interface.clone()),
                            )
                        })
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        };
    status::View {
        engine: driver.engine().clone(),
        vips: vip_addresses(cfg),
        vip_devs: with_devices(|i| &i.virtual_ipaddress)
            .into_iter()
            .map(|v| v.into_iter().map(|(_, dev)| dev).collect())
            .collect(),
        excluded: with_devices(|i| &i.virtual_ipaddress_excluded),
        trackers: setup.trackers.clone(),
        groups: sync_group_members(cfg),
        last: driver.last_transitions().clone(),
        counts: driver.transition_counts().clone(),
        now: clock::now(),
    }
}

/// Each instance's VIPs (engine order), for the dumps and `status`.
fn vip_addresses(cfg: &Config) -> Vec<Vec<IpAddr>> {
    cfg.instances
        .iter()
        .map(|i| i.virtual_ipaddress.iter().map(|a| a.address).collect())
        .collect()
}

/// Each sync group's name and members, for the dumps and `status`.
fn sync_group_members(cfg: &Config) -> Vec<(String, Vec<String>)> {
    cfg.sync_groups
        .iter()
        .map(|g| (g.name.clone(), g.group.clone()))
        .collect()
}

/// Writes the dump a signal asks for (through the worker: no disk write on this thread), and
/// logs the drop counters too (a one-line summary per reason, for `journalctl` readers).
fn dump(
    driver: &mut Driver<SysEdge>,
    cfg: &Config,
    setup: &Setup,
    req: Request,
    work: &Sender<Work>,
) {
    let vips = vip_addresses(cfg);
    let groups = sync_group_members(cfg);
    let ctx = status::Context {
        vips: &vips,
        trackers: &setup.trackers,
        groups: &groups,
        now: clock::now(),
    };
    let dir = status::dump_dir();
    let (file, contents) = match req {
        Request::DumpData => ("keepalived.data", status::data(driver.engine(), &ctx)),
        Request::DumpJson => ("keepalived.json", status::json(driver.engine(), &ctx)),
        _ => ("keepalived.stats", status::stats(driver.engine())),
    };
    if matches!(req, Request::DumpStats | Request::DumpStatsClear) {
        for ((inst, reason), count) in driver.engine().drop_counters() {
            let who = inst
                .and_then(|id| driver.engine().instance(id))
                .map_or_else(
                    || "(no instance)".to_string(),
                    |i| format!("({})", i.config().name),
                );
            log(&format!("{who} drops {}: {count}", reason.counter_name()));
        }
    }
    if req == Request::DumpStatsClear {
        driver.engine_mut().clear_counters();
    }
    let path = dir.join(file);
    log(&format!("writing {}", path.display()));
    let _ = work.send(Work::WriteFile { path, contents });
}

/// Instances and groups whose state changes are mailed: their own `smtp_alert`, else
/// `smtp_alert_vrrp`, else `smtp_alert` (off by default, as in keepalived).
fn mail_on(cfg: &Config) -> BTreeSet<(bool, String)> {
    let default = cfg
        .global
        .smtp_alert_vrrp
        .or(cfg.global.smtp_alert)
        .unwrap_or(false);
    let instances = cfg
        .instances
        .iter()
        .filter(|i| i.smtp_alert.unwrap_or(default))
        .map(|i| (false, i.name.clone()));
    let groups = cfg
        .sync_groups
        .iter()
        .filter(|g| g.smtp_alert.unwrap_or(default))
        .map(|g| (true, g.name.clone()));
    instances.chain(groups).collect()
}

/// Whether `name` has instances without a socket (missing interface, tentative link-local).
fn waiting_for_socket(driver: &Driver<SysEdge>, setup: &Setup, name: &str) -> bool {
    setup.instances.iter().enumerate().any(|(id, spec)| {
        spec.config.interface == name && driver.edge().socket_of.get(id) == Some(&NO_SOCKET)
    })
}

/// Whether a notify block has any script.
fn has_notify(n: &Notify) -> bool {
    [
        &n.master,
        &n.backup,
        &n.fault,
        &n.stop,
        &n.deleted,
        &n.generic,
        &n.master_rx_lower_pri,
    ]
    .iter()
    .any(|s| s.is_some())
}

/// The instances' notify scripts, by name, only for instances that have some.
fn notify_table(cfg: &Config) -> BTreeMap<String, Notify> {
    cfg.instances
        .iter()
        .filter(|i| has_notify(&i.notify))
        .map(|i| (i.name.clone(), i.notify.clone()))
        .collect()
}

/// Whether any script can run (for the SECURITY VIOLATION warning).
fn uses_scripts(cfg: &Config) -> bool {
    !cfg.vrrp_scripts.is_empty()
        || cfg.instances.iter().any(|i| has_notify(&i.notify))
        || cfg.sync_groups.iter().any(|g| has_notify(&g.notify))
}

/// The value of a `global_defs` keyword the model keeps raw.
fn global_raw<'a>(cfg: &'a Config, keyword: &str) -> Option<&'a str> {
    cfg.parsed_only
        .iter()
        .rev()
        .find(|r| r.block == "global_defs" && r.keyword == keyword)
        .and_then(|r| r.args.first())
        .map(String::as_str)
}

/// Nice value of the VRRP thread unless `vrrp_priority` says otherwise.
const DEFAULT_VRRP_NICE: i32 = -10;

/// Real-time scheduling of the VRRP thread: `vrrp_rt_priority` at start, or
/// `max_auto_priority` once a timer wakes later than `min_auto_priority_delay`.
struct Realtime {
    /// Already SCHED_RR.
    active: bool,
    /// `max_auto_priority` (None or <= 0: off).
    auto: Option<i32>,
    /// `min_auto_priority_delay`.
    late_limit: Duration,
}

impl Realtime {
    fn from_config(cfg: &Config) -> Self {
        let mut me = Self {
            active: false,
            auto: cfg.global.max_auto_priority.filter(|p| *p > 0),
            late_limit: Duration::from_micros(cfg.global.min_auto_priority_delay_us),
        };
        // `vrrp_priority` (keepalived: the VRRP process's nice value); we apply it to the
        // VRRP thread only. Default -10 (a deliberate difference: keepalived leaves 0), so
        // adverts keep their timing while scripts and checkers load the CPUs.
        let nice = global_raw(cfg, "vrrp_priority")
            .and_then(|v| v.parse::<i32>().ok())
            .unwrap_or(DEFAULT_VRRP_NICE);
        if nice != 0 {
            if let Err(e) = ka_sys::sched::set_current_thread_nice(nice) {
                log(&format!(
                    "cannot set the VRRP thread's nice value to {nice}: {e}"
                ));
            }
        }
        if let Some(p) = cfg.global.vrrp_rt_priority {
            me.raise(p, "vrrp_rt_priority");
        }
        me
    }

    fn raise(&mut self, priority: i32, why: &str) {
        match ka_sys::sched::set_current_thread_realtime(priority) {
            Ok(()) => {
                self.active = true;
                log(&format!(
                    "VRRP thread set to real-time priority {} (SCHED_RR, {why})",
                    priority.clamp(1, 99)
                ));
            }
            Err(e) => log(&format!("cannot set real-time priority ({why}): {e}")),
        }
    }

    /// A timer fired `late` after its deadline.
    fn check_lateness(&mut self, late: Duration) {
        if self.active || late < self.late_limit {
            return;
        }
        if let Some(p) = self.auto {
            log(&format!(
                "a timer ran {:.3} ms late: raising the VRRP thread's priority",
                late.as_micros() as f64 / 1000.0
            ));
            self.raise(p, "max_auto_priority");
            // Try once: a failure is logged, not repeated on every late timer.
            self.active = true;
        }
    }
}

/// `static_ipaddress`, `static_routes`, `static_rules`: installed at start, kept for the
/// daemon's life (an address deleted from outside is put back), removed at stop unless `-V`.
struct StaticConfig {
    addresses: Vec<AddressSpec>,
    routes: Vec<RouteSpec>,
    rules: Vec<RuleSpec>,
}

impl StaticConfig {
    fn from_config(cfg: &Config) -> Self {
        let default_if = global_raw(cfg, "default_interface").unwrap_or("eth0");
        Self {
            addresses: cfg
                .static_addresses
                .iter()
                .filter_map(|a| address_spec(a, default_if))
                .collect(),
            routes: cfg
                .static_routes
                .iter()
                .filter_map(|r| route_spec(r, default_if))
                .collect(),
            rules: cfg.static_rules.iter().filter_map(rule_spec).collect(),
        }
    }

    fn install(&self, nl: &mut Netlink) {
        for a in &self.addresses {
            if let Err(e) = nl.add_address(a) {
                if !e.already_done() {
                    log(&format!("static address {}: {e}", a.address));
                }
            }
        }
        for r in &self.routes {
            if let Err(e) = nl.add_route(r) {
                if !e.already_done() {
                    log(&format!("static route to {:?}: {e}", r.dst));
                }
            }
        }
        for r in &self.rules {
            if let Err(e) = nl.add_rule(r) {
                if !e.already_done() {
                    log(&format!("static rule: {e}"));
                }
            }
        }
    }

    fn remove(&self, nl: &mut Netlink) {
        for r in &self.rules {
            let _ = nl.del_rule(r);
        }
        for r in &self.routes {
            let _ = nl.del_route(r);
        }
        for a in &self.addresses {
            let _ = nl.del_address(a);
        }
    }

    /// A static route or rule removed from outside goes back (through the worker).
    fn restore_routing(&self, work: &Sender<Work>, removed: Removed) {
        let routes: Vec<RouteSpec> = self
            .routes
            .iter()
            .filter(|r| removed.is_route(r))
            .cloned()
            .collect();
        let rules: Vec<RuleSpec> = self
            .rules
            .iter()
            .filter(|r| removed.is_rule(r))
            .cloned()
            .collect();
        if !routes.is_empty() || !rules.is_empty() {
            log(&format!(
                "static {} was removed: putting it back",
                removed.describe()
            ));
            let _ = work.send(Work::Routes {
                add: true,
                routes,
                rules,
            });
        }
    }

    /// A static address removed from outside goes back (through the worker).
    fn restore(&self, work: &Sender<Work>, addr: IpAddr) {
        let specs: Vec<AddressSpec> = self
            .addresses
            .iter()
            .filter(|a| a.address == addr)
            .cloned()
            .collect();
        if !specs.is_empty() {
            log(&format!(
                "static address {addr} was removed from outside: putting it back"
            ));
            let _ = work.send(Work::AddStatic { specs });
        }
    }
}

/// Runs the VRRP side until SIGTERM/SIGINT.
pub fn run(
    cfg: Config,
    mut signals: Signals,
    mut lvs: Option<crate::lvs_run::LvsHandle>,
    pid_files: [&Path; 2],
    keep_vips_on_stop: bool,
    reload: &dyn Fn() -> ka_config::Loaded,
    control: &crate::control::ControlSetup,
) -> anyhow::Result<ExitCode> {
    let mut cfg = cfg;
    ka_sys::alloc::tune_for_long_running();
    if cfg.instances.is_empty() {
        log("no vrrp_instance configured: nothing to do");
        return Ok(ExitCode::SUCCESS);
    }
    // The main pid file and the VRRP one.
    let _pids = PidFiles::write(&pid_files).context("writing pid files")?;
    let policy = ScriptPolicy::from_config(&cfg);
    drop_refused_scripts(&mut cfg, &policy);
    policy.warn_if_unchecked(uses_scripts(&cfg));
    // use_vmac: the macvlans exist before the instances and addresses refer to them.
    let mut vmacs = vmac::Vmacs::create(&cfg.instances);
    let mut setup: Setup = vrrp_setup::build(&cfg, &SysAddrs);
    let statics = StaticConfig::from_config(&cfg);

    // Remove VIPs a previous daemon may have left.
    let addresses: Vec<Vec<AddressSpec>> = cfg.instances.iter().map(instance_addresses).collect();
    if let Ok(mut nl) = Netlink::open() {
        for s in addresses.iter().flatten() {
            let _ = nl.del_address(s);
        }
    }

    // One socket per (interface, family).
    let mut sockets: Vec<VrrpSocket> = Vec::new();
    let mut keys: Vec<(String, bool)> = Vec::new();
    let (socket_of, src_of) = socket_table(
        &setup,
        &mut sockets,
        &mut keys,
        cfg.global.dynamic_interfaces,
        true,
    )?;
    // Drop rules a previous daemon left (accept mode off).
    if cfg.instances.iter().any(|i| !i.accept) {
        crate::firewall::Firewall::clean_leftovers();
    }
    // Static addresses, routes and rules: in place for the daemon's whole life.
    if let Ok(mut nl) = Netlink::open() {
        statics.install(&mut nl);
    }
    let garp_of = garp_table(&cfg);
    // Non-blocking both ways: a full pipe must never block a reporting thread (the message is
    // in the channel already, and every wake-up drains the whole channel).
    let (wake_r, wake_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)
            .context("wake pipe")?;
    let (in_tx, in_rx) = channel::<Msg>();
    let inbox = Inbox {
        tx: in_tx,
        wake: std::sync::Arc::new(wake_w),
    };
    let (work_tx, work_rx) = channel::<Work>();
    {
        let inbox = inbox.clone();
        std::thread::Builder::new()
            .name("vrrp-worker".into())
            .spawn(move || worker(work_rx, inbox))?;
    }
    let if_trackers: Vec<(usize, String)> = setup
        .trackers
        .iter()
        .enumerate()
        .filter_map(|(i, k)| match k {
            TrackerKey::Interface(n) => Some((i, n.clone())),
            _ => None,
        })
        .collect();
    let own: Vec<String> = setup
        .instances
        .iter()
        .map(|s| s.config.interface.clone())
        .collect();
    let own6: Vec<String> = setup
        .instances
        .iter()
        .filter(|s| s.ipv6)
        .map(|s| s.config.interface.clone())
        .collect();
    // Route events only when we install routes (a full routing table sends a great many).
    let watch_routes = !statics.routes.is_empty()
        || !statics.rules.is_empty()
        || cfg
            .instances
            .iter()
            .any(|i| !i.virtual_routes.is_empty() || !i.virtual_rules.is_empty());
    {
        let inbox = inbox.clone();
        let t = if_trackers.clone();
        let own = own.clone();
        std::thread::Builder::new()
            .name("link-watcher".into())
            .spawn(move || link_watcher(inbox, t, own, own6, watch_routes))?;
    }
    spawn_trackers(&cfg, &setup, 0, &inbox, &policy)?;
    {
        let inbox = inbox.clone();
        let vrrp: crate::control::VrrpSource = std::sync::Arc::new(move || {
            let (reply, rx) = channel();
            inbox.post(Msg::Status(reply));
            match rx.recv_timeout(crate::control::ANSWER_WAIT) {
                Ok(view) => view.snapshot(),
                Err(_) => serde_json::json!({"error": "the VRRP thread did not answer in time"}),
            }
        });
        crate::control::start(
            control,
            Some(vrrp),
            lvs.as_ref().map(crate::lvs_run::LvsHandle::status_source),
        );
    }

    let group_notify = cfg
        .sync_groups
        .iter()
        .map(|g| (g.name.clone(), g.notify.clone()))
        .collect();
    let edge = SysEdge {
        sockets,
        socket_of,
        src_of,
        ttl_of: ttl_table(&cfg),
        addresses,
        routes: cfg.instances.iter().map(instance_routes).collect(),
        garp_of,
        instance_notify: notify_table(&cfg),
        lvs_states: lvs.as_ref().map(|l| l.state_sender()),
        group_notify,
        work: work_tx.clone(),
        nl: Netlink::open().ok().map(|mut nl| {
            nl.set_timeout(INLINE_NETLINK_TIMEOUT);
            nl
        }),
        inbox: inbox.clone(),
        garp_sockets: BTreeMap::new(),
        keep_on_stop: keep_vips_on_stop,
        stopping: false,
        fifos: NotifyFifos::open(&cfg, &policy),
        fifo_settings: [
            cfg.global.notify_fifo.clone(),
            cfg.global.vrrp_notify_fifo.clone(),
        ],
        mailer: mail::MailSettings::from_config(&cfg).and_then(|m| {
            let router_id = m.router_id.clone();
            match Mailer::start(m) {
                Ok(mailer) => Some((mailer, router_id)),
                Err(e) => {
                    log(&format!("mail thread: {e}"));
                    None
                }
            }
        }),
        mail_on: mail_on(&cfg),
        no_accept: cfg.instances.iter().map(|i| !i.accept).collect(),
        scripts: policy,
    };
    let engine = Engine::new(setup.instances.clone(), setup.groups.clone());
    let mut driver = Driver::new(engine, edge);
    driver.set_tracker_names(setup.tracker_names());
    let timer = DeadlineTimer::new().context("timerfd")?;

    // Interfaces are up unless the kernel says otherwise.
    let mut start_inputs = Vec::new();
    if let Ok(mut nl) = Netlink::open() {
        if let Ok(links) = nl.links() {
            for (id, name) in &if_trackers {
                let up = links.iter().any(|l| &l.name == name && l.up && l.running);
                let state = if up {
                    TrackerState::Up
                } else {
                    TrackerState::Down
                };
                start_inputs.push(Input::TrackerChanged {
                    tracker: *id,
                    state,
                });
            }
            for (id, name) in own.iter().enumerate() {
                let up = links.iter().any(|l| &l.name == name && l.up && l.running)
                    && driver.edge().socket_of.get(id) != Some(&NO_SOCKET);
                if !up {
                    start_inputs.push(Input::InterfaceChanged {
                        name: name.clone(),
                        up: false,
                    });
                }
            }
        }
    }
    for i in start_inputs {
        driver.input(clock::now(), i);
    }
    driver.input(clock::now(), Input::Start);
    // Parsing garbage goes back to the kernel: the daemon runs for months.
    ka_sys::alloc::release_free_memory();
    sd_notify("READY=1");

    let mut buf = vec![0u8; 65_536];
    let mut drop_log = DropLog::default();
    let mut rt = Realtime::from_config(&cfg);
    loop {
        let armed = driver.poll_timeout();
        timer.set(armed).context("arming the timer")?;
        let n_sockets = driver.edge().sockets.len();
        let (ready, timer_fired, signal_ready, wake_ready) = {
            let edge = driver.edge();
            let mut fds: Vec<PollFd<'_>> = edge
                .sockets
                .iter()
                .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN))
                .collect();
            fds.push(PollFd::new(timer.as_fd(), PollFlags::POLLIN));
            fds.push(PollFd::new(signals.fd().as_fd(), PollFlags::POLLIN));
            fds.push(PollFd::new(wake_r.as_fd(), PollFlags::POLLIN));
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e).context("poll"),
            }
            let is = |f: &PollFd<'_>| f.revents().is_some_and(|r| r.intersects(PollFlags::POLLIN));
            let ready: Vec<usize> = (0..n_sockets).filter(|&i| is(&fds[i])).collect();
            (
                ready,
                is(&fds[n_sockets]),
                is(&fds[n_sockets + 1]),
                is(&fds[n_sockets + 2]),
            )
        };
        for s in ready {
            loop {
                let got = driver.edge().sockets[s].recv(&mut buf);
                let Ok(r) = got else { break };
                let ifname = driver.edge().sockets[s].ifname().to_string();
                let packet = Packet {
                    interface: ifname,
                    meta: RxMeta {
                        src: r.src,
                        dst: r.dst,
                        ttl: r.ttl,
                    },
                    msg: r.payload(&buf).to_vec(),
                };
                driver.input(clock::now(), Input::Packet(packet));
            }
        }
        drop_log.report(&driver, clock::now());
        if timer_fired {
            timer.clear();
            if let Some(deadline) = armed {
                rt.check_lateness(clock::now() - deadline);
            }
        }
        if driver.poll_timeout().is_some_and(|t| t <= clock::now()) {
            driver.input(clock::now(), Input::Timeout);
        }
        if wake_ready {
            let mut sink = [0u8; 256];
            while matches!(nix::unistd::read(&wake_r, &mut sink), Ok(n) if n > 0) {}
            while let Ok(msg) = in_rx.try_recv() {
                match msg {
                    Msg::Input(Input::InterfaceChanged { name, up: true })
                        if waiting_for_socket(&driver, &setup, &name) =>
                    {
                        // The interface appeared (dynamic_interfaces) or its link-local
                        // became usable: open its socket, then let its instances out of FAULT.
                        if let Some(new) = apply_config(
                            cfg.clone(),
                            &mut driver,
                            &setup,
                            &mut keys,
                            &inbox,
                            "opening the socket",
                        ) {
                            cfg = new.0;
                            setup = new.1;
                            log(&format!("{name} is usable: its VRRP socket is open"));
                        }
                        driver.input(clock::now(), Input::InterfaceChanged { name, up: true });
                    }
                    Msg::Input(input) => driver.input(clock::now(), input),
                    Msg::AddressRemoved(addr) => {
                        restore_vip(&driver, addr);
                        statics.restore(&driver.edge().work, addr);
                    }
                    Msg::RoutingRemoved(removed) => {
                        restore_routing(&driver, removed);
                        statics.restore_routing(&driver.edge().work, removed);
                    }
                    Msg::Status(reply) => {
                        let _ = reply.send(status_view(&driver, &cfg, &setup));
                    }
                    Msg::LinkRecreated(name) => {
                        reopen_sockets(&mut driver, &keys, &setup, &name);
                        // Address, route and GARP targets carry ifindexes: refresh them.
                        let edge = driver.edge_mut();
                        edge.addresses = cfg.instances.iter().map(instance_addresses).collect();
                        edge.routes = cfg.instances.iter().map(instance_routes).collect();
                    }
                }
            }
        }
        if signal_ready {
            for req in signals.read() {
                match req {
                    Request::Stop => {
                        log("Stopping");
                        sd_notify("STOPPING=1");
                        // The LVS side stops first (its notifies get a bounded wait).
                        if let Some(l) = lvs.take() {
                            l.stop(std::time::Duration::from_secs(5));
                        }
                        driver.edge_mut().stopping = true;
                        driver.input(clock::now(), Input::Shutdown);
                        if !keep_vips_on_stop {
                            let _ = work_tx.send(Work::FirewallTeardown);
                        }
                        // Wait (at most 2 s) for the worker to remove the addresses.
                        let (tx, rx) = channel();
                        let _ = work_tx.send(Work::Flush(tx));
                        let _ = rx.recv_timeout(std::time::Duration::from_secs(2));
                        driver.edge_mut().fifos.stop();
                        if !keep_vips_on_stop {
                            vmacs.remove();
                        }
                        if !keep_vips_on_stop {
                            if let Ok(mut nl) = Netlink::open() {
                                statics.remove(&mut nl);
                            }
                        }
                        log("Stopped");
                        return Ok(ExitCode::SUCCESS);
                    }
                    Request::Reload => {
                        sd_notify("RELOADING=1");
                        if let Some(new) =
                            reload_config(reload, &mut driver, &setup, &mut keys, &inbox)
                        {
                            cfg = new.0;
                            setup = new.1;
                            vmacs.report_unapplied(&cfg.instances);
                            if let Some(l) = &lvs {
                                l.reload(&cfg);
                            }
                        }
                        ka_sys::alloc::release_free_memory();
                        sd_notify("READY=1");
                    }
                    Request::DumpData
                    | Request::DumpStats
                    | Request::DumpJson
                    | Request::DumpStatsClear => {
                        if let (Request::DumpData, Some(l)) = (req, &lvs) {
                            l.dump();
                        }
                        dump(&mut driver, &cfg, &setup, req, &work_tx);
                    }
                }
            }
        }
    }
}
