//! Packet capture on the lab's bridge.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use nix::sys::signal::Signal;

use crate::process::Proc;

/// A running tcpdump on br0. [`Capture::stop`] ends it cleanly so the pcap is complete; dropping
/// it without `stop` also ends it (through [`Proc`]'s drop), the file stays in the lab directory.
#[derive(Debug)]
pub struct Capture {
    proc: Proc,
    file: PathBuf,
}

impl Capture {
    pub(crate) fn new(proc: Proc, file: PathBuf) -> Self {
        Capture { proc, file }
    }

    /// Where the pcap is being written.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Stops tcpdump (SIGTERM, so it flushes) and returns the pcap path for tshark/tcpdump -r.
    pub fn stop(mut self) -> Result<PathBuf> {
        self.proc.signal(Signal::SIGTERM)?;
        if self.proc.wait_exit(Duration::from_secs(5)).is_none() {
            bail!(
                "tcpdump did not exit within 5 s of SIGTERM: {}",
                self.proc.log().trim()
            );
        }
        Ok(self.file.clone())
    }

    /// tcpdump's own output so far (e.g. "N packets captured" after stop).
    pub fn log(&self) -> String {
        self.proc.log()
    }
}
