//! The virtual-server state machine: checker verdicts in, keepalived's log lines and
//! notifications out, and at any moment the IPVS table the pools should have.
//!
//! Pure: no clock, no I/O. The daemon feeds verdicts, applies the reconciler's operations for
//! [`Pool::desired`], then runs the [`Effect`]s in order. Rules follow keepalived 2.2.7
//! (start-up optimism, alpha, all-checkers-up, quorum with hysteresis, the sorry-server swap,
//! inhibit_on_failure, reload carrying state, shutdown); see docs/lvs.md for where we differ.

use crate::model::{dest_spec, LvsModel, RsModel, VsModel};
use crate::table::{Table, TableService};
use ka_config::model::script::Script;

/// Why a real server notification is sent (mail bodies differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsCause {
    /// A checker verdict (or start-up with `rs_init_notifies`).
    Check,
    /// The server left the configuration at a reload.
    Removed,
    /// Shutdown with `omega`.
    Shutdown,
}

/// Something the daemon must do, in order, after applying the IPVS operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A log line (syslog ident `Keepalived_healthcheckers`).
    Log(String),
    /// A real server went up or down: its notify script, the FIFO line, mail.
    RealServer(RsNotice),
    /// A virtual server gained or lost its quorum: quorum script, FIFO line, mail.
    Quorum(QuorumNotice),
}

/// A real server's transition, self-contained (it may outlive the model it came from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsNotice {
    /// keepalived's virtual server name.
    pub vs_name: String,
    /// keepalived's real server name.
    pub rs_name: String,
    /// Up or down.
    pub up: bool,
    /// Why.
    pub cause: RsCause,
    /// `notify_up` or `notify_down`, whichever applies.
    pub script: Option<Script>,
    /// Whether mail goes out.
    pub smtp_alert: bool,
}

/// A virtual server's quorum transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumNotice {
    /// keepalived's virtual server name.
    pub vs_name: String,
    /// Gained (true) or lost.
    pub up: bool,
    /// The log text, reused as the mail body (`Gained quorum 1+0=1 <= 4`).
    pub text: String,
    /// `quorum_up` or `quorum_down`, whichever applies.
    pub script: Option<Script>,
    /// Whether mail goes out.
    pub smtp_alert: bool,
}

fn rs_notice(vs: &VsModel, rs: &RsModel, up: bool, cause: RsCause) -> Effect {
    Effect::RealServer(RsNotice {
        vs_name: vs.name.clone(),
        rs_name: rs.name.clone(),
        up,
        cause,
        script: if up {
            rs.notify_up.clone()
        } else {
            rs.notify_down.clone()
        },
        smtp_alert: rs.smtp_alert,
    })
}

fn quorum_notice(vs: &VsModel, up: bool, text: String) -> Effect {
    Effect::Quorum(QuorumNotice {
        vs_name: vs.name.clone(),
        up,
        text,
        script: if up {
            vs.quorum_up.clone()
        } else {
            vs.quorum_down.clone()
        },
        smtp_alert: vs.smtp_alert,
    })
}

/// A real server's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsState {
    /// Each checker's verdict.
    pub checkers_up: Vec<bool>,
    /// Each checker's weight contribution (MISC dynamic, FILE_CHECK).
    pub weight_deltas: Vec<i64>,
    /// In the pool as far as quorum is concerned: every checker up.
    pub alive: bool,
}

impl RsState {
    fn fresh(rs: &RsModel, was_down: bool) -> RsState {
        let checkers_up: Vec<bool> = rs.checkers.iter().map(|c| !c.alpha && !was_down).collect();
        RsState {
            alive: checkers_up.iter().all(|u| *u),
            weight_deltas: vec![0; checkers_up.len()],
            checkers_up,
        }
    }
}

/// A virtual server's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VsState {
    /// Quorum held.
    pub quorum_up: bool,
    /// The sorry server is serving instead of the real servers.
    pub sorry_in: bool,
    /// Real servers, in model order.
    pub rs: Vec<RsState>,
}

/// Every virtual server's state with the model it belongs to.
#[derive(Debug, Clone)]
pub struct Pool {
    model: LvsModel,
    state: Vec<VsState>,
}

fn effective_weight(rs: &RsModel, st: &RsState) -> i64 {
    i64::from(rs.weight) + st.weight_deltas.iter().sum::<i64>()
}

fn weight_sum(vs: &VsModel, st: &VsState) -> i64 {
    vs.real_servers
        .iter()
        .zip(&st.rs)
        .filter(|(_, s)| s.alive)
        .map(|(r, s)| effective_weight(r, s).clamp(0, i64::from(i32::MAX)))
        .sum()
}

impl Pool {
    /// The state at start-up: real servers in the pool before any check (unless alpha), quorum
    /// evaluated once (keepalived announces a gained quorum at start).
    pub fn start(model: LvsModel, rs_init_notifies: bool) -> (Pool, Vec<Effect>) {
        let state = model
            .virtual_servers
            .iter()
            .map(|vs| VsState {
                quorum_up: false,
                sorry_in: false,
                rs: vs
                    .real_servers
                    .iter()
                    .map(|r| RsState::fresh(r, false))
                    .collect(),
            })
            .collect();
        let mut pool = Pool { model, state };
        let mut fx = Vec::new();
        for v in 0..pool.state.len() {
            if rs_init_notifies {
                for r in 0..pool.state[v].rs.len() {
                    if pool.state[v].rs[r].alive {
                        let vs = &pool.model.virtual_servers[v];
                        fx.push(rs_notice(vs, &vs.real_servers[r], true, RsCause::Check));
                    }
                }
            }
            pool.evaluate_quorum(v, true, &mut fx);
        }
        (pool, fx)
    }

    /// The model in force.
    pub fn model(&self) -> &LvsModel {
        &self.model
    }

    /// The state of every virtual server.
    pub fn state(&self) -> &[VsState] {
        &self.state
    }

    /// Records one checker's verdict.
    pub fn checker_result(
        &mut self,
        vs: usize,
        rs: usize,
        checker: usize,
        up: bool,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(st) = self.state.get_mut(vs).and_then(|v| v.rs.get_mut(rs)) else {
            return fx;
        };
        let Some(slot) = st.checkers_up.get_mut(checker) else {
            return fx;
        };
        *slot = up;
        self.refresh_rs(vs, rs, &mut fx);
        fx
    }

    /// Records one checker's weight contribution (dynamic MISC_CHECK, FILE_CHECK).
    pub fn weight_delta(
        &mut self,
        vs: usize,
        rs: usize,
        checker: usize,
        delta: i64,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        let (Some(model), Some(st)) = (
            self.model
                .virtual_servers
                .get(vs)
                .and_then(|v| v.real_servers.get(rs)),
            self.state.get_mut(vs).and_then(|v| v.rs.get_mut(rs)),
        ) else {
            return fx;
        };
        let before = effective_weight(model, st);
        match st.weight_deltas.get_mut(checker) {
            Some(slot) => *slot = delta,
            None => return fx,
        }
        let after = effective_weight(model, st);
        if before != after {
            let vs_name = &self.model.virtual_servers[vs].name;
            fx.push(Effect::Log(format!(
                "Changing weight from {before} to {after} for {} service {} of VS {vs_name}",
                if st.alive { "active" } else { "inactive" },
                model.name
            )));
            self.evaluate_quorum(vs, false, &mut fx);
        }
        fx
    }

    fn refresh_rs(&mut self, v: usize, r: usize, fx: &mut Vec<Effect>) {
        let vs = &self.model.virtual_servers[v];
        let rs = &vs.real_servers[r];
        let st = &mut self.state[v].rs[r];
        let alive = st.checkers_up.iter().all(|u| *u);
        if alive == st.alive {
            return;
        }
        st.alive = alive;
        fx.push(Effect::Log(match (alive, rs.inhibit) {
            (false, false) => format!("Removing service {} from VS {}", rs.name, vs.name),
            (false, true) => format!("Disabling service {} of VS {}", rs.name, vs.name),
            (true, false) => format!("Adding service {} to VS {}", rs.name, vs.name),
            (true, true) => format!("Enabling service {} of VS {}", rs.name, vs.name),
        }));
        fx.push(rs_notice(vs, rs, alive, RsCause::Check));
        self.evaluate_quorum(v, false, fx);
    }

    fn evaluate_quorum(&mut self, v: usize, init: bool, fx: &mut Vec<Effect>) {
        let vs = &self.model.virtual_servers[v];
        let st = &mut self.state[v];
        let sum = weight_sum(vs, st);
        let (q, h) = (i64::from(vs.quorum), i64::from(vs.hysteresis));
        if !st.quorum_up && sum >= q + h {
            st.quorum_up = true;
            let text = format!("Gained quorum {q}+{h}={} <= {sum}", q + h);
            fx.push(Effect::Log(format!("{text} for VS {}", vs.name)));
            if st.sorry_in {
                if let Some(s) = &vs.sorry {
                    fx.push(Effect::Log(if s.inhibit {
                        format!("Disabling sorry server {} of VS {}", s.name, vs.name)
                    } else {
                        format!("Removing sorry server {} from VS {}", s.name, vs.name)
                    }));
                }
                st.sorry_in = false;
                fx.push(Effect::Log(format!(
                    "Adding alive servers to the pool for VS {}",
                    vs.name
                )));
            }
            fx.push(quorum_notice(vs, true, text));
        } else if (st.quorum_up && (sum == 0 || sum < q - h)) || (init && !st.quorum_up) {
            st.quorum_up = false;
            let text = if init {
                format!("Starting with quorum down {q}+{h}={} > {sum}", q + h)
            } else {
                format!("Lost quorum {q}-{h}={} > {sum}", q - h)
            };
            fx.push(Effect::Log(format!("{text} for VS {}", vs.name)));
            if let Some(s) = &vs.sorry {
                if !st.sorry_in {
                    fx.push(Effect::Log(if s.inhibit {
                        format!("Enabling sorry server {} of VS {}", s.name, vs.name)
                    } else {
                        format!("Adding sorry server {} to VS {}", s.name, vs.name)
                    }));
                    fx.push(Effect::Log(format!(
                        "Removing alive servers from the pool for VS {}",
                        vs.name
                    )));
                    st.sorry_in = true;
                }
            }
            fx.push(quorum_notice(vs, false, text));
        }
    }

    /// The IPVS table our virtual servers should have now. Two virtual servers naming the same
    /// service (a group used by several) share it: the first one's destination settings win.
    pub fn desired(&self) -> Table {
        let mut table = Table::default();
        for (vs, st) in self.model.virtual_servers.iter().zip(&self.state) {
            let mut dests = std::collections::BTreeMap::new();
            for (rs, rst) in vs.real_servers.iter().zip(&st.rs) {
                let weight = if rst.alive && !st.sorry_in {
                    Some(effective_weight(rs, rst))
                } else if !rst.alive && rs.inhibit {
                    Some(0)
                } else {
                    None
                };
                if let Some(w) = weight {
                    dests.insert(rs.key, dest_spec(rs.forward, w, rs.u_thresh, rs.l_thresh));
                }
            }
            if let Some(s) = &vs.sorry {
                if st.sorry_in {
                    dests.insert(s.key, dest_spec(s.forward, 1, 0, 0));
                } else if s.inhibit {
                    dests
                        .entry(s.key)
                        .or_insert_with(|| dest_spec(s.forward, 0, 0, 0));
                }
            }
            for (key, spec) in &vs.services {
                let entry = table.services.entry(*key).or_insert_with(|| TableService {
                    spec: spec.clone(),
                    dests: Default::default(),
                });
                for (k, d) in &dests {
                    entry.dests.entry(*k).or_insert(*d);
                }
            }
        }
        table
    }

    /// Moves to a new model (SIGHUP): virtual servers and real servers that keep their identity
    /// keep their state; failed ones are not re-added until a checker passes; new ones start
    /// as at start-up.
    pub fn reload(&mut self, new: LvsModel) -> Vec<Effect> {
        let mut fx = Vec::new();
        let old_model = std::mem::take(&mut self.model);
        let old_state = std::mem::take(&mut self.state);
        for (ov, ost) in old_model.virtual_servers.iter().zip(&old_state) {
            if !new
                .virtual_servers
                .iter()
                .any(|n| n.identity == ov.identity)
            {
                fx.push(Effect::Log(format!("Removing Virtual Server {}", ov.name)));
                let _ = ost;
            }
        }
        let mut state = Vec::with_capacity(new.virtual_servers.len());
        let mut fresh_quorum = Vec::new();
        for (nv_idx, nv) in new.virtual_servers.iter().enumerate() {
            let old = old_model
                .virtual_servers
                .iter()
                .zip(&old_state)
                .find(|(o, _)| o.identity == nv.identity);
            let Some((ov, ost)) = old else {
                state.push(VsState {
                    quorum_up: false,
                    sorry_in: false,
                    rs: nv
                        .real_servers
                        .iter()
                        .map(|r| RsState::fresh(r, false))
                        .collect(),
                });
                fresh_quorum.push(nv_idx);
                continue;
            };
            for (orr, orst) in ov.real_servers.iter().zip(&ost.rs) {
                if !nv.real_servers.iter().any(|n| n.key == orr.key) {
                    fx.push(Effect::Log(format!("service {} no longer exist", orr.name)));
                    if orr.inhibit && !orst.alive {
                        fx.push(Effect::Log(format!(
                            "Removing (inhibited) service {} from VS {}",
                            orr.name, ov.name
                        )));
                    }
                }
            }
            let mut rs_states = Vec::with_capacity(nv.real_servers.len());
            for nr in &nv.real_servers {
                let carried = ov
                    .real_servers
                    .iter()
                    .zip(&ost.rs)
                    .find(|(o, _)| o.key == nr.key);
                let st = match carried {
                    Some((or, ors)) => {
                        let same_checkers = or.checkers.len() == nr.checkers.len()
                            && or
                                .checkers
                                .iter()
                                .zip(&nr.checkers)
                                .all(|(a, b)| a.config == b.config);
                        let st = if same_checkers {
                            ors.clone()
                        } else {
                            RsState::fresh(nr, !ors.alive)
                        };
                        let (before, after) =
                            (effective_weight(or, ors), effective_weight(nr, &st));
                        if before != after {
                            fx.push(Effect::Log(format!(
                                "Changing weight from {before} to {after} for {} service {} of VS {}",
                                if st.alive { "active" } else { "inactive" },
                                nr.name,
                                nv.name
                            )));
                        }
                        st
                    }
                    None => RsState::fresh(nr, false),
                };
                rs_states.push(st);
            }
            let sorry_kept = match (&ov.sorry, &nv.sorry) {
                (Some(a), Some(b)) => a.key == b.key,
                _ => false,
            };
            if ost.sorry_in && !sorry_kept {
                if let Some(s) = &ov.sorry {
                    fx.push(Effect::Log(format!(
                        "Removing sorry server {} from VS {}",
                        s.name, ov.name
                    )));
                }
            }
            state.push(VsState {
                quorum_up: ost.quorum_up,
                sorry_in: ost.sorry_in && sorry_kept,
                rs: rs_states,
            });
        }
        // Down notifies for alive servers that left the configuration of a kept virtual server.
        for (ov, ost) in old_model.virtual_servers.iter().zip(&old_state) {
            if let Some(nv) = new
                .virtual_servers
                .iter()
                .find(|n| n.identity == ov.identity)
            {
                for (orr, orst) in ov.real_servers.iter().zip(&ost.rs) {
                    if orst.alive && !nv.real_servers.iter().any(|n| n.key == orr.key) {
                        fx.push(rs_notice(ov, orr, false, RsCause::Removed));
                    }
                }
            }
        }
        self.model = new;
        self.state = state;
        for v in 0..self.state.len() {
            let init = fresh_quorum.contains(&v);
            self.evaluate_quorum(v, init, &mut fx);
        }
        fx
    }

    /// What shutdown says and notifies (`omega` virtual servers notify their alive servers down
    /// and their quorum lost). The IPVS side is the reconciler's: an empty desired table.
    pub fn shutdown(&mut self) -> Vec<Effect> {
        let mut fx = Vec::new();
        for (vs, st) in self.model.virtual_servers.iter().zip(&mut self.state) {
            for (rs, rst) in vs.real_servers.iter().zip(&mut st.rs) {
                fx.push(Effect::Log(format!(
                    "Shutting down service {} from VS {}",
                    rs.name, vs.name
                )));
                if vs.omega && rst.alive {
                    fx.push(rs_notice(vs, rs, false, RsCause::Shutdown));
                }
                rst.alive = false;
            }
            if vs.omega && st.quorum_up {
                fx.push(quorum_notice(vs, false, "Shutting down".into()));
            }
            st.quorum_up = false;
            st.sorry_in = false;
        }
        fx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::{plan, record};
    use crate::table::{DestKey, Op};

    /// The lab's k1.conf (lvs-lab), checkers reduced to one per server.
    const K1: &str = "
global_defs {
  router_id lab
}
virtual_server 192.0.2.1 80 {
  delay_loop 2
  lb_algo wrr
  lb_kind DR
  protocol TCP
  real_server 192.0.2.10 80 {
    weight 2
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server 192.0.2.11 80 {
    weight 1
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server 192.0.2.12 80 {
    weight 1
    inhibit_on_failure
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
virtual_server 192.0.2.2 8080 {
  delay_loop 2
  lb_algo rr
  lb_kind DR
  protocol TCP
  quorum 2
  sorry_server 192.0.2.20 8080
  real_server 192.0.2.10 8080 {
    weight 1
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server 192.0.2.11 8080 {
    weight 1
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
";

    fn model(text: &str) -> LvsModel {
        LvsModel::from_config(&ka_config::load_str(text)).0
    }

    fn logs(fx: &[Effect]) -> Vec<String> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Log(l) => Some(l.clone()),
                _ => None,
            })
            .collect()
    }

    /// keepalived's FIFO lines for the notices, in order.
    fn fifo(fx: &[Effect]) -> Vec<String> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::RealServer(n) => Some(format!(
                    "RS {} {} {}",
                    n.rs_name,
                    n.vs_name,
                    if n.up { "UP" } else { "DOWN" }
                )),
                Effect::Quorum(n) => Some(format!(
                    "VS {} {}",
                    n.vs_name,
                    if n.up { "UP" } else { "DOWN" }
                )),
                Effect::Log(_) => None,
            })
            .collect()
    }

    fn dests(t: &crate::table::Table, vs: usize, pool: &Pool) -> Vec<(String, u32)> {
        let key = pool.model().virtual_servers[vs].services[0].0;
        t.services
            .get(&key)
            .map(|s| {
                s.dests
                    .iter()
                    .map(|(k, d)| (k.addr.to_string(), d.weight))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn the_labs_first_run_in_order() {
        let (mut pool, fx) = Pool::start(model(K1), false);
        // Start: quorum gained on both, announced; every server in the pool before a check.
        assert_eq!(
            logs(&fx),
            vec![
                "Gained quorum 1+0=1 <= 4 for VS [192.0.2.1]:tcp:80",
                "Gained quorum 2+0=2 <= 2 for VS [192.0.2.2]:tcp:8080",
            ]
        );
        let mut believed = crate::table::Table::default();
        let mut all = fx;
        let apply = |pool: &Pool, believed: &mut crate::table::Table| -> Vec<Op> {
            let ops = plan(believed, &pool.desired());
            for op in &ops {
                record(believed, op);
            }
            ops
        };
        let ops = apply(&pool, &mut believed);
        assert_eq!(
            ops.iter()
                .filter(|o| matches!(o, Op::AddService(..)))
                .count(),
            2
        );
        assert_eq!(dests(&believed, 1, &pool).len(), 2);

        // .11:8080 fails: removed, quorum lost, sorry server swapped in.
        let fx = pool.checker_result(1, 1, 0, false);
        assert_eq!(
            logs(&fx),
            vec![
                "Removing service [192.0.2.11]:tcp:8080 from VS [192.0.2.2]:tcp:8080",
                "Lost quorum 2-0=2 > 1 for VS [192.0.2.2]:tcp:8080",
                "Adding sorry server [192.0.2.20]:tcp:8080 to VS [192.0.2.2]:tcp:8080",
                "Removing alive servers from the pool for VS [192.0.2.2]:tcp:8080",
            ]
        );
        all.extend(fx);
        let ops = apply(&pool, &mut believed);
        let sorry = DestKey {
            addr: "192.0.2.20".parse().expect("a"),
            port: 8080,
        };
        assert!(
            matches!(ops.last(), Some(Op::AddDest(_, d, _)) if *d == sorry),
            "{ops:?}"
        );
        assert_eq!(dests(&believed, 1, &pool), vec![("192.0.2.20".into(), 1)]);

        // .12:80 (inhibit) fails: weight 0; .11:80 fails: removed.
        let fx = pool.checker_result(0, 2, 0, false);
        assert_eq!(
            logs(&fx),
            vec!["Disabling service [192.0.2.12]:tcp:80 of VS [192.0.2.1]:tcp:80"]
        );
        all.extend(fx);
        all.extend(pool.checker_result(0, 1, 0, false));
        apply(&pool, &mut believed);
        assert_eq!(
            dests(&believed, 0, &pool),
            vec![("192.0.2.10".into(), 2), ("192.0.2.12".into(), 0)]
        );
        // .10:80 fails: quorum lost (no sorry server: the pool keeps following the checks).
        let fx = pool.checker_result(0, 0, 0, false);
        assert_eq!(
            logs(&fx),
            vec![
                "Removing service [192.0.2.10]:tcp:80 from VS [192.0.2.1]:tcp:80",
                "Lost quorum 1-0=1 > 0 for VS [192.0.2.1]:tcp:80",
            ]
        );
        all.extend(fx);
        // .10:8080 fails while the sorry server serves: logged, no IPVS change.
        all.extend(pool.checker_result(1, 0, 0, false));
        let ops = apply(&pool, &mut believed);
        assert_eq!(ops.len(), 1, "{ops:?}");
        // .10:80 back.
        let fx = pool.checker_result(0, 0, 0, true);
        assert_eq!(
            logs(&fx),
            vec![
                "Adding service [192.0.2.10]:tcp:80 to VS [192.0.2.1]:tcp:80",
                "Gained quorum 1+0=1 <= 2 for VS [192.0.2.1]:tcp:80",
            ]
        );
        all.extend(fx);
        // The lab's FIFO, line for line.
        assert_eq!(
            fifo(&all),
            vec![
                "VS [192.0.2.1]:tcp:80 UP",
                "VS [192.0.2.2]:tcp:8080 UP",
                "RS [192.0.2.11]:tcp:8080 [192.0.2.2]:tcp:8080 DOWN",
                "VS [192.0.2.2]:tcp:8080 DOWN",
                "RS [192.0.2.12]:tcp:80 [192.0.2.1]:tcp:80 DOWN",
                "RS [192.0.2.11]:tcp:80 [192.0.2.1]:tcp:80 DOWN",
                "RS [192.0.2.10]:tcp:80 [192.0.2.1]:tcp:80 DOWN",
                "VS [192.0.2.1]:tcp:80 DOWN",
                "RS [192.0.2.10]:tcp:8080 [192.0.2.2]:tcp:8080 DOWN",
                "RS [192.0.2.10]:tcp:80 [192.0.2.1]:tcp:80 UP",
                "VS [192.0.2.1]:tcp:80 UP",
            ]
        );

        // Reload: .12 removed from the configuration, .10's weight 2 -> 3.
        let k1b = K1
            .replace("    weight 2\n", "    weight 3\n")
            .replace(
                "  real_server 192.0.2.12 80 {\n    weight 1\n    inhibit_on_failure\n    TCP_CHECK {\n      connect_timeout 1\n    }\n  }\n",
                "",
            );
        let fx = pool.reload(model(&k1b));
        assert_eq!(
            logs(&fx),
            vec![
                "service [192.0.2.12]:tcp:80 no longer exist",
                "Removing (inhibited) service [192.0.2.12]:tcp:80 from VS [192.0.2.1]:tcp:80",
                "Changing weight from 2 to 3 for active service [192.0.2.10]:tcp:80 of VS [192.0.2.1]:tcp:80",
            ]
        );
        let ops = apply(&pool, &mut believed);
        assert_eq!(ops.len(), 2, "{ops:?}");
        // Failed servers stay out after the reload; the sorry server stays in.
        assert_eq!(dests(&believed, 0, &pool), vec![("192.0.2.10".into(), 3)]);
        assert_eq!(dests(&believed, 1, &pool), vec![("192.0.2.20".into(), 1)]);

        // Shutdown: every server named, then the table emptied (sorry server, servers, service).
        let fx = pool.shutdown();
        assert_eq!(logs(&fx).len(), 4);
        assert!(fifo(&fx).is_empty(), "no notifies without omega");
        let ops = plan(&believed, &crate::table::Table::default());
        assert_eq!(
            ops.iter()
                .filter(|o| matches!(o, Op::DelService(_)))
                .count(),
            2
        );
        assert_eq!(ops.len(), 4);
    }

    #[test]
    fn quorum_hysteresis_thresholds_as_in_the_lab() {
        // quorum 2, hysteresis 1, weights 1 + 2 (lab run 3).
        let text =
            "virtual_server 192.0.2.1 80 {\n protocol TCP\n lb_kind DR\n quorum 2\n hysteresis 1\n\
            real_server 192.0.2.10 80 {\n weight 1\n TCP_CHECK {\n }\n }\n\
            real_server 192.0.2.11 80 {\n weight 2\n TCP_CHECK {\n }\n }\n}\n";
        let (mut pool, fx) = Pool::start(model(text), false);
        assert_eq!(
            logs(&fx),
            vec!["Gained quorum 2+1=3 <= 3 for VS [192.0.2.1]:tcp:80"]
        );
        // Losing the weight-2 server (sum 1) keeps quorum: 1 is not < 2-1.
        assert_eq!(fifo(&pool.checker_result(0, 1, 0, false)).len(), 1);
        let fx = pool.checker_result(0, 0, 0, false);
        assert!(logs(&fx).contains(&"Lost quorum 2-1=1 > 0 for VS [192.0.2.1]:tcp:80".to_string()));
        // One back (sum 1): still down; both back (sum 3): gained.
        let fx = pool.checker_result(0, 0, 0, true);
        assert!(!logs(&fx).iter().any(|l| l.contains("quorum")));
        let fx = pool.checker_result(0, 1, 0, true);
        assert!(
            logs(&fx).contains(&"Gained quorum 2+1=3 <= 3 for VS [192.0.2.1]:tcp:80".to_string())
        );
    }

    #[test]
    fn alpha_servers_stay_out_until_they_pass_and_omega_notifies_at_shutdown() {
        let text = "virtual_server 192.0.2.1 80 {\n protocol TCP\n alpha\n omega\n\
            quorum_down \"/bin/true down\"\n\
            real_server 192.0.2.10 80 {\n TCP_CHECK {\n }\n }\n\
            real_server 192.0.2.11 80 {\n inhibit_on_failure\n TCP_CHECK {\n }\n }\n}\n";
        let (mut pool, fx) = Pool::start(model(text), false);
        assert_eq!(
            logs(&fx),
            vec!["Starting with quorum down 1+0=1 > 0 for VS [192.0.2.1]:tcp:80"]
        );
        // The inhibited alpha server is in at weight 0, the other not at all.
        assert_eq!(
            dests(&pool.desired(), 0, &pool),
            vec![("192.0.2.11".into(), 0)]
        );
        pool.checker_result(0, 0, 0, true);
        let fx = pool.shutdown();
        assert_eq!(
            fifo(&fx),
            vec![
                "RS [192.0.2.10]:tcp:80 [192.0.2.1]:tcp:80 DOWN",
                "VS [192.0.2.1]:tcp:80 DOWN",
            ]
        );
        match fx.last() {
            Some(Effect::Quorum(q)) => {
                assert_eq!(
                    q.script.as_ref().map(|s| s.command.as_str()),
                    Some("/bin/true down")
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_dynamic_weight_changes_the_destination_and_the_quorum() {
        let text = "virtual_server 192.0.2.1 80 {\n protocol TCP\n quorum 3\n\
            real_server 192.0.2.10 80 {\n weight 4\n MISC_CHECK {\n misc_path /bin/true\n misc_dynamic\n }\n }\n}\n";
        let (mut pool, _) = Pool::start(model(text), false);
        let fx = pool.weight_delta(0, 0, 0, -3);
        assert_eq!(
            logs(&fx),
            vec![
                "Changing weight from 4 to 1 for active service [192.0.2.10]:tcp:80 of VS [192.0.2.1]:tcp:80",
                "Lost quorum 3-0=3 > 1 for VS [192.0.2.1]:tcp:80",
            ]
        );
        assert_eq!(
            dests(&pool.desired(), 0, &pool),
            vec![("192.0.2.10".into(), 1)]
        );
    }
}
