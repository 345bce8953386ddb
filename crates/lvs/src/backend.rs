//! The one interface to an IPVS table, so the reconciler, the daemon and the tests do not care
//! whether the kernel or the in-memory model answers.

use crate::table::{
    Dest, Info, Op, Service, ServiceKey, SyncDaemon, Table, TableService, Timeouts,
};
use thiserror::Error;

/// errno values the kernel's IPVS returns (Linux numbers; the same on every architecture we run on).
pub mod errno {
    /// No CAP_NET_ADMIN.
    pub const EPERM: i32 = 1;
    /// Unknown scheduler / persistence engine; missing destination.
    pub const ENOENT: i32 = 2;
    /// Missing service.
    pub const ESRCH: i32 = 3;
    /// Out of memory.
    pub const ENOMEM: i32 = 12;
    /// Already exists.
    pub const EEXIST: i32 = 17;
    /// Bad or missing attributes.
    pub const EINVAL: i32 = 22;
    /// Weight or thresholds out of range.
    pub const ERANGE: i32 = 34;
    /// Command needs NLM_F_DUMP.
    pub const EOPNOTSUPP: i32 = 95;
    /// Family not enabled.
    pub const EAFNOSUPPORT: i32 = 97;
}

/// Why an IPVS request failed.
#[derive(Debug, Error)]
pub enum IpvsError {
    /// The kernel (or the model) refused the request with an errno.
    #[error("{}({errno})", kernel_text(*errno))]
    Kernel {
        /// Positive errno.
        errno: i32,
    },
    /// IPVS is not there at all (no `ip_vs` module, no genetlink family).
    #[error("IPVS is not available: {0}")]
    Unavailable(String),
    /// The socket failed.
    #[error("netlink I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The kernel answered something we cannot parse.
    #[error("malformed IPVS reply: {0}")]
    Decode(String),
    /// The request asks for something this kernel would silently ignore (e.g. GUE before 5.2).
    #[error("{0}")]
    Unsupported(String),
}

impl IpvsError {
    /// The errno, for kernel refusals.
    pub fn errno(&self) -> Option<i32> {
        match self {
            IpvsError::Kernel { errno } => Some(*errno),
            _ => None,
        }
    }

    /// Whether this is "already there" for an add, or "not there" for a delete: both leave the
    /// table as the operation wanted it, so callers count them as success (as keepalived does).
    pub fn is_benign_for(&self, op: &Op) -> bool {
        matches!(
            (op, self.errno()),
            (Op::AddService(..) | Op::AddDest(..), Some(errno::EEXIST))
                | (Op::DelDest(..), Some(errno::ENOENT | errno::ESRCH))
                | (Op::DelService(..) | Op::StopDaemon(..), Some(errno::ESRCH))
        )
    }
}

/// The wording IPVS tools use for its errors (ipvsadm / keepalived's table), else strerror's.
pub fn kernel_text(errno: i32) -> &'static str {
    match errno {
        errno::EPERM => "Permission denied (you must be root)",
        errno::ENOENT => "No such file or directory",
        errno::ESRCH => "No such process",
        errno::ENOMEM => "Memory allocation problem",
        errno::EEXIST => "File exists",
        errno::EINVAL => "Invalid argument",
        errno::ERANGE => "Numerical result out of range",
        errno::EOPNOTSUPP => "Operation not supported",
        errno::EAFNOSUPPORT => "Address family not supported by protocol",
        _ => "Unknown error",
    }
}

/// keepalived's text for an error of a given operation (`Service already exists`, `No such
/// destination`...), used in its `IPVS cmd ... error:` line.
pub fn keepalived_text(op: &Op, errno: i32) -> &'static str {
    let dest_op = matches!(op, Op::AddDest(..) | Op::EditDest(..) | Op::DelDest(..));
    match errno {
        errno::EEXIST if dest_op => "Destination already exists",
        errno::EEXIST if matches!(op, Op::StartDaemon(..)) => "Daemon has already run",
        errno::EEXIST => "Service already exists",
        errno::ENOENT if dest_op => "No such destination",
        errno::ENOENT => "Scheduler or persistence engine not found",
        errno::ESRCH if matches!(op, Op::StopDaemon(..)) => "No daemon is running",
        errno::ESRCH => "No such service",
        errno::ENOMEM => "Memory allocation problem",
        errno::EPERM => "Permission denied (you must be root)",
        other => kernel_text(other),
    }
}

/// A place IPVS operations go: the kernel over generic netlink, or a model in memory.
pub trait Backend: Send {
    /// Applies one operation.
    fn apply(&mut self, op: &Op) -> Result<(), IpvsError>;

    /// Applies operations in order, each on its own: a refused one does not stop the rest, exactly
    /// as separate [`Backend::apply`] calls. One result per operation. The kernel backend
    /// pipelines them, so a large initial programming costs a few round trips instead of one per
    /// operation.
    fn apply_batch(&mut self, ops: &[Op]) -> Vec<Result<(), IpvsError>> {
        ops.iter().map(|op| self.apply(op)).collect()
    }

    /// Every service of the namespace, with counters.
    fn services(&mut self) -> Result<Vec<Service>, IpvsError>;

    /// The destinations of one service (empty for an unknown service, like the kernel).
    fn dests(&mut self, service: &ServiceKey) -> Result<Vec<Dest>, IpvsError>;

    /// Current timeouts.
    fn timeouts(&mut self) -> Result<Timeouts, IpvsError>;

    /// Version and connection table size; also the cheapest "is IPVS there" probe.
    fn info(&mut self) -> Result<Info, IpvsError>;

    /// Running sync daemons.
    fn daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError>;

    /// Number of request messages sent so far (for the benchmark; 0 where it means nothing).
    fn messages_sent(&self) -> u64 {
        0
    }

    /// The whole table without counters.
    fn dump(&mut self) -> Result<Table, IpvsError> {
        let mut table = Table::default();
        for svc in self.services()? {
            let dests = self
                .dests(&svc.key)?
                .into_iter()
                .map(|d| (d.key, d.spec))
                .collect();
            table.services.insert(
                svc.key,
                TableService {
                    spec: svc.spec,
                    dests,
                },
            );
        }
        Ok(table)
    }
}
