//! Connection set-up shared by the network checkers (keepalived's §3.0 rules): source address
//! and port (`bindto`, `bind_port`), interface (`bind_if`), `SO_MARK` (`fwmark`), target
//! (`connect_ip`/`connect_port`, defaulting to the real server), non-blocking connect bounded by
//! `connect_timeout` (no `SO_LINGER`, see [`socket`]); and which errors count as a failed check.

use crate::attempt::Attempt;
use ka_config::model::lvs::CheckerCommon;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::{TcpStream, UdpSocket};

/// Where and how a checker connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Target (`connect_ip`:`connect_port`, defaulting to the real server's address and port).
    pub target: SocketAddr,
    /// Source address (`bindto`).
    pub bind_addr: Option<IpAddr>,
    /// Source port (`bind_port`).
    pub bind_port: Option<u16>,
    /// Interface (`bind_if`).
    pub bind_if: Option<String>,
    /// `SO_MARK` (`fwmark`).
    pub fwmark: Option<u32>,
    /// `connect_timeout`: bounds the connect, and each later step of a dialogue.
    pub timeout: Duration,
}

impl Connect {
    /// The settings of a checker of real server `addr:port`.
    pub fn from_common(common: &CheckerCommon, addr: IpAddr, port: u16) -> Connect {
        Connect {
            target: SocketAddr::new(
                common.connect_ip.unwrap_or(addr),
                common.connect_port.unwrap_or(port),
            ),
            bind_addr: common.bindto,
            bind_port: common.bind_port,
            bind_if: common.bind_if.clone(),
            fwmark: common.fwmark,
            timeout: Duration::from_micros(common.connect_timeout_us.max(1)),
        }
    }
}

/// Why a connection failed: counted as a failed check, or only rescheduled.
#[derive(Debug)]
pub enum ConnectError {
    /// The server failed (refused, unreachable, reset, timed out): a failed check.
    Failed(String),
    /// Our side failed (bind, socket): not counted.
    Local(String),
}

impl ConnectError {
    /// As an attempt.
    pub fn attempt(self) -> Attempt {
        match self {
            ConnectError::Failed(r) => Attempt::failure(r),
            ConnectError::Local(r) => Attempt::not_counted(r),
        }
    }
}

/// Errors keepalived counts as a failed check when connect reports them.
fn counts(e: &io::Error) -> bool {
    matches!(
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
    )
}

fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => "connection refused".into(),
        Some(libc::ETIMEDOUT) => "Timeout connecting".into(),
        Some(libc::ENETUNREACH | libc::EHOSTUNREACH) => "network unreachable".into(),
        _ => e.to_string(),
    }
}

/// A socket of `ty` set up as the checker says (bound, marked, on its interface), non-blocking.
pub fn socket(c: &Connect, ty: Type, protocol: Option<Protocol>) -> Result<Socket, ConnectError> {
    let local = |e: io::Error| ConnectError::Local(format!("socket bind failed: {e}"));
    let domain = Domain::for_address(c.target);
    let s = Socket::new(domain, ty.cloexec().nonblocking(), protocol).map_err(local)?;
    // keepalived sets SO_LINGER {on, 5 s}; Linux then makes close() wait (up to 5 s, even on a
    // non-blocking socket) for the FIN to be acknowledged, which would stall every checker on
    // one slow server. Without it the wire is the same (FIN, not RST) and close() returns at once.
    if let Some(mark) = c.fwmark {
        s.set_mark(mark).map_err(local)?;
    }
    if let Some(dev) = &c.bind_if {
        s.bind_device(Some(dev.as_bytes())).map_err(local)?;
    }
    if c.bind_addr.is_some() || c.bind_port.is_some() {
        let ip = c.bind_addr.unwrap_or(match c.target {
            SocketAddr::V4(_) => IpAddr::from([0, 0, 0, 0]),
            SocketAddr::V6(_) => IpAddr::from([0u16; 8]),
        });
        if ty == Type::STREAM && c.bind_port.is_some() {
            s.set_reuse_address(true).map_err(local)?;
        }
        s.bind(&SockAddr::from(SocketAddr::new(
            ip,
            c.bind_port.unwrap_or(0),
        )))
        .map_err(local)?;
    }
    Ok(s)
}

/// A TCP connection within `connect_timeout`.
pub async fn connect_tcp(c: &Connect) -> Result<TcpStream, ConnectError> {
    let s = socket(c, Type::STREAM, Some(Protocol::TCP))?;
    match s.connect(&SockAddr::from(c.target)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) if counts(&e) => return Err(ConnectError::Failed(describe(&e))),
        Err(e) => return Err(ConnectError::Local(format!("connect: {e}"))),
    }
    let std: std::net::TcpStream = s.into();
    let stream = TcpStream::from_std(std).map_err(|e| ConnectError::Local(e.to_string()))?;
    match tokio::time::timeout(c.timeout, stream.writable()).await {
        Err(_) => return Err(ConnectError::Failed("Timeout connecting".into())),
        Ok(Err(e)) => return Err(ConnectError::Failed(describe(&e))),
        Ok(Ok(())) => {}
    }
    match stream.take_error() {
        Ok(None) => Ok(stream),
        Ok(Some(e)) | Err(e) => {
            if counts(&e) {
                Err(ConnectError::Failed(describe(&e)))
            } else {
                Err(ConnectError::Failed(format!("Error connecting: {e}")))
            }
        }
    }
}

/// A connected UDP socket (bound and marked as the checker says).
pub fn connect_udp(c: &Connect) -> Result<UdpSocket, ConnectError> {
    let s = socket(c, Type::DGRAM, Some(Protocol::UDP))?;
    s.connect(&SockAddr::from(c.target))
        .map_err(|e| ConnectError::Failed(describe(&e)))?;
    let std: std::net::UdpSocket = s.into();
    UdpSocket::from_std(std).map_err(|e| ConnectError::Local(e.to_string()))
}
