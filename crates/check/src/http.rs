//! HTTP_GET and SSL_GET (§3.2, §3.3): one attempt fetches one `url` as keepalived 2.2.7 does
//! and judges the answer; [`HttpState`] carries 2.2.7's URL cursor and failed-URL memory from
//! one attempt to the next and turns results into verdicts, delays and log lines.
//!
//! The exchange, byte for byte as 2.2.7 (lab-checked against Debian's `genhash`):
//! - request `GET <path> HTTP/1.<0|1>\r\nUser-Agent: KeepAliveClient\r\n`, then
//!   `Connection: close\r\n` for `http_protocol 1.0C`/`1.1`, then `Host: <h>\r\n\r\n` where `<h>`
//!   is the first `virtualhost` of url > checker > real server > virtual server, else the
//!   connect address with `:port` (IPv6 in brackets);
//! - the answer is read until the server closes (Content-Length does not end the read);
//!   headers must end within the first 4095 bytes or the answer counts as "no data";
//! - status: the token after the first space must be three digits followed by a space
//!   (`HTTP/1.1 200 ` passes, `HTTP/1.1 200` fails), within the url's `status_code` ranges;
//! - `digest`: MD5 of the bytes after the blank line — chunked framing included, as it came —
//!   cut at the first `Content-Length:` found anywhere in the first buffer (body text too).
//!
//! Timing: connect, TLS handshake (sharing the connect's timer), write and every read each
//! have `connect_timeout`, as in 2.2.7; **unlike 2.2.7**, the whole attempt also ends at
//! max(`delay_loop`, 3 × `connect_timeout`), so a server trickling bytes or sending an endless
//! body cannot hold a checker forever (2.2.7's #1822). The timeout is then reported as the
//! step that was running.
//!
//! `regex` is not evaluated yet (TODO: keepalived uses PCRE2 with streamed partial matching;
//! no PCRE2-compatible engine is in the workspace): such URLs are checked without it, and
//! [`HttpSpec::warnings`] says so for the daemon to log.

use crate::attempt::{Attempt, Outcome};
use crate::net::{socket, Connect, ConnectError};
use crate::schedule::Timing;
use crate::tls::{Counted, HandshakeError, TlsContext};
use ka_config::model::lvs::HttpCheck;
use md5::{Digest, Md5};
use socket2::{Protocol, SockAddr, Type};
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_openssl::SslStream;

/// 2.2.7's read buffer holds 4096 bytes with room for a terminating NUL: the headers must end
/// within this many bytes, and no read takes more.
pub const READ_BUFFER: usize = 4095;

/// Failure reasons, in keepalived's words (`<reason> server <rs>.` with `log_all_failures`).
pub mod reason {
    /// connect() itself failed at once (no route...).
    pub const NETWORK_UNREACHABLE: &str = "HTTP_CHECK - network unreachable";
    /// No connection (or no TLS handshake) within `connect_timeout`.
    pub const TIMEOUT_CONNECTING: &str = "Timeout connecting";
    /// The connection was refused, reset or found unreachable while being made.
    pub const CONNECTION_FAILED: &str = "Connection failed";
    /// The socket's state could not be read after connecting.
    pub const ERROR_CONNECTING: &str = "Error connecting";
    /// The TLS handshake failed.
    pub const SSL_HANDSHAKE: &str = "SSL handshake/communication error connecting to";
    /// The request could not be written in time.
    pub const TIMEOUT_WRITE: &str = "Timeout WEB write";
    /// The request could not be written.
    pub const CANNOT_SEND: &str = "Cannot send get request to";
    /// Nothing came back in time.
    pub const TIMEOUT_WEB_READ: &str = "Timeout WEB read";
    /// The answer stopped coming (plain HTTP).
    pub const TIMEOUT_HTTP_READ: &str = "Timeout HTTP read";
    /// The answer stopped coming (TLS).
    pub const TIMEOUT_SSL_READ: &str = "Timeout SSL read";
    /// A read failed (plain HTTP).
    pub const READ_ERROR: &str = "Read error with";
    /// The server closed TLS cleanly before any header (TLS).
    pub const SSL_READ_ERROR: &str = "SSL read error from";
    /// The answer ended without a complete header (2.2.7's text, trailing space included).
    pub const NO_DATA: &str = "Read, no data received from ";
    /// The status is not accepted.
    pub const STATUS: &str = "HTTP status code error to";
    /// The body's MD5 differs from `digest`.
    pub const DIGEST: &str = "MD5 digest error to";
    /// `regex` did not match (or matched, with `regex_no_match`).
    pub const REGEX: &str = "Regex match failed";
}

/// What a passing URL proved, as the `… success to RS url(path)` line names it.
pub mod passed {
    /// The status was accepted (no digest configured).
    pub const STATUS: &str = "HTTP status code";
    /// The digest matched.
    pub const DIGEST: &str = "MD5 digest";
    /// The regex test passed.
    pub const REGEX: &str = "Regex match";
}

/// How much of a body a `regex` sees (2.2.7 matches streamed over the whole body; we keep this
/// much of it, which is plenty for health pages).
pub const REGEX_BODY_LIMIT: usize = 1 << 20;

/// A url's `regex` test, compiled once.
#[derive(Debug, Clone)]
pub struct UrlRegex {
    /// As written.
    pub pattern: String,
    /// Compiled.
    pub re: regex::bytes::Regex,
    /// `regex_no_match`: passing means not matching.
    pub no_match: bool,
    /// `regex_min_offset`: the match may not start before this body offset.
    pub min_offset: usize,
    /// `regex_max_offset`: the match must start before this body offset.
    pub max_offset: Option<usize>,
}

impl PartialEq for UrlRegex {
    fn eq(&self, o: &Self) -> bool {
        self.pattern == o.pattern
            && self.no_match == o.no_match
            && self.min_offset == o.min_offset
            && self.max_offset == o.max_offset
            && self.re.as_str() == o.re.as_str()
    }
}

impl Eq for UrlRegex {}

impl UrlRegex {
    /// Whether `body` passes the test.
    pub fn passes(&self, body: &[u8]) -> bool {
        let from = self.min_offset.min(body.len());
        let matched = self
            .re
            .find_at(body, from)
            .is_some_and(|m| self.max_offset.is_none_or(|max| m.start() < max));
        matched != self.no_match
    }

    /// Compiles `pattern` with keepalived's `regex_options` where the regex crate has them;
    /// the error says what cannot be honoured (PCRE-only syntax such as look-around).
    pub fn compile(
        pattern: &str,
        no_match: bool,
        other: &[ka_config::model::RawStatement],
    ) -> Result<UrlRegex, String> {
        let mut b = regex::bytes::RegexBuilder::new(pattern);
        b.unicode(false);
        let mut min_offset = 0;
        let mut max_offset = None;
        for st in other {
            match st.keyword.as_str() {
                "regex_options" => {
                    for o in &st.args {
                        match o.as_str() {
                            "caseless" => {
                                b.case_insensitive(true);
                            }
                            "dotall" => {
                                b.dot_matches_new_line(true);
                            }
                            "multiline" => {
                                b.multi_line(true);
                            }
                            "extended" => {
                                b.ignore_whitespace(true);
                            }
                            "ungreedy" => {
                                b.swap_greed(true);
                            }
                            "utf" | "ucp" => {
                                b.unicode(true);
                            }
                            other => return Err(format!("regex option {other} is not supported")),
                        }
                    }
                }
                "regex_min_offset" => {
                    min_offset = st.args.first().and_then(|a| a.parse().ok()).unwrap_or(0)
                }
                "regex_max_offset" => max_offset = st.args.first().and_then(|a| a.parse().ok()),
                _ => {}
            }
        }
        let re = b.build().map_err(|e| e.to_string())?;
        Ok(UrlRegex {
            pattern: pattern.to_string(),
            re,
            no_match,
            min_offset,
            max_offset,
        })
    }
}

/// `http_protocol`: the request line's version and whether `Connection: close` is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpProtocol {
    /// `1.0` (the default): `HTTP/1.0`, no Connection header.
    V10,
    /// `1.0C`: `HTTP/1.0` with `Connection: close`.
    V10Close,
    /// `1.1`: `HTTP/1.1` with `Connection: close`.
    V11,
}

impl HttpProtocol {
    /// keepalived's spellings (`1.0`, `1.0C` or `1.0c`, `1.1`).
    pub fn parse(s: &str) -> Option<HttpProtocol> {
        match s {
            "1.0" => Some(HttpProtocol::V10),
            "1.0C" | "1.0c" => Some(HttpProtocol::V10Close),
            "1.1" => Some(HttpProtocol::V11),
            _ => None,
        }
    }
}

/// One `url` with every inherited setting resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlSpec {
    /// Requested as written.
    pub path: String,
    /// Expected MD5 of the body; the body is hashed only when set.
    pub digest: Option<[u8; 16]>,
    /// Accepted statuses, inclusive ranges (200-299 when none configured).
    pub status_codes: Vec<(u16, u16)>,
    /// The `Host` name: url > checker > real server > virtual server `virtualhost`.
    pub virtualhost: Option<String>,
    /// The url's own `virtualhost`, which the content-length mismatch line names.
    pub own_virtualhost: Option<String>,
    /// SNI (SSL_GET with `enable_sni` only): url > checker > virtual server `virtualhost`.
    pub sni: Option<String>,
    /// `regex` (with `regex_no_match`, `regex_options`, offsets).
    pub regex: Option<UrlRegex>,
}

/// What an HTTP_GET/SSL_GET checker does, resolved once from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSpec {
    /// SSL_GET.
    pub tls: bool,
    /// `http_protocol`.
    pub protocol: HttpProtocol,
    /// `fast_recovery`.
    pub fast_recovery: bool,
    /// The checker's `delay_loop`, for the overall deadline.
    pub delay_loop: Duration,
    /// The URLs, checked one per attempt in turn.
    pub urls: Vec<UrlSpec>,
    /// What the configuration asks for that is not done (regex), for the daemon to log once.
    pub warnings: Vec<String>,
}

impl HttpSpec {
    /// The checker `check` of a real server with `virtualhost` `rs_vhost` in a virtual server
    /// with `vs_vhost`; `tls` for SSL_GET.
    pub fn new(
        check: &HttpCheck,
        tls: bool,
        rs_vhost: Option<&str>,
        vs_vhost: Option<&str>,
        delay_loop: Duration,
    ) -> HttpSpec {
        let mut warnings = Vec::new();
        let protocol = HttpProtocol::parse(&check.http_protocol).unwrap_or(HttpProtocol::V10);
        let checker_vhost = check.virtualhost.as_deref();
        let urls = check
            .urls
            .iter()
            .map(|u| {
                let own = u.virtualhost.as_deref();
                let host = own.or(checker_vhost).or(rs_vhost).or(vs_vhost);
                // SNI never comes from the real server's virtualhost (2.2.7).
                let sni = if tls && check.enable_sni {
                    own.or(checker_vhost).or(vs_vhost)
                } else {
                    None
                };
                let digest = u.digest.as_deref().and_then(|d| {
                    let parsed = parse_digest(d);
                    if parsed.is_none() {
                        warnings.push(format!("url {}: digest '{d}' is not 32 hex digits", u.path));
                    }
                    parsed
                });
                let regex = u.regex.as_deref().and_then(|pattern| {
                    match UrlRegex::compile(pattern, u.regex_no_match, &u.other) {
                        Ok(r) => Some(r),
                        Err(e) => {
                            warnings.push(format!(
                                "url {}: regex '{pattern}' cannot be used ({e}); the url is checked without it",
                                u.path
                            ));
                            None
                        }
                    }
                });
                UrlSpec {
                    path: u.path.clone(),
                    digest,
                    status_codes: if u.status_codes.is_empty() {
                        vec![(200, 299)]
                    } else {
                        u.status_codes.clone()
                    },
                    virtualhost: host.map(str::to_string),
                    own_virtualhost: own.map(str::to_string),
                    sni: sni.map(str::to_string),
                    regex,
                }
            })
            .collect();
        HttpSpec {
            tls,
            protocol,
            fast_recovery: check.fast_recovery,
            delay_loop,
            urls,
            warnings,
        }
    }

    /// How long one attempt may take in all: max(`delay_loop`, 3 × `connect_timeout`).
    pub fn deadline(&self, connect_timeout: Duration) -> Duration {
        self.delay_loop.max(connect_timeout.saturating_mul(3))
    }
}

/// `digest` text to bytes.
pub fn parse_digest(hex: &str) -> Option<[u8; 16]> {
    let b = hex.as_bytes();
    if b.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        let s = std::str::from_utf8(&b[2 * i..2 * i + 2]).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// A digest as keepalived prints it: 32 lowercase hex digits.
pub fn hex(digest: &[u8; 16]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `Host` header value: the url's resolved virtualhost, else the connect address with
/// its port always appended (`127.0.0.1:80`, `[::1]:80`).
pub fn host_header(url: &UrlSpec, target: SocketAddr) -> String {
    match &url.virtualhost {
        Some(v) => v.clone(),
        None => match target {
            SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        },
    }
}

/// The request bytes for `url` with `Host: host` (see [`host_header`]).
pub fn request(spec: &HttpSpec, url: &UrlSpec, host: &str) -> Vec<u8> {
    request_bytes(spec.protocol, &url.path, host)
}

/// The request bytes, from their parts (genhash builds them without a spec).
pub fn request_bytes(protocol: HttpProtocol, path: &str, host: &str) -> Vec<u8> {
    let (minor, connection) = match protocol {
        HttpProtocol::V10 => (0, ""),
        HttpProtocol::V10Close => (0, "Connection: close\r\n"),
        HttpProtocol::V11 => (1, "Connection: close\r\n"),
    };
    format!(
        "GET {path} HTTP/1.{minor}\r\nUser-Agent: KeepAliveClient\r\n{connection}Host: {host}\r\n\r\n"
    )
    .into_bytes()
}

/// Where the headers end (just after the first `\r\n\r\n`).
pub fn header_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// The status code as 2.2.7 reads it, 0 when the line is not acceptable: skip to the first
/// space (none before a `\r` → 0), then exactly three digits followed by a space.
pub fn status_code(head: &[u8]) -> u16 {
    let Some(sp) = head.iter().position(|&b| b == b' ' || b == b'\r') else {
        return 0;
    };
    if head[sp] != b' ' {
        return 0;
    }
    let code = &head[sp + 1..];
    if code.len() < 4 || code[3] != b' ' || !code[..3].iter().all(u8::is_ascii_digit) {
        return 0;
    }
    code[..3]
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'))
}

/// `Content-Length` as 2.2.7 finds it: the first `Content-Length:` (exactly spelled) anywhere
/// in `buf` before a NUL byte — body text included —, then C `strtoul` (blanks, a sign,
/// decimal digits) ending at `\r`, `\n` or the end of the buffer. None means "not known" (also
/// for an overflowing or negative-to-huge value, as 2.2.7's `SIZE_MAX`).
pub fn content_length(buf: &[u8]) -> Option<u64> {
    const TAG: &[u8] = b"Content-Length:";
    let text = match buf.iter().position(|&b| b == 0) {
        Some(nul) => &buf[..nul],
        None => buf,
    };
    let at = text.windows(TAG.len()).position(|w| w == TAG)?;
    let mut rest = &text[at + TAG.len()..];
    while let [b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c, tail @ ..] = rest {
        rest = tail;
    }
    let mut negative = false;
    if let [sign @ (b'+' | b'-'), tail @ ..] = rest {
        negative = *sign == b'-';
        rest = tail;
    }
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    if !matches!(rest.get(digits), None | Some(b'\r' | b'\n')) {
        return None;
    }
    let mut value: u64 = 0;
    for d in &rest[..digits] {
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    let value = if negative {
        value.wrapping_neg()
    } else {
        value
    };
    if value == u64::MAX {
        return None;
    }
    Some(value)
}

/// What was read of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The headers ended within the first buffer (else "no data").
    pub extracted: bool,
    /// The status as [`status_code`] reads it (0: unacceptable line).
    pub status: u16,
    /// `Content-Length` as [`content_length`] reads it.
    pub content_length: Option<u64>,
    /// Body bytes received.
    pub rx_bytes: u64,
    /// MD5 of the body cut at `content_length`, when hashing was asked for.
    pub digest: Option<[u8; 16]>,
    /// The body (cut at `content_length`, at most the kept length), when a regex needs it.
    pub body: Vec<u8>,
}

const HEADER_HEXA: &[u8] =
    b"-----------------------[    HTTP Header Buffer    ]-----------------------\n";
const HEADER_ASCII: &[u8] =
    b"-----------------------[ HTTP Header Ascii Buffer ]-----------------------\n";
const HTML_HEXA: &[u8] =
    b"-----------------------[        HTML Buffer        ]-----------------------\n";
const HASH: &[u8] =
    b"-----------------------[    HTML hash resulting    ]-----------------------\n";
const HASH_FINAL: &[u8] =
    b"-----------------------[ HTML hash final resulting ]-----------------------\n";

/// Reads an answer chunk by chunk as 2.2.7 does (header search in the first buffer, MD5 over
/// the body cut at Content-Length), optionally tracing it as `genhash -v` prints it.
#[derive(Debug)]
pub struct ResponseReader {
    head: Vec<u8>,
    extracted: bool,
    status: u16,
    content_length: Option<u64>,
    rx_bytes: u64,
    md5: Option<Md5>,
    trace: Option<Vec<u8>>,
    keep_body: usize,
    body: Vec<u8>,
}

impl ResponseReader {
    /// Also keeps up to `limit` bytes of the body (for a `regex`).
    pub fn keeping_body(mut self, limit: usize) -> ResponseReader {
        self.keep_body = limit;
        self
    }

    fn keep(&mut self, part: &[u8]) {
        let room = self.keep_body.saturating_sub(self.body.len());
        self.body
            .extend_from_slice(part.get(..room.min(part.len())).unwrap_or_default());
    }

    /// A reader hashing the body when `digest`, tracing when `verbose`.
    pub fn new(digest: bool, verbose: bool) -> ResponseReader {
        ResponseReader {
            head: Vec::new(),
            extracted: false,
            status: 0,
            content_length: None,
            rx_bytes: 0,
            md5: digest.then(Md5::new),
            trace: verbose.then(Vec::new),
            keep_body: 0,
            body: Vec::new(),
        }
    }

    /// How many bytes the next read may take: 0 when the first buffer is full without the end
    /// of the headers (2.2.7 then reads 0 bytes, which ends the answer as "no data").
    pub fn room(&self) -> usize {
        if self.extracted {
            READ_BUFFER
        } else {
            READ_BUFFER - self.head.len()
        }
    }

    /// Whether the headers were found.
    pub fn extracted(&self) -> bool {
        self.extracted
    }

    /// One read's bytes (at most [`ResponseReader::room`]).
    pub fn feed(&mut self, data: &[u8]) {
        if !self.extracted {
            if let Some(t) = &mut self.trace {
                t.extend_from_slice(HEADER_HEXA);
            }
            self.head.extend_from_slice(data);
            let Some(end) = header_end(&self.head) else {
                return;
            };
            self.extracted = true;
            self.status = status_code(&self.head);
            self.content_length = content_length(&self.head);
            if let Some(t) = &mut self.trace {
                dump(t, &self.head[..end]);
                t.extend_from_slice(HEADER_ASCII);
                t.extend_from_slice(&self.head[..end]);
                t.push(b'\n');
            }
            let head = std::mem::take(&mut self.head);
            let body = &head[end..];
            if !body.is_empty() {
                let n = self.hashed_part(body.len());
                if self.keep_body > 0 {
                    self.keep(&body[..n]);
                }
                if n > 0 {
                    if let Some(m) = &mut self.md5 {
                        m.update(&body[..n]);
                        if let Some(t) = &mut self.trace {
                            t.extend_from_slice(HTML_HEXA);
                            dump(t, &body[..n]);
                        }
                    }
                }
            }
            self.rx_bytes = body.len() as u64;
        } else {
            let n = self.hashed_part(data.len());
            if self.keep_body > 0 {
                self.keep(&data[..n]);
            }
            if n > 0 {
                if let Some(m) = &mut self.md5 {
                    m.update(&data[..n]);
                    if let Some(t) = &mut self.trace {
                        dump(t, &data[..n]);
                    }
                }
            }
            self.rx_bytes += data.len() as u64;
        }
    }

    /// How many of `r` new body bytes fall within Content-Length.
    fn hashed_part(&self, r: usize) -> usize {
        match self.content_length {
            None => r,
            Some(cl) if cl > self.rx_bytes => {
                usize::try_from((cl - self.rx_bytes).min(r as u64)).unwrap_or(r)
            }
            Some(_) => 0,
        }
    }

    /// The answer ended (`clean`: by end of stream rather than a read error, which is when
    /// `genhash -v` prints the digest).
    pub fn finish(mut self, clean: bool) -> (Response, Vec<u8>) {
        let digest: Option<[u8; 16]> = self.md5.take().map(|m| m.finalize().into());
        let verbose = self.trace.is_some();
        let mut trace = self.trace.take().unwrap_or_default();
        if let (true, true, Some(d)) = (clean, verbose, &digest) {
            trace.push(b'\n');
            trace.extend_from_slice(HASH);
            dump(&mut trace, d);
            trace.extend_from_slice(HASH_FINAL);
        }
        (
            Response {
                extracted: self.extracted,
                status: self.status,
                content_length: self.content_length,
                rx_bytes: self.rx_bytes,
                digest,
                body: std::mem::take(&mut self.body),
            },
            trace,
        )
    }
}

/// keepalived's hex dump: offset in decimal, 16 bytes in hex split by `- `, then the bytes as
/// text (`.` for the unprintable).
pub fn dump(out: &mut Vec<u8>, data: &[u8]) {
    for (i, chunk) in data.chunks(16).enumerate() {
        let _ = write!(out, "{:04}  ", i * 16);
        for j in 0..16 {
            if j == 8 {
                out.extend_from_slice(b"- ");
            }
            match chunk.get(j) {
                Some(b) => {
                    let _ = write!(out, "{b:02x} ");
                }
                None => out.extend_from_slice(b"   "),
            }
        }
        out.extend_from_slice(b"  ");
        for j in 0..16 {
            out.push(match chunk.get(j) {
                Some(&b) if (0x20..0x7f).contains(&b) => b,
                Some(_) => b'.',
                None => b' ',
            });
        }
        out.push(b'\n');
    }
}

/// Judges a complete answer for `url`: data received → status → digest (2.2.7's order).
/// Ok names what passed ([`passed`]), Err is the failure [`reason`].
pub fn judge(url: &UrlSpec, r: &Response) -> Result<&'static str, &'static str> {
    if !r.extracted {
        return Err(reason::NO_DATA);
    }
    if !status_accepted(url, r.status) {
        return Err(reason::STATUS);
    }
    let mut what = match url.digest {
        Some(want) if r.digest != Some(want) => return Err(reason::DIGEST),
        Some(_) => passed::DIGEST,
        None => passed::STATUS,
    };
    if let Some(rx) = &url.regex {
        if !rx.passes(&r.body) {
            return Err(reason::REGEX);
        }
        what = passed::REGEX;
    }
    Ok(what)
}

/// Whether `status` is in 100..=599 and in the url's ranges.
pub fn status_accepted(url: &UrlSpec, status: u16) -> bool {
    (100..=599).contains(&status)
        && url
            .status_codes
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&status))
}

/// Why a fetch ended without an answer to judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fail {
    /// A failed check, in keepalived's words.
    Counted(&'static str),
    /// Our side could not try: not counted.
    Local(String),
}

/// How to fetch one URL.
pub(crate) struct Fetch<'a> {
    pub c: &'a Connect,
    /// TLS context and SNI name, for SSL_GET.
    pub tls: Option<(&'a TlsContext, Option<&'a str>)>,
    pub request: Vec<u8>,
    pub digest: bool,
    pub verbose: bool,
    /// Body bytes to keep for a `regex` (0: none).
    pub keep_body: usize,
    /// The overall deadline (checks: max(delay_loop, 3 × connect_timeout); genhash: 3 × `-t`,
    /// none without `-t`, as 2.2.7).
    pub deadline: Option<Instant>,
}

/// A fetch's end: the answer, or why there is none; and the `genhash -v` trace.
pub(crate) struct Fetched {
    pub result: Result<Response, Fail>,
    pub trace: Vec<u8>,
}

/// Errors of an immediate connect() that keepalived counts as a failed check.
fn counts(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ENETUNREACH
                | libc::EHOSTUNREACH
                | libc::ECONNREFUSED
                | libc::EHOSTDOWN
                | libc::ENETDOWN
                | libc::ECONNRESET
                | libc::ECONNABORTED
                | libc::ETIMEDOUT
        )
    )
}

/// The end of a step of `timeout`, never past the overall deadline.
fn step_end(timeout: Duration, deadline: Option<Instant>) -> Instant {
    let now = Instant::now();
    let t = now
        .checked_add(timeout)
        .unwrap_or(now + Duration::from_secs(86_400 * 365));
    match deadline {
        Some(d) => t.min(d),
        None => t,
    }
}

/// A TCP connection, told apart as 2.2.7 does: immediate failure, timeout, failure while
/// connecting.
async fn connect(c: &Connect, until: Instant) -> Result<TcpStream, Fail> {
    let s = socket(c, Type::STREAM, Some(Protocol::TCP)).map_err(|e| match e {
        ConnectError::Local(r) | ConnectError::Failed(r) => Fail::Local(r),
    })?;
    match s.connect(&SockAddr::from(c.target)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) if counts(&e) => return Err(Fail::Counted(reason::NETWORK_UNREACHABLE)),
        Err(e) => return Err(Fail::Local(format!("WEB socket bind failed: {e}"))),
    }
    let std: std::net::TcpStream = s.into();
    let stream = TcpStream::from_std(std).map_err(|e| Fail::Local(e.to_string()))?;
    match timeout_at(until, stream.writable()).await {
        Err(_) => return Err(Fail::Counted(reason::TIMEOUT_CONNECTING)),
        Ok(Err(_)) => return Err(Fail::Counted(reason::CONNECTION_FAILED)),
        Ok(Ok(())) => {}
    }
    match stream.take_error() {
        Ok(None) => Ok(stream),
        Ok(Some(_)) => Err(Fail::Counted(reason::CONNECTION_FAILED)),
        Err(_) => Err(Fail::Counted(reason::ERROR_CONNECTING)),
    }
}

/// A stream an answer is read from; TLS ones tell what happened on the socket below.
trait Wire: AsyncRead + AsyncWrite + Unpin {
    /// (bytes read from the socket, socket at end of stream), for TLS.
    fn raw(&self) -> Option<(u64, bool)>;
}

impl Wire for TcpStream {
    fn raw(&self) -> Option<(u64, bool)> {
        None
    }
}

impl Wire for SslStream<Counted> {
    fn raw(&self) -> Option<(u64, bool)> {
        let c = self.get_ref();
        Some((c.read, c.eof))
    }
}

/// Fetches one URL: connect, (handshake,) request, read to the end.
pub(crate) async fn fetch(f: Fetch<'_>) -> Fetched {
    let connect_until = step_end(f.c.timeout, f.deadline);
    let tcp = match connect(f.c, connect_until).await {
        Ok(t) => t,
        Err(e) => {
            return Fetched {
                result: Err(e),
                trace: Vec::new(),
            }
        }
    };
    match f.tls {
        None => exchange(tcp, &f).await,
        Some((ctx, sni)) => match timeout_at(connect_until, ctx.handshake(tcp, sni)).await {
            Err(_) => Fetched {
                result: Err(Fail::Counted(reason::TIMEOUT_CONNECTING)),
                trace: Vec::new(),
            },
            Ok(Err(HandshakeError::Connection)) => Fetched {
                result: Err(Fail::Counted(reason::CONNECTION_FAILED)),
                trace: Vec::new(),
            },
            Ok(Err(HandshakeError::Tls)) => Fetched {
                result: Err(Fail::Counted(reason::SSL_HANDSHAKE)),
                trace: Vec::new(),
            },
            // Dropped at the end without close_notify: 2.2.7's quiet shutdown.
            Ok(Ok(stream)) => exchange(stream, &f).await,
        },
    }
}

/// Request and answer over a connected stream.
async fn exchange<S: Wire>(mut s: S, f: &Fetch<'_>) -> Fetched {
    let fail = |r: &'static str, reader: ResponseReader| Fetched {
        result: Err(Fail::Counted(r)),
        trace: reader.finish(false).1,
    };
    let mut reader = ResponseReader::new(f.digest, f.verbose).keeping_body(f.keep_body);
    match timeout_at(step_end(f.c.timeout, f.deadline), s.write_all(&f.request)).await {
        Err(_) => return fail(reason::TIMEOUT_WRITE, reader),
        Ok(Err(_)) => return fail(reason::CANNOT_SEND, reader),
        Ok(Ok(())) => {}
    }
    let raw_before = s.raw().map(|(n, _)| n);
    let mut buf = vec![0u8; READ_BUFFER];
    let mut got_any = false;
    let clean = loop {
        let room = reader.room();
        if room == 0 {
            // 2.2.7 reads into a full buffer, gets 0 and takes it for the end.
            break true;
        }
        match timeout_at(step_end(f.c.timeout, f.deadline), s.read(&mut buf[..room])).await {
            Err(_) => {
                let r = match (s.raw(), raw_before) {
                    (Some((now, _)), Some(before)) if now > before => reason::TIMEOUT_SSL_READ,
                    (Some(_), _) => reason::TIMEOUT_WEB_READ,
                    (None, _) if got_any => reason::TIMEOUT_HTTP_READ,
                    (None, _) => reason::TIMEOUT_WEB_READ,
                };
                return fail(r, reader);
            }
            Ok(Ok(0)) => {
                if let Some((_, eof)) = s.raw() {
                    // A TLS end without a socket end was close_notify: before any header,
                    // 2.2.7 calls that a read error.
                    if !eof && !reader.extracted() {
                        return fail(reason::SSL_READ_ERROR, reader);
                    }
                }
                break true;
            }
            Ok(Ok(n)) => {
                got_any = true;
                reader.feed(&buf[..n]);
            }
            // TLS: any error after data is a normal end (no close_notify is common).
            Ok(Err(_)) if s.raw().is_some() => break true,
            Ok(Err(_)) => return fail(reason::READ_ERROR, reader),
        }
    };
    let (response, trace) = reader.finish(clean);
    Fetched {
        result: Ok(response),
        trace,
    }
}

/// One HTTP_GET/SSL_GET attempt: fetches the URL `state` points at (see [`HttpState`]) and
/// judges it. A pass's reason names what passed ([`passed`]), a failure's is keepalived's
/// ([`reason`]). `tls` is the shared context, needed for SSL_GET.
pub async fn check(
    c: &Connect,
    spec: &HttpSpec,
    state: &mut HttpState,
    tls: Option<&TlsContext>,
) -> Attempt {
    let Some(index) = state.current(spec) else {
        // No url: 2.2.7 enables the server without checking.
        return Attempt::success(passed::STATUS);
    };
    let url = &spec.urls[index];
    let tls = match (spec.tls, tls) {
        (false, _) => None,
        (true, Some(ctx)) => Some((ctx, url.sni.as_deref())),
        (true, None) => return Attempt::not_counted("SSL_GET without a TLS context"),
    };
    let host = host_header(url, c.target);
    let fetched = fetch(Fetch {
        c,
        tls,
        request: request(spec, url, &host),
        digest: url.digest.is_some(),
        verbose: false,
        keep_body: if url.regex.is_some() {
            REGEX_BODY_LIMIT
        } else {
            0
        },
        deadline: Some(Instant::now() + spec.deadline(c.timeout)),
    })
    .await;
    let response = match fetched.result {
        Ok(r) => r,
        Err(Fail::Counted(r)) => return Attempt::failure(r),
        Err(Fail::Local(r)) => return Attempt::not_counted(r),
    };
    if response.extracted && status_accepted(url, response.status) {
        state.note_length(spec, index, &response);
    }
    match judge(url, &response) {
        Ok(what) => Attempt::success(what),
        Err(r) => Attempt::failure(r),
    }
}

/// `<what> success to <rs> url(<path>)`: a URL passed while the checker is not up.
pub fn up_line(rs_name: &str, url_path: &str, what: &str) -> String {
    format!("{what} success to {rs_name} url({url_path})")
}

/// `Remote Web server <rs> succeed on service.`: every URL passed.
pub fn succeed_line(rs_name: &str) -> String {
    format!("Remote Web server {rs_name} succeed on service.")
}

/// The down verdict; `retries` 0 gives the short form. 2.2.7 says `HTTP_CHECK` for SSL_GET
/// too.
pub fn down_line(rs_name: &str, retries: u32) -> String {
    if retries == 0 {
        format!("HTTP_CHECK on service {rs_name} failed.")
    } else {
        format!("HTTP_CHECK on service {rs_name} failed after {retries} retries.")
    }
}

/// A failed attempt while up (`log_all_failures`): `<reason> server <rs>.`
pub fn failure_line(reason: &str, rs_name: &str) -> String {
    format!("{reason} server {rs_name}.")
}

/// The Content-Length mismatch note (logged once per distinct difference, not a failure).
pub fn length_mismatch_line(
    rs_name: &str,
    vs_name: &str,
    url_vhost: Option<&str>,
    path: &str,
    content_length: u64,
    received: u64,
) -> String {
    format!(
        "http_check for RS {rs_name} VS {vs_name} url {}{path}: content_length ({content_length}) does not match received bytes ({received})",
        url_vhost.unwrap_or("")
    )
}

/// The mail body of an up verdict.
pub fn mail_up() -> &'static str {
    "=> CHECK succeed on service <="
}

/// The mail body of a down verdict.
pub fn mail_down() -> &'static str {
    "=> CHECK failed on service : HTTP request failed <="
}

/// What one recorded attempt means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The checker's verdict changed to this.
    pub changed: Option<bool>,
    /// Wait this long before the next attempt (0: at once, `fast_recovery`).
    pub next: Duration,
    /// Lines to log now, in order (keepalived's texts).
    pub lines: Vec<String>,
    /// The mail body, when the verdict changed.
    pub mail: Option<&'static str>,
}

/// A pending Content-Length mismatch note.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LengthNote {
    url: usize,
    content_length: u64,
    received: u64,
}

/// 2.2.7's per-checker HTTP state: which URL comes next, which one failed, the retry count
/// and whether every URL has passed once. URLs are fetched one per attempt; while up, one per
/// `delay_loop` in turn; a failing URL is retried `delay_before_retry` apart up to `retry`
/// times, then the checker goes down and fetches only that URL (every max(`delay_loop`,
/// `delay_before_retry`)); when it passes, every URL is fetched again from the first, one per
/// `delay_loop`, and the checker is up after the last — so even one URL needs two passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpState {
    timing: Timing,
    up: bool,
    has_run: bool,
    retry_it: u32,
    url_it: Option<usize>,
    failed_url: Option<usize>,
    len_mismatch: Vec<i128>,
    notes: Vec<LengthNote>,
}

impl HttpState {
    /// A checker starting `up` (alpha: down); `has_run` carries "every URL passed once"
    /// across a reload. Before that, the retry counter starts exhausted, so the first failure
    /// is enough (2.2.7).
    pub fn new(timing: Timing, up: bool, has_run: bool) -> HttpState {
        HttpState {
            timing,
            up,
            has_run,
            retry_it: if has_run { 0 } else { timing.retry },
            url_it: Some(0),
            failed_url: None,
            len_mismatch: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// The verdict now.
    pub fn up(&self) -> bool {
        self.up
    }

    /// The URL the next attempt fetches (None: the checker has no URL).
    pub fn current(&self, spec: &HttpSpec) -> Option<usize> {
        (!spec.urls.is_empty()).then(|| self.cursor(spec.urls.len()))
    }

    /// The URL cursor, back to the first if the spec has fewer URLs than it points at.
    fn cursor(&self, n_urls: usize) -> usize {
        match self.url_it {
            Some(i) if i < n_urls => i,
            _ => 0,
        }
    }

    /// The URL marked failed, if any.
    pub fn failed_url(&self) -> Option<usize> {
        self.failed_url
    }

    /// Remembers a Content-Length mismatch of url `index` to log it if the difference is new.
    fn note_length(&mut self, spec: &HttpSpec, index: usize, r: &Response) {
        if self.len_mismatch.len() < spec.urls.len() {
            self.len_mismatch.resize(spec.urls.len(), 0);
        }
        match r.content_length {
            Some(cl) if cl != r.rx_bytes => {
                let diff = i128::from(cl) - i128::from(r.rx_bytes);
                if self.len_mismatch[index] != diff {
                    self.len_mismatch[index] = diff;
                    self.notes.push(LengthNote {
                        url: index,
                        content_length: cl,
                        received: r.rx_bytes,
                    });
                }
            }
            _ => self.len_mismatch[index] = 0,
        }
    }

    /// Records the attempt [`check`] just made (with this state) and says what follows, as
    /// 2.2.7's epilog does. `rs_name`/`vs_name` are keepalived's `[addr]:proto:port` forms;
    /// failed attempts while up are logged only with `log_all_failures`. A not-counted
    /// attempt changes nothing and comes back after `delay_loop`.
    pub fn record(
        &mut self,
        spec: &HttpSpec,
        attempt: &Attempt,
        rs_name: &str,
        vs_name: &str,
        log_all_failures: bool,
    ) -> Step {
        let mut step = Step {
            changed: None,
            next: self.timing.delay_loop,
            lines: Vec::new(),
            mail: None,
        };
        for n in self.notes.drain(..) {
            let Some(url) = spec.urls.get(n.url) else {
                continue;
            };
            step.lines.push(length_mismatch_line(
                rs_name,
                vs_name,
                url.own_virtualhost.as_deref(),
                &url.path,
                n.content_length,
                n.received,
            ));
        }
        #[derive(PartialEq)]
        enum Method {
            New,
            Retry,
            Failed,
        }
        let n_urls = spec.urls.len();
        let cur = self.cursor(n_urls);
        let method = match attempt.outcome {
            Outcome::NotCounted => return step,
            Outcome::Success => {
                if !self.up {
                    if let Some(u) = spec.urls.get(cur) {
                        step.lines.push(up_line(rs_name, &u.path, &attempt.reason));
                    }
                }
                Method::New
            }
            Outcome::Failure => {
                if self.up || !self.has_run {
                    if log_all_failures {
                        step.lines.push(failure_line(&attempt.reason, rs_name));
                    }
                    self.has_run = true;
                    Method::Retry
                } else {
                    Method::Failed
                }
            }
        };
        match method {
            Method::New => {
                self.url_it = (cur + 1 < n_urls).then_some(cur + 1);
                self.retry_it = 0;
            }
            Method::Retry => self.retry_it += 1,
            Method::Failed => {}
        }
        if method == Method::New && self.url_it.is_none() && self.failed_url.is_none() {
            if !self.up || !self.has_run {
                step.lines.push(succeed_line(rs_name));
                if !self.up {
                    self.up = true;
                    step.changed = Some(true);
                    step.mail = Some(mail_up());
                }
                self.has_run = true;
            }
            self.url_it = Some(0);
            self.retry_it = 0;
        } else if method == Method::Retry && self.retry_it > self.timing.retry {
            if self.up {
                let retries = if self.timing.retry > 0 {
                    self.retry_it - 1
                } else {
                    0
                };
                step.lines.push(down_line(rs_name, retries));
                self.up = false;
                step.changed = Some(false);
                step.mail = Some(mail_down());
            }
            self.failed_url = Some(cur);
        } else if method == Method::New && self.failed_url.is_some() {
            self.failed_url = None;
            self.url_it = Some(0);
            self.retry_it = 0;
        }
        step.next = if method == Method::New {
            if !self.has_run {
                self.retry_it = self.timing.retry;
            }
            self.timing.delay_loop
        } else if self.failed_url.is_some() {
            self.timing.delay_loop.max(self.timing.delay_before_retry)
        } else {
            self.timing.delay_before_retry
        };
        if spec.fast_recovery && (!self.has_run || (!self.up && self.failed_url.is_none())) {
            step.next = Duration::ZERO;
        }
        step
    }
}

#[cfg(test)]
pub(crate) mod tests;
