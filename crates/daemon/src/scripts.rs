//! Who scripts run as, and whether they may run at all (`script_user`, a script's own
//! `user [group]`, `enable_script_security`), decided once per configuration so every script
//! launcher (tracked scripts, notify scripts, FIFO readers) applies the same rules.
//!
//! keepalived's rules: the default user is `script_user`, else `keepalived_script` when that
//! user exists, else root. With `enable_script_security`, a script that would run as root
//! from a path a non-root user can change is refused; without it such scripts run, and a
//! SECURITY VIOLATION line is logged once.

use crate::env::SystemEnvironment;
use crate::logging::log;
use ka_config::env::Environment;
use ka_config::model::script::Script;
use ka_config::model::Config;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The user and group a script runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// Script rules of one configuration.
#[derive(Debug, Clone)]
pub struct ScriptPolicy {
    /// Who scripts without their own `user` run as.
    default: Identity,
    /// `enable_script_security`.
    security: bool,
}

/// A script ready to start: its program, arguments and identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Who it runs as; None keeps the daemon's own identity (root).
    pub identity: Option<Identity>,
}

impl Launch {
    /// A command for this launch, with the identity applied (and supplementary groups
    /// dropped by the standard library when leaving root).
    pub fn command(&self) -> Option<Command> {
        let (program, args) = self.argv.split_first()?;
        let mut cmd = Command::new(program);
        cmd.args(args);
        ka_sys::sched::unblock_signals_in_child(&mut cmd);
        if let Some(id) = self.identity {
            if id.uid != nix::unistd::geteuid().as_raw()
                || id.gid != nix::unistd::getegid().as_raw()
            {
                cmd.gid(id.gid).uid(id.uid);
            }
        }
        Some(cmd)
    }
}

impl ScriptPolicy {
    /// The rules of `cfg` on this machine; logs the SECURITY VIOLATION line when root scripts
    /// run unchecked.
    pub fn from_config(cfg: &Config) -> Self {
        let env = SystemEnvironment;
        let root = Identity { uid: 0, gid: 0 };
        let default = match &cfg.global.script_user {
            Some(r) => match env.user(&r.user) {
                Some(u) => Identity {
                    uid: u.uid,
                    gid: r
                        .group
                        .as_deref()
                        .and_then(|g| env.group(g))
                        .unwrap_or(u.gid),
                },
                None => {
                    log(&format!(
                        "script_user {}: no such user; scripts run as root",
                        r.user
                    ));
                    root
                }
            },
            None => env.user("keepalived_script").map_or(root, |u| Identity {
                uid: u.uid,
                gid: u.gid,
            }),
        };
        Self {
            default,
            security: cfg.global.enable_script_security,
        }
    }

    /// Policy that runs everything as the daemon (unit tests, and configurations without
    /// scripts).
    #[cfg(test)]
    pub fn permissive() -> Self {
        Self {
            default: Identity { uid: 0, gid: 0 },
            security: false,
        }
    }

    /// How to start `script`, or None when it must not run (unknown user, or unsafe with
    /// `enable_script_security`); the reason is logged.
    pub fn launch(&self, script: &Script) -> Option<Launch> {
        self.launch_with(script, &SystemEnvironment)
    }

    fn launch_with(&self, script: &Script, env: &dyn Environment) -> Option<Launch> {
        let program = script.program()?;
        let identity = match &script.user {
            Some(user) => {
                let Some(u) = env.user(user) else {
                    log(&format!("{program}: no user '{user}': not running it"));
                    return None;
                };
                let gid = match &script.group {
                    Some(g) => match env.group(g) {
                        Some(gid) => gid,
                        None => {
                            log(&format!("{program}: no group '{g}': not running it"));
                            return None;
                        }
                    },
                    None => u.gid,
                };
                Identity { uid: u.uid, gid }
            }
            None => self.default,
        };
        if self.security && identity.uid == 0 {
            let resolved = env.resolve_program(program)?;
            if let Some(bad) = env.unsafe_component(&resolved) {
                log(&format!(
                    "{program}: unsafe permissions on {} (writable by non-root): not running it as root",
                    bad.display()
                ));
                return None;
            }
        }
        Some(Launch {
            argv: script.argv.clone(),
            identity: Some(identity),
        })
    }

    /// Logs keepalived's warning once when scripts will run as root without the checks.
    pub fn warn_if_unchecked(&self, any_script: bool) {
        if any_script && !self.security {
            log("SECURITY VIOLATION - scripts are being executed but script_security not enabled");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ka_config::env::FakeEnvironment;

    fn script(argv: &[&str], user: Option<&str>, group: Option<&str>) -> Script {
        Script {
            command: argv.join(" "),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            user: user.map(str::to_string),
            group: group.map(str::to_string),
        }
    }

    #[test]
    fn a_script_user_and_group_are_applied() {
        let env = FakeEnvironment::lab();
        let p = ScriptPolicy::permissive();
        let l = p
            .launch_with(
                &script(&["/bin/true", "x"], Some("nobody"), Some("root")),
                &env,
            )
            .expect("runs");
        assert_eq!(l.identity, Some(Identity { uid: 65534, gid: 0 }));
        assert_eq!(l.argv, vec!["/bin/true", "x"]);
        assert!(p
            .launch_with(&script(&["/bin/true"], Some("ghost"), None), &env)
            .is_none());
    }

    #[test]
    fn security_refuses_root_scripts_in_writable_places_only() {
        let mut env = FakeEnvironment::lab();
        env.programs.insert("/tmp/x.sh".into(), "/tmp/x.sh".into());
        let strict = ScriptPolicy {
            default: Identity { uid: 0, gid: 0 },
            security: true,
        };
        assert!(strict
            .launch_with(&script(&["/tmp/x.sh"], None, None), &env)
            .is_none());
        assert!(strict
            .launch_with(&script(&["/bin/true"], None, None), &env)
            .is_some());
        // Not root: the path does not matter.
        assert!(strict
            .launch_with(&script(&["/tmp/x.sh"], Some("nobody"), None), &env)
            .is_some());
        // Without security everything runs.
        assert!(ScriptPolicy::permissive()
            .launch_with(&script(&["/tmp/x.sh"], None, None), &env)
            .is_some());
    }
}
