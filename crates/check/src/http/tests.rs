//! HTTP_GET/SSL_GET tests: the pure parts on byte strings, then attempts against servers
//! started here on 127.0.0.1 (blocking threads, so they serve any runtime and `genhash`).

use super::*;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::ssl::{NameType, SslContext, SslMethod, SslVersion};
use openssl::x509::{X509Name, X509};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream as StdTcp};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;

// ---------------------------------------------------------------------------------------
// Test servers.

/// What the server does for one request path.
#[derive(Clone, Debug)]
pub(crate) enum Behave {
    /// Write these bytes (one write), then close.
    Reply(Vec<u8>),
    /// Write each part after its pause, then close.
    Parts(Vec<(Duration, Vec<u8>)>),
    /// Read the request and never answer.
    Hang,
    /// Write these bytes, then keep the connection open.
    KeepOpen(Vec<u8>),
    /// Write the head, then body bytes every 5 ms for ever.
    Endless(Vec<u8>),
    /// TLS only: close TLS cleanly (close_notify) without answering.
    CloseNotify,
    /// TLS only: write these bytes, then close TCP without close_notify.
    RawClose(Vec<u8>),
}

/// TLS flavour of a test server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TlsKind {
    /// Library defaults (TLS 1.3), a v3 certificate.
    Modern,
    /// TLS 1.2 only, cipher `AES256-SHA` only (CBC, RSA key exchange).
    Aes256Sha,
    /// An X.509 v1 self-signed certificate.
    V1Cert,
    /// TLS 1.0 only: 2.2.7 on OpenSSL 3.0 cannot talk to it.
    Tls10,
    /// A 1024-bit RSA key in a SHA-1 signed certificate, TLS 1.2 with ECDHE: below security
    /// level 2 for a verifying client, accepted by 2.2.7, which verifies nothing.
    WeakKey,
}

/// A server on 127.0.0.1 answering by path; it records requests and SNI names.
pub(crate) struct Server {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Vec<u8>>>>,
    pub sni: Arc<Mutex<Vec<Option<String>>>>,
}

type Routes = Arc<Mutex<HashMap<String, Behave>>>;

impl Server {
    pub(crate) fn start(routes: &[(&str, Behave)], tls: Option<TlsKind>) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let routes: Routes = Arc::new(Mutex::new(
            routes
                .iter()
                .map(|(p, b)| ((*p).to_string(), b.clone()))
                .collect(),
        ));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let sni = Arc::new(Mutex::new(Vec::new()));
        let acceptor = tls.map(|k| tls_acceptor(k, sni.clone()));
        let (r2, q2) = (routes.clone(), requests.clone());
        thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { continue };
                let (routes, requests, acceptor) = (r2.clone(), q2.clone(), acceptor.clone());
                thread::spawn(move || match acceptor {
                    None => serve(conn, &routes, &requests),
                    Some(ctx) => {
                        let Ok(ssl) = openssl::ssl::Ssl::new(&ctx) else {
                            return;
                        };
                        let Ok(s) = ssl.accept(conn) else { return };
                        serve_tls(s, &routes, &requests);
                    }
                });
            }
        });
        Server {
            port,
            requests,
            sni,
        }
    }
}

fn read_request<S: Read>(s: &mut S) -> Vec<u8> {
    let mut req = Vec::new();
    let mut b = [0u8; 1024];
    while header_end(&req).is_none() {
        match s.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => req.extend_from_slice(&b[..n]),
        }
    }
    req
}

fn route(req: &[u8], routes: &Routes) -> Behave {
    let line = String::from_utf8_lossy(req);
    let path = line.split(' ').nth(1).unwrap_or("/").to_string();
    let routes = routes.lock().expect("lock");
    routes
        .get(&path)
        .or_else(|| routes.get("*"))
        .cloned()
        .unwrap_or(Behave::Reply(
            b"HTTP/1.0 404 Not Found\r\n\r\nno route".to_vec(),
        ))
}

/// Plays `b` on `s` after the request; `finish` ends the stream (TLS: close_notify).
fn play<S: Write>(mut s: S, b: Behave, finish: impl FnOnce(S)) {
    match b {
        Behave::Reply(b) => {
            let _ = s.write_all(&b);
            finish(s);
        }
        Behave::Parts(parts) => {
            for (pause, p) in parts {
                thread::sleep(pause);
                if s.write_all(&p).is_err() {
                    return;
                }
                let _ = s.flush();
            }
            finish(s);
        }
        Behave::Hang => thread::sleep(Duration::from_secs(20)),
        Behave::KeepOpen(b) => {
            let _ = s.write_all(&b);
            let _ = s.flush();
            thread::sleep(Duration::from_secs(20));
        }
        Behave::Endless(head) => {
            if s.write_all(&head).is_err() {
                return;
            }
            while s.write_all(b"0123456789").is_ok() {
                let _ = s.flush();
                thread::sleep(Duration::from_millis(5));
            }
        }
        // Plain TCP has no close_notify: both end with a bare close.
        Behave::CloseNotify => {}
        Behave::RawClose(b) => {
            let _ = s.write_all(&b);
        }
    }
}

fn serve(mut s: StdTcp, routes: &Routes, requests: &Mutex<Vec<Vec<u8>>>) {
    let req = read_request(&mut s);
    requests.lock().expect("lock").push(req.clone());
    play(s, route(&req, routes), drop);
}

fn serve_tls(mut s: openssl::ssl::SslStream<StdTcp>, routes: &Routes, q: &Mutex<Vec<Vec<u8>>>) {
    let req = read_request(&mut s);
    q.lock().expect("lock").push(req.clone());
    match route(&req, routes) {
        Behave::CloseNotify => {
            let _ = s.shutdown();
        }
        Behave::RawClose(b) => {
            let _ = s.write_all(&b);
            let _ = s.get_ref().shutdown(std::net::Shutdown::Both);
        }
        other => play(s, other, |mut s| {
            let _ = s.shutdown();
        }),
    }
}

/// A self-signed certificate: `v1` for an X.509 version 1 one (no extensions).
pub(crate) fn cert(v1: bool, bits: u32, md: MessageDigest) -> (X509, PKey<Private>) {
    let rsa = Rsa::generate(bits).expect("rsa");
    let key = PKey::from_rsa(rsa).expect("pkey");
    let mut name = X509Name::builder().expect("name");
    name.append_entry_by_text("CN", "test.invalid").expect("cn");
    let name = name.build();
    let mut b = X509::builder().expect("x509");
    b.set_version(if v1 { 0 } else { 2 }).expect("version");
    let serial = BigNum::from_u32(7)
        .and_then(|n| n.to_asn1_integer())
        .expect("serial");
    b.set_serial_number(&serial).expect("serial");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("t"))
        .expect("nb");
    b.set_not_after(&Asn1Time::days_from_now(30).expect("t"))
        .expect("na");
    b.sign(&key, md).expect("sign");
    (b.build(), key)
}

/// One RSA key and certificate pair per kind for the whole test run (generation is slow).
fn shared_cert(kind: TlsKind) -> &'static (X509, PKey<Private>) {
    static V1: OnceLock<(X509, PKey<Private>)> = OnceLock::new();
    static V3: OnceLock<(X509, PKey<Private>)> = OnceLock::new();
    static WEAK: OnceLock<(X509, PKey<Private>)> = OnceLock::new();
    match kind {
        TlsKind::V1Cert => V1.get_or_init(|| cert(true, 2048, MessageDigest::sha256())),
        TlsKind::WeakKey => WEAK.get_or_init(|| cert(false, 1024, MessageDigest::sha1())),
        _ => V3.get_or_init(|| cert(false, 2048, MessageDigest::sha256())),
    }
}

fn tls_acceptor(kind: TlsKind, sni: Arc<Mutex<Vec<Option<String>>>>) -> SslContext {
    let (c, k) = shared_cert(kind);
    let mut b = SslContext::builder(SslMethod::tls_server()).expect("context");
    // The servers do not depend on the system openssl.cnf (a test sets a hostile one).
    b.set_security_level(if matches!(kind, TlsKind::WeakKey | TlsKind::Tls10) {
        0
    } else {
        1
    });
    b.set_min_proto_version(None).expect("min");
    b.set_certificate(c).expect("cert");
    b.set_private_key(k).expect("key");
    match kind {
        TlsKind::Modern | TlsKind::V1Cert => {}
        TlsKind::Aes256Sha => {
            b.set_min_proto_version(Some(SslVersion::TLS1_2))
                .expect("min");
            b.set_max_proto_version(Some(SslVersion::TLS1_2))
                .expect("max");
            b.set_cipher_list("AES256-SHA").expect("cipher");
        }
        TlsKind::WeakKey => {
            b.set_max_proto_version(Some(SslVersion::TLS1_2))
                .expect("max");
            b.set_cipher_list("ECDHE-RSA-AES128-GCM-SHA256:AES256-SHA@SECLEVEL=0")
                .expect("cipher");
        }
        TlsKind::Tls10 => {
            b.set_security_level(0);
            b.set_cipher_list("DEFAULT@SECLEVEL=0").expect("cipher");
            b.set_min_proto_version(Some(SslVersion::TLS1))
                .expect("min");
            b.set_max_proto_version(Some(SslVersion::TLS1))
                .expect("max");
        }
    }
    b.set_servername_callback(move |ssl, _| {
        sni.lock()
            .expect("lock")
            .push(ssl.servername(NameType::HOST_NAME).map(str::to_string));
        Ok(())
    });
    b.build()
}

// ---------------------------------------------------------------------------------------
// Helpers.

fn http_check(urls: &[(&str, Option<&str>)]) -> HttpCheck {
    HttpCheck {
        urls: urls
            .iter()
            .map(|(p, d)| ka_config::model::lvs::Url {
                path: (*p).to_string(),
                digest: d.map(str::to_string),
                status_codes: vec![],
                virtualhost: None,
                regex: None,
                regex_no_match: false,
                other: vec![],
            })
            .collect(),
        http_protocol: "1.0".into(),
        fast_recovery: false,
        virtualhost: None,
        enable_sni: false,
    }
}

fn spec(urls: &[(&str, Option<&str>)], tls: bool) -> HttpSpec {
    HttpSpec::new(
        &http_check(urls),
        tls,
        None,
        None,
        Duration::from_millis(300),
    )
}

fn connect(port: u16, timeout_ms: u64) -> Connect {
    Connect {
        target: ([127, 0, 0, 1], port).into(),
        bind_addr: None,
        bind_port: None,
        bind_if: None,
        fwmark: None,
        timeout: Duration::from_millis(timeout_ms),
    }
}

fn timing(retry: u32) -> Timing {
    Timing {
        delay_loop: Duration::from_secs(2),
        delay_before_retry: Duration::from_secs(1),
        retry,
        warmup: Duration::ZERO,
    }
}

fn md5_hex(b: &[u8]) -> String {
    hex(&Md5::digest(b).into())
}

async fn once(port: u16, spec: &HttpSpec, tls: Option<&TlsContext>) -> Attempt {
    let mut st = HttpState::new(timing(1), true, true);
    check(&connect(port, 500), spec, &mut st, tls).await
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello keepalived\n";

// ---------------------------------------------------------------------------------------
// Pure parts.

#[test]
fn request_bytes_are_keepalived_s() {
    let s = spec(&[("/index.html", None)], false);
    let host = host_header(&s.urls[0], ([127, 0, 0, 1], 80).into());
    assert_eq!(
        request(&s, &s.urls[0], &host),
        b"GET /index.html HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 127.0.0.1:80\r\n\r\n"
    );
    let v6 = host_header(&s.urls[0], "[2001:db8::1]:8080".parse().expect("addr"));
    assert_eq!(v6, "[2001:db8::1]:8080");
    let mut c = http_check(&[("/", None)]);
    c.http_protocol = "1.0C".into();
    let s = HttpSpec::new(&c, false, Some("rs.example"), None, Duration::from_secs(1));
    let host = host_header(&s.urls[0], ([127, 0, 0, 1], 80).into());
    assert_eq!(
        request(&s, &s.urls[0], &host),
        b"GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: rs.example\r\n\r\n"
    );
    c.http_protocol = "1.1".into();
    let s = HttpSpec::new(&c, false, None, None, Duration::from_secs(1));
    assert_eq!(
        request(&s, &s.urls[0], "h"),
        b"GET / HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: h\r\n\r\n"
    );
}

#[test]
fn host_and_sni_precedence() {
    let mut c = http_check(&[("/a", None), ("/b", None)]);
    c.urls[0].virtualhost = Some("url.example".into());
    let s = HttpSpec::new(
        &c,
        true,
        Some("rs.example"),
        Some("vs.example"),
        Duration::ZERO,
    );
    assert_eq!(s.urls[0].virtualhost.as_deref(), Some("url.example"));
    assert_eq!(s.urls[1].virtualhost.as_deref(), Some("rs.example"));
    // No SNI without enable_sni.
    assert_eq!(s.urls[0].sni, None);
    c.enable_sni = true;
    let s = HttpSpec::new(
        &c,
        true,
        Some("rs.example"),
        Some("vs.example"),
        Duration::ZERO,
    );
    assert_eq!(s.urls[0].sni.as_deref(), Some("url.example"));
    // The real server's virtualhost is used for Host, never for SNI.
    assert_eq!(s.urls[1].sni.as_deref(), Some("vs.example"));
    c.virtualhost = Some("checker.example".into());
    let s = HttpSpec::new(
        &c,
        true,
        Some("rs.example"),
        Some("vs.example"),
        Duration::ZERO,
    );
    assert_eq!(s.urls[1].virtualhost.as_deref(), Some("checker.example"));
    assert_eq!(s.urls[1].sni.as_deref(), Some("checker.example"));
    // Plain HTTP never has SNI.
    let s = HttpSpec::new(&c, false, None, Some("vs.example"), Duration::ZERO);
    assert_eq!(s.urls[1].sni, None);
}

#[test]
fn regex_matches_the_body_after_the_digest() {
    fn read_kept(chunks: &[&[u8]]) -> Response {
        let mut r = ResponseReader::new(false, false).keeping_body(REGEX_BODY_LIMIT);
        for c in chunks {
            r.feed(c);
        }
        r.finish(true).0
    }
    let mut c = http_check(&[("/", None)]);
    c.urls[0].regex = Some("keep(alive)d".into());
    let s = HttpSpec::new(&c, false, None, None, Duration::ZERO);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let u = &s.urls[0];
    // The match may span reads.
    let body = read_kept(&[b"HTTP/1.1 200 OK\r\n\r\nhello keep", b"alived\n"]);
    assert_eq!(judge(u, &body), Ok(passed::REGEX));
    let other = read_kept(&[b"HTTP/1.1 200 OK\r\n\r\nsomething else"]);
    assert_eq!(judge(u, &other), Err(reason::REGEX));
    // A status error comes first.
    let bad = read_kept(&[b"HTTP/1.1 500 Oops\r\n\r\nhello keepalived\n"]);
    assert_eq!(judge(u, &bad), Err(reason::STATUS));
    // regex_no_match inverts it.
    c.urls[0].regex_no_match = true;
    let s = HttpSpec::new(&c, false, None, None, Duration::ZERO);
    assert_eq!(judge(&s.urls[0], &body), Err(reason::REGEX));
    assert_eq!(judge(&s.urls[0], &other), Ok(passed::REGEX));
}

#[test]
fn regex_options_and_offsets() {
    let raw = |k: &str, args: &[&str]| ka_config::model::RawStatement {
        block: "url".into(),
        keyword: k.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        has_block: false,
        children: vec![],
        location: ka_config::diag::Location {
            file: std::sync::Arc::new("t.conf".into()),
            line: 1,
            col: 0,
        },
    };
    let r = UrlRegex::compile("STATUS: UP", false, &[raw("regex_options", &["caseless"])])
        .expect("compile");
    assert!(r.passes(b"status: up"));
    let r = UrlRegex::compile("up", false, &[raw("regex_min_offset", &["5"])]).expect("compile");
    assert!(!r.passes(b"up..."));
    assert!(r.passes(b"......up"));
    let r = UrlRegex::compile("up", false, &[raw("regex_max_offset", &["3"])]).expect("compile");
    assert!(r.passes(b"up"));
    assert!(!r.passes(b"......up"));
    // PCRE-only syntax is refused with a reason, and the url is then checked without it.
    assert!(UrlRegex::compile("(?<=a)b", false, &[]).is_err());
    let mut c = http_check(&[("/", None)]);
    c.urls[0].regex = Some("(?<=a)b".into());
    let s = HttpSpec::new(&c, false, None, None, Duration::ZERO);
    assert_eq!(s.warnings.len(), 1);
    assert!(s.urls[0].regex.is_none());
}

#[test]
fn status_line_rules() {
    assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n\r\n"), 200);
    // Issue 9: an empty reason phrase after the space is fine...
    assert_eq!(status_code(b"HTTP/1.1 200 \r\n\r\n"), 200);
    // ...no space after the code is not (2.2.7, lab).
    assert_eq!(status_code(b"HTTP/1.1 200\r\n\r\n"), 0);
    assert_eq!(status_code(b"HTTP/1.1 2000 OK\r\n"), 0);
    assert_eq!(status_code(b"HTTP/1.1  200 OK\r\n"), 0);
    assert_eq!(status_code(b"HTTP/1.1\r\n 200 OK\r\n"), 0);
    assert_eq!(status_code(b"HTTP/1.1 2x0 OK\r\n"), 0);
    assert_eq!(status_code(b"HTTP/1.0 404 Not Found\r\n"), 404);
    let s = spec(&[("/", None)], false);
    assert!(status_accepted(&s.urls[0], 204));
    assert!(!status_accepted(&s.urls[0], 301));
    let mut u = s.urls[0].clone();
    u.status_codes = vec![(301, 302), (404, 404)];
    assert!(status_accepted(&u, 302) && status_accepted(&u, 404));
    assert!(!status_accepted(&u, 200) && !status_accepted(&u, 0));
}

#[test]
fn content_length_as_2_2_7_reads_it() {
    // Each case checked against Debian's genhash 2.2.7 (which digests the cut body).
    let cl = |h: &str| content_length(h.as_bytes());
    assert_eq!(
        cl("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef"),
        Some(3)
    );
    assert_eq!(cl("HTTP/1.1 200 OK\r\nContent-Length:3\r\n\r\n"), Some(3));
    assert_eq!(
        cl("HTTP/1.1 200 OK\r\nContent-Length:    3\r\n\r\n"),
        Some(3)
    );
    assert_eq!(cl("HTTP/1.1 200 OK\r\nContent-Length:\t3\r\n\r\n"), Some(3));
    assert_eq!(cl("HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\n"), Some(3));
    assert_eq!(
        cl("HTTP/1.1 200 OK\r\nContent-Length: 3\nX: y\r\n\r\n"),
        Some(3)
    );
    assert_eq!(cl("HTTP/1.1 200 OK\r\nContent-Length: 3 \r\n\r\n"), None);
    assert_eq!(cl("HTTP/1.1 200 OK\r\nContent-Length: 3\t\r\n\r\n"), None);
    assert_eq!(cl("HTTP/1.1 200 OK\r\nContent-Length: 3x\r\n\r\n"), None);
    assert_eq!(cl("HTTP/1.1 200 OK\r\nContent-Length: 0x3\r\n\r\n"), None);
    assert_eq!(cl("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), None);
    assert_eq!(cl("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n"), None);
    assert_eq!(cl("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n"), None);
    assert_eq!(
        cl("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n"),
        None
    );
    assert_eq!(
        cl("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
        Some(3)
    );
    // The search covers the body of the first buffer, up to a NUL byte.
    assert_eq!(
        cl("HTTP/1.1 200 OK\r\n\r\nabcdefContent-Length: 2\r\n"),
        Some(2)
    );
    assert_eq!(
        cl("HTTP/1.1 200 OK\r\n\r\nabcdefContent-Length: 2"),
        Some(2)
    );
    assert_eq!(
        cl("HTTP/1.1 200 OK\r\nX: \0\r\nContent-Length: 3\r\n\r\n"),
        None
    );
}

fn read_all(chunks: &[&[u8]], digest: bool) -> Response {
    let mut r = ResponseReader::new(digest, false);
    for c in chunks {
        let mut c: &[u8] = c;
        while !c.is_empty() {
            let n = r.room().min(c.len());
            if n == 0 {
                return r.finish(true).0;
            }
            r.feed(&c[..n]);
            c = &c[n..];
        }
    }
    r.finish(true).0
}

#[test]
fn the_digest_covers_the_body_cut_at_content_length() {
    let r = read_all(
        &[
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab",
            b"cd",
            b"ef",
        ],
        true,
    );
    assert!(r.extracted);
    assert_eq!(r.status, 200);
    assert_eq!(r.digest.map(|d| hex(&d)), Some(md5_hex(b"abc")));
    assert_eq!((r.content_length, r.rx_bytes), (Some(3), 6));
    // Headers split across reads; no Content-Length: to the end.
    let r = read_all(
        &[b"HTTP/1.0 200 OK\r\n", b"X: y\r\n\r\nab", b"cd", b"ef"],
        true,
    );
    assert_eq!(r.digest.map(|d| hex(&d)), Some(md5_hex(b"abcdef")));
    // Without a digest configured, nothing is hashed.
    assert_eq!(read_all(&[OK], false).digest, None);
}

#[test]
fn chunked_framing_is_hashed_raw() {
    let body = b"5\r\nhello\r\n0\r\n\r\n";
    let mut resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    resp.extend_from_slice(body);
    let r = read_all(&[&resp], true);
    assert_eq!(r.digest.map(|d| hex(&d)), Some(md5_hex(body)));
    assert_eq!(
        hex(&r.digest.unwrap_or_default()),
        "79e9489e3bd3f0cb0158215341de046d"
    );
}

#[test]
fn headers_must_end_within_the_first_buffer() {
    // 4094 bytes of headers fit (lab: genhash hashes the body)...
    let mut fits = b"HTTP/1.0 200 OK\r\nX: ".to_vec();
    fits.extend(std::iter::repeat_n(b'a', 4070));
    fits.extend_from_slice(b"\r\n\r\nabc");
    assert_eq!(fits.len(), 4097);
    let r = read_all(&[&fits], true);
    assert!(r.extracted);
    assert_eq!(r.digest.map(|d| hex(&d)), Some(md5_hex(b"abc")));
    // ...4104 do not: "no data", at once.
    let mut long = b"HTTP/1.0 200 OK\r\nX: ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 4080));
    long.extend_from_slice(b"\r\n\r\nabc");
    assert!(!read_all(&[&long], true).extracted);
    assert!(!read_all(&[b""], true).extracted);
    assert!(!read_all(&[b"garbage"], true).extracted);
}

#[test]
fn judging_order_is_data_status_digest() {
    let s = spec(&[("/", Some(&md5_hex(b"hello keepalived\n")))], false);
    let u = &s.urls[0];
    assert_eq!(judge(u, &read_all(&[OK], true)), Ok(passed::DIGEST));
    assert_eq!(judge(u, &read_all(&[b""], true)), Err(reason::NO_DATA));
    let bad = b"HTTP/1.1 500 Oops\r\n\r\nhello keepalived\n";
    assert_eq!(judge(u, &read_all(&[bad], true)), Err(reason::STATUS));
    let other = b"HTTP/1.1 200 OK\r\n\r\nsomething else";
    assert_eq!(judge(u, &read_all(&[other], true)), Err(reason::DIGEST));
    let s = spec(&[("/", None)], false);
    assert_eq!(
        judge(&s.urls[0], &read_all(&[OK], false)),
        Ok(passed::STATUS)
    );
}

#[test]
fn the_hex_dump_is_keepalived_s() {
    // Lines captured from Debian's genhash -v.
    let mut out = Vec::new();
    dump(
        &mut out,
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\n",
    );
    let text = String::from_utf8(out).expect("utf8");
    assert_eq!(
        text,
        "0000  48 54 54 50 2f 31 2e 31 - 20 34 30 34 20 4e 6f 74   HTTP/1.1 404 Not\n\
         0016  20 46 6f 75 6e 64 0d 0a - 43 6f 6e 74 65 6e 74 2d    Found..Content-\n\
         0032  4c 65 6e 67 74 68 3a 20 - 35 0d 0a 0d 0a            Length: 5....   \n"
    );
    let mut out = Vec::new();
    dump(&mut out, b"tail");
    assert_eq!(
        String::from_utf8(out).expect("utf8"),
        "0000  74 61 69 6c             -                           tail            \n"
    );
}

// ---------------------------------------------------------------------------------------
// URL iteration and verdicts (2.2.7's epilog), without a network.

fn ok(what: &str) -> Attempt {
    Attempt::success(what)
}

fn ko(r: &str) -> Attempt {
    Attempt::failure(r)
}

#[test]
fn the_first_failure_after_start_is_enough() {
    // Lab (out1): retry 1, nothing listening: down at once, "failed after 1 retries".
    let s = spec(&[("/", None)], false);
    let mut st = HttpState::new(timing(1), true, false);
    let step = st.record(
        &s,
        &ko(reason::CONNECTION_FAILED),
        "[192.0.2.11]:tcp:80",
        "vs",
        false,
    );
    assert_eq!(step.changed, Some(false));
    assert_eq!(
        step.lines,
        ["HTTP_CHECK on service [192.0.2.11]:tcp:80 failed after 1 retries."]
    );
    assert_eq!(step.mail, Some(mail_down()));
    assert_eq!(st.failed_url(), Some(0));
    // Down with a failed URL: only it, every max(delay_loop, delay_before_retry).
    assert_eq!(step.next, Duration::from_secs(2));
    let step = st.record(&s, &ko(reason::CONNECTION_FAILED), "rs", "vs", true);
    assert_eq!((step.changed, step.lines.len()), (None, 0));
}

#[test]
fn one_url_needs_two_passes_to_recover() {
    // Lab (out1): 21 s "MD5 digest success", 23 s again + "Remote Web server … succeed".
    let s = spec(
        &[("/index.html", Some("e05003f6b7448aa2c2497bb671696f04"))],
        false,
    );
    let rs = "[192.0.2.10]:tcp:80";
    let mut st = HttpState::new(timing(2), true, true);
    // Up: three failures (retry 2) delay_before_retry apart, then down.
    for _ in 0..2 {
        let step = st.record(&s, &ko(reason::CONNECTION_FAILED), rs, "vs", true);
        assert_eq!(step.changed, None);
        assert_eq!(step.next, Duration::from_secs(1));
        assert_eq!(step.lines, [format!("Connection failed server {rs}.")]);
    }
    let step = st.record(&s, &ko(reason::CONNECTION_FAILED), rs, "vs", false);
    assert_eq!(step.changed, Some(false));
    assert_eq!(
        step.lines,
        [format!(
            "HTTP_CHECK on service {rs} failed after 2 retries."
        )]
    );
    let step = st.record(&s, &ok(passed::DIGEST), rs, "vs", false);
    assert_eq!(step.changed, None);
    assert_eq!(
        step.lines,
        [format!("MD5 digest success to {rs} url(/index.html)")]
    );
    assert_eq!(step.next, Duration::from_secs(2));
    let step = st.record(&s, &ok(passed::DIGEST), rs, "vs", false);
    assert_eq!(step.changed, Some(true));
    assert_eq!(
        step.lines,
        [
            format!("MD5 digest success to {rs} url(/index.html)"),
            format!("Remote Web server {rs} succeed on service."),
        ]
    );
    assert_eq!(step.mail, Some(mail_up()));
    // Up again: passes log nothing.
    let step = st.record(&s, &ok(passed::DIGEST), rs, "vs", false);
    assert!(step.lines.is_empty());
}

#[test]
fn several_urls_are_iterated_and_recovered_from_the_first() {
    let s = spec(&[("/a", None), ("/b", None), ("/c", None)], false);
    let mut st = HttpState::new(timing(1), true, true);
    let mut seen = Vec::new();
    // Healthy: one URL per delay_loop in turn.
    for _ in 0..4 {
        seen.push(st.current(&s).expect("url"));
        let step = st.record(&s, &ok(passed::STATUS), "rs", "vs", false);
        assert_eq!((step.changed, step.next), (None, Duration::from_secs(2)));
    }
    assert_eq!(seen, [0, 1, 2, 0]);
    // /b fails: retried once (delay_before_retry), then down, remembered.
    assert_eq!(st.current(&s), Some(1));
    assert_eq!(
        st.record(&s, &ko(reason::STATUS), "rs", "vs", false).next,
        Duration::from_secs(1)
    );
    let step = st.record(&s, &ko(reason::STATUS), "rs", "vs", false);
    assert_eq!(step.changed, Some(false));
    assert_eq!(st.failed_url(), Some(1));
    // While down only /b is fetched.
    assert_eq!(st.current(&s), Some(1));
    st.record(&s, &ko(reason::STATUS), "rs", "vs", false);
    assert_eq!(st.current(&s), Some(1));
    // /b passes: all URLs again from the first, up after the last.
    let step = st.record(&s, &ok(passed::STATUS), "rs", "vs", false);
    assert_eq!(step.lines, ["HTTP status code success to rs url(/b)"]);
    assert_eq!(st.failed_url(), None);
    let mut order = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        order.push(st.current(&s).expect("url"));
        last = Some(st.record(&s, &ok(passed::STATUS), "rs", "vs", false));
    }
    assert_eq!(order, [0, 1, 2]);
    let last = last.expect("step");
    assert_eq!(last.changed, Some(true));
    assert_eq!(
        last.lines.last().map(String::as_str),
        Some("Remote Web server rs succeed on service.")
    );
    // While recovering, a failing URL is retried delay_before_retry apart, not marked.
    let mut st2 = HttpState::new(timing(0), false, true);
    st2.record(&s, &ok(passed::STATUS), "rs", "vs", false);
    let step = st2.record(&s, &ko(reason::STATUS), "rs", "vs", false);
    assert_eq!(
        (step.changed, step.next, st2.failed_url()),
        (None, Duration::from_secs(1), None)
    );
    assert_eq!(st2.current(&s), Some(1));
}

#[test]
fn fast_recovery_fetches_the_next_url_at_once_while_not_up() {
    let mut c = http_check(&[("/a", None), ("/b", None)]);
    c.fast_recovery = true;
    let s = HttpSpec::new(&c, false, None, None, Duration::from_secs(2));
    // The very first round.
    let mut st = HttpState::new(timing(1), true, false);
    assert_eq!(
        st.record(&s, &ok(passed::STATUS), "rs", "vs", false).next,
        Duration::ZERO
    );
    let step = st.record(&s, &ok(passed::STATUS), "rs", "vs", false);
    assert_eq!(step.lines, ["Remote Web server rs succeed on service."]);
    assert_eq!(step.next, Duration::from_secs(2));
    // Down with a failed URL: the normal pace...
    let step = st.record(&s, &ko(reason::STATUS), "rs", "vs", false);
    assert_eq!(step.next, Duration::from_secs(1));
    let step = st.record(&s, &ko(reason::STATUS), "rs", "vs", false);
    assert_eq!(
        (step.changed, step.next),
        (Some(false), Duration::from_secs(2))
    );
    // ...once it passes, the rest at once.
    assert_eq!(
        st.record(&s, &ok(passed::STATUS), "rs", "vs", false).next,
        Duration::ZERO
    );
    assert_eq!(
        st.record(&s, &ok(passed::STATUS), "rs", "vs", false).next,
        Duration::ZERO
    );
    let step = st.record(&s, &ok(passed::STATUS), "rs", "vs", false);
    assert_eq!(
        (step.changed, step.next),
        (Some(true), Duration::from_secs(2))
    );
}

#[test]
fn alpha_first_failure_is_silent_and_not_counted_changes_nothing() {
    let s = spec(&[("/", None)], false);
    let mut st = HttpState::new(timing(1), false, false);
    let step = st.record(&s, &ko(reason::TIMEOUT_CONNECTING), "rs", "vs", true);
    assert_eq!(step.changed, None);
    assert_eq!(step.lines, ["Timeout connecting server rs."]);
    let before = st.clone();
    let step = st.record(&s, &Attempt::not_counted("bind"), "rs", "vs", true);
    assert_eq!(
        (step.changed, step.next, step.lines.len()),
        (None, Duration::from_secs(2), 0)
    );
    assert_eq!(st, before);
    assert_eq!(down_line("rs", 0), "HTTP_CHECK on service rs failed.");
}

// ---------------------------------------------------------------------------------------
// Attempts against servers.

#[tokio::test]
async fn up_and_the_request_on_the_wire() {
    let srv = Server::start(&[("/", Behave::Reply(OK.to_vec()))], None);
    let s = spec(&[("/", None)], false);
    let a = once(srv.port, &s, None).await;
    assert_eq!(
        (a.outcome, a.reason.as_str()),
        (Outcome::Success, passed::STATUS)
    );
    let req = srv.requests.lock().expect("lock")[0].clone();
    assert_eq!(
        req,
        format!(
            "GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 127.0.0.1:{}\r\n\r\n",
            srv.port
        )
        .into_bytes()
    );
}

#[tokio::test]
async fn refused_is_connection_failed() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let a = once(port, &spec(&[("/", None)], false), None).await;
    assert_eq!(
        (a.outcome, a.reason.as_str()),
        (Outcome::Failure, reason::CONNECTION_FAILED)
    );
}

#[tokio::test]
async fn an_unanswered_syn_times_out_connecting() {
    // TEST-NET-1 is routed nowhere useful here; an at-once error is a failure too.
    let mut c = connect(80, 200);
    c.target = ([192, 0, 2, 1], 80).into();
    let mut st = HttpState::new(timing(1), true, true);
    let a = check(&c, &spec(&[("/", None)], false), &mut st, None).await;
    assert_eq!(a.outcome, Outcome::Failure, "{a:?}");
}

#[tokio::test]
async fn slow_silent_and_kept_open_servers_time_out() {
    let srv = Server::start(
        &[
            (
                "/slow",
                Behave::Parts(vec![(Duration::from_millis(900), OK.to_vec())]),
            ),
            ("/hang", Behave::Hang),
            ("/open", Behave::KeepOpen(OK.to_vec())),
        ],
        None,
    );
    let s = spec(&[("/slow", None), ("/hang", None), ("/open", None)], false);
    let mut st = HttpState::new(timing(1), true, true);
    let c = connect(srv.port, 200);
    let t = std::time::Instant::now();
    let a = check(&c, &s, &mut st, None).await;
    assert_eq!(a.reason, reason::TIMEOUT_WEB_READ);
    assert!(
        t.elapsed() < Duration::from_millis(600),
        "{:?}",
        t.elapsed()
    );
    st.record(&s, &ok(passed::STATUS), "rs", "vs", false);
    assert_eq!(
        check(&c, &s, &mut st, None).await.reason,
        reason::TIMEOUT_WEB_READ
    );
    st.record(&s, &ok(passed::STATUS), "rs", "vs", false);
    // Content-Length does not end the read: the server must close.
    assert_eq!(
        check(&c, &s, &mut st, None).await.reason,
        reason::TIMEOUT_HTTP_READ
    );
}

#[tokio::test]
async fn trickles_and_endless_bodies_end_at_the_overall_deadline() {
    // One byte every 50 ms never trips the 200 ms step timeout; the attempt still ends at
    // max(delay_loop 300 ms, 3 × 200 ms) = 600 ms.
    let trickle: Vec<(Duration, Vec<u8>)> = OK
        .iter()
        .chain(b"0123456789".repeat(10).iter())
        .map(|&b| (Duration::from_millis(50), vec![b]))
        .collect();
    let srv = Server::start(
        &[
            ("/trickle", Behave::Parts(trickle)),
            (
                "/endless",
                Behave::Endless(b"HTTP/1.0 200 OK\r\n\r\n".to_vec()),
            ),
        ],
        None,
    );
    let s = spec(
        &[("/trickle", None), ("/endless", Some(&"0".repeat(32)))],
        false,
    );
    let c = connect(srv.port, 200);
    let mut st = HttpState::new(timing(1), true, true);
    for _ in 0..2 {
        let t = std::time::Instant::now();
        let a = check(&c, &s, &mut st, None).await;
        let took = t.elapsed();
        assert_eq!(a.reason, reason::TIMEOUT_HTTP_READ);
        assert!(
            took >= Duration::from_millis(550) && took < Duration::from_millis(1000),
            "{took:?}"
        );
        st.record(&s, &ok(passed::STATUS), "rs", "vs", false);
    }
}

#[tokio::test]
async fn status_rules_over_the_wire() {
    let srv = Server::start(
        &[
            (
                "/404",
                Behave::Reply(b"HTTP/1.1 404 Not Found\r\n\r\nnope".to_vec()),
            ),
            (
                "/empty-reason",
                Behave::Reply(b"HTTP/1.1 200 \r\n\r\nok".to_vec()),
            ),
            (
                "/no-space",
                Behave::Reply(b"HTTP/1.1 200\r\n\r\nok".to_vec()),
            ),
            ("/nothing", Behave::Reply(Vec::new())),
        ],
        None,
    );
    let r = |p: &'static str| {
        let s = spec(&[(p, None)], false);
        async move { once(srv.port, &s, None).await }
    };
    assert_eq!(r("/404").await.reason, reason::STATUS);
    assert_eq!(r("/empty-reason").await.outcome, Outcome::Success);
    assert_eq!(r("/no-space").await.reason, reason::STATUS);
    assert_eq!(r("/nothing").await.reason, reason::NO_DATA);
    let mut c = http_check(&[("/404", None)]);
    c.urls[0].status_codes = vec![(404, 404)];
    let s = HttpSpec::new(&c, false, None, None, Duration::from_secs(1));
    assert_eq!(once(srv.port, &s, None).await.outcome, Outcome::Success);
}

#[tokio::test]
async fn digests_plain_and_chunked() {
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    let srv = Server::start(
        &[
            ("/", Behave::Reply(OK.to_vec())),
            ("/chunked", Behave::Reply(chunked.to_vec())),
        ],
        None,
    );
    let good = md5_hex(b"hello keepalived\n");
    let a = once(srv.port, &spec(&[("/", Some(&good))], false), None).await;
    assert_eq!(
        (a.outcome, a.reason.as_str()),
        (Outcome::Success, passed::DIGEST)
    );
    let a = once(
        srv.port,
        &spec(&[("/", Some(&md5_hex(b"other")))], false),
        None,
    )
    .await;
    assert_eq!(
        (a.outcome, a.reason.as_str()),
        (Outcome::Failure, reason::DIGEST)
    );
    let raw = md5_hex(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    let a = once(srv.port, &spec(&[("/chunked", Some(&raw))], false), None).await;
    assert_eq!(a.outcome, Outcome::Success);
    // The de-chunked body is not what 2.2.7 hashes.
    let decoded = md5_hex(b"hello world");
    let a = once(
        srv.port,
        &spec(&[("/chunked", Some(&decoded))], false),
        None,
    )
    .await;
    assert_eq!(a.reason, reason::DIGEST);
}

#[tokio::test]
async fn a_content_length_mismatch_is_noted_once_per_difference() {
    let srv = Server::start(
        &[(
            "/",
            Behave::Reply(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabcdef".to_vec()),
        )],
        None,
    );
    let s = spec(&[("/", Some(&md5_hex(b"abc")))], false);
    let c = connect(srv.port, 500);
    let mut st = HttpState::new(timing(1), true, true);
    let a = check(&c, &s, &mut st, None).await;
    assert!(a.ok(), "{a:?}");
    let step = st.record(&s, &a, "[127.0.0.1]:tcp:80", "[10.0.0.1]:tcp:80", false);
    assert_eq!(
        step.lines,
        ["http_check for RS [127.0.0.1]:tcp:80 VS [10.0.0.1]:tcp:80 url /: content_length (3) does not match received bytes (6)"]
    );
    let a = check(&c, &s, &mut st, None).await;
    assert!(st.record(&s, &a, "rs", "vs", false).lines.is_empty());
}

#[tokio::test]
async fn several_urls_with_one_failing_against_a_server() {
    let srv = Server::start(
        &[
            ("/a", Behave::Reply(OK.to_vec())),
            ("/b", Behave::Reply(b"HTTP/1.1 503 Busy\r\n\r\n".to_vec())),
            ("/c", Behave::Reply(OK.to_vec())),
        ],
        None,
    );
    let s = spec(&[("/a", None), ("/b", None), ("/c", None)], false);
    let c = connect(srv.port, 500);
    let mut st = HttpState::new(timing(1), true, false);
    let mut changes = Vec::new();
    for _ in 0..6 {
        let a = check(&c, &s, &mut st, None).await;
        let step = st.record(&s, &a, "rs", "vs", false);
        if let Some(up) = step.changed {
            changes.push(up);
        }
    }
    // /a passes, /b fails (first round: the first failure is enough), then only /b.
    assert_eq!(changes, [false]);
    let paths: Vec<String> = srv
        .requests
        .lock()
        .expect("lock")
        .iter()
        .map(|r| {
            String::from_utf8_lossy(r)
                .split(' ')
                .nth(1)
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(paths, ["/a", "/b", "/b", "/b", "/b", "/b"]);
}

// ---------------------------------------------------------------------------------------
// TLS.

fn ctx() -> TlsContext {
    TlsContext::auto().expect("context")
}

#[tokio::test]
async fn tls_modern_aes256_sha_and_v1_certificates_pass() {
    let good = md5_hex(b"hello keepalived\n");
    for kind in [
        TlsKind::Modern,
        TlsKind::Aes256Sha,
        TlsKind::V1Cert,
        TlsKind::WeakKey,
    ] {
        let srv = Server::start(&[("/", Behave::Reply(OK.to_vec()))], Some(kind));
        let a = once(srv.port, &spec(&[("/", Some(&good))], true), Some(&ctx())).await;
        assert_eq!(
            (a.outcome, a.reason.as_str()),
            (Outcome::Success, passed::DIGEST),
            "{kind:?}"
        );
    }
}

/// A system `openssl.cnf` asking for TLS 1.3 only at security level 3 (which `openssl
/// s_client` obeys) does not narrow what we reach: 2.2.7 never reads that file.
#[test]
fn a_system_openssl_cnf_does_not_narrow_the_client() {
    let dir = std::env::temp_dir().join(format!("ka-check-cnf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cnf = dir.join("openssl.cnf");
    std::fs::write(
        &cnf,
        "openssl_conf = openssl_init\n[openssl_init]\nssl_conf = ssl_sect\n[ssl_sect]\n\
         system_default = sys\n[sys]\nMinProtocol = TLSv1.3\nCipherString = DEFAULT@SECLEVEL=3\n",
    )
    .expect("write");
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "http::tests::client_under_hostile_openssl_cnf",
            "--ignored",
        ])
        .env("OPENSSL_CONF", &cnf)
        .output()
        .expect("run");
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
}

/// Run by [`a_system_openssl_cnf_does_not_narrow_the_client`] with `OPENSSL_CONF` set.
#[tokio::test]
#[ignore]
async fn client_under_hostile_openssl_cnf() {
    assert!(std::env::var_os("OPENSSL_CONF").is_some());
    let srv = Server::start(
        &[("/", Behave::Reply(OK.to_vec()))],
        Some(TlsKind::Aes256Sha),
    );
    let a = once(srv.port, &spec(&[("/", None)], true), Some(&ctx())).await;
    assert_eq!(a.outcome, Outcome::Success, "{a:?}");
}

#[tokio::test]
async fn tls_handshake_failures() {
    // TLS 1.0 only: OpenSSL 3.0 at level 2 refuses it, as 2.2.7 does on bookworm. (The
    // server's alert races its reset: 2.2.7 then says either of these too.)
    let srv = Server::start(&[("/", Behave::Reply(OK.to_vec()))], Some(TlsKind::Tls10));
    let a = once(srv.port, &spec(&[("/", None)], true), Some(&ctx())).await;
    assert_eq!(a.outcome, Outcome::Failure);
    assert!(
        [reason::SSL_HANDSHAKE, reason::CONNECTION_FAILED].contains(&a.reason.as_str()),
        "{a:?}"
    );
    // A plain HTTP server answering the ClientHello.
    let plain = TcpListener::bind("127.0.0.1:0").expect("bind");
    let plain_port = plain.local_addr().expect("addr").port();
    thread::spawn(move || {
        if let Ok((mut s, _)) = plain.accept() {
            let _ = s.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n");
            thread::sleep(Duration::from_millis(300));
        }
    });
    let a = once(plain_port, &spec(&[("/", None)], true), Some(&ctx())).await;
    assert_eq!(a.reason, reason::SSL_HANDSHAKE);
    // Accepts TCP, never answers the handshake: the connect timer covers it.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let a = once(port, &spec(&[("/", None)], true), Some(&ctx())).await;
    assert_eq!(a.reason, reason::TIMEOUT_CONNECTING);
    drop(silent);
    // No context for SSL_GET: not counted.
    let a = once(port, &spec(&[("/", None)], true), None).await;
    assert_eq!(a.outcome, Outcome::NotCounted);
}

#[tokio::test]
async fn tls_ends_and_timeouts_as_2_2_7() {
    let srv = Server::start(
        &[
            ("/notify", Behave::CloseNotify),
            ("/raw", Behave::RawClose(OK.to_vec())),
            ("/raw-empty", Behave::RawClose(Vec::new())),
            ("/open", Behave::KeepOpen(OK.to_vec())),
            ("/hang", Behave::Hang),
        ],
        Some(TlsKind::Aes256Sha),
    );
    let tls = ctx();
    let r = |p: &'static str| {
        let s = spec(&[(p, None)], true);
        let tls = tls.clone();
        async move {
            let mut st = HttpState::new(timing(1), true, true);
            check(&connect(srv.port, 300), &s, &mut st, Some(&tls)).await
        }
    };
    assert_eq!(r("/notify").await.reason, reason::SSL_READ_ERROR);
    // End of stream without close_notify after data is a normal end.
    assert_eq!(r("/raw").await.outcome, Outcome::Success);
    assert_eq!(r("/raw-empty").await.reason, reason::NO_DATA);
    assert_eq!(r("/open").await.reason, reason::TIMEOUT_SSL_READ);
    // TLS 1.2 sends nothing after the handshake: nothing at all came back.
    assert_eq!(r("/hang").await.reason, reason::TIMEOUT_WEB_READ);
}

#[tokio::test]
async fn sni_only_with_enable_sni() {
    let srv = Server::start(&[("/", Behave::Reply(OK.to_vec()))], Some(TlsKind::Modern));
    let mut c = http_check(&[("/", None)]);
    let s = HttpSpec::new(
        &c,
        true,
        Some("rs.example"),
        Some("vs.example"),
        Duration::from_secs(1),
    );
    assert!(once(srv.port, &s, Some(&ctx())).await.ok());
    c.enable_sni = true;
    let s = HttpSpec::new(
        &c,
        true,
        Some("rs.example"),
        Some("vs.example"),
        Duration::from_secs(1),
    );
    assert!(once(srv.port, &s, Some(&ctx())).await.ok());
    let names = srv.sni.lock().expect("lock").clone();
    assert_eq!(names, [None, Some("vs.example".to_string())]);
    let req = srv.requests.lock().expect("lock")[1].clone();
    assert!(String::from_utf8_lossy(&req).contains("Host: rs.example\r\n"));
}

/// CPU and time per attempt against a local server (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn attempt_cost() {
    let srv = Server::start(&[("*", Behave::Reply(OK.to_vec()))], None);
    let tsrv = Server::start(&[("*", Behave::Reply(OK.to_vec()))], Some(TlsKind::Modern));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let thread_cpu = || {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
        let f: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Duration::from_millis((ticks(11) + ticks(12)) * 10)
    };
    let digest = md5_hex(b"hello keepalived\n");
    for (name, port, tls) in [("HTTP_GET", srv.port, false), ("SSL_GET", tsrv.port, true)] {
        let s = spec(&[("/", Some(&digest))], tls);
        let ctx = ctx();
        let n = if tls { 500 } else { 2000 };
        let cpu0 = thread_cpu();
        let t0 = std::time::Instant::now();
        rt.block_on(async {
            let mut st = HttpState::new(timing(1), true, true);
            for _ in 0..n {
                let a = check(&connect(port, 1000), &s, &mut st, Some(&ctx)).await;
                assert!(a.ok(), "{a:?}");
            }
        });
        let cpu = thread_cpu() - cpu0;
        println!(
            "{name}: {n} attempts, {:?} wall, checker-thread CPU {:?} = {:.1} µs/attempt",
            t0.elapsed(),
            cpu,
            cpu.as_secs_f64() * 1e6 / f64::from(n)
        );
    }
}
