//! Trackers to effective priority and FAULT, with keepalived's weight rules: weight 0 makes a
//! failure a FAULT (`reverse`: being up is the fault); a positive weight is added while up, a
//! negative one subtracted while down (`reverse` flips when it applies); a tracked file's value
//! is multiplied by its weight (weight 0: any non-zero value is a FAULT; a result below -253 is
//! a FAULT). The engine receives tracker states; it never runs scripts.

/// Identifies a tracker (script, interface, file, process) across the engine.
pub type TrackerId = usize;

/// A tracker's current state, as its owner (script runner, link watcher...) reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackerState {
    /// Not known yet (a script that has not run): keepalived holds the instance in FAULT
    /// only for unweighted trackers.
    Unknown,
    /// Healthy.
    Up,
    /// Failed.
    Down,
    /// A tracked file's integer value.
    Value(i64),
}

/// How an instance uses a tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// Which tracker.
    pub tracker: TrackerId,
    /// Weight (0 = failure means FAULT).
    pub weight: i32,
    /// Apply the weight the other way round.
    pub reverse: bool,
}

/// What one binding contributes given the tracker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing.
    None,
    /// Add this to the priority.
    Delta(i32),
    /// The instance must be in FAULT.
    Fault,
}

/// The effect of a binding on its instance.
pub fn effect(b: &Binding, state: TrackerState) -> Effect {
    match state {
        TrackerState::Unknown => {
            if b.weight == 0 {
                Effect::Fault
            } else {
                Effect::None
            }
        }
        TrackerState::Up | TrackerState::Down => {
            let up = (state == TrackerState::Up) != b.reverse;
            match (b.weight, up) {
                (0, true) => Effect::None,
                (0, false) => Effect::Fault,
                (w, true) if w > 0 => Effect::Delta(w),
                (w, false) if w < 0 => Effect::Delta(w),
                _ => Effect::None,
            }
        }
        TrackerState::Value(v) => {
            if b.weight == 0 {
                return if v != 0 { Effect::Fault } else { Effect::None };
            }
            let mut d = v.saturating_mul(i64::from(b.weight));
            if b.reverse {
                d = -d;
            }
            if d < -253 {
                Effect::Fault
            } else {
                Effect::Delta(d.clamp(-253, 253) as i32)
            }
        }
    }
}

/// Sums the bindings of one instance: (priority delta, whether some tracker forces FAULT).
pub fn combine(bindings: &[Binding], states: &[TrackerState]) -> (i32, bool) {
    let mut delta = 0i32;
    let mut fault = false;
    for b in bindings {
        let state = states
            .get(b.tracker)
            .copied()
            .unwrap_or(TrackerState::Unknown);
        match effect(b, state) {
            Effect::None => {}
            Effect::Delta(d) => delta = delta.saturating_add(d),
            Effect::Fault => fault = true,
        }
    }
    (delta, fault)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(weight: i32, reverse: bool) -> Binding {
        Binding {
            tracker: 0,
            weight,
            reverse,
        }
    }

    #[test]
    fn keepalived_weight_rules() {
        use TrackerState::*;
        assert_eq!(effect(&b(0, false), Down), Effect::Fault);
        assert_eq!(effect(&b(0, false), Up), Effect::None);
        assert_eq!(effect(&b(0, true), Up), Effect::Fault);
        assert_eq!(effect(&b(10, false), Up), Effect::Delta(10));
        assert_eq!(effect(&b(10, false), Down), Effect::None);
        assert_eq!(effect(&b(-10, false), Down), Effect::Delta(-10));
        assert_eq!(effect(&b(-10, false), Up), Effect::None);
        assert_eq!(effect(&b(10, true), Down), Effect::Delta(10));
        assert_eq!(effect(&b(0, false), Unknown), Effect::Fault);
        assert_eq!(effect(&b(5, false), Unknown), Effect::None);
        assert_eq!(effect(&b(0, false), Value(3)), Effect::Fault);
        assert_eq!(effect(&b(2, false), Value(3)), Effect::Delta(6));
        assert_eq!(effect(&b(-100, false), Value(3)), Effect::Fault);
    }

    #[test]
    fn combine_sums_and_faults() {
        let bs = [
            Binding {
                tracker: 0,
                weight: 10,
                reverse: false,
            },
            Binding {
                tracker: 1,
                weight: -20,
                reverse: false,
            },
        ];
        assert_eq!(
            combine(&bs, &[TrackerState::Up, TrackerState::Down]),
            (-10, false)
        );
        let bs = [Binding {
            tracker: 0,
            weight: 0,
            reverse: false,
        }];
        assert_eq!(combine(&bs, &[TrackerState::Down]), (0, true));
    }
}
