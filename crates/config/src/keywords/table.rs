//! The keyword tables, one constant per block, generated from an empirical sweep of
//! keepalived 2.2.7 (`keepalived -t` reports `Unknown keyword 'X'` for anything else), plus
//! the newer keywords keepalived-rs accepts with a warning. One keyword per line, sorted.

use super::Priority::{A, B, C};
use super::Status::{Differs, ParsedOnly, Supported};
use super::{Keyword, Priority, Status};

/// A keyword that takes arguments only.
const fn kw(name: &'static str, priority: Priority, status: Status, note: &'static str) -> Keyword {
    Keyword {
        name,
        priority,
        status,
        block: false,
        note,
    }
}

/// A keyword that opens a `{ }` block.
const fn blk(
    name: &'static str,
    priority: Priority,
    status: Status,
    note: &'static str,
) -> Keyword {
    Keyword {
        name,
        priority,
        status,
        block: true,
        note,
    }
}

/// Note for keywords of newer keepalived releases.
const NEWER: &str = "newer than 2.2.7: accepted, but -t reports it as unknown to 2.2.7 (exit 5)";
/// Note for `vrrp_ipsets`.
const IPSETS_NOTE: &str =
    "in 2.2.7 only when built with libipset; Debian's 2.2.7 (nftables build) \
reports it as unknown (exit 5)";
/// Note for `FILE_CHECK { dynamic }`.
const FILE_DYNAMIC_NOTE: &str =
    "documented in the 2.2.7 man page, but the 2.2.7 binary reports it \
as unknown (exit 5); newer keepalived has it";

/// `root` keywords.
#[rustfmt::skip]
pub(super) const ROOT: &[Keyword] = &[
    blk("bfd_instance", C, ParsedOnly, ""),
    kw("child_wait_time", C, ParsedOnly, ""),
    blk("garp_group", C, ParsedOnly, ""),
    blk("global_defs", A, Supported, ""),
    kw("include", B, Supported, "preprocessor directive, valid at any level"),
    kw("includea", C, Supported, "preprocessor: include with all checks"),
    kw("includeb", C, Supported, "preprocessor: include, braces must match"),
    kw("includem", C, Supported, "preprocessor: include, pattern must match"),
    kw("includer", C, Supported, "preprocessor: include, files must be readable"),
    kw("includew", C, Supported, "preprocessor: include, wildcard must match"),
    kw("instance", C, ParsedOnly, "read: names the pid files (`/run/keepalived_NAME.pid`, `vrrp_NAME`, `checkers_NAME`) and so the `status` socket; nothing else"),
    blk("interface_up_down_delays", C, ParsedOnly, "list block: `IF DOWN [UP]` lines"),
    blk("linkbeat_interfaces", C, ParsedOnly, "list block: `IF [MII|ETHTOOL|IOCTL]` lines"),
    kw("linkbeat_use_polling", C, ParsedOnly, "root form; the vrrp_instance form is deprecated"),
    kw("namespace_with_ipsets", C, ParsedOnly, ""),
    kw("net_namespace", C, ParsedOnly, "read: the daemon enters network namespace NAME (`/run/netns/NAME`) at start, as `-s NAME` (which wins), and its pid files get `_NAME`"),
    kw("net_namespace_ipvs", C, ParsedOnly, ""),
    blk("SSL", C, ParsedOnly, "kept raw and used by SSL_GET (its OpenSSL client context)"),
    blk("static_ipaddress", C, Supported, "list block of address lines"),
    blk("static_routes", C, Supported, "list block of route lines"),
    blk("static_rules", C, Supported, "list block of rule lines"),
    blk("track_file", B, Supported, ""),
    blk("track_group", C, ParsedOnly, ""),
    kw("use_pid_dir", C, ParsedOnly, ""),
    blk("virtual_server", A, Supported, ""),
    blk("virtual_server_group", B, Supported, ""),
    blk("vrrp_instance", A, Supported, ""),
    blk("vrrp_script", A, Supported, ""),
    blk("vrrp_sync_group", B, Supported, ""),
    blk("vrrp_track_file", B, Supported, "deprecated alias of track_file"),
    blk("vrrp_track_process", B, Supported, "processes are counted by scanning /proc once a second (keepalived: proc connector events)"),
];

/// `global_defs` keywords.
#[rustfmt::skip]
pub(super) const GLOBAL_DEFS: &[Keyword] = &[
    kw("bfd_cpu_affinity", C, ParsedOnly, "BFD process"),
    kw("bfd_no_swap", C, ParsedOnly, "BFD process"),
    kw("bfd_priority", C, ParsedOnly, "BFD process"),
    kw("bfd_process_name", C, ParsedOnly, "BFD process"),
    kw("bfd_rlimit_rtime", C, ParsedOnly, "alias of bfd_rlimit_rttime"),
    kw("bfd_rlimit_rttime", C, ParsedOnly, "BFD process"),
    kw("bfd_rt_priority", C, ParsedOnly, "BFD process"),
    kw("checker_cpu_affinity", C, ParsedOnly, "checker process: no effect yet"),
    kw("checker_log_all_failures", C, Supported, "every checker logs every failed attempt"),
    kw("checker_no_swap", C, ParsedOnly, "checker process: no effect yet"),
    kw("checker_priority", C, ParsedOnly, "checker process: no effect yet"),
    kw("checker_process_name", C, ParsedOnly, "checker process: no effect yet"),
    kw("checker_rlimit_rtime", C, ParsedOnly, "checker process: no effect yet; alias of checker_rlimit_rttime"),
    kw("checker_rlimit_rttime", C, ParsedOnly, "checker process: no effect yet"),
    kw("checker_rt_priority", C, ParsedOnly, "checker process: no effect yet"),
    kw("config_save_dir", C, ParsedOnly, ""),
    kw("data_use_instance", C, ParsedOnly, ""),
    kw("dbus_no_interface_name", C, Differs, NEWER),
    kw("dbus_service_name", C, ParsedOnly, "DBus"),
    kw("default_interface", C, ParsedOnly, "kept raw and used: the device of `static_ipaddress`/`static_routes` lines without `dev` (default eth0); not applied to a vrrp_instance without `interface`"),
    kw("disable_local_igmp", C, ParsedOnly, ""),
    kw("dynamic_interfaces", B, Supported, ""),
    kw("enable_dbus", C, ParsedOnly, "DBus"),
    kw("enable_script_security", A, Supported, ""),
    kw("enable_snmp_checker", C, ParsedOnly, "SNMP"),
    kw("enable_snmp_keepalived", C, ParsedOnly, "SNMP; deprecated alias of enable_snmp_vrrp"),
    kw("enable_snmp_rfc", C, ParsedOnly, "SNMP; enables rfcv2 and rfcv3"),
    kw("enable_snmp_rfcv2", C, ParsedOnly, "SNMP"),
    kw("enable_snmp_rfcv3", C, ParsedOnly, "SNMP"),
    kw("enable_snmp_vrrp", C, ParsedOnly, "SNMP"),
    kw("enable_traps", C, ParsedOnly, "SNMP"),
    kw("fifo_write_vrrp_states_on_reload", B, Supported, ""),
    kw("iproute_etc_dir", C, Differs, NEWER),
    kw("iproute_usr_dir", C, Differs, NEWER),
    kw("json_dump_file", C, Differs, NEWER),
    kw("json_version", C, Differs, NEWER),
    kw("log_unknown_vrids", C, ParsedOnly, ""),
    kw("lvs_flush", B, Supported, "flushes every IPVS service at start, foreign ones too, as 2.2.7"),
    kw("lvs_flush_on_stop", B, Supported, "bare: one FLUSH at stop; VS: each configured service"),
    kw("lvs_flush_onstop", B, Supported, "alias of lvs_flush_on_stop"),
    kw("lvs_netlink_cmd_rcv_bufs", C, ParsedOnly, "checker process: no effect yet"),
    kw("lvs_netlink_cmd_rcv_bufs_force", C, ParsedOnly, "checker process: no effect yet"),
    kw("lvs_netlink_monitor_rcv_bufs", C, ParsedOnly, "checker process: no effect yet"),
    kw("lvs_netlink_monitor_rcv_bufs_force", C, ParsedOnly, "checker process: no effect yet"),
    kw("lvs_notify_fifo", B, Supported, ""),
    kw("lvs_notify_fifo_script", B, Supported, ""),
    kw("lvs_process_name", C, ParsedOnly, "checker process: no effect yet"),
    kw("lvs_sync_daemon", C, Supported, "IPVS sync daemon: master/backup following the named VRRP instance, both roles without one"),
    kw("lvs_timeouts", B, Supported, "set at start, the kernel's previous values restored at stop"),
    kw("max_auto_priority", B, Supported, ""),
    kw("min_auto_priority_delay", B, Supported, ""),
    kw("nftables", C, ParsedOnly, ""),
    kw("nftables_counters", C, ParsedOnly, ""),
    kw("nftables_ifindex", C, ParsedOnly, ""),
    kw("nftables_ipvs", C, ParsedOnly, "checker process: no effect yet"),
    kw("nftables_ipvs_priority", C, ParsedOnly, "checker process: no effect yet"),
    kw("nftables_ipvs_start_fwmark", C, ParsedOnly, "checker process: no effect yet"),
    kw("nftables_priority", C, ParsedOnly, ""),
    kw("no_checker_emails", C, ParsedOnly, "no effect yet: real server mails follow `smtp_alert`"),
    kw("no_email_faults", C, ParsedOnly, ""),
    blk("notification_email", B, Supported, "list block of addresses"),
    kw("notification_email_from", B, Supported, ""),
    kw("notify_fifo", B, Supported, ""),
    kw("notify_fifo_script", B, Supported, ""),
    kw("process_monitor_rcv_bufs", C, ParsedOnly, ""),
    kw("process_monitor_rcv_bufs_force", C, ParsedOnly, ""),
    kw("process_name", C, ParsedOnly, "name of the parent process"),
    kw("process_names", C, ParsedOnly, ""),
    kw("random_seed", C, ParsedOnly, ""),
    kw("reload_check_config", B, Supported, ""),
    kw("reload_file", C, ParsedOnly, ""),
    kw("reload_repeat", C, ParsedOnly, ""),
    kw("reload_time_file", C, ParsedOnly, ""),
    kw("router_id", A, Supported, ""),
    kw("rs_init_notifies", C, Supported, "UP notifies for real servers in the pool at start"),
    kw("script_user", B, Supported, ""),
    kw("set_supplementary_groups", C, Differs, NEWER),
    kw("shutdown_script", C, Supported, "run once by the main process after both sides stopped (VIPs released), waited for up to its timeout"),
    kw("shutdown_script_timeout", C, ParsedOnly, "read: seconds to wait for shutdown_script (1-1000, default 10), then SIGKILL"),
    kw("smtp_alert", C, Supported, "mail default for VRRP instances, sync groups, virtual and real servers"),
    kw("smtp_alert_checker", C, ParsedOnly, "no effect yet: real server mails follow their own `smtp_alert`, else the global one"),
    kw("smtp_alert_vrrp", C, Supported, "mail default for VRRP instances and sync groups (before `smtp_alert`)"),
    kw("smtp_connect_timeout", B, Supported, ""),
    kw("smtp_helo_name", B, Supported, ""),
    kw("smtp_server", B, Supported, ""),
    kw("snmp_rs_stats_update_interval", C, Differs, NEWER),
    kw("snmp_socket", C, ParsedOnly, "SNMP"),
    kw("snmp_vs_stats_update_interval", C, Differs, NEWER),
    kw("startup_script", C, Supported, "run once by the main process before either side starts, waited for up to its timeout"),
    kw("startup_script_timeout", C, ParsedOnly, "read: seconds to wait for startup_script (1-1000, default 10), then SIGKILL"),
    kw("state_dump_file", C, Differs, NEWER),
    kw("stats_dump_file", C, Differs, NEWER),
    kw("tmp_config_directory", C, ParsedOnly, ""),
    kw("umask", C, ParsedOnly, ""),
    kw("use_symlink_paths", C, Differs, NEWER),
    kw("v3_checksum_as_v2", B, Differs, NEWER),
    kw("vmac_addr_prefix", C, ParsedOnly, ""),
    kw("vmac_prefix", C, ParsedOnly, ""),
    kw("vrrp_check_unicast_src", B, Supported, ""),
    kw("vrrp_cpu_affinity", C, ParsedOnly, ""),
    kw("vrrp_delay_after_boot", B, Differs, NEWER),
    kw("vrrp_down_timer_adverts", C, Supported, ""),
    kw("vrrp_garp_extra_if", C, ParsedOnly, ""),
    kw("vrrp_garp_interval", B, Supported, ""),
    kw("vrrp_garp_lower_prio_delay", C, Supported, ""),
    kw("vrrp_garp_lower_prio_repeat", C, Supported, ""),
    kw("vrrp_garp_master_delay", B, Supported, ""),
    kw("vrrp_garp_master_refresh", B, Supported, ""),
    kw("vrrp_garp_master_refresh_repeat", B, Supported, ""),
    kw("vrrp_garp_master_repeat", B, Supported, ""),
    kw("vrrp_gna_interval", B, Supported, ""),
    kw("vrrp_higher_prio_send_advert", C, Supported, ""),
    kw("vrrp_ipsets", C, Differs, IPSETS_NOTE),
    kw("vrrp_iptables", C, Supported, "Debian's 2.2.7 has no iptables: warns (exit 5); nftables is used"),
    kw("vrrp_lower_prio_no_advert", C, Supported, ""),
    kw("vrrp_mcast_group4", C, Supported, ""),
    kw("vrrp_mcast_group6", C, Supported, ""),
    kw("vrrp_min_garp", C, Supported, ""),
    kw("vrrp_netlink_cmd_rcv_bufs", C, ParsedOnly, ""),
    kw("vrrp_netlink_cmd_rcv_bufs_force", C, ParsedOnly, ""),
    kw("vrrp_netlink_monitor_rcv_bufs", C, ParsedOnly, ""),
    kw("vrrp_netlink_monitor_rcv_bufs_force", C, ParsedOnly, ""),
    kw("vrrp_no_swap", C, ParsedOnly, ""),
    kw("vrrp_notify_fifo", B, Supported, ""),
    kw("vrrp_notify_fifo_script", B, Supported, ""),
    kw("vrrp_notify_priority_changes", C, Supported, ""),
    kw("vrrp_owner_ignore_adverts", C, Differs, NEWER),
    kw("vrrp_priority", C, Differs, "nice value of the VRRP thread only (scripts and other threads stay at 0); default -10, keepalived: 0"),
    kw("vrrp_process_name", C, ParsedOnly, ""),
    kw("vrrp_rlimit_rtime", C, ParsedOnly, "alias of vrrp_rlimit_rttime"),
    kw("vrrp_rlimit_rttime", C, ParsedOnly, ""),
    kw("vrrp_rt_priority", C, Supported, "SCHED_RR for the VRRP thread only (other threads stay normal)"),
    kw("vrrp_rx_bufs_multiplier", C, ParsedOnly, ""),
    kw("vrrp_rx_bufs_policy", C, ParsedOnly, ""),
    kw("vrrp_skip_check_adv_addr", B, Supported, ""),
    kw("vrrp_startup_delay", B, Supported, ""),
    kw("vrrp_strict", B, Supported, ""),
    kw("vrrp_version", B, Supported, ""),
    kw("vrrp_vmac_garp_intvl", C, ParsedOnly, "alias of vrrp_garp_extra_if"),
];

/// `vrrp_script` keywords.
#[rustfmt::skip]
pub(super) const VRRP_SCRIPT: &[Keyword] = &[
    kw("fall", A, Supported, ""),
    kw("init_fail", B, Supported, ""),
    kw("interval", A, Supported, ""),
    kw("rise", A, Supported, ""),
    kw("script", A, Supported, ""),
    kw("timeout", A, Supported, ""),
    kw("user", B, Supported, ""),
    kw("weight", A, Supported, ""),
];

/// `track_file` keywords.
#[rustfmt::skip]
pub(super) const TRACK_FILE: &[Keyword] = &[
    kw("file", B, Supported, ""),
    kw("init_file", B, Supported, ""),
    kw("weight", B, Supported, ""),
];

/// `vrrp_track_process` keywords.
#[rustfmt::skip]
pub(super) const VRRP_TRACK_PROCESS: &[Keyword] = &[
    kw("delay", B, Supported, ""),
    kw("fork_delay", B, Supported, ""),
    kw("full_command", B, Supported, ""),
    kw("param_match", B, Supported, ""),
    kw("process", B, Supported, ""),
    kw("quorum", B, Supported, ""),
    kw("quorum_max", B, Supported, ""),
    kw("terminate_delay", B, Supported, ""),
    kw("weight", B, Supported, ""),
];

/// `vrrp_sync_group` keywords.
#[rustfmt::skip]
pub(super) const VRRP_SYNC_GROUP: &[Keyword] = &[
    kw("global_tracking", C, ParsedOnly, "deprecated: use sync_group_tracking_weight"),
    blk("group", B, Supported, "list block of vrrp_instance names"),
    kw("notify", B, Supported, ""),
    kw("notify_backup", B, Supported, ""),
    kw("notify_fault", B, Supported, ""),
    kw("notify_master", B, Supported, ""),
    kw("notify_priority_changes", C, Supported, ""),
    kw("notify_stop", B, Supported, ""),
    kw("smtp_alert", C, Supported, "one mail per state change (`docs/running.md`)"),
    kw("sync_group_tracking_weight", B, Supported, ""),
    blk("track_bfd", B, Supported, "list block"),
    blk("track_file", B, Supported, "list block"),
    blk("track_interface", B, Supported, "list block"),
    blk("track_process", B, Supported, "list block"),
    blk("track_script", B, Supported, "list block"),
];

/// `vrrp_instance` keywords.
#[rustfmt::skip]
pub(super) const VRRP_INSTANCE: &[Keyword] = &[
    kw("accept", B, Supported, ""),
    kw("advert_int", A, Supported, ""),
    blk("auth_hmac", C, Differs, NEWER),
    blk("authentication", B, Supported, ""),
    kw("check_unicast_src", B, Supported, ""),
    kw("debug", C, ParsedOnly, "no-op in keepalived 2.2.7 too"),
    kw("dont_track_primary", B, Supported, ""),
    kw("down_timer_adverts", C, Supported, ""),
    kw("garp_extra_if", B, Supported, ""),
    kw("garp_lower_prio_delay", B, Supported, ""),
    kw("garp_lower_prio_repeat", B, Supported, ""),
    kw("garp_master_delay", B, Supported, ""),
    kw("garp_master_refresh", B, Supported, ""),
    kw("garp_master_refresh_repeat", B, Supported, ""),
    kw("garp_master_repeat", B, Supported, ""),
    kw("higher_prio_send_advert", C, Supported, ""),
    kw("interface", A, Supported, ""),
    kw("kernel_rx_buf_size", C, ParsedOnly, ""),
    kw("linkbeat_use_polling", C, ParsedOnly, "deprecated: use linkbeat_interfaces"),
    kw("lower_prio_no_advert", C, Supported, ""),
    kw("lvs_sync_daemon_interface", C, ParsedOnly, "deprecated: use global_defs lvs_sync_daemon; kept raw, no effect"),
    kw("mcast_dst_ip", C, ParsedOnly, ""),
    kw("mcast_src_ip", B, Supported, ""),
    kw("native_ipv6", C, Supported, "deprecated: accepted and ignored; the VIP family decides"),
    kw("no_accept", B, Supported, ""),
    kw("no_virtual_ipaddress", C, Differs, NEWER),
    kw("nopreempt", A, Supported, ""),
    kw("notify", A, Supported, ""),
    kw("notify_backup", A, Supported, ""),
    kw("notify_deleted", A, Supported, ""),
    kw("notify_fault", A, Supported, ""),
    kw("notify_master", A, Supported, ""),
    kw("notify_master_rx_lower_pri", A, Supported, ""),
    kw("notify_priority_changes", C, Supported, ""),
    kw("notify_stop", A, Supported, ""),
    kw("old_unicast_checksum", C, ParsedOnly, ""),
    kw("owner_ignore_adverts", C, Differs, NEWER),
    kw("preempt", A, Supported, ""),
    kw("preempt_delay", B, Supported, ""),
    kw("priority", A, Supported, ""),
    kw("promote_secondaries", C, ParsedOnly, ""),
    kw("skip_check_adv_addr", B, Supported, ""),
    kw("smtp_alert", C, Supported, "one mail per state change (`docs/running.md`)"),
    kw("state", A, Supported, ""),
    kw("strict_mode", B, Supported, ""),
    kw("timer_expired_backup", C, Differs, NEWER),
    blk("track_bfd", B, Supported, "list block: `NAME [weight W [reverse]]`"),
    blk("track_file", B, Supported, "list block: `NAME [weight W [reverse]]`"),
    blk("track_interface", A, Supported, "list block: `IF [weight W [reverse]]`"),
    blk("track_process", B, Supported, "list block: `NAME [weight W [reverse]]`"),
    blk("track_script", A, Supported, "list block: `NAME [weight W [reverse]]`"),
    kw("track_src_ip", C, ParsedOnly, ""),
    kw("unicast_fault_no_peer", C, ParsedOnly, ""),
    blk("unicast_peer", A, Supported, "list block: `IP [min_ttl N] [max_ttl N]`"),
    kw("unicast_src_ip", A, Supported, ""),
    kw("unicast_ttl", C, Supported, ""),
    kw("use_ipvlan", C, ParsedOnly, ""),
    kw("use_vmac", B, Supported, ""),
    kw("use_vmac_addr", C, ParsedOnly, ""),
    kw("v3_checksum_as_v2", C, Differs, NEWER),
    kw("version", B, Supported, ""),
    blk("virtual_ipaddress", A, Supported, "list block of address lines"),
    blk("virtual_ipaddress_excluded", B, Supported, "list block of address lines"),
    kw("virtual_router_id", A, Supported, ""),
    blk("virtual_routes", B, Supported, "list block of route lines"),
    blk("virtual_rules", B, Supported, "list block of rule lines"),
    kw("vmac_xmit_base", C, Supported, ""),
    kw("vrf", C, ParsedOnly, ""),
];

/// `vrrp_instance.authentication` keywords.
#[rustfmt::skip]
pub(super) const VRRP_INSTANCE_AUTHENTICATION: &[Keyword] = &[
    kw("auth_pass", B, Supported, ""),
    kw("auth_type", B, Supported, ""),
];

/// `vrrp_instance.auth_hmac` keywords.
#[rustfmt::skip]
pub(super) const VRRP_INSTANCE_AUTH_HMAC: &[Keyword] = &[
    kw("active_key", C, Differs, NEWER),
    kw("anti_replay", C, Differs, NEWER),
    kw("key", C, Differs, NEWER),
    kw("mode", C, Differs, NEWER),
    kw("time_window", C, Differs, NEWER),
];

/// `garp_group` keywords.
#[rustfmt::skip]
pub(super) const GARP_GROUP: &[Keyword] = &[
    kw("garp_interval", C, ParsedOnly, ""),
    kw("gna_interval", C, ParsedOnly, ""),
    kw("interface", C, ParsedOnly, ""),
    blk("interfaces", C, ParsedOnly, "list block of interface names"),
];

/// `track_group` keywords.
#[rustfmt::skip]
pub(super) const TRACK_GROUP: &[Keyword] = &[
    blk("group", C, ParsedOnly, "list block of vrrp_instance names"),
];

/// `bfd_instance` keywords.
#[rustfmt::skip]
pub(super) const BFD_INSTANCE: &[Keyword] = &[
    kw("checker", C, ParsedOnly, ""),
    kw("hoplimit", C, ParsedOnly, ""),
    kw("idle_tx", C, ParsedOnly, ""),
    kw("max_hops", C, ParsedOnly, ""),
    kw("min_rx", C, ParsedOnly, ""),
    kw("min_tx", C, ParsedOnly, ""),
    kw("multihop", C, Differs, NEWER),
    kw("multiplier", C, ParsedOnly, ""),
    kw("neighbor_ip", C, ParsedOnly, ""),
    kw("neighbour_ip", C, ParsedOnly, "alias of neighbor_ip"),
    kw("passive", C, ParsedOnly, ""),
    kw("source_ip", C, ParsedOnly, ""),
    kw("ttl", C, ParsedOnly, ""),
    kw("vrrp", C, ParsedOnly, ""),
    kw("weight", C, ParsedOnly, ""),
];

/// `virtual_server_group` keywords.
#[rustfmt::skip]
pub(super) const VIRTUAL_SERVER_GROUP: &[Keyword] = &[
    kw("fwmark", B, Supported, "group line: fwmark N [inet|inet6]"),
];

/// `virtual_server` keywords.
#[rustfmt::skip]
pub(super) const VIRTUAL_SERVER: &[Keyword] = &[
    kw("alpha", B, Supported, ""),
    kw("connect_timeout", B, Supported, ""),
    kw("delay_before_retry", B, Supported, ""),
    kw("delay_loop", A, Supported, ""),
    kw("flag-1", C, Supported, ""),
    kw("flag-2", C, Supported, ""),
    kw("flag-3", C, Supported, ""),
    kw("ha_suspend", C, Supported, ""),
    kw("hashed", C, Supported, ""),
    kw("hysteresis", B, Supported, ""),
    kw("inhibit_on_failure", B, Supported, ""),
    kw("ip_family", C, Supported, ""),
    kw("lb_algo", A, Supported, ""),
    kw("lb_kind", A, Supported, ""),
    kw("lvs_method", A, Supported, ""),
    kw("lvs_sched", A, Supported, ""),
    kw("mh-fallback", C, Supported, ""),
    kw("mh-port", C, Supported, ""),
    kw("omega", B, Supported, ""),
    kw("ops", C, Supported, ""),
    kw("persistence_engine", B, Supported, ""),
    kw("persistence_granularity", B, Supported, ""),
    kw("persistence_timeout", B, Supported, ""),
    kw("protocol", A, Supported, ""),
    kw("quorum", B, Supported, ""),
    kw("quorum_down", B, Supported, ""),
    kw("quorum_up", B, Supported, ""),
    blk("real_server", A, Supported, ""),
    kw("retry", B, Supported, ""),
    kw("sh-fallback", C, Supported, ""),
    kw("sh-port", C, Supported, ""),
    kw("smtp_alert", C, Supported, "one mail per quorum change; off unless set here or globally"),
    kw("snmp_name", C, ParsedOnly, "kept raw (SNMP is not built)"),
    kw("sorry_server", B, Supported, ""),
    kw("sorry_server_inhibit", B, Supported, ""),
    kw("sorry_server_lvs_method", B, Supported, ""),
    kw("virtualhost", C, Supported, ""),
    kw("warmup", B, Supported, ""),
    kw("weight", C, ParsedOnly, "checked, kept raw"),
];

/// `real_server` keywords.
#[rustfmt::skip]
pub(super) const REAL_SERVER: &[Keyword] = &[
    kw("alpha", C, Supported, ""),
    blk("BFD_CHECK", C, Supported, "not run (no BFD): the real server keeps its start-up state"),
    kw("connect_timeout", B, Supported, ""),
    kw("delay_before_retry", B, Supported, ""),
    kw("delay_loop", C, Supported, ""),
    blk("DNS_CHECK", C, Supported, ""),
    blk("FILE_CHECK", C, Supported, ""),
    blk("HTTP_GET", A, Supported, ""),
    kw("inhibit_on_failure", B, Supported, ""),
    kw("lthreshold", C, Supported, ""),
    kw("lvs_method", B, Supported, ""),
    blk("MISC_CHECK", A, Supported, ""),
    kw("notify_down", B, Supported, ""),
    kw("notify_up", B, Supported, ""),
    blk("PING_CHECK", C, Supported, ""),
    kw("retry", B, Supported, ""),
    kw("smtp_alert", C, Supported, "one mail per up/down; on unless `smtp_alert` is off here or globally"),
    blk("SMTP_CHECK", C, Supported, ""),
    kw("snmp_name", C, ParsedOnly, "kept raw (SNMP is not built)"),
    blk("SSL_GET", B, Supported, ""),
    blk("TCP_CHECK", A, Supported, ""),
    blk("UDP_CHECK", C, Supported, ""),
    kw("uthreshold", C, Supported, ""),
    kw("virtualhost", C, Supported, ""),
    kw("warmup", C, Supported, ""),
    kw("weight", A, Supported, ""),
];

/// `TCP_CHECK` keywords.
#[rustfmt::skip]
pub(super) const TCP_CHECK: &[Keyword] = &[
    kw("alpha", C, Supported, ""),
    kw("bind_if", C, Supported, ""),
    kw("bind_port", C, Supported, ""),
    kw("bindto", C, Supported, ""),
    kw("connect_ip", B, Supported, ""),
    kw("connect_port", A, Supported, ""),
    kw("connect_timeout", A, Supported, ""),
    kw("delay_before_retry", A, Supported, ""),
    kw("delay_loop", B, Supported, ""),
    kw("fwmark", C, Supported, ""),
    kw("log_all_failures", C, Supported, ""),
    kw("retry", A, Supported, ""),
    kw("warmup", C, Supported, ""),
];

/// `HTTP_GET` keywords.
#[rustfmt::skip]
pub(super) const HTTP_GET: &[Keyword] = &[
    kw("alpha", C, Supported, ""),
    kw("bind_if", C, Supported, ""),
    kw("bind_port", C, Supported, ""),
    kw("bindto", C, Supported, ""),
    kw("connect_ip", B, Supported, ""),
    kw("connect_port", A, Supported, ""),
    kw("connect_timeout", A, Supported, ""),
    kw("delay_before_retry", A, Supported, ""),
    kw("delay_loop", B, Supported, ""),
    kw("enable_sni", C, Supported, ""),
    kw("fast_recovery", C, Supported, ""),
    kw("fwmark", C, Supported, ""),
    kw("http_protocol", B, Supported, ""),
    kw("log_all_failures", C, Supported, ""),
    kw("nb_get_retry", B, Supported, ""),
    kw("retry", A, Supported, ""),
    kw("sni_name", C, Differs, NEWER),
    blk("url", A, Supported, ""),
    kw("virtualhost", B, Supported, ""),
    kw("warmup", C, Supported, ""),
];

/// `SSL_GET` keywords.
#[rustfmt::skip]
pub(super) const SSL_GET: &[Keyword] = &[
    kw("alpha", C, Supported, ""),
    kw("bind_if", C, Supported, ""),
    kw("bind_port", C, Supported, ""),
    kw("bindto", C, Supported, ""),
    kw("connect_ip", B, Supported, ""),
    kw("connect_port", A, Supported, ""),
    kw("connect_timeout", A, Supported, ""),
    kw("delay_before_retry", A, Supported, ""),
    kw("delay_loop", B, Supported, ""),
    kw("enable_sni", C, Supported, ""),
    kw("fast_recovery", C, Supported, ""),
    kw("fwmark", C, Supported, ""),
    kw("http_protocol", B, Supported, ""),
    kw("log_all_failures", C, Supported, ""),
    kw("nb_get_retry", B, Supported, ""),
    kw("retry", A, Supported, ""),
    kw("sni_name", C, Differs, NEWER),
    blk("url", A, Supported, ""),
    kw("virtualhost", B, Supported, ""),
    kw("warmup", C, Supported, ""),
];

/// `HTTP_GET.url` keywords.
#[rustfmt::skip]
pub(super) const HTTP_GET_URL: &[Keyword] = &[
    kw("digest", B, Supported, ""),
    kw("path", A, Supported, ""),
    kw("regex", C, Supported, "Rust regex syntax (PCRE-only syntax such as look-around is refused with a log line and the url checked without it); `$` is end of body only; the first 1 MiB of the body is searched"),
    kw("regex_max_offset", C, ParsedOnly, "kept raw and applied by HTTP_GET/SSL_GET: the match must start before it"),
    kw("regex_min_offset", C, ParsedOnly, "kept raw and applied by HTTP_GET/SSL_GET: the match may not start before it"),
    kw("regex_no_match", C, Supported, ""),
    kw("regex_options", C, ParsedOnly, "kept raw and applied: caseless, dotall, multiline, extended, ungreedy, utf/ucp; others refuse the regex with a log line"),
    kw("regex_stack", C, ParsedOnly, "kept raw; no effect (the regex engine needs no stack)"),
    kw("status_code", A, Supported, ""),
    kw("tls_compliant", C, Differs, NEWER),
    kw("virtualhost", B, Supported, ""),
];

/// `SMTP_CHECK` keywords.
#[rustfmt::skip]
pub(super) const SMTP_CHECK: &[Keyword] = &[
    kw("alpha", C, Supported, ""),
    kw("bind_if", C, Supported, ""),
    kw("bind_port", C, Supported, ""),
    kw("bindto", C, Supported, ""),
    kw("connect_ip", C, Supported, ""),
    kw("connect_port", C, Supported, ""),
    kw("connect_timeout", C, Supported, ""),
    kw("delay_before_retry", C, Supported, ""),
    kw("delay_loop", C, Supported, ""),
    kw("fwmark", C, Supported, ""),
    kw("helo_name", C, Supported, ""),
    blk("host", C, ParsedOnly, "sub-block checked, kept raw"),
    kw("log_all_failures", C, Supported, ""),
    kw("retry", C, Supported, ""),
    kw("warmup", C, Supported, ""),
];

/// `SMTP_CHECK.host` keywords.
#[rustfmt::skip]
pub(super) const SMTP_CHECK_HOST: &[Keyword] = &[
    kw("alpha", C, ParsedOnly, "deprecated host sub-block: checked, kept raw"),
    kw("bind_if", C, ParsedOnly, "deprecated host sub-block: checked, kept raw"),
    kw("bind_port", C, ParsedOnly, "deprecated host sub-block: checked, kept raw"),
    kw("bindto", C, ParsedOnly, "deprecated host sub-block: checked, kept raw"),
    kw("connect_ip", B, ParsedOnly, "deprecated host sub-block: checked, kept raw"),
    kw("connect_port", A, ParsedOnly, "deprecated host sub-block: checked, kept raw"),
    kw("connect_timeout", A, ParsedOnly, "deprecated host sub-block: checked, kept raw"),
    kw("delay_before_retry", A, ParsedOnly, "deprecated host sub-block: checked, kept raw"),
    kw("delay_loop", B, ParsedOnly, "deprecated host sub-block: checked, kept raw"),
    kw("fwmark", C, ParsedOnly, "deprecated host sub-block: checked, kept raw"),
    kw("log_all_failures", C, ParsedOnly, "deprecated host sub-block: checked, kept raw"),
    kw("retry", A, ParsedOnly, "deprecated host sub-block: checked, kept raw"),
    kw("warmup", C, ParsedOnly, "deprecated host sub-block: checked, kept raw"),
];

/// `MISC_CHECK` keywords.
#[rustfmt::skip]
pub(super) const MISC_CHECK: &[Keyword] = &[
    kw("alpha", C, Supported, ""),
    kw("delay_before_retry", B, Supported, ""),
    kw("delay_loop", B, Supported, ""),
    kw("log_all_failures", C, Supported, ""),
    kw("misc_dynamic", B, Supported, ""),
    kw("misc_path", A, Supported, ""),
    kw("misc_timeout", A, Supported, ""),
    kw("retry", B, Supported, ""),
    kw("user", B, Supported, ""),
    kw("warmup", C, Supported, ""),
];

/// `DNS_CHECK` keywords.
#[rustfmt::skip]
pub(super) const DNS_CHECK: &[Keyword] = &[
    kw("alpha", C, Supported, ""),
    kw("bind_if", C, Supported, ""),
    kw("bind_port", C, Supported, ""),
    kw("bindto", C, Supported, ""),
    kw("connect_ip", C, Supported, ""),
    kw("connect_port", C, Supported, ""),
    kw("connect_timeout", C, Supported, ""),
    kw("delay_before_retry", C, Supported, ""),
    kw("delay_loop", C, Supported, ""),
    kw("fwmark", C, Supported, ""),
    kw("log_all_failures", C, Supported, ""),
    kw("name", C, Supported, ""),
    kw("retry", C, Supported, ""),
    kw("type", C, Supported, ""),
    kw("warmup", C, Supported, ""),
];

/// `UDP_CHECK` keywords.
#[rustfmt::skip]
pub(super) const UDP_CHECK: &[Keyword] = &[
    kw("alpha", C, Supported, ""),
    kw("bind_if", C, Supported, ""),
    kw("bind_port", C, Supported, ""),
    kw("bindto", C, Supported, ""),
    kw("connect_ip", C, Supported, ""),
    kw("connect_port", C, Supported, ""),
    kw("connect_timeout", C, Supported, ""),
    kw("delay_before_retry", C, Supported, ""),
    kw("delay_loop", C, Supported, ""),
    kw("fwmark", C, Supported, ""),
    kw("log_all_failures", C, Supported, ""),
    kw("max_reply_length", C, Supported, ""),
    kw("min_reply_length", C, Supported, ""),
    kw("payload", C, Supported, ""),
    kw("require_reply", C, Supported, ""),
    kw("retry", C, Supported, ""),
    kw("warmup", C, Supported, ""),
];

/// `PING_CHECK` keywords.
#[rustfmt::skip]
pub(super) const PING_CHECK: &[Keyword] = &[
    kw("alpha", C, Supported, ""),
    kw("bind_if", C, Supported, ""),
    kw("bind_port", C, Supported, ""),
    kw("bindto", C, Supported, ""),
    kw("connect_ip", C, Supported, ""),
    kw("connect_port", C, Supported, ""),
    kw("connect_timeout", C, Supported, ""),
    kw("delay_before_retry", C, Supported, ""),
    kw("delay_loop", C, Supported, ""),
    kw("fwmark", C, Supported, ""),
    kw("log_all_failures", C, Supported, ""),
    kw("retry", C, Supported, ""),
    kw("warmup", C, Supported, ""),
];

/// `FILE_CHECK` keywords.
#[rustfmt::skip]
pub(super) const FILE_CHECK: &[Keyword] = &[
    kw("dynamic", C, Differs, FILE_DYNAMIC_NOTE),
    kw("track_file", C, Supported, ""),
    kw("weight", C, Supported, ""),
];

/// `BFD_CHECK` keywords.
#[rustfmt::skip]
pub(super) const BFD_CHECK: &[Keyword] = &[
    kw("alpha", C, Supported, ""),
    kw("name", C, Supported, "the BFD session itself is not built yet"),
];

/// `SSL` keywords.
#[rustfmt::skip]
pub(super) const SSL: &[Keyword] = &[
    kw("ca", C, ParsedOnly, "kept raw and used by SSL_GET: CA file loaded, certificates never verified (as 2.2.7)"),
    kw("certificate", C, ParsedOnly, "kept raw and used by SSL_GET: client certificate chain (PEM)"),
    kw("key", C, ParsedOnly, "kept raw and used by SSL_GET: client private key (PEM)"),
    kw("password", C, ParsedOnly, "kept raw and used by SSL_GET: unlocks an encrypted `key`"),
];
