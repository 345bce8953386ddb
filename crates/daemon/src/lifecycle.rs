//! `global_defs` `startup_script` and `shutdown_script`: run once by the main process, the
//! first before either side starts, the second after both have stopped; each waited for up to
//! its `*_timeout` (seconds, 1..=1000, default 10), then killed. They run with the identity
//! and security checks of every other script (`script_user`, `enable_script_security`).

use crate::logging::log_main;
use crate::scripts::{Launch, ScriptPolicy};
use ka_config::model::Config;
use std::time::{Duration, Instant};

/// Which of the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `startup_script`.
    Startup,
    /// `shutdown_script`.
    Shutdown,
}

impl Phase {
    fn keyword(self) -> &'static str {
        match self {
            Phase::Startup => "startup_script",
            Phase::Shutdown => "shutdown_script",
        }
    }
}

/// A script ready to run at its moment.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    phase: Phase,
    command: String,
    launch: Launch,
    timeout: Duration,
}

/// keepalived's default and range for `*_script_timeout`.
const DEFAULT_TIMEOUT_S: u64 = 10;

/// The timeout keyword's value from the raw statements the model keeps, when valid.
fn timeout_of(cfg: &Config, phase: Phase) -> Duration {
    let keyword = format!("{}_timeout", phase.keyword());
    let secs = cfg
        .parsed_only
        .iter()
        .rev()
        .find(|r| r.keyword == keyword)
        .and_then(|r| r.args.first())
        .and_then(|a| a.parse::<u64>().ok())
        .filter(|s| (1..=1000).contains(s))
        .unwrap_or(DEFAULT_TIMEOUT_S);
    Duration::from_secs(secs)
}

impl Lifecycle {
    /// The configured script of `phase`, if any and allowed to run.
    pub fn from_config(cfg: &Config, phase: Phase) -> Option<Lifecycle> {
        let script = match phase {
            Phase::Startup => cfg.global.startup_script.as_ref(),
            Phase::Shutdown => cfg.global.shutdown_script.as_ref(),
        }?;
        let launch = ScriptPolicy::from_config(cfg).launch(script)?;
        Some(Lifecycle {
            phase,
            command: script.command.clone(),
            launch,
            timeout: timeout_of(cfg, phase),
        })
    }

    /// Runs it and waits (at most the timeout; then SIGKILL). Never fails the daemon.
    pub fn run(&self) {
        let what = self.phase.keyword();
        let Some(mut cmd) = self.launch.command() else {
            return;
        };
        log_main(&format!("Running {what} {}", self.command));
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                log_main(&format!("{what} {}: cannot start: {e}", self.command));
                return;
            }
        };
        let deadline = Instant::now() + self.timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    if !status.success() {
                        log_main(&format!("{what} {} ended with {status}", self.command));
                    }
                    return;
                }
                Ok(None) if Instant::now() >= deadline => {
                    log_main(&format!(
                        "{what} {} timed out after {} s: killed",
                        self.command,
                        self.timeout.as_secs()
                    ));
                    let _ = child.kill();
                    let _ = child.wait();
                    return;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => {
                    log_main(&format!("{what} {}: {e}", self.command));
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        let dir = std::env::temp_dir().join(format!("ka-lifecycle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(format!("{}.conf", text.len()));
        std::fs::write(&path, text).expect("write");
        let opts = ka_config::preprocess::Options {
            config_id: "test".into(),
            all_config: false,
            random_seed: None,
            instance: String::new(),
        };
        let loaded = ka_config::load(&path, &opts, &crate::env::SystemEnvironment);
        let _ = std::fs::remove_dir_all(&dir);
        loaded.config
    }

    #[test]
    fn timeouts_default_to_ten_seconds_and_follow_the_keyword() {
        let c = config("global_defs {\n  startup_script /bin/true\n  startup_script_timeout 3\n  shutdown_script /bin/true\n}\n");
        assert_eq!(timeout_of(&c, Phase::Startup), Duration::from_secs(3));
        assert_eq!(timeout_of(&c, Phase::Shutdown), Duration::from_secs(10));
        assert!(Lifecycle::from_config(&c, Phase::Startup).is_some());
        let none = config("global_defs {\n  router_id x\n}\n");
        assert!(Lifecycle::from_config(&none, Phase::Shutdown).is_none());
    }

    #[test]
    fn a_hung_script_is_killed_at_its_timeout() {
        let c = config(
            "global_defs {\n  startup_script \"/bin/sleep 30\"\n  startup_script_timeout 1\n}\n",
        );
        let s = Lifecycle::from_config(&c, Phase::Startup).expect("script");
        let t0 = Instant::now();
        s.run();
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(10),
            "{took:?}"
        );
    }
}
