//! When a checker runs next and when its results change its verdict.
//!
//! keepalived 2.2.7's rules: a checker that is up goes down on the (retry+1)-th consecutive
//! failure, the re-attempts `delay_before_retry` apart; before its first success one failure
//! is enough (the counter starts exhausted); while down, attempts come every `delay_loop` and
//! one success brings it up. The first attempt comes 1 s + a random part of `warmup` after
//! start, so a thousand checkers do not fire together.

use std::time::Duration;

/// A checker's timing settings, inheritance already resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Between attempts while the verdict holds.
    pub delay_loop: Duration,
    /// Between re-attempts after a failure of an up checker.
    pub delay_before_retry: Duration,
    /// Re-attempts before an up checker goes down.
    pub retry: u32,
    /// Spread of the first attempt.
    pub warmup: Duration,
}

/// The verdict state of one checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    timing: Timing,
    up: bool,
    succeeded_once: bool,
    failures: u32,
    /// SMTP_CHECK's rule: the count restarts every cycle, with no first-failure shortcut, and
    /// a checker that is down still makes its re-attempts.
    reset_each_cycle: bool,
}

/// What one attempt's result means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The verdict changed to this.
    pub changed: Option<bool>,
    /// Wait this long before the next attempt.
    pub next: Duration,
    /// Failures counted in the streak that ended in a down verdict (for `failed after N
    /// retries`); 0 when it went down at the first failure.
    pub retries_used: u32,
    /// The attempt was a re-attempt after a failure (for `log_all_failures`-style lines).
    pub retrying: bool,
}

impl Schedule {
    /// A checker starting with verdict `up` (alpha checkers start down); `succeeded_once`
    /// carries a verdict across a reload.
    pub fn new(timing: Timing, up: bool, succeeded_once: bool) -> Schedule {
        Schedule {
            timing,
            up,
            succeeded_once,
            failures: 0,
            reset_each_cycle: false,
        }
    }

    /// SMTP_CHECK's counting (2.2.7 resets its retry counter at every `delay_loop` cycle).
    pub fn resetting_each_cycle(mut self) -> Schedule {
        self.reset_each_cycle = true;
        self
    }

    /// The pause between attempts while the verdict holds (also a suspended checker's pace).
    pub fn delay_loop(&self) -> Duration {
        self.timing.delay_loop
    }

    /// The verdict now.
    pub fn up(&self) -> bool {
        self.up
    }

    /// Delay of the first attempt: 1 s plus `fraction` (0..1, the caller's random number) of
    /// the warmup.
    pub fn first_delay(&self, fraction: f64) -> Duration {
        Duration::from_secs(1) + self.timing.warmup.mul_f64(fraction.clamp(0.0, 1.0))
    }

    /// Records one attempt's result.
    pub fn record(&mut self, ok: bool) -> Outcome {
        let mut out = Outcome {
            changed: None,
            next: self.timing.delay_loop,
            retries_used: 0,
            retrying: false,
        };
        if ok {
            self.failures = 0;
            self.succeeded_once = true;
            if !self.up {
                self.up = true;
                out.changed = Some(true);
            }
            return out;
        }
        if self.reset_each_cycle {
            self.failures += 1;
            if self.failures > self.timing.retry {
                out.retries_used = self.failures - 1;
                self.failures = 0;
                if self.up {
                    self.up = false;
                    out.changed = Some(false);
                }
            } else {
                out.next = self.timing.delay_before_retry;
                out.retrying = true;
            }
            return out;
        }
        if !self.up {
            return out;
        }
        if !self.succeeded_once {
            self.up = false;
            out.changed = Some(false);
            return out;
        }
        self.failures += 1;
        if self.failures > self.timing.retry {
            out.retries_used = self.failures - 1;
            self.failures = 0;
            self.up = false;
            out.changed = Some(false);
        } else {
            out.next = self.timing.delay_before_retry;
            out.retrying = true;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(retry: u32) -> Timing {
        Timing {
            delay_loop: Duration::from_secs(2),
            delay_before_retry: Duration::from_secs(1),
            retry,
            warmup: Duration::from_secs(2),
        }
    }

    #[test]
    fn the_first_failure_after_start_is_enough() {
        let mut s = Schedule::new(timing(3), true, false);
        let o = s.record(false);
        assert_eq!(o.changed, Some(false));
        assert_eq!(o.next, Duration::from_secs(2));
    }

    #[test]
    fn an_up_checker_goes_down_on_the_retry_plus_first_failure() {
        // Lab: retry 2, delay_before_retry 1, delay_loop 2.
        let mut s = Schedule::new(timing(2), true, false);
        assert_eq!(s.record(true).changed, None);
        let a = s.record(false);
        assert_eq!((a.changed, a.next), (None, Duration::from_secs(1)));
        let b = s.record(false);
        assert_eq!((b.changed, b.next), (None, Duration::from_secs(1)));
        let c = s.record(false);
        assert_eq!((c.changed, c.retries_used), (Some(false), 2));
        // While down failures do not count; one success brings it back.
        assert_eq!(s.record(false).changed, None);
        assert_eq!(s.record(true).changed, Some(true));
    }

    #[test]
    fn a_success_resets_the_streak() {
        let mut s = Schedule::new(timing(1), true, true);
        s.record(false);
        s.record(true);
        assert_eq!(s.record(false).changed, None);
        assert_eq!(s.record(false).changed, Some(false));
    }

    #[test]
    fn smtp_counts_every_cycle_afresh_and_retries_while_down() {
        let mut s = Schedule::new(timing(1), true, false).resetting_each_cycle();
        // No first-failure shortcut: retry 1 means two failures.
        let a = s.record(false);
        assert_eq!((a.changed, a.next), (None, Duration::from_secs(1)));
        let b = s.record(false);
        assert_eq!((b.changed, b.next), (Some(false), Duration::from_secs(2)));
        // Down: the next cycle still re-attempts after a failure.
        let c = s.record(false);
        assert_eq!((c.changed, c.next), (None, Duration::from_secs(1)));
        assert_eq!(s.record(true).changed, Some(true));
    }

    #[test]
    fn alpha_starts_down_and_warmup_spreads() {
        let mut s = Schedule::new(timing(1), false, false);
        assert_eq!(s.record(false).changed, None);
        assert_eq!(s.first_delay(0.5), Duration::from_secs(2));
        assert_eq!(s.record(true).changed, Some(true));
    }
}
