//! One VRRP instance's state machine, as keepalived 2.2.7 runs it (RFC 5798 section 6.4 with
//! keepalived's rules where they differ). Pure: it takes `(now, event)` and returns actions.
//!
//! ```text
//!                 start (prio 255 + state MASTER: at once)
//!   INIT ───────► BACKUP ◄──────────── higher prio advert / equal prio, higher address
//!    │             │  ▲                                         │
//!    │ fault       │  │ fault cleared (full Master_Down)        │
//!    ▼             │  │                                         │
//!  FAULT ◄─────────┘  └── Master_Down timer ──► MASTER ─────────┘
//!    ▲                   (or prio-0 advert: Skew)    │
//!    └──────────────── fault (sends a prio-0 advert) ┘
//! ```

use crate::time::{Duration, Instant};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// VRRP state of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// Not started.
    Init,
    /// Listening; takes over when the master goes quiet.
    Backup,
    /// Holding the addresses and advertising.
    Master,
    /// Cannot serve (interface down, tracker failed...).
    Fault,
}

impl State {
    /// keepalived's name for it (notify arguments, FIFO lines).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Init => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        }
    }
}

/// Why an instance cannot serve; all must clear before it leaves FAULT.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultReason {
    /// A tracked (or its own) interface is down.
    InterfaceDown(String),
    /// An unweighted tracker (script, file, process) failed.
    Tracker(String),
    /// Adding the addresses failed.
    AddressesFailed,
    /// The instance is configured for AH, which is not implemented.
    AuthAhUnsupported,
}

/// Why a state changed: for logs that explain elections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// Start-up.
    Startup,
    /// Address owner with `state MASTER`: takes over at once.
    Owner,
    /// No advert for Master_Down_Interval.
    MasterDown,
    /// The master released with a priority-0 advert.
    PriorityZero,
    /// An advert with a higher priority (or equal priority from a higher address).
    HigherPriority {
        /// Its source.
        from: IpAddr,
        /// Its priority.
        priority: u8,
    },
    /// A fault appeared.
    Fault(FaultReason),
    /// Every fault cleared.
    FaultCleared,
    /// A sync group member changed state.
    SyncGroup(String),
    /// Shutting down.
    Shutdown,
}

impl Cause {
    /// A short stable label, for metrics (`keepalived_rs_transitions_total{cause=...}`).
    pub fn kind(&self) -> &'static str {
        match self {
            Cause::Startup => "startup",
            Cause::Owner => "owner",
            Cause::MasterDown => "master_down",
            Cause::PriorityZero => "priority_zero",
            Cause::HigherPriority { .. } => "higher_priority",
            Cause::Fault(_) => "fault",
            Cause::FaultCleared => "fault_cleared",
            Cause::SyncGroup(_) => "sync_group",
            Cause::Shutdown => "shutdown",
        }
    }
}

/// What the instance asks its driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send an advert with this priority (0 = release).
    SendAdvert {
        /// Priority carried.
        priority: u8,
    },
    /// Add the virtual addresses, routes and rules; answer with `addresses_applied`.
    AddAddresses,
    /// Remove the virtual addresses, routes and rules.
    RemoveAddresses,
    /// Send a burst of gratuitous ARPs / unsolicited NAs: `count` per address.
    Garp {
        /// Packets per address.
        count: u32,
        /// Gap between packets (`garp_interval` / `gna_interval`; 0 = back to back).
        interval: Duration,
    },
    /// A sync group's state changed (group notifies: `GROUP name STATE 0`); reported with the
    /// group's first member.
    GroupStateChanged {
        /// Group name.
        group: String,
        /// Previous state.
        from: State,
        /// New state.
        to: State,
    },
    /// As master, an advert with a lower priority was heard (another master, e.g. after a
    /// partition): `notify_master_rx_lower_pri`, a log line, a FIFO line.
    MasterHeardLowerPriority {
        /// Who sent it.
        from: IpAddr,
        /// Its priority.
        priority: u8,
        /// Ours.
        ours: u8,
    },
    /// The state changed (logs, notify scripts, FIFO, metrics).
    StateChanged {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
        /// Why.
        cause: Cause,
    },
}

/// The settings the state machine needs, derived from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    /// Name (logs).
    pub name: String,
    /// Virtual router id.
    pub vrid: u8,
    /// VRRP version (2 or 3).
    pub version: u8,
    /// Configured priority (255 = address owner).
    pub priority: u8,
    /// `state MASTER`.
    pub wants_master: bool,
    /// Our advert interval.
    pub advert_int: Duration,
    /// Do not preempt a live lower-priority master.
    pub nopreempt: bool,
    /// Wait this long before preempting a lower-priority master.
    pub preempt_delay: Duration,
    /// Adverts missed before master-down (3).
    pub down_timer_adverts: u32,
    /// Master does not re-advertise on hearing a lower priority.
    pub lower_prio_no_advert: bool,
    /// Master sends one advert before yielding.
    pub higher_prio_send_advert: bool,
    /// Our primary address (advert source; breaks priority ties).
    pub primary_address: IpAddr,
    /// GARPs per burst on becoming master.
    pub garp_master_repeat: u32,
    /// Delay of the second burst (0 = none).
    pub garp_master_delay: Duration,
    /// Periodic GARP while master (0 = none).
    pub garp_master_refresh: Duration,
    /// GARPs per refresh.
    pub garp_master_refresh_repeat: u32,
    /// GARPs when hearing a lower priority.
    pub garp_lower_prio_repeat: u32,
    /// Delay of the second lower-priority burst (0 = none).
    pub garp_lower_prio_delay: Duration,
    /// Gap between gratuitous ARPs / unsolicited NAs of a burst.
    pub garp_interval: Duration,
    /// `vrrp_startup_delay`: adverts are ignored and timers start only after it.
    pub startup_delay: Duration,
    /// Configured for AH authentication (not implemented: the instance stays in FAULT).
    pub auth_ah: bool,
    /// Advert interface (part of the reload identity).
    pub interface: String,
    /// Unicast source address (part of the reload identity).
    pub unicast_src: Option<IpAddr>,
}

impl InstanceConfig {
    /// A plain configuration for tests: v3, 1 s adverts, priority `prio`.
    pub fn simple(name: &str, vrid: u8, priority: u8, address: IpAddr) -> Self {
        InstanceConfig {
            name: name.into(),
            vrid,
            version: 3,
            priority,
            wants_master: false,
            advert_int: Duration::from_secs(1),
            nopreempt: false,
            preempt_delay: Duration(0),
            down_timer_adverts: 3,
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            primary_address: address,
            garp_master_repeat: 5,
            garp_master_delay: Duration::from_secs(5),
            garp_master_refresh: Duration(0),
            garp_master_refresh_repeat: 1,
            garp_lower_prio_repeat: 5,
            garp_lower_prio_delay: Duration(0),
            garp_interval: Duration(0),
            startup_delay: Duration(0),
            auth_ah: false,
            interface: "eth0".into(),
            unicast_src: None,
        }
    }
}

/// The fields of a received, already validated advert that the state machine needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Source address.
    pub src: IpAddr,
    /// Priority carried.
    pub priority: u8,
    /// Advert interval carried (v3 backups adopt it).
    pub interval: Duration,
}

/// Counters of one instance, for the statistics and state dumps an operator asks for with
/// SIGUSR1 / SIGUSR2. They survive a reload with the instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceStats {
    /// Adverts accepted for this instance.
    pub adverts_received: u64,
    /// Adverts sent (one per `SendAdvert`, whatever the number of destinations).
    pub adverts_sent: u64,
    /// Priority-0 adverts accepted (a master leaving).
    pub priority_zero_received: u64,
    /// Priority-0 adverts sent.
    pub priority_zero_sent: u64,
    /// Times it became MASTER.
    pub became_master: u64,
    /// Times it left MASTER.
    pub released_master: u64,
    /// The current master's address as last heard (ours while we are master).
    pub master_address: Option<IpAddr>,
    /// When the state last changed.
    pub last_transition: Option<Instant>,
}

/// One instance's state and timers.
#[derive(Debug, Clone)]
pub struct Instance {
    cfg: InstanceConfig,
    state: State,
    /// Adjustment from weighted trackers.
    tracker_delta: i32,
    faults: BTreeSet<FaultReason>,
    /// Master_Adver_Interval: ours as master; the master's (v3) as backup.
    master_adver_int: Duration,
    /// Backup: Master_Down timer. Master: next advert.
    timer: Option<Instant>,
    /// Master: second GARP burst / refresh.
    garp_timer: Option<Instant>,
    /// Backup: when a lower-priority master was first heard (preempt_delay clock).
    lower_master_since: Option<Instant>,
    /// Held by a sync group in BACKUP although its own timer expired.
    held_by_group: bool,
    /// Adverts are ignored until then (`vrrp_startup_delay`).
    ignore_until: Instant,
    /// The next GARP timer is the second burst after becoming master.
    second_burst_due: bool,
    /// Counters for the dumps.
    stats: InstanceStats,
}

impl Instance {
    /// A new instance in INIT.
    pub fn new(cfg: InstanceConfig) -> Self {
        let master_adver_int = cfg.advert_int;
        Instance {
            cfg,
            state: State::Init,
            tracker_delta: 0,
            faults: BTreeSet::new(),
            master_adver_int,
            timer: None,
            garp_timer: None,
            lower_master_since: None,
            held_by_group: false,
            ignore_until: Instant(0),
            second_burst_due: false,
            stats: InstanceStats::default(),
        }
    }

    /// Its counters.
    pub fn stats(&self) -> &InstanceStats {
        &self.stats
    }

    /// Its counters, for the engine that sees packets and actions.
    pub(crate) fn stats_mut(&mut self) -> &mut InstanceStats {
        &mut self.stats
    }

    /// Takes a new configuration at reload, keeping state, timers, faults and tracker
    /// adjustments: a master stays master and advertises first.
    pub fn reconfigure(&mut self, now: Instant, cfg: InstanceConfig, out: &mut Vec<Action>) {
        self.cfg = cfg;
        if self.state == State::Master {
            self.master_adver_int = self.cfg.advert_int;
            out.push(Action::SendAdvert {
                priority: self.priority(),
            });
            self.timer = Some(now + self.cfg.advert_int);
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &InstanceConfig {
        &self.cfg
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Effective priority: owners are never adjusted; others are clamped to 1..254.
    pub fn priority(&self) -> u8 {
        if self.cfg.priority == 255 {
            return 255;
        }
        (i32::from(self.cfg.priority) + self.tracker_delta).clamp(1, 254) as u8
    }

    /// Skew_Time: v2 (256 - prio)/256 s whatever the interval; v3 scaled by the interval.
    pub fn skew(&self) -> Duration {
        let p = 256 - u64::from(self.priority());
        if self.cfg.version == 2 {
            Duration(p * 1_000_000 / 256)
        } else {
            Duration(p * self.master_adver_int.0 / 256)
        }
    }

    /// Master_Down_Interval.
    pub fn master_down_interval(&self) -> Duration {
        Duration(u64::from(self.cfg.down_timer_adverts) * self.master_adver_int.0) + self.skew()
    }

    /// The next instant this instance needs a `timeout` call.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.timer, self.garp_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Its active fault reasons.
    pub fn fault_reasons(&self) -> &BTreeSet<FaultReason> {
        &self.faults
    }

    /// Whether this fault reason is active.
    pub fn has_fault(&self, reason: &FaultReason) -> bool {
        self.faults.contains(reason)
    }

    /// Whether it currently wants to be master (timer expired while held by a sync group).
    pub fn wants_master(&self) -> bool {
        self.held_by_group
    }

    /// Start: INIT -> BACKUP (or FAULT), or straight to MASTER for an owner with state MASTER.
    pub fn start(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.master_adver_int = self.cfg.advert_int;
        if self.cfg.auth_ah {
            // AH adverts arrive as IP protocol 51; until AH is implemented the instance
            // cannot take part, and says so.
            self.faults.insert(FaultReason::AuthAhUnsupported);
        }
        let now = now + self.cfg.startup_delay;
        self.ignore_until = now;
        if !self.faults.is_empty() {
            let reason = self.faults.iter().next().cloned();
            self.set_state(
                State::Fault,
                Cause::Fault(reason.unwrap_or(FaultReason::AddressesFailed)),
                out,
            );
            return;
        }
        // keepalived removes leftovers and enters BACKUP (notify_backup runs at start-up).
        self.set_state(State::Backup, Cause::Startup, out);
        let owner = self.cfg.priority == 255 && self.cfg.wants_master;
        if owner && self.cfg.startup_delay.0 == 0 {
            self.become_master(now, Cause::Owner, out);
        } else if owner {
            self.timer = Some(now + Duration(1));
        } else {
            self.timer = Some(now + self.master_down_interval());
        }
    }

    fn set_state(&mut self, to: State, cause: Cause, out: &mut Vec<Action>) {
        let from = self.state;
        self.state = to;
        if from != to {
            out.push(Action::StateChanged { from, to, cause });
        }
    }

    fn become_master(&mut self, now: Instant, cause: Cause, out: &mut Vec<Action>) {
        self.held_by_group = false;
        self.master_adver_int = self.cfg.advert_int;
        // Advert first, so the old master lets go; addresses requested; GARPs once the kernel
        // confirms them (`addresses_applied`).
        out.push(Action::SendAdvert {
            priority: self.priority(),
        });
        out.push(Action::AddAddresses);
        self.set_state(State::Master, cause, out);
        self.timer = Some(now + self.cfg.advert_int);
        self.lower_master_since = None;
    }

    fn become_backup(&mut self, now: Instant, cause: Cause, out: &mut Vec<Action>) {
        if self.state == State::Master {
            out.push(Action::RemoveAddresses);
        }
        self.garp_timer = None;
        self.set_state(State::Backup, cause, out);
        self.timer = Some(now + self.master_down_interval());
    }

    /// The driver reports whether the kernel took the addresses.
    pub fn addresses_applied(&mut self, now: Instant, ok: bool, out: &mut Vec<Action>) {
        if self.state != State::Master {
            return;
        }
        if ok {
            out.push(Action::Garp {
                count: self.cfg.garp_master_repeat,
                interval: self.cfg.garp_interval,
            });
            self.second_burst_due = self.cfg.garp_master_delay.0 > 0;
            self.garp_timer = if self.cfg.garp_master_delay.0 > 0 {
                Some(now + self.cfg.garp_master_delay)
            } else if self.cfg.garp_master_refresh.0 > 0 {
                Some(now + self.cfg.garp_master_refresh)
            } else {
                None
            };
        } else {
            self.add_fault(now, FaultReason::AddressesFailed, out);
        }
    }

    /// A timer expired (or may have): advert, master-down, GARP bursts.
    pub fn timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        if let Some(t) = self.garp_timer {
            if t <= now && self.state == State::Master {
                // The second burst (garp_master_repeat), then the refresh cadence
                // (garp_master_refresh_repeat) if configured.
                let count = if self.second_burst_due {
                    self.cfg.garp_master_repeat
                } else {
                    self.cfg.garp_master_refresh_repeat.max(1)
                };
                self.second_burst_due = false;
                out.push(Action::Garp {
                    count,
                    interval: self.cfg.garp_interval,
                });
                self.garp_timer = (self.cfg.garp_master_refresh.0 > 0)
                    .then(|| now + self.cfg.garp_master_refresh);
            }
        }
        let Some(t) = self.timer else { return };
        if t > now {
            return;
        }
        match self.state {
            State::Master => {
                out.push(Action::SendAdvert {
                    priority: self.priority(),
                });
                self.timer = Some(t + self.cfg.advert_int);
                if self.timer.is_some_and(|n| n <= now) {
                    // Woke up very late: do not burst adverts to catch up.
                    self.timer = Some(now + self.cfg.advert_int);
                }
            }
            State::Backup => {
                self.timer = None;
                self.held_by_group = true;
            }
            State::Init | State::Fault => self.timer = None,
        }
    }

    /// The sync group (or the engine for a lone instance) lets a backup whose timer expired
    /// take over.
    pub fn release_to_master(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.state == State::Backup && self.held_by_group {
            self.become_master(now, Cause::MasterDown, out);
        }
    }

    /// Forces BACKUP because a sync group member went there.
    pub fn force_backup(&mut self, now: Instant, group: &str, out: &mut Vec<Action>) {
        self.held_by_group = false;
        if self.state == State::Master {
            self.become_backup(now, Cause::SyncGroup(group.to_string()), out);
        }
    }

    /// A valid advert for this VRID arrived.
    pub fn receive(&mut self, now: Instant, adv: Received, out: &mut Vec<Action>) {
        if now < self.ignore_until {
            return;
        }
        match self.state {
            State::Init | State::Fault => {}
            State::Backup => self.backup_receive(now, adv),
            State::Master => self.master_receive(now, adv, out),
        }
    }

    fn backup_receive(&mut self, now: Instant, adv: Received) {
        if adv.priority == 0 {
            // The master released: take over after Skew_Time only.
            self.timer = Some(now + self.skew());
            self.held_by_group = false;
            return;
        }
        let mine = self.priority();
        let preempt_blocked = if self.cfg.preempt_delay.0 > 0 && adv.priority < mine {
            let since = *self.lower_master_since.get_or_insert(now);
            now - since < self.cfg.preempt_delay
        } else {
            false
        };
        if self.cfg.nopreempt || adv.priority >= mine || preempt_blocked {
            if self.cfg.version == 3 {
                self.master_adver_int = adv.interval;
            }
            if adv.priority >= mine {
                self.lower_master_since = None;
            }
            self.timer = Some(now + self.master_down_interval());
            self.held_by_group = false;
        }
        // Otherwise a lower priority with preemption allowed: ignored, our timer keeps running.
    }

    fn master_receive(&mut self, now: Instant, adv: Received, out: &mut Vec<Action>) {
        let mine = self.priority();
        if adv.priority == 0 {
            out.push(Action::SendAdvert { priority: mine });
            self.timer = Some(now + self.cfg.advert_int);
            return;
        }
        let they_win =
            adv.priority > mine || (adv.priority == mine && adv.src > self.cfg.primary_address);
        if they_win {
            if self.cfg.higher_prio_send_advert {
                out.push(Action::SendAdvert { priority: mine });
            }
            if self.cfg.version == 3 {
                self.master_adver_int = adv.interval;
            }
            self.become_backup(
                now,
                Cause::HigherPriority {
                    from: adv.src,
                    priority: adv.priority,
                },
                out,
            );
        } else {
            out.push(Action::MasterHeardLowerPriority {
                from: adv.src,
                priority: adv.priority,
                ours: mine,
            });
            // keepalived 2.2.7: a master hearing a lower priority re-advertises at once and
            // sends GARPs, so clients follow the surviving master after a partition heals.
            if !self.cfg.lower_prio_no_advert {
                out.push(Action::SendAdvert { priority: mine });
                self.timer = Some(now + self.cfg.advert_int);
            }
            if self.cfg.garp_lower_prio_repeat > 0 {
                out.push(Action::Garp {
                    count: self.cfg.garp_lower_prio_repeat,
                    interval: self.cfg.garp_interval,
                });
                if self.cfg.garp_lower_prio_delay.0 > 0 {
                    // A second burst later, as after a takeover.
                    self.second_burst_due = true;
                    self.garp_timer = Some(now + self.cfg.garp_lower_prio_delay);
                }
            }
        }
    }

    /// A weighted tracker changed the priority adjustment.
    pub fn set_tracker_delta(&mut self, now: Instant, delta: i32, out: &mut Vec<Action>) {
        let before = self.priority();
        let old_down = self.master_down_interval();
        self.tracker_delta = delta;
        if self.state == State::Backup {
            // Re-time the pending down timer by the skew difference.
            if let Some(t) = self.timer {
                let new_down = self.master_down_interval();
                let start = Instant(t.0.saturating_sub(old_down.0));
                self.timer = Some(Instant(start.0 + new_down.0).max(now));
            }
        }
        if self.state == State::Master && self.priority() != before {
            out.push(Action::SendAdvert {
                priority: self.priority(),
            });
        }
    }

    /// A fault appears (interface down, unweighted tracker failed...).
    pub fn add_fault(&mut self, now: Instant, reason: FaultReason, out: &mut Vec<Action>) {
        let _ = now;
        let fresh = self.faults.insert(reason.clone());
        if !fresh || self.state == State::Fault || self.state == State::Init {
            return;
        }
        if self.state == State::Master {
            out.push(Action::SendAdvert { priority: 0 });
            out.push(Action::RemoveAddresses);
        }
        self.timer = None;
        self.garp_timer = None;
        self.held_by_group = false;
        self.set_state(State::Fault, Cause::Fault(reason), out);
    }

    /// A fault clears; leaving FAULT needs every reason gone.
    pub fn clear_fault(&mut self, now: Instant, reason: &FaultReason, out: &mut Vec<Action>) {
        self.faults.remove(reason);
        if self.state != State::Fault || !self.faults.is_empty() {
            return;
        }
        self.set_state(State::Backup, Cause::FaultCleared, out);
        if self.cfg.priority == 255 && self.cfg.wants_master {
            self.become_master(now, Cause::Owner, out);
        } else {
            self.master_adver_int = self.cfg.advert_int;
            self.timer = Some(now + self.master_down_interval());
        }
    }

    /// Orderly shutdown: a master releases with a priority-0 advert and drops its addresses.
    pub fn shutdown(&mut self, out: &mut Vec<Action>) {
        if self.state == State::Master {
            out.push(Action::SendAdvert { priority: 0 });
            out.push(Action::RemoveAddresses);
        }
        self.timer = None;
        self.garp_timer = None;
        let from = self.state;
        self.state = State::Init;
        out.push(Action::StateChanged {
            from,
            to: State::Init,
            cause: Cause::Shutdown,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn addr(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 200, 0, n))
    }

    fn backup(prio: u8) -> (Instance, Vec<Action>) {
        let mut i = Instance::new(InstanceConfig::simple("VI_1", 1, prio, addr(prio)));
        let mut out = vec![];
        i.start(Instant(0), &mut out);
        (i, out)
    }

    fn adv(from: u8, prio: u8) -> Received {
        Received {
            src: addr(from),
            priority: prio,
            interval: Duration::from_secs(1),
        }
    }

    #[test]
    fn timing_formulas_match_keepalived() {
        let (i, _) = backup(100);
        // v3: (256-100) * 1 s / 256 = 609375 us; Master_Down = 3 s + skew.
        assert_eq!(i.skew(), Duration(609_375));
        assert_eq!(i.master_down_interval(), Duration(3_609_375));
        let mut c = InstanceConfig::simple("v2", 1, 100, addr(1));
        c.version = 2;
        c.advert_int = Duration::from_secs(2);
        let v2 = Instance::new(c);
        // v2 skew ignores the interval.
        assert_eq!(v2.skew(), Duration(609_375));
        assert_eq!(v2.master_down_interval(), Duration(6_609_375));
    }

    #[test]
    fn startup_enters_backup_and_times_out_to_master() {
        let (mut i, out) = backup(100);
        assert_eq!(i.state(), State::Backup);
        assert!(matches!(
            out[0],
            Action::StateChanged {
                to: State::Backup,
                cause: Cause::Startup,
                ..
            }
        ));
        assert_eq!(i.poll_timeout(), Some(Instant(3_609_375)));
        let mut out = vec![];
        i.timeout(Instant(3_609_374), &mut out);
        assert!(!i.wants_master());
        i.timeout(Instant(3_609_375), &mut out);
        assert!(i.wants_master());
        i.release_to_master(Instant(3_609_375), &mut out);
        assert_eq!(i.state(), State::Master);
        assert_eq!(out[0], Action::SendAdvert { priority: 100 });
        assert_eq!(out[1], Action::AddAddresses);
    }

    #[test]
    fn owner_with_state_master_takes_over_at_once() {
        let mut c = InstanceConfig::simple("VI_1", 1, 255, addr(1));
        c.wants_master = true;
        let mut i = Instance::new(c);
        let mut out = vec![];
        i.start(Instant(0), &mut out);
        assert_eq!(i.state(), State::Master);
        // priority 255 with state BACKUP waits like everyone else.
        let mut c = InstanceConfig::simple("VI_1", 1, 255, addr(1));
        c.wants_master = false;
        let mut i = Instance::new(c);
        i.start(Instant(0), &mut out);
        assert_eq!(i.state(), State::Backup);
    }

    #[test]
    fn backup_rules() {
        let (mut i, _) = backup(100);
        let mut out = vec![];
        // Higher priority resets the timer.
        i.receive(Instant(1_000_000), adv(200, 200), &mut out);
        assert_eq!(i.poll_timeout(), Some(Instant(1_000_000 + 3_609_375)));
        // Lower priority with preemption: ignored, timer keeps running.
        i.receive(Instant(2_000_000), adv(50, 50), &mut out);
        assert_eq!(i.poll_timeout(), Some(Instant(1_000_000 + 3_609_375)));
        // Priority 0: Skew_Time only.
        i.receive(Instant(3_000_000), adv(200, 0), &mut out);
        assert_eq!(i.poll_timeout(), Some(Instant(3_000_000 + 609_375)));
    }

    #[test]
    fn nopreempt_accepts_lower_priority() {
        let mut c = InstanceConfig::simple("VI_1", 1, 200, addr(1));
        c.nopreempt = true;
        let mut i = Instance::new(c);
        let mut out = vec![];
        i.start(Instant(0), &mut out);
        i.receive(Instant(1_000_000), adv(50, 50), &mut out);
        assert_eq!(
            i.poll_timeout(),
            Some(Instant(1_000_000) + i.master_down_interval())
        );
    }

    #[test]
    fn preempt_delay_holds_then_lets_go() {
        let mut c = InstanceConfig::simple("VI_1", 1, 200, addr(1));
        c.preempt_delay = Duration::from_secs(10);
        let mut i = Instance::new(c);
        let mut out = vec![];
        i.start(Instant(0), &mut out);
        i.receive(Instant(1_000_000), adv(50, 50), &mut out);
        let held = i.poll_timeout();
        i.receive(Instant(5_000_000), adv(50, 50), &mut out);
        assert!(
            i.poll_timeout() > held,
            "still inside preempt_delay: timer reset"
        );
        let before = i.poll_timeout();
        i.receive(Instant(12_000_000), adv(50, 50), &mut out);
        assert_eq!(
            i.poll_timeout(),
            before,
            "after preempt_delay: ignored, we preempt"
        );
    }

    #[test]
    fn master_rules() {
        let (mut i, _) = backup(100);
        let mut out = vec![];
        i.timeout(Instant(4_000_000), &mut out);
        i.release_to_master(Instant(4_000_000), &mut out);
        out.clear();
        // Lower priority: reported, then re-advertise and GARP.
        i.receive(Instant(4_100_000), adv(50, 50), &mut out);
        assert!(matches!(
            out.first(),
            Some(Action::MasterHeardLowerPriority {
                priority: 50,
                ours: 100,
                ..
            })
        ));
        out.remove(0);
        assert_eq!(
            out,
            vec![
                Action::SendAdvert { priority: 100 },
                Action::Garp {
                    count: 5,
                    interval: Duration(0)
                }
            ]
        );
        out.clear();
        // Equal priority from a lower address: we stay.
        i.receive(Instant(4_200_000), adv(99, 100), &mut out);
        assert_eq!(i.state(), State::Master);
        // Equal priority from a higher address: we yield.
        out.clear();
        i.receive(Instant(4_300_000), adv(101, 100), &mut out);
        assert_eq!(i.state(), State::Backup);
        assert_eq!(out[0], Action::RemoveAddresses);
    }

    #[test]
    fn faults_need_every_reason_cleared() {
        let (mut i, _) = backup(100);
        let mut out = vec![];
        let a = FaultReason::InterfaceDown("eth0".into());
        let b = FaultReason::Tracker("chk".into());
        i.add_fault(Instant(1), a.clone(), &mut out);
        i.add_fault(Instant(2), b.clone(), &mut out);
        assert_eq!(i.state(), State::Fault);
        i.clear_fault(Instant(3), &a, &mut out);
        assert_eq!(i.state(), State::Fault);
        i.clear_fault(Instant(4), &b, &mut out);
        assert_eq!(i.state(), State::Backup);
        assert_eq!(
            i.poll_timeout(),
            Some(Instant(4) + i.master_down_interval())
        );
    }

    #[test]
    fn priority_clamps_and_owner_is_fixed() {
        let (mut i, _) = backup(100);
        let mut out = vec![];
        i.set_tracker_delta(Instant(0), 500, &mut out);
        assert_eq!(i.priority(), 254);
        i.set_tracker_delta(Instant(0), -500, &mut out);
        assert_eq!(i.priority(), 1);
        let mut o = Instance::new(InstanceConfig::simple("o", 1, 255, addr(1)));
        o.set_tracker_delta(Instant(0), -50, &mut out);
        assert_eq!(o.priority(), 255);
    }

    #[test]
    fn startup_delay_ignores_adverts_and_delays_timers() {
        let mut c = InstanceConfig::simple("VI_1", 1, 100, addr(1));
        c.startup_delay = Duration::from_secs(10);
        let mut i = Instance::new(c);
        let mut out = vec![];
        i.start(Instant(0), &mut out);
        assert_eq!(
            i.poll_timeout(),
            Some(Instant(10_000_000) + i.master_down_interval())
        );
        let before = i.poll_timeout();
        i.receive(Instant(1_000_000), adv(200, 200), &mut out);
        assert_eq!(i.poll_timeout(), before, "ignored during the startup delay");
    }

    #[test]
    fn ah_instances_stay_in_fault() {
        let mut c = InstanceConfig::simple("VI_1", 1, 100, addr(1));
        c.auth_ah = true;
        let mut i = Instance::new(c);
        let mut out = vec![];
        i.start(Instant(0), &mut out);
        assert_eq!(i.state(), State::Fault);
        assert!(i.has_fault(&FaultReason::AuthAhUnsupported));
    }

    #[test]
    fn reload_keeps_a_master_master_and_advertises_first() {
        let (mut i, _) = backup(100);
        let mut out = vec![];
        i.timeout(Instant(4_000_000), &mut out);
        i.release_to_master(Instant(4_000_000), &mut out);
        out.clear();
        let mut c = i.config().clone();
        c.advert_int = Duration::from_millis(500);
        i.reconfigure(Instant(4_100_000), c, &mut out);
        assert_eq!(i.state(), State::Master);
        assert_eq!(out, vec![Action::SendAdvert { priority: 100 }]);
        assert_eq!(i.poll_timeout(), Some(Instant(4_600_000)));
    }

    fn master(prio: u8, tweak: impl Fn(&mut InstanceConfig)) -> Instance {
        let mut c = InstanceConfig::simple("VI_1", 1, prio, addr(prio));
        tweak(&mut c);
        let mut i = Instance::new(c);
        let mut out = vec![];
        i.start(Instant(0), &mut out);
        let t = Instant(0) + i.master_down_interval();
        i.timeout(t, &mut out);
        i.release_to_master(t, &mut out);
        assert_eq!(i.state(), State::Master);
        i
    }

    #[test]
    fn master_answers_priority_zero_at_once() {
        let mut i = master(100, |_| {});
        let mut out = vec![];
        i.receive(Instant(5_000_000), adv(50, 0), &mut out);
        assert_eq!(out, vec![Action::SendAdvert { priority: 100 }]);
        assert_eq!(i.state(), State::Master);
        assert_eq!(i.poll_timeout(), Some(Instant(6_000_000)));
    }

    #[test]
    fn v3_backup_adopts_the_masters_interval() {
        let (mut i, _) = backup(100);
        let mut out = vec![];
        let r = Received {
            src: addr(200),
            priority: 200,
            interval: Duration::from_millis(100),
        };
        i.receive(Instant(1_000_000), r, &mut out);
        // 3 x 0.1 s + (256-100) x 0.1 s / 256
        assert_eq!(i.master_down_interval(), Duration(300_000 + 60_937));
        // v2 keeps its own (a mismatch is dropped before it gets here).
        let mut c = InstanceConfig::simple("v2", 1, 100, addr(1));
        c.version = 2;
        let mut v2 = Instance::new(c);
        v2.start(Instant(0), &mut out);
        v2.receive(Instant(1_000_000), r, &mut out);
        assert_eq!(v2.master_down_interval(), Duration(3_609_375));
    }

    #[test]
    fn higher_prio_send_advert_and_lower_prio_no_advert() {
        let mut i = master(100, |c| c.higher_prio_send_advert = true);
        let mut out = vec![];
        i.receive(Instant(5_000_000), adv(200, 200), &mut out);
        assert_eq!(out[0], Action::SendAdvert { priority: 100 });
        assert_eq!(out[1], Action::RemoveAddresses);
        let mut i = master(100, |c| {
            c.lower_prio_no_advert = true;
            c.garp_lower_prio_repeat = 0;
        });
        let mut out = vec![];
        i.receive(Instant(5_000_000), adv(50, 50), &mut out);
        // Only the report (for notify_master_rx_lower_pri): no advert, no GARP.
        assert!(
            matches!(out.as_slice(), [Action::MasterHeardLowerPriority { .. }]),
            "{out:?}"
        );
    }

    #[test]
    fn owner_leaves_fault_straight_to_master() {
        let mut c = InstanceConfig::simple("VI_1", 1, 255, addr(1));
        c.wants_master = true;
        let mut i = Instance::new(c);
        let mut out = vec![];
        i.start(Instant(0), &mut out);
        let r = FaultReason::InterfaceDown("eth0".into());
        i.add_fault(Instant(1), r.clone(), &mut out);
        assert_eq!(i.state(), State::Fault);
        assert!(out.contains(&Action::SendAdvert { priority: 0 }));
        i.clear_fault(Instant(2), &r, &mut out);
        assert_eq!(i.state(), State::Master);
    }

    #[test]
    fn priority_change_retimes_the_down_timer_by_the_skew() {
        let (mut i, _) = backup(100);
        let mut out = vec![];
        let before = i.poll_timeout().unwrap_or_default();
        i.set_tracker_delta(Instant(1), 50, &mut out);
        // Skew at 150: (256-150)/256 s = 414062 us, at 100: 609375 us.
        assert_eq!(
            i.poll_timeout(),
            Some(Instant(before.0 - (609_375 - 414_062)))
        );
    }

    #[test]
    fn garp_bursts_after_the_kernel_confirms() {
        let mut i = master(100, |c| c.garp_interval = Duration::from_millis(1));
        let mut out = vec![];
        i.addresses_applied(Instant(4_000_000), true, &mut out);
        assert_eq!(
            out,
            vec![Action::Garp {
                count: 5,
                interval: Duration::from_millis(1)
            }]
        );
        out.clear();
        i.timeout(Instant(9_000_000), &mut out);
        assert!(out.contains(&Action::Garp {
            count: 5,
            interval: Duration::from_millis(1)
        }));
        // A failed add is a FAULT.
        let mut i = master(100, |_| {});
        let mut out = vec![];
        i.addresses_applied(Instant(4_000_000), false, &mut out);
        assert_eq!(i.state(), State::Fault);
    }

    #[test]
    fn shutdown_releases_with_priority_zero() {
        let (mut i, _) = backup(100);
        let mut out = vec![];
        i.timeout(Instant(4_000_000), &mut out);
        i.release_to_master(Instant(4_000_000), &mut out);
        out.clear();
        i.shutdown(&mut out);
        assert_eq!(out[0], Action::SendAdvert { priority: 0 });
        assert_eq!(out[1], Action::RemoveAddresses);
    }
}

/// Whether a notify is about an instance or a sync group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyTarget {
    /// `INSTANCE`.
    Instance,
    /// `GROUP`.
    Group,
}

/// The four arguments keepalived appends to the generic `notify` script and writes (quoted
/// name) on FIFO lines: `INSTANCE|GROUP name STATE priority` (groups report priority 0).
pub fn generic_notify_args(
    target: NotifyTarget,
    name: &str,
    state: State,
    priority: u8,
) -> [String; 4] {
    let kind = match target {
        NotifyTarget::Instance => "INSTANCE",
        NotifyTarget::Group => "GROUP",
    };
    let state = match state {
        // keepalived has no INIT notify; a stopped instance reports STOP.
        State::Init => "STOP",
        s => s.as_str(),
    };
    let priority = if target == NotifyTarget::Group {
        0
    } else {
        priority
    };
    [
        kind.to_string(),
        name.to_string(),
        state.to_string(),
        priority.to_string(),
    ]
}

/// The FIFO line keepalived writes for a state change: `INSTANCE "VI_1" MASTER 100`.
pub fn fifo_line(target: NotifyTarget, name: &str, state: State, priority: u8) -> String {
    let [kind, name, state, prio] = generic_notify_args(target, name, state, priority);
    format!("{kind} \"{name}\" {state} {prio}")
}

#[cfg(test)]
mod notify_tests {
    use super::*;

    #[test]
    fn notify_arguments_match_keepalived() {
        assert_eq!(
            generic_notify_args(NotifyTarget::Instance, "VI_1", State::Master, 100),
            ["INSTANCE", "VI_1", "MASTER", "100"]
        );
        assert_eq!(
            generic_notify_args(NotifyTarget::Group, "G", State::Backup, 100),
            ["GROUP", "G", "BACKUP", "0"]
        );
        assert_eq!(
            fifo_line(NotifyTarget::Instance, "VI_1", State::Fault, 90),
            "INSTANCE \"VI_1\" FAULT 90"
        );
        assert_eq!(
            generic_notify_args(NotifyTarget::Instance, "VI_1", State::Init, 100)[2],
            "STOP"
        );
    }
}
