//! The real machine behind the config crate's `Environment` trait.

use ka_config::env::{Environment, User};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// PATH used when the process has none (what a service manager would give).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// This machine, in the current network namespace.
#[derive(Debug, Default)]
pub struct SystemEnvironment;

fn is_executable_file(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Environment for SystemEnvironment {
    fn interface_exists(&self, name: &str) -> bool {
        if name.is_empty() || name.len() > 15 {
            return false;
        }
        nix::net::if_::if_nametoindex(name).is_ok()
    }

    fn resolve_program(&self, program: &str) -> Option<PathBuf> {
        if program.contains('/') {
            let p = PathBuf::from(program);
            return is_executable_file(&p).then_some(p);
        }
        let path = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_string());
        path.split(':')
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join(program))
            .find(|p| is_executable_file(p))
    }

    fn path_exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn user(&self, name: &str) -> Option<User> {
        let u = nix::unistd::User::from_name(name).ok().flatten()?;
        Some(User {
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
        })
    }

    fn group(&self, name: &str) -> Option<u32> {
        nix::unistd::Group::from_name(name)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
    }

    fn unsafe_component(&self, path: &Path) -> Option<PathBuf> {
        let real = std::fs::canonicalize(path).ok()?;
        let mut cur: Option<&Path> = Some(real.as_path());
        let mut child_is_root_owned = true;
        while let Some(p) = cur {
            let m = std::fs::metadata(p).ok()?;
            let mode = m.mode();
            let sticky_dir = m.is_dir() && mode & 0o1000 != 0;
            let writable_by_others =
                m.uid() != 0 || (m.gid() != 0 && mode & 0o020 != 0) || mode & 0o002 != 0;
            // A sticky directory (like /tmp) only lets owners replace entries: safe when the
            // entry below it is root's.
            if writable_by_others && !(sticky_dir && child_is_root_owned && m.uid() == 0) {
                return Some(p.to_path_buf());
            }
            child_is_root_owned = m.uid() == 0;
            cur = p.parent();
        }
        None
    }

    fn host_resolves(&self, name: &str) -> bool {
        use std::net::ToSocketAddrs;
        (name, 25u16)
            .to_socket_addrs()
            .is_ok_and(|mut a| a.next().is_some())
    }

    fn hostname(&self) -> String {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".to_string())
    }
}
