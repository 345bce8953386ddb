//! The raw NETLINK_ROUTE socket shared by the request handle and the watcher: framing,
//! deadline-bounded receive, NLMSG_ERROR / NLMSG_DONE parsing.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::NetlinkError;

/// NLMSG_ERROR: an ACK (code 0) or a NACK (negative errno).
pub(crate) const NLMSG_ERROR: u16 = 2;
/// NLMSG_DONE: end of a dump.
pub(crate) const NLMSG_DONE: u16 = 3;
/// NLMSG_OVERRUN: data lost.
pub(crate) const NLMSG_OVERRUN: u16 = 4;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSG_HDRLEN: usize = 16;
const RECV_BUF: usize = 64 * 1024;

/// One received netlink message, split into what the callers branch on.
pub(crate) struct Frame<'a> {
    pub(crate) msg_type: u16,
    pub(crate) flags: u16,
    pub(crate) seq: u32,
    pub(crate) bytes: &'a [u8],
}

impl Frame<'_> {
    pub(crate) fn dump_interrupted(&self) -> bool {
        self.flags & NLM_F_DUMP_INTR != 0
    }

    /// The errno of an NLMSG_ERROR or NLMSG_DONE frame (0 for an ACK), with the kernel's
    /// extended-ACK message if present.
    pub(crate) fn error_code(&self) -> Result<(i32, Option<String>), NetlinkError> {
        let payload = &self.bytes[NLMSG_HDRLEN..];
        let code = payload
            .get(0..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(i32::from_ne_bytes)
            .ok_or_else(|| NetlinkError::Decode("short NLMSG_ERROR".into()))?;
        if self.msg_type != NLMSG_ERROR || self.flags & NLM_F_ACK_TLVS == 0 {
            return Ok((code, None));
        }
        // After the code comes the original request: only its header when capped, else
        // the whole message (its length is in that header). Then the extended-ACK TLVs.
        let orig = &payload[4..];
        let orig_len = if self.flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            orig.get(0..4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map_or(NLMSG_HDRLEN, |b| u32::from_ne_bytes(b) as usize)
        };
        let Some(mut tlvs) = orig.get(align4(orig_len)..) else {
            return Ok((code, None));
        };
        while tlvs.len() >= 4 {
            let len = usize::from(u16::from_ne_bytes([tlvs[0], tlvs[1]]));
            let kind = u16::from_ne_bytes([tlvs[2], tlvs[3]]) & 0x3fff;
            if len < 4 || len > tlvs.len() {
                break;
            }
            if kind == NLMSGERR_ATTR_MSG {
                let text = &tlvs[4..len];
                let text = text.split(|b| *b == 0).next().unwrap_or(text);
                return Ok((code, Some(String::from_utf8_lossy(text).into_owned())));
            }
            tlvs = tlvs.get(align4(len)..).unwrap_or(&[]);
        }
        Ok((code, None))
    }

    /// Decodes an rtnetlink payload with netlink-packet-route.
    pub(crate) fn route_message(&self) -> Result<RouteNetlinkMessage, NetlinkError> {
        let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(self.bytes)
            .map_err(|e| NetlinkError::Decode(e.to_string()))?;
        match msg.payload {
            NetlinkPayload::InnerMessage(m) => Ok(m),
            _ => Err(NetlinkError::Decode(format!(
                "unexpected message type {}",
                self.msg_type
            ))),
        }
    }
}

pub(crate) const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Splits a datagram into netlink messages; a malformed tail is dropped (the kernel never
/// sends one).
pub(crate) fn frames(buf: &[u8]) -> Vec<Frame<'_>> {
    let mut out = Vec::new();
    let mut off = 0;
    while buf.len() - off >= NLMSG_HDRLEN {
        let h = &buf[off..];
        let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
        if len < NLMSG_HDRLEN || len > h.len() {
            break;
        }
        out.push(Frame {
            msg_type: u16::from_ne_bytes([h[4], h[5]]),
            flags: u16::from_ne_bytes([h[6], h[7]]),
            seq: u32::from_ne_bytes([h[8], h[9], h[10], h[11]]),
            bytes: &h[..len],
        });
        off += align4(len);
        if off > buf.len() {
            break;
        }
    }
    out
}

/// Serialises one rtnetlink request.
pub(crate) fn encode(msg: RouteNetlinkMessage, flags: u16, seq: u32) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
    nl.finalize();
    let mut buf = vec![0; nl.buffer_len()];
    nl.serialize(&mut buf);
    buf
}

/// A bound NETLINK_ROUTE socket with a receive buffer.
pub(crate) struct RtSocket {
    sock: Socket,
    buf: Vec<u8>,
}

impl RtSocket {
    /// Opens a socket, optionally joined to rtnetlink multicast groups (RTNLGRP_* numbers).
    pub(crate) fn open(groups: &[u32]) -> io::Result<Self> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        // Extended ACKs give the kernel's reason text; capped ACKs keep NACKs small. Both
        // are best effort: old kernels lack them and the errno is still there.
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_cap_ack(true);
        for g in groups {
            sock.add_membership(*g)?;
        }
        Ok(Self {
            sock,
            buf: vec![0; RECV_BUF],
        })
    }

    pub(crate) fn set_rx_buf(&self, bytes: usize) -> io::Result<()> {
        self.sock.set_rx_buf_sz(bytes)
    }

    pub(crate) fn send(&self, bytes: &[u8]) -> io::Result<()> {
        let n = self.sock.send(bytes, 0)?;
        if n != bytes.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short netlink send",
            ));
        }
        Ok(())
    }

    /// Waits until the socket is readable or `deadline` passes; `Ok(false)` on timeout.
    pub(crate) fn wait(&self, deadline: Instant) -> io::Result<bool> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // Round up to whole milliseconds so a sub-millisecond remainder does not spin.
            let ms = left.as_micros().div_ceil(1000);
            let timeout =
                PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.sock.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(0) => {
                    if Instant::now() >= deadline {
                        return Ok(false);
                    }
                }
                Ok(_) => return Ok(true),
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(io::Error::from(e)),
            }
        }
    }

    /// Receives one datagram without blocking; `Ok(None)` when nothing is queued.
    pub(crate) fn recv_nonblocking(&mut self) -> io::Result<Option<&[u8]>> {
        let mut slice: &mut [u8] = &mut self.buf;
        match self
            .sock
            .recv(&mut slice, libc::MSG_DONTWAIT | libc::MSG_TRUNC)
        {
            Ok(n) if n > RECV_BUF => Err(io::Error::other(format!(
                "netlink datagram of {n} bytes exceeds the {RECV_BUF}-byte buffer"
            ))),
            Ok(n) => Ok(Some(&self.buf[..n])),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Receives one datagram, waiting at most until `deadline`.
    pub(crate) fn recv_until(&mut self, deadline: Instant) -> Result<&[u8], NetlinkError> {
        loop {
            if !self.wait(deadline)? {
                return Err(NetlinkError::Timeout);
            }
            let mut slice: &mut [u8] = &mut self.buf;
            match self
                .sock
                .recv(&mut slice, libc::MSG_DONTWAIT | libc::MSG_TRUNC)
            {
                Ok(n) if n > RECV_BUF => {
                    return Err(NetlinkError::Io(io::Error::other(format!(
                        "netlink datagram of {n} bytes exceeds the {RECV_BUF}-byte buffer"
                    ))))
                }
                Ok(n) => return Ok(&self.buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(NetlinkError::Io(e)),
            }
        }
    }
}

impl AsRawFd for RtSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
}
