//! The IPVS table as plain values: what a service and a destination are, how they are
//! identified, and the operations that change a table.
//!
//! Every other module speaks these types: the netlink codec encodes [`Op`]s and decodes dumps into
//! [`Service`]/[`Dest`], the in-memory backend applies [`Op`]s to a [`Table`], and the reconciler
//! compares a desired [`Table`] with a dumped one.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// Transport protocol of an address-identified service (IPPROTO numbers on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// SCTP (132).
    Sctp,
}

impl Protocol {
    /// The IPPROTO number IPVS expects.
    pub fn number(self) -> u16 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    /// The protocol for an IPPROTO number, if IPVS supports it.
    pub fn from_number(n: u16) -> Option<Protocol> {
        match n {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            132 => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// Lower-case name, as keepalived writes it in log lines (`[192.0.2.1]:tcp:80`).
    pub fn lower(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// Address family (AF_INET = 2, AF_INET6 = 10 on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// IPv4.
    Inet,
    /// IPv6.
    Inet6,
}

impl Family {
    /// The AF_* number.
    pub fn number(self) -> u16 {
        match self {
            Family::Inet => 2,
            Family::Inet6 => 10,
        }
    }

    /// The family for an AF_* number.
    pub fn from_number(n: u16) -> Option<Family> {
        match n {
            2 => Some(Family::Inet),
            10 => Some(Family::Inet6),
            _ => None,
        }
    }

    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Family {
        if addr.is_ipv4() {
            Family::Inet
        } else {
            Family::Inet6
        }
    }
}

/// How IPVS identifies a service: by (protocol, address, port) or by firewall mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceKey {
    /// `ipvsadm -t|-u|--sctp-service ADDR:PORT`.
    Addr {
        /// Protocol.
        protocol: Protocol,
        /// Virtual address (its family is the service's family).
        addr: IpAddr,
        /// Port (0 = every port, persistent services only).
        port: u16,
    },
    /// `ipvsadm -f MARK`.
    Fwmark {
        /// Family of the marked traffic.
        family: Family,
        /// The mark.
        mark: u32,
    },
}

impl ServiceKey {
    /// The service's address family.
    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Addr { addr, .. } => Family::of(addr),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }
}

impl fmt::Display for ServiceKey {
    /// keepalived's notation: `[192.0.2.1]:tcp:80`, `FWM 7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => write!(f, "[{addr}]:{}:{port}", protocol.lower()),
            ServiceKey::Fwmark { mark, .. } => write!(f, "FWM {mark}"),
        }
    }
}

/// Service flag bits (`IP_VS_SVC_F_*`).
pub mod svc_flags {
    /// Persistent service.
    pub const PERSISTENT: u32 = 0x01;
    /// Kernel-internal "hashed": always set on read-back, never meaningful to send.
    pub const HASHED: u32 = 0x02;
    /// One-packet scheduling (UDP).
    pub const ONEPACKET: u32 = 0x04;
    /// Scheduler flag 1 (sh/mh fallback).
    pub const SCHED1: u32 = 0x08;
    /// Scheduler flag 2 (sh/mh port).
    pub const SCHED2: u32 = 0x10;
    /// Scheduler flag 3.
    pub const SCHED3: u32 = 0x20;
}

/// The settable part of a service: what NEW_SERVICE / SET_SERVICE carry besides the identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceSpec {
    /// Scheduler name (`wlc`, `rr`, ...).
    pub scheduler: String,
    /// `svc_flags` bits, HASHED excluded.
    pub flags: u32,
    /// Persistence timeout in seconds (meaningful with PERSISTENT).
    pub timeout: u32,
    /// Persistence granularity as a prefix length (32 / 128 = per client address).
    pub netmask_prefix: u8,
    /// Persistence engine (`sip`), if any.
    pub pe_name: Option<String>,
}

impl ServiceSpec {
    /// A plain non-persistent service with the given scheduler and a host netmask.
    pub fn new(scheduler: &str, family: Family) -> ServiceSpec {
        ServiceSpec {
            scheduler: scheduler.to_string(),
            flags: 0,
            timeout: 0,
            netmask_prefix: match family {
                Family::Inet => 32,
                Family::Inet6 => 128,
            },
            pe_name: None,
        }
    }
}

/// A destination's identity within its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DestKey {
    /// Real server address (its family may differ from the service's for tunnels).
    pub addr: IpAddr,
    /// Port (0 for fwmark services with DR/TUN).
    pub port: u16,
}

impl fmt::Display for DestKey {
    /// `[192.0.2.10]:80`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]:{}", self.addr, self.port)
    }
}

/// Tunnel encapsulation (`IP_VS_CONN_F_TUNNEL_TYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    /// IP in IP (0), the only kind before Linux 5.2.
    Ipip,
    /// Generic UDP encapsulation (1), Linux 5.2+, needs a port.
    Gue,
    /// GRE (2), Linux 5.3+.
    Gre,
}

/// Tunnel checksum option (`IP_VS_TUNNEL_ENCAP_FLAG_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelChecksum {
    /// No checksum (0).
    NoCsum,
    /// Checksum (1).
    Csum,
    /// Remote checksum offload (2), GUE only.
    RemCsum,
}

/// Forwarding method of a destination (`IP_VS_CONN_F_*` & 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Forward {
    /// NAT (0).
    Masq,
    /// Local node (1).
    Local,
    /// Tunnelling (2).
    Tunnel {
        /// Encapsulation.
        kind: TunnelKind,
        /// UDP port for GUE (0 otherwise).
        port: u16,
        /// Checksum option (ignored for IPIP).
        checksum: TunnelChecksum,
    },
    /// Direct routing (3).
    Route,
    /// Bypass (4).
    Bypass,
}

impl Forward {
    /// The FWD_METHOD number.
    pub fn method(&self) -> u32 {
        match self {
            Forward::Masq => 0,
            Forward::Local => 1,
            Forward::Tunnel { .. } => 2,
            Forward::Route => 3,
            Forward::Bypass => 4,
        }
    }

    /// Plain IPIP tunnelling.
    pub fn ipip() -> Forward {
        Forward::Tunnel {
            kind: TunnelKind::Ipip,
            port: 0,
            checksum: TunnelChecksum::NoCsum,
        }
    }
}

/// The settable part of a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DestSpec {
    /// Forwarding method.
    pub forward: Forward,
    /// Weight, 0..=i32::MAX (0 = quiesced: no new connections, persistent clients still go).
    pub weight: u32,
    /// Upper connection threshold (0 = none).
    pub u_thresh: u32,
    /// Lower connection threshold (0 = none).
    pub l_thresh: u32,
}

/// Traffic counters, widened to 64 bits (STATS64 when the kernel has it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Incoming packets.
    pub inpkts: u64,
    /// Outgoing packets.
    pub outpkts: u64,
    /// Incoming bytes.
    pub inbytes: u64,
    /// Outgoing bytes.
    pub outbytes: u64,
    /// Connections per second.
    pub cps: u64,
    /// Incoming packets per second.
    pub inpps: u64,
    /// Outgoing packets per second.
    pub outpps: u64,
    /// Incoming bytes per second.
    pub inbps: u64,
    /// Outgoing bytes per second.
    pub outbps: u64,
}

/// A service as a dump reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Identity.
    pub key: ServiceKey,
    /// Settings (HASHED already masked out).
    pub spec: ServiceSpec,
    /// Counters.
    pub stats: Stats,
}

/// A destination as a dump reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    /// Identity.
    pub key: DestKey,
    /// Settings.
    pub spec: DestSpec,
    /// Active connections.
    pub active_conns: u32,
    /// Inactive connections.
    pub inactive_conns: u32,
    /// Persistent connection templates.
    pub persist_conns: u32,
    /// Counters.
    pub stats: Stats,
}

/// `lvs_timeouts`: seconds; 0 in a SET means "leave unchanged".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Timeouts {
    /// Established TCP.
    pub tcp: u32,
    /// TCP after FIN.
    pub tcp_fin: u32,
    /// UDP.
    pub udp: u32,
}

/// Role of a connection-sync daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SyncRole {
    /// Sends connection state (1).
    Master,
    /// Receives connection state (2).
    Backup,
}

impl SyncRole {
    /// The DAEMON_ATTR_STATE number.
    pub fn number(self) -> u32 {
        match self {
            SyncRole::Master => 1,
            SyncRole::Backup => 2,
        }
    }
}

/// An IPVS connection-sync daemon (`lvs_sync_daemon`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SyncDaemon {
    /// Master or backup.
    pub role: SyncRole,
    /// Interface the multicast goes out of / comes in on.
    pub interface: String,
    /// Sync id (0..255).
    pub sync_id: u32,
    /// Maximum message length (Linux 4.3+).
    pub maxlen: Option<u16>,
    /// Multicast group (Linux 4.3+).
    pub group: Option<IpAddr>,
    /// UDP port (Linux 4.3+).
    pub port: Option<u16>,
    /// Multicast TTL (Linux 4.3+).
    pub ttl: Option<u8>,
}

/// What GET_INFO says about the kernel's IPVS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// Version as 0xMMmmpp (0x010201 = 1.2.1).
    pub version: u32,
    /// Connection hash table size.
    pub conn_tab_size: u32,
}

/// One change to the IPVS table: what the reconciler emits and a backend applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// NEW_SERVICE.
    AddService(ServiceKey, ServiceSpec),
    /// SET_SERVICE.
    EditService(ServiceKey, ServiceSpec),
    /// DEL_SERVICE (the kernel drops its destinations).
    DelService(ServiceKey),
    /// NEW_DEST.
    AddDest(ServiceKey, DestKey, DestSpec),
    /// SET_DEST.
    EditDest(ServiceKey, DestKey, DestSpec),
    /// DEL_DEST.
    DelDest(ServiceKey, DestKey),
    /// FLUSH: every service of the namespace, whoever made it.
    Flush,
    /// SET_CONFIG.
    SetTimeouts(Timeouts),
    /// NEW_DAEMON.
    StartDaemon(SyncDaemon),
    /// DEL_DAEMON.
    StopDaemon(SyncRole),
    /// ZERO: one service's counters, or all.
    Zero(Option<ServiceKey>),
}

impl Op {
    /// keepalived's legacy sockopt name and number for this operation, as its error lines print it.
    pub fn sockopt(&self) -> (&'static str, u32) {
        match self {
            Op::AddService(..) => ("IP_VS_SO_SET_ADD", 1154),
            Op::EditService(..) => ("IP_VS_SO_SET_EDIT", 1155),
            Op::DelService(..) => ("IP_VS_SO_SET_DEL", 1156),
            Op::Flush => ("IP_VS_SO_SET_FLUSH", 1157),
            Op::AddDest(..) => ("IP_VS_SO_SET_ADDDEST", 1159),
            Op::DelDest(..) => ("IP_VS_SO_SET_DELDEST", 1160),
            Op::EditDest(..) => ("IP_VS_SO_SET_EDITDEST", 1161),
            Op::SetTimeouts(..) => ("IP_VS_SO_SET_TIMEOUT", 1162),
            Op::StartDaemon(..) => ("IP_VS_SO_SET_STARTDAEMON", 1163),
            Op::StopDaemon(..) => ("IP_VS_SO_SET_STOPDAEMON", 1164),
            Op::Zero(..) => ("IP_VS_SO_SET_ZERO", 1167),
        }
    }

    /// The service the operation names, if any.
    pub fn service(&self) -> Option<&ServiceKey> {
        match self {
            Op::AddService(k, _)
            | Op::EditService(k, _)
            | Op::DelService(k)
            | Op::AddDest(k, ..)
            | Op::EditDest(k, ..)
            | Op::DelDest(k, _) => Some(k),
            Op::Zero(k) => k.as_ref(),
            _ => None,
        }
    }
}

impl fmt::Display for Op {
    /// The target as keepalived's error lines show it: `192.0.2.1:tcp:80 -> 192.0.2.10:80`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let svc = |f: &mut fmt::Formatter<'_>, k: &ServiceKey| match k {
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => write!(f, "{addr}:{}:{port}", protocol.lower()),
            ServiceKey::Fwmark { mark, .. } => write!(f, "FWM {mark}"),
        };
        match self {
            Op::AddService(k, _) | Op::EditService(k, _) | Op::DelService(k) => svc(f, k),
            Op::AddDest(k, d, _) | Op::EditDest(k, d, _) | Op::DelDest(k, d) => {
                svc(f, k)?;
                write!(f, " -> {}:{}", d.addr, d.port)
            }
            Op::Zero(Some(k)) => svc(f, k),
            Op::Zero(None) | Op::Flush => write!(f, "all"),
            Op::SetTimeouts(t) => write!(f, "tcp {} tcpfin {} udp {}", t.tcp, t.tcp_fin, t.udp),
            Op::StartDaemon(d) => write!(f, "{:?} on {} id {}", d.role, d.interface, d.sync_id),
            Op::StopDaemon(r) => write!(f, "{r:?}"),
        }
    }
}

/// A whole IPVS table without counters: services with their settings and destinations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Services by identity.
    pub services: BTreeMap<ServiceKey, TableService>,
}

/// One service of a [`Table`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableService {
    /// Settings.
    pub spec: ServiceSpec,
    /// Destinations by identity.
    pub dests: BTreeMap<DestKey, DestSpec>,
}

impl Table {
    /// Number of destinations over all services.
    pub fn dest_count(&self) -> usize {
        self.services.values().map(|s| s.dests.len()).sum()
    }
}
