//! The lab itself: a bridge namespace, router namespaces and a client namespace on one virtual LAN.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::capture::Capture;
use crate::cmd::{host_ns_id, ip, netns_list, netns_pids, ns_id, output, run};
use crate::process::{spawn_in_ns, Proc};

/// Prefix of generated lab names: `kl<pid>n<counter>-`, recognised by [`cleanup_stale`].
const AUTO_PREFIX: &str = "kl";

/// Highest router count: router addresses .11 ..= .99 stay below the VIP range (.100 and up).
pub const MAX_ROUTERS: usize = 89;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Serialises `ip netns add` inside this process: iproute2 sets up the shared `/run/netns` mount
/// on first use, and concurrent first calls can stack mounts.
static NETNS_ADD: Mutex<()> = Mutex::new(());

static STALE_ONCE: Once = Once::new();

/// What to build. [`LabSpec::new`] picks a prefix and subnet no other lab of this machine uses,
/// so tests can run in parallel threads and processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabSpec {
    /// Number of router namespaces (`<prefix>1 ..= <prefix>N`), 1..=89.
    pub routers: usize,
    /// Also give every host an IPv6 address (`fd00:200:N::(10+i)/64`); otherwise IPv6 is disabled
    /// in every lab namespace, which keeps captures free of RS/MLD noise.
    pub ipv6: bool,
    /// The third octet N of the lab LAN `10.200.N.0/24` (and of `fd00:200:N::/64`). Labs are
    /// isolated from each other, so this only has to be unique to keep logs and captures unambiguous.
    pub subnet: u8,
    /// Namespace name prefix: the lab's namespaces are `<prefix>br`, `<prefix>1..N`, `<prefix>cl`.
    pub prefix: String,
}

impl LabSpec {
    /// A spec with a fresh unique prefix (`kl<pid>n<counter>-`) and subnet, IPv4 only.
    pub fn new(routers: usize) -> Self {
        let pid = std::process::id();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let subnet = u8::try_from((pid.wrapping_mul(7).wrapping_add(n)) % 250).unwrap_or(0) + 1;
        LabSpec {
            routers,
            ipv6: false,
            subnet,
            prefix: format!("{AUTO_PREFIX}{pid}n{n}-"),
        }
    }

    /// Same spec with IPv6 switched on or off, for builder-style construction.
    pub fn ipv6(mut self, on: bool) -> Self {
        self.ipv6 = on;
        self
    }
}

/// A host of the lab: a router (1-based index), the client, or the bridge namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Node {
    /// Router `i` (1..=routers): namespace `<prefix>i`, eth0 = `10.200.N.(10+i)`.
    Router(usize),
    /// The probing client: namespace `<prefix>cl`, eth0 = `10.200.N.2`.
    Client,
    /// The switch: namespace `<prefix>br` holding br0 and the bridge-side veth ends; no addresses.
    Bridge,
}

impl From<usize> for Node {
    fn from(i: usize) -> Self {
        Node::Router(i)
    }
}

/// A running lab. Dropping it (or [`Lab::down`]) kills every process in its namespaces by PID
/// and deletes the namespaces, also while a test panics.
#[derive(Debug)]
pub struct Lab {
    spec: LabSpec,
    dir: PathBuf,
    created: Vec<String>,
    down: bool,
    keep_dir: bool,
    seq: AtomicU32,
}

impl Lab {
    /// Builds the lab. On any failure everything created so far is removed again, and the error
    /// names the `ip` command that failed with its stderr.
    pub fn new(spec: LabSpec) -> Result<Lab> {
        if spec.routers == 0 || spec.routers > MAX_ROUTERS {
            bail!(
                "lab: routers must be 1..={MAX_ROUTERS}, got {}",
                spec.routers
            );
        }
        if spec.prefix.is_empty()
            || spec.prefix.len() > 40
            || !spec
                .prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bail!("lab: bad namespace prefix {:?}", spec.prefix);
        }
        STALE_ONCE.call_once(|| {
            if let Err(e) = cleanup_stale() {
                eprintln!("ka-lab: stale lab cleanup failed: {e:#}");
            }
        });
        let dir =
            std::env::temp_dir().join(format!("ka-lab-{}", spec.prefix.trim_end_matches('-')));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let mut lab = Lab {
            keep_dir: std::env::var_os("KA_LAB_KEEP").is_some(),
            spec,
            dir,
            created: Vec::new(),
            down: false,
            seq: AtomicU32::new(0),
        };
        lab.build()?; // on error, Drop removes what exists
        Ok(lab)
    }

    fn build(&mut self) -> Result<()> {
        let br = self.ns_name(Node::Bridge)?;
        let existing = netns_list()?;
        for n in self.all_nodes() {
            let ns = self.ns_name(n)?;
            if existing.contains(&ns) {
                bail!(
                    "lab: namespace {ns} already exists (another lab with prefix {:?}?)",
                    self.spec.prefix
                );
            }
        }
        self.add_ns(&br)?;
        // The switch never needs an address: no IPv6 there at all.
        self.sysctl(
            &br,
            &[
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ],
        )?;
        ip(&["-n", &br, "link", "set", "lo", "up"])?;
        // No STP, no forward delay, no multicast snooping: every port forwards at once and
        // 224.0.0.18 / ff02::12 are flooded like on a dumb switch.
        ip(&[
            "-n",
            &br,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
            "mcast_snooping",
            "0",
        ])?;
        ip(&["-n", &br, "link", "set", "br0", "up"])?;
        for i in 1..=self.spec.routers {
            self.add_host(Node::Router(i))?;
        }
        self.add_host(Node::Client)?;
        Ok(())
    }

    fn add_ns(&mut self, ns: &str) -> Result<()> {
        {
            let _g = NETNS_ADD.lock().unwrap_or_else(|p| p.into_inner());
            ip(&["netns", "add", ns])?;
        }
        self.created.push(ns.to_string());
        if ns_id(&ns_file(ns))? == host_ns_id()? {
            bail!("lab: namespace {ns} is the host namespace?!");
        }
        Ok(())
    }

    fn sysctl(&self, ns: &str, settings: &[&str]) -> Result<()> {
        let mut args = vec!["netns", "exec", ns, "sysctl", "-qw"];
        args.extend_from_slice(settings);
        ip(&args).map(|_| ())
    }

    fn add_host(&mut self, node: Node) -> Result<()> {
        let ns = self.ns_name(node)?;
        self.add_ns(&ns)?;
        if self.spec.ipv6 {
            // A fresh veth's link-local would be tentative for 1-2 s; VRRPv3 over IPv6 needs it now.
            self.sysctl(
                &ns,
                &[
                    "net.ipv6.conf.all.accept_dad=0",
                    "net.ipv6.conf.default.accept_dad=0",
                ],
            )?;
        } else {
            self.sysctl(
                &ns,
                &[
                    "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1",
                ],
            )?;
        }
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        self.create_link(node)
    }

    /// Creates a host's `eth0` (and its bridge port), addresses it and brings it up.
    fn create_link(&self, node: Node) -> Result<()> {
        let ns = self.ns_name(node)?;
        let br = self.ns_name(Node::Bridge)?;
        let port = self.bridge_port(node)?;
        let mac = self.mac(node)?;
        // Created inside the host's namespace with the peer put straight into the bridge
        // namespace: no interface ever exists in the root namespace.
        ip(&[
            "-n", &ns, "link", "add", "eth0", "address", &mac, "type", "veth", "peer", "name",
            &port, "netns", &br,
        ])?;
        let host = self.host_octet(node)?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{}/24", self.ip4(host)),
            "dev",
            "eth0",
        ])?;
        if self.spec.ipv6 {
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/64", self.ip6(host)),
                "dev",
                "eth0",
                "nodad",
            ])?;
        }
        ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", &br, "link", "set", &port, "master", "br0"])?;
        ip(&["-n", &br, "link", "set", &port, "up"])?;
        Ok(())
    }

    fn all_nodes(&self) -> Vec<Node> {
        let mut v = vec![Node::Bridge];
        v.extend((1..=self.spec.routers).map(Node::Router));
        v.push(Node::Client);
        v
    }

    fn host_octet(&self, node: Node) -> Result<u8> {
        match node {
            Node::Router(i) => {
                self.check_router(i)?;
                u8::try_from(10 + i).map_err(|_| anyhow!("router index {i} too large"))
            }
            Node::Client => Ok(2),
            Node::Bridge => bail!("the bridge namespace has no address"),
        }
    }

    fn check_router(&self, i: usize) -> Result<()> {
        if i == 0 || i > self.spec.routers {
            bail!("lab has routers 1..={}, no router {i}", self.spec.routers);
        }
        Ok(())
    }

    fn bridge_port(&self, node: Node) -> Result<String> {
        match node {
            Node::Router(i) => {
                self.check_router(i)?;
                Ok(format!("p{i}"))
            }
            Node::Client => Ok("pcl".into()),
            Node::Bridge => bail!("the bridge has no port to itself"),
        }
    }

    // ---- names and addresses -------------------------------------------------------------

    /// The spec the lab was built from.
    pub fn spec(&self) -> &LabSpec {
        &self.spec
    }

    /// The per-lab directory holding configs, pid files, logs and captures (kept after a panic or
    /// with `KA_LAB_KEEP` set, so a failure can be investigated).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The namespace name of a node, for `ip -n` / `ip netns exec` by hand.
    pub fn ns_name(&self, node: impl Into<Node>) -> Result<String> {
        let p = &self.spec.prefix;
        Ok(match node.into() {
            Node::Router(i) => {
                self.check_router(i)?;
                format!("{p}{i}")
            }
            Node::Client => format!("{p}cl"),
            Node::Bridge => format!("{p}br"),
        })
    }

    /// All namespace names of the lab (bridge first), e.g. to check they are gone after teardown.
    pub fn namespaces(&self) -> Vec<String> {
        self.all_nodes()
            .into_iter()
            .filter_map(|n| self.ns_name(n).ok())
            .collect()
    }

    /// The fixed MAC of a node's eth0 (`02:c8:NN:00:01:ii` for router i, `02:c8:NN:00:00:02` for
    /// the client), so an ARP reply can be mapped back to the router that sent it.
    pub fn mac(&self, node: impl Into<Node>) -> Result<String> {
        let s = self.spec.subnet;
        match node.into() {
            Node::Router(i) => {
                self.check_router(i)?;
                Ok(format!("02:c8:{s:02x}:00:01:{i:02x}"))
            }
            Node::Client => Ok(format!("02:c8:{s:02x}:00:00:02")),
            Node::Bridge => bail!("the bridge namespace has no eth0"),
        }
    }

    /// Address `10.200.N.<host>` on the lab LAN (e.g. `ip4(100)` for the usual VIP).
    pub fn ip4(&self, host: u8) -> String {
        format!("10.200.{}.{host}", self.spec.subnet)
    }

    /// Address `fd00:200:N::<host>` on the lab LAN (decimal digits written into the last group,
    /// so `ip6(11)` is `fd00:200:N::11`, matching `ip4(11)` by eye).
    pub fn ip6(&self, host: u8) -> String {
        format!("fd00:200:{}::{host}", self.spec.subnet)
    }

    /// Router i's own IPv4 address (without prefix length).
    pub fn router_ip4(&self, i: usize) -> Result<String> {
        Ok(self.ip4(self.host_octet(Node::Router(i))?))
    }

    /// Router i's own IPv6 address (only configured when the lab has IPv6).
    pub fn router_ip6(&self, i: usize) -> Result<String> {
        Ok(self.ip6(self.host_octet(Node::Router(i))?))
    }

    /// The client's IPv4 address.
    pub fn client_ip4(&self) -> String {
        self.ip4(2)
    }

    /// The conventional IPv4 VIP of this lab, `10.200.N.100`.
    pub fn vip4(&self) -> String {
        self.ip4(100)
    }

    /// The conventional IPv6 VIP of this lab, `fd00:200:N::100`.
    pub fn vip6(&self) -> String {
        self.ip6(100)
    }

    // ---- processes -----------------------------------------------------------------------

    fn unique_file(&self, stem: &str, ext: &str) -> PathBuf {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let p = self.dir.join(format!("{stem}.{ext}"));
        if n == 0 || !p.exists() {
            return p;
        }
        self.dir.join(format!("{stem}-{n}.{ext}"))
    }

    /// Starts `argv` in a node's namespace (own process group, output to `<dir>/<name>.log`) and
    /// verifies it runs there, not in the host namespace.
    pub fn spawn(&self, node: impl Into<Node>, name: &str, argv: &[&str]) -> Result<Proc> {
        let ns = self.ns_name(node)?;
        if name.is_empty() || name.contains('/') {
            bail!("spawn: bad process name {name:?}");
        }
        let log = self.unique_file(name, "log");
        spawn_in_ns(&ns, &ns_file(&ns), name, argv, log)
    }

    /// Starts a keepalived-compatible daemon (the real `/usr/sbin/keepalived` or ours: both take the
    /// same flags) in router `i` with `config_text`, written into the lab directory. Pid files are
    /// per lab and router; the defaults would make a second instance think it already runs.
    pub fn start_daemon(&self, router: usize, binary: &Path, config_text: &str) -> Result<Proc> {
        self.start_daemon_with(router, binary, config_text, &[])
    }

    /// [`Lab::start_daemon`] with extra command-line arguments appended (e.g. `--vrrp`, `-x`).
    pub fn start_daemon_with(
        &self,
        router: usize,
        binary: &Path,
        config_text: &str,
        extra: &[&str],
    ) -> Result<Proc> {
        self.check_router(router)?;
        let conf = self.unique_file(&format!("r{router}"), "conf");
        std::fs::write(&conf, config_text)
            .with_context(|| format!("cannot write {}", conf.display()))?;
        let pid = |kind: &str| self.dir.join(format!("r{router}.{kind}.pid"));
        let (main, vrrp, check, bfd) = (pid("main"), pid("vrrp"), pid("check"), pid("bfd"));
        // keepalived refuses to start while a pid file names a live PID (zombies included);
        // these files are ours alone.
        for f in [&main, &vrrp, &check, &bfd] {
            let _ = std::fs::remove_file(f);
        }
        let bin = binary.to_str().context("daemon path is not UTF-8")?;
        let paths = [&conf, &main, &vrrp, &check, &bfd].map(|p| p.to_string_lossy().into_owned());
        // Status dumps (SIGUSR1/SIGUSR2, `$TMPDIR/keepalived.*`) land in the lab directory,
        // not in the machine's /tmp.
        let tmpdir = format!("TMPDIR={}", self.dir.display());
        let mut argv = vec![
            "env", &tmpdir, bin, "-P", "-n", "-l", "-D", "-G", "-f", &paths[0], "-p", &paths[1],
            "-r", &paths[2], "-c", &paths[3], "-b", &paths[4],
        ];
        argv.extend_from_slice(extra);
        self.spawn(router, &format!("daemon-r{router}"), &argv)
    }

    /// Writes an executable file (mode 0755) into the lab directory, for the scripts that
    /// configs name (track scripts, notify scripts, FIFO readers).
    pub fn write_script(&self, name: &str, body: &str) -> Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        if name.is_empty() || name.contains('/') {
            bail!("write_script: bad file name {name:?}");
        }
        let path = self.dir.join(name);
        std::fs::write(&path, body).with_context(|| format!("cannot write {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot chmod {}", path.display()))?;
        Ok(path)
    }

    /// Runs `argv` to completion inside a node's namespace (`ip netns exec`), any exit status.
    pub fn exec(&self, node: impl Into<Node>, argv: &[&str]) -> Result<Output> {
        let ns = self.ns_name(node)?;
        let mut args = vec!["netns", "exec", ns.as_str()];
        args.extend_from_slice(argv);
        output("ip", &args)
    }

    /// A TCP responder on `port` in router i that answers every connection with the namespace name
    /// and closes (python3), for "which router serves the VIP" probes.
    pub fn listen(&self, router: usize, port: u16) -> Result<Proc> {
        let ns = self.ns_name(router)?;
        let p = port.to_string();
        let mut proc = self.spawn(
            router,
            &format!("listen-r{router}-{port}"),
            &["python3", "-u", "-c", LISTENER, &p, &ns],
        )?;
        let ready = crate::wait_until(Duration::from_secs(5), || {
            proc.log().contains("listening") || !proc.is_running()
        });
        if !ready || !proc.is_running() {
            let log = proc.log();
            let _ = proc.stop(Duration::from_secs(1));
            bail!(
                "TCP responder in router {router} did not start: {}",
                log.trim()
            );
        }
        Ok(proc)
    }

    // ---- probes from the client ------------------------------------------------------------

    /// Whether `addr` (IPv4 or IPv6) answers a ping from the client within `timeout`.
    pub fn ping(&self, addr: &str, timeout: Duration) -> bool {
        let secs = timeout.as_secs_f64().ceil().max(1.0).to_string();
        self.exec(
            Node::Client,
            &[
                "ping", "-n", "-q", "-c", "1", "-i", "0.1", "-w", &secs, addr,
            ],
        )
        .map(|o| o.status.success())
        .unwrap_or(false)
    }

    /// Which router answers for `vip` on the LAN: ARP from the client for IPv4, neighbour
    /// discovery (ping, then the client's neighbour table) for IPv6. `None` if nobody answers
    /// within about a second or the MAC is not a lab router's (e.g. a VMAC).
    pub fn arp_owner(&self, vip: &str) -> Option<usize> {
        self.owner_mac(vip).and_then(|m| self.router_of_mac(&m))
    }

    /// The MAC that answers ARP / ND for `addr` from the client, if any.
    pub fn owner_mac(&self, addr: &str) -> Option<String> {
        if addr.contains(':') {
            let cl = self.ns_name(Node::Client).ok()?;
            let _ = ip(&["-n", &cl, "neigh", "flush", "to", addr]);
            let _ = self.exec(
                Node::Client,
                &["ping", "-n", "-q", "-c", "1", "-w", "1", addr],
            );
            let out = ip(&["-n", &cl, "-j", "neigh", "show", "to", addr]).ok()?;
            let v: serde_json::Value = serde_json::from_str(&out).ok()?;
            return v.as_array()?.iter().find_map(|e| {
                let st = e.get("state")?.as_array()?;
                let ok = st
                    .iter()
                    .any(|s| matches!(s.as_str(), Some("REACHABLE" | "STALE" | "DELAY" | "PROBE")));
                ok.then(|| e.get("lladdr")?.as_str().map(str::to_string))
                    .flatten()
            });
        }
        let out = self
            .exec(
                Node::Client,
                &[
                    "arping", "-C", "1", "-c", "10", "-W", "0.1", "-w", "1", "-i", "eth0", addr,
                ],
            )
            .ok()?;
        // A missing tool is not "nobody answers": say so instead of failing a lab obscurely.
        if String::from_utf8_lossy(&out.stderr).contains("exec of \"arping\" failed") {
            panic!("arping is not installed (Debian: apt-get install arping; scripts/test-all.sh installs every tool)");
        }
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .filter(|l| l.contains("bytes from"))
            .find_map(|l| {
                l.split_whitespace()
                    .find(|w| w.len() == 17 && w.matches(':').count() == 5)
                    .map(str::to_lowercase)
            })
    }

    /// The router whose eth0 has `mac`, if any.
    pub fn router_of_mac(&self, mac: &str) -> Option<usize> {
        (1..=self.spec.routers).find(|&i| {
            self.mac(i)
                .map(|m| m.eq_ignore_ascii_case(mac))
                .unwrap_or(false)
        })
    }

    /// Connects from the client to `addr:port` and returns the first line the server sends
    /// (with [`Lab::listen`]: the serving router's namespace name); `None` on failure.
    pub fn tcp_probe(&self, addr: &str, port: u16, timeout: Duration) -> Option<String> {
        let t = format!("{:.3}", timeout.as_secs_f64());
        let p = port.to_string();
        let out = self
            .exec(Node::Client, &["python3", "-c", TCP_CLIENT, addr, &p, &t])
            .ok()?;
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !s.is_empty()).then_some(s)
    }

    /// The router behind `addr:port` according to a [`Lab::listen`] responder.
    pub fn tcp_owner(&self, addr: &str, port: u16, timeout: Duration) -> Option<usize> {
        let name = self.tcp_probe(addr, port, timeout)?;
        (1..=self.spec.routers).find(|&i| self.ns_name(i).map(|n| n == name).unwrap_or(false))
    }

    /// The addresses (`addr/prefixlen`) on a node's interfaces other than `lo`, from `ip -j addr`.
    pub fn addresses(&self, node: impl Into<Node>) -> Result<Vec<String>> {
        let ns = self.ns_name(node)?;
        let out = ip(&["-n", &ns, "-j", "addr", "show"])?;
        let v: serde_json::Value =
            serde_json::from_str(&out).with_context(|| format!("ip -j addr in {ns}: bad JSON"))?;
        let mut addrs = Vec::new();
        for link in v.as_array().into_iter().flatten() {
            if link.get("ifname").and_then(|n| n.as_str()) == Some("lo") {
                continue;
            }
            for a in link
                .get("addr_info")
                .and_then(|a| a.as_array())
                .into_iter()
                .flatten()
            {
                if let (Some(l), Some(p)) =
                    (a.get("local").and_then(|l| l.as_str()), a.get("prefixlen"))
                {
                    addrs.push(format!("{l}/{p}"));
                }
            }
        }
        Ok(addrs)
    }

    /// Whether a node holds `addr`: with a prefix length (`10.200.N.100/24`) it must match exactly,
    /// without one any prefix length matches. Errors count as "no".
    pub fn has_address(&self, node: impl Into<Node>, addr: &str) -> bool {
        let Ok(list) = self.addresses(node) else {
            return false;
        };
        if addr.contains('/') {
            list.iter().any(|a| a == addr)
        } else {
            list.iter().any(|a| a.split('/').next() == Some(addr))
        }
    }

    /// The flags of a node's eth0 from `ip -j link` (e.g. `NO-CARRIER`, `UP`, `LOWER_UP`).
    pub fn link_flags(&self, node: impl Into<Node>) -> Result<Vec<String>> {
        let ns = self.ns_name(node)?;
        let out = ip(&["-n", &ns, "-j", "link", "show", "dev", "eth0"])?;
        let v: serde_json::Value =
            serde_json::from_str(&out).with_context(|| format!("ip -j link in {ns}: bad JSON"))?;
        Ok(v.get(0)
            .and_then(|l| l.get("flags"))
            .and_then(|f| f.as_array())
            .map(|f| {
                f.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Whether a node's eth0 has carrier (`LOWER_UP`).
    pub fn has_carrier(&self, node: impl Into<Node>) -> bool {
        self.link_flags(node)
            .map(|f| f.iter().any(|x| x == "LOWER_UP"))
            .unwrap_or(false)
    }

    // ---- link control ------------------------------------------------------------------------

    fn port_cmd(&self, node: Node, args: &[&str]) -> Result<()> {
        let br = self.ns_name(Node::Bridge)?;
        let port = self.bridge_port(node)?;
        let mut a = vec!["-n", br.as_str(), "link", "set", port.as_str()];
        a.extend_from_slice(args);
        ip(&a).map(|_| ())
    }

    /// Deletes a host's `eth0` and creates it again (a new ifindex, same name, MAC and
    /// addresses), as when a driver reloads or a VLAN is re-created.
    pub fn recreate_link(&self, node: impl Into<Node>) -> Result<()> {
        let node = node.into();
        let ns = self.ns_name(node)?;
        ip(&["-n", &ns, "link", "del", "eth0"])?;
        self.create_link(node)
    }

    /// Cable pulled: the bridge-side veth goes down, so the node's eth0 loses carrier.
    pub fn cut_link(&self, node: impl Into<Node>) -> Result<()> {
        self.port_cmd(node.into(), &["down"])
    }

    /// Cable back in after [`Lab::cut_link`].
    pub fn restore_link(&self, node: impl Into<Node>) -> Result<()> {
        self.port_cmd(node.into(), &["up"])
    }

    /// Partition: the node's port leaves the bridge while both links stay up, so the node sees
    /// carrier but nobody hears it (split brain, not a link fault).
    pub fn detach(&self, node: impl Into<Node>) -> Result<()> {
        self.port_cmd(node.into(), &["nomaster"])
    }

    /// Ends a [`Lab::detach`] partition (the port forwards at once: no STP, forward_delay 0).
    pub fn attach(&self, node: impl Into<Node>) -> Result<()> {
        self.port_cmd(node.into(), &["master", "br0"])
    }

    // ---- capture -------------------------------------------------------------------------------

    /// Starts tcpdump on br0 in the bridge namespace (sees every frame on the LAN), writing a pcap
    /// into the lab directory; returns once tcpdump is listening. `filter` is a pcap filter
    /// expression ("" for everything).
    pub fn capture(&self, filter: &str) -> Result<Capture> {
        let file = self.unique_file("capture", "pcap");
        let f = file.to_string_lossy().into_owned();
        // -Z root: tcpdump would drop privileges and fail to write; --immediate-mode + -U: no packets
        // lost in buffers at SIGTERM; -s 512 -B 16384: bursts are not "dropped by kernel".
        let mut argv = vec![
            "tcpdump",
            "--immediate-mode",
            "-s",
            "512",
            "-B",
            "16384",
            "-i",
            "br0",
            "-U",
            "-Z",
            "root",
            "-n",
            "-w",
            &f,
        ];
        if !filter.trim().is_empty() {
            argv.push(filter);
        }
        let mut proc = self.spawn(Node::Bridge, "tcpdump", &argv)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !proc.log().contains("listening on") {
            if !proc.is_running() || Instant::now() > deadline {
                let log = proc.log();
                let _ = proc.stop(Duration::from_secs(1));
                bail!("tcpdump did not start listening: {}", log.trim());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(Capture::new(proc, file))
    }

    // ---- teardown ------------------------------------------------------------------------------

    /// Tears the lab down now and reports problems (Drop does the same but can only print them).
    pub fn down(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        if self.down {
            return Ok(());
        }
        self.down = true;
        let mut errors = Vec::new();
        let existing = netns_list().unwrap_or_default();
        // Routers and client first, bridge last (deleting a host namespace removes its veth pair).
        let mut nss: Vec<String> = self
            .created
            .iter()
            .filter(|n| existing.contains(n))
            .cloned()
            .collect();
        nss.sort_by_key(|n| n.ends_with("br"));
        if let Err(e) = kill_ns_processes(&nss) {
            errors.push(format!("{e:#}"));
        }
        for ns in &nss {
            if let Err(e) = ip(&["netns", "del", ns]) {
                errors.push(format!("{e:#}"));
            }
        }
        let left: Vec<String> = netns_list()
            .unwrap_or_default()
            .into_iter()
            .filter(|n| nss.contains(n))
            .collect();
        if !left.is_empty() {
            errors.push(format!("namespaces still present after teardown: {left:?}"));
        }
        if std::thread::panicking() || self.keep_dir || !errors.is_empty() {
            eprintln!(
                "ka-lab: lab {} kept its files in {}",
                self.spec.prefix,
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            bail!("lab {} teardown: {}", self.spec.prefix, errors.join("; "))
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("ka-lab: {e:#}");
        }
    }
}

fn ns_file(ns: &str) -> PathBuf {
    Path::new("/run/netns").join(ns)
}

/// Kills every process inside the given namespaces: SIGTERM, up to 2 s, then SIGKILL. Processes
/// are found with `ip netns pids` and each PID is re-checked to be in that namespace right before
/// it is signalled, so nothing outside the lab is ever hit.
fn kill_ns_processes(nss: &[String]) -> Result<()> {
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let signal_all = |sig: Signal| -> Result<usize> {
        let mut n = 0;
        for ns in nss {
            let target = ns_id(&ns_file(ns))?;
            for pid in netns_pids(ns)? {
                if pid <= 1 || pid == me {
                    continue;
                }
                if ns_id(Path::new(&format!("/proc/{pid}/ns/net"))).ok() != Some(target) {
                    continue; // exited (or the PID moved on) in between
                }
                let _ = kill(Pid::from_raw(pid), sig);
                n += 1;
            }
        }
        Ok(n)
    };
    if signal_all(Signal::SIGTERM)? == 0 {
        return Ok(());
    }
    let all_gone = || {
        nss.iter()
            .all(|ns| netns_pids(ns).map(|p| p.is_empty()).unwrap_or(true))
    };
    if crate::wait_until(Duration::from_secs(2), all_gone) {
        return Ok(());
    }
    signal_all(Signal::SIGKILL)?;
    if crate::wait_until(Duration::from_secs(2), all_gone) {
        return Ok(());
    }
    let left: Vec<String> = nss
        .iter()
        .map(|ns| format!("{ns}: {:?}", netns_pids(ns).unwrap_or_default()))
        .collect();
    bail!("processes survived SIGKILL: {}", left.join(", "))
}

/// Tears down every namespace whose name starts with `prefix` (a lab's [`LabSpec::prefix`]),
/// killing its processes by PID first. For signal handlers (Ctrl-C in the demo) that cannot
/// reach the [`Lab`] value; an empty or short prefix is refused.
pub fn teardown_prefix(prefix: &str) -> Result<()> {
    if prefix.len() < 3 {
        bail!("refusing to tear down namespaces by the prefix {prefix:?}");
    }
    let mut nss: Vec<String> = netns_list()?
        .into_iter()
        .filter(|ns| ns.starts_with(prefix))
        .collect();
    nss.sort_by_key(|n| n.ends_with("br"));
    kill_ns_processes(&nss)?;
    for ns in &nss {
        run("ip", &["netns", "del", ns]).with_context(|| format!("deleting {ns}"))?;
    }
    Ok(())
}

/// Removes labs left behind by test processes that died without unwinding (SIGKILL, abort):
/// namespaces named `kl<pid>n<k>-...` whose `<pid>` no longer exists. Their processes are killed
/// by PID first. Namespaces of other tools and of live processes are never touched.
pub fn cleanup_stale() -> Result<()> {
    let stale: Vec<String> = netns_list()?
        .into_iter()
        .filter(|ns| {
            let Some(rest) = ns.strip_prefix(AUTO_PREFIX) else {
                return false;
            };
            let Some((pid, tail)) = rest.split_once('n') else {
                return false;
            };
            let Some((k, _)) = tail.split_once('-') else {
                return false;
            };
            !pid.is_empty()
                && pid.bytes().all(|b| b.is_ascii_digit())
                && !k.is_empty()
                && k.bytes().all(|b| b.is_ascii_digit())
                && !Path::new(&format!("/proc/{pid}")).exists()
        })
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    eprintln!("ka-lab: removing stale lab namespaces {stale:?}");
    let mut ordered = stale.clone();
    ordered.sort_by_key(|n| n.ends_with("br"));
    kill_ns_processes(&ordered)?;
    for ns in &ordered {
        run("ip", &["netns", "del", ns]).with_context(|| format!("deleting stale {ns}"))?;
    }
    Ok(())
}

const LISTENER: &str = r#"
import socket, sys
try:
    s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); s.bind(("::", int(sys.argv[1])))
except OSError:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("", int(sys.argv[1])))
s.listen(64)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    try: c.sendall(sys.argv[2].encode() + b"\n")
    except OSError: pass
    finally: c.close()
"#;

const TCP_CLIENT: &str = r#"
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
print(c.recv(200).decode().strip())
"#;
