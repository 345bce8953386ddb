//! `keepalived-rs bench-responder [--tcp PORT] [--http PORT] [--smtp PORT] [--udp PORT]
//! [--dns PORT]`: the real servers of the checker benchmark and of the checker tests in the VM
//! (whose guest has no other SMTP, DNS or UDP servers). One tokio runtime accepts on 0.0.0.0 (every address routed `local` in the
//! namespace is served): TCP connections are closed at once; HTTP requests get a small `200 OK`
//! after the request head, then the server closes. Every second it prints `conns N` (the
//! connections accepted in that second), which the benchmark reads as checks per second.

use anyhow::{Context, Result};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The HTTP reply: a fixed body, so its MD5 is known (`ok`).
pub const BODY: &[u8] = b"ok";

/// A polite SMTP server: banner, HELO, QUIT.
async fn serve_smtp(s: tokio::net::TcpStream) {
    use tokio::io::AsyncBufReadExt;
    let (r, mut w) = s.into_split();
    let mut lines = tokio::io::BufReader::new(r).lines();
    if w.write_all(b"220 responder ESMTP\r\n").await.is_err() {
        return;
    }
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await
    {
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("QUIT") {
            b"221 bye\r\n"
        } else {
            b"250 ok\r\n"
        };
        if w.write_all(reply).await.is_err() || upper.starts_with("QUIT") {
            return;
        }
    }
}

/// Answers every query with NOERROR and no records (what DNS_CHECK needs: ID, QR, RCODE).
fn dns_answer(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let mut a = query.to_vec();
    a[2] = 0x80 | (query[2] & 0x01); // QR=1, RD copied
    a[3] = 0x80; // RA=1, RCODE 0
    a[6..12].copy_from_slice(&[0, 0, 0, 0, 0, 0]);
    Some(a)
}

async fn serve_http(mut s: tokio::net::TcpStream) {
    let mut buf = [0u8; 2048];
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => return,
            Ok(Ok(n)) => {
                seen.extend_from_slice(&buf[..n]);
                if seen.windows(4).any(|w| w == b"\r\n\r\n") || seen.len() > 8192 {
                    break;
                }
            }
        }
    }
    let head = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        BODY.len()
    );
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(BODY).await;
    let _ = s.shutdown().await;
}

/// Entry point.
pub fn main(args: &[String]) -> Result<ExitCode> {
    let (mut tcp, mut http, mut smtp, mut udp, mut dns) = (None, None, None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let port = it.clone().next().and_then(|v| v.parse::<u16>().ok());
        match a.as_str() {
            "--tcp" => tcp = port,
            "--http" => http = port,
            "--smtp" => smtp = port,
            "--udp" => udp = port,
            "--dns" => dns = port,
            _ => continue,
        }
        it.next();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("runtime")?;
    rt.block_on(async move {
        let count = Arc::new(AtomicU64::new(0));
        if let Some(port) = tcp {
            let l = TcpListener::bind(("0.0.0.0", port))
                .await
                .context("bind tcp")?;
            let c = Arc::clone(&count);
            tokio::spawn(async move {
                while let Ok((s, _)) = l.accept().await {
                    c.fetch_add(1, Ordering::Relaxed);
                    drop(s);
                }
            });
        }
        if let Some(port) = http {
            let l = TcpListener::bind(("0.0.0.0", port))
                .await
                .context("bind http")?;
            let c = Arc::clone(&count);
            tokio::spawn(async move {
                while let Ok((s, _)) = l.accept().await {
                    c.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(serve_http(s));
                }
            });
        }
        if let Some(port) = smtp {
            let l = TcpListener::bind(("0.0.0.0", port))
                .await
                .context("bind smtp")?;
            let c = Arc::clone(&count);
            tokio::spawn(async move {
                while let Ok((s, _)) = l.accept().await {
                    c.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(serve_smtp(s));
                }
            });
        }
        for (port, is_dns) in [(udp, false), (dns, true)] {
            let Some(port) = port else { continue };
            let sock = tokio::net::UdpSocket::bind(("0.0.0.0", port))
                .await
                .context("bind udp")?;
            let c = Arc::clone(&count);
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                while let Ok((n, from)) = sock.recv_from(&mut buf).await {
                    c.fetch_add(1, Ordering::Relaxed);
                    let q = buf.get(..n).unwrap_or_default();
                    let reply = if is_dns {
                        dns_answer(q)
                    } else {
                        Some(q.to_vec())
                    };
                    if let Some(r) = reply {
                        let _ = sock.send_to(&r, from).await;
                    }
                }
            });
        }
        println!("listening");
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            println!("conns {}", count.swap(0, Ordering::Relaxed));
        }
        #[allow(unreachable_code)]
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
