//! `keepalived-rs bench-responder --tcp PORT --http PORT`: the real servers of the checker
//! benchmark. One tokio runtime accepts on 0.0.0.0 (every address routed `local` in the
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
    let mut tcp = None;
    let mut http = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--tcp" => tcp = it.next().and_then(|v| v.parse::<u16>().ok()),
            "--http" => http = it.next().and_then(|v| v.parse::<u16>().ok()),
            _ => {}
        }
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
