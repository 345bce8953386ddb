//! TCP_CHECK: a connection within `connect_timeout` is a pass; it is closed at once, nothing sent.

use crate::attempt::Attempt;
use crate::net::{connect_tcp, Connect};

/// One TCP_CHECK attempt.
pub async fn check(c: &Connect) -> Attempt {
    match connect_tcp(c).await {
        Ok(_stream) => Attempt::success("connected"),
        Err(e) => e.attempt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn connect(port: u16) -> Connect {
        Connect {
            target: ([127, 0, 0, 1], port).into(),
            bind_addr: None,
            bind_port: None,
            bind_if: None,
            fwmark: None,
            timeout: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn a_listener_passes_and_a_closed_port_fails() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        assert!(check(&connect(port)).await.ok());
        drop(l);
        let a = check(&connect(port)).await;
        assert_eq!(a.outcome, crate::Outcome::Failure);
        assert_eq!(a.reason, "connection refused");
    }

    #[tokio::test]
    async fn an_unanswered_syn_times_out_as_a_failure() {
        // 192.0.2.1 (TEST-NET-1) is routed nowhere here; if the network says unreachable at
        // once, that is a counted failure too.
        let mut c = connect(80);
        c.target = ([192, 0, 2, 1], 80).into();
        c.timeout = Duration::from_millis(200);
        let a = check(&c).await;
        assert_ne!(a.outcome, crate::Outcome::Success, "{a:?}");
    }

    #[tokio::test]
    async fn a_bind_failure_is_not_counted() {
        let mut c = connect(9);
        // An address that is not ours: bind fails with EADDRNOTAVAIL.
        c.bind_addr = Some([203, 0, 113, 7].into());
        let a = check(&c).await;
        assert_eq!(a.outcome, crate::Outcome::NotCounted, "{a:?}");
    }
}
