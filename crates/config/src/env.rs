//! What the configuration check needs to know about the machine, behind a trait so that the
//! model stays pure and verdicts can be tested with a fake machine.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A user account, as script security needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Numeric user id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// The facts about the running system that decide keepalived's `-t` verdicts.
pub trait Environment {
    /// Whether a network interface of this name exists (in the current namespace).
    fn interface_exists(&self, name: &str) -> bool;
    /// Resolves a script's program as execve would: an absolute or relative path is taken as
    /// is, a bare name is looked up on PATH. Returns the path if it exists and is executable.
    fn resolve_program(&self, program: &str) -> Option<PathBuf>;
    /// Whether a file exists (any type).
    fn path_exists(&self, path: &Path) -> bool;
    /// Looks a user up by name.
    fn user(&self, name: &str) -> Option<User>;
    /// Looks a group up by name, returning its gid.
    fn group(&self, name: &str) -> Option<u32>;
    /// The first component of `path` (the file or a directory above it, symlinks resolved)
    /// that a non-root user can write, if any: a root script there is unsafe.
    fn unsafe_component(&self, path: &Path) -> Option<PathBuf>;
    /// The host name (the default `router_id`, and before the first `.` the config id).
    fn hostname(&self) -> String;
    /// Whether a host name resolves to an address (for `smtp_server NAME`).
    fn host_resolves(&self, name: &str) -> bool;
}

/// A made-up machine for tests: everything it does not list does not exist.
#[derive(Debug, Clone, Default)]
pub struct FakeEnvironment {
    /// Interfaces that exist.
    pub interfaces: BTreeSet<String>,
    /// Programs that resolve: name as written -> resolved path.
    pub programs: BTreeMap<String, PathBuf>,
    /// Paths that exist.
    pub paths: BTreeSet<PathBuf>,
    /// Users.
    pub users: BTreeMap<String, User>,
    /// Groups.
    pub groups: BTreeMap<String, u32>,
    /// Paths writable by non-root users (a script under one of them is unsafe).
    pub writable: BTreeSet<PathBuf>,
    /// The host name.
    pub hostname: String,
}

impl FakeEnvironment {
    /// The namespace of the differential test: eth0, eth1, eth2, ha, mgt; root and nobody;
    /// /bin/true and killall resolve; /tmp is world-writable.
    pub fn lab() -> Self {
        let mut e = FakeEnvironment {
            hostname: "testhost".into(),
            ..Default::default()
        };
        for i in ["lo", "eth0", "eth1", "eth2", "ha", "mgt"] {
            e.interfaces.insert(i.into());
        }
        for (name, path) in [
            ("/bin/true", "/bin/true"),
            ("/bin/false", "/bin/false"),
            ("/bin/sh", "/bin/sh"),
            ("true", "/usr/bin/true"),
            ("killall", "/usr/bin/killall"),
        ] {
            e.programs.insert(name.into(), path.into());
        }
        e.users.insert("root".into(), User { uid: 0, gid: 0 });
        e.users.insert(
            "nobody".into(),
            User {
                uid: 65534,
                gid: 65534,
            },
        );
        e.groups.insert("root".into(), 0);
        e.groups.insert("nogroup".into(), 65534);
        e.writable.insert("/tmp".into());
        e
    }
}

impl Environment for FakeEnvironment {
    fn interface_exists(&self, name: &str) -> bool {
        self.interfaces.contains(name)
    }
    fn resolve_program(&self, program: &str) -> Option<PathBuf> {
        self.programs.get(program).cloned()
    }
    fn path_exists(&self, path: &Path) -> bool {
        self.paths.contains(path) || self.programs.values().any(|p| p == path)
    }
    fn user(&self, name: &str) -> Option<User> {
        self.users.get(name).cloned()
    }
    fn group(&self, name: &str) -> Option<u32> {
        self.groups.get(name).copied()
    }
    fn unsafe_component(&self, path: &Path) -> Option<PathBuf> {
        self.writable.iter().find(|w| path.starts_with(w)).cloned()
    }
    fn hostname(&self) -> String {
        self.hostname.clone()
    }
    fn host_resolves(&self, name: &str) -> bool {
        name == "localhost"
    }
}
