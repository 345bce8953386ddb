//! RFC 5798 Accept_Mode off (`no_accept`, or `vrrp_strict` for a non-owner without `accept`):
//! a master must not accept packets addressed to its VIPs. As keepalived 2.2.7 does with
//! nftables: tables `ip keepalived` / `ip6 keepalived` with a set of VIPs, dropped on input
//! (destination) and output (source) at priority filter - 1. A VIP is in the set while its
//! instance is MASTER; the tables are created on first use and deleted at exit.
//!
//! Rules are changed with the `nft` command (package nftables) on the worker thread, never on
//! the VRRP thread.

use crate::logging::log;
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

/// The drop rules this daemon owns.
#[derive(Debug, Default)]
pub struct Firewall {
    created_v4: bool,
    created_v6: bool,
    /// `nft` is missing or failing: said once.
    broken: bool,
}

/// The nft script that creates a family's table (v4 or v6).
pub fn table_script(v6: bool) -> String {
    let (fam, ty, set, ipk) = if v6 {
        ("ip6", "ipv6_addr", "vips6", "ip6")
    } else {
        ("ip", "ipv4_addr", "vips", "ip")
    };
    // Neighbour advertisements for a VIP come from the VIP: let them out.
    let na = if v6 {
        format!("add rule {fam} keepalived out icmpv6 type nd-neighbor-advert accept\n")
    } else {
        String::new()
    };
    format!(
        "add table {fam} keepalived\n\
         add set {fam} keepalived {set} {{ type {ty}; }}\n\
         add chain {fam} keepalived in {{ type filter hook input priority filter - 1; policy accept; }}\n\
         add rule {fam} keepalived in {ipk} daddr @{set} drop\n\
         add chain {fam} keepalived out {{ type filter hook output priority filter - 1; policy accept; }}\n\
         {na}add rule {fam} keepalived out {ipk} saddr @{set} drop\n"
    )
}

/// The nft script that adds or removes addresses from the sets.
pub fn element_script(add: bool, addrs: &[IpAddr]) -> String {
    let verb = if add { "add" } else { "delete" };
    let mut s = String::new();
    for a in addrs {
        match a {
            IpAddr::V4(v) => s.push_str(&format!("{verb} element ip keepalived vips {{ {v} }}\n")),
            IpAddr::V6(v) => {
                s.push_str(&format!("{verb} element ip6 keepalived vips6 {{ {v} }}\n"))
            }
        }
    }
    s
}

fn nft(script: &str) -> std::io::Result<bool> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    Ok(child.wait()?.success())
}

impl Firewall {
    /// Removes tables a previous daemon left (start-up, like leftover VIPs).
    pub fn clean_leftovers() {
        for fam in ["ip", "ip6"] {
            let _ = nft(&format!("delete table {fam} keepalived\n"));
        }
    }

    /// A master (without accept mode) starts or stops refusing traffic to `addrs`.
    pub fn set(&mut self, add: bool, addrs: &[IpAddr]) {
        if self.broken || addrs.is_empty() {
            return;
        }
        let mut script = String::new();
        if add {
            if !self.created_v4 && addrs.iter().any(IpAddr::is_ipv4) {
                script.push_str(&table_script(false));
                self.created_v4 = true;
            }
            if !self.created_v6 && addrs.iter().any(IpAddr::is_ipv6) {
                script.push_str(&table_script(true));
                self.created_v6 = true;
            }
        } else {
            // Deleting an element that is not there fails the whole script: one by one.
            for a in addrs {
                let created = if a.is_ipv4() {
                    self.created_v4
                } else {
                    self.created_v6
                };
                if created {
                    let _ = nft(&element_script(false, &[*a]));
                }
            }
            return;
        }
        script.push_str(&element_script(true, addrs));
        match nft(&script) {
            Ok(true) => {}
            Ok(false) => log("firewall drop rule: nft refused the change"),
            Err(e) => {
                self.broken = true;
                log(&format!(
                    "no_accept/vrrp_strict: cannot run nft ({e}): traffic to VIPs is not filtered (install nftables)"
                ));
            }
        }
    }

    /// Deletes the tables (at exit).
    pub fn teardown(&mut self) {
        if self.created_v4 {
            let _ = nft("delete table ip keepalived\n");
        }
        if self.created_v6 {
            let _ = nft("delete table ip6 keepalived\n");
        }
        self.created_v4 = false;
        self.created_v6 = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_have_keepalived_s_shape() {
        let t = table_script(false);
        assert!(t.contains("add set ip keepalived vips { type ipv4_addr; }"));
        assert!(t.contains("hook input priority filter - 1"));
        assert!(t.contains("ip daddr @vips drop"));
        assert!(t.contains("ip saddr @vips drop"));
        let t6 = table_script(true);
        assert!(t6.contains("ip6 daddr @vips6 drop"));
        let e = element_script(
            true,
            &[
                "10.0.0.1".parse().expect("v4"),
                "fd00::1".parse().expect("v6"),
            ],
        );
        assert_eq!(
            e,
            "add element ip keepalived vips { 10.0.0.1 }\nadd element ip6 keepalived vips6 { fd00::1 }\n"
        );
    }
}
