//! Structured errors, carried on the wire as cordon.v1.Error (code = absl::StatusCode value).

use std::collections::BTreeMap;
use std::fmt;
use std::io;

use crate::proto;

/// Status codes, numerically identical to absl::StatusCode / google.rpc.Code, so a plugin error
/// reaches a C++ or Go host with the same code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Code {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl Code {
    /// Unknown values (and 0, which must not read as success inside an error) map to Unknown.
    pub fn from_i32(v: i32) -> Code {
        match v {
            1 => Code::Cancelled,
            3 => Code::InvalidArgument,
            4 => Code::DeadlineExceeded,
            5 => Code::NotFound,
            6 => Code::AlreadyExists,
            7 => Code::PermissionDenied,
            8 => Code::ResourceExhausted,
            9 => Code::FailedPrecondition,
            10 => Code::Aborted,
            11 => Code::OutOfRange,
            12 => Code::Unimplemented,
            13 => Code::Internal,
            14 => Code::Unavailable,
            15 => Code::DataLoss,
            16 => Code::Unauthenticated,
            _ => Code::Unknown,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }
}

/// An error with a status code, a message and optional string details. Handlers return it to
/// fail one call; the host sees the same code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    code: Code,
    message: String,
    details: BTreeMap<String, String>,
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

// Keeps an error well inside one datagram whatever a handler put in it (the host caps error
// messages at 16 KiB).
pub(crate) const MAX_ERROR_MESSAGE_BYTES: usize = 8 * 1024;

pub(crate) fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Error {
    /// `code` Ok is turned into Unknown: an error must never read as success.
    pub fn new(code: Code, message: impl Into<String>) -> Error {
        let code = if code == Code::Ok { Code::Unknown } else { code };
        Error { code, message: message.into(), details: BTreeMap::new() }
    }
    pub fn invalid_argument(message: impl Into<String>) -> Error {
        Error::new(Code::InvalidArgument, message)
    }
    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(Code::NotFound, message)
    }
    pub fn permission_denied(message: impl Into<String>) -> Error {
        Error::new(Code::PermissionDenied, message)
    }
    pub fn failed_precondition(message: impl Into<String>) -> Error {
        Error::new(Code::FailedPrecondition, message)
    }
    pub fn deadline_exceeded(message: impl Into<String>) -> Error {
        Error::new(Code::DeadlineExceeded, message)
    }
    pub fn resource_exhausted(message: impl Into<String>) -> Error {
        Error::new(Code::ResourceExhausted, message)
    }
    pub fn unimplemented(message: impl Into<String>) -> Error {
        Error::new(Code::Unimplemented, message)
    }
    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(Code::Internal, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Error {
        Error::new(Code::Unavailable, message)
    }
    pub fn data_loss(message: impl Into<String>) -> Error {
        Error::new(Code::DataLoss, message)
    }

    /// Adds a detail (sent as Error.details).
    pub fn with_detail(mut self, key: impl Into<String>, value: impl Into<String>) -> Error {
        self.details.insert(key.into(), value.into());
        self
    }

    /// Prefixes the message, keeping code and details.
    pub fn context(mut self, prefix: impl fmt::Display) -> Error {
        self.message = format!("{}: {}", prefix, self.message);
        self
    }

    pub fn code(&self) -> Code {
        self.code
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn details(&self) -> &BTreeMap<String, String> {
        &self.details
    }

    pub(crate) fn from_errno(errno: i32, what: &str) -> Error {
        Error::from(io::Error::from_raw_os_error(errno)).context(what)
    }

    pub(crate) fn last_os_error(what: &str) -> Error {
        Error::from(io::Error::last_os_error()).context(what)
    }

    pub(crate) fn to_proto(&self) -> proto::Error {
        proto::Error {
            code: self.code as i32,
            message: truncate_utf8(&self.message, MAX_ERROR_MESSAGE_BYTES).to_string(),
            details: self.details.iter().take(64).map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }

    pub(crate) fn from_proto(e: &proto::Error) -> Error {
        Error {
            code: Code::from_i32(e.code),
            message: e.message.clone(),
            details: e.details.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.message)
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        let code = match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => Code::NotFound,
            Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => Code::PermissionDenied,
            Some(libc::EEXIST) => Code::AlreadyExists,
            Some(libc::EINVAL) | Some(libc::ENAMETOOLONG) | Some(libc::ELOOP) => {
                Code::InvalidArgument
            }
            Some(libc::ENOMEM) | Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOSPC) => {
                Code::ResourceExhausted
            }
            Some(libc::ETIMEDOUT) => Code::DeadlineExceeded,
            Some(libc::ECONNREFUSED) | Some(libc::ECONNRESET) | Some(libc::EPIPE) => {
                Code::Unavailable
            }
            Some(libc::ENOSYS) => Code::Unimplemented,
            _ => match e.kind() {
                io::ErrorKind::NotFound => Code::NotFound,
                io::ErrorKind::PermissionDenied => Code::PermissionDenied,
                io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => Code::InvalidArgument,
                io::ErrorKind::TimedOut => Code::DeadlineExceeded,
                io::ErrorKind::UnexpectedEof => Code::DataLoss,
                _ => Code::Unknown,
            },
        };
        Error::new(code, e.to_string())
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e.code {
            Code::NotFound => io::ErrorKind::NotFound,
            Code::PermissionDenied => io::ErrorKind::PermissionDenied,
            Code::AlreadyExists => io::ErrorKind::AlreadyExists,
            Code::InvalidArgument => io::ErrorKind::InvalidInput,
            Code::DeadlineExceeded => io::ErrorKind::TimedOut,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_ok_is_never_an_error() {
        for v in 1..=16 {
            assert_eq!(Code::from_i32(v) as i32, if v == 2 { 2 } else { v });
        }
        assert_eq!(Code::from_i32(0), Code::Unknown);
        assert_eq!(Code::from_i32(99), Code::Unknown);
        assert_eq!(Error::new(Code::Ok, "x").code(), Code::Unknown);
    }

    #[test]
    fn io_errors_map_to_codes() {
        let e = Error::from(io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(e.code(), Code::NotFound);
        let e = Error::from(io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(e.code(), Code::PermissionDenied);
    }

    #[test]
    fn proto_message_is_capped_on_a_char_boundary() {
        let long = "é".repeat(MAX_ERROR_MESSAGE_BYTES);
        let p = Error::internal(long).to_proto();
        assert!(p.message.len() <= MAX_ERROR_MESSAGE_BYTES);
        assert!(p.message.chars().all(|c| c == 'é'));
        assert_eq!(p.code, 13);
    }
}
