//! Address, route and rule lines (`virtual_ipaddress`, `virtual_routes`, `virtual_rules` and
//! their static forms) and unicast peers, in keepalived's `ip`-like syntax.

use super::types::*;
use super::values::uint;
use crate::diag::Diagnostics;
use crate::tree::Node;
use std::net::IpAddr;

/// Parses `ADDR[/LEN]` into address and prefix length.
pub fn parse_prefix(s: &str) -> Option<(IpAddr, u8)> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max)?,
        None => max,
    };
    Some((addr, len))
}

/// All words of a list-block line: its keyword then its arguments.
fn words(line: &Node) -> Vec<(&str, &crate::diag::Location)> {
    std::iter::once((line.keyword.as_str(), &line.location))
        .chain(line.args.iter().map(|a| (a.text.as_str(), &a.location)))
        .collect()
}

/// One `virtual_ipaddress` line.
pub fn address_line(line: &Node, d: &mut Diagnostics) -> Option<VirtualAddress> {
    let w = words(line);
    let Some((address, prefix_len)) = parse_prefix(w[0].0) else {
        d.error(Some(w[0].1), format!("invalid address '{}'", w[0].0))
            .with_help("expected ADDRESS[/PREFIX] [dev IF] [label L] [scope S] ...");
        return None;
    };
    let mut a = VirtualAddress {
        address,
        prefix_len,
        broadcast: None,
        dev: None,
        scope: None,
        label: None,
        peer: None,
        flags: vec![],
        no_track: false,
        preferred_lft: None,
        location: line.location.clone(),
    };
    let mut k = 1;
    while k < w.len() {
        let (opt, loc) = w[k];
        let value = w.get(k + 1).map(|x| x.0.to_string());
        let needs_value = matches!(
            opt,
            "brd" | "broadcast" | "dev" | "scope" | "label" | "peer" | "preferred_lft"
        );
        if needs_value && value.is_none() {
            d.error(
                Some(loc),
                format!("address {}: '{opt}' needs a value", w[0].0),
            );
            return Some(a);
        }
        match opt {
            "brd" | "broadcast" => a.broadcast = value,
            "dev" => a.dev = value,
            "scope" => {
                let v = value.unwrap_or_default();
                if !matches!(v.as_str(), "site" | "link" | "host" | "nowhere" | "global")
                    && v.parse::<u8>().is_err()
                {
                    d.error(
                        Some(loc),
                        format!("address {}: invalid scope '{v}'", w[0].0),
                    )
                    .with_help("expected site, link, host, nowhere or global");
                }
                a.scope = Some(v);
            }
            "label" => a.label = value,
            "peer" => {
                let v = value.unwrap_or_default();
                if parse_prefix(&v).is_none() {
                    d.error(Some(loc), format!("address {}: invalid peer '{v}'", w[0].0));
                }
                a.peer = Some(v);
            }
            "preferred_lft" => a.preferred_lft = value,
            "no_track" => {
                a.no_track = true;
                k += 1;
                continue;
            }
            "home" | "-nodad" | "nodad" | "mngtmpaddr" | "noprefixroute" | "autojoin"
            | "use_vmac" => {
                a.flags.push(opt.to_string());
                k += 1;
                continue;
            }
            other => {
                d.error(Some(loc), format!("address {}: unknown option '{other}'", w[0].0))
                    .with_help("expected brd, dev, scope, label, peer, home, -nodad, mngtmpaddr, noprefixroute, autojoin, no_track, preferred_lft");
                k += 1;
                continue;
            }
        }
        k += 2;
    }
    Some(a)
}

const ROUTE_TYPES: &[&str] = &[
    "unicast",
    "blackhole",
    "unreachable",
    "prohibit",
    "throw",
    "local",
    "broadcast",
    "anycast",
    "multicast",
    "nat",
];
const ROUTE_VALUE_OPTS: &[&str] = &[
    "src",
    "to",
    "via",
    "gw",
    "or",
    "dev",
    "oif",
    "scope",
    "table",
    "metric",
    "priority",
    "preference",
    "proto",
    "protocol",
    "tos",
    "dsfield",
    "realms",
    "realm",
    "mtu",
    "advmss",
    "rtt",
    "rttvar",
    "reordering",
    "window",
    "cwnd",
    "ssthresh",
    "initcwnd",
    "initrwnd",
    "features",
    "quickack",
    "fastopen_no_cookie",
    "congctl",
    "pref",
    "expires",
    "rto_min",
    "hoplimit",
    "nexthop",
    "weight",
    "encap",
    "ttl-propagate",
    "as",
    "from",
    "lock",
];
const ROUTE_FLAGS: &[&str] = &[
    "onlink",
    "pervasive",
    "no_track",
    "add",
    "append",
    "prepend",
    "inet6",
    "lock",
];

/// One `virtual_routes` line.
pub fn route_line(line: &Node, d: &mut Diagnostics) -> Option<RouteLine> {
    let w = words(line);
    let mut r = RouteLine {
        to: String::new(),
        kind: None,
        options: vec![],
        no_track: false,
        location: line.location.clone(),
    };
    let mut k = 0;
    while k < w.len() {
        let (word, loc) = w[k];
        if ROUTE_TYPES.contains(&word) && r.to.is_empty() && r.kind.is_none() {
            r.kind = Some(word.to_string());
            k += 1;
            continue;
        }
        if word == "no_track" {
            r.no_track = true;
            k += 1;
            continue;
        }
        if ROUTE_FLAGS.contains(&word) {
            r.options.push((word.to_string(), String::new()));
            k += 1;
            continue;
        }
        if ROUTE_VALUE_OPTS.contains(&word) {
            let Some((v, _)) = w.get(k + 1) else {
                d.abort(Some(loc), format!("route: '{word}' is missing a parameter"))
                    .with_help("keepalived stops reading here (exit 2)");
                return None;
            };
            if word == "to" {
                r.to = v.to_string();
            } else {
                if matches!(word, "via" | "gw" | "src") {
                    let addr = v.strip_prefix("inet6 ").unwrap_or(v);
                    if addr != "inet" && addr != "inet6" && parse_prefix(addr).is_none() {
                        d.error(
                            Some(loc),
                            format!("route: invalid address '{v}' after '{word}'"),
                        );
                    }
                }
                r.options.push((word.to_string(), v.to_string()));
            }
            k += 2;
            continue;
        }
        if r.to.is_empty() && (word == "default" || parse_prefix(word).is_some()) {
            r.to = word.to_string();
            k += 1;
            continue;
        }
        d.error(
            Some(loc),
            format!("route: unknown or misplaced word '{word}'"),
        )
        .with_help("virtual_routes lines use 'ip route' syntax without abbreviations");
        return None;
    }
    if r.to.is_empty() {
        d.error(Some(&line.location), "route: no destination given");
        return None;
    }
    Some(r)
}

const RULE_VALUE_OPTS: &[&str] = &[
    "from",
    "to",
    "table",
    "lookup",
    "iif",
    "oif",
    "fwmark",
    "preference",
    "priority",
    "pref",
    "tos",
    "dsfield",
    "realms",
    "goto",
    "suppress_prefixlength",
    "suppress_ifgroup",
    "uidrange",
    "ip_proto",
    "ipproto",
    "sport",
    "dport",
    "protocol",
    "nat",
    "map-to",
    "tun_id",
    "l3mdev",
];
const RULE_FLAGS: &[&str] = &[
    "not",
    "no_track",
    "inet",
    "inet6",
    "l3mdev",
    "unicast",
    "blackhole",
    "unreachable",
    "prohibit",
    "nop",
];

/// One `virtual_rules` line.
pub fn rule_line(line: &Node, d: &mut Diagnostics) -> Option<RuleLine> {
    let w = words(line);
    let mut r = RuleLine {
        options: vec![],
        inet6: false,
        no_track: false,
        location: line.location.clone(),
    };
    let mut k = 0;
    while k < w.len() {
        let (word, loc) = w[k];
        if RULE_FLAGS.contains(&word) {
            match word {
                "no_track" => r.no_track = true,
                "inet6" => r.inet6 = true,
                _ => r.options.push((word.to_string(), String::new())),
            }
            k += 1;
            continue;
        }
        if RULE_VALUE_OPTS.contains(&word) {
            let Some((v, _)) = w.get(k + 1) else {
                d.error(Some(loc), format!("rule: '{word}' needs a value"));
                return None;
            };
            if matches!(word, "from" | "to") && *v != "all" && parse_prefix(v).is_none() {
                d.error(
                    Some(loc),
                    format!("rule: invalid address '{v}' after '{word}'"),
                );
            }
            r.options.push((word.to_string(), v.to_string()));
            k += 2;
            continue;
        }
        d.error(Some(loc), format!("rule: unknown word '{word}'"))
            .with_help("virtual_rules lines use 'ip rule' syntax without abbreviations");
        return None;
    }
    if r.options.is_empty() {
        d.error(Some(&line.location), "rule: empty rule");
        return None;
    }
    Some(r)
}

/// One `unicast_peer` line: `ADDRESS [min_ttl N] [max_ttl N]`.
pub fn unicast_peer(line: &Node, d: &mut Diagnostics) -> Option<UnicastPeer> {
    let Ok(address) = line.keyword.parse::<IpAddr>() else {
        d.error(
            Some(&line.location),
            format!("unicast_peer: invalid address '{}'", line.keyword),
        );
        return None;
    };
    let mut p = UnicastPeer {
        address,
        min_ttl: None,
        max_ttl: None,
    };
    let mut k = 0;
    while k < line.args.len() {
        match line.args[k].text.as_str() {
            "min_ttl" => p.min_ttl = uint(line, k + 1, 0, 255, d).map(|v| v as u8),
            "max_ttl" => p.max_ttl = uint(line, k + 1, 0, 255, d).map(|v| v as u8),
            other => {
                d.error(
                    Some(&line.args[k].location),
                    format!("unicast_peer {address}: unknown option '{other}'"),
                )
                .with_help("expected min_ttl N or max_ttl N");
                return Some(p);
            }
        }
        k += 2;
    }
    Some(p)
}
