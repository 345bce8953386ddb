//! The IPVS model and its reconciler: desired virtual/real servers versus the kernel's table.
//!
//! Pure model and codec; the kernel backend is driven from the daemon. (Issues 3 and later.)
