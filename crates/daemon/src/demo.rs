//! `keepalived-rs demo`: three routers and a client on a virtual LAN made of network
//! namespaces. It shows the election, kills the master and measures the failover on the wire,
//! restarts it and shows the preemption, then removes everything: also on Ctrl-C, and never
//! touching the machine's own network (namespaces only, addresses 10.200.N.x inside them).

use crate::bench::failover::{analyse, mac_bytes, now_s, vip_added_at};
use crate::bench::preflight;
use anyhow::{Context, Result};
use ka_lab::pcap;
use ka_lab::{wait_until, Lab, LabSpec, Node, Proc, Signal};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Priorities of routers 1, 2, 3.
const PRIORITIES: [u8; 3] = [150, 100, 50];
/// VRRPv3 advert interval, seconds: a failover takes about 3.6 of these.
const ADVERT: f64 = 0.1;

fn config(router: usize, vip: &str) -> String {
    let priority = PRIORITIES[router - 1];
    format!(
        "# keepalived-rs demo, router r{router}\n\
         global_defs {{\n    router_id r{router}\n}}\n\
         vrrp_instance DEMO {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority {priority}\n    version 3\n    advert_int {ADVERT}\n    \
         virtual_ipaddress {{\n        {vip}/24 dev eth0\n    }}\n}}\n"
    )
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The router holding the VIP, if exactly one does.
fn master(lab: &Lab, vip_cidr: &str) -> Option<usize> {
    let holders: Vec<usize> = (1..=3).filter(|&i| lab.has_address(i, vip_cidr)).collect();
    match holders.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// The client's view: one ping to the VIP, then which router's MAC its neighbour table has.
fn client_view(lab: &Lab, vip: &str) -> String {
    let ok = lab.ping(vip, Duration::from_secs(2));
    let mac = lab
        .ns_name(Node::Client)
        .ok()
        .and_then(|cl| {
            std::process::Command::new("ip")
                .args(["-n", &cl, "neigh", "show", "to", vip])
                .output()
                .ok()
        })
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .and_then(|t| {
            t.split_whitespace()
                .skip_while(|w| *w != "lladdr")
                .nth(1)
                .map(str::to_string)
        });
    match (ok, mac) {
        (true, Some(m)) => {
            let who = lab
                .router_of_mac(&m)
                .map_or("an unknown host".to_string(), |r| format!("r{r}"));
            format!("the client pings {vip}: answered by {who} (MAC {m})")
        }
        (true, None) => format!("the client pings {vip}: answered"),
        (false, _) => format!("the client pings {vip}: NO ANSWER"),
    }
}

fn our_binary() -> Result<PathBuf> {
    std::env::current_exe().context("finding this executable")
}

/// Entry point of `keepalived-rs demo`.
pub fn main(args: &[String]) -> Result<ExitCode> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        say("keepalived-rs demo: builds a 3-router namespace lab, shows an election, a failover");
        say("(measured on the wire) and a preemption, then cleans up. Needs root, iproute2,");
        say("iputils-ping and tcpdump. Touches no interface of this machine.");
        return Ok(ExitCode::SUCCESS);
    }
    if let Err(e) = preflight(&["ip", "ping", "tcpdump"]) {
        eprintln!("keepalived-rs demo: {e:#}");
        return Ok(ExitCode::from(2));
    }
    let spec = LabSpec::new(3);
    let prefix = spec.prefix.clone();
    // Ctrl-C (or SIGTERM/SIGHUP): remove the lab's namespaces and processes, then leave.
    let handler_prefix = prefix.clone();
    ctrlc::set_handler(move || {
        eprintln!("\ninterrupted: removing the lab ...");
        if let Err(e) = ka_lab::teardown_prefix(&handler_prefix) {
            eprintln!("cleanup: {e:#}");
        }
        std::process::exit(130);
    })
    .context("installing the Ctrl-C handler")?;
    let bin = our_binary()?;
    let result = run(spec, &bin);
    // Whatever happened, nothing stays behind.
    let _ = ka_lab::teardown_prefix(&prefix);
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("keepalived-rs demo failed: {e:#}");
            Ok(ExitCode::from(1))
        }
    }
}

fn run(spec: LabSpec, bin: &Path) -> Result<()> {
    say("keepalived-rs demo: three VRRP routers and a client on a virtual LAN");
    say("(network namespaces and a bridge; nothing touches this machine's interfaces)\n");
    let started = Instant::now();
    let lab = Lab::new(spec).context("building the lab")?;
    let vip = lab.vip4();
    let vip_cidr = format!("{vip}/24");
    let vip_addr: Ipv4Addr = vip.parse().context("VIP")?;
    say(&format!(
        "lab ready in {:.1} s: r1 {}, r2 {}, r3 {}, client {}",
        started.elapsed().as_secs_f64(),
        lab.router_ip4(1)?,
        lab.router_ip4(2)?,
        lab.router_ip4(3)?,
        lab.client_ip4()
    ));
    say(&format!(
        "VIP {vip}, VRRPv3, adverts every {} ms; priorities r1 {}, r2 {}, r3 {}\n",
        ADVERT * 1000.0,
        PRIORITIES[0],
        PRIORITIES[1],
        PRIORITIES[2]
    ));

    // 1. Election.
    say("1. starting keepalived-rs on r1, r2 and r3 (same config, different priorities)");
    let t = Instant::now();
    let mut daemons: Vec<Proc> = Vec::new();
    for r in 1..=3 {
        daemons.push(lab.start_daemon(r, bin, &config(r, &vip))?);
    }
    if !wait_until(Duration::from_secs(15), || {
        master(&lab, &vip_cidr) == Some(1)
    }) {
        anyhow::bail!("r1 did not become master:\n{}", daemons[0].log());
    }
    say(&format!(
        "   r1 is MASTER after {:.2} s (highest priority); r2 and r3 are BACKUP",
        t.elapsed().as_secs_f64()
    ));
    say(&format!("   {}", client_view(&lab, &vip)));
    say("   r1's log:");
    for line in daemons[0]
        .log()
        .lines()
        .filter(|l| l.contains("(DEMO)"))
        .take(4)
    {
        say(&format!("     {line}"));
    }

    // 2. Failover, measured on the wire and in r2's namespace.
    say("\n2. killing r1's daemon (SIGKILL: no goodbye advert)");
    let capture = lab.capture("ip proto 112 or arp or icmp")?;
    let mut monitor = lab.spawn(
        2,
        "monitor",
        &["env", "TZ=UTC", "ip", "-ts", "monitor", "address"],
    )?;
    let mut ping = lab.spawn(
        Node::Client,
        "ping",
        &["ping", "-n", "-q", "-i", "0.002", &vip],
    )?;
    std::thread::sleep(Duration::from_millis(700));
    let t0 = now_s();
    daemons[0].signal(Signal::SIGKILL)?;
    // (A killed daemon cannot remove its VIP: r1 keeps the address until it restarts, but
    // without adverts and GARPs nobody sends it traffic.)
    if !wait_until(Duration::from_secs(10), || lab.has_address(2, &vip_cidr)) {
        anyhow::bail!("r2 did not take over:\n{}", daemons[1].log());
    }
    std::thread::sleep(Duration::from_millis(300));
    let _ = ping.signal(Signal::SIGINT);
    let _ = ping.wait_exit(Duration::from_secs(2));
    let pcap_path = capture.stop()?;
    let _ = monitor.stop(Duration::from_secs(1));
    let frames = pcap::read(&pcap_path)?;
    let old_ip: Ipv4Addr = lab.router_ip4(1)?.parse().context("r1 address")?;
    let new_mac = mac_bytes(&lab.mac(2)?).context("r2 MAC")?;
    let vip_t = vip_added_at(&monitor.log(), &vip, t0);
    let trial = analyse(&frames, old_ip, &new_mac, vip_addr, t0, vip_t);
    let floor = 3.0 * ADVERT + (256.0 - 100.0) / 256.0 * ADVERT;
    match trial.since_last_advert {
        Some(s) => say(&format!(
            "   r2 took over: VIP on r2 {:.1} ms after r1's last advert \
             (the protocol's floor, 3 x advert + skew, is {:.1} ms)",
            s * 1e3,
            floor * 1e3
        )),
        None => say("   r2 took over (timing not captured)"),
    }
    if let Some(r) = trial.since_last_advert_to_reply {
        say(&format!(
            "   the client's first reply via r2 came {:.1} ms after r1's last advert",
            r * 1e3
        ));
    }
    say(&format!("   {}", client_view(&lab, &vip)));
    for line in daemons[1]
        .log()
        .lines()
        .filter(|l| l.contains("MASTER") || l.contains("no advert"))
        .take(2)
    {
        say(&format!("     r2: {line}"));
    }

    // 3. Preemption.
    say("\n3. restarting r1: it has the highest priority, so it preempts r2");
    let t = Instant::now();
    daemons[0] = lab.start_daemon(1, bin, &config(1, &vip))?;
    if !wait_until(Duration::from_secs(15), || {
        master(&lab, &vip_cidr) == Some(1)
    }) {
        anyhow::bail!("r1 did not preempt:\n{}", daemons[0].log());
    }
    say(&format!(
        "   r1 is MASTER again {:.2} s after its start; r2 went back to BACKUP",
        t.elapsed().as_secs_f64()
    ));
    say(&format!("   {}", client_view(&lab, &vip)));

    // 4. Clean up.
    say("\n4. stopping the daemons (SIGTERM) and removing the lab");
    for d in &mut daemons {
        let _ = d.stop(Duration::from_secs(3));
    }
    let namespaces = lab.namespaces();
    lab.down().context("removing the lab")?;
    say(&format!(
        "   removed {} namespaces; no process or address left behind",
        namespaces.len()
    ));
    say(&format!(
        "\ndone in {:.1} s. Run it again any time: sudo keepalived-rs demo",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}
