//! The typed configuration model, VRRP side. Every default keepalived 2.2.7 applies is filled
//! in, so readers never guess.

use super::script::Script;
use crate::diag::Location;
use serde::Serialize;
use std::net::IpAddr;

/// A keyword we recognise but do not act on yet, kept verbatim for dumps and later work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawStatement {
    /// Block path, e.g. `global_defs`.
    pub block: String,
    /// The keyword.
    pub keyword: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Whether it had a `{ }` block.
    pub has_block: bool,
    /// The statements of its block, kept raw too.
    pub children: Vec<RawStatement>,
    /// Where it was.
    pub location: Location,
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Config {
    /// `global_defs`.
    pub global: GlobalDefs,
    /// `vrrp_script` blocks, in file order.
    pub vrrp_scripts: Vec<VrrpScript>,
    /// `track_file` / `vrrp_track_file` blocks.
    pub track_files: Vec<TrackFile>,
    /// `vrrp_track_process` blocks.
    pub track_processes: Vec<TrackProcess>,
    /// `vrrp_sync_group` blocks.
    pub sync_groups: Vec<SyncGroup>,
    /// `vrrp_instance` blocks.
    pub instances: Vec<Instance>,
    /// `static_ipaddress` lines.
    pub static_addresses: Vec<VirtualAddress>,
    /// `static_routes` lines.
    pub static_routes: Vec<RouteLine>,
    /// `static_rules` lines.
    pub static_rules: Vec<RuleLine>,
    /// Recognised keywords that keepalived-rs does not act on yet (anywhere in the file).
    pub parsed_only: Vec<RawStatement>,
    /// `virtual_server_group` blocks.
    pub virtual_server_groups: Vec<super::lvs::VirtualServerGroup>,
    /// `virtual_server` blocks.
    pub virtual_servers: Vec<super::lvs::VirtualServer>,
}

/// SMTP relay for alert mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmtpServer {
    /// Address or host name.
    pub host: String,
    /// TCP port (25).
    pub port: u16,
}

/// A user (and group) scripts run as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunAs {
    /// User name.
    pub user: String,
    /// Group name, when given.
    pub group: Option<String>,
}

/// A notify FIFO and the script that reads it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct NotifyFifo {
    /// Path of the FIFO.
    pub path: Option<String>,
    /// Owner user and group of the FIFO, when given.
    pub owner: Option<RunAs>,
    /// Script that reads the FIFO (`*_fifo_script`).
    pub script: Option<Script>,
}

/// `global_defs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlobalDefs {
    /// Name in mails and logs; None means the host name.
    pub router_id: Option<String>,
    /// Alert recipients.
    pub notification_email: Vec<String>,
    /// Alert sender; None means `keepalived@<host>`.
    pub notification_email_from: Option<String>,
    /// SMTP relay.
    pub smtp_server: Option<SmtpServer>,
    /// HELO name; None means the host name.
    pub smtp_helo_name: Option<String>,
    /// SMTP connect timeout in seconds (30).
    pub smtp_connect_timeout: u32,
    /// Default `smtp_alert` for every object.
    pub smtp_alert: Option<bool>,
    /// Default `smtp_alert` for VRRP objects.
    pub smtp_alert_vrrp: Option<bool>,
    /// Default user scripts run as.
    pub script_user: Option<RunAs>,
    /// Refuse scripts that non-root users could change.
    pub enable_script_security: bool,
    /// Default VRRP version (2).
    pub vrrp_version: u8,
    /// IPv4 advert multicast group.
    pub vrrp_mcast_group4: IpAddr,
    /// IPv6 advert multicast group.
    pub vrrp_mcast_group6: IpAddr,
    /// Delay of the second GARP burst after becoming master, seconds (5).
    pub vrrp_garp_master_delay: u32,
    /// GARPs per burst (5).
    pub vrrp_garp_master_repeat: u32,
    /// Periodic GARP while master, seconds (0 = off).
    pub vrrp_garp_master_refresh: u32,
    /// GARPs per refresh (1).
    pub vrrp_garp_master_refresh_repeat: u32,
    /// GARPs sent when the master hears a lower priority: delay, seconds (= master delay).
    pub vrrp_garp_lower_prio_delay: Option<u32>,
    /// GARPs sent when the master hears a lower priority: count (= master repeat).
    pub vrrp_garp_lower_prio_repeat: Option<u32>,
    /// Gap between GARPs, microseconds (0).
    pub vrrp_garp_interval_us: u64,
    /// Gap between unsolicited NAs, microseconds (0).
    pub vrrp_gna_interval_us: u64,
    /// One GARP, no second burst.
    pub vrrp_min_garp: bool,
    /// Strict RFC mode.
    pub vrrp_strict: bool,
    /// Drop unicast adverts from sources not in the peer list.
    pub vrrp_check_unicast_src: bool,
    /// Skip the VIP list check for adverts from the current master.
    pub vrrp_skip_check_adv_addr: bool,
    /// Master does not re-advertise on hearing a lower priority.
    pub vrrp_lower_prio_no_advert: bool,
    /// Master sends one advert before yielding to a higher priority.
    pub vrrp_higher_prio_send_advert: bool,
    /// Ignore adverts and timers for this long after start, microseconds (0).
    pub vrrp_startup_delay_us: u64,
    /// Allow interfaces that do not exist yet.
    pub dynamic_interfaces: bool,
    /// Adverts missed before master-down (3).
    pub vrrp_down_timer_adverts: u32,
    /// The general notify FIFO.
    pub notify_fifo: NotifyFifo,
    /// The VRRP notify FIFO.
    pub vrrp_notify_fifo: NotifyFifo,
    /// The LVS notify FIFO.
    pub lvs_notify_fifo: NotifyFifo,
    /// Raise to SCHED_RR when timers run late, with this RT priority (None = off).
    pub max_auto_priority: Option<i32>,
    /// Lateness that triggers the raise, microseconds (1 s).
    pub min_auto_priority_delay_us: u64,
    /// `vrrp_rt_priority`: SCHED_RR priority of the VRRP thread from the start (1..=99).
    pub vrrp_rt_priority: Option<i32>,
    /// Check the new configuration before reloading.
    pub reload_check_config: bool,
    /// Log file for `reload_check_config`.
    pub reload_check_config_log: Option<String>,
    /// Write FIFO lines on priority changes.
    pub vrrp_notify_priority_changes: bool,
    /// Write every instance's state to the FIFOs after a reload.
    pub fifo_write_vrrp_states_on_reload: bool,
    /// Run once before the subsystems start.
    pub startup_script: Option<Script>,
    /// Run once after the subsystems stop.
    pub shutdown_script: Option<Script>,
    /// The IPVS-wide settings.
    pub lvs: LvsGlobals,
}

/// What `lvs_flush_on_stop` removes at shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LvsFlushOnStop {
    /// Bare keyword: one FLUSH, every service of the namespace.
    All,
    /// `VS`: each configured service, without deleting destinations one by one.
    VirtualServers,
}

/// `lvs_timeouts tcp N tcpfin N udp N` (seconds; None = leave the kernel's value).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LvsTimeouts {
    /// Established TCP.
    pub tcp: Option<u32>,
    /// TCP after FIN.
    pub tcp_fin: Option<u32>,
    /// UDP.
    pub udp: Option<u32>,
}

/// `lvs_sync_daemon IF [VRRP_INSTANCE] [id N] [maxlen N] [port N] [ttl N] [group IP]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LvsSyncDaemon {
    /// Interface for the sync multicast.
    pub interface: String,
    /// VRRP instance whose state decides master/backup; None runs both roles.
    pub instance: Option<String>,
    /// Sync id (default: the instance's VRID, else 0).
    pub sync_id: Option<u32>,
    /// Maximum sync message length.
    pub maxlen: Option<u16>,
    /// UDP port.
    pub port: Option<u16>,
    /// Multicast TTL.
    pub ttl: Option<u8>,
    /// Multicast group.
    pub group: Option<IpAddr>,
}

/// The IPVS-wide `global_defs` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LvsGlobals {
    /// `lvs_flush`: flush the whole IPVS table at start.
    pub flush: bool,
    /// `lvs_flush_on_stop`.
    pub flush_on_stop: Option<LvsFlushOnStop>,
    /// `lvs_timeouts`.
    pub timeouts: Option<LvsTimeouts>,
    /// `lvs_sync_daemon`.
    pub sync_daemon: Option<LvsSyncDaemon>,
    /// `rs_init_notifies`: notify UP for real servers added at start.
    pub rs_init_notifies: bool,
    /// `checker_log_all_failures`: every checker logs every failed attempt.
    pub checker_log_all_failures: bool,
}

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            router_id: None,
            notification_email: vec![],
            notification_email_from: None,
            smtp_server: None,
            smtp_helo_name: None,
            smtp_connect_timeout: 30,
            smtp_alert: None,
            smtp_alert_vrrp: None,
            script_user: None,
            enable_script_security: false,
            vrrp_version: 2,
            vrrp_mcast_group4: IpAddr::from([224, 0, 0, 18]),
            vrrp_mcast_group6: IpAddr::from([0xff02, 0, 0, 0, 0, 0, 0, 0x12]),
            vrrp_garp_master_delay: 5,
            vrrp_garp_master_repeat: 5,
            vrrp_garp_master_refresh: 0,
            vrrp_garp_master_refresh_repeat: 1,
            vrrp_garp_lower_prio_delay: None,
            vrrp_garp_lower_prio_repeat: None,
            vrrp_garp_interval_us: 0,
            vrrp_gna_interval_us: 0,
            vrrp_min_garp: false,
            vrrp_strict: false,
            vrrp_check_unicast_src: false,
            vrrp_skip_check_adv_addr: false,
            vrrp_lower_prio_no_advert: false,
            vrrp_higher_prio_send_advert: false,
            vrrp_startup_delay_us: 0,
            dynamic_interfaces: false,
            vrrp_down_timer_adverts: 3,
            notify_fifo: NotifyFifo::default(),
            vrrp_notify_fifo: NotifyFifo::default(),
            lvs_notify_fifo: NotifyFifo::default(),
            max_auto_priority: None,
            min_auto_priority_delay_us: 1_000_000,
            vrrp_rt_priority: None,
            reload_check_config: false,
            reload_check_config_log: None,
            vrrp_notify_priority_changes: false,
            fifo_write_vrrp_states_on_reload: false,
            lvs: LvsGlobals::default(),
            startup_script: None,
            shutdown_script: None,
        }
    }
}

/// `vrrp_script NAME { ... }`: a periodic health script.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VrrpScript {
    /// Its name, used by `track_script`.
    pub name: String,
    /// The command; None when missing or unusable (the script is then disabled).
    pub script: Option<Script>,
    /// Run every this many microseconds (1 s).
    pub interval_us: u64,
    /// Kill after this many microseconds (= interval).
    pub timeout_us: u64,
    /// Priority change (0 = failure means FAULT).
    pub weight: i32,
    /// Apply the weight when the script succeeds instead of when it fails.
    pub weight_reverse: bool,
    /// Successes needed to go OK (1).
    pub rise: u32,
    /// Failures needed to go KO (1).
    pub fall: u32,
    /// Start in the failed state.
    pub init_fail: bool,
    /// Where it is defined.
    pub location: Location,
}

/// `track_file NAME { ... }`: an integer read from a file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackFile {
    /// Its name.
    pub name: String,
    /// The file path.
    pub file: Option<String>,
    /// Multiplier for the value (1; 0 means non-zero is FAULT).
    pub weight: i64,
    /// Subtract instead of add.
    pub weight_reverse: bool,
    /// Create the file at start with this value (`init_file [VAL] [overwrite]`).
    pub init_file: Option<InitFile>,
    /// Where it is defined.
    pub location: Location,
}

/// `init_file` of a tracked file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InitFile {
    /// The value written (0).
    pub value: i64,
    /// Overwrite an existing file.
    pub overwrite: bool,
}

/// `vrrp_track_process NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackProcess {
    /// Its name.
    pub name: String,
    /// Process name (comm) or path, and its arguments to match.
    pub process: Option<Vec<String>>,
    /// `param_match initial|partial`.
    pub param_match: Option<String>,
    /// Priority change (0 = FAULT when the quorum is not met).
    pub weight: i32,
    /// Reverse the weight.
    pub weight_reverse: bool,
    /// Minimum number of processes (1).
    pub quorum: u32,
    /// Maximum number of processes.
    pub quorum_max: Option<u32>,
    /// Delay after a fork before counting, microseconds.
    pub fork_delay_us: Option<u64>,
    /// Delay after a termination before counting, microseconds.
    pub terminate_delay_us: Option<u64>,
    /// Sets both delays, microseconds.
    pub delay_us: Option<u64>,
    /// Match against the full command line.
    pub full_command: bool,
    /// Where it is defined.
    pub location: Location,
}

/// A tracker reference inside an instance or sync group, with an optional weight override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackRef {
    /// The tracked object's name (script, file, process, bfd) or interface name.
    pub name: String,
    /// Weight override; None means the object's own weight.
    pub weight: Option<i32>,
    /// Reverse the weight.
    pub reverse: bool,
    /// Where the reference is.
    pub location: Location,
}

/// Notify scripts of an instance or sync group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Notify {
    /// Run on entering MASTER.
    pub master: Option<Script>,
    /// Run on entering BACKUP.
    pub backup: Option<Script>,
    /// Run on entering FAULT.
    pub fault: Option<Script>,
    /// Run on stopping.
    pub stop: Option<Script>,
    /// Run on deletion at reload.
    pub deleted: Option<Script>,
    /// Generic notify, with `TYPE NAME STATE PRIO` appended.
    pub generic: Option<Script>,
    /// Run when the master hears a lower priority.
    pub master_rx_lower_pri: Option<Script>,
}

/// `vrrp_sync_group NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncGroup {
    /// Its name.
    pub name: String,
    /// Member instance names.
    pub group: Vec<String>,
    /// Group-level tracked interfaces.
    pub track_interface: Vec<TrackRef>,
    /// Group-level tracked scripts.
    pub track_script: Vec<TrackRef>,
    /// Group-level tracked files.
    pub track_file: Vec<TrackRef>,
    /// Group-level tracked processes.
    pub track_process: Vec<TrackRef>,
    /// Group-level tracked BFD sessions.
    pub track_bfd: Vec<TrackRef>,
    /// Notify scripts.
    pub notify: Notify,
    /// Email on state change.
    pub smtp_alert: Option<bool>,
    /// Allow weighted trackers on members.
    pub sync_group_tracking_weight: bool,
    /// FIFO lines on priority changes.
    pub notify_priority_changes: Option<bool>,
    /// Where it is defined.
    pub location: Location,
}

/// Initial wanted state of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum InitialState {
    /// `state MASTER`.
    Master,
    /// `state BACKUP` (or unset below priority 255).
    Backup,
}

/// Authentication (VRRPv2 only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Auth {
    /// `auth_type PASS`: 8-byte password (truncated, zero-padded).
    Pass(String),
    /// `auth_type AH`: IPsec AH (recognised; not implemented yet).
    Ah(String),
}

/// A `unicast_peer` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnicastPeer {
    /// The peer address.
    pub address: IpAddr,
    /// Lowest TTL accepted from it.
    pub min_ttl: Option<u8>,
    /// Highest TTL accepted from it.
    pub max_ttl: Option<u8>,
}

/// An address line (`virtual_ipaddress`, `_excluded`, `static_ipaddress`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtualAddress {
    /// The address.
    pub address: IpAddr,
    /// Prefix length (/32 or /128 by default).
    pub prefix_len: u8,
    /// Broadcast: an address, or `+`/`-` (computed / none).
    pub broadcast: Option<String>,
    /// Interface; None means the instance's interface.
    pub dev: Option<String>,
    /// Scope name.
    pub scope: Option<String>,
    /// Address label.
    pub label: Option<String>,
    /// Peer address (point-to-point).
    pub peer: Option<String>,
    /// Other flags (`home`, `-nodad`, `mngtmpaddr`, `noprefixroute`, `autojoin`, `use_vmac`).
    pub flags: Vec<String>,
    /// Do not track the interface of this address.
    pub no_track: bool,
    /// `preferred_lft` (`forever` = None with the flag set).
    pub preferred_lft: Option<String>,
    /// Where it is.
    pub location: Location,
}

/// A route line (`virtual_routes`, `static_routes`), in `ip route` syntax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteLine {
    /// Destination prefix (`default` allowed), or None for a malformed line.
    pub to: String,
    /// Route type (`unicast`, `blackhole`, `unreachable`, `prohibit`, `throw`...).
    pub kind: Option<String>,
    /// Options as (name, value) pairs in order (`via`, `dev`, `table`, `metric`...).
    pub options: Vec<(String, String)>,
    /// Do not track the route's interface.
    pub no_track: bool,
    /// Where it is.
    pub location: Location,
}

/// A rule line (`virtual_rules`, `static_rules`), in `ip rule` syntax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleLine {
    /// Options as (name, value) pairs in order (`from`, `to`, `table`, `preference`...).
    pub options: Vec<(String, String)>,
    /// Force IPv6 (`inet6`).
    pub inet6: bool,
    /// Do not track.
    pub no_track: bool,
    /// Where it is.
    pub location: Location,
}

/// `use_vmac` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vmac {
    /// Interface name (`vrrp.VRID` by default).
    pub name: Option<String>,
    /// MAC override.
    pub mac: Option<String>,
}

/// `vrrp_instance NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instance {
    /// Its name.
    pub name: String,
    /// Initial wanted state.
    pub state: InitialState,
    /// Advert interface.
    pub interface: Option<String>,
    /// VRID, 1..255 (0 when missing: the instance is then invalid).
    pub virtual_router_id: u8,
    /// Priority, 1..255 (255 = address owner).
    pub priority: u8,
    /// VRRP version (2 or 3).
    pub version: u8,
    /// Advert interval in centiseconds (v2: whole seconds × 100).
    pub advert_int_cs: u32,
    /// Authentication (v2).
    pub authentication: Option<Auth>,
    /// Advertised addresses.
    pub virtual_ipaddress: Vec<VirtualAddress>,
    /// Addresses added but not advertised.
    pub virtual_ipaddress_excluded: Vec<VirtualAddress>,
    /// Routes added as master.
    pub virtual_routes: Vec<RouteLine>,
    /// Rules added as master.
    pub virtual_rules: Vec<RuleLine>,
    /// Tracked interfaces.
    pub track_interface: Vec<TrackRef>,
    /// Tracked scripts.
    pub track_script: Vec<TrackRef>,
    /// Tracked files.
    pub track_file: Vec<TrackRef>,
    /// Tracked processes.
    pub track_process: Vec<TrackRef>,
    /// Tracked BFD sessions.
    pub track_bfd: Vec<TrackRef>,
    /// Do not go FAULT when the own interface goes down.
    pub dont_track_primary: bool,
    /// Do not take over from a live lower-priority master.
    pub nopreempt: bool,
    /// Delay before preempting, microseconds.
    pub preempt_delay_us: u64,
    /// Advert source for unicast.
    pub unicast_src_ip: Option<IpAddr>,
    /// Advert source for multicast.
    pub mcast_src_ip: Option<IpAddr>,
    /// Unicast peers (empty = multicast).
    pub unicast_peer: Vec<UnicastPeer>,
    /// TTL of unicast adverts (255).
    pub unicast_ttl: u8,
    /// Drop unicast adverts from non-peers.
    pub check_unicast_src: bool,
    /// macvlan settings.
    pub use_vmac: Option<Vmac>,
    /// Send/receive adverts on the base interface with use_vmac.
    pub vmac_xmit_base: bool,
    /// Second GARP burst delay, seconds.
    pub garp_master_delay: u32,
    /// GARPs per burst.
    pub garp_master_repeat: u32,
    /// Periodic GARP, seconds (0 = off).
    pub garp_master_refresh: u32,
    /// GARPs per refresh.
    pub garp_master_refresh_repeat: u32,
    /// GARP delay when hearing a lower priority, seconds.
    pub garp_lower_prio_delay: u32,
    /// GARPs when hearing a lower priority.
    pub garp_lower_prio_repeat: u32,
    /// Periodic GARPs on the other interfaces of the VIPs: (all interfaces?, seconds).
    pub garp_extra_if: Option<(bool, u32)>,
    /// Accept mode (answer for VIPs when not owner).
    pub accept: bool,
    /// Strict RFC mode.
    pub strict_mode: bool,
    /// Skip the VIP list check for adverts from the current master.
    pub skip_check_adv_addr: bool,
    /// Adverts missed before master-down.
    pub down_timer_adverts: u32,
    /// Master does not re-advertise on hearing a lower priority.
    pub lower_prio_no_advert: bool,
    /// Master sends one advert before yielding.
    pub higher_prio_send_advert: bool,
    /// Notify scripts.
    pub notify: Notify,
    /// Email on state change.
    pub smtp_alert: Option<bool>,
    /// FIFO lines on priority changes.
    pub notify_priority_changes: Option<bool>,
    /// Where it is defined.
    pub location: Location,
}
