//! An IPVS table held in memory that answers like the kernel (same errno for the same mistake),
//! so the reconciler, checkers and notifications can be exercised without IPVS, and so
//! `--ipvs-backend=memory` can show what would be programmed.

use crate::backend::{errno, Backend, IpvsError};
use crate::table::{
    Dest, DestSpec, Forward, Info, Op, Service, ServiceKey, ServiceSpec, Stats, SyncDaemon, Table,
    TableService, Timeouts, TunnelKind,
};

/// Schedulers Debian's 6.1 cloud kernel builds (`twos` is not among them).
pub const KNOWN_SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "none",
];

/// The in-memory backend.
#[derive(Debug, Clone)]
pub struct MemoryBackend {
    table: Table,
    timeouts: Timeouts,
    daemons: Vec<SyncDaemon>,
    applied: Vec<Op>,
    sent: u64,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        MemoryBackend {
            table: Table::default(),
            // The kernel's defaults.
            timeouts: Timeouts {
                tcp: 900,
                tcp_fin: 120,
                udp: 300,
            },
            daemons: Vec::new(),
            applied: Vec::new(),
            sent: 0,
        }
    }
}

impl MemoryBackend {
    /// An empty table with the kernel's default timeouts.
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    /// Starts from a given table (services "someone else" created, for tests).
    pub fn with_table(table: Table) -> MemoryBackend {
        MemoryBackend {
            table,
            ..MemoryBackend::default()
        }
    }

    /// The table now.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Mutable access, to simulate another tool changing the table behind our back.
    pub fn table_mut(&mut self) -> &mut Table {
        &mut self.table
    }

    /// Operations that succeeded, in order.
    pub fn applied(&self) -> &[Op] {
        &self.applied
    }

    /// Forgets the record of applied operations.
    pub fn clear_applied(&mut self) {
        self.applied.clear();
    }

    fn check_service_spec(key: &ServiceKey, spec: &ServiceSpec) -> Result<(), IpvsError> {
        if !KNOWN_SCHEDULERS.contains(&spec.scheduler.as_str()) {
            return Err(IpvsError::Kernel {
                errno: errno::ENOENT,
            });
        }
        if let Some(pe) = &spec.pe_name {
            if pe != "sip" {
                return Err(IpvsError::Kernel {
                    errno: errno::ENOENT,
                });
            }
        }
        let max = match key.family() {
            crate::table::Family::Inet => 32,
            crate::table::Family::Inet6 => 128,
        };
        if spec.netmask_prefix > max
            || (key.family() == crate::table::Family::Inet6 && spec.netmask_prefix == 0)
        {
            return Err(IpvsError::Kernel {
                errno: errno::EINVAL,
            });
        }
        Ok(())
    }

    fn check_dest_spec(spec: &DestSpec) -> Result<(), IpvsError> {
        if spec.weight > i32::MAX as u32 {
            return Err(IpvsError::Kernel {
                errno: errno::ERANGE,
            });
        }
        if spec.l_thresh > spec.u_thresh {
            return Err(IpvsError::Kernel {
                errno: errno::ERANGE,
            });
        }
        if let Forward::Tunnel {
            kind: TunnelKind::Gue,
            port: 0,
            ..
        } = spec.forward
        {
            return Err(IpvsError::Kernel {
                errno: errno::EINVAL,
            });
        }
        Ok(())
    }

    fn service_mut(&mut self, key: &ServiceKey) -> Result<&mut TableService, IpvsError> {
        self.table.services.get_mut(key).ok_or(IpvsError::Kernel {
            errno: errno::ESRCH,
        })
    }

    fn apply_inner(&mut self, op: &Op) -> Result<(), IpvsError> {
        let kernel = |errno| Err(IpvsError::Kernel { errno });
        match op {
            Op::AddService(key, spec) => {
                Self::check_service_spec(key, spec)?;
                if self.table.services.contains_key(key) {
                    return kernel(errno::EEXIST);
                }
                self.table.services.insert(
                    *key,
                    TableService {
                        spec: spec.clone(),
                        dests: Default::default(),
                    },
                );
            }
            Op::EditService(key, spec) => {
                Self::check_service_spec(key, spec)?;
                self.service_mut(key)?.spec = spec.clone();
            }
            Op::DelService(key) => {
                if self.table.services.remove(key).is_none() {
                    return kernel(errno::ESRCH);
                }
            }
            Op::AddDest(key, dest, spec) => {
                Self::check_dest_spec(spec)?;
                let svc = self.service_mut(key)?;
                if svc.dests.contains_key(dest) {
                    return kernel(errno::EEXIST);
                }
                svc.dests.insert(*dest, *spec);
            }
            Op::EditDest(key, dest, spec) => {
                Self::check_dest_spec(spec)?;
                let svc = self.service_mut(key)?;
                match svc.dests.get_mut(dest) {
                    Some(d) => *d = *spec,
                    None => return kernel(errno::ENOENT),
                }
            }
            Op::DelDest(key, dest) => {
                let svc = self.service_mut(key)?;
                if svc.dests.remove(dest).is_none() {
                    return kernel(errno::ENOENT);
                }
            }
            Op::Flush => self.table.services.clear(),
            Op::SetTimeouts(t) => {
                if t.tcp != 0 {
                    self.timeouts.tcp = t.tcp;
                }
                if t.tcp_fin != 0 {
                    self.timeouts.tcp_fin = t.tcp_fin;
                }
                if t.udp != 0 {
                    self.timeouts.udp = t.udp;
                }
            }
            Op::StartDaemon(d) => {
                if self.daemons.iter().any(|x| x.role == d.role) {
                    return kernel(errno::EEXIST);
                }
                self.daemons.push(d.clone());
            }
            Op::StopDaemon(role) => {
                let before = self.daemons.len();
                self.daemons.retain(|d| d.role != *role);
                if self.daemons.len() == before {
                    return kernel(errno::ESRCH);
                }
            }
            Op::Zero(Some(key)) => {
                self.service_mut(key)?;
            }
            Op::Zero(None) => {}
        }
        Ok(())
    }
}

impl Backend for MemoryBackend {
    fn apply(&mut self, op: &Op) -> Result<(), IpvsError> {
        self.sent += 1;
        self.apply_inner(op)?;
        self.applied.push(op.clone());
        Ok(())
    }

    fn services(&mut self) -> Result<Vec<Service>, IpvsError> {
        Ok(self
            .table
            .services
            .iter()
            .map(|(k, s)| Service {
                key: *k,
                spec: s.spec.clone(),
                stats: Stats::default(),
            })
            .collect())
    }

    fn dests(&mut self, service: &ServiceKey) -> Result<Vec<Dest>, IpvsError> {
        Ok(self
            .table
            .services
            .get(service)
            .map(|s| {
                s.dests
                    .iter()
                    .map(|(k, spec)| Dest {
                        key: *k,
                        spec: *spec,
                        active_conns: 0,
                        inactive_conns: 0,
                        persist_conns: 0,
                        stats: Stats::default(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    fn timeouts(&mut self) -> Result<Timeouts, IpvsError> {
        Ok(self.timeouts)
    }

    fn info(&mut self) -> Result<Info, IpvsError> {
        Ok(Info {
            version: 0x010201,
            conn_tab_size: 4096,
        })
    }

    fn daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        Ok(self.daemons.clone())
    }

    fn messages_sent(&self) -> u64 {
        self.sent
    }

    fn dump(&mut self) -> Result<Table, IpvsError> {
        Ok(self.table.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{DestKey, Family, Protocol};

    fn svc() -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "192.0.2.1".parse().expect("addr"),
            port: 80,
        }
    }

    fn dest(n: u8) -> DestKey {
        DestKey {
            addr: format!("192.0.2.{n}").parse().expect("addr"),
            port: 80,
        }
    }

    fn dspec(weight: u32) -> DestSpec {
        DestSpec {
            forward: Forward::Masq,
            weight,
            u_thresh: 0,
            l_thresh: 0,
        }
    }

    fn err(r: Result<(), IpvsError>) -> Option<i32> {
        r.err().and_then(|e| e.errno())
    }

    #[test]
    fn answers_with_the_kernels_errnos() {
        let mut b = MemoryBackend::new();
        let spec = ServiceSpec::new("wrr", Family::Inet);
        assert_eq!(
            err(b.apply(&Op::AddDest(svc(), dest(10), dspec(1)))),
            Some(errno::ESRCH)
        );
        b.apply(&Op::AddService(svc(), spec.clone())).expect("add");
        assert_eq!(
            err(b.apply(&Op::AddService(svc(), spec))),
            Some(errno::EEXIST)
        );
        assert_eq!(
            err(b.apply(&Op::AddService(
                ServiceKey::Fwmark {
                    family: Family::Inet,
                    mark: 1
                },
                ServiceSpec::new("twos", Family::Inet)
            ))),
            Some(errno::ENOENT)
        );
        b.apply(&Op::AddDest(svc(), dest(10), dspec(1)))
            .expect("dest");
        assert_eq!(
            err(b.apply(&Op::AddDest(svc(), dest(10), dspec(1)))),
            Some(errno::EEXIST)
        );
        assert_eq!(
            err(b.apply(&Op::EditDest(svc(), dest(11), dspec(1)))),
            Some(errno::ENOENT)
        );
        assert_eq!(
            err(b.apply(&Op::EditDest(svc(), dest(10), dspec(u32::MAX)))),
            Some(errno::ERANGE)
        );
        let mut low_only = dspec(1);
        low_only.l_thresh = 5;
        assert_eq!(
            err(b.apply(&Op::EditDest(svc(), dest(10), low_only))),
            Some(errno::ERANGE)
        );
        assert_eq!(
            err(b.apply(&Op::DelDest(svc(), dest(11)))),
            Some(errno::ENOENT)
        );
        b.apply(&Op::DelService(svc())).expect("del");
        assert_eq!(err(b.apply(&Op::DelService(svc()))), Some(errno::ESRCH));
        assert_eq!(b.applied().len(), 3);
        assert_eq!(b.messages_sent(), 12);
    }

    #[test]
    fn zero_timeouts_leave_the_value_unchanged() {
        let mut b = MemoryBackend::new();
        b.apply(&Op::SetTimeouts(Timeouts {
            tcp: 7200,
            tcp_fin: 0,
            udp: 0,
        }))
        .expect("set");
        assert_eq!(
            b.timeouts().expect("get"),
            Timeouts {
                tcp: 7200,
                tcp_fin: 120,
                udp: 300
            }
        );
    }
}
