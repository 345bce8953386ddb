//! The TLS side of SSL_GET and `genhash -S`: one client context shared by every SSL_GET
//! checker (keepalived builds one from the root `SSL { }` block, or an automatic one without
//! it), and the handshake of one attempt.
//!
//! What keepalived 2.2.7 does, and so what this does:
//! - the generic TLS method (every version the library allows, TLS 1.3 where both sides can);
//! - **no certificate verification**: the verify mode stays NONE, so a `ca` file is loaded but
//!   never enforced (users rely on checking self-signed and expired certificates); depth 1;
//! - a client certificate and key only when configured, the key unlocked with `password`;
//! - SNI only when the checker asks for it (`enable_sni`), never from the real server's
//!   virtualhost — the caller picks the name;
//! - no `close_notify` sent at the end (keepalived sets a quiet shutdown): the stream is dropped.
//!
//! keepalived initialises OpenSSL without reading `openssl.cnf`. The `openssl` crate's own
//! initialisation does read it, and skipping that needs an `unsafe` call this crate may not
//! make, so the context instead sets explicitly every TLS knob such a file could change
//! (security level, cipher lists, protocol bounds) to the values the library has when no file
//! is read: Debian's libssl 3.0 is built with security level 2, which is what 2.2.7 runs with
//! there. That keeps our reach equal to 2.2.7's whatever `openssl.cnf` says (tests: an
//! `AES256-SHA`-only TLS 1.2 server, an X.509 v1 self-signed certificate, a modern server).

use ka_config::model::Config;
use openssl::pkey::PKey;
use openssl::ssl::{Ssl, SslContext, SslContextBuilder, SslMethod, SslVerifyMode};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

/// The security level keepalived 2.2.7 gets from Debian's libssl 3.0 when it does not read
/// `openssl.cnf` (the library is built with `-DOPENSSL_TLS_SECURITY_LEVEL=2`). It still lets
/// TLS 1.2 `AES256-SHA` through and, since nothing is verified, any server certificate; it
/// refuses TLS 1.0/1.1, as 2.2.7 does on bookworm.
pub const SECURITY_LEVEL: u32 = 2;

/// OpenSSL's built-in TLS 1.3 suites, set explicitly so a system `openssl.cnf` cannot narrow
/// them.
const TLS13_SUITES: &str =
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";

/// The root `SSL { password ca certificate key }` block: keepalived's client credentials for
/// SSL_GET. All optional; without the block an automatic context is used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SslSettings {
    /// Unlocks an encrypted `key`.
    pub password: Option<String>,
    /// CA file: loaded (a bad file is an error, as in keepalived) but never enforced.
    pub ca: Option<String>,
    /// Client certificate chain file (PEM).
    pub certificate: Option<String>,
    /// Client private key file (PEM).
    pub key: Option<String>,
}

impl SslSettings {
    /// The root `SSL` block of a parsed configuration, if there is one. The configuration
    /// model keeps that block raw (it is only read here), so this reads its statements.
    pub fn from_config(cfg: &Config) -> Option<SslSettings> {
        let block = cfg
            .parsed_only
            .iter()
            .rev()
            .find(|s| s.keyword == "SSL" && s.has_block)?;
        let mut out = SslSettings::default();
        for kw in &block.children {
            let Some(value) = kw.args.first().cloned() else {
                continue;
            };
            match kw.keyword.as_str() {
                "password" => out.password = Some(value),
                "ca" => out.ca = Some(value),
                "certificate" => out.certificate = Some(value),
                "key" => out.key = Some(value),
                _ => {}
            }
        }
        Some(out)
    }
}

/// The shared client context of SSL_GET checkers (cheap to clone: reference counted).
#[derive(Clone)]
pub struct TlsContext {
    ctx: SslContext,
}

impl std::fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsContext")
    }
}

impl TlsContext {
    /// keepalived's automatic context: no credentials, nothing verified.
    pub fn auto() -> Result<TlsContext, String> {
        TlsContext::new(None)
    }

    /// A context from the root `SSL` block (or the automatic one without it). The error is
    /// keepalived's wording of what could not be loaded.
    pub fn new(settings: Option<&SslSettings>) -> Result<TlsContext, String> {
        let mut b = base().map_err(|e| format!("Error Initialize SSL, ctx Instance: {e}"))?;
        if let Some(s) = settings {
            if let Some(cert) = &s.certificate {
                b.set_certificate_chain_file(cert)
                    .map_err(|e| format!("SSL error : Cant load certificate file... ({e})"))?;
            }
            if let Some(key) = &s.key {
                let pem = std::fs::read(key)
                    .map_err(|e| format!("SSL error : Cant load key file... ({e})"))?;
                let pkey = match &s.password {
                    Some(p) => PKey::private_key_from_pem_passphrase(&pem, p.as_bytes()),
                    None => PKey::private_key_from_pem(&pem),
                }
                .map_err(|e| format!("SSL error : Cant load key file... ({e})"))?;
                b.set_private_key(&pkey)
                    .map_err(|e| format!("SSL error : Cant load key file... ({e})"))?;
            }
            if let Some(ca) = &s.ca {
                b.set_ca_file(ca)
                    .map_err(|e| format!("SSL error : Cant load CA file... ({e})"))?;
            }
        }
        // Loaded or not, the CA store is never enforced (keepalived's verify mode NONE).
        b.set_verify(SslVerifyMode::NONE);
        b.set_verify_depth(1);
        Ok(TlsContext { ctx: b.build() })
    }

    /// TLS over `tcp`, with SNI `sni` when given. The caller bounds it in time.
    pub(crate) async fn handshake(
        &self,
        tcp: TcpStream,
        sni: Option<&str>,
    ) -> Result<SslStream<Counted>, HandshakeError> {
        let mut ssl = Ssl::new(&self.ctx).map_err(|_| HandshakeError::Tls)?;
        if let Some(name) = sni {
            ssl.set_hostname(name).map_err(|_| HandshakeError::Tls)?;
        }
        let mut stream = SslStream::new(ssl, Counted::new(tcp)).map_err(|_| HandshakeError::Tls)?;
        match Pin::new(&mut stream).connect().await {
            Ok(()) => Ok(stream),
            // 2.2.7 looks at the socket's error at each handshake step: a connection reset
            // or refused meanwhile is a failed connection, not a TLS error.
            Err(e)
                if e.io_error()
                    .and_then(io::Error::raw_os_error)
                    .is_some_and(|c| {
                        matches!(c, libc::ECONNRESET | libc::ECONNREFUSED | libc::EPIPE)
                    }) =>
            {
                Err(HandshakeError::Connection)
            }
            Err(_) => Err(HandshakeError::Tls),
        }
    }
}

/// Why a handshake failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandshakeError {
    /// The TCP connection broke (reset) during the handshake.
    Connection,
    /// TLS itself failed (no common version or cipher, an alert, garbage...).
    Tls,
}

/// A context with every setting `openssl.cnf` could have changed put back to the library's
/// built-in values (see the module documentation).
fn base() -> Result<SslContextBuilder, openssl::error::ErrorStack> {
    let mut b = SslContext::builder(SslMethod::tls())?;
    b.set_security_level(SECURITY_LEVEL);
    b.set_cipher_list("DEFAULT")?;
    b.set_ciphersuites(TLS13_SUITES)?;
    b.set_min_proto_version(None)?;
    b.set_max_proto_version(None)?;
    Ok(b)
}

/// The TCP stream under TLS, counting what it reads: keepalived's messages depend on whether
/// the server sent anything at all after the handshake (`Timeout WEB read` vs `Timeout SSL
/// read`) and on whether the stream ended with TLS `close_notify` or a bare TCP close.
#[derive(Debug)]
pub(crate) struct Counted {
    inner: TcpStream,
    /// Bytes read from the socket so far.
    pub(crate) read: u64,
    /// The socket reported end of stream.
    pub(crate) eof: bool,
}

impl Counted {
    fn new(inner: TcpStream) -> Counted {
        Counted {
            inner,
            read: 0,
            eof: false,
        }
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            let n = buf.filled().len() - before;
            if n == 0 && buf.remaining() > 0 {
                this.eof = true;
            }
            this.read += n as u64;
        }
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_has_the_library_defaults_2_2_7_runs_with() {
        let b = base().expect("context");
        assert_eq!(b.build().security_level(), SECURITY_LEVEL);
        assert!(TlsContext::auto().is_ok());
    }

    #[test]
    fn missing_files_are_errors_in_keepalived_words() {
        let s = SslSettings {
            certificate: Some("/nonexistent/cert.pem".into()),
            ..SslSettings::default()
        };
        let e = TlsContext::new(Some(&s)).expect_err("no such file");
        assert!(
            e.starts_with("SSL error : Cant load certificate file"),
            "{e}"
        );
        let s = SslSettings {
            ca: Some("/nonexistent/ca.pem".into()),
            ..SslSettings::default()
        };
        let e = TlsContext::new(Some(&s)).expect_err("no such file");
        assert!(e.starts_with("SSL error : Cant load CA file"), "{e}");
    }

    #[test]
    fn the_root_ssl_block_is_read_from_the_configuration() {
        let text = "SSL {\n password secret\n ca /etc/ca.pem\n certificate /etc/c.pem\n key /etc/k.pem\n}\n";
        let parsed = ka_config::load_str(text);
        let s = SslSettings::from_config(&parsed).expect("block");
        assert_eq!(s.password.as_deref(), Some("secret"));
        assert_eq!(s.ca.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(s.certificate.as_deref(), Some("/etc/c.pem"));
        assert_eq!(s.key.as_deref(), Some("/etc/k.pem"));
    }
}
