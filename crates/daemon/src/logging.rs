//! Log lines the way keepalived writes them: to the console with `-l`, to syslog unless `-G`
//! (facility daemon unless `-S`; idents `Keepalived` for the main process's start and stop,
//! `Keepalived_vrrp`, `Keepalived_healthcheckers`, in glibc's datagram format so journald's
//! `SYSLOG_IDENTIFIER` and rsyslog's programname match keepalived's); and systemd readiness
//! notifications when `NOTIFY_SOCKET` is set.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::sync::OnceLock;

/// Where log lines go.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// `-l`: also the console (stderr).
    pub console: bool,
    /// Not `-G`: syslog through /dev/log.
    pub syslog: bool,
    /// Syslog facility number (3 = daemon).
    pub facility: u8,
}

static CONFIG: OnceLock<LogConfig> = OnceLock::new();
static SYSLOG: OnceLock<Option<UnixDatagram>> = OnceLock::new();

/// Sets the destinations once, at start-up.
pub fn init(cfg: LogConfig) {
    let _ = CONFIG.set(cfg);
}

/// The facility number of `-S` (`0-7` = local0-7, `local0-7`, `user`, `daemon`).
pub fn facility(arg: Option<&str>) -> u8 {
    match arg {
        Some("user") => 1,
        Some(s) => {
            let n = s.strip_prefix("local").unwrap_or(s);
            n.parse::<u8>()
                .ok()
                .filter(|n| *n <= 7)
                .map_or(3, |n| 16 + n)
        }
        None => 3,
    }
}

/// Writes one line of the main process (ident `Keepalived`: start, stop, children).
pub fn log_main(line: &str) {
    log_as("Keepalived", line);
}

/// The datagram glibc's `syslog()` would send: `<PRI>TIMESTAMP IDENT[PID]: LINE`, priority
/// facility * 8 + notice. journald takes IDENT as `SYSLOG_IDENTIFIER`, rsyslog as programname.
pub fn syslog_datagram(facility: u8, ident: &str, pid: u32, line: &str) -> String {
    let pri = u16::from(facility) * 8 + 5;
    format!(
        "<{pri}>{} {ident}[{pid}]: {line}",
        ka_sys::clock::syslog_timestamp()
    )
}

/// The syslog socket: `/dev/log`, or `$KEEPALIVED_RS_SYSLOG_SOCKET` (a container that mounts
/// the host's socket elsewhere; the tests' own socket).
fn syslog_socket() -> std::path::PathBuf {
    std::env::var_os("KEEPALIVED_RS_SYSLOG_SOCKET")
        .filter(|p| !p.is_empty())
        .map_or_else(|| "/dev/log".into(), std::path::PathBuf::from)
}

/// Writes one line (ident `Keepalived_vrrp`).
pub fn log(line: &str) {
    log_as("Keepalived_vrrp", line);
}

/// Writes one line of the LVS side (ident `Keepalived_healthcheckers`).
pub fn log_lvs(line: &str) {
    log_as("Keepalived_healthcheckers", line);
}

/// Writes one line under a syslog ident.
pub fn log_as(ident: &str, line: &str) {
    let cfg = CONFIG.get().cloned().unwrap_or(LogConfig {
        console: true,
        syslog: false,
        facility: 3,
    });
    if cfg.console {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{ident}: {line}");
    }
    if cfg.syslog {
        let sock = SYSLOG.get_or_init(|| {
            let s = UnixDatagram::unbound().ok()?;
            s.connect(syslog_socket()).ok()?;
            Some(s)
        });
        if let Some(s) = sock {
            let msg = syslog_datagram(cfg.facility, ident, std::process::id(), line);
            let _ = s.send(msg.as_bytes());
        }
    }
}

/// Tells systemd our state (`READY=1`, `RELOADING=1`, `STOPPING=1`) when it asked to be told.
pub fn sd_notify(state: &str) {
    let Ok(path) = std::env::var("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return;
    };
    if let Some(name) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        if let Ok(addr) = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()) {
            let _ = sock.send_to_addr(state.as_bytes(), &addr);
        }
    } else {
        let _ = sock.send_to(state.as_bytes(), &path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facilities() {
        assert_eq!(facility(None), 3);
        assert_eq!(facility(Some("daemon")), 3);
        assert_eq!(facility(Some("user")), 1);
        assert_eq!(facility(Some("local2")), 18);
        assert_eq!(facility(Some("5")), 21);
    }

    #[test]
    fn datagrams_are_glibc_syslog_format() {
        let d = syslog_datagram(3, "Keepalived_vrrp", 42, "(VI_1) Entering MASTER STATE");
        assert!(d.starts_with("<29>"), "{d}");
        assert!(
            d.ends_with(" Keepalived_vrrp[42]: (VI_1) Entering MASTER STATE"),
            "{d}"
        );
        // `<29>` + `Mmm dd hh:mm:ss` + space.
        assert_eq!(&d[4 + 15..4 + 16], " ", "{d}");
        assert!(syslog_datagram(16 + 2, "x", 1, "y").starts_with("<149>"));
    }

    #[test]
    fn sd_notify_reaches_the_socket() {
        let dir = std::env::temp_dir().join(format!("ka-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).expect("bind");
        // The variable is process-wide: set and use it in this test only.
        std::env::set_var("NOTIFY_SOCKET", &path);
        sd_notify("READY=1");
        std::env::remove_var("NOTIFY_SOCKET");
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"READY=1");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
