//! The VRRP protocol core, sans-IO: packet codec, instance state machine, sync groups.
//!
//! Time and events come in as values, actions go out as values; this crate owns no socket, no
//! clock and no runtime, so every protocol rule can be tested exactly and fast. (Issue 4.)
pub mod checksum;
pub mod engine;
pub mod instance;
pub mod packet;
pub mod priority;
pub mod time;
