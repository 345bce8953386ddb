//! Network-namespace labs for integration tests, interop runs, benchmarks and the demo: a virtual
//! LAN of namespaces (one holding a bridge, one per router, one client), processes started inside
//! them and controlled by PID, packet capture, and probes of a VIP from the client.
//!
//! Nothing here touches the root namespace: interfaces are created inside lab namespaces (the veth
//! peer goes straight into the bridge namespace), addresses are `10.200.N.x` / `fd00:200:N::x`
//! inside them only, every process runs through `ip netns exec` and is checked to be in its
//! namespace, and teardown kills only PIDs that `ip netns pids` reports for the lab's namespaces.
//!
//! ```no_run
//! use std::time::Duration;
//! use ka_lab::{Lab, LabSpec, Node};
//! # fn main() -> anyhow::Result<()> {
//! let lab = Lab::new(LabSpec::new(2))?;
//! let ip = lab.router_ip4(1)?;
//! assert!(lab.ping(&ip, Duration::from_secs(2)));
//! let mut p = lab.spawn(Node::Router(1), "sleeper", &["sleep", "30"])?;
//! p.stop(Duration::from_secs(1))?;
//! lab.down()?; // or just drop it
//! # Ok(()) }
//! ```

mod capture;
mod cmd;
pub mod ipvs_vm;
mod lab;
pub mod pcap;
mod process;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use capture::Capture;
pub use lab::{cleanup_stale, teardown_prefix, Lab, LabSpec, Node, MAX_ROUTERS};
/// Signals for [`Proc::signal`], re-exported so users need no direct `nix` dependency.
pub use nix::sys::signal::Signal;
pub use process::Proc;

/// Polls `cond` every 20 ms until it holds or `timeout` passes; returns whether it held. Tests
/// use generous timeouts with this instead of fixed sleeps, so they are fast when things work
/// and still pass on a slow machine.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether namespace labs can run here (root and iproute2). When not, prints a loud
/// `*** SKIPPED` line and returns false, so a developer's non-root `cargo test` passes visibly
/// incomplete; with `CI=true` it panics instead, because a skipped lab test in CI is a failure.
pub fn require_root_or_skip(test_name: &str) -> bool {
    let reason = if !nix::unistd::geteuid().is_root() {
        Some("not running as root".to_string())
    } else {
        match std::process::Command::new("ip").arg("-V").output() {
            Ok(o) if o.status.success() => None,
            Ok(o) => Some(format!(
                "`ip -V` failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => Some(format!("iproute2 `ip` not available: {e}")),
        }
    };
    let Some(reason) = reason else { return true };
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!(
            "{test_name}: namespace lab unavailable in CI ({reason}); a skip in CI is a failure"
        );
    }
    // Straight to the stderr handle: the test harness captures `eprintln!` of passing tests, and
    // a skip must be seen.
    let line = format!(
        "\n*** SKIPPED: {test_name}: namespace lab needs root and iproute2 ({reason}) ***\n"
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    false
}

/// The Debian keepalived (the reference peer), if installed.
pub fn system_keepalived() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/sbin/keepalived");
    p.is_file().then_some(p)
}
