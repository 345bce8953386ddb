//! IPVS for keepalived-rs: the table model, a backend interface with a kernel (generic netlink)
//! and an in-memory implementation, the desired state built from the configuration, and the
//! reconciler that turns differences into ordered operations.
//!
//! Everything except the kernel backend is pure and tested on values.

pub mod backend;
pub mod memory;
pub mod table;

pub use backend::{Backend, IpvsError};
pub use memory::MemoryBackend;
pub use table::*;
