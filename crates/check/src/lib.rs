//! Health checkers: the pure retry/verdict state machine every checker shares (keepalived
//! 2.2.7's counting rules, time passed in), connection set-up, and one module per checker type,
//! each an async "attempt → verdict" function run by the daemon's checker engine.

pub mod attempt;
pub mod dns;
pub mod file;
pub mod genhash;
pub mod http;
pub mod net;
pub mod ping;
pub mod schedule;
pub mod smtp;
pub mod tcp;
pub mod tls;
pub mod udp;

pub use attempt::{Attempt, Outcome};
pub use net::Connect;
pub use schedule::{Schedule, Timing};
