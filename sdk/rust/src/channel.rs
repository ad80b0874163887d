//! One end of the SOCK_SEQPACKET channel: one datagram = one Envelope, with optional fds passed
//! by SCM_RIGHTS. Mirrors ipc/seqpacket_channel.cc: the receive buffer is sized from our own cap
//! (never from a length the peer chose), oversize is detected with MSG_TRUNC, and every fd that
//! arrives is owned (and so closed) even when the datagram is rejected.

use std::mem;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Room for the fd cap plus one, so a flood is seen as "too many" rather than as truncated
/// control data (same as the C++ side).
const MAX_FDS_HARD_LIMIT: usize = 64;

pub(crate) struct Datagram {
    pub bytes: Vec<u8>,
    pub fds: Vec<OwnedFd>,
}

pub(crate) enum Received {
    Datagram(Datagram),
    /// The peer closed its end.
    Closed,
    /// Nothing before the deadline.
    TimedOut,
    /// The wake fd became readable (we are stopping).
    Woken,
}

pub(crate) struct Channel {
    fd: OwnedFd,
    max_datagram_bytes: usize,
    max_fds: usize,
    // None: send waits for room as long as it takes (the launcher's channel, whose reader
    // is trusted); Some: a peer that leaves its queue full this long fails the send.
    send_timeout: Option<Duration>,
}

fn cmsg_space(fds: usize) -> usize {
    // SAFETY: CMSG_SPACE is pure arithmetic.
    unsafe { libc::CMSG_SPACE((fds * mem::size_of::<RawFd>()) as libc::c_uint) as usize }
}

fn poll_timeout_ms(deadline: Option<Instant>) -> libc::c_int {
    match deadline {
        None => -1,
        Some(d) => {
            let now = Instant::now();
            if d <= now {
                0
            } else {
                // Round up so we never wake a little early and spin.
                let left = d - now;
                let ms = left.as_millis() + u128::from(left.subsec_nanos() % 1_000_000 != 0);
                ms.min(1 << 30) as libc::c_int
            }
        }
    }
}

impl Channel {
    pub fn new(fd: OwnedFd, max_datagram_bytes: usize, max_fds: usize) -> Channel {
        Channel {
            fd,
            max_datagram_bytes,
            max_fds: max_fds.min(MAX_FDS_HARD_LIMIT),
            send_timeout: None,
        }
    }

    /// Bounds how long `send` waits for room in the peer's queue (see `send_timeout`).
    pub fn with_send_timeout(mut self, timeout: Duration) -> Channel {
        self.send_timeout = Some(timeout);
        self
    }

    pub fn max_datagram_bytes(&self) -> usize {
        self.max_datagram_bytes
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Ends the connection both ways (the peer reads EOF) while the fd stays open.
    pub fn shutdown(&self) {
        // SAFETY: shutdown on an fd we own; no memory is involved.
        unsafe { libc::shutdown(self.fd.as_raw_fd(), libc::SHUT_RDWR) };
    }

    /// A connected SOCK_SEQPACKET | SOCK_CLOEXEC pair (tests and fake hosts).
    pub fn socket_pair() -> Result<(OwnedFd, OwnedFd)> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: fds is a valid two-element array.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if r != 0 {
            return Err(Error::last_os_error("socketpair(AF_UNIX, SOCK_SEQPACKET)"));
        }
        // SAFETY: both fds were just created and are owned by nobody else.
        Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    }

    /// Sends one datagram. Safe to call from several threads at once: each datagram is one
    /// sendmsg(2), which the kernel delivers whole.
    pub fn send(&self, bytes: &[u8], fds: &[RawFd]) -> Result<()> {
        if bytes.len() > self.max_datagram_bytes {
            return Err(Error::invalid_argument(format!(
                "message of {} bytes exceeds the datagram cap of {}",
                bytes.len(),
                self.max_datagram_bytes
            )));
        }
        if fds.len() > self.max_fds {
            return Err(Error::invalid_argument(format!(
                "{} fds exceed the per-message cap of {}",
                fds.len(),
                self.max_fds
            )));
        }
        let mut iov =
            libc::iovec { iov_base: bytes.as_ptr() as *mut libc::c_void, iov_len: bytes.len() };
        // u64 elements: cmsghdr alignment.
        let mut control = vec![0u64; (cmsg_space(MAX_FDS_HARD_LIMIT) + 7) / 8];
        // SAFETY: zeroed msghdr is a valid "no name, no control" header.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
            msg.msg_controllen = cmsg_space(fds.len()) as _;
            // SAFETY: the control buffer holds CMSG_SPACE(fds) bytes, aligned for cmsghdr.
            unsafe {
                let cmsg = libc::CMSG_FIRSTHDR(&msg);
                (*cmsg).cmsg_level = libc::SOL_SOCKET;
                (*cmsg).cmsg_type = libc::SCM_RIGHTS;
                (*cmsg).cmsg_len =
                    libc::CMSG_LEN((fds.len() * mem::size_of::<RawFd>()) as libc::c_uint) as _;
                std::ptr::copy_nonoverlapping(
                    fds.as_ptr() as *const u8,
                    libc::CMSG_DATA(cmsg),
                    fds.len() * mem::size_of::<RawFd>(),
                );
            }
        }
        let deadline = self.send_timeout.map(|t| Instant::now() + t);
        let flags = libc::MSG_NOSIGNAL | if deadline.is_some() { libc::MSG_DONTWAIT } else { 0 };
        loop {
            // SAFETY: msg points at live buffers for the duration of the call.
            let n = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &msg, flags) };
            if n >= 0 {
                return Ok(());
            }
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            match errno {
                libc::EINTR => continue,
                libc::EAGAIN => {
                    // A full peer queue: wait for room rather than drop, within the bound.
                    if deadline.map_or(false, |d| Instant::now() >= d) {
                        return Err(Error::deadline_exceeded(
                            "the peer has not read its channel in time (its queue is full)",
                        ));
                    }
                    let mut pfd =
                        libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
                    // SAFETY: one valid pollfd.
                    unsafe { libc::poll(&mut pfd, 1, poll_timeout_ms(deadline)) };
                }
                libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN => {
                    return Err(Error::unavailable("the host closed the channel"));
                }
                _ => return Err(Error::from_errno(errno, "sendmsg on the channel")),
            }
        }
    }

    /// Waits for a datagram until `deadline` (None: forever) or until `wake` is readable.
    /// Must be called by one thread at a time.
    pub fn receive(
        &self,
        buf: &mut Vec<u8>,
        deadline: Option<Instant>,
        wake: Option<RawFd>,
    ) -> Result<Received> {
        loop {
            let mut pfds = [
                libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 },
                libc::pollfd { fd: wake.unwrap_or(-1), events: libc::POLLIN, revents: 0 },
            ];
            let nfds = if wake.is_some() { 2 } else { 1 };
            // SAFETY: pfds holds nfds valid entries.
            let r = unsafe { libc::poll(pfds.as_mut_ptr(), nfds, poll_timeout_ms(deadline)) };
            if r < 0 {
                let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                if errno == libc::EINTR {
                    continue;
                }
                return Err(Error::from_errno(errno, "poll on the channel"));
            }
            if nfds == 2 && pfds[1].revents != 0 {
                return Ok(Received::Woken);
            }
            if r == 0 {
                match deadline {
                    Some(d) if Instant::now() >= d => return Ok(Received::TimedOut),
                    _ => continue,
                }
            }
            match self.receive_now(buf)? {
                Some(r) => return Ok(r),
                None => continue, // spurious wake-up
            }
        }
    }

    fn receive_now(&self, buf: &mut Vec<u8>) -> Result<Option<Received>> {
        if buf.len() < self.max_datagram_bytes {
            buf.resize(self.max_datagram_bytes, 0);
        }
        let mut iov =
            libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: buf.len() };
        let mut control = vec![0u64; (cmsg_space(MAX_FDS_HARD_LIMIT + 1) + 7) / 8];
        // SAFETY: zeroed msghdr then filled with live buffers.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = cmsg_space(self.max_fds + 1) as _;
        let n = loop {
            // SAFETY: msg points at live buffers.
            let n = unsafe {
                libc::recvmsg(
                    self.fd.as_raw_fd(),
                    &mut msg,
                    libc::MSG_CMSG_CLOEXEC | libc::MSG_TRUNC | libc::MSG_DONTWAIT,
                )
            };
            if n >= 0 {
                break n as usize;
            }
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            match errno {
                libc::EINTR => continue,
                libc::EAGAIN => return Ok(None),
                libc::ECONNRESET => return Ok(Some(Received::Closed)),
                _ => return Err(Error::from_errno(errno, "recvmsg on the channel")),
            }
        };
        // Own every fd first so each error path below closes them.
        let mut fds = Vec::new();
        // SAFETY: walking the control buffer the kernel filled, within msg_controllen.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                    let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize)
                        / mem::size_of::<RawFd>();
                    let data = libc::CMSG_DATA(c) as *const RawFd;
                    for i in 0..count {
                        let fd = std::ptr::read_unaligned(data.add(i));
                        fds.push(OwnedFd::from_raw_fd(fd));
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        if n == 0 && fds.is_empty() && msg.msg_flags & libc::MSG_TRUNC == 0 {
            // SEQPACKET reports EOF as a zero-length read; an empty datagram is never a valid
            // envelope anyway.
            return Ok(Some(Received::Closed));
        }
        if msg.msg_flags & libc::MSG_CTRUNC != 0 {
            return Err(Error::invalid_argument(format!(
                "control data truncated (more than {} fds or unexpected ancillary data)",
                self.max_fds
            )));
        }
        if fds.len() > self.max_fds {
            return Err(Error::invalid_argument(format!(
                "message carries {} fds, cap is {}",
                fds.len(),
                self.max_fds
            )));
        }
        if msg.msg_flags & libc::MSG_TRUNC != 0 || n > self.max_datagram_bytes {
            return Err(Error::invalid_argument(format!(
                "datagram of {} bytes exceeds the cap of {}",
                n, self.max_datagram_bytes
            )));
        }
        Ok(Some(Received::Datagram(Datagram { bytes: buf[..n].to_vec(), fds })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn datagrams_and_fds_round_trip() {
        let (a, b) = Channel::socket_pair().unwrap();
        let a = Channel::new(a, 1024, 4);
        let b = Channel::new(b, 1024, 4);
        let (x, _y) = Channel::socket_pair().unwrap();
        a.send(b"hello", &[x.as_raw_fd()]).unwrap();
        let mut buf = Vec::new();
        match b.receive(&mut buf, None, None).unwrap() {
            Received::Datagram(d) => {
                assert_eq!(d.bytes, b"hello");
                assert_eq!(d.fds.len(), 1);
            }
            _ => panic!("expected a datagram"),
        }
    }

    #[test]
    fn oversized_datagram_is_rejected_and_send_cap_enforced() {
        let (a, b) = Channel::socket_pair().unwrap();
        let big = Channel::new(a, 4096, 4);
        let small = Channel::new(b, 16, 4);
        big.send(&[7u8; 100], &[]).unwrap();
        let mut buf = Vec::new();
        let e = small.receive(&mut buf, None, None).err().expect("oversize must fail");
        assert!(e.message().contains("exceeds the cap"), "{}", e);
        assert!(small.send(&[0u8; 17], &[]).is_err());
    }

    #[test]
    fn too_many_fds_are_rejected() {
        let (a, b) = Channel::socket_pair().unwrap();
        let sender = Channel::new(a, 1024, 8);
        let receiver = Channel::new(b, 1024, 2);
        let (x, y) = Channel::socket_pair().unwrap();
        let raw = [x.as_raw_fd(), y.as_raw_fd(), x.as_raw_fd()];
        sender.send(b"m", &raw).unwrap();
        let mut buf = Vec::new();
        assert!(receiver.receive(&mut buf, None, None).is_err());
    }

    #[test]
    fn eof_timeout_and_wake() {
        let (a, b) = Channel::socket_pair().unwrap();
        let b = Channel::new(b, 1024, 4);
        let mut buf = Vec::new();
        let r =
            b.receive(&mut buf, Some(Instant::now() + Duration::from_millis(10)), None).unwrap();
        assert!(matches!(r, Received::TimedOut));
        let (w1, w2) = Channel::socket_pair().unwrap();
        Channel::new(w1, 16, 0).send(b"x", &[]).unwrap();
        assert!(matches!(
            b.receive(&mut buf, None, Some(w2.as_raw_fd())).unwrap(),
            Received::Woken
        ));
        drop(a);
        assert!(matches!(b.receive(&mut buf, None, None).unwrap(), Received::Closed));
    }
}
