//! From the block tree to the typed model: one handler per keyword, keepalived's defaults, and
//! the cross-field rules in one validation pass ([`validate`]).

pub mod addr;
pub mod lvs;
pub mod script;
pub mod types;
pub mod validate;
pub mod values;
mod vrrp;

pub use types::*;

use crate::diag::{nearest, Diagnostics, Phase};
use crate::env::Environment;
use crate::keywords;
use crate::tree::Node;
use script::{split_command, Script};
use values::*;

/// The LVS blocks of a configuration, turned into model while the file is still being read.
#[derive(Debug, Default)]
pub struct LvsPart {
    groups: Vec<lvs::VirtualServerGroup>,
    servers: Vec<lvs::VirtualServer>,
}

impl LvsPart {
    /// Whether a completed top-level statement belongs here.
    pub fn wants(node: &Node) -> bool {
        matches!(
            node.keyword.as_str(),
            "virtual_server" | "virtual_server_group"
        )
    }

    /// Turns one `virtual_server` or `virtual_server_group` statement into model.
    pub fn add(&mut self, node: &Node, d: &mut Diagnostics) {
        d.set_phase(Phase::Subsystem);
        match node.keyword.as_str() {
            "virtual_server" => {
                if let Some(vs) = lvs::virtual_server(node, d) {
                    self.servers.push(vs);
                }
            }
            "virtual_server_group" => {
                if let Some(g) = lvs::virtual_server_group(node, d) {
                    self.groups.push(g);
                }
            }
            _ => {}
        }
        d.set_phase(Phase::First);
    }
}

/// Builds the model from the tree and validates it against the environment.
pub fn build(nodes: &[Node], env: &dyn Environment, d: &mut Diagnostics) -> Config {
    build_with(nodes, LvsPart::default(), env, d)
}

/// Like [`build`], with LVS blocks already turned into model while reading.
pub fn build_with(
    nodes: &[Node],
    lvs: LvsPart,
    env: &dyn Environment,
    d: &mut Diagnostics,
) -> Config {
    let mut cfg = Config {
        virtual_server_groups: lvs.groups,
        virtual_servers: lvs.servers,
        ..Config::default()
    };
    // keepalived's first pass reads global_defs (and reports unknown top-level keywords); the
    // subsystem passes read everything else.
    for node in nodes.iter().filter(|n| n.keyword == "global_defs") {
        d.set_phase(Phase::First);
        global_defs(node, &mut cfg, env, d);
    }
    for node in nodes {
        d.set_phase(Phase::Subsystem);
        match node.keyword.as_str() {
            "global_defs" => {}
            "vrrp_script" => vrrp::vrrp_script(node, &mut cfg, d),
            "track_file" | "vrrp_track_file" => vrrp::track_file(node, &mut cfg, d),
            "vrrp_track_process" => vrrp::track_process(node, &mut cfg, d),
            "vrrp_sync_group" => vrrp::sync_group(node, &mut cfg, d),
            "vrrp_instance" => vrrp::instance(node, &mut cfg, d),
            "static_ipaddress" => {
                for line in block_lines(node, d) {
                    if let Some(a) = addr::address_line(line, d) {
                        cfg.static_addresses.push(a);
                    }
                }
            }
            "static_routes" => {
                for line in block_lines(node, d) {
                    if let Some(r) = addr::route_line(line, d) {
                        cfg.static_routes.push(r);
                    }
                }
            }
            "static_rules" => {
                for line in block_lines(node, d) {
                    if let Some(r) = addr::rule_line(line, d) {
                        cfg.static_rules.push(r);
                    }
                }
            }
            "virtual_server" => {
                if let Some(vs) = lvs::virtual_server(node, d) {
                    cfg.virtual_servers.push(vs);
                }
            }
            "virtual_server_group" => {
                if let Some(g) = lvs::virtual_server_group(node, d) {
                    cfg.virtual_server_groups.push(g);
                }
            }
            "SSL" => cfg.parsed_only.push(lvs::ssl_block(node, d)),
            "include" | "includer" | "includem" | "includew" | "includeb" | "includea" => {
                // The preprocessor consumes every include with a pattern; one that reaches
                // here had none, and keepalived then reports an unknown keyword.
                d.set_phase(Phase::First);
                d.warning(
                    Some(&node.location),
                    format!("'{}' without a file pattern", node.keyword),
                )
                .with_help(format!("write '{} PATTERN'", node.keyword));
            }
            "garp_group" => {
                for kw in block_lines(node, d) {
                    match kw.keyword.as_str() {
                        "interface" => {
                            if let Some(i) = word(kw, 0, d) {
                                garp_group_interface(&i, &kw.location, env, d);
                            }
                        }
                        "interfaces" => {
                            for line in block_lines(kw, d) {
                                garp_group_interface(&line.keyword, &line.location, env, d);
                            }
                        }
                        "garp_interval" | "gna_interval" => {
                            seconds(kw, 0, 1, 4_294_967_295, d);
                        }
                        _ => other_keyword("garp_group", kw, &mut cfg.parsed_only, d),
                    }
                }
                cfg.parsed_only.push(raw("root", node));
            }
            "linkbeat_interfaces" => {
                for line in block_lines(node, d) {
                    if !env.interface_exists(&line.keyword) {
                        d.fatal(
                            Some(&line.location),
                            format!(
                                "unknown interface {} specified for linkbeat interface",
                                line.keyword
                            ),
                        );
                    }
                }
                cfg.parsed_only.push(raw("root", node));
            }
            _ => {
                d.set_phase(Phase::First);
                other_keyword("root", node, &mut cfg.parsed_only, d);
            }
        }
    }
    d.set_phase(Phase::Subsystem);
    validate::validate(&mut cfg, env, d);
    cfg
}

fn garp_group_interface(
    name: &str,
    loc: &crate::diag::Location,
    env: &dyn Environment,
    d: &mut Diagnostics,
) {
    if !env.interface_exists(name) {
        d.warning(
            Some(loc),
            format!("garp_group: interface {name} doesn't exist"),
        );
    }
}

/// Keeps a raw copy of a statement.
pub(crate) fn raw(block: &str, node: &Node) -> RawStatement {
    let inner = format!("{block}.{}", node.keyword);
    RawStatement {
        block: block.to_string(),
        keyword: node.keyword.to_string(),
        args: node.args.iter().map(|a| a.text.to_string()).collect(),
        has_block: node.block.is_some(),
        children: node.children().iter().map(|c| raw(&inner, c)).collect(),
        location: node.location.clone(),
    }
}

/// Handles a keyword no typed handler took: parsed-only when the inventory knows it, an
/// "unknown keyword" error (with the nearest known keyword) when it does not.
pub(crate) fn other_keyword(
    block: &str,
    node: &Node,
    parsed_only: &mut Vec<RawStatement>,
    d: &mut Diagnostics,
) {
    match keywords::keyword(block, &node.keyword) {
        Some(kw) if kw.status == keywords::Status::Differs => {
            d.warning(
                Some(&node.location),
                format!("'{}' is not a keepalived 2.2.7 keyword", node.keyword),
            )
            .with_help(format!(
                "{}; keepalived-rs {}",
                kw.note, "keeps it as parsed-only"
            ));
            parsed_only.push(raw(block, node));
        }
        Some(kw) if keywords::read_although_raw(kw) => {
            d.note(
                Some(&node.location),
                format!(
                    "'{}' is kept raw and read: {}",
                    node.keyword,
                    keywords::read_note(kw)
                ),
            );
            parsed_only.push(raw(block, node));
        }
        Some(_) => {
            d.note(
                Some(&node.location),
                format!(
                    "'{}' is recognised but has no effect yet (parsed-only)",
                    node.keyword
                ),
            );
            parsed_only.push(raw(block, node));
        }
        None => unknown_keyword(block, node, d),
    }
}

/// Reports an unknown keyword; keepalived skips it (and its block) and goes on.
pub(crate) fn unknown_keyword(block: &str, node: &Node, d: &mut Diagnostics) {
    let known = keywords::block(block)
        .map(|b| b.keywords.iter().map(|k| k.name).collect::<Vec<_>>())
        .unwrap_or_default();
    let diag = d.warning(
        Some(&node.location),
        format!(
            "unknown keyword '{}' in {}",
            node.keyword,
            block_name(block)
        ),
    );
    if let Some(near) = nearest(&node.keyword, known.iter().copied()) {
        diag.with_help(format!("did you mean '{near}'?"));
    }
}

fn block_name(block: &str) -> String {
    if block == "root" {
        "the top level".to_string()
    } else {
        format!("'{block}'")
    }
}

/// The lines of a list block (`virtual_ipaddress { ... }`); reports a missing block.
pub(crate) fn block_lines<'a>(node: &'a Node, d: &mut Diagnostics) -> &'a [Node] {
    match &node.block {
        Some(children) => children,
        None => {
            d.error(
                Some(&node.location),
                format!("'{}' needs a '{{' block", node.keyword),
            )
            .with_help(format!("write '{} {{ ... }}'", node.keyword));
            &[]
        }
    }
}

/// Reads a script keyword: `KEYWORD "command args" [user [group]]`.
pub(crate) fn script_value(node: &Node, d: &mut Diagnostics) -> Option<Script> {
    let Some(cmd) = node.arg(0) else {
        missing(node, d);
        return None;
    };
    if cmd.unterminated {
        // Already reported as an unmatched quote; keepalived drops the script.
        return None;
    }
    let argv = match split_command(&cmd.text) {
        Ok(v) => v,
        Err(e) => {
            d.error(
                Some(&cmd.location),
                format!("{}: {e}: '{}'", node.keyword, cmd.text),
            );
            return None;
        }
    };
    if argv.is_empty() {
        d.error(
            Some(&cmd.location),
            format!("{}: empty command", node.keyword),
        );
        return None;
    }
    let (user, group) = match node.arg(1) {
        Some(u) => match u.text.split_once(':') {
            Some((u, g)) => (Some(u.to_string()), Some(g.to_string())),
            None => (
                Some(u.text.to_string()),
                node.arg(2).map(|g| g.text.to_string()),
            ),
        },
        None => (None, None),
    };
    Some(Script {
        command: cmd.text.to_string(),
        argv,
        user,
        group,
    })
}

/// Reads `USER [GROUP]` (also `USER:GROUP`).
pub(crate) fn run_as(node: &Node, d: &mut Diagnostics) -> Option<RunAs> {
    let u = word(node, 0, d)?;
    if let Some((u, g)) = u.split_once(':') {
        return Some(RunAs {
            user: u.to_string(),
            group: Some(g.to_string()),
        });
    }
    Some(RunAs {
        user: u,
        group: node.arg(1).map(|a| a.text.to_string()),
    })
}

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

fn fifo(node: &Node, f: &mut NotifyFifo, d: &mut Diagnostics) {
    if let Some(p) = word(node, 0, d) {
        f.path = Some(p);
        if let Some(u) = node.arg(1) {
            f.owner = Some(RunAs {
                user: u.text.to_string(),
                group: node.arg(2).map(|g| g.text.to_string()),
            });
        }
    }
}

/// A value keepalived's handler checks for itself: a missing one is an error, not an abort.
fn soft_word(kw: &Node, what: &str, d: &mut Diagnostics) -> Option<String> {
    match kw.arg(0) {
        Some(a) => Some(a.text.to_string()),
        None => {
            d.error(
                Some(&kw.location),
                format!("{}: {what} missing - ignoring", kw.keyword),
            );
            None
        }
    }
}

/// Reads `lvs_sync_daemon IF [[inst] VI] [id N] [maxlen N] [port N] [ttl N] [group IP]`.
fn lvs_sync_daemon(kw: &Node, d: &mut Diagnostics) -> Option<types::LvsSyncDaemon> {
    let Some(interface) = kw.arg(0) else {
        d.error(Some(&kw.location), "lvs_sync_daemon requires interface");
        return None;
    };
    let mut sd = types::LvsSyncDaemon {
        interface: interface.text.to_string(),
        instance: None,
        sync_id: None,
        maxlen: None,
        port: None,
        ttl: None,
        group: None,
    };
    let mut n = 1;
    let mut instance_seen = false;
    while let Some(a) = kw.arg(n) {
        let value = kw.arg(n + 1).map(|v| v.text.as_str());
        match a.text.as_str() {
            "inst" => {
                instance_seen = true;
                sd.instance = value.map(str::to_string);
                n += 2;
            }
            "id" => {
                let id = value
                    .and_then(|v| v.parse::<u32>().ok())
                    .filter(|v| *v <= 255);
                if id.is_none() {
                    d.error(
                        Some(&a.location),
                        format!(
                            "invalid syncid ({}) - defaulting to vrid",
                            value.unwrap_or("")
                        ),
                    );
                }
                sd.sync_id = id;
                n += 2;
            }
            "maxlen" => {
                sd.maxlen = value.and_then(|v| v.parse().ok());
                n += 2;
            }
            "port" => {
                sd.port = value.and_then(|v| v.parse().ok());
                n += 2;
            }
            "ttl" => {
                sd.ttl = value.and_then(|v| v.parse().ok());
                n += 2;
            }
            "group" => {
                sd.group = value.and_then(|v| v.parse().ok());
                n += 2;
            }
            _ if !instance_seen && n == 1 => {
                instance_seen = true;
                sd.instance = Some(a.text.to_string());
                n += 1;
            }
            other => {
                d.error(
                    Some(&a.location),
                    format!("unknown option {other} specified for lvs_sync_daemon"),
                );
                n += 1;
            }
        }
    }
    Some(sd)
}

/// `global_defs { ... }`.
fn global_defs(node: &Node, cfg: &mut Config, env: &dyn Environment, d: &mut Diagnostics) {
    let g = &mut cfg.global;
    for kw in block_lines(node, d) {
        let k = kw.keyword.as_str();
        match k {
            "router_id" => g.router_id = soft_word(kw, "router id", d),
            "notification_email" => g
                .notification_email
                .extend(block_lines(kw, d).iter().map(|l| l.keyword.to_string())),
            "notification_email_from" => {
                g.notification_email_from = soft_word(kw, "sender address", d)
            }
            "smtp_server" => {
                if let Some(host) = word(kw, 0, d) {
                    let port = if kw.arg(1).is_some() {
                        uint(kw, 1, 1, 65535, d)
                    } else {
                        Some(25)
                    };
                    if host.parse::<std::net::IpAddr>().is_err() && !env.host_resolves(&host) {
                        d.error(
                            Some(kw.arg_location(0)),
                            format!("invalid smtp server {host}: the name does not resolve"),
                        );
                    }
                    g.smtp_server = Some(SmtpServer {
                        host,
                        port: port.unwrap_or(25) as u16,
                    });
                }
            }
            "smtp_helo_name" => g.smtp_helo_name = word(kw, 0, d),
            "smtp_connect_timeout" => set(
                &mut g.smtp_connect_timeout,
                uint(kw, 0, 1, 3600, d).map(|v| v as u32),
            ),
            "smtp_alert" => g.smtp_alert = flag(kw, d),
            "smtp_alert_vrrp" => g.smtp_alert_vrrp = flag(kw, d),
            "script_user" => {
                if kw.args.is_empty() {
                    d.error(
                        Some(&kw.location),
                        "script_user: no script username specified",
                    );
                } else if let Some(r) = run_as(kw, d) {
                    if env.user(&r.user).is_none()
                        || r.group.as_ref().is_some_and(|g| env.group(g).is_none())
                    {
                        d.error(
                            Some(&kw.location),
                            format!("script_user {}: no such user or group", r.user),
                        )
                        .with_help("error setting global script uid/gid");
                    }
                    g.script_user = Some(r);
                }
            }
            "startup_script" => g.startup_script = script_value(kw, d),
            "shutdown_script" => g.shutdown_script = script_value(kw, d),
            "vrrp_iptables" => {
                d.warning(
                    Some(&kw.location),
                    "vrrp_iptables: iptables is not supported, nftables is used instead",
                );
            }
            "vrrp_priority" | "checker_priority" | "bfd_priority" => {
                if kw.args.is_empty() {
                    d.error(
                        Some(&kw.location),
                        format!("{k}: no process priority specified"),
                    );
                } else {
                    int(kw, 0, -20, 19, d);
                }
                cfg.parsed_only.push(raw("global_defs", kw));
            }
            "enable_script_security" => g.enable_script_security = true,
            "vrrp_version" => set(&mut g.vrrp_version, uint(kw, 0, 2, 3, d).map(|v| v as u8)),
            "vrrp_garp_master_repeat" => set(
                &mut g.vrrp_garp_master_repeat,
                uint(kw, 0, 1, 65535, d).map(|v| v as u32),
            ),
            "vrrp_mcast_group4" => {
                if let Some(a) = ip(kw, 0, d) {
                    if a.is_ipv4() && a.is_multicast() {
                        g.vrrp_mcast_group4 = a;
                    } else {
                        d.error(
                            Some(kw.arg_location(0)),
                            format!("vrrp_mcast_group4 '{a}' is not an IPv4 multicast address"),
                        );
                    }
                }
            }
            "vrrp_mcast_group6" => {
                if let Some(a) = ip(kw, 0, d) {
                    if a.is_ipv6() && a.is_multicast() {
                        g.vrrp_mcast_group6 = a;
                    } else {
                        d.error(
                            Some(kw.arg_location(0)),
                            format!("vrrp_mcast_group6 '{a}' is not an IPv6 multicast address"),
                        );
                    }
                }
            }
            "vrrp_garp_master_delay" => set(
                &mut g.vrrp_garp_master_delay,
                uint(kw, 0, 0, 86400, d).map(|v| v as u32),
            ),
            "vrrp_garp_master_refresh" => set(
                &mut g.vrrp_garp_master_refresh,
                uint(kw, 0, 0, 86400 * 365, d).map(|v| v as u32),
            ),
            "vrrp_garp_master_refresh_repeat" => set(
                &mut g.vrrp_garp_master_refresh_repeat,
                uint(kw, 0, 0, 65535, d).map(|v| v as u32),
            ),
            "vrrp_garp_lower_prio_delay" => {
                g.vrrp_garp_lower_prio_delay = uint(kw, 0, 0, 86400, d).map(|v| v as u32)
            }
            "vrrp_garp_lower_prio_repeat" => {
                g.vrrp_garp_lower_prio_repeat = uint(kw, 0, 0, 65535, d).map(|v| v as u32)
            }
            "vrrp_garp_interval" => set(
                &mut g.vrrp_garp_interval_us,
                seconds(kw, 0, 1, 4_294_967_295, d),
            ),
            "vrrp_gna_interval" => set(
                &mut g.vrrp_gna_interval_us,
                seconds(kw, 0, 1, 4_294_967_295, d),
            ),
            "vrrp_min_garp" => set(&mut g.vrrp_min_garp, flag(kw, d)),
            "vrrp_strict" => g.vrrp_strict = true,
            "vrrp_check_unicast_src" => g.vrrp_check_unicast_src = true,
            "vrrp_skip_check_adv_addr" => g.vrrp_skip_check_adv_addr = true,
            "vrrp_lower_prio_no_advert" => set(&mut g.vrrp_lower_prio_no_advert, flag(kw, d)),
            "vrrp_higher_prio_send_advert" => set(&mut g.vrrp_higher_prio_send_advert, flag(kw, d)),
            "vrrp_startup_delay" => set(
                &mut g.vrrp_startup_delay_us,
                // keepalived 2.2.7: "number '0' outside range [0.001000, 4294.967295]".
                seconds(kw, 0, 1000, 4_294_967_295, d),
            ),
            "dynamic_interfaces" => {
                g.dynamic_interfaces = true;
                if let Some(a) = kw.arg(0) {
                    if a.text != "allow_if_changes" {
                        d.error(
                            Some(&a.location),
                            format!("dynamic_interfaces: unknown option '{}'", a.text),
                        )
                        .with_help("expected 'allow_if_changes'");
                    }
                }
            }
            "vrrp_down_timer_adverts" => set(
                &mut g.vrrp_down_timer_adverts,
                uint(kw, 0, 1, 100, d).map(|v| v as u32),
            ),
            "notify_fifo" => {
                if kw.args.is_empty() {
                    d.error(
                        Some(&kw.location),
                        "notify_fifo: no notify_fifo name specified",
                    );
                } else {
                    fifo(kw, &mut g.notify_fifo, d)
                }
            }
            "notify_fifo_script" => g.notify_fifo.script = script_value(kw, d),
            "vrrp_notify_fifo" => fifo(kw, &mut g.vrrp_notify_fifo, d),
            "vrrp_notify_fifo_script" => g.vrrp_notify_fifo.script = script_value(kw, d),
            "lvs_notify_fifo" => fifo(kw, &mut g.lvs_notify_fifo, d),
            "lvs_notify_fifo_script" => g.lvs_notify_fifo.script = script_value(kw, d),
            "lvs_flush_on_stop" | "lvs_flush_onstop" => match kw.arg(0) {
                None => g.lvs.flush_on_stop = Some(types::LvsFlushOnStop::All),
                Some(a) if a.text == "VS" => {
                    g.lvs.flush_on_stop = Some(types::LvsFlushOnStop::VirtualServers)
                }
                Some(a) => {
                    d.error(
                        Some(&a.location),
                        format!("unknown lvs_flush_on_stop type {}", a.text),
                    )
                    .with_help("expected nothing or VS");
                }
            },
            "lvs_flush" => g.lvs.flush = true,
            "rs_init_notifies" => g.lvs.rs_init_notifies = true,
            "smtp_alert_checker" => {
                flag(kw, d);
                cfg.parsed_only.push(raw("global_defs", kw));
            }
            "checker_log_all_failures" => {
                g.lvs.checker_log_all_failures = flag(kw, d).unwrap_or(false);
            }
            "lvs_sync_daemon" => {
                g.lvs.sync_daemon = lvs_sync_daemon(kw, d);
            }
            "max_auto_priority" => {
                g.max_auto_priority = if kw.arg(0).is_some() {
                    int(kw, 0, -1, 99, d).map(|v| v as i32)
                } else {
                    Some(99)
                }
            }
            "vrrp_rt_priority" => {
                g.vrrp_rt_priority = int(kw, 0, 1, 99, d).map(|v| v as i32);
            }
            "min_auto_priority_delay" => set(
                &mut g.min_auto_priority_delay_us,
                uint(kw, 0, 1, u64::from(u32::MAX), d),
            ),
            "reload_check_config" => {
                g.reload_check_config = true;
                g.reload_check_config_log = kw.arg(0).map(|a| a.text.to_string());
            }
            "vrrp_notify_priority_changes" => set(&mut g.vrrp_notify_priority_changes, flag(kw, d)),
            "fifo_write_vrrp_states_on_reload" => {
                set(&mut g.fifo_write_vrrp_states_on_reload, flag(kw, d))
            }
            "lvs_timeouts" => {
                if kw.args.is_empty() || kw.args.len() % 2 == 1 && kw.args.len() == 1 {
                    d.error(
                        Some(&kw.location),
                        "lvs_timeouts requires at least one option",
                    );
                }
                let mut n = 0;
                let mut t = g.lvs.timeouts.unwrap_or_default();
                while n < kw.args.len() {
                    match kw.args[n].text.as_str() {
                        which @ ("tcp" | "tcpfin" | "udp") => {
                            let v = if kw.arg(n + 1).is_some() {
                                uint(kw, n + 1, 0, 86400 * 31, d).map(|v| v as u32)
                            } else {
                                None
                            };
                            match which {
                                "tcp" => t.tcp = v.or(t.tcp),
                                "tcpfin" => t.tcp_fin = v.or(t.tcp_fin),
                                _ => t.udp = v.or(t.udp),
                            }
                        }
                        other => {
                            d.error(
                                Some(&kw.args[n].location),
                                format!("lvs_timeouts: unknown protocol '{other}'"),
                            )
                            .with_help("expected tcp, tcpfin or udp followed by seconds");
                        }
                    }
                    n += 2;
                }
                if t != types::LvsTimeouts::default() {
                    g.lvs.timeouts = Some(t);
                }
            }
            "vrrp_rx_bufs_policy" => {
                for a in &kw.args {
                    if !matches!(a.text.as_str(), "MTU" | "ADVERT")
                        && a.text.parse::<u32>().is_err()
                    {
                        d.error(
                            Some(&a.location),
                            format!("vrrp_rx_bufs_policy: invalid value '{}'", a.text),
                        )
                        .with_help("expected MTU, ADVERT or a size");
                    }
                }
                cfg.parsed_only.push(raw("global_defs", kw));
            }
            _ => other_keyword("global_defs", kw, &mut cfg.parsed_only, d),
        }
    }
}
