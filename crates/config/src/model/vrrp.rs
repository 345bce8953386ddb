//! Handlers for the VRRP blocks: vrrp_script, track_file, vrrp_track_process,
//! vrrp_sync_group and vrrp_instance.

use super::values::*;
use super::*;
use crate::diag::Location;

/// The block's name argument, or an error.
fn block_name(node: &Node, d: &mut Diagnostics) -> Option<String> {
    match node.arg(0) {
        Some(a) => Some(a.text.to_string()),
        None => {
            d.error(
                Some(&node.location),
                format!("{}: missing name", node.keyword),
            )
            .with_help(format!("write '{} NAME {{ ... }}'", node.keyword));
            None
        }
    }
}

/// Reads `weight W [reverse|noreverse]` starting at argument `n`.
fn weight_args(
    node: &Node,
    n: usize,
    min: i64,
    max: i64,
    d: &mut Diagnostics,
) -> (Option<i64>, bool) {
    let w = int(node, n, min, max, d);
    let mut reverse = false;
    if let Some(a) = node.arg(n + 1) {
        match a.text.as_str() {
            "reverse" => reverse = true,
            "noreverse" => reverse = false,
            other => {
                d.error(
                    Some(&a.location),
                    format!("{}: unknown weight option '{other}'", node.keyword),
                )
                .with_help("expected 'reverse' or 'noreverse'");
            }
        }
    }
    (w, reverse)
}

/// `vrrp_script NAME { ... }`.
pub(super) fn vrrp_script(node: &Node, cfg: &mut Config, d: &mut Diagnostics) {
    let Some(name) = block_name(node, d) else {
        return;
    };
    let mut s = VrrpScript {
        name,
        script: None,
        interval_us: 1_000_000,
        timeout_us: 0,
        weight: 0,
        weight_reverse: false,
        rise: 1,
        fall: 1,
        init_fail: false,
        location: node.location.clone(),
    };
    let mut timeout = None;
    let mut user: Option<RunAs> = None;
    for kw in block_lines(node, d) {
        match kw.keyword.as_str() {
            "script" => {
                // An empty `script` line is ignored silently (keepalived keeps the earlier one).
                // Unquoted words after `script` all belong to the command (the user comes
                // from the `user` keyword).
                if !kw.args.is_empty() {
                    s.script = whole_line_script(kw, d);
                }
            }
            "interval" => {
                if let Some(v) = seconds(kw, 0, 1, u64::from(u32::MAX) * 1_000_000, d) {
                    s.interval_us = v;
                }
            }
            "timeout" => timeout = seconds(kw, 0, 1, u64::from(u32::MAX) * 1_000_000, d),
            "weight" => {
                let (w, r) = weight_args(kw, 0, -253, 253, d);
                if let Some(w) = w {
                    s.weight = w as i32;
                }
                s.weight_reverse = r;
            }
            "rise" => {
                if let Some(v) = uint(kw, 0, 1, u64::from(u32::MAX), d) {
                    s.rise = v as u32;
                }
            }
            "fall" => {
                if let Some(v) = uint(kw, 0, 1, u64::from(u32::MAX), d) {
                    s.fall = v as u32;
                }
            }
            "user" => user = run_as(kw, d),
            "init_fail" => s.init_fail = true,
            _ => other_keyword("vrrp_script", kw, &mut cfg.parsed_only, d),
        }
    }
    s.timeout_us = timeout.unwrap_or(s.interval_us);
    if let (Some(script), Some(u)) = (&mut s.script, user) {
        if script.user.is_none() {
            script.user = Some(u.user);
            script.group = u.group;
        }
    }
    if s.script.is_none() {
        d.error(
            Some(&node.location),
            format!("vrrp_script {}: no script given", s.name),
        );
    }
    cfg.vrrp_scripts.push(s);
}

/// A script keyword whose every word is the command: re-quotes quoted words so the
/// command splits back into the same argv.
fn whole_line_script(kw: &Node, d: &mut Diagnostics) -> Option<Script> {
    if kw.args.len() == 1 {
        return script_value(kw, d);
    }
    let command = kw
        .args
        .iter()
        .map(|a| {
            if a.quoted {
                format!("\"{}\"", a.text)
            } else {
                a.text.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    match split_command(&command) {
        Ok(argv) if !argv.is_empty() => Some(Script {
            command,
            argv,
            user: None,
            group: None,
        }),
        Ok(_) => None,
        Err(e) => {
            d.error(Some(&kw.location), format!("script: {e}"));
            None
        }
    }
}

/// `track_file NAME { ... }`.
pub(super) fn track_file(node: &Node, cfg: &mut Config, d: &mut Diagnostics) {
    let Some(name) = block_name(node, d) else {
        return;
    };
    let mut t = TrackFile {
        name,
        file: None,
        weight: 1,
        weight_reverse: false,
        init_file: None,
        location: node.location.clone(),
    };
    for kw in block_lines(node, d) {
        match kw.keyword.as_str() {
            "file" => {
                if kw.args.is_empty() {
                    d.error(Some(&kw.location), "track file file name missing");
                } else {
                    t.file = word(kw, 0, d);
                }
            }
            "weight" => {
                let (w, r) = weight_args(kw, 0, -254, 254, d);
                if let Some(w) = w {
                    t.weight = w;
                }
                t.weight_reverse = r;
            }
            "init_file" => {
                let mut init = InitFile {
                    value: 0,
                    overwrite: false,
                };
                for a in &kw.args {
                    if a.text == "overwrite" {
                        init.overwrite = true;
                    } else if let Ok(v) = a.text.parse::<i64>() {
                        init.value = v;
                    } else {
                        d.error(
                            Some(&a.location),
                            format!("init_file: invalid value '{}'", a.text),
                        );
                    }
                }
                t.init_file = Some(init);
            }
            _ => other_keyword("track_file", kw, &mut cfg.parsed_only, d),
        }
    }
    if t.file.is_none() {
        d.error(
            Some(&node.location),
            format!("track_file {}: no file given", t.name),
        );
    }
    cfg.track_files.push(t);
}

/// `vrrp_track_process NAME { ... }`.
pub(super) fn track_process(node: &Node, cfg: &mut Config, d: &mut Diagnostics) {
    let Some(name) = block_name(node, d) else {
        return;
    };
    let mut t = TrackProcess {
        name,
        process: None,
        param_match: None,
        weight: 0,
        weight_reverse: false,
        quorum: 1,
        quorum_max: None,
        fork_delay_us: None,
        terminate_delay_us: None,
        delay_us: None,
        full_command: false,
        location: node.location.clone(),
    };
    for kw in block_lines(node, d) {
        match kw.keyword.as_str() {
            "process" => {
                if kw.args.is_empty() {
                    d.error(Some(&kw.location), "process: no process name given");
                } else {
                    t.process = Some(kw.args.iter().map(|a| a.text.to_string()).collect());
                }
            }
            "param_match" => match kw.arg(0).map(|a| a.text.as_str()) {
                Some(m @ ("initial" | "partial")) => t.param_match = Some(m.to_string()),
                Some(other) => {
                    d.error(
                        Some(kw.arg_location(0)),
                        format!("param_match: unknown value '{other}'"),
                    )
                    .with_help("expected 'initial' or 'partial'");
                }
                None => missing(kw, d),
            },
            "weight" => {
                let (w, r) = weight_args(kw, 0, -254, 254, d);
                if let Some(w) = w {
                    t.weight = w as i32;
                }
                t.weight_reverse = r;
            }
            "quorum" => {
                if let Some(v) = uint(kw, 0, 1, 65535, d) {
                    t.quorum = v as u32;
                }
            }
            "quorum_max" => t.quorum_max = uint(kw, 0, 1, 65535, d).map(|v| v as u32),
            "fork_delay" => t.fork_delay_us = seconds(kw, 0, 0, 65535 * 1_000_000, d),
            "terminate_delay" => t.terminate_delay_us = seconds(kw, 0, 0, 65535 * 1_000_000, d),
            "delay" => t.delay_us = seconds(kw, 0, 0, 65535 * 1_000_000, d),
            "full_command" => t.full_command = true,
            _ => other_keyword("vrrp_track_process", kw, &mut cfg.parsed_only, d),
        }
    }
    if t.process.is_none() {
        d.error(
            Some(&node.location),
            format!("vrrp_track_process {}: no process given", t.name),
        );
    }
    if t.quorum_max.is_some_and(|m| m < t.quorum) {
        d.error(
            Some(&node.location),
            format!("vrrp_track_process {}: quorum_max is below quorum", t.name),
        );
    }
    cfg.track_processes.push(t);
}

/// Reads a `track_*` list block: `NAME [weight W [reverse|noreverse]]` per line.
fn track_list(node: &Node, min: i64, max: i64, d: &mut Diagnostics) -> Vec<TrackRef> {
    let mut out = Vec::new();
    for line in block_lines(node, d) {
        let mut r = TrackRef {
            name: line.keyword.to_string(),
            weight: None,
            reverse: false,
            location: line.location.clone(),
        };
        match line.arg(0).map(|a| a.text.as_str()) {
            None => {}
            Some("weight") => {
                let (w, rev) = weight_args(line, 1, min, max, d);
                r.weight = w.map(|w| w as i32);
                r.reverse = rev;
            }
            Some(other) => {
                d.error(
                    Some(line.arg_location(0)),
                    format!(
                        "{}: unknown option '{other}' for '{}'",
                        node.keyword, line.keyword
                    ),
                )
                .with_help("expected 'weight N [reverse]'");
            }
        }
        out.push(r);
    }
    out
}

/// Handles the notify keywords shared by instances and sync groups; false if `kw` is not one.
fn notify_keyword(kw: &Node, n: &mut Notify, d: &mut Diagnostics) -> bool {
    let slot = match kw.keyword.as_str() {
        "notify_master" => &mut n.master,
        "notify_backup" => &mut n.backup,
        "notify_fault" => &mut n.fault,
        "notify_stop" => &mut n.stop,
        "notify_deleted" => &mut n.deleted,
        "notify" => &mut n.generic,
        "notify_master_rx_lower_pri" => &mut n.master_rx_lower_pri,
        _ => return false,
    };
    *slot = script_value(kw, d);
    true
}

/// `vrrp_sync_group NAME { ... }`.
pub(super) fn sync_group(node: &Node, cfg: &mut Config, d: &mut Diagnostics) {
    let Some(name) = block_name(node, d) else {
        return;
    };
    if cfg.sync_groups.iter().any(|g| g.name == name) {
        d.error(
            Some(&node.location),
            format!("vrrp_sync_group {name} is already defined"),
        );
    }
    let mut g = SyncGroup {
        name,
        group: vec![],
        track_interface: vec![],
        track_script: vec![],
        track_file: vec![],
        track_process: vec![],
        track_bfd: vec![],
        notify: Notify::default(),
        smtp_alert: None,
        sync_group_tracking_weight: false,
        notify_priority_changes: None,
        location: node.location.clone(),
    };
    for kw in block_lines(node, d) {
        // keepalived 2.2.7 knows these two for instances only: in a sync group they are
        // unknown keywords.
        let instance_only = matches!(
            kw.keyword.as_str(),
            "notify_deleted" | "notify_master_rx_lower_pri"
        );
        if !instance_only && notify_keyword(kw, &mut g.notify, d) {
            continue;
        }
        match kw.keyword.as_str() {
            "group" => {
                for line in block_lines(kw, d) {
                    g.group.push(line.keyword.to_string());
                    for a in &line.args {
                        g.group.push(a.text.to_string());
                    }
                }
            }
            "track_interface" => g.track_interface.extend(track_list(kw, -253, 253, d)),
            "track_script" => g.track_script.extend(track_list(kw, -253, 253, d)),
            "track_file" => g.track_file.extend(track_list(kw, -254, 254, d)),
            "track_process" => g.track_process.extend(track_list(kw, -254, 254, d)),
            "track_bfd" => g.track_bfd.extend(track_list(kw, -253, 253, d)),
            "smtp_alert" => g.smtp_alert = flag(kw, d),
            "sync_group_tracking_weight" => g.sync_group_tracking_weight = true,
            "notify_priority_changes" => g.notify_priority_changes = flag(kw, d),
            _ => other_keyword("vrrp_sync_group", kw, &mut cfg.parsed_only, d),
        }
    }
    if g.group.is_empty() {
        d.error(
            Some(&node.location),
            format!("vrrp_sync_group {}: no group members", g.name),
        )
        .with_help("add 'group { INSTANCE ... }'");
    }
    cfg.sync_groups.push(g);
}

/// Instance fields whose defaults depend on other fields, read before defaults are applied.
#[derive(Default)]
struct Pending {
    state: Option<(InitialState, Location)>,
    priority: Option<u8>,
    version: Option<(u8, Location)>,
    advert_us: Option<(u64, Location)>,
    accept: Option<bool>,
    nopreempt_loc: Option<Location>,
    preempt_delay_loc: Option<Location>,
    garp_master_delay: Option<u32>,
    garp_master_repeat: Option<u32>,
    garp_master_refresh: Option<u32>,
    garp_master_refresh_repeat: Option<u32>,
    garp_lower_prio_delay: Option<u32>,
    garp_lower_prio_repeat: Option<u32>,
    down_timer_adverts: Option<u32>,
    lower_prio_no_advert: Option<bool>,
    higher_prio_send_advert: Option<bool>,
    strict: Option<bool>,
    skip_check: Option<bool>,
    check_unicast_src: Option<bool>,
    auth_loc: Option<Location>,
}

/// `vrrp_instance NAME { ... }`.
pub(super) fn instance(node: &Node, cfg: &mut Config, d: &mut Diagnostics) {
    let Some(name) = block_name(node, d) else {
        return;
    };
    let g = &cfg.global;
    let mut i = Instance {
        name,
        state: InitialState::Backup,
        interface: None,
        virtual_router_id: 0,
        priority: 100,
        version: g.vrrp_version,
        advert_int_cs: 100,
        authentication: None,
        virtual_ipaddress: vec![],
        virtual_ipaddress_excluded: vec![],
        virtual_routes: vec![],
        virtual_rules: vec![],
        track_interface: vec![],
        track_script: vec![],
        track_file: vec![],
        track_process: vec![],
        track_bfd: vec![],
        dont_track_primary: false,
        nopreempt: false,
        preempt_delay_us: 0,
        unicast_src_ip: None,
        mcast_src_ip: None,
        unicast_peer: vec![],
        unicast_ttl: 255,
        check_unicast_src: false,
        use_vmac: None,
        vmac_xmit_base: false,
        garp_master_delay: 0,
        garp_master_repeat: 0,
        garp_master_refresh: 0,
        garp_master_refresh_repeat: 0,
        garp_lower_prio_delay: 0,
        garp_lower_prio_repeat: 0,
        garp_extra_if: None,
        accept: true,
        strict_mode: false,
        skip_check_adv_addr: false,
        down_timer_adverts: 3,
        lower_prio_no_advert: false,
        higher_prio_send_advert: false,
        notify: Notify::default(),
        smtp_alert: None,
        notify_priority_changes: None,
        location: node.location.clone(),
    };
    let mut p = Pending::default();
    let mut vrid_seen = false;
    for kw in block_lines(node, d) {
        if notify_keyword(kw, &mut i.notify, d) {
            continue;
        }
        let u32v = |v: Option<u64>| v.map(|v| v as u32);
        match kw.keyword.as_str() {
            "state" => match kw.arg(0).map(|a| a.text.as_str()) {
                Some("MASTER") => p.state = Some((InitialState::Master, kw.location.clone())),
                Some("BACKUP") => p.state = Some((InitialState::Backup, kw.location.clone())),
                Some(other) => {
                    d.error(
                        Some(kw.arg_location(0)),
                        format!("({}) unknown state '{other}', defaulting to BACKUP", i.name),
                    )
                    .with_help("expected MASTER or BACKUP (upper case)");
                }
                None => missing(kw, d),
            },
            "interface" => {
                i.interface = word(kw, 0, d);
                if i.interface.as_deref() == Some("lo") {
                    d.error(
                        Some(kw.arg_location(0)),
                        format!("({}) cannot use a loopback interface (lo) for VRRP", i.name),
                    );
                }
            }
            "virtual_router_id" => {
                vrid_seen = true;
                if let Some(v) = uint(kw, 0, 1, 255, d) {
                    i.virtual_router_id = v as u8;
                }
            }
            "priority" => p.priority = uint(kw, 0, 1, 255, d).map(|v| v as u8),
            "advert_int" => {
                if let Some(v) = seconds(kw, 0, 1, 255 * 1_000_000, d) {
                    p.advert_us = Some((v, kw.location.clone()));
                }
            }
            "version" => {
                if let Some(v) = uint(kw, 0, 2, 3, d) {
                    p.version = Some((v as u8, kw.location.clone()));
                }
            }
            "authentication" => {
                p.auth_loc = Some(kw.location.clone());
                let mut kind: Option<String> = None;
                let mut pass: Option<String> = None;
                for a in block_lines(kw, d) {
                    match a.keyword.as_str() {
                        "auth_type" => match a.arg(0).map(|x| x.text.as_str()) {
                            Some(t @ ("PASS" | "AH")) => kind = Some(t.to_string()),
                            Some(other) => {
                                d.error(
                                    Some(a.arg_location(0)),
                                    format!("({}) unknown auth_type '{other}'", i.name),
                                )
                                .with_help("expected PASS or AH");
                            }
                            None => missing(a, d),
                        },
                        "auth_pass" => {
                            if let Some(pw) = word(a, 0, d) {
                                if pw.len() > 8 {
                                    d.warning(
                                        Some(a.arg_location(0)),
                                        format!(
                                            "({}) auth_pass longer than 8 characters: truncated",
                                            i.name
                                        ),
                                    );
                                }
                                pass = Some(pw.chars().take(8).collect());
                            }
                        }
                        _ => other_keyword(
                            "vrrp_instance.authentication",
                            a,
                            &mut cfg.parsed_only,
                            d,
                        ),
                    }
                }
                if kind.as_deref() == Some("PASS") && pass.is_none() {
                    d.error(
                        Some(&kw.location),
                        format!("({}) auth_type PASS without auth_pass", i.name),
                    );
                }
                i.authentication = match kind.as_deref() {
                    Some("PASS") => Some(Auth::Pass(pass.unwrap_or_default())),
                    Some("AH") => Some(Auth::Ah(pass.unwrap_or_default())),
                    _ => None,
                };
            }
            "virtual_ipaddress" => {
                for line in block_lines(kw, d) {
                    if let Some(a) = addr::address_line(line, d) {
                        i.virtual_ipaddress.push(a);
                    }
                }
            }
            "virtual_ipaddress_excluded" => {
                for line in block_lines(kw, d) {
                    if let Some(a) = addr::address_line(line, d) {
                        i.virtual_ipaddress_excluded.push(a);
                    }
                }
            }
            "virtual_routes" => {
                for line in block_lines(kw, d) {
                    if let Some(r) = addr::route_line(line, d) {
                        i.virtual_routes.push(r);
                    }
                }
            }
            "virtual_rules" => {
                for line in block_lines(kw, d) {
                    if let Some(r) = addr::rule_line(line, d) {
                        i.virtual_rules.push(r);
                    }
                }
            }
            "track_interface" => i.track_interface.extend(track_list(kw, -253, 253, d)),
            "track_script" => i.track_script.extend(track_list(kw, -253, 253, d)),
            "track_file" => i.track_file.extend(track_list(kw, -254, 254, d)),
            "track_process" => i.track_process.extend(track_list(kw, -254, 254, d)),
            "track_bfd" => i.track_bfd.extend(track_list(kw, -253, 253, d)),
            "dont_track_primary" => i.dont_track_primary = true,
            "nopreempt" => {
                i.nopreempt = true;
                p.nopreempt_loc = Some(kw.location.clone());
            }
            "preempt" => i.nopreempt = false,
            "preempt_delay" => {
                if let Some(v) = seconds(kw, 0, 0, 1000 * 1_000_000, d) {
                    i.preempt_delay_us = v;
                    p.preempt_delay_loc = Some(kw.location.clone());
                }
            }
            "unicast_src_ip" => i.unicast_src_ip = ip(kw, 0, d),
            "mcast_src_ip" => i.mcast_src_ip = ip(kw, 0, d),
            "unicast_peer" => {
                for line in block_lines(kw, d) {
                    if let Some(peer) = addr::unicast_peer(line, d) {
                        i.unicast_peer.push(peer);
                    }
                }
            }
            "unicast_ttl" => {
                if let Some(v) = uint(kw, 0, 1, 255, d) {
                    i.unicast_ttl = v as u8;
                }
            }
            "check_unicast_src" => p.check_unicast_src = Some(true),
            "use_vmac" => {
                let mut v = Vmac {
                    name: None,
                    mac: None,
                };
                for a in &kw.args {
                    if a.text.matches(':').count() == 5 {
                        v.mac = Some(a.text.to_string());
                    } else if v.name.is_none() {
                        if a.text.len() > 15 {
                            d.error(
                                Some(&a.location),
                                format!("({}) VMAC interface name '{}' too long", i.name, a.text),
                            );
                        }
                        v.name = Some(a.text.to_string());
                    }
                }
                i.use_vmac = Some(v);
            }
            "vmac_xmit_base" => i.vmac_xmit_base = true,
            "garp_master_delay" => p.garp_master_delay = u32v(uint(kw, 0, 0, 86400, d)),
            "garp_master_repeat" => p.garp_master_repeat = u32v(uint(kw, 0, 0, 65535, d)),
            "garp_master_refresh" => p.garp_master_refresh = u32v(uint(kw, 0, 0, 86400 * 365, d)),
            "garp_master_refresh_repeat" => {
                p.garp_master_refresh_repeat = u32v(uint(kw, 0, 0, 65535, d))
            }
            "garp_lower_prio_delay" => p.garp_lower_prio_delay = u32v(uint(kw, 0, 0, 86400, d)),
            "garp_lower_prio_repeat" => p.garp_lower_prio_repeat = u32v(uint(kw, 0, 0, 65535, d)),
            "garp_extra_if" => {
                let all = kw.arg(0).is_some_and(|a| a.text == "all");
                let n = usize::from(all);
                i.garp_extra_if = uint(kw, n, 0, 86400, d).map(|v| (all, v as u32));
            }
            "accept" => p.accept = Some(true),
            "no_accept" => p.accept = Some(false),
            "strict_mode" => p.strict = flag(kw, d),
            "skip_check_adv_addr" => p.skip_check = flag(kw, d),
            "down_timer_adverts" => p.down_timer_adverts = u32v(uint(kw, 0, 1, 100, d)),
            "lower_prio_no_advert" => p.lower_prio_no_advert = flag(kw, d),
            "higher_prio_send_advert" => p.higher_prio_send_advert = flag(kw, d),
            "smtp_alert" => i.smtp_alert = flag(kw, d),
            "notify_priority_changes" => i.notify_priority_changes = flag(kw, d),
            "native_ipv6" => {}
            "lvs_sync_daemon_interface" => {
                if word(kw, 0, d).is_some() {
                    d.quiet_warning(Some(&kw.location), "lvs_sync_daemon_interface is deprecated: use lvs_sync_daemon in global_defs");
                    cfg.parsed_only.push(raw("vrrp_instance", kw));
                }
            }
            _ => other_keyword("vrrp_instance", kw, &mut cfg.parsed_only, d),
        }
    }
    let g = &cfg.global;
    // Defaults that depend on other keywords, in keepalived's order.
    if let Some((v, _)) = p.version {
        i.version = v;
    }
    let v6 = i
        .virtual_ipaddress
        .first()
        .is_some_and(|a| a.address.is_ipv6());
    if v6 && i.version == 2 {
        // keepalived 2.2.7 says nothing: IPv6 instances are always VRRPv3.
        i.version = 3;
    }
    let strict = p.strict.unwrap_or(g.vrrp_strict);
    match p.state {
        Some((InitialState::Master, _)) => {
            i.state = InitialState::Master;
            i.priority = p.priority.unwrap_or(255);
        }
        Some((InitialState::Backup, _)) => {
            i.state = InitialState::Backup;
            i.priority = p.priority.unwrap_or(100);
        }
        None => {
            i.priority = p.priority.unwrap_or(100);
            i.state = if i.priority == 255 {
                InitialState::Master
            } else {
                InitialState::Backup
            };
        }
    }
    if i.state == InitialState::Master && matches!(i.authentication, Some(Auth::Ah(_))) {
        d.warning(
            Some(&i.location),
            format!(
                "({}) initial state MASTER is incompatible with AH authentication - clearing",
                i.name
            ),
        );
        i.state = InitialState::Backup;
    }
    if strict && ((i.state == InitialState::Master) != (i.priority == 255)) {
        d.warning(
            Some(&i.location),
            format!(
                "({}) strict mode: state MASTER must match being address owner (priority 255)",
                i.name
            ),
        );
    }
    if let Some((us, loc)) = p.advert_us {
        if i.version == 2 {
            let rounded = (us + 500_000) / 1_000_000;
            if us % 1_000_000 != 0 {
                d.warning(Some(&loc), format!("({}) VRRPv2 advertisement interval {}s must be an integer; rounding to {rounded}", i.name, fmt_seconds(us)));
            }
            i.advert_int_cs = (rounded.clamp(1, 255) * 100) as u32;
        } else {
            let cs = (us + 5_000) / 10_000;
            if cs > 4095 {
                d.warning(
                    Some(&loc),
                    format!(
                        "({}) VRRPv3 advert_int {}s must be less than 40.96s; setting 40.95s",
                        i.name,
                        fmt_seconds(us)
                    ),
                );
                i.advert_int_cs = 4095;
            } else if cs == 0 {
                d.warning(
                    Some(&loc),
                    format!(
                        "({}) VRRPv3 advert_int {}s is below 10 ms; setting 0.01s",
                        i.name,
                        fmt_seconds(us)
                    ),
                );
                i.advert_int_cs = 1;
            } else {
                i.advert_int_cs = cs as u32;
            }
        }
    }
    if i.state == InitialState::Master && i.nopreempt {
        if let Some(loc) = &p.nopreempt_loc {
            d.warning(
                Some(loc),
                format!(
                    "({}) nopreempt will not work with initial state MASTER; clearing it",
                    i.name
                ),
            );
        }
        i.nopreempt = false;
    }
    i.strict_mode = p.strict.unwrap_or(g.vrrp_strict);
    i.skip_check_adv_addr = p.skip_check.unwrap_or(g.vrrp_skip_check_adv_addr);
    i.check_unicast_src = p.check_unicast_src.unwrap_or(g.vrrp_check_unicast_src);
    i.garp_master_delay = p.garp_master_delay.unwrap_or(g.vrrp_garp_master_delay);
    i.garp_master_repeat = p.garp_master_repeat.unwrap_or(g.vrrp_garp_master_repeat);
    i.garp_master_refresh = p.garp_master_refresh.unwrap_or(g.vrrp_garp_master_refresh);
    i.garp_master_refresh_repeat = p
        .garp_master_refresh_repeat
        .unwrap_or(g.vrrp_garp_master_refresh_repeat);
    i.garp_lower_prio_delay = p
        .garp_lower_prio_delay
        .or(g.vrrp_garp_lower_prio_delay)
        .unwrap_or(i.garp_master_delay);
    i.garp_lower_prio_repeat = p
        .garp_lower_prio_repeat
        .or(g.vrrp_garp_lower_prio_repeat)
        .unwrap_or(i.garp_master_repeat);
    i.down_timer_adverts = p.down_timer_adverts.unwrap_or(g.vrrp_down_timer_adverts);
    i.lower_prio_no_advert = p
        .lower_prio_no_advert
        .unwrap_or(g.vrrp_lower_prio_no_advert);
    i.higher_prio_send_advert = p
        .higher_prio_send_advert
        .unwrap_or(g.vrrp_higher_prio_send_advert);
    i.accept = p.accept.unwrap_or(!i.strict_mode || i.priority == 255);
    if i.strict_mode {
        // keepalived 2.2.7 (vrrp_complete_instance): strict mode forces these, and reports
        // explicit values that contradict it; an unset lower-priority GARP delay becomes 0.
        for (bad, what) in [
            (
                p.garp_lower_prio_repeat.is_some_and(|v| v != 0),
                "Strict mode requires no repeat garps",
            ),
            (
                p.garp_lower_prio_delay.is_some_and(|v| v != 0),
                "Strict mode requires no repeat garp delay",
            ),
            (
                p.lower_prio_no_advert == Some(false),
                "Strict mode requires no lower priority advert",
            ),
            (
                p.higher_prio_send_advert == Some(true),
                "strict mode requires higher_prio_send_advert to be clear",
            ),
        ] {
            if bad {
                d.warning(
                    Some(&i.location),
                    format!("({}) {what} - resetting", i.name),
                );
            }
        }
        i.garp_lower_prio_delay = 0;
        validate::apply_strict(&mut i, &p.auth_loc, &p.preempt_delay_loc, d);
    }
    if !vrid_seen {
        d.error(
            Some(&node.location),
            format!("({}) the virtual router id must be set", i.name),
        )
        .with_help("add 'virtual_router_id 1..255'");
    }
    cfg.instances.push(i);
}
