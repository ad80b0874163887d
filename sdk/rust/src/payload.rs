//! Call inputs and outputs: inline bytes, or a sealed memfd mapped read-only. Mirrors
//! ipc/payload.cc and ipc/memfd_payload.cc: payloads above the inline threshold travel as a
//! memfd whose fd rides in the same datagram (SCM_RIGHTS), and a received memfd is accepted only
//! when it can never change again (write, grow, shrink and seal seals all set) and its size
//! matches the message and the cap.

use std::ffi::CString;
use std::fmt;
use std::ops::Deref;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};
use crate::proto;

const REQUIRED_SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// A read-only mapping of a fully sealed memfd.
struct SealedMapping {
    fd: OwnedFd,
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and the memfd is sealed against writes, so the bytes never
// change; sharing or moving the pointer across threads is as safe as sharing a &[u8].
unsafe impl Send for SealedMapping {}
unsafe impl Sync for SealedMapping {}

impl SealedMapping {
    fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: ptr maps len readable bytes for the lifetime of self.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for SealedMapping {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: ptr/len came from a successful mmap.
            unsafe { libc::munmap(self.ptr, self.len) };
        }
    }
}

enum Repr {
    Inline(Vec<u8>),
    Memfd(SealedMapping),
}

/// Bytes passed to or returned from a method. Dereferences to `[u8]`; a large payload received
/// as a memfd is read straight from the sender's pages without a copy.
pub struct Payload(Repr);

impl Payload {
    pub fn new() -> Payload {
        Payload(Repr::Inline(Vec::new()))
    }

    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(v) => v,
            Repr::Memfd(m) => m.bytes(),
        }
    }

    /// The bytes as UTF-8, or InvalidArgument.
    pub fn as_str(&self) -> Result<&str> {
        std::str::from_utf8(self.as_bytes())
            .map_err(|e| Error::invalid_argument(format!("input is not UTF-8: {}", e)))
    }

    /// True when the bytes arrived (or will leave) as a sealed memfd.
    pub fn is_memfd(&self) -> bool {
        matches!(self.0, Repr::Memfd(_))
    }

    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Inline(v) => v,
            Repr::Memfd(m) => m.bytes().to_vec(),
        }
    }

    /// Wraps a received or self-made memfd after checking its seals; `max_bytes` caps its size.
    pub fn from_sealed_memfd(fd: OwnedFd, max_bytes: u64) -> Result<Payload> {
        let size = memfd_size(&fd)?;
        open_sealed(fd, size, max_bytes)
    }

    /// A sealed memfd holding a copy of `data`: build a large result once and send it without a
    /// second copy through the socket.
    pub fn sealed_memfd(data: &[u8]) -> Result<Payload> {
        let fd = create_sealed_memfd("cordon-payload", data)?;
        open_sealed(fd, data.len() as u64, u64::MAX)
    }

    /// Fills a cordon.v1.Payload: inline up to `inline_threshold` bytes, else a memfd reference
    /// whose fd is appended to `fds`.
    pub(crate) fn to_proto(
        &self,
        inline_threshold: usize,
        fds: &mut Vec<OwnedFd>,
    ) -> Result<proto::Payload> {
        let (fd, size) = match &self.0 {
            Repr::Inline(v) if v.len() <= inline_threshold => {
                return Ok(proto::Payload { data: Some(proto::payload::Data::Inline(v.clone())) });
            }
            Repr::Inline(v) => (create_sealed_memfd("cordon-payload", v)?, v.len() as u64),
            Repr::Memfd(m) => (dup_cloexec(m.fd.as_raw_fd())?, m.len as u64),
        };
        let index = fds.len() as u32;
        fds.push(fd);
        Ok(proto::Payload {
            data: Some(proto::payload::Data::Memfd(proto::MemfdRef { fd_index: index, size })),
        })
    }

    /// Reads a received payload; a memfd reference takes its fd out of `fds` (by index).
    pub(crate) fn from_proto(
        p: Option<&proto::Payload>,
        fds: &mut [Option<OwnedFd>],
        max_bytes: u64,
    ) -> Result<Payload> {
        match p.and_then(|p| p.data.as_ref()) {
            None => Ok(Payload::new()),
            Some(proto::payload::Data::Inline(v)) => {
                if v.len() as u64 > max_bytes {
                    return Err(Error::invalid_argument(format!(
                        "inline payload of {} bytes exceeds the cap of {}",
                        v.len(),
                        max_bytes
                    )));
                }
                Ok(Payload(Repr::Inline(v.clone())))
            }
            Some(proto::payload::Data::Memfd(r)) => {
                let fd =
                    fds.get_mut(r.fd_index as usize).and_then(Option::take).ok_or_else(|| {
                        Error::invalid_argument(format!(
                            "payload refers to fd index {} but the message carries {} unused fds",
                            r.fd_index,
                            fds.iter().filter(|f| f.is_some()).count()
                        ))
                    })?;
                open_sealed(fd, r.size, max_bytes)
            }
            // Only sent to plugins that opt in with Hello.shared_input, which this SDK does not.
            Some(proto::payload::Data::Shared(_)) => Err(Error::invalid_argument(
                "shared-buffer payload, but this plugin did not opt in to shared inputs",
            )),
        }
    }
}

impl Default for Payload {
    fn default() -> Payload {
        Payload::new()
    }
}

impl Deref for Payload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payload")
            .field("len", &self.len())
            .field("memfd", &self.is_memfd())
            .finish()
    }
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Payload {
        Payload(Repr::Inline(v))
    }
}
impl From<&[u8]> for Payload {
    fn from(v: &[u8]) -> Payload {
        Payload(Repr::Inline(v.to_vec()))
    }
}
impl From<String> for Payload {
    fn from(s: String) -> Payload {
        Payload(Repr::Inline(s.into_bytes()))
    }
}
impl From<&str> for Payload {
    fn from(s: &str) -> Payload {
        Payload(Repr::Inline(s.as_bytes().to_vec()))
    }
}

fn dup_cloexec(fd: RawFd) -> Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on an fd we hold.
    let d = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if d < 0 {
        return Err(Error::last_os_error("dup payload memfd"));
    }
    // SAFETY: d is a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(d) })
}

fn memfd_size(fd: &OwnedFd) -> Result<u64> {
    // SAFETY: fstat into a zeroed struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(Error::last_os_error("fstat payload memfd"));
    }
    Ok(st.st_size as u64)
}

/// memfd_create + write + F_ADD_SEALS. write() rather than a mapping: one copy either way, and
/// no writable mapping to undo before F_SEAL_WRITE.
pub(crate) fn create_sealed_memfd(name: &str, data: &[u8]) -> Result<OwnedFd> {
    let cname = CString::new(name.replace('\0', "")).unwrap_or_default();
    // SAFETY: valid C string, flags.
    let fd =
        unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(Error::last_os_error("memfd_create"));
    }
    // SAFETY: fd was just created.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut off = 0;
    while off < data.len() {
        // SAFETY: writing from a live slice.
        let n = unsafe {
            libc::write(
                fd.as_raw_fd(),
                data[off..].as_ptr() as *const libc::c_void,
                data.len() - off,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(Error::from(e).context("write memfd"));
        }
        off += n as usize;
    }
    // SAFETY: fcntl on our fd.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, REQUIRED_SEALS) } != 0 {
        return Err(Error::last_os_error("seal memfd"));
    }
    Ok(fd)
}

fn open_sealed(fd: OwnedFd, expected_size: u64, max_bytes: u64) -> Result<Payload> {
    // SAFETY: fcntl on an fd we own.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if seals < 0 {
        return Err(Error::invalid_argument(
            "payload fd is not a sealable memfd (F_GET_SEALS failed)",
        ));
    }
    if seals & REQUIRED_SEALS != REQUIRED_SEALS {
        return Err(Error::invalid_argument(format!(
            "payload memfd is not fully sealed (seals {:#x}, need write|grow|shrink|seal {:#x})",
            seals, REQUIRED_SEALS
        )));
    }
    let size = memfd_size(&fd)?;
    if size != expected_size {
        return Err(Error::invalid_argument(format!(
            "payload memfd is {} bytes but the message says {}",
            size, expected_size
        )));
    }
    if size > max_bytes || size > isize::MAX as u64 {
        return Err(Error::invalid_argument(format!(
            "payload memfd of {} bytes exceeds the cap of {}",
            size, max_bytes
        )));
    }
    let len = size as usize;
    let mut ptr = std::ptr::null_mut();
    if len > 0 {
        // SAFETY: read-only shared mapping of a sealed file of len bytes.
        ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::last_os_error("mmap payload memfd read-only"));
        }
    }
    Ok(Payload(Repr::Memfd(SealedMapping { fd, ptr, len })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_payloads_stay_inline() {
        let mut fds = Vec::new();
        let p = Payload::from("abc").to_proto(16, &mut fds).unwrap();
        assert!(fds.is_empty());
        let mut slots: Vec<Option<OwnedFd>> = Vec::new();
        let back = Payload::from_proto(Some(&p), &mut slots, 1024).unwrap();
        assert_eq!(&*back, b"abc");
        assert!(!back.is_memfd());
    }

    #[test]
    fn large_payloads_travel_as_sealed_memfds() {
        let data = vec![42u8; 100_000];
        let mut fds = Vec::new();
        let p = Payload::from(data.clone()).to_proto(16 * 1024, &mut fds).unwrap();
        assert_eq!(fds.len(), 1);
        let mut slots: Vec<Option<OwnedFd>> = fds.into_iter().map(Some).collect();
        let back = Payload::from_proto(Some(&p), &mut slots, 1 << 20).unwrap();
        assert!(back.is_memfd());
        assert_eq!(&*back, &data[..]);
        assert!(slots[0].is_none(), "the fd is taken by the payload");
    }

    #[test]
    fn unsealed_wrong_size_oversized_and_bad_index_are_rejected() {
        // An unsealed memfd.
        let name = CString::new("x").unwrap();
        let raw = unsafe {
            libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
        };
        assert!(raw >= 0);
        let unsealed = unsafe { OwnedFd::from_raw_fd(raw) };
        let e = Payload::from_sealed_memfd(unsealed, 100).unwrap_err();
        assert!(e.message().contains("not fully sealed"), "{}", e);

        let sealed = create_sealed_memfd("y", b"12345").unwrap();
        let p = proto::Payload {
            data: Some(proto::payload::Data::Memfd(proto::MemfdRef { fd_index: 0, size: 4 })),
        };
        let mut slots = vec![Some(sealed)];
        assert!(Payload::from_proto(Some(&p), &mut slots, 100)
            .unwrap_err()
            .message()
            .contains("message says 4"));

        let sealed = create_sealed_memfd("z", b"12345").unwrap();
        let p = proto::Payload {
            data: Some(proto::payload::Data::Memfd(proto::MemfdRef { fd_index: 0, size: 5 })),
        };
        let mut slots = vec![Some(sealed)];
        assert!(Payload::from_proto(Some(&p), &mut slots, 4)
            .unwrap_err()
            .message()
            .contains("exceeds the cap"));

        let p = proto::Payload {
            data: Some(proto::payload::Data::Memfd(proto::MemfdRef { fd_index: 3, size: 5 })),
        };
        assert!(Payload::from_proto(Some(&p), &mut [], 100)
            .unwrap_err()
            .message()
            .contains("fd index 3"));

        let p = proto::Payload { data: Some(proto::payload::Data::Inline(vec![0; 10])) };
        assert!(Payload::from_proto(Some(&p), &mut [], 9).is_err());
    }
}
