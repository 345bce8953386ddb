//! Real-time scheduling for the VRRP thread (`vrrp_rt_priority`, `max_auto_priority`): on a
//! busy machine a normal-priority thread can wake late and miss an advert; SCHED_RR lets it
//! preempt ordinary work.

use std::io;

/// Puts the calling thread under SCHED_RR at `priority` (1..=99, clamped).
///
/// Needs CAP_SYS_NICE (root has it); the error says why it failed otherwise.
#[allow(unsafe_code)]
pub fn set_current_thread_realtime(priority: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority.clamp(1, 99),
    };
    // SAFETY: `param` is a valid sched_param that outlives the call; pid 0 is the calling
    // thread, so no other thread's state is touched.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_RR, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Puts the calling thread back under SCHED_OTHER at nice 0: threads and scripts started by
/// the (real-time or favoured) VRRP thread inherit its policy, and must not compete with adverts.
#[allow(unsafe_code)]
pub fn set_current_thread_normal() -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: as above; SCHED_OTHER takes priority 0.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER, &param) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // A favoured (negative) nice value is inherited the same way.
    set_current_thread_nice(0)
}

/// The calling thread's scheduling policy is SCHED_RR (for tests and status output).
#[allow(unsafe_code)]
pub fn current_thread_is_realtime() -> bool {
    // SAFETY: no arguments besides pid 0 (the calling thread); only reads the policy.
    let policy = unsafe { libc::sched_getscheduler(0) };
    policy == libc::SCHED_RR
}

/// Makes `cmd`'s child start with no blocked signals. The daemon blocks its signals in every
/// thread to read them from a signalfd, and a child inherits that mask: a script or FIFO
/// reader would otherwise ignore SIGTERM and outlive the daemon.
#[allow(unsafe_code)]
pub fn unblock_signals_in_child(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only calls sigprocmask through nix
    // (async-signal-safe, no allocation).
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::signal::SigSet::empty()
                .thread_set_mask()
                .map_err(io::Error::from)
        });
    }
}

/// `base` plus the real-time signals `signos` (SIGRTMIN+n), which nix's `Signal` cannot name:
/// keepalived uses them for the JSON dump and for clearing statistics.
#[allow(unsafe_code)]
pub fn sigset_with_realtime(
    base: &nix::sys::signal::SigSet,
    signos: &[i32],
) -> nix::sys::signal::SigSet {
    let mut raw: libc::sigset_t = *base.as_ref();
    for &s in signos {
        // SAFETY: `raw` is a valid, initialised sigset_t owned here; sigaddset only sets a bit
        // (and fails harmlessly for an invalid number).
        unsafe {
            libc::sigaddset(&mut raw, s);
        }
    }
    // SAFETY: `raw` came from a valid SigSet and was only changed by sigaddset.
    unsafe { nix::sys::signal::SigSet::from_sigset_t_unchecked(raw) }
}

/// A pidfd for a child process (`pidfd_open`, Linux 5.3+): readable once the process exits,
/// so one thread can wait for hundreds of scripts with `poll` instead of polling each.
#[allow(unsafe_code)]
pub fn pidfd_open(pid: u32) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let pid =
        libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| io::Error::other("pidfd out of range"))?;
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Sets the calling thread's nice value (-20..=19): Linux keeps nice per thread, so the VRRP
/// thread can be favoured without touching the rest of the daemon or its scripts.
#[allow(unsafe_code)]
pub fn set_current_thread_nice(nice: i32) -> io::Result<()> {
    // SAFETY: gettid has no arguments; setpriority takes plain integers (who = our thread id).
    let rc = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice.clamp(-20, 19))
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_can_be_made_realtime_when_privileged() {
        let handle = std::thread::spawn(|| {
            let result = set_current_thread_realtime(5);
            let rt = current_thread_is_realtime();
            let back = set_current_thread_normal().is_ok() && !current_thread_is_realtime();
            (result.is_ok(), rt && back)
        });
        let Ok((ok, rt)) = handle.join() else {
            panic!("thread panicked");
        };
        // Without CAP_SYS_NICE the call fails and nothing changes; with it, the policy is RR.
        assert_eq!(ok, rt);
    }
}
