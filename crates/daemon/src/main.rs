//! `keepalived-rs`: the daemon binary. It reads and checks configurations (`-t`, `-d`,
//! `--config-json`) and runs the VRRP instances; the LVS side arrives with later issues.

/// mimalloc for `-t` (parsing allocates one small string per token, and glibc's malloc made
/// up a third of `-t`'s time on large files); the C library's malloc for the running daemon,
/// which is smaller (see `ka_sys::alloc`).
#[global_allocator]
static GLOBAL: ka_sys::alloc::HybridAlloc = ka_sys::alloc::HybridAlloc;

#[cfg(feature = "lab")]
mod bench;
mod cli;
mod clock;
mod control;
#[cfg(feature = "lab")]
mod demo;
mod dump;
mod env;
mod firewall;
mod lifecycle;
mod logging;
mod lvs_checks;
mod lvs_child;
mod lvs_run;
mod mail;
mod metrics;
mod notify_fifo;
mod process;
mod script_runner;
mod scripts;
mod status;
mod status_cmd;
mod trackers;
mod vmac;
mod vrrp_driver;
mod vrrp_log;
mod vrrp_run;
mod vrrp_setup;

use anyhow::Context;
use clap::Parser;
use cli::Cli;
use ka_config::preprocess::Options;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Signal numbers as keepalived 2.2.7 reports them on x86_64 Linux (`--signum`).
fn signum(name: &str) -> Option<i32> {
    Some(match name {
        "STOP" => libc_sig::SIGTERM,
        "RELOAD" => libc_sig::SIGHUP,
        "DATA" => libc_sig::SIGUSR1,
        "STATS" => libc_sig::SIGUSR2,
        "STATS_CLEAR" => process::SIGNAL_STATS_CLEAR,
        "JSON" => process::SIGNAL_JSON,
        _ => return None,
    })
}

/// The few signal numbers we print, spelled out to avoid a libc dependency here.
mod libc_sig {
    pub const SIGHUP: i32 = 1;
    pub const SIGUSR1: i32 = 10;
    pub const SIGUSR2: i32 = 12;
    pub const SIGTERM: i32 = 15;
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("keepalived-rs: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    // keepalived-rs additions that are not keepalived flags: sub-commands.
    let args: Vec<String> = std::env::args().collect();
    // `--man`: the keepalived-rs(8) man page, as roff, on stdout (for packaging).
    if args.get(1).map(String::as_str) == Some("--man") {
        cli::write_man(&mut std::io::stdout().lock())?;
        return Ok(ExitCode::SUCCESS);
    }
    // keepalived's genhash: `-T`/`--genhash` as the first argument (its options clash with the
    // daemon's, so clap never sees them), or this binary called as `genhash`.
    if matches!(args.get(1).map(String::as_str), Some("-T" | "--genhash")) {
        let code = ka_check::genhash::run(&args[2..]);
        return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
    }
    if args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        == Some(std::ffi::OsStr::new("genhash"))
    {
        let code = ka_check::genhash::run(&args[1..]);
        return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
    }
    // `keepalived-rs status`: ask a running daemon.
    if args.get(1).map(String::as_str) == Some("status") {
        return Ok(status_cmd::main(&args[1..]));
    }
    #[cfg(feature = "lab")]
    match args.get(1).map(String::as_str) {
        Some("bench") => return bench::main(&args[1..]),
        Some("demo") => return demo::main(&args[1..]),
        Some("flood-adverts") => return bench::flood::flood_main(&args[2..]),
        Some("bench-responder") => return bench::responder::main(&args[2..]),
        _ => {}
    }
    // The checker child (see lvs_child.rs): the parent's own arguments after a hidden flag.
    let child_mode = args.get(1).map(String::as_str) == Some(lvs_child::CHILD_FLAG);
    let args: Vec<String> = if child_mode {
        std::iter::once(args[0].clone())
            .chain(args[2..].iter().cloned())
            .collect()
    } else {
        args
    };
    let cli = Cli::parse_from(&args);
    if cli.config_test.is_none() && !cli.config_json {
        // A daemon: memory matters more than parsing speed from here on.
        ka_sys::alloc::use_system_allocator();
    }
    if cli.version {
        eprintln!(
            "keepalived-rs {} (reads keepalived 2.2.7 configurations)",
            env!("CARGO_PKG_VERSION")
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(name) = &cli.signum {
        return match signum(name) {
            Some(n) => {
                println!("{n}");
                Ok(ExitCode::SUCCESS)
            }
            None => {
                eprintln!("Unknown sigfunc {name}");
                Ok(ExitCode::from(1))
            }
        };
    }
    if cli.genhash {
        // keepalived 2.2.7: a later `-T` drops what came before it and runs genhash on the rest.
        eprintln!("Warning -- `-T` not used as first option, previous options ignored");
        let after = args
            .iter()
            .position(|a| a == "-T" || a == "--genhash")
            .map_or(args.len(), |i| i + 1);
        let code = ka_check::genhash::run(&args[after..]);
        return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
    }

    let environment = env::SystemEnvironment;
    let config_id = cli.config_id.clone().unwrap_or_else(|| {
        use ka_config::env::Environment;
        let host = environment.hostname();
        host.split('.').next().unwrap_or_default().to_string()
    });
    let opts = Options {
        config_id,
        all_config: cli.all_config,
        random_seed: None,
        instance: String::new(),
    };
    let loaded = ka_config::load(Path::new(&cli.use_file), &opts, &environment);

    if let Some(log) = &cli.config_test {
        let mut out: Box<dyn Write> = if log.is_empty() {
            Box::new(std::io::stderr())
        } else {
            Box::new(
                std::fs::File::create(log)
                    .with_context(|| format!("cannot open config-test log file {log}"))?,
            )
        };
        for d in loaded.diagnostics.items() {
            writeln!(out, "{d}")?;
        }
        let code = loaded.diagnostics.exit_code();
        return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
    }

    for d in loaded.diagnostics.items() {
        eprintln!("{d}");
    }
    if cli.config_json {
        let json = serde_json::to_string_pretty(&loaded.config)?;
        println!("{json}");
        return Ok(ExitCode::SUCCESS);
    }
    if cli.dump_conf {
        for line in dump::dump(&loaded.config)? {
            eprintln!("{line}");
        }
    }
    if loaded.diagnostics.exit_code() == 4 {
        anyhow::bail!("the configuration cannot run (see the diagnostics above)");
    }
    // keepalived's pid file names: `-p`/`-r`/`-c`, else suffixed with the `instance` name
    // (global_defs) or, without one, the `-s` namespace. The control socket follows the main one.
    let raw_value = |keyword: &str| {
        loaded
            .config
            .parsed_only
            .iter()
            .rev()
            .find(|r| r.keyword == keyword)
            .and_then(|r| r.args.first().cloned())
    };
    // The network namespace: `-s`, else the `net_namespace` keyword (keepalived's order).
    let namespace = cli.namespace.clone().or_else(|| raw_value("net_namespace"));
    let suffix = raw_value("instance").or_else(|| namespace.clone());
    let main_pid = control::main_pid_file(cli.pid.as_deref(), suffix.as_deref());
    let vrrp_pid = control::pid_file(
        cli.vrrp_pid.as_deref(),
        process::DEFAULT_VRRP_PID,
        suffix.as_deref(),
    );
    let checkers_pid = control::pid_file(
        cli.checkers_pid.as_deref(),
        process::DEFAULT_CHECKERS_PID,
        suffix.as_deref(),
    );
    let control_setup = control::ControlSetup {
        socket: if child_mode {
            control::checker_socket_name(&main_pid)
        } else {
            control::socket_name(&main_pid)
        },
        metrics: if child_mode { None } else { cli.metrics_listen },
        config: cli.use_file.clone(),
        started: std::time::Instant::now(),
    };
    // `-s NAME` / `net_namespace NAME`: run in the network namespace `ip netns` calls NAME
    // (before any thread).
    if let (Some(ns), false) = (&namespace, child_mode) {
        process::enter_netns(ns).with_context(|| format!("entering network namespace {ns}"))?;
    }
    // global_defs startup_script: before any child or side starts (waited for, bounded);
    // shutdown_script: after both sides have stopped.
    let shutdown_script = if child_mode {
        None
    } else {
        lifecycle::Lifecycle::from_config(&loaded.config, lifecycle::Phase::Shutdown)
    };
    // -P: the VRRP side alone; -C: the checker (LVS) side alone; neither or both: both.
    let vrrp_wanted = (!cli.check || cli.vrrp) && !child_mode;
    let lvs_wanted = !cli.vrrp || cli.check || child_mode;
    logging::init(logging::LogConfig {
        console: cli.log_console,
        syslog: !cli.no_syslog,
        facility: logging::facility(cli.log_facility.as_deref()),
    });
    if child_mode {
        // systemd hears from the parent only.
        std::env::remove_var("NOTIFY_SOCKET");
    } else {
        logging::log_main(&format!(
            "Starting keepalived-rs v{} (reads keepalived 2.2.7 configurations)",
            env!("CARGO_PKG_VERSION")
        ));
        logging::log_main(&format!("Command line: {}", args.join(" ")));
        logging::log_main(&format!("Configuration file {}", cli.use_file));
    }
    if !cli.dont_fork && !child_mode {
        // Before any thread exists.
        nix::unistd::daemon(false, false).context("daemonizing")?;
    }
    let path = std::path::PathBuf::from(&cli.use_file);
    let reload = move || ka_config::load(&path, &opts, &env::SystemEnvironment);
    // Blocked before any thread starts: every thread inherits the mask, so a signal only
    // ever reaches the signalfd.
    let signals = process::Signals::install().context("blocking signals")?;
    if !child_mode {
        if let Some(startup) =
            lifecycle::Lifecycle::from_config(&loaded.config, lifecycle::Phase::Startup)
        {
            startup.run();
        }
    }
    let run_vrrp = vrrp_wanted && !loaded.config.instances.is_empty();
    let lvs_opts = lvs_run::LvsOptions {
        backend: if cli.ipvs_backend == "memory" {
            lvs_run::BackendKind::Memory
        } else {
            lvs_run::BackendKind::Kernel
        },
        keep_on_stop: cli.dont_release_ipvs,
        with_vrrp: run_vrrp || child_mode,
    };
    let lvs = if !lvs_wanted || loaded.config.virtual_servers.is_empty() {
        None
    } else if run_vrrp {
        // Beside VRRP: the checker side runs in its own process.
        let own_args: Vec<String> = args[1..].to_vec();
        Some(lvs_run::LvsHandle::Child(
            lvs_child::ChildHandle::start(
                own_args,
                !cli.dont_respawn,
                control::checker_socket_name(&main_pid),
            )
            .context("starting the Healthcheck child")?,
        ))
    } else {
        match lvs_run::start(&loaded.config, lvs_opts) {
            Ok(handle) => handle,
            Err(lvs_run::Unavailable(msg)) => {
                logging::log_lvs(&msg);
                // A child that cannot run is not restarted by its parent.
                return Ok(ExitCode::from(if child_mode {
                    lvs_child::FATAL_EXIT
                } else {
                    1
                }));
            }
        }
    };
    if child_mode {
        if let Some(handle) = &lvs {
            // The parent's VRRP states arrive on stdin; when it goes away, so do we.
            lvs_child::read_states(
                handle.state_sender(),
                Box::new(|| {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::getpid(),
                        nix::sys::signal::Signal::SIGTERM,
                    );
                }),
            );
        }
    }
    let _checkers_pid = match (&lvs, run_vrrp) {
        (Some(_), false) => Some(
            process::PidFiles::write(&[Path::new(&checkers_pid)])
                .context("writing the checkers pid file")?,
        ),
        _ => None,
    };
    let stopped = || {
        if let Some(script) = &shutdown_script {
            script.run();
        }
        if !child_mode {
            logging::log_main(&format!(
                "Stopped keepalived-rs v{}",
                env!("CARGO_PKG_VERSION")
            ));
        }
    };
    if run_vrrp {
        let code = vrrp_run::run(
            loaded.config,
            signals,
            lvs,
            [&main_pid, Path::new(&vrrp_pid)],
            cli.dont_release_vrrp,
            &reload,
            &control_setup,
        )?;
        stopped();
        return Ok(code);
    }
    match lvs {
        Some(handle) => {
            let _pid = if child_mode {
                None
            } else {
                Some(
                    process::PidFiles::write(&[main_pid.as_path()])
                        .context("writing the pid file")?,
                )
            };
            // The LVS thread has its own copy; this one would only hold memory.
            drop(loaded);
            control::start(&control_setup, None, Some(handle.status_source()));
            let code = lvs_run::run_alone(handle, signals, &reload)?;
            stopped();
            Ok(code)
        }
        None => {
            logging::log("no vrrp_instance and no virtual_server to run: nothing to do");
            Ok(ExitCode::SUCCESS)
        }
    }
}
