//! `keepalived-rs --genhash` (or `-T`, as the first argument): keepalived's `genhash`, which
//! users run to write the `digest` lines of HTTP_GET/SSL_GET. Same options and output as
//! Debian's 2.2.7 `genhash` (§3.10), using the checker's own fetch code:
//!
//! - `-s IP -p PORT -u URL` mandatory; `-S` TLS, `-I` SNI (the `-V` name), `-V` virtualhost,
//!   `-P 1.0|1.0c|1.1`, `-m fwmark`, `-t seconds`, `-v` verbose, `-h`; long forms and unique
//!   prefixes as getopt_long takes them;
//! - prints the body's MD5 (lowercase hex, newline) whatever the status; a connection problem
//!   prints keepalived's reason (`Connection failed`...) on stdout; an answer without headers
//!   prints `no data received from remote webserver` on stderr; exit 0 in all these cases;
//! - usage errors print the message and the usage on stderr, exit 1;
//! - `-v` adds the hex/ASCII dump of the headers, of each body read, of the digest, and
//!   `Global response time for [URL] = N usecs`.
//!
//! Differences: a missing argument of a long option names the option (2.2.7 prints
//! `Missing parameter for option --` with the name left out); with `-t`, the fetch also ends
//! after 3 × the timeout in all, like the checker's overall deadline (without `-t`, as in
//! 2.2.7, each step waits up to ~71 minutes).

use crate::http::{self, Fail, Fetch, HttpProtocol};
use crate::net::Connect;
use crate::tls::TlsContext;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// 2.2.7's step timeout without `-t`: `UINT_MAX` microseconds.
const DEFAULT_TIMEOUT: Duration = Duration::from_micros(u32::MAX as u64);

const OPTIONS_TEXT: &str = "Options:
Either long or short options are allowed.
   --use-ssl         -S       Use SSL connection to remote server.
   --use-sni         -I       Use SNI during SSL handshake (uses virtualhost setting; see -V).
   --server          -s       Use the specified remote server address.
   --port            -p       Use the specified remote server port.
   --url             -u       Use the specified remote server url.
   --use-virtualhost -V       Use the specified virtualhost in GET query.
   --verbose         -v       Use verbose mode output.
   --help            -h       Display this short inlined help screen.
   --fwmark          -m       Use the specified FW mark.
   --protocol        -P       Use the specified HTTP protocol - '1.0', 1.0c', '1.1'.
                                1.0c means 1.0 with 'Connection: close'
   --timeout         -t       Timeout in seconds
";

/// The usage text, `prog` being argv[0] (`/usr/bin/genhash`) or `<argv[0]> --genhash`.
pub fn usage(prog: &str) -> String {
    format!(
        "Usage: {prog} COMMAND [OPTIONS]\nCommands:\n   -s server-address -p port -u url\n   -S -s server-address -p port -u url\n   -h\n\n{OPTIONS_TEXT}"
    )
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `-s`.
    pub server: IpAddr,
    /// `-p`.
    pub port: u16,
    /// `-u` (the last one given).
    pub url: String,
    /// `-S`.
    pub ssl: bool,
    /// `-I`.
    pub sni: bool,
    /// `-V`.
    pub virtualhost: Option<String>,
    /// `-P`.
    pub protocol: HttpProtocol,
    /// `-m`.
    pub fwmark: Option<u32>,
    /// `-t`.
    pub timeout: Option<Duration>,
    /// `-v`.
    pub verbose: bool,
}

/// Options taking an argument, and their long names (`getopt_long`'s table).
const LONG: &[(&str, char, bool)] = &[
    ("help", 'h', false),
    ("verbose", 'v', false),
    ("use-ssl", 'S', false),
    ("use-sni", 'I', false),
    ("server", 's', true),
    ("use-virtualhost", 'V', true),
    ("port", 'p', true),
    ("url", 'u', true),
    ("fwmark", 'm', true),
    ("protocol", 'P', true),
    ("timeout", 't', true),
];

fn takes_arg(c: char) -> Option<bool> {
    LONG.iter().find(|l| l.1 == c).map(|l| l.2)
}

/// C `strtoul`-like: optional leading blanks, optional `+`, decimal digits to the end.
fn unsigned(s: &str) -> Option<u64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(t.parse::<u64>().unwrap_or(u64::MAX))
}

/// Parses the arguments after `-T`/`--genhash` (or after `genhash`). Err carries the message
/// to print before the usage (None: the usage alone).
pub fn parse(args: &[String]) -> Result<Options, Option<String>> {
    #[derive(Default)]
    struct Seen {
        server: Option<IpAddr>,
        port: Option<u16>,
        url: Option<String>,
    }
    let mut seen = Seen::default();
    let mut o = Options {
        server: IpAddr::from([0, 0, 0, 0]),
        port: 0,
        url: String::new(),
        ssl: false,
        sni: false,
        virtualhost: None,
        protocol: HttpProtocol::V10,
        fwmark: None,
        timeout: None,
        verbose: false,
    };
    let mut rest: Vec<&str> = Vec::new();
    let mut apply = |c: char, arg: Option<&str>, o: &mut Options| -> Result<(), Option<String>> {
        let a = arg.unwrap_or_default();
        match c {
            'h' => return Err(None),
            'v' => o.verbose = true,
            'S' => {
                o.ssl = true;
                if TlsContext::auto().is_err() {
                    return Err(Some("Cannot initialize SSL context.".into()));
                }
            }
            'I' => o.sni = true,
            's' => match a.parse::<IpAddr>() {
                Ok(ip) => seen.server = Some(ip),
                Err(_) => return Err(Some(format!("server should be an IP, not {a}"))),
            },
            'V' => o.virtualhost = Some(a.to_string()),
            'p' => {
                // strtol: blanks and a sign allowed, the whole text a number in 1..=65535.
                let t = a.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
                match t.parse::<i64>() {
                    Ok(p) if (1..=65535).contains(&p) => seen.port = u16::try_from(p).ok(),
                    _ => return Err(Some(format!("invalid port number '{a}'"))),
                }
            }
            'u' => seen.url = Some(a.to_string()),
            'm' => {
                let t = a.trim_start_matches([' ', '\t']);
                let v = if t.is_empty() { Some(0) } else { unsigned(t) };
                match v {
                    Some(v) if !t.starts_with('-') => {
                        o.fwmark = Some(u32::try_from(v).unwrap_or(u32::MAX))
                    }
                    _ => return Err(Some(format!("invalid fwmark '{a}'"))),
                }
            }
            'P' => match a {
                "1.0" => o.protocol = HttpProtocol::V10,
                "1.0c" | "1.0C" => o.protocol = HttpProtocol::V10Close,
                "1.1" => o.protocol = HttpProtocol::V11,
                _ => return Err(Some(format!("invalid HTTP protocol version '{a}'"))),
            },
            't' => {
                let t = a.trim_start_matches([' ', '\t']);
                match unsigned(t) {
                    Some(v) if !t.starts_with('-') => o.timeout = Some(Duration::from_secs(v)),
                    _ => return Err(Some(format!("invalid timeout '{a}'"))),
                }
            }
            _ => return Err(Some(format!("Unknown option -{c}"))),
        }
        Ok(())
    };
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        if arg == "--" {
            rest.extend(args[i..].iter().map(String::as_str));
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let exact = LONG.iter().find(|l| l.0 == name);
            let candidates: Vec<_> = LONG.iter().filter(|l| l.0.starts_with(name)).collect();
            let entry = match (exact, candidates.as_slice()) {
                (Some(e), _) => e,
                (None, [one]) => *one,
                _ => return Err(Some(format!("Unknown option {arg}"))),
            };
            let (full, c, needs) = *entry;
            let value = match (needs, value) {
                (false, Some(_)) => return Err(Some(format!("Unknown option {arg}"))),
                (false, None) => None,
                (true, Some(v)) => Some(v),
                (true, None) => match args.get(i) {
                    Some(v) => {
                        i += 1;
                        Some(v.as_str())
                    }
                    None => return Err(Some(format!("Missing parameter for option --{full}"))),
                },
            };
            apply(c, value, &mut o)?;
            continue;
        }
        if arg.len() > 1 && arg.starts_with('-') {
            let body = &arg[1..];
            for (pos, c) in body.char_indices() {
                match takes_arg(c) {
                    None => return Err(Some(format!("Unknown option -{c}"))),
                    Some(false) => apply(c, None, &mut o)?,
                    Some(true) => {
                        let attached = &body[pos + c.len_utf8()..];
                        let value = if !attached.is_empty() {
                            attached
                        } else if let Some(v) = args.get(i) {
                            i += 1;
                            v.as_str()
                        } else {
                            return Err(Some(format!("Missing parameter for option -{c}")));
                        };
                        apply(c, Some(value), &mut o)?;
                        break;
                    }
                }
            }
            continue;
        }
        rest.push(arg);
    }
    if !rest.is_empty() {
        return Err(Some(format!("Unexpected argument(s): {}", rest.join(" "))));
    }
    match (seen.server, seen.port, seen.url) {
        (Some(server), Some(port), Some(url)) => {
            o.server = server;
            o.port = port;
            o.url = url;
            Ok(o)
        }
        _ => Err(None),
    }
}

/// What a run printed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Output {
    /// Bytes for stdout.
    pub stdout: Vec<u8>,
    /// Bytes for stderr.
    pub stderr: Vec<u8>,
    /// The exit status.
    pub code: i32,
}

/// How the program was called: `genhash` (a symlink, keepalived's other spelling) or the
/// daemon binary with `--genhash`; it changes the usage line (argv[0] as typed, as 2.2.7
/// prints it) and 2.2.7's "too few arguments" threshold.
fn program_name() -> (String, bool) {
    let argv0 = std::env::args_os()
        .next()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keepalived-rs".into());
    let as_genhash = std::path::Path::new(&argv0)
        .file_name()
        .is_some_and(|b| b == "genhash");
    if as_genhash {
        (argv0, true)
    } else {
        (format!("{argv0} --genhash"), false)
    }
}

/// Runs genhash on the arguments that follow `-T`/`--genhash`, printing to stdout/stderr;
/// returns the exit status.
pub fn run(args: &[String]) -> i32 {
    let (prog, as_genhash) = program_name();
    let out = run_captured(args, &prog, as_genhash);
    let _ = std::io::stdout().write_all(&out.stdout);
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(&out.stderr);
    out.code
}

/// [`run`] with the output captured; `as_genhash` when called as `genhash` rather than with
/// `--genhash` (2.2.7 wants more than one argument after the program, `-T` counting as one).
pub fn run_captured(args: &[String], prog: &str, as_genhash: bool) -> Output {
    let mut out = Output::default();
    let argc = args.len() + if as_genhash { 1 } else { 2 };
    if argc <= 2 {
        out.stderr = usage(prog).into_bytes();
        out.code = 1;
        return out;
    }
    let opts = match parse(args) {
        Ok(o) => o,
        Err(msg) => {
            if let Some(m) = msg {
                out.stderr.extend_from_slice(m.as_bytes());
                out.stderr.push(b'\n');
            }
            out.stderr.extend_from_slice(usage(prog).as_bytes());
            out.code = 1;
            return out;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            out.stderr = format!("genhash: cannot start: {e}\n").into_bytes();
            out.code = 1;
            return out;
        }
    };
    rt.block_on(fetch_once(&opts, &mut out));
    out
}

/// The one fetch and its printing.
async fn fetch_once(o: &Options, out: &mut Output) {
    let start = std::time::Instant::now();
    let target = SocketAddr::new(o.server, o.port);
    let timeout = o.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let c = Connect {
        target,
        bind_addr: None,
        bind_port: None,
        bind_if: None,
        fwmark: o.fwmark,
        timeout,
    };
    let ctx = if o.ssl {
        match TlsContext::auto() {
            Ok(ctx) => Some(ctx),
            Err(_) => {
                out.stderr
                    .extend_from_slice(b"Cannot initialize SSL context.\n");
                out.code = 1;
                return;
            }
        }
    } else {
        None
    };
    let sni = if o.sni {
        o.virtualhost.as_deref()
    } else {
        None
    };
    let host = match &o.virtualhost {
        Some(v) => v.clone(),
        None => match target {
            SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        },
    };
    let fetched = http::fetch(Fetch {
        c: &c,
        tls: ctx.as_ref().map(|ctx| (ctx, sni)),
        request: http::request_bytes(o.protocol, &o.url, &host),
        digest: true,
        verbose: o.verbose,
        keep_body: 0,
        deadline: o
            .timeout
            .map(|t| tokio::time::Instant::now() + t.saturating_mul(3)),
    })
    .await;
    out.stdout.extend_from_slice(&fetched.trace);
    match fetched.result {
        Ok(r) if r.extracted => {
            let d = r.digest.unwrap_or_default();
            out.stdout.extend_from_slice(http::hex(&d).as_bytes());
            out.stdout.push(b'\n');
        }
        Ok(_) => out
            .stderr
            .extend_from_slice(b"no data received from remote webserver\n"),
        Err(Fail::Counted(r)) => {
            out.stdout.extend_from_slice(r.as_bytes());
            out.stdout.push(b'\n');
        }
        Err(Fail::Local(r)) => {
            out.stdout.extend_from_slice(r.as_bytes());
            out.stdout.push(b'\n');
        }
    }
    if o.verbose {
        let usecs = start.elapsed().as_micros();
        let _ = write!(
            out.stdout,
            "\nGlobal response time for [{}] = {usecs} usecs\n",
            o.url
        );
    }
}

#[cfg(test)]
mod tests;
