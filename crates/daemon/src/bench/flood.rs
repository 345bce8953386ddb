//! The bad-advert flood: malformed, wrong-TTL, wrong-version, bad-checksum and unknown-VRID
//! adverts from the client namespace against a v3 0.1 s master.

use super::{Figure, Implementation};
use anyhow::Result;
use std::process::ExitCode;

/// Runs the flood against each implementation.
pub fn flood(_impls: &[Implementation]) -> Result<Vec<Figure>> {
    anyhow::bail!("not built yet")
}

/// `keepalived-rs flood-adverts ...`: the generator, run inside the client namespace.
pub fn flood_main(_args: &[String]) -> Result<ExitCode> {
    anyhow::bail!("not built yet")
}
