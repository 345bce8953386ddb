//! Idle cost (CPU over every thread and RSS with 1, 200 and 1,000 instances) and the rate
//! scenario (255 instances at 0.01 s between two nodes).

use super::{Figure, Implementation};
use anyhow::Result;
use std::time::Duration;

/// Idle CPU and RSS, master and backup, for each size.
pub fn idle(_impls: &[Implementation], _sizes: &[usize], _window: Duration) -> Result<Vec<Figure>> {
    anyhow::bail!("not built yet")
}

/// 255 instances at advert_int 0.01 s between two nodes.
pub fn rate(_impls: &[Implementation], _window: Duration) -> Result<Vec<Figure>> {
    anyhow::bail!("not built yet")
}
