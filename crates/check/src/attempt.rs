//! What one check attempt says, in the words the logs need.

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The server passed.
    Success,
    /// The server failed: counts towards `retry`.
    Failure,
    /// Our side could not try (a bind failure, no free port...): keepalived logs it and tries
    /// again after `delay_loop` without counting it.
    NotCounted,
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// How it ended.
    pub outcome: Outcome,
    /// keepalived's wording of what happened (`Timeout connecting`, `HTTP status code error`,
    /// `connection refused`...), used in `log_all_failures` lines and mail bodies.
    pub reason: String,
    /// A dynamic weight contribution (MISC_CHECK with `misc_dynamic`), when the attempt gives one.
    pub weight: Option<i64>,
}

impl Attempt {
    /// A pass.
    pub fn success(reason: impl Into<String>) -> Attempt {
        Attempt {
            outcome: Outcome::Success,
            reason: reason.into(),
            weight: None,
        }
    }

    /// A counted failure.
    pub fn failure(reason: impl Into<String>) -> Attempt {
        Attempt {
            outcome: Outcome::Failure,
            reason: reason.into(),
            weight: None,
        }
    }

    /// An attempt that could not be made on our side.
    pub fn not_counted(reason: impl Into<String>) -> Attempt {
        Attempt {
            outcome: Outcome::NotCounted,
            reason: reason.into(),
            weight: None,
        }
    }

    /// Whether it passed.
    pub fn ok(&self) -> bool {
        self.outcome == Outcome::Success
    }
}
