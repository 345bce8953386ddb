//! keepalived's cross-field rules and environment checks, in one pass after parsing.

use super::script::Script;
use super::types::*;
use crate::diag::{Diagnostics, Location};
use crate::env::Environment;
use std::collections::{BTreeMap, BTreeSet};

/// Strict mode (`vrrp_strict`/`strict_mode`): keepalived logs and corrects each violation.
pub(super) fn apply_strict(
    i: &mut Instance,
    auth_loc: &Option<Location>,
    preempt_delay_loc: &Option<Location>,
    d: &mut Diagnostics,
) {
    if i.authentication.is_some() {
        d.warning(
            auth_loc.as_ref(),
            format!(
                "({}) strict mode does not support authentication; ignoring it",
                i.name
            ),
        );
        i.authentication = None;
    }
    if i.preempt_delay_us != 0 {
        d.warning(
            preempt_delay_loc.as_ref(),
            format!(
                "({}) strict mode does not support preempt_delay; ignoring it",
                i.name
            ),
        );
        i.preempt_delay_us = 0;
    }
    if !i.unicast_peer.is_empty() {
        // keepalived 2.2.7 accepts unicast peers in strict mode without a word.
        d.quiet_warning(
            Some(&i.location),
            format!(
                "({}) strict mode: unicast peers are not RFC behaviour",
                i.name
            ),
        );
    }
    if i.virtual_ipaddress.is_empty() {
        d.warning(
            Some(&i.location),
            format!(
                "({}) strict mode requires at least one virtual IP address",
                i.name
            ),
        );
    }
    if i.down_timer_adverts != 3 {
        d.warning(
            Some(&i.location),
            format!("({}) strict mode requires down_timer_adverts 3", i.name),
        );
        i.down_timer_adverts = 3;
    }
    i.lower_prio_no_advert = true;
    i.higher_prio_send_advert = false;
    i.garp_lower_prio_repeat = 0;
}

/// Runs every cross-field and environment check over the model, correcting it as keepalived
/// does.
pub fn validate(cfg: &mut Config, env: &dyn Environment, d: &mut Diagnostics) {
    let mut missing_if = false;
    check_instances(cfg, env, d, &mut missing_if);
    check_static(cfg, env, d, &mut missing_if);
    check_sync_groups(cfg, d);
    // keepalived validates the checker side before the VRRP side, so a missing VRRP interface
    // does not hide a checker script-security verdict.
    check_lvs(cfg, env, d);
    // keepalived stops validating after a missing interface, so it never reaches the VRRP
    // script checks (a missing interface hides a script-security verdict). Without any
    // vrrp_instance the VRRP side does not run at all.
    if !missing_if && !cfg.instances.is_empty() {
        check_scripts(cfg, env, d);
    }
}

/// The checker side: groups resolved, virtual servers without real servers dropped, the
/// warnings keepalived gives for surviving ones, checker references, and script security.
fn check_lvs(cfg: &mut Config, env: &dyn Environment, d: &mut Diagnostics) {
    use super::lvs::{CheckerKind, GroupEntry, VirtualServerKey};
    let groups = std::mem::take(&mut cfg.virtual_server_groups);
    let mut servers = Vec::new();
    for mut vs in std::mem::take(&mut cfg.virtual_servers) {
        if let VirtualServerKey::Group { name, .. } = vs.key.clone() {
            // An undefined group drops the virtual server without a word (as keepalived).
            let Some(g) = groups.iter().find(|g| g.name == name) else {
                continue;
            };
            // keepalived only counts fwmark entries of the real servers' family.
            let rs_v6 = vs.real_servers.first().map(|r| r.key.address.is_ipv6());
            let family_matches = |f: &Option<super::lvs::Family>| {
                !matches!(
                    (f, rs_v6),
                    (Some(super::lvs::Family::Inet6), Some(false))
                        | (Some(super::lvs::Family::Inet), Some(true))
                )
            };
            let only_fwmarks = g
                .entries
                .iter()
                .all(|e| matches!(e, GroupEntry::Fwmark { .. }))
                && g.entries.iter().any(
                    |e| matches!(e, GroupEntry::Fwmark { family, .. } if family_matches(family)),
                );
            if only_fwmarks && vs.protocol_given {
                vs.deferred.push((vs.location.clone(), format!("virtual server [{name}]: protocol specified for fwmark - protocol will be ignored")));
            }
            let any_fwmark = g
                .entries
                .iter()
                .any(|e| matches!(e, GroupEntry::Fwmark { family, .. } if family_matches(family)));
            if any_fwmark && vs.ha_suspend {
                vs.deferred.push((
                    vs.location.clone(),
                    format!("virtual server [{name}]: cannot use ha_suspend with fwmarks - clearing ha_suspend"),
                ));
                vs.ha_suspend = false;
            }
            // A group of fwmarks has no protocol: keep the model canonical.
            if g.entries
                .iter()
                .all(|e| matches!(e, GroupEntry::Fwmark { .. }))
            {
                if let VirtualServerKey::Group { protocol, .. } = &mut vs.key {
                    *protocol = super::lvs::Protocol::Udp;
                }
            }
            let zero_port = g
                .entries
                .iter()
                .any(|e| matches!(e, GroupEntry::Range { port: 0, .. }));
            if zero_port && vs.persistence_timeout.is_none() {
                vs.deferred.push((vs.location.clone(), format!("virtual server [{name}]:0: zero port only valid for persistent services - setting")));
                vs.persistence_timeout = Some(360);
            }
        }
        if vs.real_servers.is_empty() {
            d.warning(
                Some(&vs.location),
                "virtual server has no real servers - ignoring",
            )
            .with_help("add at least one real_server");
            continue;
        }
        for (loc, msg) in std::mem::take(&mut vs.deferred) {
            d.warning(Some(&loc), msg);
        }
        for rs in &mut vs.real_servers {
            rs.checkers.retain(|c| match &c.kind {
                CheckerKind::File {
                    track_file: Some(t),
                    ..
                } => {
                    let ok = cfg.track_files.iter().any(|f| &f.name == t);
                    if !ok {
                        d.error(
                            Some(&c.location),
                            format!("track_file {t} not found - FILE_CHECK ignored"),
                        );
                    }
                    ok
                }
                CheckerKind::Bfd { name: Some(n) } => {
                    // A bfd_instance limited to `vrrp` is not available to checkers.
                    let ok = cfg.parsed_only.iter().any(|r| {
                        let has = |k: &str| r.children.iter().any(|c| c.keyword == k);
                        let vrrp_only = has("vrrp") && !has("checker");
                        r.block == "root"
                            && r.keyword == "bfd_instance"
                            && r.args.first() == Some(n)
                            && !vrrp_only
                    });
                    if !ok {
                        d.error(
                            Some(&c.location),
                            format!("BFD_CHECK - BFD {n} not configured"),
                        );
                    }
                    ok
                }
                _ => true,
            });
        }
        servers.push(vs);
    }
    cfg.virtual_server_groups = groups;
    cfg.virtual_servers = servers;
    check_lvs_scripts(cfg, env, d);
}

/// Script security for the checker side (quorum_up/down, notify_up/down, MISC_CHECK,
/// lvs_notify_fifo_script).
fn check_lvs_scripts(cfg: &mut Config, env: &dyn Environment, d: &mut Diagnostics) {
    use super::lvs::CheckerKind;
    let security = cfg.global.enable_script_security;
    let default_user = match &cfg.global.script_user {
        Some(r) => env.user(&r.user).map(|_| r.user.clone()),
        None => env
            .user("keepalived_script")
            .map(|_| "keepalived_script".to_string()),
    };
    let mut would_run = false;
    let mut default_reported = false;
    let mut check = |script: &Script, is_misc: bool, d: &mut Diagnostics| -> bool {
        let Some(program) = script.program() else {
            return false;
        };
        if env.resolve_program(program).is_none() {
            return true; // silent, and the checker stays
        }
        match &script.user {
            Some(u) => {
                if env.user(u).is_none()
                    || script
                        .group
                        .as_ref()
                        .is_some_and(|g| env.group(g).is_none())
                {
                    if is_misc {
                        d.error(None, format!("failed to set uid/gid for misc checker script '{program}' - removing"));
                        return false;
                    }
                    return true;
                }
            }
            None => {
                if security && default_user.is_none() {
                    if !default_reported {
                        default_reported = true;
                        d.error(
                            None,
                            "unable to set default user keepalived_script for script",
                        )
                        .with_help(
                            "create the keepalived_script user or set script_user in global_defs",
                        );
                    }
                    if is_misc {
                        d.error(
                            None,
                            format!(
                                "unable to set default user for misc script '{program}' - removing"
                            ),
                        );
                        return false;
                    }
                    return true;
                }
            }
        }
        if !security {
            would_run = true;
        }
        true
    };
    if let Some(s) = cfg.global.lvs_notify_fifo.script.clone() {
        check(&s, false, d);
    }
    for vs in &mut cfg.virtual_servers {
        for s in [&vs.quorum_up, &vs.quorum_down].into_iter().flatten() {
            check(s, false, d);
        }
        for rs in &mut vs.real_servers {
            for s in [&rs.notify_up, &rs.notify_down].into_iter().flatten() {
                check(s, false, d);
            }
            rs.checkers.retain(|c| match &c.kind {
                CheckerKind::Misc(m) => m.script.as_ref().is_none_or(|s| check(s, true, d)),
                _ => true,
            });
        }
    }
    if would_run {
        d.security(None, "SECURITY VIOLATION - check scripts are being executed but script_security not enabled")
            .with_help("add enable_script_security to global_defs, and a script_user or keepalived_script user");
    }
}

fn check_static(cfg: &Config, env: &dyn Environment, d: &mut Diagnostics, missing_if: &mut bool) {
    let dynamic = cfg.global.dynamic_interfaces;
    for a in &cfg.static_addresses {
        if let Some(dev) = &a.dev {
            if !check_interface(dev, "static address", &a.location, dynamic, env, d) {
                *missing_if = true;
            }
        }
    }
    for r in &cfg.static_routes {
        check_route(r, "static route", dynamic, env, d, missing_if);
    }
    for r in &cfg.static_rules {
        check_rule(r, d);
    }
}

fn check_route(
    r: &RouteLine,
    what: &str,
    dynamic: bool,
    env: &dyn Environment,
    d: &mut Diagnostics,
    missing_if: &mut bool,
) {
    match r.options.iter().find(|(k, _)| k == "dev" || k == "oif") {
        Some((_, dev)) => {
            if !check_interface(dev, what, &r.location, dynamic, env, d) {
                *missing_if = true;
            }
        }
        None => {
            if r.kind.as_deref().is_none_or(|k| k == "unicast") {
                d.warning(
                    Some(&r.location),
                    format!(
                        "cannot track {what} to {} with no interface specified, not tracking",
                        r.to
                    ),
                )
                .with_help("add 'dev IFNAME' (keepalived warns about this too)");
            }
        }
    }
}

fn check_rule(r: &RuleLine, d: &mut Diagnostics) {
    let has = |k: &[&str]| r.options.iter().any(|(n, _)| k.contains(&n.as_str()));
    if !has(&["preference", "priority", "pref"]) {
        d.warning(
            Some(&r.location),
            "rule has no preference specified - keepalived invents one",
        )
        .with_help("add 'preference N'");
    }
    if !has(&[
        "table",
        "lookup",
        "goto",
        "nop",
        "blackhole",
        "unreachable",
        "prohibit",
    ]) {
        d.error(
            Some(&r.location),
            "rule has no action (table, goto, blackhole...)",
        );
    }
    for (k, v) in &r.options {
        if (k == "table" || k == "lookup")
            && v.parse::<u32>().is_err()
            && !matches!(v.as_str(), "main" | "local" | "default")
        {
            d.error(Some(&r.location), format!("rule: unknown table '{v}'"));
        }
    }
}

fn check_interface(
    name: &str,
    what: &str,
    loc: &Location,
    cfg_dynamic: bool,
    env: &dyn Environment,
    d: &mut Diagnostics,
) -> bool {
    if env.interface_exists(name) {
        return true;
    }
    if cfg_dynamic {
        d.quiet_warning(
            Some(loc),
            format!(
                "interface {name} for {what} doesn't exist (dynamic_interfaces: waiting for it)"
            ),
        );
    } else {
        d.warning(
            Some(loc),
            format!("interface {name} for {what} doesn't exist"),
        )
        .with_help("create the interface, fix the name, or set dynamic_interfaces in global_defs");
    }
    false
}

fn check_instances(
    cfg: &mut Config,
    env: &dyn Environment,
    d: &mut Diagnostics,
    missing_if: &mut bool,
) {
    let dynamic = cfg.global.dynamic_interfaces;
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut vrids: BTreeMap<(String, bool, u8), String> = BTreeMap::new();
    let scripts: BTreeSet<&str> = cfg.vrrp_scripts.iter().map(|s| s.name.as_str()).collect();
    let files: BTreeSet<&str> = cfg.track_files.iter().map(|s| s.name.as_str()).collect();
    let procs: BTreeSet<&str> = cfg
        .track_processes
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    for i in &mut cfg.instances {
        if !names.insert(i.name.clone()) {
            d.error(
                Some(&i.location),
                format!("vrrp_instance {} is defined more than once", i.name),
            );
        }
        let what = format!("vrrp_instance {}", i.name);
        match &i.interface {
            Some(ifname) => {
                if !check_interface(ifname, &what, &i.location, dynamic, env, d) {
                    *missing_if = true;
                }
            }
            None => {
                if i.unicast_src_ip.is_none() || i.unicast_peer.is_empty() {
                    d.error(
                        Some(&i.location),
                        format!("({}) Unknown interface!", i.name),
                    )
                    .with_help("add 'interface IFNAME'");
                }
            }
        }
        if i.unicast_peer.is_empty() && i.unicast_src_ip.is_some() {
            d.warning(
                Some(&i.location),
                format!(
                    "({}) a unicast keyword has been specified without any unicast peers",
                    i.name
                ),
            )
            .with_help("add 'unicast_peer { ADDRESS }' or remove unicast_src_ip");
        }
        let fam_v6 = i.virtual_ipaddress.first().map(|a| a.address.is_ipv6());
        for p in &i.unicast_peer {
            let src_v6 = i.unicast_src_ip.map(|s| s.is_ipv6()).or(fam_v6);
            if src_v6.is_some_and(|v6| v6 != p.address.is_ipv6()) {
                d.error(
                    Some(&i.location),
                    format!(
                        "({}) unicast peer {} is not the instance's address family",
                        i.name, p.address
                    ),
                );
            }
        }
        if let Some(v) = &i.use_vmac {
            if let Some(name) = &v.name {
                if env.interface_exists(name) {
                    d.error(
                        Some(&i.location),
                        format!("({}) VMAC name {name} is an existing interface", i.name),
                    );
                }
            }
        }
        // One family for all advertised addresses.
        if let Some(first) = i.virtual_ipaddress.first() {
            let v6 = first.address.is_ipv6();
            let mut kept = Vec::with_capacity(i.virtual_ipaddress.len());
            for a in std::mem::take(&mut i.virtual_ipaddress) {
                if a.address.is_ipv6() != v6 {
                    d.error(Some(&a.location), format!("({}) address {} is not the same family as the first virtual address; ignoring it", i.name, a.address))
                        .with_help("put other-family addresses in virtual_ipaddress_excluded");
                } else {
                    kept.push(a);
                }
            }
            i.virtual_ipaddress = kept;
            if v6 && i.version == 2 {
                i.version = 3;
            }
        } else {
            d.warning(
                Some(&i.location),
                format!("({}) No VIP specified; at least one is sensible", i.name),
            );
        }
        for a in i
            .virtual_ipaddress
            .iter()
            .chain(&i.virtual_ipaddress_excluded)
        {
            if let Some(dev) = &a.dev {
                if !check_interface(
                    dev,
                    &format!("address {} of {}", a.address, i.name),
                    &a.location,
                    dynamic,
                    env,
                    d,
                ) {
                    *missing_if = true;
                }
            }
        }
        for t in &i.track_interface {
            if !check_interface(
                &t.name,
                &format!("track_interface of {}", i.name),
                &t.location,
                dynamic,
                env,
                d,
            ) {
                *missing_if = true;
            }
        }
        for r in &i.virtual_routes {
            check_route(
                r,
                &format!("virtual route of {}", i.name),
                dynamic,
                env,
                d,
                missing_if,
            );
        }
        for r in &i.virtual_rules {
            check_rule(r, d);
        }
        for t in &i.track_script {
            if !scripts.contains(t.name.as_str()) {
                d.error(
                    Some(&t.location),
                    format!("({}) track_script {} not found, ignoring", i.name, t.name),
                )
                .with_help("define it with 'vrrp_script NAME { ... }'");
            }
        }
        for t in &i.track_file {
            if !files.contains(t.name.as_str()) {
                d.error(
                    Some(&t.location),
                    format!("({}) track_file {} not found, ignoring", i.name, t.name),
                );
            }
        }
        for t in &i.track_process {
            if !procs.contains(t.name.as_str()) {
                d.error(
                    Some(&t.location),
                    format!("({}) track_process {} not found, ignoring", i.name, t.name),
                );
            }
        }
        if i.virtual_router_id != 0 {
            let family_v6 = i
                .virtual_ipaddress
                .first()
                .is_some_and(|a| a.address.is_ipv6());
            let key = (
                i.interface.clone().unwrap_or_default(),
                family_v6,
                i.virtual_router_id,
            );
            if i.unicast_peer.is_empty() {
                if let Some(other) = vrids.get(&key) {
                    d.error(
                        Some(&i.location),
                        format!(
                            "({}) VRID {} is already used by {} on the same interface",
                            i.name, i.virtual_router_id, other
                        ),
                    );
                } else {
                    vrids.insert(key, i.name.clone());
                }
            }
        }
        if i.version == 3 {
            if let Some(Auth::Pass(_) | Auth::Ah(_)) = &i.authentication {
                d.warning(
                    Some(&i.location),
                    format!(
                        "({}) VRRP version 3 does not support authentication; ignoring it",
                        i.name
                    ),
                );
                i.authentication = None;
            }
        }
    }
}

fn check_sync_groups(cfg: &mut Config, d: &mut Diagnostics) {
    let mut member_of: BTreeMap<String, String> = BTreeMap::new();
    for g in &cfg.sync_groups {
        for m in &g.group {
            let Some(inst) = cfg.instances.iter().find(|i| &i.name == m) else {
                d.error(
                    Some(&g.location),
                    format!("vrrp_sync_group {}: instance {m} does not exist", g.name),
                );
                continue;
            };
            if let Some(other) = member_of.insert(m.clone(), g.name.clone()) {
                d.error(
                    Some(&g.location),
                    format!(
                        "vrrp_sync_group {}: instance {m} is already in sync group {other}",
                        g.name
                    ),
                );
            }
            if !g.sync_group_tracking_weight {
                let script_weight = |t: &TrackRef| {
                    t.weight.or_else(|| {
                        cfg.vrrp_scripts
                            .iter()
                            .find(|s| s.name == t.name)
                            .map(|s| s.weight)
                    })
                };
                let weighted = inst
                    .track_script
                    .iter()
                    .any(|t| script_weight(t).is_some_and(|w| w != 0))
                    || inst
                        .track_interface
                        .iter()
                        .any(|t| t.weight.is_some_and(|w| w != 0));
                if weighted {
                    d.warning(Some(&inst.location), format!("({}) is in sync group {}: tracker weights are ignored unless sync_group_tracking_weight is set", inst.name, g.name));
                }
            }
        }
        if g.group.len() == 1 {
            d.warning(
                Some(&g.location),
                format!(
                    "sync group {} has only 1 virtual router - this probably isn't what you want",
                    g.name
                ),
            );
        }
    }
}

/// What kind of script, for keepalived's differing strictness.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ScriptKind {
    /// A `vrrp_script` that some instance or sync group tracks.
    Tracked,
    /// A `vrrp_script` nothing tracks (still counted for script security).
    Untracked,
    /// notify, FIFO and start/stop scripts: problems are silent.
    Other,
}

/// Every configured script, with where it is configured.
fn scripts_in_use(cfg: &Config) -> Vec<(Script, Location, String, ScriptKind)> {
    let mut out = Vec::new();
    let tracked: BTreeSet<&str> = cfg
        .instances
        .iter()
        .flat_map(|i| i.track_script.iter().map(|t| t.name.as_str()))
        .chain(
            cfg.sync_groups
                .iter()
                .flat_map(|g| g.track_script.iter().map(|t| t.name.as_str())),
        )
        .collect();
    for s in &cfg.vrrp_scripts {
        if let Some(sc) = &s.script {
            let kind = if tracked.contains(s.name.as_str()) {
                ScriptKind::Tracked
            } else {
                ScriptKind::Untracked
            };
            out.push((
                sc.clone(),
                s.location.clone(),
                format!("track script {}", s.name),
                kind,
            ));
        }
    }
    for i in &cfg.instances {
        for (kind, sc) in notify_scripts(&i.notify) {
            out.push((
                sc.clone(),
                i.location.clone(),
                format!("{kind} script of {}", i.name),
                ScriptKind::Other,
            ));
        }
    }
    for g in &cfg.sync_groups {
        for (kind, sc) in notify_scripts(&g.notify) {
            out.push((
                sc.clone(),
                g.location.clone(),
                format!("{kind} script of sync group {}", g.name),
                ScriptKind::Other,
            ));
        }
    }
    let g = &cfg.global;
    for (what, sc) in [
        ("notify_fifo_script", &g.notify_fifo.script),
        ("vrrp_notify_fifo_script", &g.vrrp_notify_fifo.script),
        ("startup_script", &g.startup_script),
        ("shutdown_script", &g.shutdown_script),
    ] {
        if let Some(sc) = sc {
            out.push((sc.clone(), sc_loc(), what.to_string(), ScriptKind::Other));
        }
    }
    out
}

fn sc_loc() -> Location {
    Location::new(
        std::sync::Arc::new(std::path::PathBuf::from("global_defs")),
        0,
        0,
    )
}

fn notify_scripts(n: &Notify) -> Vec<(&'static str, &Script)> {
    [
        ("notify_master", &n.master),
        ("notify_backup", &n.backup),
        ("notify_fault", &n.fault),
        ("notify_stop", &n.stop),
        ("notify_deleted", &n.deleted),
        ("notify", &n.generic),
        ("notify_master_rx_lower_pri", &n.master_rx_lower_pri),
    ]
    .into_iter()
    .filter_map(|(k, s)| s.as_ref().map(|s| (k, s)))
    .collect()
}

fn check_scripts(cfg: &mut Config, env: &dyn Environment, d: &mut Diagnostics) {
    let security = cfg.global.enable_script_security;
    let default_user: Option<String> = match &cfg.global.script_user {
        Some(r) => Some(r.user.clone()),
        None => env
            .user("keepalived_script")
            .map(|_| "keepalived_script".to_string()),
    };
    let mut would_run = false;
    let mut default_user_reported = false;
    for (script, loc, what, kind) in scripts_in_use(cfg) {
        let Some(program) = script.program() else {
            continue;
        };
        let Some(resolved) = env.resolve_program(program) else {
            if kind == ScriptKind::Tracked {
                d.error(
                    Some(&loc),
                    format!("disabling {what} since '{program}' is not found/accessible"),
                )
                .with_help("give the path of an executable file");
            }
            continue;
        };
        let user = match (&script.user, &default_user) {
            (Some(u), _) => match env.user(u) {
                Some(u) => Some(u),
                None => {
                    if kind != ScriptKind::Other {
                        d.error(
                            Some(&loc),
                            format!("{what}: unable to set uid/gid: no user '{u}'"),
                        );
                    }
                    continue;
                }
            },
            (None, Some(u)) => env.user(u),
            (None, None) => {
                if security {
                    if !default_user_reported {
                        d.error(None, "unable to set default user keepalived_script for scripts (no such user)")
                            .with_help("create the keepalived_script user or set script_user in global_defs");
                        default_user_reported = true;
                    }
                    if kind != ScriptKind::Other {
                        d.error(
                            Some(&loc),
                            format!("unable to set default user for {what} - removing"),
                        );
                    }
                    continue;
                }
                None
            }
        };
        if !security {
            would_run = true;
            continue;
        }
        if user.is_none_or(|u| u.uid == 0) {
            if let Some(bad) = env.unsafe_component(&resolved) {
                d.error(
                    Some(&loc),
                    format!(
                        "{what}: unsafe permissions on {} (writable by non-root); disabling it",
                        bad.display()
                    ),
                );
            }
        }
    }
    if would_run {
        d.security(None, "SECURITY VIOLATION - scripts are being executed but script_security not enabled")
            .with_help("add enable_script_security to global_defs, and a script_user or keepalived_script user");
    }
}
