//! The control socket `keepalived-rs status` talks to, and the collector behind it and
//! `/metrics`.
//!
//! One abstract unix socket per daemon, named after its main pid file
//! (`keepalived-rs:/run/keepalived.pid`): abstract names live in the network namespace, so
//! daemons in different namespaces never meet, and two daemons in one namespace differ by pid
//! file (`-p`, or keepalived's `instance`/`-s` suffix). Only root may ask (the peer's
//! credentials, checked by the kernel). A request is one line, `status`; the answer is one
//! JSON document and the connection closes.
//!
//! The checker child serves the same protocol on `<name>/checkers`; the parent asks it for the
//! LVS part, so one request to the parent answers for both processes.

use crate::logging::log;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long a collector waits for a thread or the checker child to answer.
pub const ANSWER_WAIT: Duration = Duration::from_secs(3);

/// Builds the status document on demand (called on the control thread, never on the VRRP
/// thread: it asks that thread through its inbox).
pub type Collect = Arc<dyn Fn() -> Value + Send + Sync>;

/// The main pid file a daemon writes: `-p`, else keepalived's name with the `instance` (or,
/// without one, the `-s` namespace) as suffix, else `/run/keepalived.pid`.
pub fn main_pid_file(pid: Option<&str>, instance: Option<&str>) -> PathBuf {
    pid_file(pid, crate::process::DEFAULT_PID, instance)
}

/// A pid file's path: the one given, else `default` with `_NAME` before `.pid` when there is
/// an `instance` (or namespace) name, else `default` (`/run/vrrp.pid` -> `/run/vrrp_NAME.pid`).
pub fn pid_file(given: Option<&str>, default: &str, suffix: Option<&str>) -> PathBuf {
    match (given, suffix) {
        (Some(p), _) => PathBuf::from(p),
        (None, Some(name)) if !name.is_empty() => {
            PathBuf::from(format!("{}_{name}.pid", default.trim_end_matches(".pid")))
        }
        _ => PathBuf::from(default),
    }
}

/// The socket of the daemon whose main pid file is `pid_file`.
pub fn socket_name(pid_file: &Path) -> String {
    format!("keepalived-rs:{}", pid_file.display())
}

/// The checker child's socket.
pub fn checker_socket_name(pid_file: &Path) -> String {
    format!("{}/checkers", socket_name(pid_file))
}

/// Facts about the process for the document's `daemon` part.
pub fn daemon_facts(config: &str, started: std::time::Instant) -> Value {
    json!({
        "pid": std::process::id(),
        "version": env!("CARGO_PKG_VERSION"),
        "config": config,
        "uptime_s": started.elapsed().as_secs_f64(),
    })
}

/// Where a daemon serves its status.
#[derive(Debug, Clone)]
pub struct ControlSetup {
    /// Its control socket name.
    pub socket: String,
    /// `--metrics-listen`.
    pub metrics: Option<std::net::SocketAddr>,
    /// The configuration file (reported).
    pub config: String,
    /// When the process started.
    pub started: std::time::Instant,
}

/// The VRRP side's snapshot, or `{"error": ...}`.
pub type VrrpSource = Arc<dyn Fn() -> Value + Send + Sync>;

/// Starts the control socket (and metrics when asked) over the given sides.
pub fn start(
    setup: &ControlSetup,
    vrrp: Option<VrrpSource>,
    lvs: Option<crate::lvs_run::StatusSource>,
) {
    let config = setup.config.clone();
    let started = setup.started;
    let collect: Collect = Arc::new(move || {
        json!({
            "daemon": daemon_facts(&config, started),
            "vrrp": vrrp.as_ref().map_or(Value::Null, |f| f()),
            "lvs": lvs.as_ref().map_or(Value::Null, crate::lvs_run::StatusSource::fetch),
        })
    });
    serve(&setup.socket, Arc::clone(&collect));
    if let Some(addr) = setup.metrics {
        match crate::metrics::serve(addr, collect) {
            Ok(()) => log(&format!("metrics at http://{addr}/metrics")),
            Err(e) => log(&format!(
                "--metrics-listen {addr}: {e}; running without metrics"
            )),
        }
    }
}

/// Starts the control thread on `name`. A bind failure (another daemon has the name) is
/// logged: the daemon runs on without a control socket.
pub fn serve(name: &str, collect: Collect) {
    let listener = match SocketAddr::from_abstract_name(name.as_bytes())
        .and_then(|addr| UnixListener::bind_addr(&addr))
    {
        Ok(l) => l,
        Err(e) => {
            log(&format!(
                "control socket @{name}: {e}; `keepalived-rs status` will not reach this daemon"
            ));
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            // Monitoring yields to everything else: a scrape may wait, an advert may not.
            let _ = ka_sys::sched::set_current_thread_normal();
            let _ = ka_sys::sched::set_current_thread_nice(10);
            for conn in listener.incoming() {
                let Ok(stream) = conn else { continue };
                // One at a time: a status request costs milliseconds, and a client that stalls
                // is cut by the timeouts below.
                let _ = answer(stream, &collect);
            }
        });
    if let Err(e) = spawned {
        log(&format!("control thread: {e}"));
    }
}

/// Whether the peer is root, from the kernel's record of who connected.
fn peer_is_root(stream: &UnixStream) -> bool {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    getsockopt(stream, PeerCredentials).is_ok_and(|c| c.uid() == 0)
}

fn answer(stream: UnixStream, collect: &Collect) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut out = stream.try_clone()?;
    let root = peer_is_root(&stream);
    // The request is read even from a refused peer: closing on unread data would reset the
    // connection, and the client would see an error instead of the refusal.
    let mut line = String::new();
    BufReader::new(stream.take(256)).read_line(&mut line)?;
    if !root {
        let refusal = json!({"error": "refused: only root may ask keepalived-rs for its status"});
        return writeln!(out, "{refusal}");
    }
    let reply = match line.trim() {
        "status" => collect(),
        other => json!({"error": format!("unknown request {other:?}; ask `status`")}),
    };
    let mut text = reply.to_string();
    text.push('\n');
    out.write_all(text.as_bytes())
}

/// Why a query got no document.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Nothing listens on the name.
    #[error("no keepalived-rs daemon answers on @{0} (is it running, in this network namespace, with this pid file?)")]
    NoDaemon(String),
    /// It answered with an error (e.g. not root).
    #[error("{0}")]
    Refused(String),
    /// It answered something that is not JSON, or nothing in time.
    #[error("bad answer from @{0}: {1}")]
    BadAnswer(String, String),
}

/// Asks the daemon on `name` for its status document.
pub fn query(name: &str, timeout: Duration) -> Result<Value, QueryError> {
    let addr = SocketAddr::from_abstract_name(name.as_bytes())
        .map_err(|e| QueryError::BadAnswer(name.to_string(), e.to_string()))?;
    let mut stream =
        UnixStream::connect_addr(&addr).map_err(|_| QueryError::NoDaemon(name.to_string()))?;
    let bad = |e: std::io::Error| QueryError::BadAnswer(name.to_string(), e.to_string());
    stream.set_read_timeout(Some(timeout)).map_err(bad)?;
    stream.set_write_timeout(Some(timeout)).map_err(bad)?;
    // The daemon may have refused us already and closed: a failed write is read below.
    let _ = stream.write_all(b"status\n");
    let mut text = String::new();
    stream
        .take(64 << 20)
        .read_to_string(&mut text)
        .map_err(bad)?;
    let doc: Value = serde_json::from_str(text.trim())
        .map_err(|e| QueryError::BadAnswer(name.to_string(), e.to_string()))?;
    if let Some(err) = doc.get("error").and_then(Value::as_str) {
        return Err(QueryError::Refused(err.to_string()));
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_names_follow_keepalived() {
        assert_eq!(
            main_pid_file(None, None),
            PathBuf::from("/run/keepalived.pid")
        );
        assert_eq!(
            main_pid_file(None, Some("lb_a")),
            PathBuf::from("/run/keepalived_lb_a.pid")
        );
        assert_eq!(
            main_pid_file(Some("/tmp/x.pid"), Some("lb_a")),
            PathBuf::from("/tmp/x.pid")
        );
        assert_eq!(
            pid_file(None, "/run/vrrp.pid", Some("lb_a")),
            PathBuf::from("/run/vrrp_lb_a.pid")
        );
        assert_eq!(
            socket_name(Path::new("/run/keepalived.pid")),
            "keepalived-rs:/run/keepalived.pid"
        );
    }

    #[test]
    fn a_served_document_comes_back_to_root_and_nothing_answers_elsewhere() {
        let name = format!("keepalived-rs-test:{}", std::process::id());
        serve(&name, Arc::new(|| json!({"hello": 1})));
        let got = query(&name, Duration::from_secs(5));
        if nix::unistd::geteuid().is_root() {
            assert_eq!(got.expect("answer")["hello"], 1);
        } else {
            assert!(matches!(got, Err(QueryError::Refused(_))), "{got:?}");
        }
        let none = query(&format!("{name}-absent"), Duration::from_secs(1));
        assert!(matches!(none, Err(QueryError::NoDaemon(_))), "{none:?}");
    }
}
