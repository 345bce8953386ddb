//! `use_vmac`: the instance's VIPs live on a macvlan interface (`vrrp.VRID`, IPv6
//! `vrrp6.VRID`) whose MAC is the RFC's virtual MAC (00:00:5e:00:01:VRID, IPv6 :02:), so after a
//! failover clients keep the same MAC and need no ARP update. Adverts are sent and received on
//! the macvlan (unless `vmac_xmit_base`): the kernel hands a frame whose source is one of our
//! macvlans' MACs (a peer's advert) to that macvlan, not to the base interface. GARPs go out
//! from the macvlan too.
//!
//! As keepalived: the interface is created at start and deleted at exit; the base interface
//! gets `arp_ignore=1` and `arp_filter=1` (so only the macvlan answers ARP for the VIPs), the
//! macvlan `arp_ignore=1`, `accept_local=1` and `rp_filter=0`; the base values are restored at
//! exit. The macvlan is created with `ip link` (iproute2).

use crate::logging::log;
use ka_config::model::Instance;
use std::process::Command;

/// The macvlan of an instance, if it uses one: (name, MAC).
pub fn vmac_of(inst: &Instance) -> Option<(String, String)> {
    let v = inst.use_vmac.as_ref()?;
    let ipv6 = inst
        .virtual_ipaddress
        .first()
        .is_some_and(|a| a.address.is_ipv6());
    let vrid = inst.virtual_router_id;
    let name = v.name.clone().unwrap_or_else(|| {
        if ipv6 {
            format!("vrrp6.{vrid}")
        } else {
            format!("vrrp.{vrid}")
        }
    });
    let mac = v
        .mac
        .clone()
        .unwrap_or_else(|| format!("00:00:5e:00:{:02x}:{vrid:02x}", if ipv6 { 2 } else { 1 }));
    Some((name, mac))
}

/// The interface an instance's VIPs and GARPs use: its macvlan when it exists, else its own
/// interface.
pub fn vip_interface(inst: &Instance) -> String {
    match vmac_of(inst) {
        Some((n, _)) if nix::net::if_::if_nametoindex(n.as_str()).is_ok() => n,
        _ => inst.interface.clone().unwrap_or_default(),
    }
}

/// The macvlans this daemon created and the sysctls it changed.
#[derive(Debug, Default)]
pub struct Vmacs {
    created: Vec<String>,
    /// (path, old value) to restore.
    saved: Vec<(String, String)>,
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn sysctl_path(ifname: &str, key: &str) -> String {
    format!("/proc/sys/net/ipv4/conf/{ifname}/{key}")
}

impl Vmacs {
    /// Creates every instance's macvlan (removing a leftover of the same name first).
    pub fn create(instances: &[Instance]) -> Self {
        let mut me = Vmacs::default();
        for inst in instances {
            let (Some((name, mac)), Some(base)) = (vmac_of(inst), inst.interface.as_deref()) else {
                continue;
            };
            if me.created.contains(&name) {
                continue;
            }
            let _ = ip(&["link", "del", &name]);
            let ok = ip(&[
                "link", "add", "link", base, "name", &name, "address", &mac, "type", "macvlan",
                "mode", "private",
            ]);
            if !ok {
                log(&format!(
                    "({}) cannot create the macvlan {name} on {base} (use_vmac): VIPs go on {base}",
                    inst.name
                ));
                continue;
            }
            let ipv6 = inst
                .virtual_ipaddress
                .first()
                .is_some_and(|a| a.address.is_ipv6());
            if ipv6 {
                // Every router's macvlan has the same MAC, so the kernel's EUI-64 link-local would
                // be the same on each and fail duplicate address detection: no address generation
                // (set before the link goes up, or the kernel adds one anyway).
                let _ = ip(&["link", "set", "dev", &name, "addrgenmode", "none"]);
            }
            me.set(&sysctl_path(base, "arp_ignore"), "1");
            me.set(&sysctl_path(base, "arp_filter"), "1");
            let _ = std::fs::write(sysctl_path(&name, "arp_ignore"), "1");
            let _ = std::fs::write(sysctl_path(&name, "accept_local"), "1");
            let _ = std::fs::write(sysctl_path(&name, "rp_filter"), "0");
            let _ = ip(&["link", "set", &name, "up"]);
            if ipv6 && !inst.vmac_xmit_base {
                // Adverts leave the macvlan from the base interface's link-local (the instance's
                // source), as keepalived does: the same address, without DAD, and deprecated so
                // nothing else picks it as a source.
                let link_local = ka_sys::garp::interface_info(base)
                    .ok()
                    .and_then(|i| i.ipv6_link_local);
                match link_local {
                    Some(ll) => {
                        let ok = ip(&[
                            "-6",
                            "addr",
                            "add",
                            &format!("{ll}/64"),
                            "dev",
                            &name,
                            "nodad",
                            "preferred_lft",
                            "0",
                        ]);
                        if !ok {
                            log(&format!(
                                "({}) cannot put {ll} on {name}: its adverts cannot be sent",
                                inst.name
                            ));
                        }
                    }
                    None => log(&format!(
                        "({}) {base} has no IPv6 link-local address for {name}",
                        inst.name
                    )),
                }
            }
            log(&format!(
                "({}) {name} created on {base} with MAC {mac}",
                inst.name
            ));
            me.created.push(name);
        }
        me
    }

    /// Tells, after a reload, which instances' `use_vmac` could not be applied: macvlans are
    /// created at start only, so a new or renamed one waits for a restart (said once per
    /// reload, with where the VIPs stay).
    pub fn report_unapplied(&self, instances: &[Instance]) {
        for inst in instances {
            if let Some((name, _)) = vmac_of(inst) {
                if !self.created.contains(&name) {
                    log(&format!(
                        "({}) use_vmac {name} is not in place after the reload (macvlans are created at start): it takes effect at the next restart; its VIPs stay on {}",
                        inst.name,
                        inst.interface.as_deref().unwrap_or("its interface")
                    ));
                }
            }
        }
    }

    /// Sets a sysctl, remembering the first old value.
    fn set(&mut self, path: &str, value: &str) {
        if !self.saved.iter().any(|(p, _)| p == path) {
            if let Ok(old) = std::fs::read_to_string(path) {
                self.saved.push((path.to_string(), old.trim().to_string()));
            }
        }
        let _ = std::fs::write(path, value);
    }

    /// Deletes the macvlans and restores the sysctls (at exit).
    pub fn remove(&mut self) {
        for name in self.created.drain(..) {
            let _ = ip(&["link", "del", &name]);
        }
        for (path, old) in self.saved.drain(..) {
            let _ = std::fs::write(path, old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_macs_follow_the_rfc() {
        let dir = std::env::temp_dir().join(format!("ka-vmac-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join("k.conf");
        std::fs::write(
            &file,
            "vrrp_instance V {\n interface eth0\n virtual_router_id 51\n priority 100\n use_vmac\n \
             virtual_ipaddress {\n 10.0.0.1/24\n }\n}\n",
        )
        .expect("write");
        let cfg = ka_config::load(
            &file,
            &ka_config::preprocess::Options::default(),
            &ka_config::env::FakeEnvironment::lab(),
        )
        .config;
        let _ = std::fs::remove_dir_all(&dir);
        let inst = &cfg.instances[0];
        assert_eq!(
            vmac_of(inst),
            Some(("vrrp.51".to_string(), "00:00:5e:00:01:33".to_string()))
        );
        // No such interface on this machine: the VIPs stay on the base interface.
        assert_eq!(vip_interface(inst), "eth0");
    }
}
