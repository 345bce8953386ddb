//! Starting scripts without `fork`: `posix_spawn` (glibc uses `clone(CLONE_VM | CLONE_VFORK)`)
//! does not copy the daemon's page tables or turn its pages copy-on-write, so starting hundreds
//! of scripts a second does not stall the VRRP thread. The child gets an empty signal mask
//! (the daemon blocks its signals to read them from a signalfd) and default SIGPIPE handling.

use std::ffi::CString;
use std::io;

/// Starts `argv[0]` (searched in PATH when it has no `/`) with `argv`, the daemon's
/// environment and standard streams; returns the child's PID.
#[allow(unsafe_code)]
pub fn spawn(argv: &[String]) -> io::Result<u32> {
    if argv.is_empty() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let c_args: Vec<CString> = argv
        .iter()
        .map(|a| {
            CString::new(a.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
        })
        .collect::<io::Result<_>>()?;
    let mut ptrs: Vec<*mut libc::c_char> = c_args.iter().map(|c| c.as_ptr().cast_mut()).collect();
    ptrs.push(std::ptr::null_mut());
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let mut env_ptrs: Vec<*mut libc::c_char> = env.iter().map(|c| c.as_ptr().cast_mut()).collect();
    env_ptrs.push(std::ptr::null_mut());

    // SAFETY: every libc call below gets pointers to initialised locals that outlive it; the
    // attribute object is initialised before use and destroyed on every path; argv and envp
    // are NULL-terminated arrays of valid C strings kept alive by `c_args` / `env`.
    unsafe {
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        let rc = libc::posix_spawnattr_init(&mut attr);
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        let mut defaults: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut defaults);
        libc::sigaddset(&mut defaults, libc::SIGPIPE);
        let flags = (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short;
        let mut rc = libc::posix_spawnattr_setflags(&mut attr, flags);
        if rc == 0 {
            rc = libc::posix_spawnattr_setsigmask(&mut attr, &empty);
        }
        if rc == 0 {
            rc = libc::posix_spawnattr_setsigdefault(&mut attr, &defaults);
        }
        let mut pid: libc::pid_t = 0;
        if rc == 0 {
            rc = libc::posix_spawnp(
                &mut pid,
                c_args[0].as_ptr(),
                std::ptr::null(),
                &attr,
                ptrs.as_ptr(),
                env_ptrs.as_ptr(),
            );
        }
        libc::posix_spawnattr_destroy(&mut attr);
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        u32::try_from(pid).map_err(|_| io::Error::other("bad pid"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(pid: u32) -> Option<i32> {
        let pid = nix::unistd::Pid::from_raw(pid as i32);
        match nix::sys::wait::waitpid(pid, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => Some(code),
            _ => None,
        }
    }

    #[test]
    fn children_run_and_report_their_exit_status() {
        assert_eq!(wait(spawn(&["true".into()]).expect("true")), Some(0));
        assert_eq!(wait(spawn(&["/bin/false".into()]).expect("false")), Some(1));
        assert!(spawn(&["/nonexistent/program".into()]).is_err());
        assert!(spawn(&[]).is_err());
    }
}
