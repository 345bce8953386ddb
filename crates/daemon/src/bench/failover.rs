//! Failover (SIGKILL and link cut, v2 1 s and v3 0.1 s) and SIGTERM handover, measured on the
//! wire and in the new master's namespace.

use super::{Figure, Implementation};
use anyhow::Result;

/// Failover figures.
pub fn failover(_impls: &[Implementation], _trials: usize) -> Result<Vec<Figure>> {
    anyhow::bail!("not built yet")
}

/// SIGTERM handover figures.
pub fn handover(_impls: &[Implementation], _trials: usize) -> Result<Vec<Figure>> {
    anyhow::bail!("not built yet")
}
