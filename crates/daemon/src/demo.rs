//! `keepalived-rs demo`: a three-router lab that shows an election, a failover and a
//! preemption, with measured milliseconds, then cleans up.

use anyhow::Result;
use std::process::ExitCode;

/// Entry point of `keepalived-rs demo`.
pub fn main(_args: &[String]) -> Result<ExitCode> {
    anyhow::bail!("not built yet")
}
