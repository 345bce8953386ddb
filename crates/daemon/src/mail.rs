//! SMTP alerts (`smtp_alert` with `notification_email`, `notification_email_from`,
//! `smtp_server`, `smtp_helo_name`, `smtp_connect_timeout`): one mail per state change of an
//! instance or sync group that has alerts on, with keepalived's subject and body lines.
//!
//! Mails go through a channel to their own thread, which speaks plain SMTP (HELO, MAIL FROM,
//! RCPT TO, DATA, QUIT) with the connect timeout on every step: a slow or dead mail server
//! delays nothing else, and a full queue drops mails (logged) rather than growing.

use crate::logging::log;
use ka_config::model::Config;
use ka_vrrp::instance::State;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::time::Duration;

/// Mails waiting to be sent; more are dropped.
const QUEUE: usize = 64;

/// Where and how alerts are sent.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `smtp_server` host and port.
    pub server: (String, u16),
    /// HELO name.
    pub helo: String,
    /// Envelope and header sender.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// `smtp_connect_timeout`, also used for every read and write.
    pub timeout: Duration,
    /// `router_id`, in the subject.
    pub router_id: String,
}

impl MailSettings {
    /// The settings of `cfg`, or None when alerts cannot be sent (no server or no recipient).
    pub fn from_config(cfg: &Config) -> Option<Self> {
        let g = &cfg.global;
        let server = g.smtp_server.as_ref()?;
        if g.notification_email.is_empty() {
            return None;
        }
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into());
        Some(Self {
            server: (server.host.clone(), server.port),
            helo: g.smtp_helo_name.clone().unwrap_or_else(|| host.clone()),
            from: g
                .notification_email_from
                .clone()
                .unwrap_or_else(|| format!("keepalived@{host}")),
            to: g.notification_email.clone(),
            timeout: Duration::from_secs(u64::from(g.smtp_connect_timeout.max(1))),
            router_id: g.router_id.clone().unwrap_or(host),
        })
    }
}

/// keepalived's subject and body for a VRRP state change.
pub fn vrrp_message(router_id: &str, group: bool, name: &str, state: State) -> (String, String) {
    let what = if group { "VRRP Group" } else { "VRRP Instance" };
    let state_word = match state {
        State::Master => "MASTER",
        State::Backup => "BACKUP",
        State::Fault => "FAULT",
        State::Init => "STOP",
    };
    let subject = format!("[{router_id}] {what} {name} - Entering {state_word} state");
    let body = match state {
        State::Master => format!("=> {what} is now owning VRRP VIPs <="),
        State::Backup => format!("=> {what} is nolonger owning VRRP VIPs <="),
        State::Fault => format!("=> {what} is in FAULT state <="),
        State::Init => format!("=> {what} is stopped <="),
    };
    (subject, body)
}

/// The sending side, cheap to call from the VRRP thread.
#[derive(Debug, Clone)]
pub struct Mailer {
    tx: SyncSender<(String, String)>,
}

impl Mailer {
    /// Starts the mail thread.
    pub fn start(settings: MailSettings) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel::<(String, String)>(QUEUE);
        std::thread::Builder::new()
            .name("mail".into())
            .spawn(move || {
                let _ = ka_sys::sched::set_current_thread_normal();
                while let Ok((subject, body)) = rx.recv() {
                    if let Err(e) = send(&settings, &subject, &body) {
                        log(&format!("mail \"{subject}\" not sent: {e}"));
                    }
                }
            })?;
        Ok(Self { tx })
    }

    /// Queues an alert; never blocks.
    pub fn alert(&self, subject: String, body: String) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send((subject, body)) {
            log("mail queue full: alert dropped");
        }
    }
}

fn expect(reader: &mut impl BufRead, code: &str) -> std::io::Result<()> {
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        // Multi-line replies: "250-..." until "250 ...".
        if line.len() >= 4 && &line[3..4] == "-" {
            continue;
        }
        if line.starts_with(code) {
            return Ok(());
        }
        return Err(std::io::Error::other(format!(
            "server said {}",
            line.trim_end()
        )));
    }
}

/// One SMTP session for one mail.
pub fn send(s: &MailSettings, subject: &str, body: &str) -> std::io::Result<()> {
    let addr = (s.server.0.as_str(), s.server.1)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("smtp_server does not resolve"))?;
    let stream = TcpStream::connect_timeout(&addr, s.timeout)?;
    stream.set_read_timeout(Some(s.timeout))?;
    stream.set_write_timeout(Some(s.timeout))?;
    let mut w = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    expect(&mut r, "220")?;
    write!(w, "HELO {}\r\n", s.helo)?;
    expect(&mut r, "250")?;
    write!(w, "MAIL FROM:<{}>\r\n", s.from)?;
    expect(&mut r, "250")?;
    for to in &s.to {
        write!(w, "RCPT TO:<{to}>\r\n")?;
        expect(&mut r, "250")?;
    }
    write!(w, "DATA\r\n")?;
    expect(&mut r, "354")?;
    let date = std::process::Command::new("date")
        .arg("-R")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    write!(
        w,
        "From: {}\r\nSubject: {subject}\r\nX-Mailer: Keepalived\r\nTo: {}\r\nDate: {date}\r\n\r\n{body}\r\n.\r\n",
        s.from,
        s.to.join(", ")
    )?;
    expect(&mut r, "250")?;
    write!(w, "QUIT\r\n")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn keepalived_s_subjects() {
        let (s, b) = vrrp_message("lb1", false, "VI_1", State::Master);
        assert_eq!(s, "[lb1] VRRP Instance VI_1 - Entering MASTER state");
        assert_eq!(b, "=> VRRP Instance is now owning VRRP VIPs <=");
        let (s, _) = vrrp_message("lb1", true, "G", State::Fault);
        assert_eq!(s, "[lb1] VRRP Group G - Entering FAULT state");
    }

    #[test]
    fn a_mail_reaches_a_smtp_sink() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let sink = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut w = stream.try_clone().expect("clone");
            let mut r = BufReader::new(stream);
            let mut got = String::new();
            let _ = w.write_all(b"220 sink\r\n");
            let mut in_data = false;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                got.push_str(&line);
                if in_data {
                    if line == ".\r\n" {
                        in_data = false;
                        let _ = w.write_all(b"250 ok\r\n");
                    }
                    continue;
                }
                let reply: &[u8] = if line.starts_with("DATA") {
                    in_data = true;
                    b"354 go\r\n"
                } else if line.starts_with("QUIT") {
                    let _ = w.write_all(b"221 bye\r\n");
                    break;
                } else {
                    b"250 ok\r\n"
                };
                let _ = w.write_all(reply);
            }
            got
        });
        let settings = MailSettings {
            server: ("127.0.0.1".into(), port),
            helo: "lb1".into(),
            from: "ka@example.org".into(),
            to: vec!["ops@example.org".into()],
            timeout: Duration::from_secs(5),
            router_id: "lb1".into(),
        };
        let (subject, body) = vrrp_message("lb1", false, "VI_1", State::Backup);
        send(&settings, &subject, &body).expect("sent");
        let got = sink.join().expect("sink");
        assert!(got.contains("MAIL FROM:<ka@example.org>"), "{got}");
        assert!(got.contains("RCPT TO:<ops@example.org>"), "{got}");
        assert!(got.contains("Subject: [lb1] VRRP Instance VI_1 - Entering BACKUP state"));
        assert!(got.contains("=> VRRP Instance is nolonger owning VRRP VIPs <="));
    }
}
