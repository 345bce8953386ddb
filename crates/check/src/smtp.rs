//! SMTP_CHECK (§3.4): connect, read the greeting line (`220` then a space or the end of the
//! line), send `HELO <helo_name>\r\n`, read one line that must be `250…`, send `QUIT\r\n`, read
//! one more line whatever it says. Each step is bounded by `connect_timeout`.
//!
//! Lines are read as 2.2.7 reads them: into a 512-byte buffer (cleared when 511 bytes hold no
//! newline), up to the first `\n`; whatever followed that newline in the same read is dropped
//! before the next line is read, so the second line of a multi-line `220-` banner is never seen
//! and the check fails on the first. A status is three digits followed by a space or the end of
//! the line; the `\r` of `220\r\n` is neither, which 2.2.7 rejects too.

use crate::attempt::Attempt;
use crate::net::{connect_tcp, Connect, ConnectError};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

/// The HELO name when `helo_name` is not given (2.2.7's default).
pub const DEFAULT_HELO: &str = "smtpchecker.keepalived.org";

/// SMTP is the one checker whose retry counter 2.2.7 resets at the start of every `delay_loop`
/// cycle (§3.0): the counter is never pre-loaded, so even before the first success a server is
/// marked down only after `retry` re-attempts, and a checker that is down still makes its
/// `retry` re-attempts `delay_before_retry` apart within each cycle. The engine reads this to
/// count SMTP the 2.2.7 way.
pub const RESETS_RETRIES_EACH_CYCLE: bool = true;

/// 2.2.7's line buffer: at most 511 bytes of a line are kept.
const LINE_BUFFER: usize = 512;

/// The log line of a socket that could not be set up (2.2.7 words; the attempt is not counted).
pub const RESCHEDULING_LINE: &str = "SMTP_CHECK socket bind failed. Rescheduling.";

/// One SMTP_CHECK attempt against `c.target`, greeting with `helo_name` (or [`DEFAULT_HELO`]).
///
/// A failure's reason is 2.2.7's (`Bad greeting banner from server [192.0.2.10]:25`...), the
/// text that follows `SMTP_CHECK ` in its log line and `=> CHECK failed on service : ` in its
/// mail; see [`failure_line`] and [`mail_down`].
pub async fn check(c: &Connect, helo_name: Option<&str>) -> Attempt {
    let server = server_name(c.target);
    let mut stream = match connect_tcp(c).await {
        Ok(s) => s,
        Err(ConnectError::Local(r)) => return Attempt::not_counted(r),
        Err(ConnectError::Failed(r)) => {
            // connect_tcp words timeouts "Timeout connecting"; every other server-side error
            // is what 2.2.7 calls a connection that could not be made.
            let reason = if r == "Timeout connecting" {
                format!("Connection timeout to server {server}")
            } else {
                format!("Could not connect to server {server}")
            };
            return Attempt::failure(reason);
        }
    };
    match dialogue(&mut stream, c.timeout, helo_name.unwrap_or(DEFAULT_HELO)).await {
        Ok(()) => Attempt::success("succeed"),
        Err(step) => Attempt::failure(step.reason(&server)),
    }
}

/// Where a dialogue failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepError {
    ReadTimeout,
    ReadFailure,
    WriteTimeout,
    WriteFailure,
    BadGreeting,
    BadHelo,
}

impl StepError {
    /// 2.2.7's words for it, naming the server as `[addr]:port`.
    fn reason(self, server: &str) -> String {
        let what = match self {
            StepError::ReadTimeout => "Read timeout from server",
            StepError::ReadFailure => "Read failure from server",
            StepError::WriteTimeout => "Write timeout to server",
            StepError::WriteFailure => "Write failure to server",
            StepError::BadGreeting => "Bad greeting banner from server",
            StepError::BadHelo => "Bad HELO response from server",
        };
        format!("{what} {server}")
    }
}

/// The conversation after the connection is up.
async fn dialogue(s: &mut TcpStream, step: Duration, helo: &str) -> Result<(), StepError> {
    let mut buf = Vec::with_capacity(LINE_BUFFER);
    let banner = read_line(s, step, &mut buf).await?;
    if status(&banner) != Some(220) {
        return Err(StepError::BadGreeting);
    }
    write_line(s, step, format!("HELO {helo}\r\n").as_bytes()).await?;
    let reply = read_line(s, step, &mut buf).await?;
    if status(&reply) != Some(250) {
        return Err(StepError::BadHelo);
    }
    write_line(s, step, b"QUIT\r\n").await?;
    read_line(s, step, &mut buf).await?;
    Ok(())
}

/// Reads up to the first newline within `step`; returns the bytes before it. The buffer is
/// cleared first (what a previous read brought after its newline is dropped, as 2.2.7 does).
async fn read_line(
    s: &mut TcpStream,
    step: Duration,
    buf: &mut Vec<u8>,
) -> Result<Vec<u8>, StepError> {
    let deadline = Instant::now() + step;
    buf.clear();
    let mut chunk = [0u8; LINE_BUFFER];
    loop {
        if buf.len() >= LINE_BUFFER - 1 {
            // 2.2.7 wraps a full buffer by emptying it and reading on.
            buf.clear();
        }
        let room = LINE_BUFFER - 1 - buf.len();
        let Some(space) = chunk.get_mut(..room) else {
            return Err(StepError::ReadFailure);
        };
        let n = match timeout_at(deadline, s.read(space)).await {
            Err(_) => return Err(StepError::ReadTimeout),
            Ok(Err(_)) | Ok(Ok(0)) => return Err(StepError::ReadFailure),
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            return Ok(buf.get(..nl).unwrap_or_default().to_vec());
        }
    }
}

/// Writes a command within `step`.
async fn write_line(s: &mut TcpStream, step: Duration, line: &[u8]) -> Result<(), StepError> {
    match timeout_at(Instant::now() + step, s.write_all(line)).await {
        Err(_) => Err(StepError::WriteTimeout),
        Ok(Err(_)) => Err(StepError::WriteFailure),
        Ok(Ok(())) => Ok(()),
    }
}

/// The reply code of a line: exactly three digits followed by a space, a NUL or the end of the
/// line (2.2.7 reads it with strtoul and requires three characters consumed, so leading blanks,
/// signs, a fourth digit, `-` (continuation) or `\r` right after the code are all rejected).
pub fn status(line: &[u8]) -> Option<u16> {
    let code = line.get(..3)?;
    if !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    match line.get(3) {
        None | Some(b' ') | Some(0) => {}
        Some(_) => return None,
    }
    code.iter()
        .try_fold(0u16, |acc, d| Some(acc * 10 + u16::from(d - b'0')))
}

/// A server named as 2.2.7 names it in SMTP reasons: `[addr]:port`.
pub fn server_name(target: SocketAddr) -> String {
    format!("[{}]:{}", target.ip(), target.port())
}

/// The log line of a success while down or not yet run, `rs_name` as `[addr]:tcp:port`.
pub fn up_line(rs_name: &str) -> String {
    format!("Remote SMTP server {rs_name} succeed on service.")
}

/// The log line of a failed attempt: 2.2.7 logs it on every failure with `log_all_failures`,
/// and on the failure that ends the retries; there is no separate "failed after N retries" line
/// for SMTP.
pub fn failure_line(reason: &str) -> String {
    format!("SMTP_CHECK {reason}")
}

/// The log line of the verdict down: the failure line of the last attempt (see
/// [`failure_line`]); kept as its own name so the engine reads the same for every checker.
pub fn down_line(reason: &str) -> String {
    failure_line(reason)
}

/// The mail body of a checker coming up.
pub fn mail_up() -> &'static str {
    "=> CHECK succeed on service <="
}

/// The mail body of a checker going down, with the last attempt's reason.
pub fn mail_down(reason: &str) -> String {
    format!("=> CHECK failed on service : {reason} <=")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;
    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::net::TcpListener;

    fn connect(port: u16, timeout: Duration) -> Connect {
        Connect {
            target: ([127, 0, 0, 1], port).into(),
            bind_addr: None,
            bind_port: None,
            bind_if: None,
            fwmark: None,
            timeout,
        }
    }

    /// A one-connection responder: sends `banner`, answers the HELO line with `helo_reply`,
    /// answers QUIT with `221`; returns the lines it received.
    async fn responder(
        banner: &'static [u8],
        helo_reply: &'static [u8],
    ) -> (u16, tokio::task::JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = l.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let (s, _) = l.accept().await.expect("accept");
            let (r, mut w) = s.into_split();
            let mut r = BufReader::new(r);
            let mut got = Vec::new();
            w.write_all(banner).await.expect("banner");
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                return got;
            }
            got.push(line.clone());
            w.write_all(helo_reply).await.expect("helo reply");
            line.clear();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                return got;
            }
            got.push(line.clone());
            let _ = w.write_all(b"221 bye\r\n").await;
            got
        });
        (port, task)
    }

    #[tokio::test]
    async fn a_good_server_passes_and_sees_helo_then_quit() {
        let (port, task) = responder(b"220 mx.example ESMTP\r\n", b"250 mx.example\r\n").await;
        let a = check(&connect(port, Duration::from_secs(2)), None).await;
        assert_eq!(a.outcome, Outcome::Success, "{a:?}");
        let lines = task.await.expect("join");
        assert_eq!(
            lines,
            vec![
                "HELO smtpchecker.keepalived.org\r\n".to_string(),
                "QUIT\r\n".to_string()
            ]
        );
    }

    #[tokio::test]
    async fn the_helo_name_is_sent() {
        let (port, task) = responder(b"220 ok\r\n", b"250 ok\r\n").await;
        let a = check(&connect(port, Duration::from_secs(2)), Some("lb1.example")).await;
        assert!(a.ok(), "{a:?}");
        assert_eq!(
            task.await.expect("join").first().map(String::as_str),
            Some("HELO lb1.example\r\n")
        );
    }

    #[tokio::test]
    async fn a_multi_line_banner_fails() {
        let (port, _task) = responder(
            b"220-mx.example first\r\n220 mx.example second\r\n",
            b"250 ok\r\n",
        )
        .await;
        let a = check(&connect(port, Duration::from_secs(2)), None).await;
        assert_eq!(a.outcome, Outcome::Failure);
        assert_eq!(
            a.reason,
            format!("Bad greeting banner from server [127.0.0.1]:{port}")
        );
        assert_eq!(
            failure_line(&a.reason),
            format!("SMTP_CHECK Bad greeting banner from server [127.0.0.1]:{port}")
        );
    }

    #[tokio::test]
    async fn a_bad_helo_reply_fails() {
        let (port, _task) = responder(b"220 ok\r\n", b"550 go away\r\n").await;
        let a = check(&connect(port, Duration::from_secs(2)), None).await;
        assert_eq!(a.outcome, Outcome::Failure);
        assert_eq!(
            a.reason,
            format!("Bad HELO response from server [127.0.0.1]:{port}")
        );
        assert_eq!(
            mail_down(&a.reason),
            format!(
                "=> CHECK failed on service : Bad HELO response from server [127.0.0.1]:{port} <="
            )
        );
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = l.local_addr().expect("addr").port();
        let _keep = tokio::spawn(async move {
            let (s, _) = l.accept().await.expect("accept");
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(s);
        });
        let started = std::time::Instant::now();
        let a = check(&connect(port, Duration::from_millis(300)), None).await;
        assert_eq!(a.outcome, Outcome::Failure);
        assert_eq!(
            a.reason,
            format!("Read timeout from server [127.0.0.1]:{port}")
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_server_closing_before_answering_quit_fails() {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = l.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let (s, _) = l.accept().await.expect("accept");
            let (r, mut w) = s.into_split();
            let mut r = BufReader::new(r);
            w.write_all(b"220 ok\r\n").await.expect("banner");
            let mut line = String::new();
            let _ = r.read_line(&mut line).await;
            w.write_all(b"250 ok\r\n").await.expect("helo");
            line.clear();
            let _ = r.read_line(&mut line).await;
            // QUIT read, then close without a reply.
        });
        let a = check(&connect(port, Duration::from_secs(2)), None).await;
        assert_eq!(
            a.reason,
            format!("Read failure from server [127.0.0.1]:{port}")
        );
    }

    #[tokio::test]
    async fn a_closed_port_fails_as_not_connected() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        drop(l);
        let a = check(&connect(port, Duration::from_secs(1)), None).await;
        assert_eq!(a.outcome, Outcome::Failure);
        assert_eq!(
            a.reason,
            format!("Could not connect to server [127.0.0.1]:{port}")
        );
    }

    #[test]
    fn status_codes_are_read_as_2_2_7_reads_them() {
        assert_eq!(status(b"220 mx ESMTP"), Some(220));
        assert_eq!(status(b"220"), Some(220));
        assert_eq!(status(b"250 ok\r"), Some(250));
        assert_eq!(status(b"220-more"), None);
        assert_eq!(status(b"220\r"), None);
        assert_eq!(status(b" 220 x"), None);
        assert_eq!(status(b"2200 x"), None);
        assert_eq!(status(b"22 x"), None);
        assert_eq!(status(b""), None);
    }

    #[test]
    fn log_texts() {
        assert_eq!(
            up_line("[192.0.2.10]:tcp:25"),
            "Remote SMTP server [192.0.2.10]:tcp:25 succeed on service."
        );
        assert_eq!(mail_up(), "=> CHECK succeed on service <=");
        assert_eq!(down_line("x"), "SMTP_CHECK x");
        assert_eq!(
            server_name("[2001:db8::1]:25".parse().expect("addr")),
            "[2001:db8::1]:25"
        );
    }
}
