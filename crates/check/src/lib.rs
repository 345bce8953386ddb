//! Health checkers: the pure retry/verdict state machine every checker shares (keepalived
//! 2.2.7's counting rules, time passed in), and the probes. The probes beyond TCP_CHECK and
//! MISC_CHECK arrive with the checker issue.

pub mod schedule;

pub use schedule::{Outcome, Schedule, Timing};
