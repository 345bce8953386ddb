//! IPVS for keepalived-rs: the table model, a backend interface with a kernel (generic netlink)
//! and an in-memory implementation, the configuration resolved into virtual servers, the pool
//! state machine (verdicts in, log lines, notifications and a desired table out), and the
//! reconciler that turns differences into ordered operations.
//!
//! Everything except the kernel backend is pure and tested on values.

pub mod backend;
pub mod genl;
pub mod memory;
pub mod model;
pub mod pool;
pub mod reconcile;
pub mod table;

pub use backend::{Backend, IpvsError};
pub use genl::KernelBackend;
pub use memory::MemoryBackend;
pub use table::*;
