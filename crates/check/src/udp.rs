//! UDP_CHECK (§3.7): send one datagram (the `payload`, or 32 bytes of "keepalived check - "
//! repeated) on a connected UDP socket with `IP(V6)_RECVERR`, then wait `connect_timeout`.
//!
//! Without `require_reply`: silence is a pass, so is any datagram; an ICMP(v6)
//! destination-unreachable of any code on the error queue is a failure (another ICMP error, e.g.
//! time exceeded, is not — 2.2.7's rule), and so is a receive error. With `require_reply` a
//! datagram must come; when a pattern is given its length must lie within `min_reply_length`
//! (0) .. `max_reply_length` (255) and its first min(length, pattern length) bytes must match the
//! pattern, where an `X` nibble matches anything. 2.2.7 checks the lengths only together with a
//! pattern: a bare `require_reply` takes any datagram.
//!
//! Setting up the socket follows 2.2.7's UDP rules, which differ from the TCP family's: a socket
//! that cannot be created is not counted, but a failed mark, bind or connect is a failed check.

use crate::attempt::Attempt;
use crate::net::Connect;
use ka_config::model::lvs::UdpCheck;
use nix::sys::socket::{recvmsg, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::time::{timeout_at, Instant};

/// Length of the default payload.
pub const DEFAULT_PAYLOAD_LEN: usize = 32;
/// The text 2.2.7 repeats to fill a probe it was given no bytes for (UDP and PING).
pub const FILLER: &str = "keepalived check - ";
/// Default `max_reply_length`.
pub const DEFAULT_MAX_REPLY: u32 = 255;
/// The reason of a reply that came but does not fit the rule; [`failure_line`] words it apart.
pub const REPLY_MISMATCH: &str = "reply data mismatch";
/// The log line of a socket that could not be created (2.2.7 words; not counted).
pub const RESCHEDULING_LINE: &str = "UDP connect fail to create socket. Rescheduling.";

/// `len` bytes of [`FILLER`] repeated (the last copy cut).
pub fn filler(len: usize) -> Vec<u8> {
    FILLER.bytes().cycle().take(len).collect()
}

/// A hex string read as 2.2.7 reads `payload` and `require_reply`: blanks (space, tab) between
/// bytes are skipped; a byte is two hex digits, or one digit followed by a space or the end; with
/// `wildcards`, `x`/`X` is a nibble matching anything. Returns the bytes and, per byte, the mask
/// of wildcard bits; `None` for an empty or invalid string (any other character). Note that 2.2.7
/// knows no `0x` prefix: in a pattern `0x` is the byte `0X`.
pub fn parse_hex(s: &str, wildcards: bool) -> Option<(Vec<u8>, Vec<u8>)> {
    let nibble = |c: u8| -> Option<(u8, u8)> {
        match c {
            b'0'..=b'9' => Some((c - b'0', 0)),
            b'a'..=b'f' => Some((c - b'a' + 10, 0)),
            b'A'..=b'F' => Some((c - b'A' + 10, 0)),
            b'x' | b'X' if wildcards => Some((0, 0x0f)),
            _ => None,
        }
    };
    let bytes = s.as_bytes();
    let (mut data, mut mask) = (Vec::new(), Vec::new());
    let mut i = 0;
    loop {
        while matches!(bytes.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        let Some(&c) = bytes.get(i) else { break };
        i += 1;
        let (mut v, mut m) = nibble(c)?;
        // 2.2.7 ends a one-digit byte only at a space or the end (a tab is read as a digit).
        if let Some(&c2) = bytes.get(i).filter(|&&c2| c2 != b' ') {
            i += 1;
            let (v2, m2) = nibble(c2)?;
            v = (v << 4) | v2;
            m = (m << 4) | m2;
        }
        data.push(v);
        mask.push(m);
    }
    (!data.is_empty()).then_some((data, mask))
}

/// What a reply must look like (`require_reply` with a pattern).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyRule {
    /// Expected bytes.
    pub pattern: Vec<u8>,
    /// Per byte, the bits that match anything (from `X` nibbles).
    pub wildcard: Vec<u8>,
    /// `min_reply_length`.
    pub min_len: usize,
    /// `max_reply_length`.
    pub max_len: usize,
}

impl ReplyRule {
    /// Whether `reply` (as received, at most `max_len + 1` bytes) satisfies the rule.
    pub fn matches(&self, reply: &[u8]) -> bool {
        if reply.len() < self.min_len || reply.len() > self.max_len {
            return false;
        }
        reply
            .iter()
            .zip(self.pattern.iter().zip(self.wildcard.iter()))
            .all(|(r, (p, w))| (r ^ p) & !w == 0)
    }
}

/// A UDP_CHECK block made ready to run: bytes decoded once, not at every attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpSpec {
    /// The datagram sent.
    pub payload: Vec<u8>,
    /// A reply is mandatory.
    pub require_reply: bool,
    /// The reply's rule, when `require_reply` has a valid pattern.
    pub rule: Option<ReplyRule>,
    /// `max_reply_length`: the receive buffer is one byte more, so longer replies show.
    pub max_reply_len: usize,
}

impl UdpSpec {
    /// From the configuration. A payload that does not decode is replaced by the default one, as
    /// 2.2.7 does after its configuration error; a leading `0x`, which 2.2.7 refused, is accepted
    /// in a payload (our configuration accepts it, and it cannot be meant otherwise). A pattern is
    /// decoded exactly as 2.2.7 does, `0x` included, since 2.2.7 accepted it silently.
    pub fn from_config(u: &UdpCheck) -> UdpSpec {
        let payload = u
            .payload
            .as_deref()
            .map(|p| {
                p.strip_prefix("0x")
                    .or_else(|| p.strip_prefix("0X"))
                    .unwrap_or(p)
            })
            .and_then(|p| parse_hex(p, false))
            .map(|(d, _)| d)
            .unwrap_or_else(|| filler(DEFAULT_PAYLOAD_LEN));
        let max_reply_len = u.max_reply_length as usize;
        let rule = u
            .require_reply
            .as_deref()
            .and_then(|p| parse_hex(p, true))
            .map(|(pattern, wildcard)| ReplyRule {
                pattern,
                wildcard,
                min_len: u.min_reply_length as usize,
                max_len: max_reply_len,
            });
        UdpSpec {
            payload,
            require_reply: u.require_reply.is_some(),
            rule,
            max_reply_len,
        }
    }
}

/// One UDP_CHECK attempt. Reasons: [`REPLY_MISMATCH`], `no reply` (a required reply did not
/// come), `destination unreachable (ICMP code N)`, or the system's words for a set-up, send or
/// receive error; [`failure_line`] turns them into 2.2.7's log lines.
pub async fn check(c: &Connect, spec: &UdpSpec) -> Attempt {
    let deadline = Instant::now() + c.timeout;
    let sock = match setup(c) {
        Ok(s) => s,
        Err(a) => return a,
    };
    match timeout_at(deadline, sock.send(&spec.payload)).await {
        Ok(Ok(n)) if n == spec.payload.len() => {}
        Ok(Ok(n)) => {
            return Attempt::failure(format!("sent {n} bytes instead of {}", spec.payload.len()))
        }
        Ok(Err(e)) => return Attempt::failure(format!("send error: {e}")),
        Err(_) => return Attempt::failure("send timeout"),
    }
    let mut buf = vec![0u8; spec.max_reply_len + 1];
    loop {
        let ready =
            match timeout_at(deadline, sock.ready(Interest::READABLE | Interest::ERROR)).await {
                Err(_) if spec.require_reply => return Attempt::failure("no reply"),
                Err(_) => return Attempt::success("no reply, no error"),
                Ok(Err(e)) => return Attempt::failure(format!("receive error: {e}")),
                Ok(Ok(r)) => r,
            };
        if ready.is_error() {
            match sock.try_io(Interest::ERROR, || error_queue(&sock)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // 2.2.7 counts an unreadable error queue as a pass.
                Err(_) | Ok(None) => return Attempt::success("error other than unreachable"),
                Ok(Some(code)) => {
                    return Attempt::failure(format!("destination unreachable (ICMP code {code})"))
                }
            }
        }
        if ready.is_readable() {
            match sock.try_recv(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Attempt::failure(format!("receive error: {e}")),
                Ok(n) => {
                    let reply = buf.get(..n).unwrap_or_default();
                    return match &spec.rule {
                        Some(rule) if !rule.matches(reply) => Attempt::failure(REPLY_MISMATCH),
                        _ => Attempt::success("reply received"),
                    };
                }
            }
        }
    }
}

/// The socket, set up as 2.2.7 sets up UDP_CHECK's: `IP(V6)_RECVERR` (best effort), `SO_MARK`,
/// the interface (which 2.2.7 does not apply; we do, so link-local targets work), bind, connect.
fn setup(c: &Connect) -> Result<UdpSocket, Attempt> {
    let domain = Domain::for_address(c.target);
    let s = Socket::new(
        domain,
        Type::DGRAM.nonblocking().cloexec(),
        Some(Protocol::UDP),
    )
    .map_err(|_| Attempt::not_counted(RESCHEDULING_LINE))?;
    // As in 2.2.7, a socket without RECVERR still runs (it then only sees ECONNREFUSED).
    let _ = match c.target {
        SocketAddr::V4(_) => nix::sys::socket::setsockopt(&s, sockopt::Ipv4RecvErr, &true),
        SocketAddr::V6(_) => nix::sys::socket::setsockopt(&s, sockopt::Ipv6RecvErr, &true),
    };
    let failed = |what: &str, e: io::Error| Attempt::failure(format!("{what}: {e}"));
    if let Some(mark) = c.fwmark {
        s.set_mark(mark).map_err(|e| failed("fwmark", e))?;
    }
    if let Some(dev) = &c.bind_if {
        s.bind_device(Some(dev.as_bytes()))
            .map_err(|e| failed("bind_if", e))?;
    }
    if c.bind_addr.is_some() || c.bind_port.is_some() {
        let ip = c.bind_addr.unwrap_or(match c.target {
            SocketAddr::V4(_) => IpAddr::from([0u8; 4]),
            SocketAddr::V6(_) => IpAddr::from([0u16; 8]),
        });
        s.bind(&SockAddr::from(SocketAddr::new(
            ip,
            c.bind_port.unwrap_or(0),
        )))
        .map_err(|e| failed("bind failed", e))?;
    }
    s.connect(&SockAddr::from(c.target))
        .map_err(|e| failed("connect error", e))?;
    let std: std::net::UdpSocket = s.into();
    UdpSocket::from_std(std).map_err(|_| Attempt::not_counted(RESCHEDULING_LINE))
}

/// Reads one entry of the socket's error queue: `Some(code)` for an ICMP(v6)
/// destination-unreachable, `None` for anything else; `WouldBlock` when the queue is empty.
fn error_queue(sock: &UdpSocket) -> io::Result<Option<u8>> {
    let mut data = [0u8; 64];
    let mut iov = [io::IoSliceMut::new(&mut data)];
    let mut space = nix::cmsg_space!(libc::sock_extended_err, libc::sockaddr_in6);
    let msg = recvmsg::<SockaddrStorage>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    for cmsg in msg.cmsgs().map_err(io::Error::from)? {
        match cmsg {
            ControlMessageOwned::Ipv4RecvErr(e, _)
                if e.ee_origin == libc::SO_EE_ORIGIN_ICMP && e.ee_type == 3 =>
            {
                return Ok(Some(e.ee_code))
            }
            ControlMessageOwned::Ipv6RecvErr(e, _)
                if e.ee_origin == libc::SO_EE_ORIGIN_ICMP6 && e.ee_type == 1 =>
            {
                return Ok(Some(e.ee_code))
            }
            _ => {}
        }
    }
    Ok(None)
}

/// The log line of a success while down or not yet run.
pub fn up_line(rs_name: &str) -> String {
    format!("UDP connection to {rs_name} success.")
}

/// The log line of the verdict down; `retries` 0 (retry disabled, or the first attempt ever)
/// gives the short form, as 2.2.7 does.
pub fn down_line(rs_name: &str, retries: u32) -> String {
    if retries == 0 {
        format!("UDP_CHECK on service {rs_name} failed.")
    } else {
        format!("UDP_CHECK on service {rs_name} failed after {retries} retries.")
    }
}

/// The `log_all_failures` line of a failed attempt while up.
pub fn failure_line(rs_name: &str, reason: &str) -> String {
    if reason == REPLY_MISMATCH {
        format!("UDP check to {rs_name} reply data mismatch.")
    } else {
        format!("UDP connection to {rs_name} failed.")
    }
}

/// The mail body of a checker coming up.
pub fn mail_up() -> &'static str {
    "=> UDP CHECK succeed on service <="
}

/// The mail body of a checker going down.
pub fn mail_down() -> &'static str {
    "=> UDP CHECK failed on service <="
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;
    use std::time::Duration;

    fn connect_to(port: u16, timeout: Duration) -> Connect {
        Connect {
            target: ([127, 0, 0, 1], port).into(),
            bind_addr: None,
            bind_port: None,
            bind_if: None,
            fwmark: None,
            timeout,
        }
    }

    fn config(payload: Option<&str>, reply: Option<&str>, min: u32, max: u32) -> UdpCheck {
        UdpCheck {
            payload: payload.map(String::from),
            require_reply: reply.map(String::from),
            min_reply_length: min,
            max_reply_length: max,
        }
    }

    /// A server answering each datagram with `reply(datagram)` (nothing when `None`); returns
    /// the first datagram it got.
    async fn server(
        reply: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + 'static,
    ) -> (u16, tokio::task::JoinHandle<Vec<u8>>) {
        let s = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let port = s.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let (n, from) = s.recv_from(&mut buf).await.expect("recv");
            let got = buf[..n].to_vec();
            if let Some(r) = reply(&got) {
                let _ = s.send_to(&r, from).await;
            }
            // Stay open a little so no port-unreachable follows.
            tokio::time::sleep(Duration::from_secs(2)).await;
            got
        });
        (port, task)
    }

    #[test]
    fn the_default_payload_is_32_bytes_of_the_filler() {
        let p = filler(DEFAULT_PAYLOAD_LEN);
        assert_eq!(p, b"keepalived check - keepalived ch".to_vec());
        assert_eq!(filler(128).len(), 128);
        assert_eq!(UdpSpec::from_config(&config(None, None, 0, 255)).payload, p);
    }

    #[test]
    fn hex_strings_are_read_as_2_2_7_reads_them() {
        assert_eq!(
            parse_hex("0102ff", false),
            Some((vec![1, 2, 0xff], vec![0, 0, 0]))
        );
        assert_eq!(
            parse_hex("01 02 a", false),
            Some((vec![1, 2, 0x0a], vec![0, 0, 0]))
        );
        assert_eq!(
            parse_hex("a bc", false),
            Some((vec![0x0a, 0xbc], vec![0, 0]))
        );
        assert_eq!(parse_hex("1X", true), Some((vec![0x10], vec![0x0f])));
        assert_eq!(
            parse_hex("xx41", true),
            Some((vec![0, 0x41], vec![0xff, 0]))
        );
        assert_eq!(parse_hex("1X", false), None);
        assert_eq!(parse_hex("zz", false), None);
        assert_eq!(parse_hex("", false), None);
        assert_eq!(parse_hex("   ", false), None);
        // No 0x prefix in 2.2.7: in a pattern it is the byte 0X.
        assert_eq!(
            parse_hex("0x41", true),
            Some((vec![0, 0x41], vec![0x0f, 0]))
        );
    }

    #[test]
    fn payloads_decode_and_bad_ones_fall_back() {
        let s = UdpSpec::from_config(&config(Some("0x0a0b"), None, 0, 255));
        assert_eq!(s.payload, vec![0x0a, 0x0b]);
        let s = UdpSpec::from_config(&config(Some("c0ffee"), None, 0, 255));
        assert_eq!(s.payload, vec![0xc0, 0xff, 0xee]);
        let s = UdpSpec::from_config(&config(Some("nothex"), None, 0, 255));
        assert_eq!(s.payload, filler(DEFAULT_PAYLOAD_LEN));
    }

    #[test]
    fn the_reply_rule() {
        let rule = |p: &str, min, max| {
            UdpSpec::from_config(&config(None, Some(p), min, max))
                .rule
                .expect("rule")
        };
        let r = rule("4f4bXX", 0, 255);
        assert!(r.matches(b"OK!"));
        assert!(r.matches(b"OKxyz"), "bytes past the pattern are free");
        assert!(r.matches(b"O"), "only min(len, pattern) bytes compared");
        assert!(r.matches(b""), "an empty reply passes with min 0");
        assert!(!r.matches(b"NO!"));
        let r = rule("4X", 0, 255);
        assert!(r.matches(b"A") && r.matches(b"O") && !r.matches(b"a"));
        let r = rule("41", 2, 4);
        assert!(!r.matches(b"A"), "too short");
        assert!(r.matches(b"AB") && r.matches(b"ABCD"));
        assert!(!r.matches(b"ABCDE"), "too long");
        // A bare require_reply has no rule: any datagram passes.
        let s = UdpSpec::from_config(&config(None, Some(""), 5, 10));
        assert!(s.require_reply && s.rule.is_none());
    }

    #[tokio::test]
    async fn an_echo_passes_and_gets_the_payload() {
        let (port, task) = server(|d| Some(d.to_vec())).await;
        let spec = UdpSpec::from_config(&config(None, Some(""), 0, 255));
        let a = check(&connect_to(port, Duration::from_secs(2)), &spec).await;
        assert_eq!(a.outcome, Outcome::Success, "{a:?}");
        assert_eq!(task.await.expect("join"), filler(32));
    }

    #[tokio::test]
    async fn silence_passes_without_require_reply_and_fails_with_it() {
        let (port, _task) = server(|_| None).await;
        let spec = UdpSpec::from_config(&config(None, None, 0, 255));
        let a = check(&connect_to(port, Duration::from_millis(300)), &spec).await;
        assert_eq!(a.outcome, Outcome::Success, "{a:?}");

        let (port, _task) = server(|_| None).await;
        let spec = UdpSpec::from_config(&config(None, Some(""), 0, 255));
        let a = check(&connect_to(port, Duration::from_millis(300)), &spec).await;
        assert_eq!(a.outcome, Outcome::Failure);
        assert_eq!(a.reason, "no reply");
    }

    #[tokio::test]
    async fn a_closed_port_fails_on_the_icmp_port_unreachable() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = s.local_addr().expect("addr").port();
        drop(s);
        for reply in [None, Some("")] {
            let spec = UdpSpec::from_config(&config(None, reply, 0, 255));
            let a = check(&connect_to(port, Duration::from_secs(2)), &spec).await;
            assert_eq!(a.outcome, Outcome::Failure, "{a:?}");
            assert_eq!(a.reason, "destination unreachable (ICMP code 3)");
        }
    }

    #[tokio::test]
    async fn a_closed_ipv6_port_fails_on_the_icmpv6_port_unreachable() {
        let Ok(s) = std::net::UdpSocket::bind("[::1]:0") else {
            eprintln!("skipped: no IPv6 loopback here");
            return;
        };
        let port = s.local_addr().expect("addr").port();
        drop(s);
        let mut c = connect_to(port, Duration::from_secs(2));
        c.target = SocketAddr::new("::1".parse().expect("v6"), port);
        let spec = UdpSpec::from_config(&config(None, None, 0, 255));
        let a = check(&c, &spec).await;
        assert_eq!(a.outcome, Outcome::Failure, "{a:?}");
        assert_eq!(a.reason, "destination unreachable (ICMP code 4)");
    }

    #[tokio::test]
    async fn the_pattern_is_applied_to_the_reply() {
        let (port, _task) = server(|_| Some(b"PONG 42".to_vec())).await;
        let spec = UdpSpec::from_config(&config(Some("50494e47"), Some("504f4e47 20 3X"), 0, 255));
        let a = check(&connect_to(port, Duration::from_secs(2)), &spec).await;
        assert_eq!(a.outcome, Outcome::Success, "{a:?}");

        let (port, _task) = server(|_| Some(b"PANG 42".to_vec())).await;
        let a = check(&connect_to(port, Duration::from_secs(2)), &spec).await;
        assert_eq!(a.outcome, Outcome::Failure);
        assert_eq!(a.reason, REPLY_MISMATCH);
        assert_eq!(
            failure_line("[127.0.0.1]:udp:5", &a.reason),
            "UDP check to [127.0.0.1]:udp:5 reply data mismatch."
        );

        // Too long for max_reply_length.
        let (port, _task) = server(|_| Some(vec![b'P'; 20])).await;
        let spec = UdpSpec::from_config(&config(None, Some("50"), 0, 10));
        let a = check(&connect_to(port, Duration::from_secs(2)), &spec).await;
        assert_eq!(a.reason, REPLY_MISMATCH);
    }

    #[tokio::test]
    async fn a_bind_failure_counts_for_udp() {
        let mut c = connect_to(9, Duration::from_secs(1));
        c.bind_addr = Some([203, 0, 113, 7].into());
        let spec = UdpSpec::from_config(&config(None, None, 0, 255));
        let a = check(&c, &spec).await;
        assert_eq!(a.outcome, Outcome::Failure, "{a:?}");
    }

    #[test]
    fn log_texts() {
        let rs = "[192.0.2.10]:udp:53";
        assert_eq!(
            up_line(rs),
            "UDP connection to [192.0.2.10]:udp:53 success."
        );
        assert_eq!(
            down_line(rs, 0),
            "UDP_CHECK on service [192.0.2.10]:udp:53 failed."
        );
        assert_eq!(
            down_line(rs, 2),
            "UDP_CHECK on service [192.0.2.10]:udp:53 failed after 2 retries."
        );
        assert_eq!(
            failure_line(rs, "no reply"),
            "UDP connection to [192.0.2.10]:udp:53 failed."
        );
        assert_eq!(mail_up(), "=> UDP CHECK succeed on service <=");
        assert_eq!(mail_down(), "=> UDP CHECK failed on service <=");
    }
}
