//! The model written back as keepalived.conf: [`render`] produces text that keepalived 2.2.7
//! accepts and that this crate reads back into the same model (locations aside).
//!
//! Every field is written explicitly, defaults included, so the text does not depend on the
//! defaults of the reader. Times are decimal seconds, script commands are quoted so that they
//! split back into the same words, and recognised-but-unmodelled statements
//! ([`Config::parsed_only`]) go back into the block they came from. Which block that is, and the
//! order of the top-level blocks, come from the locations the model carries: a raw statement
//! belongs to the nearest object of its block kind that starts before it.

use crate::diag::Location;
use crate::lexer::{tokenize, TokenKind};
use crate::model::lvs;
use crate::model::script::{split_command, Script};
use crate::model::values::fmt_seconds;
use crate::model::*;
use std::cmp::Ordering;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;

/// Writes the model as keepalived.conf text.
pub fn render(config: &Config) -> String {
    Renderer::new(config).run()
}

/// Quotes a word when the lexer would not read it back as one word with the same text.
pub fn quote_word(s: &str) -> String {
    let plain = !s.is_empty()
        && !s.starts_with(['@', '~', '$'])
        && !s.chars().any(|c| {
            c.is_whitespace() || matches!(c, '"' | '{' | '}' | '#' | '!' | '\\' | '\0' | '$')
        });
    if plain || s.contains('"') {
        // A word holding a double quote cannot be quoted; write it as it is (best effort).
        s.to_string()
    } else {
        format!("\"{s}\"")
    }
}

/// Writes argv as one command string without double quotes that splits back into the same
/// words (single quotes, `\xHH` escapes for what single quotes cannot hold).
pub fn quote_argv(argv: &[String]) -> String {
    let mut out = String::new();
    for (n, w) in argv.iter().enumerate() {
        if n > 0 {
            out.push(' ');
        }
        let simple = !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+%@".contains(c));
        if simple {
            out.push_str(w);
            continue;
        }
        out.push('\'');
        for c in w.chars() {
            match c {
                '\'' => out.push_str("'\\x27'"),
                '"' => out.push_str("'\\x22'"),
                '\n' => out.push_str("'\\n'"),
                '\r' => out.push_str("'\\r'"),
                c => out.push(c),
            }
        }
        out.push('\'');
    }
    out
}

/// The command part of a script line that reads back as `command`. `whole_line` is for
/// `vrrp_script`'s `script`, where every word of the line belongs to the command.
fn command_text(command: &str, argv: &[String], whole_line: bool) -> String {
    if !command.contains('"') && !command.contains('\n') {
        return format!("\"{command}\"");
    }
    let toks = tokenize(command);
    let plain = toks
        .iter()
        .all(|t| t.terminated && matches!(t.kind, TokenKind::Word | TokenKind::Quoted));
    if plain {
        if toks.len() == 1 && toks[0].kind == TokenKind::Word && toks[0].text == command {
            return command.to_string();
        }
        if whole_line && toks.len() > 1 {
            let joined = toks
                .iter()
                .map(|t| {
                    if t.kind == TokenKind::Quoted {
                        format!("\"{}\"", t.text)
                    } else {
                        t.text.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
            if joined == command {
                return command.to_string();
            }
        }
    }
    // The text as written cannot be reproduced: keep the words.
    let canon = quote_argv(argv);
    debug_assert_eq!(split_command(&canon).ok().as_deref(), Some(argv));
    format!("\"{canon}\"")
}

/// `"command" [user [group]]`.
fn script_line(s: &Script) -> String {
    let mut out = command_text(&s.command, &s.argv, false);
    if let Some(u) = &s.user {
        out.push(' ');
        out.push_str(&quote_word(u));
        if let Some(g) = &s.group {
            out.push(' ');
            out.push_str(&quote_word(g));
        }
    }
    out
}

fn yes(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

fn secs(us: u64) -> String {
    fmt_seconds(us)
}

/// Orders locations: file, then line, then column.
fn loc_cmp(a: &Location, b: &Location) -> Ordering {
    let fa: &Path = a.file.as_path();
    let fb: &Path = b.file.as_path();
    fa.cmp(fb).then(a.line.cmp(&b.line)).then(a.col.cmp(&b.col))
}

/// The candidate that starts last at or before `at` in the same file; else the first one.
fn owner_of(candidates: &[&Location], at: &Location) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (n, l) in candidates.iter().enumerate() {
        if l.file == at.file
            && loc_cmp(l, at) != Ordering::Greater
            && best.is_none_or(|b| loc_cmp(candidates[b], l) != Ordering::Greater)
        {
            best = Some(n);
        }
    }
    best.or(if candidates.is_empty() { None } else { Some(0) })
}

/// A top-level item, in file order.
#[derive(Clone, Copy)]
enum Top {
    Script(usize),
    TrackFile(usize),
    TrackProcess(usize),
    SyncGroup(usize),
    Instance(usize),
    RootRaw(usize),
    ServerGroup(usize),
    Server(usize),
}

/// Where a raw statement goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Owner {
    Global,
    Top(usize),
    Script(usize),
    TrackFile(usize),
    TrackProcess(usize),
    SyncGroup(usize),
    Instance(usize),
    /// Inside a root raw block (`garp_group`).
    RootRaw(usize),
    Nowhere,
}

struct Renderer<'a> {
    cfg: &'a Config,
    out: String,
    depth: usize,
    /// The owner of each `parsed_only` entry.
    owners: Vec<Owner>,
}

impl<'a> Renderer<'a> {
    fn new(cfg: &'a Config) -> Self {
        let mut r = Renderer {
            cfg,
            out: String::new(),
            depth: 0,
            owners: Vec::new(),
        };
        r.owners = r.assign_owners();
        r
    }

    fn assign_owners(&self) -> Vec<Owner> {
        let c = self.cfg;
        let scripts: Vec<&Location> = c.vrrp_scripts.iter().map(|x| &x.location).collect();
        let files: Vec<&Location> = c.track_files.iter().map(|x| &x.location).collect();
        let procs: Vec<&Location> = c.track_processes.iter().map(|x| &x.location).collect();
        let groups: Vec<&Location> = c.sync_groups.iter().map(|x| &x.location).collect();
        let insts: Vec<&Location> = c.instances.iter().map(|x| &x.location).collect();
        let root_blocks: Vec<(usize, &Location)> = c
            .parsed_only
            .iter()
            .enumerate()
            .filter(|(_, r)| r.block == "root" && r.has_block)
            .map(|(n, r)| (n, &r.location))
            .collect();
        let root_locs: Vec<&Location> = root_blocks.iter().map(|(_, l)| *l).collect();
        c.parsed_only
            .iter()
            .enumerate()
            .map(|(n, r)| {
                let at = &r.location;
                let pick = |v: &[&Location], f: fn(usize) -> Owner| {
                    owner_of(v, at).map_or(Owner::Nowhere, f)
                };
                match r.block.as_str() {
                    "root" => Owner::Top(n),
                    "global_defs" => Owner::Global,
                    "vrrp_script" => pick(&scripts, Owner::Script),
                    "track_file" => pick(&files, Owner::TrackFile),
                    "vrrp_track_process" => pick(&procs, Owner::TrackProcess),
                    "vrrp_sync_group" => pick(&groups, Owner::SyncGroup),
                    b if b == "vrrp_instance" || b.starts_with("vrrp_instance.") => {
                        pick(&insts, Owner::Instance)
                    }
                    _ => owner_of(&root_locs, at)
                        .map_or(Owner::Nowhere, |k| Owner::RootRaw(root_blocks[k].0)),
                }
            })
            .collect()
    }

    /// The raw statements that belong to `owner`, in order.
    fn raws(&self, owner: Owner) -> Vec<&'a RawStatement> {
        let cfg: &'a Config = self.cfg;
        cfg.parsed_only
            .iter()
            .zip(&self.owners)
            .filter(|(_, o)| **o == owner)
            .map(|(r, _)| r)
            .collect()
    }

    fn line(&mut self, text: impl AsRef<str>) {
        // keepalived reads at most 1023 bytes per line: a long line goes unindented so that
        // it is cut where the original was.
        if self.depth * 4 + text.as_ref().len() <= 1023 {
            for _ in 0..self.depth {
                self.out.push_str("    ");
            }
        }
        self.out.push_str(text.as_ref());
        self.out.push('\n');
    }

    fn open(&mut self, text: impl AsRef<str>) {
        self.line(format!("{} {{", text.as_ref()));
        self.depth += 1;
    }

    fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.line("}");
    }

    fn kv(&mut self, key: &str, value: impl std::fmt::Display) {
        self.line(format!("{key} {value}"));
    }

    fn flag_if(&mut self, key: &str, on: bool) {
        if on {
            self.line(key);
        }
    }

    fn opt_bool(&mut self, key: &str, v: Option<bool>) {
        if let Some(b) = v {
            self.kv(key, yes(b));
        }
    }

    fn raw(&mut self, r: &RawStatement) {
        let mut text = quote_word(&r.keyword);
        for a in &r.args {
            text.push(' ');
            text.push_str(&quote_word(a));
        }
        if r.has_block {
            self.open(text);
            if !r.children.is_empty() {
                for c in &r.children {
                    self.raw(c);
                }
            } else if r.block == "root" {
                let idx = self
                    .cfg
                    .parsed_only
                    .iter()
                    .position(|x| std::ptr::eq(x, r))
                    .map_or(Owner::Nowhere, Owner::RootRaw);
                for inner in self.raws(idx) {
                    self.raw(inner);
                }
            }
            self.close();
        } else {
            self.line(text);
        }
    }

    fn run(mut self) -> String {
        let c = self.cfg;
        self.global();
        if !c.static_addresses.is_empty() {
            self.open("static_ipaddress");
            for a in &c.static_addresses {
                self.line(address_line(a));
            }
            self.close();
        }
        if !c.static_routes.is_empty() {
            self.open("static_routes");
            for r in &c.static_routes {
                self.line(route_line(r));
            }
            self.close();
        }
        if !c.static_rules.is_empty() {
            self.open("static_rules");
            for r in &c.static_rules {
                self.line(rule_line(r));
            }
            self.close();
        }
        let mut tops: Vec<(&Location, Top)> = Vec::new();
        tops.extend(
            c.vrrp_scripts
                .iter()
                .enumerate()
                .map(|(n, x)| (&x.location, Top::Script(n))),
        );
        tops.extend(
            c.track_files
                .iter()
                .enumerate()
                .map(|(n, x)| (&x.location, Top::TrackFile(n))),
        );
        tops.extend(
            c.track_processes
                .iter()
                .enumerate()
                .map(|(n, x)| (&x.location, Top::TrackProcess(n))),
        );
        tops.extend(
            c.instances
                .iter()
                .enumerate()
                .map(|(n, x)| (&x.location, Top::Instance(n))),
        );
        tops.extend(
            c.sync_groups
                .iter()
                .enumerate()
                .map(|(n, x)| (&x.location, Top::SyncGroup(n))),
        );
        tops.extend(
            c.parsed_only
                .iter()
                .enumerate()
                .filter(|(_, r)| r.block == "root")
                .map(|(n, x)| (&x.location, Top::RootRaw(n))),
        );
        tops.extend(
            c.virtual_server_groups
                .iter()
                .enumerate()
                .map(|(n, x)| (&x.location, Top::ServerGroup(n))),
        );
        tops.extend(
            c.virtual_servers
                .iter()
                .enumerate()
                .map(|(n, x)| (&x.location, Top::Server(n))),
        );
        tops.sort_by(|a, b| loc_cmp(a.0, b.0));
        for (_, t) in tops {
            match t {
                Top::Script(n) => self.vrrp_script(n),
                Top::TrackFile(n) => self.track_file(n),
                Top::TrackProcess(n) => self.track_process(n),
                Top::SyncGroup(n) => self.sync_group(n),
                Top::Instance(n) => self.instance(n),
                Top::RootRaw(n) => {
                    if let Some(r) = c.parsed_only.get(n) {
                        self.raw(r);
                    }
                }
                Top::ServerGroup(n) => {
                    if let Some(g) = c.virtual_server_groups.get(n) {
                        self.server_group(g);
                    }
                }
                Top::Server(n) => {
                    if let Some(v) = c.virtual_servers.get(n) {
                        self.server(v);
                    }
                }
            }
        }
        self.out
    }

    fn fifo(&mut self, key: &str, f: &NotifyFifo) {
        if let Some(p) = &f.path {
            let mut text = quote_word(p);
            if let Some(o) = &f.owner {
                text.push(' ');
                text.push_str(&quote_word(&o.user));
                if let Some(g) = &o.group {
                    text.push(' ');
                    text.push_str(&quote_word(g));
                }
            }
            self.kv(key, text);
        }
        if let Some(s) = &f.script {
            self.kv(&format!("{key}_script"), script_line(s));
        }
    }

    fn global(&mut self) {
        let g = &self.cfg.global;
        self.open("global_defs");
        if let Some(v) = &g.router_id {
            self.kv("router_id", quote_word(v));
        }
        if !g.notification_email.is_empty() {
            self.open("notification_email");
            for e in &g.notification_email {
                self.line(quote_word(e));
            }
            self.close();
        }
        if let Some(v) = &g.notification_email_from {
            self.kv("notification_email_from", quote_word(v));
        }
        if let Some(s) = &g.smtp_server {
            self.kv("smtp_server", format!("{} {}", quote_word(&s.host), s.port));
        }
        if let Some(v) = &g.smtp_helo_name {
            self.kv("smtp_helo_name", quote_word(v));
        }
        self.kv("smtp_connect_timeout", g.smtp_connect_timeout);
        self.opt_bool("smtp_alert", g.smtp_alert);
        self.opt_bool("smtp_alert_vrrp", g.smtp_alert_vrrp);
        if let Some(r) = &g.script_user {
            let mut text = quote_word(&r.user);
            if let Some(gr) = &r.group {
                text.push(' ');
                text.push_str(&quote_word(gr));
            }
            self.kv("script_user", text);
        }
        self.flag_if("enable_script_security", g.enable_script_security);
        self.kv("vrrp_version", g.vrrp_version);
        self.kv("vrrp_mcast_group4", g.vrrp_mcast_group4);
        self.kv("vrrp_mcast_group6", g.vrrp_mcast_group6);
        self.kv("vrrp_garp_master_delay", g.vrrp_garp_master_delay);
        self.kv("vrrp_garp_master_repeat", g.vrrp_garp_master_repeat);
        self.kv("vrrp_garp_master_refresh", g.vrrp_garp_master_refresh);
        self.kv(
            "vrrp_garp_master_refresh_repeat",
            g.vrrp_garp_master_refresh_repeat,
        );
        if let Some(v) = g.vrrp_garp_lower_prio_delay {
            self.kv("vrrp_garp_lower_prio_delay", v);
        }
        if let Some(v) = g.vrrp_garp_lower_prio_repeat {
            self.kv("vrrp_garp_lower_prio_repeat", v);
        }
        // 0 (the default) cannot be written: the keywords take at least 1 microsecond.
        if g.vrrp_garp_interval_us != 0 {
            self.kv("vrrp_garp_interval", secs(g.vrrp_garp_interval_us));
        }
        if g.vrrp_gna_interval_us != 0 {
            self.kv("vrrp_gna_interval", secs(g.vrrp_gna_interval_us));
        }
        self.kv("vrrp_min_garp", yes(g.vrrp_min_garp));
        self.flag_if("vrrp_strict", g.vrrp_strict);
        self.flag_if("vrrp_check_unicast_src", g.vrrp_check_unicast_src);
        self.flag_if("vrrp_skip_check_adv_addr", g.vrrp_skip_check_adv_addr);
        self.kv(
            "vrrp_lower_prio_no_advert",
            yes(g.vrrp_lower_prio_no_advert),
        );
        self.kv(
            "vrrp_higher_prio_send_advert",
            yes(g.vrrp_higher_prio_send_advert),
        );
        if g.vrrp_startup_delay_us != 0 {
            self.kv("vrrp_startup_delay", secs(g.vrrp_startup_delay_us));
        }
        self.flag_if("dynamic_interfaces", g.dynamic_interfaces);
        self.kv("vrrp_down_timer_adverts", g.vrrp_down_timer_adverts);
        self.fifo("notify_fifo", &g.notify_fifo);
        self.fifo("vrrp_notify_fifo", &g.vrrp_notify_fifo);
        self.fifo("lvs_notify_fifo", &g.lvs_notify_fifo);
        if let Some(p) = g.max_auto_priority {
            self.kv("max_auto_priority", p);
        }
        self.kv("min_auto_priority_delay", g.min_auto_priority_delay_us);
        if let Some(p) = g.vrrp_rt_priority {
            self.kv("vrrp_rt_priority", p);
        }
        if g.reload_check_config {
            match &g.reload_check_config_log {
                Some(l) => self.kv("reload_check_config", quote_word(l)),
                None => self.line("reload_check_config"),
            }
        }
        self.kv(
            "vrrp_notify_priority_changes",
            yes(g.vrrp_notify_priority_changes),
        );
        self.kv(
            "fifo_write_vrrp_states_on_reload",
            yes(g.fifo_write_vrrp_states_on_reload),
        );
        if let Some(s) = &g.startup_script {
            self.kv("startup_script", script_line(s));
        }
        if let Some(s) = &g.shutdown_script {
            self.kv("shutdown_script", script_line(s));
        }
        self.flag_if("lvs_flush", g.lvs.flush);
        match g.lvs.flush_on_stop {
            Some(crate::model::LvsFlushOnStop::All) => self.line("lvs_flush_on_stop"),
            Some(crate::model::LvsFlushOnStop::VirtualServers) => {
                self.kv("lvs_flush_on_stop", "VS")
            }
            None => {}
        }
        if let Some(t) = &g.lvs.timeouts {
            let mut parts = Vec::new();
            for (name, v) in [("tcp", t.tcp), ("tcpfin", t.tcp_fin), ("udp", t.udp)] {
                if let Some(v) = v {
                    parts.push(format!("{name} {v}"));
                }
            }
            self.kv("lvs_timeouts", parts.join(" "));
        }
        self.flag_if("rs_init_notifies", g.lvs.rs_init_notifies);
        self.flag_if("checker_log_all_failures", g.lvs.checker_log_all_failures);
        if let Some(sd) = &g.lvs.sync_daemon {
            let mut line = quote_word(&sd.interface);
            if let Some(i) = &sd.instance {
                line.push_str(&format!(" inst {}", quote_word(i)));
            }
            if let Some(v) = sd.sync_id {
                line.push_str(&format!(" id {v}"));
            }
            if let Some(v) = sd.maxlen {
                line.push_str(&format!(" maxlen {v}"));
            }
            if let Some(v) = sd.port {
                line.push_str(&format!(" port {v}"));
            }
            if let Some(v) = sd.ttl {
                line.push_str(&format!(" ttl {v}"));
            }
            if let Some(v) = sd.group {
                line.push_str(&format!(" group {v}"));
            }
            self.kv("lvs_sync_daemon", line);
        }
        for r in self.raws(Owner::Global) {
            self.raw(r);
        }
        self.close();
    }

    fn vrrp_script(&mut self, n: usize) {
        let Some(s) = self.cfg.vrrp_scripts.get(n) else {
            return;
        };
        self.open(format!("vrrp_script {}", quote_word(&s.name)));
        if let Some(sc) = &s.script {
            self.kv("script", command_text(&sc.command, &sc.argv, true));
            self.run_as("user", &sc.user, &sc.group);
        }
        self.kv("interval", secs(s.interval_us));
        self.kv("timeout", secs(s.timeout_us));
        self.weight("weight", i64::from(s.weight), s.weight_reverse);
        self.kv("rise", s.rise);
        self.kv("fall", s.fall);
        self.flag_if("init_fail", s.init_fail);
        for r in self.raws(Owner::Script(n)) {
            self.raw(r);
        }
        self.close();
    }

    fn run_as(&mut self, key: &str, user: &Option<String>, group: &Option<String>) {
        if let Some(u) = user {
            let mut text = quote_word(u);
            if let Some(g) = group {
                text.push(' ');
                text.push_str(&quote_word(g));
            }
            self.kv(key, text);
        }
    }

    fn weight(&mut self, key: &str, w: i64, reverse: bool) {
        if reverse {
            self.line(format!("{key} {w} reverse"));
        } else {
            self.kv(key, w);
        }
    }

    fn track_file(&mut self, n: usize) {
        let Some(t) = self.cfg.track_files.get(n) else {
            return;
        };
        self.open(format!("track_file {}", quote_word(&t.name)));
        if let Some(f) = &t.file {
            self.kv("file", quote_word(f));
        }
        self.weight("weight", t.weight, t.weight_reverse);
        if let Some(i) = &t.init_file {
            if i.overwrite {
                self.line(format!("init_file {} overwrite", i.value));
            } else {
                self.kv("init_file", i.value);
            }
        }
        for r in self.raws(Owner::TrackFile(n)) {
            self.raw(r);
        }
        self.close();
    }

    fn track_process(&mut self, n: usize) {
        let Some(t) = self.cfg.track_processes.get(n) else {
            return;
        };
        self.open(format!("vrrp_track_process {}", quote_word(&t.name)));
        if let Some(p) = &t.process {
            let words: Vec<String> = p.iter().map(|w| quote_word(w)).collect();
            self.kv("process", words.join(" "));
        }
        if let Some(m) = &t.param_match {
            self.kv("param_match", quote_word(m));
        }
        self.weight("weight", i64::from(t.weight), t.weight_reverse);
        self.kv("quorum", t.quorum);
        if let Some(q) = t.quorum_max {
            self.kv("quorum_max", q);
        }
        if let Some(v) = t.fork_delay_us {
            self.kv("fork_delay", secs(v));
        }
        if let Some(v) = t.terminate_delay_us {
            self.kv("terminate_delay", secs(v));
        }
        if let Some(v) = t.delay_us {
            self.kv("delay", secs(v));
        }
        self.flag_if("full_command", t.full_command);
        for r in self.raws(Owner::TrackProcess(n)) {
            self.raw(r);
        }
        self.close();
    }

    fn track_list(&mut self, key: &str, list: &[TrackRef]) {
        if list.is_empty() {
            return;
        }
        self.open(key);
        for t in list {
            let mut text = quote_word(&t.name);
            if let Some(w) = t.weight {
                let _ = write!(text, " weight {w}");
                if t.reverse {
                    text.push_str(" reverse");
                }
            }
            self.line(text);
        }
        self.close();
    }

    fn notify(&mut self, n: &Notify) {
        for (key, s) in [
            ("notify_master", &n.master),
            ("notify_backup", &n.backup),
            ("notify_fault", &n.fault),
            ("notify_stop", &n.stop),
            ("notify_deleted", &n.deleted),
            ("notify", &n.generic),
            ("notify_master_rx_lower_pri", &n.master_rx_lower_pri),
        ] {
            if let Some(s) = s {
                self.kv(key, script_line(s));
            }
        }
    }

    fn sync_group(&mut self, n: usize) {
        let Some(g) = self.cfg.sync_groups.get(n) else {
            return;
        };
        self.open(format!("vrrp_sync_group {}", quote_word(&g.name)));
        if !g.group.is_empty() {
            self.open("group");
            for m in &g.group {
                self.line(quote_word(m));
            }
            self.close();
        }
        self.track_list("track_interface", &g.track_interface);
        self.track_list("track_script", &g.track_script);
        self.track_list("track_file", &g.track_file);
        self.track_list("track_process", &g.track_process);
        self.track_list("track_bfd", &g.track_bfd);
        self.notify(&g.notify);
        self.opt_bool("smtp_alert", g.smtp_alert);
        self.flag_if("sync_group_tracking_weight", g.sync_group_tracking_weight);
        self.opt_bool("notify_priority_changes", g.notify_priority_changes);
        for r in self.raws(Owner::SyncGroup(n)) {
            self.raw(r);
        }
        self.close();
    }

    fn authentication(&mut self, a: &Option<Auth>, raws: &[&RawStatement]) {
        self.open("authentication");
        match a {
            Some(Auth::Pass(p)) => {
                self.kv("auth_type", "PASS");
                if !p.is_empty() {
                    self.kv("auth_pass", quote_word(p));
                }
            }
            Some(Auth::Ah(p)) => {
                self.kv("auth_type", "AH");
                if !p.is_empty() {
                    self.kv("auth_pass", quote_word(p));
                }
            }
            None => {}
        }
        for r in raws {
            self.raw(r);
        }
        self.close();
    }

    fn instance(&mut self, n: usize) {
        let Some(i) = self.cfg.instances.get(n) else {
            return;
        };
        let raws = self.raws(Owner::Instance(n));
        let auth_raws = raws.iter().any(|r| r.block != "vrrp_instance");
        self.open(format!("vrrp_instance {}", quote_word(&i.name)));
        self.kv(
            "state",
            match i.state {
                InitialState::Master => "MASTER",
                InitialState::Backup => "BACKUP",
            },
        );
        if let Some(v) = &i.interface {
            self.kv("interface", quote_word(v));
        }
        if i.virtual_router_id != 0 {
            self.kv("virtual_router_id", i.virtual_router_id);
        }
        self.kv("priority", i.priority);
        self.kv("version", i.version);
        if i.version == 2 {
            self.kv("advert_int", (i.advert_int_cs / 100).max(1));
        } else {
            self.kv("advert_int", secs(u64::from(i.advert_int_cs) * 10_000));
        }
        if i.authentication.is_some() && !auth_raws {
            self.authentication(&i.authentication, &[]);
        }
        for (key, list) in [
            ("virtual_ipaddress", &i.virtual_ipaddress),
            ("virtual_ipaddress_excluded", &i.virtual_ipaddress_excluded),
        ] {
            if !list.is_empty() {
                self.open(key);
                for a in list {
                    self.line(address_line(a));
                }
                self.close();
            }
        }
        if !i.virtual_routes.is_empty() {
            self.open("virtual_routes");
            for r in &i.virtual_routes {
                self.line(route_line(r));
            }
            self.close();
        }
        if !i.virtual_rules.is_empty() {
            self.open("virtual_rules");
            for r in &i.virtual_rules {
                self.line(rule_line(r));
            }
            self.close();
        }
        self.track_list("track_interface", &i.track_interface);
        self.track_list("track_script", &i.track_script);
        self.track_list("track_file", &i.track_file);
        self.track_list("track_process", &i.track_process);
        self.track_list("track_bfd", &i.track_bfd);
        self.flag_if("dont_track_primary", i.dont_track_primary);
        self.flag_if("nopreempt", i.nopreempt);
        self.kv("preempt_delay", secs(i.preempt_delay_us));
        if let Some(a) = i.unicast_src_ip {
            self.kv("unicast_src_ip", a);
        }
        if let Some(a) = i.mcast_src_ip {
            self.kv("mcast_src_ip", a);
        }
        if !i.unicast_peer.is_empty() {
            self.open("unicast_peer");
            for p in &i.unicast_peer {
                let mut text = p.address.to_string();
                if let Some(t) = p.min_ttl {
                    let _ = write!(text, " min_ttl {t}");
                }
                if let Some(t) = p.max_ttl {
                    let _ = write!(text, " max_ttl {t}");
                }
                self.line(text);
            }
            self.close();
        }
        // keepalived warns about unicast_ttl without peers, so the default goes unsaid there.
        if !i.unicast_peer.is_empty() || i.unicast_ttl != 255 {
            self.kv("unicast_ttl", i.unicast_ttl);
        }
        // Only a difference from global_defs needs saying (keepalived warns about the keyword
        // without unicast peers).
        if i.check_unicast_src != self.cfg.global.vrrp_check_unicast_src {
            self.flag_if("check_unicast_src", i.check_unicast_src);
        }
        if let Some(v) = &i.use_vmac {
            let mut text = String::from("use_vmac");
            for part in [&v.name, &v.mac].into_iter().flatten() {
                text.push(' ');
                text.push_str(&quote_word(part));
            }
            self.line(text);
        }
        self.flag_if("vmac_xmit_base", i.vmac_xmit_base);
        self.kv("garp_master_delay", i.garp_master_delay);
        self.kv("garp_master_repeat", i.garp_master_repeat);
        self.kv("garp_master_refresh", i.garp_master_refresh);
        self.kv("garp_master_refresh_repeat", i.garp_master_refresh_repeat);
        self.kv("garp_lower_prio_delay", i.garp_lower_prio_delay);
        self.kv("garp_lower_prio_repeat", i.garp_lower_prio_repeat);
        match i.garp_extra_if {
            Some((true, s)) => self.kv("garp_extra_if all", s),
            Some((false, s)) => self.kv("garp_extra_if", s),
            None => {}
        }
        self.line(if i.accept { "accept" } else { "no_accept" });
        self.kv("strict_mode", yes(i.strict_mode));
        self.kv("skip_check_adv_addr", yes(i.skip_check_adv_addr));
        self.kv("down_timer_adverts", i.down_timer_adverts);
        self.kv("lower_prio_no_advert", yes(i.lower_prio_no_advert));
        self.kv("higher_prio_send_advert", yes(i.higher_prio_send_advert));
        self.notify(&i.notify);
        self.opt_bool("smtp_alert", i.smtp_alert);
        self.opt_bool("notify_priority_changes", i.notify_priority_changes);
        // Raw statements in order; those of the authentication block go in authentication
        // blocks, each repeating the typed settings (the last block read wins).
        let mut k = 0;
        while k < raws.len() {
            if raws[k].block == "vrrp_instance" {
                self.raw(raws[k]);
                k += 1;
            } else {
                let start = k;
                while k < raws.len() && raws[k].block != "vrrp_instance" {
                    k += 1;
                }
                self.authentication(&i.authentication, &raws[start..k]);
            }
        }
        self.close();
    }

    fn server_group(&mut self, g: &lvs::VirtualServerGroup) {
        self.open(format!("virtual_server_group {}", quote_word(&g.name)));
        for e in &g.entries {
            match e {
                lvs::GroupEntry::Range {
                    first, last, port, ..
                } => {
                    let mut text = range_text(*first, *last);
                    if *port != 0 {
                        let _ = write!(text, " {port}");
                    }
                    self.line(text);
                }
                lvs::GroupEntry::Fwmark { mark, family, .. } => match family {
                    Some(f) => self.line(format!("fwmark {mark} {}", family_text(*f))),
                    None => self.kv("fwmark", mark),
                },
            }
        }
        self.close();
    }

    fn server(&mut self, v: &lvs::VirtualServer) {
        let (head, port, protocol) = match &v.key {
            lvs::VirtualServerKey::Address {
                address,
                port,
                protocol,
            } => {
                let head = if *port == 0 {
                    format!("virtual_server {address}")
                } else {
                    format!("virtual_server {address} {port}")
                };
                (head, *port, Some(*protocol))
            }
            lvs::VirtualServerKey::Fwmark { mark, .. } => {
                (format!("virtual_server fwmark {mark}"), 0, None)
            }
            lvs::VirtualServerKey::Group { name, protocol } => (
                format!("virtual_server group {}", quote_word(name)),
                0,
                Some(*protocol),
            ),
        };
        self.open(head);
        let fwmark_group = match &v.key {
            lvs::VirtualServerKey::Group { name, .. } => {
                let entries: Vec<&lvs::GroupEntry> = self
                    .cfg
                    .virtual_server_groups
                    .iter()
                    .filter(|g| &g.name == name)
                    .flat_map(|g| &g.entries)
                    .collect();
                !entries.is_empty()
                    && entries
                        .iter()
                        .all(|e| matches!(e, lvs::GroupEntry::Fwmark { .. }))
            }
            _ => false,
        };
        match protocol {
            // keepalived warns about a protocol on a group of fwmarks, and the model says UDP
            // for one whatever was written.
            Some(_) if fwmark_group => {}
            Some(p) => self.kv("protocol", p.as_str()),
            None => {}
        }
        if let lvs::VirtualServerKey::Fwmark { family, .. } = &v.key {
            self.kv("ip_family", family_text(*family));
        }
        self.kv("lvs_sched", quote_word(&v.scheduler));
        self.kv("lvs_method", forwarding_text(&v.forwarding));
        self.kv("delay_loop", secs(v.delay_loop_us));
        if let Some(t) = v.persistence_timeout {
            self.kv("persistence_timeout", t);
        }
        if let Some(g) = &v.persistence_granularity {
            self.kv("persistence_granularity", quote_word(g));
        }
        if let Some(e) = &v.persistence_engine {
            self.kv("persistence_engine", quote_word(e));
        }
        self.kv("quorum", v.quorum);
        self.kv("hysteresis", v.hysteresis);
        if let Some(s) = &v.quorum_up {
            self.kv("quorum_up", script_line(s));
        }
        if let Some(s) = &v.quorum_down {
            self.kv("quorum_down", script_line(s));
        }
        if let Some(s) = &v.sorry_server {
            if s.port == port {
                self.kv("sorry_server", s.address);
            } else {
                self.kv("sorry_server", format!("{} {}", s.address, s.port));
            }
            self.flag_if("sorry_server_inhibit", s.inhibit);
            if let Some(f) = &s.forwarding {
                self.kv("sorry_server_lvs_method", forwarding_text(f));
            }
        }
        self.flag_if("alpha", v.alpha);
        self.flag_if("omega", v.omega);
        self.flag_if("inhibit_on_failure", v.inhibit_on_failure);
        self.flag_if("ha_suspend", v.ha_suspend);
        if let Some(h) = &v.virtualhost {
            self.kv("virtualhost", quote_word(h));
        }
        for f in &v.flags {
            self.line(quote_word(f));
        }
        self.opt_bool("smtp_alert", v.smtp_alert);
        for r in &v.other {
            self.raw(r);
        }
        for rs in &v.real_servers {
            self.real_server(v, port, rs);
        }
        self.close();
    }

    fn real_server(&mut self, v: &lvs::VirtualServer, vs_port: u16, rs: &lvs::RealServer) {
        if rs.key.port == vs_port {
            self.open(format!("real_server {}", rs.key.address));
        } else {
            self.open(format!("real_server {} {}", rs.key.address, rs.key.port));
        }
        self.kv("weight", rs.weight);
        if rs.forwarding != v.forwarding {
            self.kv("lvs_method", forwarding_text(&rs.forwarding));
        }
        if let Some(s) = &rs.notify_up {
            self.kv("notify_up", script_line(s));
        }
        if let Some(s) = &rs.notify_down {
            self.kv("notify_down", script_line(s));
        }
        if let Some(t) = rs.uthreshold {
            self.kv("uthreshold", t);
        }
        if let Some(t) = rs.lthreshold {
            self.kv("lthreshold", t);
        }
        // The real server's setting overrides the virtual server's; false needs saying only
        // when the virtual server says true.
        if rs.inhibit_on_failure != v.inhibit_on_failure {
            self.kv("inhibit_on_failure", yes(rs.inhibit_on_failure));
        }
        self.opt_bool("smtp_alert", rs.smtp_alert);
        if let Some(h) = &rs.virtualhost {
            self.kv("virtualhost", quote_word(h));
        }
        for r in &rs.other {
            self.raw(r);
        }
        // A setting a checker type does not take must come from the real server.
        let mut at_rs: Vec<Option<u64>> = Vec::new();
        for p in Inheritable::ALL {
            let from = rs
                .checkers
                .iter()
                .find(|c| !accepts(c, p.keyword()))
                .map(|c| p.value(&c.common));
            if let Some(val) = from {
                self.kv(p.keyword(), p.text(val));
            }
            at_rs.push(from);
        }
        for c in &rs.checkers {
            self.checker(c, &at_rs);
        }
        self.close();
    }

    fn checker(&mut self, c: &lvs::Checker, at_rs: &[Option<u64>]) {
        use lvs::CheckerKind as K;
        self.open(checker_block(c));
        let m = &c.common;
        if let Some(a) = m.connect_ip {
            self.kv("connect_ip", a);
        }
        if let Some(p) = m.connect_port {
            self.kv("connect_port", p);
        }
        if let Some(a) = m.bindto {
            self.kv("bindto", a);
        }
        if let Some(p) = m.bind_port {
            self.kv("bind_port", p);
        }
        if let Some(i) = &m.bind_if {
            self.kv("bind_if", quote_word(i));
        }
        if let Some(f) = m.fwmark {
            self.kv("fwmark", f);
        }
        for (n, p) in Inheritable::ALL.iter().enumerate() {
            let val = p.value(m);
            // Written where the checker takes it; elsewhere it comes from the real server,
            // unless the model holds a value the real server does not give (best effort).
            if accepts(c, p.keyword()) || at_rs.get(n).copied().flatten() != Some(val) {
                self.kv(p.keyword(), p.text(val));
            }
        }
        self.flag_if("log_all_failures", m.log_all_failures);
        match &c.kind {
            K::Http(h) | K::Ssl(h) => {
                for u in &h.urls {
                    self.open("url");
                    if !u.path.is_empty() {
                        self.kv("path", quote_word(&u.path));
                    }
                    if let Some(dg) = &u.digest {
                        self.kv("digest", quote_word(dg));
                    }
                    let codes: Vec<String> = u
                        .status_codes
                        .iter()
                        .map(|(lo, hi)| {
                            if lo == hi {
                                lo.to_string()
                            } else {
                                format!("{lo}-{hi}")
                            }
                        })
                        .collect();
                    if !codes.is_empty() {
                        self.kv("status_code", codes.join(" "));
                    }
                    if let Some(vh) = &u.virtualhost {
                        self.kv("virtualhost", quote_word(vh));
                    }
                    if let Some(r) = &u.regex {
                        self.kv("regex", quote_word(r));
                    }
                    self.flag_if("regex_no_match", u.regex_no_match);
                    for r in &u.other {
                        self.raw(r);
                    }
                    self.close();
                }
                self.kv("http_protocol", quote_word(&h.http_protocol));
                self.flag_if("fast_recovery", h.fast_recovery);
                if let Some(vh) = &h.virtualhost {
                    self.kv("virtualhost", quote_word(vh));
                }
                self.flag_if("enable_sni", h.enable_sni);
            }
            K::Smtp { helo_name } => {
                if let Some(hn) = helo_name {
                    self.kv("helo_name", quote_word(hn));
                }
            }
            K::Misc(mc) => {
                if let Some(s) = &mc.script {
                    // The user goes on its own line, as keepalived 2.2.7 reads it.
                    self.kv("misc_path", command_text(&s.command, &s.argv, false));
                    self.run_as("user", &s.user, &s.group);
                }
                if let Some(t) = mc.timeout_us {
                    self.kv("misc_timeout", secs(t));
                }
                self.flag_if("misc_dynamic", mc.dynamic);
            }
            K::Dns(dc) => {
                self.kv("type", quote_word(&dc.query_type));
                self.kv("name", quote_word(&dc.name));
            }
            K::Udp(uc) => {
                if let Some(p) = &uc.payload {
                    self.kv("payload", quote_word(p));
                }
                if let Some(r) = &uc.require_reply {
                    if r.is_empty() {
                        self.line("require_reply");
                    } else {
                        self.kv("require_reply", quote_word(r));
                    }
                }
                self.kv("min_reply_length", uc.min_reply_length);
                self.kv("max_reply_length", uc.max_reply_length);
            }
            K::File {
                track_file,
                weight,
                reverse,
            } => {
                if let Some(t) = track_file {
                    self.kv("track_file", quote_word(t));
                }
                if let Some(w) = weight {
                    self.weight("weight", *w, *reverse);
                }
            }
            K::Bfd { name } => {
                if let Some(n) = name {
                    self.kv("name", quote_word(n));
                }
            }
            K::Tcp | K::Ping => {}
        }
        for r in &c.other {
            self.raw(r);
        }
        self.close();
    }
}

/// The checker settings inherited virtual server -> real server -> checker.
#[derive(Clone, Copy)]
enum Inheritable {
    ConnectTimeout,
    Retry,
    DelayBeforeRetry,
    Warmup,
    DelayLoop,
    Alpha,
}

impl Inheritable {
    const ALL: [Inheritable; 6] = [
        Inheritable::ConnectTimeout,
        Inheritable::Retry,
        Inheritable::DelayBeforeRetry,
        Inheritable::Warmup,
        Inheritable::DelayLoop,
        Inheritable::Alpha,
    ];

    fn keyword(self) -> &'static str {
        match self {
            Inheritable::ConnectTimeout => "connect_timeout",
            Inheritable::Retry => "retry",
            Inheritable::DelayBeforeRetry => "delay_before_retry",
            Inheritable::Warmup => "warmup",
            Inheritable::DelayLoop => "delay_loop",
            Inheritable::Alpha => "alpha",
        }
    }

    fn value(self, m: &lvs::CheckerCommon) -> u64 {
        match self {
            Inheritable::ConnectTimeout => m.connect_timeout_us,
            Inheritable::Retry => u64::from(m.retry),
            Inheritable::DelayBeforeRetry => m.delay_before_retry_us,
            Inheritable::Warmup => m.warmup_us,
            Inheritable::DelayLoop => m.delay_loop_us,
            Inheritable::Alpha => u64::from(m.alpha),
        }
    }

    fn text(self, v: u64) -> String {
        match self {
            Inheritable::Retry => v.to_string(),
            Inheritable::Alpha => yes(v != 0).to_string(),
            _ => secs(v),
        }
    }
}

/// The keepalived block name of a checker.
fn checker_block(c: &lvs::Checker) -> &'static str {
    use lvs::CheckerKind as K;
    match &c.kind {
        K::Tcp => "TCP_CHECK",
        K::Http(_) => "HTTP_GET",
        K::Ssl(_) => "SSL_GET",
        K::Smtp { .. } => "SMTP_CHECK",
        K::Misc(_) => "MISC_CHECK",
        K::Dns(_) => "DNS_CHECK",
        K::Udp(_) => "UDP_CHECK",
        K::Ping => "PING_CHECK",
        K::File { .. } => "FILE_CHECK",
        K::Bfd { .. } => "BFD_CHECK",
    }
}

/// Whether keepalived 2.2.7 takes `keyword` in this checker's block.
fn accepts(c: &lvs::Checker, keyword: &str) -> bool {
    crate::keywords::keyword(checker_block(c), keyword).is_some()
}

fn family_text(f: lvs::Family) -> &'static str {
    match f {
        lvs::Family::Inet => "inet",
        lvs::Family::Inet6 => "inet6",
    }
}

/// `NAT`, `DR`, `TUN [type T] [port P] [CSUM]`.
fn forwarding_text(f: &lvs::Forwarding) -> String {
    match f {
        lvs::Forwarding::Nat => "NAT".into(),
        lvs::Forwarding::Dr => "DR".into(),
        lvs::Forwarding::Tun {
            kind,
            port,
            checksum,
        } => {
            let mut t = String::from("TUN");
            if kind != "ipip" {
                let _ = write!(t, " type {}", quote_word(kind));
            }
            if let Some(p) = port {
                let _ = write!(t, " port {p}");
            }
            if let Some(c) = checksum {
                let _ = write!(t, " {}", quote_word(c));
            }
            t
        }
    }
}

/// A `virtual_server_group` address entry: `IP`, `IP-LAST` or `IP/PREFIX`.
fn range_text(first: IpAddr, last: IpAddr) -> String {
    if first == last {
        return first.to_string();
    }
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let (x, y) = (a.octets(), b.octets());
            if x[..3] == y[..3] && y[3] >= x[3] {
                return format!("{a}-{}", y[3]);
            }
            let (lo, hi) = (u32::from(a), u32::from(b));
            for len in 0..=32u32 {
                let host = if len == 0 { u32::MAX } else { u32::MAX >> len };
                let host = if len == 32 { 0 } else { host };
                if lo & host == 0 && hi == lo | host {
                    return format!("{a}/{len}");
                }
            }
            format!("{a}-{}", y[3])
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let (x, y) = (a.segments(), b.segments());
            if x[..7] == y[..7] && y[7] >= x[7] {
                return format!("{a}-{:x}", y[7]);
            }
            let (lo, hi) = (u128::from(a), u128::from(b));
            for len in 0..=128u32 {
                let host = if len == 128 { 0 } else { u128::MAX >> len };
                if lo & host == 0 && hi == lo | host {
                    return format!("{a}/{len}");
                }
            }
            format!("{a}-{:x}", y[7])
        }
        _ => first.to_string(),
    }
}

/// One address line (`virtual_ipaddress`, `static_ipaddress`).
fn address_line(a: &VirtualAddress) -> String {
    let mut text = format!("{}/{}", a.address, a.prefix_len);
    for (key, v) in [
        ("brd", &a.broadcast),
        ("dev", &a.dev),
        ("scope", &a.scope),
        ("label", &a.label),
        ("peer", &a.peer),
        ("preferred_lft", &a.preferred_lft),
    ] {
        if let Some(v) = v {
            let _ = write!(text, " {key} {}", quote_word(v));
        }
    }
    for f in &a.flags {
        text.push(' ');
        text.push_str(&quote_word(f));
    }
    if a.no_track {
        text.push_str(" no_track");
    }
    text
}

/// Route options that take no value.
const ROUTE_FLAGS: &[&str] = &[
    "onlink",
    "pervasive",
    "add",
    "append",
    "prepend",
    "inet6",
    "lock",
];

/// Rule options that take no value.
const RULE_FLAGS: &[&str] = &[
    "not",
    "inet",
    "l3mdev",
    "unicast",
    "blackhole",
    "unreachable",
    "prohibit",
    "nop",
];

/// Whether a route destination reads back as a destination when written bare.
fn bare_destination(to: &str) -> bool {
    to == "default" || crate::model::addr::parse_prefix(to).is_some()
}

/// One route line.
fn route_line(r: &RouteLine) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(k) = &r.kind {
        parts.push(quote_word(k));
    }
    if bare_destination(&r.to) {
        parts.push(r.to.clone());
    } else {
        parts.push("to".into());
        parts.push(quote_word(&r.to));
    }
    for (k, v) in &r.options {
        parts.push(quote_word(k));
        if !(v.is_empty() && ROUTE_FLAGS.contains(&k.as_str())) {
            parts.push(quote_word(v));
        }
    }
    if r.no_track {
        parts.push("no_track".into());
    }
    parts.join(" ")
}

/// One rule line.
fn rule_line(r: &RuleLine) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (k, v) in &r.options {
        parts.push(quote_word(k));
        if !(v.is_empty() && RULE_FLAGS.contains(&k.as_str())) {
            parts.push(quote_word(v));
        }
    }
    if r.inet6 {
        parts.push("inet6".into());
    }
    if r.no_track {
        parts.push("no_track".into());
    }
    parts.join(" ")
}
