//! Pure encoding and decoding of the IPVS generic netlink protocol (no sockets here).
//!
//! The kernel's attribute validation for IPVS is the old lenient kind, so a wrong byte order or a
//! misplaced attribute is rarely refused: it silently programs something else. Everything here is
//! therefore written against the wire layout and tested on bytes:
//!
//! - ports (service, dest, GUE tunnel) are big-endian although typed `u16`;
//! - the IPv4 persistence netmask is a big-endian mask, the IPv6 one a host-order prefix length;
//! - service flags travel as `{u32 flags, u32 mask}` in host order, and HASHED comes back set;
//! - addresses are sent as the full 16-byte `nf_inet_addr`, IPv4 in the first four bytes;
//! - counters come twice (`STATS` with 32-bit packet counts, `STATS64`), the latter preferred.
//!
//! Requests are built with [`MsgWriter`]; replies are split with [`split`], classified with
//! [`reply`], collected per request with [`Collector`] and turned into table values with the
//! `decode_*` functions. The [`kernel_side`] module writes replies the way the kernel does, so the
//! decoders and fakes can be tested byte-exact.

use crate::backend::IpvsError;
use crate::table::{
    Dest, DestKey, DestSpec, Family, Forward, Info, Op, Protocol, Service, ServiceKey, ServiceSpec,
    Stats, SyncDaemon, SyncRole, Timeouts, TunnelChecksum, TunnelKind,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Size of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
/// Size of `struct genlmsghdr`.
pub const GENL_HDRLEN: usize = 4;
/// Size of `struct nlattr`.
const NLA_HDRLEN: usize = 4;
/// Attribute type bits; the top two are NLA_F_NESTED (0x8000) and NLA_F_NET_BYTEORDER (0x4000),
/// which some senders set and which never change what the type means.
const NLA_TYPE_MASK: u16 = 0x3fff;
/// Longest string we put in an attribute: the kernel's limits are 15/16 bytes, so anything longer
/// is refused by it anyway, and the cap keeps every length within a `u16`.
const MAX_STR: usize = 255;

/// Generic netlink family name of IPVS.
pub const FAMILY_NAME: &str = "IPVS";
/// IPVS generic netlink protocol version.
pub const VERSION: u8 = 1;

/// Netlink control message types (`NLMSG_*`).
pub mod nlmsg_type {
    /// Nothing; to be skipped.
    pub const NOOP: u16 = 1;
    /// Error or acknowledgement (errno 0).
    pub const ERROR: u16 = 2;
    /// End of a dump.
    pub const DONE: u16 = 3;
    /// Data lost.
    pub const OVERRUN: u16 = 4;
    /// First type that is a protocol (family) message.
    pub const MIN_TYPE: u16 = 0x10;
}

/// Netlink header flags (`NLM_F_*`).
pub mod nlm_flags {
    /// A request (always set by us).
    pub const REQUEST: u16 = 0x1;
    /// Part of a multipart reply.
    pub const MULTI: u16 = 0x2;
    /// Ask for an acknowledgement.
    pub const ACK: u16 = 0x4;
    /// Dump everything (ROOT | MATCH).
    pub const DUMP: u16 = 0x300;
}

/// The generic netlink controller, which maps family names to their dynamic ids.
pub mod ctrl {
    /// Fixed family id of the controller (`GENL_ID_CTRL`).
    pub const GENL_ID_CTRL: u16 = 0x10;
    /// Controller protocol version we speak.
    pub const VERSION: u8 = 1;
    /// Reply carrying a family.
    pub const CMD_NEWFAMILY: u8 = 1;
    /// Ask for a family.
    pub const CMD_GETFAMILY: u8 = 3;
    /// Family id (u16).
    pub const ATTR_FAMILY_ID: u16 = 1;
    /// Family name (NUL-terminated string).
    pub const ATTR_FAMILY_NAME: u16 = 2;
}

/// IPVS commands (`IPVS_CMD_*`).
pub mod cmd {
    /// Add a service; also the command of service replies.
    pub const NEW_SERVICE: u8 = 1;
    /// Edit a service.
    pub const SET_SERVICE: u8 = 2;
    /// Delete a service.
    pub const DEL_SERVICE: u8 = 3;
    /// Get one service, or dump all.
    pub const GET_SERVICE: u8 = 4;
    /// Add a destination; also the command of dest replies.
    pub const NEW_DEST: u8 = 5;
    /// Edit a destination.
    pub const SET_DEST: u8 = 6;
    /// Delete a destination.
    pub const DEL_DEST: u8 = 7;
    /// Dump the destinations of a service.
    pub const GET_DEST: u8 = 8;
    /// Start a sync daemon; also the command of daemon replies.
    pub const NEW_DAEMON: u8 = 9;
    /// Stop a sync daemon.
    pub const DEL_DAEMON: u8 = 10;
    /// Dump the sync daemons.
    pub const GET_DAEMON: u8 = 11;
    /// Set timeouts; also the command of the GET_CONFIG reply.
    pub const SET_CONFIG: u8 = 12;
    /// Get timeouts.
    pub const GET_CONFIG: u8 = 13;
    /// Command of the GET_INFO reply.
    pub const SET_INFO: u8 = 14;
    /// Get version and connection table size.
    pub const GET_INFO: u8 = 15;
    /// Zero counters.
    pub const ZERO: u8 = 16;
    /// Delete every service of the namespace.
    pub const FLUSH: u8 = 17;
}

/// Top-level IPVS attributes (`IPVS_CMD_ATTR_*`).
pub mod cmd_attr {
    /// Nested service.
    pub const SERVICE: u16 = 1;
    /// Nested destination.
    pub const DEST: u16 = 2;
    /// Nested sync daemon.
    pub const DAEMON: u16 = 3;
    /// TCP timeout, seconds (u32).
    pub const TIMEOUT_TCP: u16 = 4;
    /// TCP FIN timeout, seconds (u32).
    pub const TIMEOUT_TCP_FIN: u16 = 5;
    /// UDP timeout, seconds (u32).
    pub const TIMEOUT_UDP: u16 = 6;
}

/// Service attributes (`IPVS_SVC_ATTR_*`).
pub mod svc_attr {
    /// Address family (u16).
    pub const AF: u16 = 1;
    /// IPPROTO (u16), absent for fwmark services.
    pub const PROTOCOL: u16 = 2;
    /// Address (16 bytes).
    pub const ADDR: u16 = 3;
    /// Port (big-endian u16).
    pub const PORT: u16 = 4;
    /// Firewall mark (u32).
    pub const FWMARK: u16 = 5;
    /// Scheduler name (string).
    pub const SCHED_NAME: u16 = 6;
    /// `{u32 flags, u32 mask}`, host order.
    pub const FLAGS: u16 = 7;
    /// Persistence timeout, seconds (u32).
    pub const TIMEOUT: u16 = 8;
    /// Persistence netmask (IPv4 big-endian mask / IPv6 host-order prefix length).
    pub const NETMASK: u16 = 9;
    /// 32-bit counters (nested).
    pub const STATS: u16 = 10;
    /// Persistence engine name (string).
    pub const PE_NAME: u16 = 11;
    /// 64-bit counters (nested, 4.1+).
    pub const STATS64: u16 = 12;
}

/// Destination attributes (`IPVS_DEST_ATTR_*`).
pub mod dest_attr {
    /// Address (16 bytes).
    pub const ADDR: u16 = 1;
    /// Port (big-endian u16).
    pub const PORT: u16 = 2;
    /// Forwarding method (u32, & 7).
    pub const FWD_METHOD: u16 = 3;
    /// Weight (u32).
    pub const WEIGHT: u16 = 4;
    /// Upper threshold (u32).
    pub const U_THRESH: u16 = 5;
    /// Lower threshold (u32).
    pub const L_THRESH: u16 = 6;
    /// Active connections (u32, read-only).
    pub const ACTIVE_CONNS: u16 = 7;
    /// Inactive connections (u32, read-only).
    pub const INACT_CONNS: u16 = 8;
    /// Persistent templates (u32, read-only).
    pub const PERSIST_CONNS: u16 = 9;
    /// 32-bit counters (nested).
    pub const STATS: u16 = 10;
    /// Address family of the destination (u16, 3.18+).
    pub const ADDR_FAMILY: u16 = 11;
    /// 64-bit counters (nested, 4.1+).
    pub const STATS64: u16 = 12;
    /// Tunnel type (u8, 5.2+).
    pub const TUN_TYPE: u16 = 13;
    /// GUE port (big-endian u16, 5.2+).
    pub const TUN_PORT: u16 = 14;
    /// Tunnel checksum flags (u16, 5.3+).
    pub const TUN_FLAGS: u16 = 15;
}

/// Sync daemon attributes (`IPVS_DAEMON_ATTR_*`).
pub mod daemon_attr {
    /// 1 master, 2 backup (u32).
    pub const STATE: u16 = 1;
    /// Interface (string).
    pub const MCAST_IFN: u16 = 2;
    /// Sync id (u32).
    pub const SYNC_ID: u16 = 3;
    /// Maximum message length (u16, 4.3+).
    pub const SYNC_MAXLEN: u16 = 4;
    /// IPv4 group (4 bytes, network order, 4.3+).
    pub const MCAST_GROUP: u16 = 5;
    /// IPv6 group (16 bytes, 4.3+).
    pub const MCAST_GROUP6: u16 = 6;
    /// UDP port (u16 **host** order, 4.3+).
    pub const MCAST_PORT: u16 = 7;
    /// TTL (u8, 4.3+).
    pub const MCAST_TTL: u16 = 8;
}

/// Counter attributes inside STATS / STATS64 (`IPVS_STATS_ATTR_*`).
pub mod stats_attr {
    /// Connections.
    pub const CONNS: u16 = 1;
    /// Incoming packets.
    pub const INPKTS: u16 = 2;
    /// Outgoing packets.
    pub const OUTPKTS: u16 = 3;
    /// Incoming bytes (u64 in both nests).
    pub const INBYTES: u16 = 4;
    /// Outgoing bytes (u64 in both nests).
    pub const OUTBYTES: u16 = 5;
    /// Connections per second.
    pub const CPS: u16 = 6;
    /// Incoming packets per second.
    pub const INPPS: u16 = 7;
    /// Outgoing packets per second.
    pub const OUTPPS: u16 = 8;
    /// Incoming bytes per second.
    pub const INBPS: u16 = 9;
    /// Outgoing bytes per second.
    pub const OUTBPS: u16 = 10;
    /// Alignment padding before u64 values.
    pub const PAD: u16 = 11;
}

/// GET_INFO reply attributes (`IPVS_INFO_ATTR_*`).
pub mod info_attr {
    /// Version 0xMMmmpp (u32).
    pub const VERSION: u16 = 1;
    /// Connection table size (u32).
    pub const CONN_TAB_SIZE: u16 = 2;
}

/// Tunnel types (`IP_VS_CONN_F_TUNNEL_TYPE_*`).
pub mod tun_type {
    /// IP in IP.
    pub const IPIP: u8 = 0;
    /// Generic UDP encapsulation.
    pub const GUE: u8 = 1;
    /// GRE.
    pub const GRE: u8 = 2;
}

/// Tunnel checksum flags (`IP_VS_TUNNEL_ENCAP_FLAG_*`).
pub mod tun_flags {
    /// No checksum.
    pub const NOCSUM: u16 = 0;
    /// Checksum.
    pub const CSUM: u16 = 1;
    /// Remote checksum offload.
    pub const REMCSUM: u16 = 2;
}

fn decode_err(msg: impl Into<String>) -> IpvsError {
    IpvsError::Decode(msg.into())
}

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

// ------------------------------------------------------------------------------------------------
// Writing
// ------------------------------------------------------------------------------------------------

/// Builds one netlink message attribute by attribute, patching lengths at the end, so request
/// encoders read like the attribute tables of the spec.
#[derive(Debug, Clone)]
pub struct MsgWriter {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl MsgWriter {
    /// A message with a netlink header only (pid 0: the kernel fills in ours).
    pub fn new(ty: u16, flags: u16, seq: u32) -> MsgWriter {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        MsgWriter {
            buf,
            nests: Vec::new(),
        }
    }

    /// A generic netlink message: netlink header plus `genlmsghdr {cmd, version}`.
    pub fn genl(family: u16, flags: u16, seq: u32, command: u8, version: u8) -> MsgWriter {
        let mut w = MsgWriter::new(family, flags, seq);
        w.buf.extend_from_slice(&[command, version, 0, 0]);
        w
    }

    /// Appends raw bytes (headers of hand-built messages).
    pub fn raw(&mut self, data: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(data);
        self
    }

    /// Appends one attribute with its padding.
    pub fn put(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        let len = (NLA_HDRLEN + data.len()).min(u16::MAX as usize);
        let data = &data[..len - NLA_HDRLEN];
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
        self
    }

    fn pad(&mut self) {
        let padded = align4(self.buf.len());
        self.buf.resize(padded, 0);
    }

    /// A u8 attribute.
    pub fn u8(&mut self, ty: u16, v: u8) -> &mut Self {
        self.put(ty, &[v])
    }

    /// A host-order u16 attribute.
    pub fn u16(&mut self, ty: u16, v: u16) -> &mut Self {
        self.put(ty, &v.to_ne_bytes())
    }

    /// A network-order u16 attribute (ports).
    pub fn be16(&mut self, ty: u16, v: u16) -> &mut Self {
        self.put(ty, &v.to_be_bytes())
    }

    /// A host-order u32 attribute.
    pub fn u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.put(ty, &v.to_ne_bytes())
    }

    /// A host-order u64 attribute.
    pub fn u64(&mut self, ty: u16, v: u64) -> &mut Self {
        self.put(ty, &v.to_ne_bytes())
    }

    /// A NUL-terminated string attribute (capped at 255 bytes; the kernel refuses long names).
    pub fn string(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut end = s.len().min(MAX_STR);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut data = Vec::with_capacity(end + 1);
        data.extend_from_slice(&s.as_bytes()[..end]);
        data.push(0);
        self.put(ty, &data)
    }

    /// Opens a nested attribute (without NLA_F_NESTED, like the kernel's own replies).
    pub fn begin(&mut self, ty: u16) -> &mut Self {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self
    }

    /// Closes the innermost nested attribute.
    pub fn end(&mut self) -> &mut Self {
        if let Some(start) = self.nests.pop() {
            let len = (self.buf.len() - start).min(u16::MAX as usize) as u16;
            self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
        self
    }

    /// The finished message with its length filled in (open nests are closed).
    pub fn finish(mut self) -> Vec<u8> {
        while !self.nests.is_empty() {
            self.end();
        }
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// 16 bytes, IPv4 in the first four (what the kernel's `nf_inet_addr` holds).
fn addr_bytes(addr: &IpAddr) -> [u8; 16] {
    let mut out = [0u8; 16];
    match addr {
        IpAddr::V4(a) => out[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => out.copy_from_slice(&a.octets()),
    }
    out
}

/// The NETMASK attribute's four bytes for a prefix: IPv4 a big-endian mask, IPv6 the prefix as a
/// host-order u32 (the kernel stores both raw in a `__be32` and compares the IPv6 one as a number).
fn netmask_bytes(family: Family, prefix: u8) -> [u8; 4] {
    match family {
        Family::Inet => {
            let p = u32::from(prefix.min(32));
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            mask.to_be_bytes()
        }
        Family::Inet6 => u32::from(prefix).to_ne_bytes(),
    }
}

fn put_service_id(w: &mut MsgWriter, key: &ServiceKey) {
    w.u16(svc_attr::AF, key.family().number());
    match key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            w.u16(svc_attr::PROTOCOL, protocol.number());
            w.put(svc_attr::ADDR, &addr_bytes(addr));
            w.be16(svc_attr::PORT, *port);
        }
        ServiceKey::Fwmark { mark, .. } => {
            w.u32(svc_attr::FWMARK, *mark);
        }
    }
}

fn flags_bytes(flags: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&flags.to_ne_bytes());
    out[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
    out
}

fn put_service_spec(w: &mut MsgWriter, family: Family, spec: &ServiceSpec) {
    w.string(svc_attr::SCHED_NAME, &spec.scheduler);
    w.put(
        svc_attr::FLAGS,
        &flags_bytes(spec.flags & !crate::table::svc_flags::HASHED),
    );
    w.u32(svc_attr::TIMEOUT, spec.timeout);
    w.put(
        svc_attr::NETMASK,
        &netmask_bytes(family, spec.netmask_prefix),
    );
    if let Some(pe) = &spec.pe_name {
        w.string(svc_attr::PE_NAME, pe);
    }
}

fn service_nest(w: &mut MsgWriter, key: &ServiceKey, spec: Option<&ServiceSpec>) {
    w.begin(cmd_attr::SERVICE);
    put_service_id(w, key);
    if let Some(spec) = spec {
        put_service_spec(w, key.family(), spec);
    }
    w.end();
}

fn tunnel_type(kind: TunnelKind) -> u8 {
    match kind {
        TunnelKind::Ipip => tun_type::IPIP,
        TunnelKind::Gue => tun_type::GUE,
        TunnelKind::Gre => tun_type::GRE,
    }
}

fn checksum_flags(c: TunnelChecksum) -> u16 {
    match c {
        TunnelChecksum::NoCsum => tun_flags::NOCSUM,
        TunnelChecksum::Csum => tun_flags::CSUM,
        TunnelChecksum::RemCsum => tun_flags::REMCSUM,
    }
}

fn dest_nest(w: &mut MsgWriter, key: &DestKey, spec: Option<&DestSpec>) {
    w.begin(cmd_attr::DEST);
    w.put(dest_attr::ADDR, &addr_bytes(&key.addr));
    w.be16(dest_attr::PORT, key.port);
    if let Some(spec) = spec {
        w.u32(dest_attr::FWD_METHOD, spec.forward.method());
        w.u32(dest_attr::WEIGHT, spec.weight);
        w.u32(dest_attr::U_THRESH, spec.u_thresh);
        w.u32(dest_attr::L_THRESH, spec.l_thresh);
    }
    w.u16(dest_attr::ADDR_FAMILY, Family::of(&key.addr).number());
    if let Some(DestSpec {
        forward:
            Forward::Tunnel {
                kind,
                port,
                checksum,
            },
        ..
    }) = spec
    {
        w.u8(dest_attr::TUN_TYPE, tunnel_type(*kind));
        if *kind == TunnelKind::Gue {
            w.be16(dest_attr::TUN_PORT, *port);
        }
        if *kind != TunnelKind::Ipip {
            w.u16(dest_attr::TUN_FLAGS, checksum_flags(*checksum));
        }
    }
    w.end();
}

fn daemon_nest(w: &mut MsgWriter, d: &SyncDaemon) {
    w.begin(cmd_attr::DAEMON);
    w.u32(daemon_attr::STATE, d.role.number());
    w.string(daemon_attr::MCAST_IFN, &d.interface);
    w.u32(daemon_attr::SYNC_ID, d.sync_id);
    if let Some(maxlen) = d.maxlen {
        w.u16(daemon_attr::SYNC_MAXLEN, maxlen);
    }
    match d.group {
        Some(IpAddr::V4(g)) => {
            w.put(daemon_attr::MCAST_GROUP, &g.octets());
        }
        Some(IpAddr::V6(g)) => {
            w.put(daemon_attr::MCAST_GROUP6, &g.octets());
        }
        None => {}
    }
    if let Some(port) = d.port {
        w.u16(daemon_attr::MCAST_PORT, port);
    }
    if let Some(ttl) = d.ttl {
        w.u8(daemon_attr::MCAST_TTL, ttl);
    }
    w.end();
}

/// The generic netlink command that carries an operation.
pub fn op_command(op: &Op) -> u8 {
    match op {
        Op::AddService(..) => cmd::NEW_SERVICE,
        Op::EditService(..) => cmd::SET_SERVICE,
        Op::DelService(..) => cmd::DEL_SERVICE,
        Op::AddDest(..) => cmd::NEW_DEST,
        Op::EditDest(..) => cmd::SET_DEST,
        Op::DelDest(..) => cmd::DEL_DEST,
        Op::Flush => cmd::FLUSH,
        Op::SetTimeouts(..) => cmd::SET_CONFIG,
        Op::StartDaemon(..) => cmd::NEW_DAEMON,
        Op::StopDaemon(..) => cmd::DEL_DAEMON,
        Op::Zero(..) => cmd::ZERO,
    }
}

/// One operation as a request with ACK, for the IPVS family id `family`.
pub fn encode_op(family: u16, seq: u32, op: &Op) -> Vec<u8> {
    let mut w = MsgWriter::genl(
        family,
        nlm_flags::REQUEST | nlm_flags::ACK,
        seq,
        op_command(op),
        VERSION,
    );
    match op {
        Op::AddService(key, spec) | Op::EditService(key, spec) => {
            service_nest(&mut w, key, Some(spec));
        }
        Op::DelService(key) | Op::Zero(Some(key)) => service_nest(&mut w, key, None),
        Op::AddDest(svc, key, spec) | Op::EditDest(svc, key, spec) => {
            service_nest(&mut w, svc, None);
            dest_nest(&mut w, key, Some(spec));
        }
        Op::DelDest(svc, key) => {
            service_nest(&mut w, svc, None);
            dest_nest(&mut w, key, None);
        }
        Op::Flush | Op::Zero(None) => {}
        Op::SetTimeouts(t) => {
            w.u32(cmd_attr::TIMEOUT_TCP, t.tcp);
            w.u32(cmd_attr::TIMEOUT_TCP_FIN, t.tcp_fin);
            w.u32(cmd_attr::TIMEOUT_UDP, t.udp);
        }
        Op::StartDaemon(d) => daemon_nest(&mut w, d),
        Op::StopDaemon(role) => {
            w.begin(cmd_attr::DAEMON);
            w.u32(daemon_attr::STATE, role.number());
            w.end();
        }
    }
    w.finish()
}

fn dump_request(family: u16, seq: u32, command: u8) -> MsgWriter {
    MsgWriter::genl(
        family,
        nlm_flags::REQUEST | nlm_flags::ACK | nlm_flags::DUMP,
        seq,
        command,
        VERSION,
    )
}

fn doit_request(family: u16, seq: u32, command: u8) -> MsgWriter {
    MsgWriter::genl(
        family,
        nlm_flags::REQUEST | nlm_flags::ACK,
        seq,
        command,
        VERSION,
    )
}

/// GET_SERVICE as a dump: every service of the namespace.
pub fn encode_get_services(family: u16, seq: u32) -> Vec<u8> {
    dump_request(family, seq, cmd::GET_SERVICE).finish()
}

/// GET_SERVICE for one service (answered by one NEW_SERVICE or ESRCH).
pub fn encode_get_service(family: u16, seq: u32, key: &ServiceKey) -> Vec<u8> {
    let mut w = doit_request(family, seq, cmd::GET_SERVICE);
    service_nest(&mut w, key, None);
    w.finish()
}

/// GET_DEST (dump-only): the destinations of the service named in CMD_ATTR_SERVICE.
pub fn encode_get_dests(family: u16, seq: u32, key: &ServiceKey) -> Vec<u8> {
    let mut w = dump_request(family, seq, cmd::GET_DEST);
    service_nest(&mut w, key, None);
    w.finish()
}

/// GET_CONFIG: the three timeouts.
pub fn encode_get_config(family: u16, seq: u32) -> Vec<u8> {
    doit_request(family, seq, cmd::GET_CONFIG).finish()
}

/// GET_INFO: version and connection table size.
pub fn encode_get_info(family: u16, seq: u32) -> Vec<u8> {
    doit_request(family, seq, cmd::GET_INFO).finish()
}

/// GET_DAEMON (dump-only): the running sync daemons.
pub fn encode_get_daemons(family: u16, seq: u32) -> Vec<u8> {
    dump_request(family, seq, cmd::GET_DAEMON).finish()
}

/// CTRL_CMD_GETFAMILY for a family name (`"IPVS"`): resolves the dynamic family id, and makes the
/// kernel autoload the module that provides it.
pub fn encode_get_family(seq: u32, name: &str) -> Vec<u8> {
    let mut w = MsgWriter::genl(
        ctrl::GENL_ID_CTRL,
        nlm_flags::REQUEST | nlm_flags::ACK,
        seq,
        ctrl::CMD_GETFAMILY,
        ctrl::VERSION,
    );
    w.string(ctrl::ATTR_FAMILY_NAME, name);
    w.finish()
}

// ------------------------------------------------------------------------------------------------
// Reading
// ------------------------------------------------------------------------------------------------

/// One netlink message inside a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NlMsg<'a> {
    /// `nlmsg_type`: a control type or the family id.
    pub ty: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`, matched against the request.
    pub seq: u32,
    /// `nlmsg_pid`.
    pub pid: u32,
    /// Everything after the header.
    pub payload: &'a [u8],
}

fn ne_u16(b: &[u8]) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(..2)?.try_into().ok()?))
}

fn ne_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(..4)?.try_into().ok()?))
}

/// Splits a datagram into its netlink messages (4-byte aligned, lengths checked).
pub fn split(buf: &[u8]) -> Result<Vec<NlMsg<'_>>, IpvsError> {
    let mut out = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        if rest.len() < NLMSG_HDRLEN {
            return Err(decode_err(format!(
                "{} trailing bytes, shorter than a netlink header",
                rest.len()
            )));
        }
        let len = ne_u32(rest).unwrap_or(0) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return Err(decode_err(format!(
                "netlink message length {len} with {} bytes left",
                rest.len()
            )));
        }
        out.push(NlMsg {
            ty: ne_u16(&rest[4..]).unwrap_or(0),
            flags: ne_u16(&rest[6..]).unwrap_or(0),
            seq: ne_u32(&rest[8..]).unwrap_or(0),
            pid: ne_u32(&rest[12..]).unwrap_or(0),
            payload: &rest[NLMSG_HDRLEN..len],
        });
        rest = &rest[align4(len).min(rest.len())..];
    }
    Ok(out)
}

/// A generic netlink message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenlMsg<'a> {
    /// Command.
    pub cmd: u8,
    /// Family protocol version.
    pub version: u8,
    /// The attributes after the generic header.
    pub attrs: &'a [u8],
}

/// Reads the generic netlink header of a family message.
pub fn genl(payload: &[u8]) -> Result<GenlMsg<'_>, IpvsError> {
    if payload.len() < GENL_HDRLEN {
        return Err(decode_err("generic netlink message without its header"));
    }
    Ok(GenlMsg {
        cmd: payload[0],
        version: payload[1],
        attrs: &payload[GENL_HDRLEN..],
    })
}

/// What a received message means for the request with its sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// NLMSG_ERROR with errno 0.
    Ack,
    /// NLMSG_ERROR (or a failed NLMSG_DONE) with this positive errno.
    Error(i32),
    /// NLMSG_DONE: the dump is complete.
    Done,
    /// A family message (data).
    Data(GenlMsg<'a>),
    /// NOOP and reserved control types.
    Ignore,
}

fn errno_of(code: i32) -> Result<Option<i32>, IpvsError> {
    match code {
        0 => Ok(None),
        c if c < 0 => Ok(Some(c.checked_neg().unwrap_or(i32::MAX))),
        c => Err(decode_err(format!("positive error code {c}"))),
    }
}

/// Classifies one message.
pub fn reply<'a>(msg: &NlMsg<'a>) -> Result<Reply<'a>, IpvsError> {
    match msg.ty {
        nlmsg_type::ERROR => {
            let code = ne_u32(msg.payload)
                .ok_or_else(|| decode_err("NLMSG_ERROR without an error code"))?
                as i32;
            Ok(match errno_of(code)? {
                None => Reply::Ack,
                Some(e) => Reply::Error(e),
            })
        }
        nlmsg_type::DONE => match ne_u32(msg.payload) {
            None => Ok(Reply::Done),
            Some(code) => Ok(match errno_of(code as i32)? {
                None => Reply::Done,
                Some(e) => Reply::Error(e),
            }),
        },
        nlmsg_type::OVERRUN => Err(decode_err("netlink overrun: replies were lost")),
        ty if ty >= nlmsg_type::MIN_TYPE => Ok(Reply::Data(genl(msg.payload)?)),
        _ => Ok(Reply::Ignore),
    }
}

/// A family message kept after its datagram buffer is reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedGenl {
    /// Command.
    pub cmd: u8,
    /// Attributes.
    pub attrs: Vec<u8>,
}

/// Gathers the replies to one request over as many datagrams as the kernel sends, ignoring
/// messages for other sequence numbers (late answers to an abandoned request), until the ACK,
/// the error, or — for dumps — NLMSG_DONE.
#[derive(Debug, Clone)]
pub struct Collector {
    seq: u32,
    dump: bool,
    data: Vec<OwnedGenl>,
    outcome: Option<Option<i32>>,
}

impl Collector {
    /// Waits for the replies to request `seq`; `dump` requests end with NLMSG_DONE.
    pub fn new(seq: u32, dump: bool) -> Collector {
        Collector {
            seq,
            dump,
            data: Vec::new(),
            outcome: None,
        }
    }

    /// Whether the answer is complete.
    pub fn is_complete(&self) -> bool {
        self.outcome.is_some()
    }

    /// Takes one received datagram; returns whether the answer is now complete.
    pub fn feed(&mut self, datagram: &[u8]) -> Result<bool, IpvsError> {
        for msg in split(datagram)? {
            if self.outcome.is_some() {
                break;
            }
            if msg.seq != self.seq {
                continue;
            }
            match reply(&msg)? {
                // A dump is not acknowledged by the kernel; accept an ACK as its end anyway.
                Reply::Ack => self.outcome = Some(None),
                Reply::Error(e) => self.outcome = Some(Some(e)),
                Reply::Done => {
                    if self.dump {
                        self.outcome = Some(None);
                    }
                }
                Reply::Data(g) => self.data.push(OwnedGenl {
                    cmd: g.cmd,
                    attrs: g.attrs.to_vec(),
                }),
                Reply::Ignore => {}
            }
        }
        Ok(self.is_complete())
    }

    /// The data messages, or the kernel's errno.
    pub fn finish(self) -> Result<Vec<OwnedGenl>, IpvsError> {
        match self.outcome {
            Some(None) => Ok(self.data),
            Some(Some(errno)) => Err(IpvsError::Kernel { errno }),
            None => Err(decode_err("the answer ended before its ACK or DONE")),
        }
    }
}

/// The attributes of one level, by type (types we do not know are dropped; the last of a repeated
/// type wins, as in the kernel's own parser).
#[derive(Debug, Clone, Copy)]
pub struct Attrs<'a> {
    slots: [Option<&'a [u8]>; 16],
}

impl<'a> Attrs<'a> {
    /// Parses one attribute level.
    pub fn parse(data: &'a [u8]) -> Result<Attrs<'a>, IpvsError> {
        let mut slots = [None; 16];
        let mut rest = data;
        // Fewer than a header's worth of trailing bytes is padding, which the kernel tolerates too.
        while rest.len() >= NLA_HDRLEN {
            let len = ne_u16(rest).unwrap_or(0) as usize;
            let ty = ne_u16(&rest[2..]).unwrap_or(0) & NLA_TYPE_MASK;
            if len < NLA_HDRLEN || len > rest.len() {
                return Err(decode_err(format!(
                    "attribute {ty} length {len} with {} bytes left",
                    rest.len()
                )));
            }
            if let Some(slot) = slots.get_mut(ty as usize) {
                *slot = Some(&rest[NLA_HDRLEN..len]);
            }
            rest = &rest[align4(len).min(rest.len())..];
        }
        Ok(Attrs { slots })
    }

    /// The payload of an attribute, if present.
    pub fn get(&self, ty: u16) -> Option<&'a [u8]> {
        self.slots.get(ty as usize).copied().flatten()
    }

    fn fixed<const N: usize>(&self, ty: u16, what: &str) -> Result<Option<[u8; N]>, IpvsError> {
        match self.get(ty) {
            None => Ok(None),
            Some(d) => d
                .get(..N)
                .and_then(|b| <[u8; N]>::try_from(b).ok())
                .map(Some)
                .ok_or_else(|| decode_err(format!("{what}: {} bytes, expected {N}", d.len()))),
        }
    }

    /// A u8 attribute.
    pub fn u8(&self, ty: u16, what: &str) -> Result<Option<u8>, IpvsError> {
        Ok(self.fixed::<1>(ty, what)?.map(|b| b[0]))
    }

    /// A host-order u16 attribute.
    pub fn u16(&self, ty: u16, what: &str) -> Result<Option<u16>, IpvsError> {
        Ok(self.fixed::<2>(ty, what)?.map(u16::from_ne_bytes))
    }

    /// A network-order u16 attribute.
    pub fn be16(&self, ty: u16, what: &str) -> Result<Option<u16>, IpvsError> {
        Ok(self.fixed::<2>(ty, what)?.map(u16::from_be_bytes))
    }

    /// A host-order u32 attribute.
    pub fn u32(&self, ty: u16, what: &str) -> Result<Option<u32>, IpvsError> {
        Ok(self.fixed::<4>(ty, what)?.map(u32::from_ne_bytes))
    }

    /// An unsigned attribute of whatever width it came in (counters are u32 or u64 depending
    /// on the nest and the kernel).
    pub fn uint(&self, ty: u16, what: &str) -> Result<Option<u64>, IpvsError> {
        match self.get(ty) {
            None => Ok(None),
            Some(d) => match d.len() {
                1 => Ok(Some(u64::from(d[0]))),
                2 => Ok(ne_u16(d).map(u64::from)),
                4 => Ok(ne_u32(d).map(u64::from)),
                8 => Ok(d
                    .get(..8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_ne_bytes)),
                n => Err(decode_err(format!("{what}: {n}-byte integer"))),
            },
        }
    }

    /// A string attribute, up to its first NUL.
    pub fn string(&self, ty: u16, what: &str) -> Result<Option<String>, IpvsError> {
        match self.get(ty) {
            None => Ok(None),
            Some(d) => {
                let end = d.iter().position(|&b| b == 0).unwrap_or(d.len());
                String::from_utf8(d[..end].to_vec())
                    .map(Some)
                    .map_err(|_| decode_err(format!("{what}: not UTF-8")))
            }
        }
    }

    fn required<T>(v: Option<T>, what: &str) -> Result<T, IpvsError> {
        v.ok_or_else(|| decode_err(format!("{what} missing")))
    }
}

fn decode_addr(data: &[u8], family: Family, what: &str) -> Result<IpAddr, IpvsError> {
    match family {
        Family::Inet => data
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        Family::Inet6 => data
            .get(..16)
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
    }
    .ok_or_else(|| decode_err(format!("{what}: {} bytes for {family:?}", data.len())))
}

fn decode_family(n: u16, what: &str) -> Result<Family, IpvsError> {
    Family::from_number(n).ok_or_else(|| decode_err(format!("{what}: unknown address family {n}")))
}

/// A netmask attribute back to a prefix length. A non-contiguous IPv4 mask (possible with
/// `ipvsadm -M`) is reported by its leading ones, the closest a prefix can say.
fn decode_netmask(data: [u8; 4], family: Family) -> Result<u8, IpvsError> {
    match family {
        Family::Inet => Ok(u32::from_be_bytes(data).leading_ones() as u8),
        Family::Inet6 => {
            let p = u32::from_ne_bytes(data);
            u8::try_from(p)
                .ok()
                .filter(|p| *p <= 128)
                .ok_or_else(|| decode_err(format!("IPv6 netmask prefix {p}")))
        }
    }
}

/// Counters from a STATS or STATS64 nest.
pub fn decode_stats(data: &[u8]) -> Result<Stats, IpvsError> {
    let a = Attrs::parse(data)?;
    let get = |ty, what| a.uint(ty, what).map(|v| v.unwrap_or(0));
    Ok(Stats {
        conns: get(stats_attr::CONNS, "conns")?,
        inpkts: get(stats_attr::INPKTS, "inpkts")?,
        outpkts: get(stats_attr::OUTPKTS, "outpkts")?,
        inbytes: get(stats_attr::INBYTES, "inbytes")?,
        outbytes: get(stats_attr::OUTBYTES, "outbytes")?,
        cps: get(stats_attr::CPS, "cps")?,
        inpps: get(stats_attr::INPPS, "inpps")?,
        outpps: get(stats_attr::OUTPPS, "outpps")?,
        inbps: get(stats_attr::INBPS, "inbps")?,
        outbps: get(stats_attr::OUTBPS, "outbps")?,
    })
}

fn decode_stats_pair(a: &Attrs<'_>, stats: u16, stats64: u16) -> Result<Stats, IpvsError> {
    match (a.get(stats64), a.get(stats)) {
        (Some(d), _) | (None, Some(d)) => decode_stats(d),
        (None, None) => Ok(Stats::default()),
    }
}

fn decode_service_key(a: &Attrs<'_>) -> Result<ServiceKey, IpvsError> {
    let family = decode_family(
        Attrs::required(a.u16(svc_attr::AF, "service AF")?, "service AF")?,
        "service",
    )?;
    if let Some(mark) = a.u32(svc_attr::FWMARK, "service fwmark")? {
        return Ok(ServiceKey::Fwmark { family, mark });
    }
    let proto = Attrs::required(
        a.u16(svc_attr::PROTOCOL, "service protocol")?,
        "service protocol",
    )?;
    let protocol = Protocol::from_number(proto)
        .ok_or_else(|| decode_err(format!("service protocol {proto}")))?;
    let addr = decode_addr(
        Attrs::required(a.get(svc_attr::ADDR), "service address")?,
        family,
        "service address",
    )?;
    let port = Attrs::required(a.be16(svc_attr::PORT, "service port")?, "service port")?;
    Ok(ServiceKey::Addr {
        protocol,
        addr,
        port,
    })
}

fn decode_service_spec(a: &Attrs<'_>, family: Family) -> Result<ServiceSpec, IpvsError> {
    let flags = match a.fixed::<8>(svc_attr::FLAGS, "service flags")? {
        Some(b) => u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    };
    let netmask_prefix = match a.fixed::<4>(svc_attr::NETMASK, "service netmask")? {
        Some(b) => decode_netmask(b, family)?,
        None => match family {
            Family::Inet => 32,
            Family::Inet6 => 128,
        },
    };
    Ok(ServiceSpec {
        scheduler: a
            .string(svc_attr::SCHED_NAME, "scheduler")?
            .unwrap_or_default(),
        flags: flags & !crate::table::svc_flags::HASHED,
        timeout: a.u32(svc_attr::TIMEOUT, "service timeout")?.unwrap_or(0),
        netmask_prefix,
        pe_name: a.string(svc_attr::PE_NAME, "persistence engine")?,
    })
}

/// A service from the attributes inside CMD_ATTR_SERVICE.
pub fn decode_service_nest(nest: &[u8]) -> Result<Service, IpvsError> {
    let a = Attrs::parse(nest)?;
    let key = decode_service_key(&a)?;
    let spec = decode_service_spec(&a, key.family())?;
    let stats = decode_stats_pair(&a, svc_attr::STATS, svc_attr::STATS64)?;
    Ok(Service { key, spec, stats })
}

fn nest<'a>(attrs: &'a [u8], ty: u16, what: &str) -> Result<&'a [u8], IpvsError> {
    Attrs::required(Attrs::parse(attrs)?.get(ty), what)
}

/// A service from a NEW_SERVICE reply (the attributes after the generic header).
pub fn decode_service(attrs: &[u8]) -> Result<Service, IpvsError> {
    decode_service_nest(nest(attrs, cmd_attr::SERVICE, "CMD_ATTR_SERVICE")?)
}

fn decode_forward(a: &Attrs<'_>) -> Result<Forward, IpvsError> {
    let method = Attrs::required(
        a.u32(dest_attr::FWD_METHOD, "forwarding method")?,
        "forwarding method",
    )?;
    Ok(match method & 0x7 {
        0 => Forward::Masq,
        1 => Forward::Local,
        2 => {
            let kind = match a.u8(dest_attr::TUN_TYPE, "tunnel type")? {
                None | Some(tun_type::IPIP) => TunnelKind::Ipip,
                Some(tun_type::GUE) => TunnelKind::Gue,
                Some(tun_type::GRE) => TunnelKind::Gre,
                Some(t) => return Err(decode_err(format!("tunnel type {t}"))),
            };
            let port = match kind {
                TunnelKind::Gue => a.be16(dest_attr::TUN_PORT, "tunnel port")?.unwrap_or(0),
                _ => 0,
            };
            let checksum = match kind {
                TunnelKind::Ipip => TunnelChecksum::NoCsum,
                _ => {
                    let f = a.u16(dest_attr::TUN_FLAGS, "tunnel flags")?.unwrap_or(0);
                    if f & tun_flags::REMCSUM != 0 {
                        TunnelChecksum::RemCsum
                    } else if f & tun_flags::CSUM != 0 {
                        TunnelChecksum::Csum
                    } else {
                        TunnelChecksum::NoCsum
                    }
                }
            };
            Forward::Tunnel {
                kind,
                port,
                checksum,
            }
        }
        3 => Forward::Route,
        4 => Forward::Bypass,
        m => return Err(decode_err(format!("forwarding method {m}"))),
    })
}

/// What the kernel reads back for a forwarding method: the tunnel port only for GUE, the
/// checksum option not for IPIP. Comparing desired and dumped destinations through this avoids
/// edits that can never converge.
pub fn canonical_forward(f: Forward) -> Forward {
    match f {
        Forward::Tunnel {
            kind,
            port,
            checksum,
        } => Forward::Tunnel {
            kind,
            port: if kind == TunnelKind::Gue { port } else { 0 },
            checksum: if kind == TunnelKind::Ipip {
                TunnelChecksum::NoCsum
            } else {
                checksum
            },
        },
        other => other,
    }
}

fn decode_dest_key(a: &Attrs<'_>, service_family: Family) -> Result<DestKey, IpvsError> {
    let family = match a.u16(dest_attr::ADDR_FAMILY, "dest address family")? {
        None | Some(0) => service_family,
        Some(n) => decode_family(n, "dest")?,
    };
    let addr = decode_addr(
        Attrs::required(a.get(dest_attr::ADDR), "dest address")?,
        family,
        "dest address",
    )?;
    let port = Attrs::required(a.be16(dest_attr::PORT, "dest port")?, "dest port")?;
    Ok(DestKey { addr, port })
}

/// A destination from the attributes inside CMD_ATTR_DEST; `service_family` is used when the
/// kernel is too old to say the destination's own family.
pub fn decode_dest_nest(nest: &[u8], service_family: Family) -> Result<Dest, IpvsError> {
    let a = Attrs::parse(nest)?;
    let key = decode_dest_key(&a, service_family)?;
    let spec = DestSpec {
        forward: decode_forward(&a)?,
        weight: Attrs::required(a.u32(dest_attr::WEIGHT, "weight")?, "weight")?,
        u_thresh: a.u32(dest_attr::U_THRESH, "upper threshold")?.unwrap_or(0),
        l_thresh: a.u32(dest_attr::L_THRESH, "lower threshold")?.unwrap_or(0),
    };
    Ok(Dest {
        key,
        spec,
        active_conns: a.u32(dest_attr::ACTIVE_CONNS, "active conns")?.unwrap_or(0),
        inactive_conns: a
            .u32(dest_attr::INACT_CONNS, "inactive conns")?
            .unwrap_or(0),
        persist_conns: a
            .u32(dest_attr::PERSIST_CONNS, "persistent conns")?
            .unwrap_or(0),
        stats: decode_stats_pair(&a, dest_attr::STATS, dest_attr::STATS64)?,
    })
}

/// A destination from a NEW_DEST reply.
pub fn decode_dest(attrs: &[u8], service_family: Family) -> Result<Dest, IpvsError> {
    decode_dest_nest(
        nest(attrs, cmd_attr::DEST, "CMD_ATTR_DEST")?,
        service_family,
    )
}

fn decode_role(n: u32) -> Result<SyncRole, IpvsError> {
    match n {
        1 => Ok(SyncRole::Master),
        2 => Ok(SyncRole::Backup),
        n => Err(decode_err(format!("sync daemon state {n}"))),
    }
}

fn decode_daemon_nest(nest: &[u8]) -> Result<SyncDaemon, IpvsError> {
    let a = Attrs::parse(nest)?;
    let group6 = a
        .fixed::<16>(daemon_attr::MCAST_GROUP6, "IPv6 group")?
        .map(|b| IpAddr::V6(Ipv6Addr::from(b)));
    let group4 = a
        .fixed::<4>(daemon_attr::MCAST_GROUP, "IPv4 group")?
        .map(|b| IpAddr::V4(Ipv4Addr::from(b)));
    Ok(SyncDaemon {
        role: decode_role(Attrs::required(
            a.u32(daemon_attr::STATE, "daemon state")?,
            "daemon state",
        )?)?,
        interface: Attrs::required(
            a.string(daemon_attr::MCAST_IFN, "daemon interface")?,
            "daemon interface",
        )?,
        sync_id: Attrs::required(a.u32(daemon_attr::SYNC_ID, "sync id")?, "sync id")?,
        maxlen: a.u16(daemon_attr::SYNC_MAXLEN, "sync maxlen")?,
        group: group6.or(group4),
        port: a.u16(daemon_attr::MCAST_PORT, "sync port")?,
        ttl: a.u8(daemon_attr::MCAST_TTL, "sync ttl")?,
    })
}

/// A sync daemon from a NEW_DAEMON reply.
pub fn decode_daemon(attrs: &[u8]) -> Result<SyncDaemon, IpvsError> {
    decode_daemon_nest(nest(attrs, cmd_attr::DAEMON, "CMD_ATTR_DAEMON")?)
}

fn decode_timeout_attrs(a: &Attrs<'_>) -> Result<Timeouts, IpvsError> {
    Ok(Timeouts {
        tcp: a.u32(cmd_attr::TIMEOUT_TCP, "tcp timeout")?.unwrap_or(0),
        tcp_fin: a
            .u32(cmd_attr::TIMEOUT_TCP_FIN, "tcp fin timeout")?
            .unwrap_or(0),
        udp: a.u32(cmd_attr::TIMEOUT_UDP, "udp timeout")?.unwrap_or(0),
    })
}

/// Timeouts from the SET_CONFIG reply to GET_CONFIG (a protocol the kernel was built without
/// reports 0).
pub fn decode_timeouts(attrs: &[u8]) -> Result<Timeouts, IpvsError> {
    decode_timeout_attrs(&Attrs::parse(attrs)?)
}

/// Version and table size from the SET_INFO reply to GET_INFO.
pub fn decode_info(attrs: &[u8]) -> Result<Info, IpvsError> {
    let a = Attrs::parse(attrs)?;
    Ok(Info {
        version: Attrs::required(a.u32(info_attr::VERSION, "version")?, "version")?,
        conn_tab_size: Attrs::required(
            a.u32(info_attr::CONN_TAB_SIZE, "conn table size")?,
            "conn table size",
        )?,
    })
}

/// The family id from the controller's NEWFAMILY reply.
pub fn decode_family_id(attrs: &[u8]) -> Result<u16, IpvsError> {
    let a = Attrs::parse(attrs)?;
    Attrs::required(a.u16(ctrl::ATTR_FAMILY_ID, "family id")?, "family id")
}

/// A request as the kernel would read it: header fields and the operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Family id the message was addressed to.
    pub family: u16,
    /// Netlink flags.
    pub flags: u16,
    /// Sequence number.
    pub seq: u32,
    /// The operation.
    pub op: Op,
}

/// Reads an operation request back (the inverse of [`encode_op`]), for tests and fakes that play
/// the kernel.
pub fn decode_request(buf: &[u8]) -> Result<Request, IpvsError> {
    let msgs = split(buf)?;
    let [msg] = msgs.as_slice() else {
        return Err(decode_err(format!("{} messages, expected one", msgs.len())));
    };
    let g = genl(msg.payload)?;
    let a = Attrs::parse(g.attrs)?;
    let service = |full: bool| -> Result<(ServiceKey, Option<ServiceSpec>), IpvsError> {
        let n = Attrs::parse(Attrs::required(
            a.get(cmd_attr::SERVICE),
            "CMD_ATTR_SERVICE",
        )?)?;
        let key = decode_service_key(&n)?;
        let spec = if full {
            Some(decode_service_spec(&n, key.family())?)
        } else {
            None
        };
        Ok((key, spec))
    };
    let dest = |svc: &ServiceKey, full: bool| -> Result<(DestKey, Option<DestSpec>), IpvsError> {
        let n = Attrs::parse(Attrs::required(a.get(cmd_attr::DEST), "CMD_ATTR_DEST")?)?;
        let key = decode_dest_key(&n, svc.family())?;
        let spec = if full {
            Some(DestSpec {
                forward: decode_forward(&n)?,
                weight: Attrs::required(n.u32(dest_attr::WEIGHT, "weight")?, "weight")?,
                u_thresh: Attrs::required(n.u32(dest_attr::U_THRESH, "u_thresh")?, "u_thresh")?,
                l_thresh: Attrs::required(n.u32(dest_attr::L_THRESH, "l_thresh")?, "l_thresh")?,
            })
        } else {
            None
        };
        Ok((key, spec))
    };
    let missing = || decode_err("incomplete request");
    let op = match g.cmd {
        cmd::NEW_SERVICE | cmd::SET_SERVICE => {
            let (key, spec) = service(true)?;
            let spec = spec.ok_or_else(missing)?;
            if g.cmd == cmd::NEW_SERVICE {
                Op::AddService(key, spec)
            } else {
                Op::EditService(key, spec)
            }
        }
        cmd::DEL_SERVICE => Op::DelService(service(false)?.0),
        cmd::NEW_DEST | cmd::SET_DEST => {
            let svc = service(false)?.0;
            let (key, spec) = dest(&svc, true)?;
            let spec = spec.ok_or_else(missing)?;
            if g.cmd == cmd::NEW_DEST {
                Op::AddDest(svc, key, spec)
            } else {
                Op::EditDest(svc, key, spec)
            }
        }
        cmd::DEL_DEST => {
            let svc = service(false)?.0;
            Op::DelDest(svc, dest(&svc, false)?.0)
        }
        cmd::FLUSH => Op::Flush,
        cmd::SET_CONFIG => Op::SetTimeouts(decode_timeout_attrs(&a)?),
        cmd::NEW_DAEMON => Op::StartDaemon(decode_daemon_nest(Attrs::required(
            a.get(cmd_attr::DAEMON),
            "CMD_ATTR_DAEMON",
        )?)?),
        cmd::DEL_DAEMON => {
            let n = Attrs::parse(Attrs::required(a.get(cmd_attr::DAEMON), "CMD_ATTR_DAEMON")?)?;
            Op::StopDaemon(decode_role(Attrs::required(
                n.u32(daemon_attr::STATE, "daemon state")?,
                "daemon state",
            )?)?)
        }
        cmd::ZERO => match a.get(cmd_attr::SERVICE) {
            None => Op::Zero(None),
            Some(_) => Op::Zero(Some(service(false)?.0)),
        },
        other => return Err(decode_err(format!("command {other} is not an operation"))),
    };
    Ok(Request {
        family: msg.ty,
        flags: msg.flags,
        seq: msg.seq,
        op,
    })
}

/// Replies written the way the kernel writes them (attribute order, both stats nests, the
/// 64-bit padding attribute, TUN_* and ADDR_FAMILY on every destination), so decoders and fake
/// kernels are tested against realistic bytes.
pub mod kernel_side {
    use super::*;

    fn stats_nest(w: &mut MsgWriter, ty: u16, s: &Stats, wide: bool) {
        w.begin(ty);
        let narrow = |v: u64| v as u32;
        let fields = [
            (stats_attr::CONNS, s.conns, false),
            (stats_attr::INPKTS, s.inpkts, false),
            (stats_attr::OUTPKTS, s.outpkts, false),
            (stats_attr::INBYTES, s.inbytes, true),
            (stats_attr::OUTBYTES, s.outbytes, true),
            (stats_attr::CPS, s.cps, false),
            (stats_attr::INPPS, s.inpps, false),
            (stats_attr::OUTPPS, s.outpps, false),
            (stats_attr::INBPS, s.inbps, false),
            (stats_attr::OUTBPS, s.outbps, false),
        ];
        for (ty, v, is_u64) in fields {
            if wide || is_u64 {
                // nla_put_u64_64bit: a zero-length PAD attribute, then the value.
                w.put(stats_attr::PAD, &[]);
                w.u64(ty, v);
            } else {
                w.u32(ty, narrow(v));
            }
        }
        w.end();
    }

    /// One multipart NEW_SERVICE message of a GET_SERVICE dump.
    pub fn service(family: u16, seq: u32, s: &Service) -> Vec<u8> {
        let mut w = MsgWriter::genl(family, nlm_flags::MULTI, seq, cmd::NEW_SERVICE, VERSION);
        w.begin(cmd_attr::SERVICE);
        put_service_id(&mut w, &s.key);
        w.string(svc_attr::SCHED_NAME, &s.spec.scheduler);
        if let Some(pe) = &s.spec.pe_name {
            w.string(svc_attr::PE_NAME, pe);
        }
        let mut flags = [0u8; 8];
        flags[..4].copy_from_slice(&(s.spec.flags | crate::table::svc_flags::HASHED).to_ne_bytes());
        flags[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
        w.put(svc_attr::FLAGS, &flags);
        w.u32(svc_attr::TIMEOUT, s.spec.timeout);
        w.put(
            svc_attr::NETMASK,
            &netmask_bytes(s.key.family(), s.spec.netmask_prefix),
        );
        stats_nest(&mut w, svc_attr::STATS, &s.stats, false);
        stats_nest(&mut w, svc_attr::STATS64, &s.stats, true);
        w.finish()
    }

    /// One multipart NEW_DEST message of a GET_DEST dump.
    pub fn dest(family: u16, seq: u32, d: &Dest) -> Vec<u8> {
        let mut w = MsgWriter::genl(family, nlm_flags::MULTI, seq, cmd::NEW_DEST, VERSION);
        w.begin(cmd_attr::DEST);
        w.put(dest_attr::ADDR, &addr_bytes(&d.key.addr));
        w.be16(dest_attr::PORT, d.key.port);
        w.u32(dest_attr::FWD_METHOD, d.spec.forward.method());
        w.u32(dest_attr::WEIGHT, d.spec.weight);
        let (kind, port, checksum) = match d.spec.forward {
            Forward::Tunnel {
                kind,
                port,
                checksum,
            } => (tunnel_type(kind), port, checksum_flags(checksum)),
            _ => (tun_type::IPIP, 0, tun_flags::NOCSUM),
        };
        w.u8(dest_attr::TUN_TYPE, kind);
        w.be16(dest_attr::TUN_PORT, port);
        w.u16(dest_attr::TUN_FLAGS, checksum);
        w.u32(dest_attr::U_THRESH, d.spec.u_thresh);
        w.u32(dest_attr::L_THRESH, d.spec.l_thresh);
        w.u32(dest_attr::ACTIVE_CONNS, d.active_conns);
        w.u32(dest_attr::INACT_CONNS, d.inactive_conns);
        w.u32(dest_attr::PERSIST_CONNS, d.persist_conns);
        w.u16(dest_attr::ADDR_FAMILY, Family::of(&d.key.addr).number());
        stats_nest(&mut w, dest_attr::STATS, &d.stats, false);
        stats_nest(&mut w, dest_attr::STATS64, &d.stats, true);
        w.finish()
    }

    /// One multipart NEW_DAEMON message of a GET_DAEMON dump.
    pub fn daemon(family: u16, seq: u32, d: &SyncDaemon) -> Vec<u8> {
        let mut w = MsgWriter::genl(family, nlm_flags::MULTI, seq, cmd::NEW_DAEMON, VERSION);
        daemon_nest(&mut w, d);
        w.finish()
    }

    /// The SET_CONFIG reply to GET_CONFIG.
    pub fn config(family: u16, seq: u32, t: &Timeouts) -> Vec<u8> {
        let mut w = MsgWriter::genl(family, 0, seq, cmd::SET_CONFIG, VERSION);
        w.u32(cmd_attr::TIMEOUT_TCP, t.tcp);
        w.u32(cmd_attr::TIMEOUT_TCP_FIN, t.tcp_fin);
        w.u32(cmd_attr::TIMEOUT_UDP, t.udp);
        w.finish()
    }

    /// The SET_INFO reply to GET_INFO.
    pub fn info(family: u16, seq: u32, i: &Info) -> Vec<u8> {
        let mut w = MsgWriter::genl(family, 0, seq, cmd::SET_INFO, VERSION);
        w.u32(info_attr::VERSION, i.version);
        w.u32(info_attr::CONN_TAB_SIZE, i.conn_tab_size);
        w.finish()
    }

    /// The controller's NEWFAMILY reply (name and id only).
    pub fn family(seq: u32, name: &str, id: u16) -> Vec<u8> {
        let mut w = MsgWriter::genl(ctrl::GENL_ID_CTRL, 0, seq, ctrl::CMD_NEWFAMILY, 2);
        w.string(ctrl::ATTR_FAMILY_NAME, name);
        w.u16(ctrl::ATTR_FAMILY_ID, id);
        w.finish()
    }

    /// NLMSG_ERROR: an ACK for `errno` 0, else the refusal (positive errno), echoing the
    /// request's header like a socket with NETLINK_CAP_ACK.
    pub fn ack(seq: u32, errno: i32, request: &[u8]) -> Vec<u8> {
        let mut w = MsgWriter::new(nlmsg_type::ERROR, 0, seq);
        w.raw(&errno.saturating_neg().to_ne_bytes());
        let mut hdr = [0u8; NLMSG_HDRLEN];
        let n = request.len().min(NLMSG_HDRLEN);
        hdr[..n].copy_from_slice(&request[..n]);
        w.raw(&hdr);
        w.finish()
    }

    /// NLMSG_DONE ending a dump (`errno` 0), or a dump that failed.
    pub fn done(seq: u32, errno: i32) -> Vec<u8> {
        let mut w = MsgWriter::new(nlmsg_type::DONE, nlm_flags::MULTI, seq);
        w.raw(&errno.saturating_neg().to_ne_bytes());
        w.finish()
    }
}

#[cfg(test)]
mod tests;
