//! Our own client for the kernel's IPVS generic netlink family.
//!
//! Split in two so that everything that can be wrong about bytes is tested without a kernel:
//! [`codec`] is pure (requests out, replies in, byte orders per the kernel's quirks), and
//! [`kernel`] only moves those bytes over a `NETLINK_GENERIC` socket, matches sequence numbers and
//! refuses requests an old kernel would silently ignore.

pub mod codec;
pub mod kernel;

pub use kernel::{KernelBackend, KernelFeatures};
