//! The command line: every flag keepalived 2.2.7 accepts, with the same meaning, plus
//! keepalived-rs additions (`--config-json`).

use clap::{ArgAction, Parser};

/// keepalived-rs: VRRP and LVS high availability, a drop-in for keepalived.
#[derive(Debug, Parser)]
#[command(name = "keepalived-rs", version, disable_version_flag = true, about)]
pub struct Cli {
    /// Use the specified configuration file.
    #[arg(
        short = 'f',
        long = "use-file",
        value_name = "FILE",
        default_value = "/etc/keepalived/keepalived.conf"
    )]
    pub use_file: String,
    /// Only run with the VRRP subsystem.
    #[arg(short = 'P', long = "vrrp")]
    pub vrrp: bool,
    /// Only run with the health-checker subsystem.
    #[arg(short = 'C', long = "check")]
    pub check: bool,
    /// Don't run the BFD subsystem.
    #[arg(short = 'B', long = "no_bfd")]
    pub no_bfd: bool,
    /// Force all child processes to run, even if they have no configuration.
    #[arg(long = "all")]
    pub all: bool,
    /// Log messages to the local console.
    #[arg(short = 'l', long = "log-console")]
    pub log_console: bool,
    /// Detailed log messages.
    #[arg(short = 'D', long = "log-detail")]
    pub log_detail: bool,
    /// Syslog facility: 0-7, local0-7, user or daemon.
    #[arg(short = 'S', long = "log-facility", value_name = "FACILITY")]
    pub log_facility: Option<String>,
    /// Don't log via syslog.
    #[arg(short = 'G', long = "no-syslog")]
    pub no_syslog: bool,
    /// Log to a file (not in Debian's build of keepalived; accepted).
    #[arg(short = 'g', long = "log-file", value_name = "FILE", num_args = 0..=1, require_equals = true, default_missing_value = "/tmp/keepalived.log")]
    pub log_file: Option<String>,
    /// Flush the log file after each write.
    #[arg(long = "flush-log-file")]
    pub flush_log_file: bool,
    /// umask for file creation (numeric).
    #[arg(short = 'u', long = "umask", value_name = "MASK")]
    pub umask: Option<String>,
    /// Drop VIPs on transition from signal.
    #[arg(short = 'X', long = "release-vips")]
    pub release_vips: bool,
    /// Don't remove VRRP VIPs and routes on daemon stop.
    #[arg(short = 'V', long = "dont-release-vrrp")]
    pub dont_release_vrrp: bool,
    /// Don't remove IPVS topology on daemon stop.
    #[arg(short = 'I', long = "dont-release-ipvs")]
    pub dont_release_ipvs: bool,
    /// Don't respawn child processes.
    #[arg(short = 'R', long = "dont-respawn")]
    pub dont_respawn: bool,
    /// Don't fork the daemon process.
    #[arg(short = 'n', long = "dont-fork")]
    pub dont_fork: bool,
    /// Dump the configuration data to the log.
    #[arg(short = 'd', long = "dump-conf")]
    pub dump_conf: bool,
    /// Pid file of the parent process.
    #[arg(short = 'p', long = "pid", value_name = "FILE")]
    pub pid: Option<String>,
    /// Pid file of the VRRP child process.
    #[arg(short = 'r', long = "vrrp_pid", value_name = "FILE")]
    pub vrrp_pid: Option<String>,
    /// Pid file of the checkers child process.
    #[arg(short = 'c', long = "checkers_pid", value_name = "FILE")]
    pub checkers_pid: Option<String>,
    /// Pid file of the BFD child process.
    #[arg(short = 'b', long = "bfd_pid", value_name = "FILE")]
    pub bfd_pid: Option<String>,
    /// genhash utility mode (must come first).
    #[arg(short = 'T', long = "genhash")]
    pub genhash: bool,
    /// Report all address additions/deletions notified via netlink.
    #[arg(short = 'a', long = "address-monitoring")]
    pub address_monitoring: bool,
    /// Enable the SNMP subsystem.
    #[arg(short = 'x', long = "snmp")]
    pub snmp: bool,
    /// Socket of the SNMP master agent.
    #[arg(short = 'A', long = "snmp-agent-socket", value_name = "FILE")]
    pub snmp_agent_socket: Option<String>,
    /// Run in network namespace NAME (overrides the configuration).
    #[arg(short = 's', long = "namespace", value_name = "NAME")]
    pub namespace: Option<String>,
    /// Produce a core dump on abnormal termination.
    #[arg(short = 'm', long = "core-dump")]
    pub core_dump: bool,
    /// Also set /proc/sys/kernel/core_pattern.
    #[arg(short = 'M', long = "core-dump-pattern", value_name = "PATN", num_args = 0..=1, require_equals = true, default_missing_value = "core")]
    pub core_dump_pattern: Option<String>,
    /// Error if any configuration file is missing (like includet).
    #[arg(short = 'e', long = "all-config")]
    pub all_config: bool,
    /// Configuration id for `@id` lines (default: the host name up to its first dot).
    #[arg(short = 'i', long = "config-id", value_name = "ID")]
    pub config_id: Option<String>,
    /// Print the signal number for STOP, RELOAD, DATA, STATS, STATS_CLEAR, JSON.
    #[arg(long = "signum", value_name = "SIGFUNC")]
    pub signum: Option<String>,
    /// Check the configuration and exit; diagnostics to stderr or to LOG_FILE.
    #[arg(short = 't', long = "config-test", value_name = "LOG_FILE", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub config_test: Option<String>,
    /// Debug options (accepted, no effect).
    #[arg(long = "debug", value_name = "OPTS", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub debug: Option<String>,
    /// Performance profiling (accepted, no effect).
    #[arg(long = "perf", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub perf: Option<String>,
    /// Accepted for compatibility, no effect.
    #[arg(long = "no-mem-check")]
    pub no_mem_check: bool,
    /// Ignore SIGINT.
    #[arg(long = "ignore-sigint")]
    pub ignore_sigint: bool,
    /// keepalived-rs: where IPVS operations go: the kernel (default), or `memory`, a dry run
    /// that programs an in-memory table and logs every operation (machines without IPVS, tests).
    #[arg(long = "ipvs-backend", value_name = "KIND", default_value = "kernel", value_parser = ["kernel", "memory"])]
    pub ipvs_backend: String,
    /// keepalived-rs: serve Prometheus metrics at http://ADDR:PORT/metrics (off unless given).
    #[arg(long = "metrics-listen", value_name = "ADDR:PORT")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// keepalived-rs: print the validated model, every default filled in, as JSON.
    #[arg(long = "config-json")]
    pub config_json: bool,
    /// Display the version number.
    #[arg(short = 'v', long = "version", action = ArgAction::SetTrue)]
    pub version: bool,
}

/// Writes the `keepalived-rs(8)` man page, generated from [`Cli`], as roff (`keepalived-rs --man`;
/// `scripts/build-deb.sh` ships it as `/usr/share/man/man8/keepalived-rs.8.gz`).
pub fn write_man(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use clap::CommandFactory;
    let man = clap_mangen::Man::new(Cli::command())
        .section("8")
        .manual("System Administration")
        .source(format!("keepalived-rs {}", env!("CARGO_PKG_VERSION")));
    man.render(out)?;
    out.write_all(
        b".SH \"STATUS\"\n\
          \\fBkeepalived\\-rs status\\fR [\\fB\\-\\-json\\fR] [\\fB\\-p\\fR \\fIFILE\\fR] [\\fB\\-i\\fR \\fINAME\\fR] [\\fB\\-s\\fR \\fINETNS\\fR]\n\
          .br\n\
          Asks the running daemon (root only) for every VRRP instance and virtual server, as a\n\
          table or JSON. Exit status 0 when every instance is MASTER or BACKUP and every virtual\n\
          server has quorum, 1 when one is in FAULT or lacks quorum, 2 when no daemon answers.\n\
          \\fB\\-p\\fR names the daemon's pid file, \\fB\\-i\\fR its \\fIinstance\\fR name,\n\
          \\fB\\-s\\fR the network namespace it runs in.\n\
          .SH FILES\n\
          /etc/keepalived/keepalived.conf (the configuration, shared with keepalived),\n\
          /etc/default/keepalived\\-rs (DAEMON_ARGS for the systemd unit),\n\
          /lib/systemd/system/keepalived\\-rs.service\n\
          .SH \"SEE ALSO\"\n\
          keepalived(8), keepalived.conf(5), genhash(1), systemctl(1)\n",
    )
}
