//! PING_CHECK (§3.8): one ICMP(v6) echo request on a fresh "ping socket"
//! (`SOCK_DGRAM`/`IPPROTO_ICMP[V6]`: no raw socket, no privilege beyond
//! `net.ipv4.ping_group_range`); a pass when the next packet read within `connect_timeout` is an
//! echo reply. The kernel hands a ping socket only the replies carrying its own identifier, so a
//! late reply to an earlier attempt (another socket) cannot be mistaken for this one's.
//!
//! As in 2.2.7, `bindto`, `bind_if` and `fwmark` are not applied and only the address of the
//! target is used. A socket that cannot be created (typically `ping_group_range` excluding us) is
//! not counted; a send that fails (no route...) is a failed check.
//!
//! [`ensure_ping_group_range`] / [`restore_ping_group_range`] do what 2.2.7 does with the
//! sysctl: fresh network namespaces start at `1 0` (nobody may open ping sockets), so the range is
//! widened to start at 0 when PING_CHECKs are configured, and put back at exit.

use crate::attempt::Attempt;
use crate::net::Connect;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use tokio::net::UdpSocket;
use tokio::time::{timeout_at, Instant};

/// Bytes after the 8-byte ICMP header (2.2.7's size; filled with the UDP check's filler).
pub const PAYLOAD_LEN: usize = 128;
/// ICMP header length.
pub const HEADER_LEN: usize = 8;
/// The sysctl governing who may open ping sockets (IPv4 and IPv6 alike).
pub const PING_GROUP_RANGE: &str = "/proc/sys/net/ipv4/ping_group_range";
/// Receive buffer size asked for, as 2.2.7 does (best effort).
const RCVBUF: usize = 128 * 1024;
/// The reason of an attempt that got no packet in time; [`failure_line`] words it apart.
pub const TIMEOUT: &str = "timeout";

/// The sequence number of the next echo request, shared by every PING_CHECK of the process.
static SEQUENCE: AtomicU16 = AtomicU16::new(0);

/// An echo request: type 8 (ICMPv6: 128), code 0, checksum and identifier 0 (the kernel fills
/// both in on ping sockets), sequence `seq`, then [`PAYLOAD_LEN`] filler bytes.
pub fn echo_request(v6: bool, seq: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(HEADER_LEN + PAYLOAD_LEN);
    p.push(if v6 { 128 } else { 8 });
    p.extend_from_slice(&[0; 5]);
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&crate::udp::filler(PAYLOAD_LEN));
    p
}

/// Whether a packet read from a ping socket is an echo reply (type 0; ICMPv6: 129); `Err` with
/// what it was otherwise.
pub fn judge(v6: bool, packet: &[u8]) -> Result<(), String> {
    if packet.len() < HEADER_LEN {
        return Err(format!("short ICMP packet, {} bytes", packet.len()));
    }
    let want = if v6 { 129 } else { 0 };
    match packet.first() {
        Some(&t) if t == want => Ok(()),
        Some(&t) => Err(format!("ICMP packet with type 0x{t:x}")),
        None => Err("empty ICMP packet".into()),
    }
}

/// One PING_CHECK attempt to `c.target`'s address.
pub async fn check(c: &Connect) -> Attempt {
    let deadline = Instant::now() + c.timeout;
    let v6 = c.target.is_ipv6();
    let (domain, protocol) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6)
    } else {
        (Domain::IPV4, Protocol::ICMPV4)
    };
    let sock = match Socket::new(domain, Type::DGRAM.nonblocking().cloexec(), Some(protocol)) {
        Ok(s) => s,
        Err(_) => return Attempt::not_counted(rescheduling_line(v6)),
    };
    let _ = sock.set_recv_buffer_size(RCVBUF);
    // tokio drives any datagram socket through its UdpSocket (sendto/recv are the same calls),
    // which spares us registering a raw descriptor ourselves.
    let std: std::net::UdpSocket = sock.into();
    let sock = match UdpSocket::from_std(std) {
        Ok(s) => s,
        Err(_) => return Attempt::not_counted(rescheduling_line(v6)),
    };
    let mut dst: SocketAddr = c.target;
    dst.set_port(0);
    let request = echo_request(v6, SEQUENCE.fetch_add(1, Ordering::Relaxed));
    match timeout_at(deadline, sock.send_to(&request, dst)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Attempt::failure(format!("send ICMP packet fail: {e}")),
        Err(_) => return Attempt::failure(TIMEOUT),
    }
    let mut buf = [0u8; HEADER_LEN + PAYLOAD_LEN];
    match timeout_at(deadline, sock.recv(&mut buf)).await {
        Err(_) => Attempt::failure(TIMEOUT),
        Ok(Err(e)) => Attempt::failure(format!("recv ICMP packet error: {e}")),
        Ok(Ok(n)) => match judge(v6, buf.get(..n).unwrap_or_default()) {
            Ok(()) => Attempt::success("echo reply"),
            Err(what) => Attempt::failure(what),
        },
    }
}

/// The log line of a ping socket that could not be created (2.2.7 words; not counted).
pub fn rescheduling_line(v6: bool) -> String {
    format!(
        "ICMP{} connect fail to create socket. Rescheduling.",
        if v6 { "v6" } else { "" }
    )
}

/// The log line of a success while down or not yet run.
pub fn up_line(rs_name: &str) -> String {
    format!("ICMP connection to {rs_name} success.")
}

/// The log line of the verdict down. 2.2.7 names the virtual server only in the long form;
/// `retries` 0 (retry disabled, or the first attempt ever) gives the short one.
pub fn down_line(rs_name: &str, vs_name: &str, retries: u32) -> String {
    if retries == 0 {
        format!("ICMP CHECK on service {rs_name} failed.")
    } else {
        format!("ICMP CHECK on service {rs_name} of {vs_name} failed after {retries} retries.")
    }
}

/// The `log_all_failures` line of a failed attempt while up.
pub fn failure_line(rs_name: &str, vs_name: &str, reason: &str) -> String {
    if reason == TIMEOUT {
        format!("ICMP connection to address {rs_name} timeout.")
    } else {
        format!("ICMP connection to {rs_name} of {vs_name} failed.")
    }
}

/// The mail body of a checker coming up.
pub fn mail_up() -> &'static str {
    "=> ICMP CHECK succeed on service <="
}

/// The mail body of a checker going down.
pub fn mail_down() -> &'static str {
    "=> ICMP CHECK failed on service <="
}

/// Makes sure this process may open ping sockets, as 2.2.7 does when it parses a PING_CHECK:
/// when the range does not start at 0, it is rewritten as `0 <max>` (max raised to our group if
/// that is above it). Returns the previous value (e.g. `1\t0`) to give to
/// [`restore_ping_group_range`] at exit, or `None` when nothing was changed. See
/// [`widening_warning`] for the line 2.2.7 logs.
pub fn ensure_ping_group_range() -> Result<Option<String>, io::Error> {
    ensure_at(Path::new(PING_GROUP_RANGE), nix::unistd::getegid().as_raw())
}

/// Puts back the value [`ensure_ping_group_range`] replaced; best effort (at exit there is
/// nobody to tell).
pub fn restore_ping_group_range(prev: &str) {
    let _ = restore_at(Path::new(PING_GROUP_RANGE), prev);
}

/// The warning 2.2.7 logs when it widens a range that already allowed some groups (both bounds
/// above 1); `None` otherwise (the default `1 0` is widened silently).
pub fn widening_warning(prev: &str) -> Option<String> {
    let (lo, hi) = parse_range(prev)?;
    (lo > 1 && hi > 1)
        .then(|| format!("Warning: {PING_GROUP_RANGE} being expanded from {lo} {hi} to 0 {hi}"))
}

/// The two bounds of a `ping_group_range` value.
fn parse_range(text: &str) -> Option<(u64, u64)> {
    let mut it = text.split_ascii_whitespace().map(str::parse::<u64>);
    match (it.next(), it.next(), it.next()) {
        (Some(Ok(lo)), Some(Ok(hi)), None) => Some((lo, hi)),
        _ => None,
    }
}

/// [`ensure_ping_group_range`] on any file, for group `gid`.
fn ensure_at(path: &Path, gid: u32) -> io::Result<Option<String>> {
    let prev = std::fs::read_to_string(path)?;
    let (lo, hi) = parse_range(&prev).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected {}: {prev:?}", path.display()),
        )
    })?;
    let gid = u64::from(gid);
    if lo == 0 && gid <= hi {
        return Ok(None);
    }
    std::fs::write(path, format!("0\t{}\n", hi.max(gid)))?;
    Ok(Some(prev.trim_end().to_string()))
}

/// [`restore_ping_group_range`] on any file.
fn restore_at(path: &Path, prev: &str) -> io::Result<()> {
    std::fs::write(path, format!("{}\n", prev.trim_end()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;
    use std::process::Command;
    use std::time::Duration;

    fn connect_to(ip: std::net::IpAddr, timeout: Duration) -> Connect {
        Connect {
            target: SocketAddr::new(ip, 80),
            bind_addr: None,
            bind_port: None,
            bind_if: None,
            fwmark: None,
            timeout,
        }
    }

    #[test]
    fn echo_requests() {
        let p = echo_request(false, 0x0102);
        assert_eq!(p.len(), 136);
        assert_eq!(&p[..8], &[8, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(&p[8..27], b"keepalived check - ");
        assert_eq!(echo_request(true, 0)[0], 128);
    }

    #[test]
    fn replies_are_judged_on_their_type() {
        let mut r = echo_request(false, 1);
        r[0] = 0;
        assert!(judge(false, &r).is_ok());
        assert!(judge(false, &r[..7]).is_err());
        r[0] = 3;
        assert_eq!(judge(false, &r), Err("ICMP packet with type 0x3".into()));
        let mut r6 = echo_request(true, 1);
        r6[0] = 129;
        assert!(judge(true, &r6).is_ok());
        assert!(judge(false, &r6).is_err());
    }

    #[test]
    fn the_group_range_is_widened_and_restored() {
        let dir = std::env::temp_dir().join(format!("ka-ping-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("range");
        std::fs::write(&f, "1\t0\n").expect("write");
        assert_eq!(ensure_at(&f, 0).expect("ensure"), Some("1\t0".to_string()));
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "0\t0\n");
        assert_eq!(ensure_at(&f, 0).expect("again"), None, "already fine");
        restore_at(&f, "1\t0").expect("restore");
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "1\t0\n");

        std::fs::write(&f, "100\t200\n").expect("write");
        assert_eq!(ensure_at(&f, 0).expect("ensure"), Some("100\t200".into()));
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "0\t200\n");
        assert_eq!(
            widening_warning("100\t200").as_deref(),
            Some(
                "Warning: /proc/sys/net/ipv4/ping_group_range being expanded from 100 200 to 0 200"
            )
        );
        assert_eq!(widening_warning("1\t0"), None);

        // Our group above the maximum: the maximum is raised to it.
        std::fs::write(&f, "0\t10\n").expect("write");
        assert_eq!(ensure_at(&f, 1000).expect("ensure"), Some("0\t10".into()));
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "0\t1000\n");

        std::fs::write(&f, "garbage\n").expect("write");
        assert!(ensure_at(&f, 0).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn log_texts() {
        let (rs, vs) = ("[192.0.2.10]:tcp:80", "[192.0.2.1]:tcp:80");
        assert_eq!(
            up_line(rs),
            "ICMP connection to [192.0.2.10]:tcp:80 success."
        );
        assert_eq!(
            down_line(rs, vs, 1),
            "ICMP CHECK on service [192.0.2.10]:tcp:80 of [192.0.2.1]:tcp:80 failed after 1 retries."
        );
        assert_eq!(
            down_line(rs, vs, 0),
            "ICMP CHECK on service [192.0.2.10]:tcp:80 failed."
        );
        assert_eq!(
            failure_line(rs, vs, TIMEOUT),
            "ICMP connection to address [192.0.2.10]:tcp:80 timeout."
        );
        assert_eq!(
            failure_line(rs, vs, "send ICMP packet fail: x"),
            "ICMP connection to [192.0.2.10]:tcp:80 of [192.0.2.1]:tcp:80 failed."
        );
        assert_eq!(mail_up(), "=> ICMP CHECK succeed on service <=");
        assert_eq!(mail_down(), "=> ICMP CHECK failed on service <=");
        assert_eq!(
            rescheduling_line(true),
            "ICMPv6 connect fail to create socket. Rescheduling."
        );
    }

    fn ip(args: &str) {
        let ok = Command::new("ip")
            .args(args.split_whitespace())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "ip {args}");
    }

    /// Runs `body` on a thread of its own in a fresh network namespace (so the host's
    /// `ping_group_range` is never touched): `lo` up, and a veth pair with 10.9.0.1/24 on one
    /// end, where 10.9.0.2 is an address nobody answers. Returns false when namespaces are not
    /// available here (not root).
    fn in_fresh_netns(body: impl FnOnce() + Send + 'static) -> bool {
        std::thread::spawn(move || {
            // unshare(CLONE_NEWNET) moves this thread only; commands it spawns inherit it.
            if nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).is_err() {
                return false;
            }
            ip("link set lo up");
            ip("link add kacv0 type veth peer name kacv1");
            ip("addr add 10.9.0.1/24 dev kacv0");
            ip("link set kacv0 up");
            ip("link set kacv1 up");
            body();
            true
        })
        .join()
        .expect("netns thread")
    }

    #[test]
    fn ping_in_a_fresh_namespace() {
        let ran = in_fresh_netns(|| {
            // A fresh namespace starts at "1 0": nobody may open ping sockets.
            let before = std::fs::read_to_string(PING_GROUP_RANGE).expect("read");
            assert_eq!(before, "1\t0\n");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let a = rt.block_on(check(&connect_to(
                [127, 0, 0, 1].into(),
                Duration::from_secs(1),
            )));
            assert_eq!(a.outcome, Outcome::NotCounted, "{a:?}");
            assert_eq!(
                a.reason,
                "ICMP connect fail to create socket. Rescheduling."
            );

            let prev = ensure_ping_group_range().expect("ensure");
            assert_eq!(prev.as_deref(), Some("1\t0"));
            assert_eq!(widening_warning("1\t0"), None);

            let a = rt.block_on(check(&connect_to(
                [127, 0, 0, 1].into(),
                Duration::from_secs(1),
            )));
            assert_eq!(a.outcome, Outcome::Success, "{a:?}");
            let a = rt.block_on(check(&connect_to(
                "::1".parse().expect("v6"),
                Duration::from_secs(1),
            )));
            assert_eq!(a.outcome, Outcome::Success, "{a:?}");

            let started = std::time::Instant::now();
            let a = rt.block_on(check(&connect_to(
                [10, 9, 0, 2].into(),
                Duration::from_millis(400),
            )));
            assert_eq!(a.outcome, Outcome::Failure, "{a:?}");
            assert_eq!(a.reason, TIMEOUT);
            assert!(started.elapsed() >= Duration::from_millis(390));

            // No route at all: the send fails, a counted failure at once.
            let a = rt.block_on(check(&connect_to(
                [198, 51, 100, 7].into(),
                Duration::from_secs(2),
            )));
            assert_eq!(a.outcome, Outcome::Failure, "{a:?}");
            assert!(a.reason.starts_with("send ICMP packet fail"), "{a:?}");

            restore_ping_group_range(prev.as_deref().unwrap_or_default());
            let after = std::fs::read_to_string(PING_GROUP_RANGE).expect("read");
            assert_eq!(after, "1\t0\n");
        });
        if !ran {
            eprintln!("skipped: cannot create a network namespace here");
        }
    }
}
