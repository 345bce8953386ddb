//! The VRRP thread's notion of time: CLOCK_MONOTONIC readings as the engine's `Instant`, and
//! an absolute timerfd deadline with sub-millisecond precision (not a 1 ms timer wheel:
//! keepalived's failover lands within 0.2-0.4 ms of Master_Down_Interval).

use ka_vrrp::time::Instant;
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use nix::time::clock_gettime;
use std::os::fd::{AsFd, BorrowedFd};

/// Now, on CLOCK_MONOTONIC, in microseconds.
pub fn now() -> Instant {
    match clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => Instant(ts.tv_sec() as u64 * 1_000_000 + ts.tv_nsec() as u64 / 1_000),
        // CLOCK_MONOTONIC cannot fail on Linux; a zero reading would only delay timers.
        Err(_) => Instant(0),
    }
}

/// A one-shot absolute deadline the poll loop waits on.
pub struct DeadlineTimer {
    fd: TimerFd,
}

impl DeadlineTimer {
    /// A disarmed timer.
    pub fn new() -> nix::Result<Self> {
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        Ok(DeadlineTimer { fd })
    }

    /// Arms the timer for `at` (absolute); `None` disarms it. A deadline in the past fires at
    /// once.
    pub fn set(&self, at: Option<Instant>) -> nix::Result<()> {
        match at {
            None => self.fd.unset(),
            Some(t) => {
                // An absolute time of zero would disarm the timer: use at least 1 ns.
                let us = t.0.max(1);
                let ts = TimeSpec::new((us / 1_000_000) as i64, ((us % 1_000_000) * 1_000) as i64);
                self.fd.set(
                    Expiration::OneShot(ts),
                    TimerSetTimeFlags::TFD_TIMER_ABSTIME,
                )
            }
        }
    }

    /// Consumes a pending expiry (after poll said readable).
    pub fn clear(&self) {
        // EAGAIN when nothing is pending: harmless.
        let _ = self.fd.wait();
    }
}

impl AsFd for DeadlineTimer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

    #[test]
    fn deadline_fires_at_its_time() {
        let t = DeadlineTimer::new().expect("timerfd");
        let start = now();
        let at = Instant(start.0 + 3_000);
        t.set(Some(at)).expect("set");
        let mut fds = [PollFd::new(t.as_fd(), PollFlags::POLLIN)];
        let n = poll(&mut fds, PollTimeout::from(1000u16)).expect("poll");
        assert_eq!(n, 1);
        let woke = now();
        assert!(woke >= at, "woke {woke} before {at}");
        t.clear();
        t.set(None).expect("unset");
    }
}
