//! Typed netlink failures.
//!
//! The kernel answers every request with an errno; the ones a VRRP daemon has to tell apart
//! (the address is already there, the address or route is already gone, the interface
//! vanished) get their own variant so callers can treat them as "already done" without
//! matching on numbers.

use std::io;

/// What went wrong talking to the kernel over NETLINK_ROUTE.
///
/// Adds and deletes are idempotent from keepalived's point of view: a VIP that is already
/// present after a takeover, or already absent on release, is not a fault. Those outcomes are
/// the distinct variants [`NetlinkError::Exists`], [`NetlinkError::AddressNotAvailable`] and
/// [`NetlinkError::NotFound`]; [`NetlinkError::already_done`] groups them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetlinkError {
    /// The object being added is already there (EEXIST): a VIP someone (or a dead
    /// predecessor) left, or a route/rule added twice.
    #[error("already exists (EEXIST){}", ext(.message))]
    Exists {
        /// The kernel's extended-ACK text, when it gave one.
        message: Option<String>,
    },
    /// The address being deleted is not on the interface (EADDRNOTAVAIL): released already.
    #[error("address not present (EADDRNOTAVAIL){}", ext(.message))]
    AddressNotAvailable {
        /// The kernel's extended-ACK text, when it gave one.
        message: Option<String>,
    },
    /// The route or rule being deleted does not exist (ESRCH for routes, ENOENT for rules).
    #[error("no such route or rule (errno {errno}){}", ext(.message))]
    NotFound {
        /// ESRCH or ENOENT, as the kernel sent it.
        errno: i32,
        /// The kernel's extended-ACK text, when it gave one.
        message: Option<String>,
    },
    /// The interface index or name is unknown (ENODEV): the interface went away under us.
    #[error("no such interface (ENODEV){}", ext(.message))]
    NoDevice {
        /// The kernel's extended-ACK text, when it gave one.
        message: Option<String>,
    },
    /// Any other refusal from the kernel, with its errno (positive) so it can be logged and
    /// compared with what `ip` would print.
    #[error("kernel refused the request: {} (errno {errno}){}", io::Error::from_raw_os_error(*.errno), ext(.message))]
    Kernel {
        /// The positive errno value.
        errno: i32,
        /// The kernel's extended-ACK text, when it gave one.
        message: Option<String>,
    },
    /// No answer arrived within the handle's timeout; the request may or may not have been
    /// applied, so the caller should re-read the kernel state.
    #[error("timed out waiting for the kernel's answer")]
    Timeout,
    /// A dump kept being interrupted by concurrent changes (NLM_F_DUMP_INTR) and never
    /// completed consistently.
    #[error("dump interrupted by concurrent changes too many times")]
    DumpInterrupted,
    /// The socket itself failed (open, bind, send, receive).
    #[error("netlink socket: {0}")]
    Io(#[from] io::Error),
    /// The kernel sent something we could not decode.
    #[error("cannot decode netlink message: {0}")]
    Decode(String),
    /// The request was malformed before it reached the kernel (mixed families, a label too
    /// long for IFNAMSIZ, a prefix length out of range...).
    #[error("invalid request: {0}")]
    Invalid(String),
}

fn ext(message: &Option<String>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!(": {m}"),
        _ => String::new(),
    }
}

impl NetlinkError {
    /// Builds the variant for a kernel errno (positive or negative) and its extended-ACK text.
    pub(crate) fn from_errno(errno: i32, message: Option<String>) -> Self {
        let errno = errno.abs();
        match errno {
            libc::EEXIST => Self::Exists { message },
            libc::EADDRNOTAVAIL => Self::AddressNotAvailable { message },
            libc::ESRCH | libc::ENOENT => Self::NotFound { errno, message },
            libc::ENODEV => Self::NoDevice { message },
            _ => Self::Kernel { errno, message },
        }
    }

    /// The kernel errno behind this error (positive), so logs and metrics can carry the
    /// same number `ip` reports; `None` when the failure was not the kernel's answer.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::Exists { .. } => Some(libc::EEXIST),
            Self::AddressNotAvailable { .. } => Some(libc::EADDRNOTAVAIL),
            Self::NotFound { errno, .. } | Self::Kernel { errno, .. } => Some(*errno),
            Self::NoDevice { .. } => Some(libc::ENODEV),
            Self::Io(e) => e.raw_os_error(),
            Self::Timeout | Self::DumpInterrupted | Self::Decode(_) | Self::Invalid(_) => None,
        }
    }

    /// True when an add found the object present or a delete found it absent: the desired
    /// state already holds, which keepalived treats as success (but may log).
    pub fn already_done(&self) -> bool {
        matches!(
            self,
            Self::Exists { .. } | Self::AddressNotAvailable { .. } | Self::NotFound { .. }
        )
    }
}
