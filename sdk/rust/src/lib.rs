//! cordon-plugin: write cordon plugins in Rust.
//!
//! A plugin is an executable the cordon launcher starts in a sandbox with one SOCK_SEQPACKET
//! channel on fd 3. This crate speaks the cordon.v1 protocol on it (byte for byte what the C++
//! SDK speaks): the handshake, method dispatch, heartbeats, memfd payloads, graceful shutdown,
//! and the broker through which a plugin opens granted files, connects to granted endpoints,
//! calls back into the host application and logs. See docs/rust.md.

mod channel;
mod error;
mod host;
mod payload;
mod plugin;
pub mod testing;

/// The cordon.v1 messages, generated from ipc/proto by prost-build.
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/cordon.v1.rs"));
}

pub use error::{Code, Error, Result};
pub use host::{Host, Level, OpenOptions};
pub use payload::Payload;
pub use plugin::{Call, Plugin, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN};

/// A connected SOCK_SEQPACKET | SOCK_CLOEXEC socket pair, for tests that play the host.
pub fn socket_pair() -> Result<(std::os::unix::io::OwnedFd, std::os::unix::io::OwnedFd)> {
    channel::Channel::socket_pair()
}

#[cfg(test)]
mod data_channel_tests;
#[cfg(test)]
mod fake_host_tests;
