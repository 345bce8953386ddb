//! Log lines for VRRP state changes: keepalived's own wording first (so existing log alerts
//! keep working), then one line of ours that says why, with the timing.

use ka_vrrp::instance::{Cause, State};
use ka_vrrp::time::Duration;

/// keepalived's line for entering a state, e.g. `(VI_1) Entering MASTER STATE`.
pub fn keepalived_line(instance: &str, from: State, to: State) -> Option<String> {
    let s = match (from, to) {
        (State::Init, State::Backup) => format!("({instance}) Entering BACKUP STATE (init)"),
        (State::Init, State::Fault) => format!("({instance}) Entering FAULT STATE (init)"),
        (_, State::Backup) => format!("({instance}) Entering BACKUP STATE"),
        (_, State::Master) => format!("({instance}) Entering MASTER STATE"),
        (_, State::Fault) => format!("({instance}) Entering FAULT STATE"),
        (_, State::Init) => format!("({instance}) Stopping"),
    };
    Some(s)
}

/// Our explanation of a state change: the cause and, where it matters, the timing.
pub fn cause_line(instance: &str, cause: &Cause, master_down: Duration) -> String {
    let secs = |d: Duration| format!("{:.3}", d.as_micros() as f64 / 1e6);
    match cause {
        Cause::Startup => format!("({instance}) started; waiting for adverts"),
        Cause::Owner => {
            format!(
                "({instance}) address owner (priority 255) with state MASTER: taking over at once"
            )
        }
        Cause::MasterDown => format!(
            "({instance}) no advert for {} s (master down interval {} s): taking over",
            secs(master_down),
            secs(master_down)
        ),
        Cause::PriorityZero => {
            format!("({instance}) the master released (priority 0): taking over")
        }
        Cause::HigherPriority { from, priority } => {
            format!(
                "({instance}) advert from {from} with priority {priority} wins: becoming backup"
            )
        }
        Cause::Fault(reason) => format!("({instance}) fault: {reason:?}"),
        Cause::FaultCleared => format!("({instance}) every fault cleared"),
        Cause::SyncGroup(g) => format!("({instance}) following sync group {g}"),
        Cause::Shutdown => format!("({instance}) shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_wording() {
        assert_eq!(
            keepalived_line("VI_1", State::Init, State::Backup).as_deref(),
            Some("(VI_1) Entering BACKUP STATE (init)")
        );
        assert_eq!(
            keepalived_line("VI_1", State::Backup, State::Master).as_deref(),
            Some("(VI_1) Entering MASTER STATE")
        );
        let l = cause_line("VI_1", &Cause::MasterDown, Duration(3_609_375));
        assert!(l.contains("3.609"), "{l}");
    }
}
