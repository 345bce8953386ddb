//! DNS_CHECK (§3.6): one query over UDP to the real server; any answer with our ID, QR=1 and
//! RCODE 0 is a pass (the answer section is not looked at, as in 2.2.7). Datagrams that are too
//! short, carry another ID or are queries are ignored until `connect_timeout`, which covers the
//! send and the wait together; a matching answer with RCODE ≠ 0 fails at once.

use crate::attempt::Attempt;
use crate::net::{socket, Connect, ConnectError};
use ka_config::model::lvs::DnsCheck;
use socket2::{Protocol, SockAddr, Type};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::UdpSocket;
use tokio::time::{timeout_at, Instant};

/// The query type when `type` is not given.
pub const DEFAULT_TYPE: &str = "SOA";
/// The name queried when `name` is not given: the root.
pub const DEFAULT_NAME: &str = ".";
/// The size of a DNS header; shorter datagrams are ignored.
pub const HEADER_LEN: usize = 12;
/// Receive buffer: only the header is read, the rest may be cut.
const RECV_BUFFER: usize = 1024;

/// The type code of a `type` keyword (case-insensitive), for the types 2.2.7 knows.
pub fn query_type_code(name: &str) -> Option<u16> {
    let code = match name.to_ascii_uppercase().as_str() {
        "A" => 1,
        "NS" => 2,
        "CNAME" => 5,
        "SOA" => 6,
        "MX" => 15,
        "TXT" => 16,
        "AAAA" => 28,
        "RRSIG" => 46,
        "DNSKEY" => 48,
        _ => return None,
    };
    Some(code)
}

/// The query bytes: header (`id`, RD=1, one question), QNAME, QTYPE `qtype`, QCLASS IN.
///
/// The name is split at dots into labels and ended by the root label; `.` (and the empty name)
/// is the root alone, and a trailing dot does not add an empty label — as 2.2.7 writes it. A
/// label is not checked for length: one over 63 bytes makes a query the server rejects, which
/// fails the check as it does with 2.2.7.
pub fn encode_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(HEADER_LEN + name.len() + 6);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    q.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    q.extend_from_slice(&[0; 6]); // AN, NS, AR counts
    let name = name.strip_suffix('.').unwrap_or(name);
    if !name.is_empty() {
        for label in name.split('.') {
            // 2.2.7 stores the length in one byte without a check.
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes()); // IN
    q
}

/// What a received datagram means for a query with `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Not ours (too short, another ID, or a query): keep waiting.
    Ignore,
    /// Our answer, NOERROR.
    Success,
    /// Our answer with this RCODE.
    Error(u8),
}

/// Judges one datagram against the query ID.
pub fn judge(id: u16, datagram: &[u8]) -> Reply {
    let Some(header) = datagram.get(..HEADER_LEN) else {
        return Reply::Ignore;
    };
    let got_id = u16::from_be_bytes([header[0], header[1]]);
    let flags = u16::from_be_bytes([header[2], header[3]]);
    if got_id != id || flags & 0x8000 == 0 {
        return Reply::Ignore;
    }
    match (flags & 0x000f) as u8 {
        0 => Reply::Success,
        rcode => Reply::Error(rcode),
    }
}

/// A query ID nobody can guess: SipHash (keyed from the OS's randomness once per process) of a
/// counter and the clock. No `rand` crate and no unsafe `getrandom` call are needed for 16 bits.
pub fn random_id() -> u16 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    let mut h = KEYS
        .get_or_init(std::collections::hash_map::RandomState::new)
        .build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    (h.finish() & 0xffff) as u16
}

/// The query type code and name a `DNS_CHECK` block asks for (defaults SOA and `.`; an unknown
/// type, which the configuration already refuses, falls back to SOA as 2.2.7 does).
pub fn query_of(spec: &DnsCheck) -> (u16, &str) {
    let qtype = query_type_code(&spec.query_type).unwrap_or(6);
    let name = if spec.name.is_empty() {
        DEFAULT_NAME
    } else {
        spec.name.as_str()
    };
    (qtype, name)
}

/// One DNS_CHECK attempt. Failure reasons are 2.2.7's messages (`read timeout from socket`,
/// `read error occurred. (rcode = 2)`...), logged as [`log_line`] shows; an attempt that
/// could not be made on our side is not counted, its reason `UDP socket bind failed.
/// Rescheduling.` (also through [`log_line`]).
pub async fn check(c: &Connect, spec: &DnsCheck) -> Attempt {
    let (qtype, name) = query_of(spec);
    let deadline = Instant::now() + c.timeout;
    let sock = match connect(c) {
        Ok(s) => s,
        Err(a) => return a,
    };
    let id = random_id();
    let query = encode_query(id, name, qtype);
    match timeout_at(deadline, sock.send(&query)).await {
        Err(_) => return Attempt::failure("write timeout to socket."),
        Ok(Err(_)) => return Attempt::failure("failed to write socket."),
        Ok(Ok(n)) if n != query.len() => {
            return Attempt::failure("failed to write all of the datagram.")
        }
        Ok(Ok(_)) => {}
    }
    let mut buf = [0u8; RECV_BUFFER];
    loop {
        let n = match timeout_at(deadline, sock.recv(&mut buf)).await {
            Err(_) => return Attempt::failure("read timeout from socket"),
            Ok(Err(e)) => {
                let errno = e.raw_os_error().unwrap_or(0);
                return Attempt::failure(format!(
                    "failed to read socket; errno {errno} ({})",
                    nix::errno::Errno::from_raw(errno).desc()
                ));
            }
            Ok(Ok(n)) => n,
        };
        match judge(id, buf.get(..n).unwrap_or_default()) {
            Reply::Ignore => continue,
            Reply::Success => return Attempt::success("succeed"),
            Reply::Error(rcode) => {
                return Attempt::failure(format!("read error occurred. (rcode = {rcode})"))
            }
        }
    }
}

/// The connected UDP socket, with 2.2.7's classification of what goes wrong: the socket or its
/// options (bind, mark, device) failing is not counted; connect reporting the network or host
/// unreachable (or refused, reset...) is a failure named `network unreachable for [addr]:port`.
fn connect(c: &Connect) -> Result<UdpSocket, Attempt> {
    const RESCHEDULING: &str = "UDP socket bind failed. Rescheduling.";
    let s = match socket(c, Type::DGRAM, Some(Protocol::UDP)) {
        Ok(s) => s,
        Err(ConnectError::Local(_) | ConnectError::Failed(_)) => {
            return Err(Attempt::not_counted(RESCHEDULING))
        }
    };
    if let Err(e) = s.connect(&SockAddr::from(c.target)) {
        let counted = matches!(
            e.raw_os_error(),
            Some(
                libc::ENETUNREACH
                    | libc::EHOSTUNREACH
                    | libc::ECONNREFUSED
                    | libc::EHOSTDOWN
                    | libc::ENETDOWN
                    | libc::ECONNRESET
                    | libc::ECONNABORTED
                    | libc::ETIMEDOUT
            )
        );
        return Err(if counted {
            Attempt::failure(format!(
                "network unreachable for [{}]:{}",
                c.target.ip(),
                c.target.port()
            ))
        } else {
            Attempt::not_counted(RESCHEDULING)
        });
    }
    let std: std::net::UdpSocket = s.into();
    UdpSocket::from_std(std).map_err(|_| Attempt::not_counted(RESCHEDULING))
}

/// A DNS_CHECK log line: `DNS_CHECK (<rs_name>) <message>`, with ` after N retries` when the
/// failure ends the retries of a checker that has run before (`retries` = `Some(retry)`);
/// `None` for a first-ever attempt or a failure logged under `log_all_failures`. 2.2.7 logs
/// failures only while the checker is up (or has not run), and nothing on success.
pub fn log_line(rs_name: &str, message: &str, retries: Option<u32>) -> String {
    match retries {
        Some(r) => format!("DNS_CHECK ({rs_name}) {message} after {r} retries"),
        None => format!("DNS_CHECK ({rs_name}) {message}"),
    }
}

/// The log line of the verdict down (the last attempt's reason; see [`log_line`]).
pub fn down_line(rs_name: &str, reason: &str, retries: Option<u32>) -> String {
    log_line(rs_name, reason, retries)
}

/// 2.2.7 logs nothing when a DNS_CHECK comes up (only the mail says it): always `None`, so the
/// engine can treat every checker alike.
pub fn up_line(_rs_name: &str) -> Option<String> {
    None
}

/// The mail body of a checker coming up.
pub fn mail_up() -> &'static str {
    "=> DNS_CHECK: succeed on service <="
}

/// The mail body of a checker going down.
pub fn mail_down() -> &'static str {
    "=> DNS_CHECK: failed on service <="
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

    fn spec() -> DnsCheck {
        DnsCheck {
            query_type: "SOA".into(),
            name: ".".into(),
        }
    }

    /// The answer a responder sends: `query`'s header and question with QR set, the given ID
    /// and RCODE, and the QR bit as asked.
    fn answer(query: &[u8], id: u16, qr: bool, rcode: u8) -> Vec<u8> {
        let mut a = query.to_vec();
        a[0..2].copy_from_slice(&id.to_be_bytes());
        let mut flags = u16::from_be_bytes([a[2], a[3]]) | 0x0080; // RA
        if qr {
            flags |= 0x8000;
        }
        flags = (flags & !0x000f) | u16::from(rcode);
        a[2..4].copy_from_slice(&flags.to_be_bytes());
        a
    }

    /// A responder that answers each query with the datagrams `make` builds from it.
    async fn responder(
        make: impl Fn(&[u8]) -> Vec<Vec<u8>> + Send + 'static,
    ) -> (u16, tokio::task::JoinHandle<Vec<Vec<u8>>>) {
        let s = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let port = s.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut buf = [0u8; 512];
            let Ok((n, from)) = s.recv_from(&mut buf).await else {
                return seen;
            };
            let q = buf[..n].to_vec();
            for d in make(&q) {
                let _ = s.send_to(&d, from).await;
            }
            seen.push(q);
            seen
        });
        (port, task)
    }

    #[test]
    fn queries_are_encoded_as_2_2_7_writes_them() {
        let q = encode_query(0x1234, ".", 6);
        assert_eq!(
            q,
            vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1]
        );
        let q = encode_query(0xbeef, "www.example.com", 1);
        let mut want = vec![0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
        assert_eq!(q, want);
        // A trailing dot names the same (absolute) name.
        assert_eq!(encode_query(0xbeef, "www.example.com.", 1), want);
        assert_eq!(encode_query(1, "", 6), encode_query(1, ".", 6));
    }

    #[test]
    fn type_codes() {
        let all = [
            ("A", 1),
            ("ns", 2),
            ("CNAME", 5),
            ("SOA", 6),
            ("MX", 15),
            ("TXT", 16),
            ("AAAA", 28),
            ("RRSIG", 46),
            ("DNSKEY", 48),
        ];
        for (name, code) in all {
            assert_eq!(query_type_code(name), Some(code), "{name}");
        }
        assert_eq!(query_type_code("PTR"), None);
    }

    #[test]
    fn replies_are_judged_on_id_qr_and_rcode() {
        let q = encode_query(7, ".", 6);
        assert_eq!(judge(7, &answer(&q, 7, true, 0)), Reply::Success);
        assert_eq!(judge(7, &answer(&q, 8, true, 0)), Reply::Ignore);
        assert_eq!(judge(7, &answer(&q, 7, false, 0)), Reply::Ignore);
        assert_eq!(judge(7, &answer(&q, 7, true, 3)), Reply::Error(3));
        assert_eq!(judge(7, &answer(&q, 7, true, 0)[..11]), Reply::Ignore);
        // The answer section is not looked at: a bare header passes.
        assert_eq!(judge(7, &answer(&q, 7, true, 0)[..12]), Reply::Success);
    }

    #[test]
    fn ids_vary() {
        let ids: std::collections::HashSet<u16> = (0..64).map(|_| random_id()).collect();
        assert!(ids.len() > 50, "{}", ids.len());
    }

    #[tokio::test]
    async fn a_good_answer_passes() {
        let (port, task) = responder(|q| {
            let id = u16::from_be_bytes([q[0], q[1]]);
            vec![answer(q, id, true, 0)]
        })
        .await;
        let a = check(&connect_to(port, Duration::from_secs(2)), &spec()).await;
        assert_eq!(a.outcome, Outcome::Success, "{a:?}");
        let seen = task.await.expect("join");
        let q = &seen[0];
        assert_eq!(&q[2..], &encode_query(0, ".", 6)[2..]);
    }

    #[tokio::test]
    async fn wrong_ids_and_queries_are_ignored_then_the_right_answer_passes() {
        let (port, _task) = responder(|q| {
            let id = u16::from_be_bytes([q[0], q[1]]);
            vec![
                answer(q, id.wrapping_add(1), true, 0),
                answer(q, id, false, 0),
                vec![1, 2, 3],
                answer(q, id, true, 0),
            ]
        })
        .await;
        let a = check(&connect_to(port, Duration::from_secs(2)), &spec()).await;
        assert_eq!(a.outcome, Outcome::Success, "{a:?}");
    }

    #[tokio::test]
    async fn only_a_wrong_id_times_out() {
        let (port, _task) = responder(|q| {
            let id = u16::from_be_bytes([q[0], q[1]]);
            vec![answer(q, id ^ 0x8000, true, 0)]
        })
        .await;
        let started = std::time::Instant::now();
        let a = check(&connect_to(port, Duration::from_millis(300)), &spec()).await;
        assert_eq!(a.outcome, Outcome::Failure);
        assert_eq!(a.reason, "read timeout from socket");
        assert!(started.elapsed() >= Duration::from_millis(290));
    }

    #[tokio::test]
    async fn a_query_echoed_back_is_ignored() {
        // QR=0: a reflector sending our own query back does not pass.
        let (port, _task) = responder(|q| vec![q.to_vec()]).await;
        let a = check(&connect_to(port, Duration::from_millis(300)), &spec()).await;
        assert_eq!(a.reason, "read timeout from socket");
    }

    #[tokio::test]
    async fn an_error_rcode_fails_at_once() {
        let (port, _task) = responder(|q| {
            let id = u16::from_be_bytes([q[0], q[1]]);
            vec![answer(q, id, true, 2)]
        })
        .await;
        let started = std::time::Instant::now();
        let a = check(&connect_to(port, Duration::from_secs(5)), &spec()).await;
        assert_eq!(a.outcome, Outcome::Failure);
        assert_eq!(a.reason, "read error occurred. (rcode = 2)");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_closed_port_fails_with_the_read_error() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = s.local_addr().expect("addr").port();
        drop(s);
        let a = check(&connect_to(port, Duration::from_secs(2)), &spec()).await;
        assert_eq!(a.outcome, Outcome::Failure);
        assert_eq!(
            a.reason,
            "failed to read socket; errno 111 (Connection refused)"
        );
    }

    #[tokio::test]
    async fn a_bind_failure_is_not_counted() {
        let mut c = connect_to(53, Duration::from_secs(1));
        c.bind_addr = Some([203, 0, 113, 7].into());
        let a = check(&c, &spec()).await;
        assert_eq!(a.outcome, Outcome::NotCounted, "{a:?}");
        assert_eq!(
            log_line("[192.0.2.10]:udp:53", &a.reason, None),
            "DNS_CHECK ([192.0.2.10]:udp:53) UDP socket bind failed. Rescheduling."
        );
    }

    #[test]
    fn log_texts() {
        assert_eq!(
            log_line("[192.0.2.10]:udp:53", "read timeout from socket", Some(3)),
            "DNS_CHECK ([192.0.2.10]:udp:53) read timeout from socket after 3 retries"
        );
        assert_eq!(up_line("x"), None);
        assert_eq!(mail_down(), "=> DNS_CHECK: failed on service <=");
        assert_eq!(mail_up(), "=> DNS_CHECK: succeed on service <=");
    }
}
