//! [`KernelBackend`]: the [`Backend`] that programs the running kernel's IPVS over a
//! `NETLINK_GENERIC` socket.
//!
//! One request at a time by default, each with NLM_F_ACK and answered before the next — the way
//! keepalived talks to IPVS, so errors map one-to-one onto operations. [`KernelBackend::apply_batch`]
//! pipelines instead: a window of requests in one datagram, then their ACKs, which turns thousands
//! of round trips into a few dozen without changing what each operation means.

use super::codec::{self, Collector, OwnedGenl};
use crate::backend::{Backend, IpvsError};
use crate::table::{
    Dest, Family, Forward, Info, Op, Service, ServiceKey, SyncDaemon, Timeouts, TunnelChecksum,
    TunnelKind,
};
use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::TimeVal;
use std::collections::HashMap;
use std::io;
use std::time::Duration;

/// Receive buffer per datagram. Dumps are capped by the kernel at 32 KiB per datagram; an ACK
/// echoes at most our request; so a larger datagram can only be a protocol error.
const RECV_BUF: usize = 64 * 1024;
/// Requests per datagram in [`KernelBackend::apply_batch`]: small enough that their ACKs (about
/// 1 KiB of socket memory each) never overflow a default-sized receive buffer, which would lose
/// ACKs silently.
const BATCH_WINDOW: usize = 128;
/// How long to wait for the kernel before giving up on an answer.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What the running kernel's IPVS understands, where it would otherwise *silently ignore*
/// attributes (its validation drops unknown ones): known from the kernel release, because reading
/// the attributes back needs a destination to exist first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelFeatures {
    /// (major, minor) the features were derived from, if the release string was readable.
    pub release: Option<(u32, u32)>,
    /// DEST ADDR_FAMILY: destinations of another family than their service (3.18).
    pub mixed_family_dests: bool,
    /// Sync daemon SYNC_MAXLEN / MCAST_GROUP(6) / PORT / TTL (4.3).
    pub daemon_mcast_options: bool,
    /// TUN_TYPE and TUN_PORT: GUE tunnels (5.2).
    pub tunnel_type: bool,
    /// TUN_FLAGS and GRE tunnels (5.3).
    pub tunnel_flags: bool,
}

impl KernelFeatures {
    /// Everything: what a current kernel (and Debian bookworm's 6.1) has.
    pub fn all() -> KernelFeatures {
        KernelFeatures {
            release: None,
            mixed_family_dests: true,
            daemon_mcast_options: true,
            tunnel_type: true,
            tunnel_flags: true,
        }
    }

    /// Features of a kernel by its `uname -r` (`6.1.0-56-cloud-amd64`). An unreadable release is
    /// taken as current: refusing valid requests would be worse than the silent downgrade.
    pub fn from_release(release: &str) -> KernelFeatures {
        let mut nums = release
            .split(|c: char| !c.is_ascii_digit())
            .map(|s| s.parse::<u32>().ok());
        let (Some(Some(major)), Some(Some(minor))) = (nums.next(), nums.next()) else {
            return KernelFeatures::all();
        };
        let at_least = |a: u32, b: u32| (major, minor) >= (a, b);
        KernelFeatures {
            release: Some((major, minor)),
            mixed_family_dests: at_least(3, 18),
            daemon_mcast_options: at_least(4, 3),
            tunnel_type: at_least(5, 2),
            tunnel_flags: at_least(5, 3),
        }
    }

    /// Features of the running kernel.
    pub fn running() -> KernelFeatures {
        match nix::sys::utsname::uname() {
            Ok(u) => KernelFeatures::from_release(&u.release().to_string_lossy()),
            Err(_) => KernelFeatures::all(),
        }
    }

    /// Whether a tunnel kind is programmed as asked (and not silently as IPIP).
    pub fn supports_tunnel(&self, kind: TunnelKind) -> bool {
        match kind {
            TunnelKind::Ipip => true,
            TunnelKind::Gue => self.tunnel_type,
            TunnelKind::Gre => self.tunnel_type && self.tunnel_flags,
        }
    }

    fn running_text(&self) -> String {
        match self.release {
            Some((a, b)) => format!("this kernel is {a}.{b}"),
            None => "this kernel is older".to_string(),
        }
    }

    /// Refuses an operation this kernel would accept but not carry out as asked.
    pub fn check(&self, op: &Op) -> Result<(), IpvsError> {
        match op {
            Op::AddDest(svc, dest, spec) | Op::EditDest(svc, dest, spec) => {
                if let Forward::Tunnel { kind, checksum, .. } = spec.forward {
                    if !self.supports_tunnel(kind) {
                        let (name, since) = match kind {
                            TunnelKind::Gue => ("GUE", "5.2"),
                            _ => ("GRE", "5.3"),
                        };
                        return Err(IpvsError::Unsupported(format!(
                            "{name} tunnel for {op}: IPVS supports it from Linux {since} and {} \
                             (it would silently forward with IPIP instead)",
                            self.running_text()
                        )));
                    }
                    if kind != TunnelKind::Ipip
                        && checksum != TunnelChecksum::NoCsum
                        && !self.tunnel_flags
                    {
                        return Err(IpvsError::Unsupported(format!(
                            "tunnel checksum option for {op}: IPVS supports it from Linux 5.3 \
                             and {} (it would be silently ignored)",
                            self.running_text()
                        )));
                    }
                }
                if Family::of(&dest.addr) != svc.family() && !self.mixed_family_dests {
                    return Err(IpvsError::Unsupported(format!(
                        "destination of another address family for {op}: IPVS supports it from \
                         Linux 3.18 and {}",
                        self.running_text()
                    )));
                }
                Ok(())
            }
            Op::StartDaemon(d)
                if !self.daemon_mcast_options
                    && (d.maxlen.is_some()
                        || d.group.is_some()
                        || d.port.is_some()
                        || d.ttl.is_some()) =>
            {
                Err(IpvsError::Unsupported(format!(
                    "sync daemon group/port/ttl/maxlen for {op}: IPVS supports them from Linux 4.3 \
                     and {} (they would be silently ignored)",
                    self.running_text()
                )))
            }
            _ => Ok(()),
        }
    }
}

/// The kernel's IPVS, over generic netlink, in the network namespace the process is in.
#[derive(Debug)]
pub struct KernelBackend {
    socket: Socket,
    family: u16,
    seq: u32,
    sent: u64,
    datagrams: u64,
    features: KernelFeatures,
    buf: Vec<u8>,
}

fn io_copy(e: &IpvsError) -> IpvsError {
    match e {
        IpvsError::Io(io) => IpvsError::Io(io::Error::new(io.kind(), io.to_string())),
        IpvsError::Kernel { errno } => IpvsError::Kernel { errno: *errno },
        IpvsError::Unavailable(s) => IpvsError::Unavailable(s.clone()),
        IpvsError::Decode(s) => IpvsError::Decode(s.clone()),
        IpvsError::Unsupported(s) => IpvsError::Unsupported(s.clone()),
    }
}

impl KernelBackend {
    /// Opens a socket and resolves the IPVS family (which makes the kernel load `ip_vs` when it
    /// can). Fails with [`IpvsError::Unavailable`] when the kernel has no IPVS.
    pub fn open() -> Result<KernelBackend, IpvsError> {
        let mut socket = Socket::new(NETLINK_GENERIC).map_err(|e| {
            IpvsError::Unavailable(format!("cannot open a generic netlink socket: {e}"))
        })?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        // Best effort: room for pipelined ACKs, and errors without our request echoed back.
        let _ = socket.set_rx_buf_sz::<i32>(1 << 20);
        let _ = socket.set_cap_ack(true);
        let mut backend = KernelBackend {
            socket,
            family: 0,
            seq: 0,
            sent: 0,
            datagrams: 0,
            features: KernelFeatures::running(),
            buf: Vec::with_capacity(RECV_BUF),
        };
        backend.set_timeout(DEFAULT_TIMEOUT)?;
        backend.family = backend.resolve_family()?;
        Ok(backend)
    }

    fn resolve_family(&mut self) -> Result<u16, IpvsError> {
        let seq = self.next_seq();
        let msg = codec::encode_get_family(seq, codec::FAMILY_NAME);
        match self.transact(&msg, seq, false, 0) {
            Ok(msgs) => {
                let reply = msgs
                    .iter()
                    .find(|m| m.cmd == codec::ctrl::CMD_NEWFAMILY)
                    .ok_or_else(|| {
                        IpvsError::Decode("no family in the controller's reply".into())
                    })?;
                codec::decode_family_id(&reply.attrs)
            }
            Err(IpvsError::Kernel {
                errno: crate::backend::errno::ENOENT,
            }) => Err(IpvsError::Unavailable(
                "the kernel has no \"IPVS\" generic netlink family: load the ip_vs module \
                 (modprobe ip_vs), or use a kernel built with CONFIG_IP_VS"
                    .into(),
            )),
            Err(e) => Err(e),
        }
    }

    /// The dynamic generic netlink id of IPVS on this kernel.
    pub fn family_id(&self) -> u16 {
        self.family
    }

    /// What this kernel's IPVS understands (derived from its release at open).
    pub fn features(&self) -> KernelFeatures {
        self.features
    }

    /// Overrides the features, for kernels with backports or to test the refusals.
    pub fn set_features(&mut self, features: KernelFeatures) {
        self.features = features;
    }

    /// Whether every tunnel kind and option (GUE, GRE, checksums) is programmed as asked rather
    /// than silently as plain IPIP: Linux 5.3 and later.
    pub fn tunnel_types_supported(&self) -> bool {
        self.features.tunnel_type && self.features.tunnel_flags
    }

    /// How long to wait for an answer before failing with a timed-out I/O error.
    pub fn set_timeout(&mut self, timeout: Duration) -> Result<(), IpvsError> {
        let tv = TimeVal::new(
            timeout.as_secs().min(i64::MAX as u64) as i64,
            i64::from(timeout.subsec_micros()),
        );
        setsockopt(&self.socket, sockopt::ReceiveTimeout, &tv)
            .map_err(|e| IpvsError::Io(io::Error::from(e)))
    }

    /// Datagrams sent (a batch packs many requests into one), for the benchmark's syscall count.
    pub fn datagrams_sent(&self) -> u64 {
        self.datagrams
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send(&mut self, datagram: &[u8], messages: u64) -> Result<(), IpvsError> {
        loop {
            match self.socket.send(datagram, 0) {
                Ok(n) if n == datagram.len() => break,
                Ok(n) => {
                    return Err(IpvsError::Io(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("netlink send wrote {n} of {} bytes", datagram.len()),
                    )))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(IpvsError::Io(e)),
            }
        }
        self.sent += messages;
        self.datagrams += 1;
        Ok(())
    }

    /// Receives one datagram into `self.buf`.
    fn recv(&mut self) -> Result<(), IpvsError> {
        loop {
            self.buf.clear();
            if self.buf.capacity() < RECV_BUF {
                self.buf.reserve(RECV_BUF);
            }
            match self.socket.recv(&mut self.buf, nix::libc::MSG_TRUNC) {
                Ok(n) if n > self.buf.len() => {
                    return Err(IpvsError::Decode(format!(
                        "a {n}-byte netlink datagram did not fit the {}-byte buffer",
                        self.buf.len()
                    )))
                }
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(IpvsError::Io(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the kernel did not answer the IPVS request in time",
                    )))
                }
                Err(e) => return Err(IpvsError::Io(e)),
            }
        }
    }

    /// Sends one request and collects its answer.
    fn transact(
        &mut self,
        msg: &[u8],
        seq: u32,
        dump: bool,
        counted: u64,
    ) -> Result<Vec<OwnedGenl>, IpvsError> {
        self.send(msg, counted)?;
        let mut collector = Collector::new(seq, dump);
        while !collector.is_complete() {
            self.recv()?;
            collector.feed(&self.buf)?;
        }
        collector.finish()
    }

    fn query(
        &mut self,
        encode: impl FnOnce(u16, u32) -> Vec<u8>,
        dump: bool,
    ) -> Result<Vec<OwnedGenl>, IpvsError> {
        let seq = self.next_seq();
        let msg = encode(self.family, seq);
        self.transact(&msg, seq, dump, 1)
    }

    /// One service by identity (GET_SERVICE without dump), `None` when it does not exist.
    pub fn service(&mut self, key: &ServiceKey) -> Result<Option<Service>, IpvsError> {
        match self.query(|f, s| codec::encode_get_service(f, s, key), false) {
            Ok(msgs) => msgs
                .iter()
                .find(|m| m.cmd == codec::cmd::NEW_SERVICE)
                .map(|m| codec::decode_service(&m.attrs))
                .transpose(),
            Err(IpvsError::Kernel {
                errno: crate::backend::errno::ESRCH,
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Applies operations pipelined: up to 128 requests per datagram, each with its own ACK,
    /// processed by the kernel in order and independently (a refusal does not stop the rest).
    /// One result per operation; the same outcome as [`Backend::apply`] one by one, with a
    /// fraction of the round trips.
    pub fn apply_pipelined(&mut self, ops: &[Op]) -> Vec<Result<(), IpvsError>> {
        let mut results: Vec<Option<Result<(), IpvsError>>> = ops.iter().map(|_| None).collect();
        let mut start = 0;
        while start < ops.len() {
            let end = (start + BATCH_WINDOW).min(ops.len());
            let mut datagram = Vec::with_capacity((end - start) * 160);
            let mut pending: HashMap<u32, usize> = HashMap::new();
            for (i, op) in ops.iter().enumerate().take(end).skip(start) {
                if let Err(e) = self.features.check(op) {
                    results[i] = Some(Err(e));
                    continue;
                }
                let seq = self.next_seq();
                datagram.extend(codec::encode_op(self.family, seq, op));
                pending.insert(seq, i);
            }
            if !pending.is_empty() {
                if let Err(e) = self.collect_acks(&datagram, &mut pending, &mut results) {
                    // The transport failed: everything unanswered shares the failure.
                    for r in results.iter_mut().skip(start) {
                        if r.is_none() {
                            *r = Some(Err(io_copy(&e)));
                        }
                    }
                    break;
                }
            }
            start = end;
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(IpvsError::Decode("no answer".into()))))
            .collect()
    }

    fn collect_acks(
        &mut self,
        datagram: &[u8],
        pending: &mut HashMap<u32, usize>,
        results: &mut [Option<Result<(), IpvsError>>],
    ) -> Result<(), IpvsError> {
        self.send(datagram, pending.len() as u64)?;
        while !pending.is_empty() {
            self.recv()?;
            for msg in codec::split(&self.buf)? {
                let Some(&i) = pending.get(&msg.seq) else {
                    continue;
                };
                let outcome = match codec::reply(&msg)? {
                    codec::Reply::Ack => Ok(()),
                    codec::Reply::Error(errno) => Err(IpvsError::Kernel { errno }),
                    _ => continue,
                };
                results[i] = Some(outcome);
                pending.remove(&msg.seq);
            }
        }
        Ok(())
    }
}

impl Backend for KernelBackend {
    fn apply(&mut self, op: &Op) -> Result<(), IpvsError> {
        self.features.check(op)?;
        self.query(|f, s| codec::encode_op(f, s, op), false)
            .map(|_| ())
    }

    fn apply_batch(&mut self, ops: &[Op]) -> Vec<Result<(), IpvsError>> {
        self.apply_pipelined(ops)
    }

    fn services(&mut self) -> Result<Vec<Service>, IpvsError> {
        self.query(codec::encode_get_services, true)?
            .iter()
            .filter(|m| m.cmd == codec::cmd::NEW_SERVICE)
            .map(|m| codec::decode_service(&m.attrs))
            .collect()
    }

    fn dests(&mut self, service: &ServiceKey) -> Result<Vec<Dest>, IpvsError> {
        let family = service.family();
        self.query(|f, s| codec::encode_get_dests(f, s, service), true)?
            .iter()
            .filter(|m| m.cmd == codec::cmd::NEW_DEST)
            .map(|m| codec::decode_dest(&m.attrs, family))
            .collect()
    }

    fn timeouts(&mut self) -> Result<Timeouts, IpvsError> {
        let msgs = self.query(codec::encode_get_config, false)?;
        let m = msgs
            .iter()
            .find(|m| m.cmd == codec::cmd::SET_CONFIG)
            .ok_or_else(|| IpvsError::Decode("GET_CONFIG answered without timeouts".into()))?;
        codec::decode_timeouts(&m.attrs)
    }

    fn info(&mut self) -> Result<Info, IpvsError> {
        let msgs = self.query(codec::encode_get_info, false)?;
        let m = msgs
            .iter()
            .find(|m| m.cmd == codec::cmd::SET_INFO)
            .ok_or_else(|| IpvsError::Decode("GET_INFO answered without info".into()))?;
        codec::decode_info(&m.attrs)
    }

    fn daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        self.query(codec::encode_get_daemons, true)?
            .iter()
            .filter(|m| m.cmd == codec::cmd::NEW_DAEMON)
            .map(|m| codec::decode_daemon(&m.attrs))
            .collect()
    }

    /// IPVS requests sent (the family lookup at open is not counted).
    fn messages_sent(&self) -> u64 {
        self.sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{DestKey, DestSpec, Protocol, SyncRole};

    fn tunnel_op(kind: TunnelKind, checksum: TunnelChecksum) -> Op {
        Op::AddDest(
            ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "192.0.2.1".parse().expect("addr"),
                port: 80,
            },
            DestKey {
                addr: "192.0.2.10".parse().expect("addr"),
                port: 80,
            },
            DestSpec {
                forward: Forward::Tunnel {
                    kind,
                    port: if kind == TunnelKind::Gue { 6080 } else { 0 },
                    checksum,
                },
                weight: 1,
                u_thresh: 0,
                l_thresh: 0,
            },
        )
    }

    #[test]
    fn releases() {
        let f = KernelFeatures::from_release("6.1.0-56-cloud-amd64");
        assert_eq!(f.release, Some((6, 1)));
        assert!(f.tunnel_type && f.tunnel_flags && f.daemon_mcast_options);
        let f = KernelFeatures::from_release("5.2.21");
        assert!(f.tunnel_type && !f.tunnel_flags);
        let f = KernelFeatures::from_release("4.19.0-25-amd64");
        assert!(!f.tunnel_type && f.daemon_mcast_options && f.mixed_family_dests);
        let f = KernelFeatures::from_release("3.10.0-1160.el7.x86_64");
        assert!(!f.mixed_family_dests && !f.daemon_mcast_options);
        assert_eq!(
            KernelFeatures::from_release("garbage"),
            KernelFeatures::all()
        );
        assert_eq!(
            KernelFeatures::from_release("6.18.44-fc-v1252").release,
            Some((6, 18))
        );
    }

    #[test]
    fn tunnels_an_old_kernel_would_downgrade_are_refused() {
        let old = KernelFeatures::from_release("4.19.0");
        let k52 = KernelFeatures::from_release("5.2.0");
        let k53 = KernelFeatures::from_release("5.3.0");
        let unsupported = |f: &KernelFeatures, op: &Op| matches!(f.check(op), Err(IpvsError::Unsupported(ref m)) if !m.is_empty());
        let ipip = tunnel_op(TunnelKind::Ipip, TunnelChecksum::NoCsum);
        let gue = tunnel_op(TunnelKind::Gue, TunnelChecksum::NoCsum);
        let gue_csum = tunnel_op(TunnelKind::Gue, TunnelChecksum::Csum);
        let gre = tunnel_op(TunnelKind::Gre, TunnelChecksum::NoCsum);
        assert!(old.check(&ipip).is_ok());
        assert!(unsupported(&old, &gue));
        assert!(unsupported(&old, &gre));
        assert!(k52.check(&gue).is_ok());
        assert!(unsupported(&k52, &gue_csum));
        assert!(unsupported(&k52, &gre));
        for op in [&ipip, &gue, &gue_csum, &gre] {
            assert!(k53.check(op).is_ok());
        }
        let Err(IpvsError::Unsupported(msg)) = old.check(&gue) else {
            panic!("refused");
        };
        assert!(msg.contains("5.2") && msg.contains("4.19"), "{msg}");
    }

    #[test]
    fn other_silently_ignored_attributes_are_refused() {
        let old = KernelFeatures::from_release("3.16.0");
        let mixed = Op::AddDest(
            ServiceKey::Fwmark {
                family: Family::Inet,
                mark: 1,
            },
            DestKey {
                addr: "2001:db8::1".parse().expect("addr"),
                port: 0,
            },
            DestSpec {
                forward: Forward::ipip(),
                weight: 1,
                u_thresh: 0,
                l_thresh: 0,
            },
        );
        assert!(matches!(old.check(&mixed), Err(IpvsError::Unsupported(_))));
        assert!(KernelFeatures::all().check(&mixed).is_ok());
        let mut daemon = SyncDaemon {
            role: SyncRole::Master,
            interface: "eth0".into(),
            sync_id: 1,
            maxlen: None,
            group: None,
            port: None,
            ttl: None,
        };
        assert!(old.check(&Op::StartDaemon(daemon.clone())).is_ok());
        daemon.ttl = Some(3);
        assert!(matches!(
            old.check(&Op::StartDaemon(daemon)),
            Err(IpvsError::Unsupported(_))
        ));
    }

    #[test]
    fn open_without_ipvs_names_the_module() {
        match KernelBackend::open() {
            Ok(b) => assert_ne!(b.family_id(), 0),
            Err(IpvsError::Unavailable(msg)) => {
                assert!(
                    msg.contains("ip_vs") || msg.contains("socket"),
                    "message should say what to load: {msg}"
                );
            }
            // Sandboxes may refuse netlink entirely; nothing to check about IPVS then.
            Err(IpvsError::Io(_)) => {}
            Err(e) => panic!("unexpected error opening IPVS: {e}"),
        }
    }
}
