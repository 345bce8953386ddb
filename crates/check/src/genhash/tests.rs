//! genhash: option parsing, and the output compared with Debian's `genhash` (keepalived
//! 2.2.7) on the same pages from local test servers.

use super::*;
use crate::http::tests::{Behave, Server, TlsKind};
use std::path::Path;
use std::process::Command;

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn err(a: &[&str]) -> Option<String> {
    parse(&args(a)).err().flatten()
}

#[test]
fn options_short_long_clustered_and_abbreviated() {
    let o = parse(&args(&["-s", "127.0.0.1", "-p", "80", "-u", "/x"])).expect("ok");
    assert_eq!(
        (o.server, o.port, o.url.as_str()),
        (IpAddr::from([127, 0, 0, 1]), 80, "/x")
    );
    assert_eq!(
        (o.ssl, o.sni, o.verbose, o.protocol),
        (false, false, false, HttpProtocol::V10)
    );
    let o = parse(&args(&[
        "--server",
        "::1",
        "--port=443",
        "--url",
        "/",
        "--use-ssl",
        "--use-sni",
        "--use-virtualhost",
        "www.example",
        "--protocol",
        "1.1",
        "--fwmark",
        "7",
        "--timeout",
        "3",
        "--verbose",
    ]))
    .expect("ok");
    assert!(o.ssl && o.sni && o.verbose);
    assert_eq!(o.virtualhost.as_deref(), Some("www.example"));
    assert_eq!(
        (o.protocol, o.fwmark, o.timeout),
        (HttpProtocol::V11, Some(7), Some(Duration::from_secs(3)))
    );
    let o = parse(&args(&["-vSs", "::1", "-p1", "-u/", "-P", "1.0c"])).expect("ok");
    assert!(o.verbose && o.ssl);
    assert_eq!(
        (o.port, o.url.as_str(), o.protocol),
        (1, "/", HttpProtocol::V10Close)
    );
    let o = parse(&args(&[
        "--serv",
        "127.0.0.1",
        "--po",
        " +1",
        "--url",
        "/a",
        "-u",
        "/b",
    ]))
    .expect("ok");
    assert_eq!((o.port, o.url.as_str()), (1, "/b"));
}

#[test]
fn option_errors_in_2_2_7_words() {
    // Each message checked against Debian's genhash.
    assert_eq!(
        err(&["-s", "foo", "-p", "1", "-u", "/"]).as_deref(),
        Some("server should be an IP, not foo")
    );
    assert_eq!(
        err(&["-s", "[::1]", "-p", "1", "-u", "/"]).as_deref(),
        Some("server should be an IP, not [::1]")
    );
    assert_eq!(
        err(&["-s", "127.0.0.1", "-p", "0", "-u", "/"]).as_deref(),
        Some("invalid port number '0'")
    );
    assert_eq!(
        err(&["-s", "127.0.0.1", "-p", "1x", "-u", "/"]).as_deref(),
        Some("invalid port number '1x'")
    );
    assert_eq!(
        err(&["-s", "127.0.0.1", "-p", "65536"]).as_deref(),
        Some("invalid port number '65536'")
    );
    assert_eq!(
        err(&["-P", "2.0", "-s", "127.0.0.1"]).as_deref(),
        Some("invalid HTTP protocol version '2.0'")
    );
    assert_eq!(
        err(&["-P", "1.1k", "-s", "127.0.0.1"]).as_deref(),
        Some("invalid HTTP protocol version '1.1k'")
    );
    assert_eq!(
        err(&["-t", "abc", "-s", "127.0.0.1"]).as_deref(),
        Some("invalid timeout 'abc'")
    );
    assert_eq!(
        err(&["-t", "", "-s", "127.0.0.1"]).as_deref(),
        Some("invalid timeout ''")
    );
    assert_eq!(
        err(&["-m", "-5", "-s", "127.0.0.1"]).as_deref(),
        Some("invalid fwmark '-5'")
    );
    assert_eq!(
        err(&["-s", "127.0.0.1", "-x"]).as_deref(),
        Some("Unknown option -x")
    );
    assert_eq!(
        err(&["-s", "127.0.0.1", "-T"]).as_deref(),
        Some("Unknown option -T")
    );
    assert_eq!(
        err(&["-s", "127.0.0.1", "--bogus"]).as_deref(),
        Some("Unknown option --bogus")
    );
    assert_eq!(
        err(&["-s", "127.0.0.1", "--u", "/"]).as_deref(),
        Some("Unknown option --u")
    );
    assert_eq!(
        err(&["-s", "127.0.0.1", "--use-ssl=1"]).as_deref(),
        Some("Unknown option --use-ssl=1")
    );
    assert_eq!(
        err(&["-s", "127.0.0.1", "-p"]).as_deref(),
        Some("Missing parameter for option -p")
    );
    assert_eq!(
        err(&["-s", "127.0.0.1", "--url"]).as_deref(),
        Some("Missing parameter for option --url")
    );
    assert_eq!(
        err(&["-s", "127.0.0.1", "-p", "1", "-u", "/", "a", "b"]).as_deref(),
        Some("Unexpected argument(s): a b")
    );
    assert_eq!(
        err(&["-s", "127.0.0.1", "-p", "1", "-u", "/", "--", "x"]).as_deref(),
        Some("Unexpected argument(s): x")
    );
    // Usage alone: -h, a mandatory option missing.
    assert_eq!(parse(&args(&["-s", "127.0.0.1", "-h"])), Err(None));
    assert_eq!(parse(&args(&["-s", "127.0.0.1", "-p", "1"])), Err(None));
}

#[test]
fn too_few_arguments_print_the_usage() {
    let out = run_captured(&args(&["-x"]), "genhash", true);
    assert_eq!((out.code, out.stdout.len()), (1, 0));
    assert_eq!(out.stderr, usage("genhash").into_bytes());
    // After --genhash one more argument is enough to be parsed (2.2.7 counts -T).
    let out = run_captured(&args(&["-x"]), "keepalived-rs --genhash", false);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.starts_with("Unknown option -x\nUsage: keepalived-rs --genhash COMMAND [OPTIONS]\n"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------
// Side by side with Debian's genhash.

const GENHASH: &str = "/usr/bin/genhash";

/// Debian's genhash, or a loud skip (a failure on CI, where it must be installed).
fn real_genhash() -> bool {
    if Path::new(GENHASH).exists() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{GENHASH} is missing on CI: install Debian's keepalived package");
    }
    eprintln!("SKIPPED: {GENHASH} not installed; genhash comparison not run");
    false
}

/// `Global response time for [..] = N usecs`: the figure differs run to run.
fn normalize(b: &[u8]) -> String {
    let text = String::from_utf8_lossy(b).into_owned();
    text.lines()
        .map(|l| match l.find("] = ") {
            Some(i) if l.starts_with("Global response time for [") && l.ends_with(" usecs") => {
                format!("{} = N usecs", &l[..i + 1])
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn compare(a: &[&str]) {
    let theirs = Command::new(GENHASH).args(a).output().expect("run genhash");
    let ours = run_captured(&args(a), GENHASH, true);
    let label = a.join(" ");
    assert_eq!(
        normalize(&ours.stdout),
        normalize(&theirs.stdout),
        "stdout of genhash {label}"
    );
    assert_eq!(
        normalize(&ours.stderr),
        normalize(&theirs.stderr),
        "stderr of genhash {label}"
    );
    assert_eq!(
        Some(ours.code),
        theirs.status.code(),
        "exit of genhash {label}"
    );
}

fn pages() -> Vec<(&'static str, Behave)> {
    let mut big = b"HTTP/1.0 200 OK\r\nServer: test\r\n\r\n".to_vec();
    big.extend((0..=255u8).cycle().take(700));
    let mut long_head = b"HTTP/1.0 200 OK\r\nX: ".to_vec();
    long_head.extend(std::iter::repeat_n(b'a', 4080));
    long_head.extend_from_slice(b"\r\n\r\nabc");
    vec![
        (
            "/",
            Behave::Reply(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>hello</html>\n".to_vec(),
            ),
        ),
        (
            "/404",
            Behave::Reply(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nhello world".to_vec(),
            ),
        ),
        (
            "/noreason",
            Behave::Reply(b"HTTP/1.1 200\r\n\r\nbody".to_vec()),
        ),
        (
            "/chunked",
            Behave::Reply(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                    .to_vec(),
            ),
        ),
        (
            "/cl",
            Behave::Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef".to_vec()),
        ),
        (
            "/cl-in-body",
            Behave::Reply(b"HTTP/1.1 200 OK\r\n\r\nabcdefContent-Length: 2\r\n".to_vec()),
        ),
        (
            "/headonly",
            Behave::Reply(b"HTTP/1.0 200 OK\r\n\r\n".to_vec()),
        ),
        ("/big", Behave::Reply(big)),
        ("/empty", Behave::Reply(Vec::new())),
        (
            "/garbage",
            Behave::Reply(b"garbage without an end".to_vec()),
        ),
        ("/longhead", Behave::Reply(long_head)),
        (
            "/open",
            Behave::KeepOpen(b"HTTP/1.0 200 OK\r\n\r\nabc".to_vec()),
        ),
        ("/hang", Behave::Hang),
    ]
}

#[test]
fn output_equals_debian_genhash_on_the_same_pages() {
    if !real_genhash() {
        return;
    }
    let srv = Server::start(&pages(), None);
    let port = srv.port.to_string();
    for (path, _) in pages() {
        let t = if matches!(path, "/open" | "/hang") {
            "1"
        } else {
            "5"
        };
        compare(&["-s", "127.0.0.1", "-p", &port, "-u", path, "-t", t]);
    }
    for path in [
        "/",
        "/404",
        "/chunked",
        "/cl",
        "/big",
        "/headonly",
        "/empty",
        "/garbage",
    ] {
        compare(&["-s", "127.0.0.1", "-p", &port, "-u", path, "-v"]);
    }
    // Request variants: the server saw the same bytes from both.
    for extra in [
        &["-V", "www.example.com", "-P", "1.1"][..],
        &["-P", "1.0c"],
        &["-P", "1.0"],
    ] {
        let mut a = vec!["-s", "127.0.0.1", "-p", &port, "-u", "/"];
        a.extend_from_slice(extra);
        compare(&a);
        let reqs = srv.requests.lock().expect("lock");
        let n = reqs.len();
        assert_eq!(
            reqs[n - 1],
            reqs[n - 2],
            "request of genhash {}",
            a.join(" ")
        );
    }
    // IPv6 literal in the Host header.
    let v6 = std::net::TcpListener::bind("[::1]:0");
    if let Ok(l) = v6 {
        drop(l);
        compare(&["-s", "::1", "-p", "1", "-u", "/"]);
    }
    // Refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_port = closed.local_addr().expect("addr").port().to_string();
    drop(closed);
    compare(&["-s", "127.0.0.1", "-p", &closed_port, "-u", "/"]);
    compare(&["-s", "127.0.0.1", "-p", &closed_port, "-u", "/", "-v"]);
}

#[test]
fn tls_output_equals_debian_genhash() {
    if !real_genhash() {
        return;
    }
    let page = b"HTTP/1.0 200 OK\r\n\r\nover tls\n".to_vec();
    for kind in [
        TlsKind::Modern,
        TlsKind::Aes256Sha,
        TlsKind::V1Cert,
        TlsKind::WeakKey,
        TlsKind::Tls10,
    ] {
        let srv = Server::start(
            &[
                ("/", Behave::Reply(page.clone())),
                ("/notify", Behave::CloseNotify),
                ("/raw", Behave::RawClose(page.clone())),
                ("/hang", Behave::Hang),
            ],
            Some(kind),
        );
        let port = srv.port.to_string();
        if kind == TlsKind::Tls10 {
            // The server's alert and its reset race in 2.2.7 (it reads the socket error at each
            // handshake step): either text is a failed handshake.
            let a = ["-S", "-s", "127.0.0.1", "-p", &port, "-u", "/", "-t", "5"];
            let theirs = Command::new(GENHASH).args(a).output().expect("run genhash");
            let ours = run_captured(&args(&a), GENHASH, true);
            let either = [
                b"SSL handshake/communication error connecting to\n".to_vec(),
                b"Connection failed\n".to_vec(),
            ];
            assert!(either.contains(&theirs.stdout), "{theirs:?}");
            assert!(either.contains(&ours.stdout), "{ours:?}");
            continue;
        }
        compare(&["-S", "-s", "127.0.0.1", "-p", &port, "-u", "/", "-t", "5"]);
        compare(&["-S", "-s", "127.0.0.1", "-p", &port, "-u", "/", "-v"]);
        compare(&[
            "-S",
            "-s",
            "127.0.0.1",
            "-p",
            &port,
            "-u",
            "/notify",
            "-t",
            "5",
        ]);
        compare(&[
            "-S",
            "-s",
            "127.0.0.1",
            "-p",
            &port,
            "-u",
            "/raw",
            "-t",
            "5",
        ]);
        compare(&[
            "-S",
            "-s",
            "127.0.0.1",
            "-p",
            &port,
            "-u",
            "/hang",
            "-t",
            "1",
        ]);
        // SNI only with -I, from -V.
        compare(&[
            "-S",
            "-I",
            "-V",
            "sni.example",
            "-s",
            "127.0.0.1",
            "-p",
            &port,
            "-u",
            "/",
        ]);
        compare(&[
            "-S",
            "-V",
            "sni.example",
            "-s",
            "127.0.0.1",
            "-p",
            &port,
            "-u",
            "/",
        ]);
        let names = srv.sni.lock().expect("lock").clone();
        let n = names.len();
        assert_eq!(
            names[n - 4..],
            [
                Some("sni.example".into()),
                Some("sni.example".into()),
                None,
                None
            ]
        );
    }
}

#[test]
fn usage_and_errors_equal_debian_genhash() {
    if !real_genhash() {
        return;
    }
    compare(&[]);
    compare(&["-h"]);
    compare(&["-x"]);
    for a in [
        &["-s", "foo", "-p", "1", "-u", "/"][..],
        &["-s", "127.0.0.1", "-p", "0", "-u", "/"],
        &["-s", "127.0.0.1", "-p", "1", "-u", "/", "a", "b"],
        &["-s", "127.0.0.1", "-p", "1", "-u", "/", "-P", "2.0"],
        &["-s", "127.0.0.1", "-p", "1", "-u", "/", "-t", "abc"],
        &["-s", "127.0.0.1", "-p", "1", "-u", "/", "-m", "x"],
        &["-s", "127.0.0.1", "-x"],
        &["-s", "127.0.0.1", "--bogus"],
        &["-s", "127.0.0.1", "--u", "/"],
        &["-s", "127.0.0.1", "-p"],
        &["-s", "127.0.0.1", "-p", "1", "-u", "/", "-h"],
        &["-s", "127.0.0.1", "-p", "1"],
    ] {
        compare(a);
    }
}
