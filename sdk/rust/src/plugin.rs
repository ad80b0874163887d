//! The plugin side of the cordon protocol, wire-compatible with sdk/cpp/plugin.cc and
//! ipc/plugin_session.cc: Hello -> Welcome/Reject -> Ready, then calls served one at a time in
//! arrival order, heartbeats at the interval the Welcome asks for, and ShutdownAck after every
//! call received before the ShutdownRequest has been answered.
//!
//! Threads: the serving thread runs the handlers; a reader thread owns receiving (so a handler
//! blocked on a broker request still gets its response); a heartbeat thread keeps the host's
//! liveness watchdog fed even while a handler computes.

use std::collections::BTreeMap;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use prost::Message;

use crate::channel::{Channel, Received};
use crate::error::{Code, Error, Result};
use crate::host::{send_envelope, Host, Inbound, Routed, Shared};
use crate::payload::Payload;
use crate::proto;
use crate::proto::envelope::Msg;

/// Protocol versions this crate speaks (cordon.v1, versions 1..1).
pub const PROTOCOL_VERSION_MIN: u32 = 1;
pub const PROTOCOL_VERSION_MAX: u32 = 1;

const SDK_ID: &str = concat!("cordon-sdk-rust/", env!("CARGO_PKG_VERSION"));
const MAX_METHODS: usize = 1024;
const MAX_METHOD_BYTES: usize = 128;
// Fds one datagram may carry (a payload memfd, an opened file, ...), as the C++ channel.
const MAX_FDS_PER_DATAGRAM: usize = 4;
// Cap on one datagram on a data channel, where calls and results travel inline.
const MAX_DATA_DATAGRAM_BYTES: usize = 1 << 20;
// Data channels offered by default (Hello.data_channels.max_open).
const DEFAULT_MAX_DATA_CHANNELS: u32 = 4;

/// What a handler knows about the call it serves.
pub struct Call {
    id: u64,
    method: String,
    deadline: Option<Instant>,
    host: Host,
}

impl Call {
    pub fn id(&self) -> u64 {
        self.id
    }
    pub fn method(&self) -> &str {
        &self.method
    }
    /// The host kills the plugin when this passes; long handlers should check it.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
    /// Time left before the deadline (None: no deadline).
    pub fn time_left(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }
    /// The broker and logging; requests made through it wait at most until the call's deadline.
    pub fn host(&self) -> &Host {
        &self.host
    }
}

type Handler = Box<dyn FnMut(&Call, Payload) -> Result<Payload> + Send>;
type ConfigureHook = Box<dyn FnMut(&proto::Welcome) -> Result<()> + Send>;

/// A cordon plugin: register methods, then [`Plugin::serve`] (or [`Plugin::run`] from main).
///
/// ```no_run
/// use cordon_plugin::{Plugin, Error};
/// fn main() -> std::process::ExitCode {
///     let mut plugin = Plugin::new("echo", "1.0.0");
///     plugin.method("echo", |_call, input| Ok(input));
///     plugin.method("reverse", |_call, input| {
///         let mut v = input.into_vec();
///         v.reverse();
///         Ok::<_, Error>(v)
///     });
///     plugin.run()
/// }
/// ```
pub struct Plugin {
    name: String,
    version: String,
    protocol: (u32, u32),
    requested_capabilities: Vec<proto::Capability>,
    handlers: BTreeMap<String, Handler>,
    configure: Option<ConfigureHook>,
    handshake_timeout: Duration,
    broker_timeout: Duration,
    inline_threshold: usize,
    max_datagram_bytes: usize,
    single_threaded: bool,
    max_data_channels: u32,
}

fn is_valid_plugin_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|&c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'_' || c == b'-'
        })
}

fn is_valid_semver(v: &str) -> bool {
    if v.is_empty() || v.len() > 64 {
        return false;
    }
    let (core, rest) = match v.find(|c| c == '-' || c == '+') {
        Some(i) => (&v[..i], Some(&v[i + 1..])),
        None => (v, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let core_ok = parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|c| c.is_ascii_digit())
                && !(p.len() > 1 && p.starts_with('0'))
        });
    let rest_ok = match rest {
        None => true,
        Some(r) => {
            !r.is_empty()
                && r.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'+')
        }
    };
    core_ok && rest_ok
}

fn is_valid_method_name(m: &str) -> bool {
    !m.is_empty()
        && m.len() <= MAX_METHOD_BYTES
        && m.bytes().all(|c| c.is_ascii_alphanumeric() || b"_.:/-".contains(&c))
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// An eventfd the serving thread writes to stop the reader thread's poll.
fn new_eventfd() -> Result<OwnedFd> {
    // SAFETY: plain syscall.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(Error::last_os_error("eventfd"));
    }
    // SAFETY: new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn wake(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writing 8 bytes from a live u64. A failure (counter overflow) cannot leave the
    // reader asleep: the counter is then already non-zero.
    unsafe { libc::write(fd, &one as *const u64 as *const libc::c_void, 8) };
}

impl Plugin {
    /// `name` as in the manifest ([a-z0-9][a-z0-9._-]{0,63}); `version` a semantic version.
    pub fn new(name: &str, version: &str) -> Plugin {
        Plugin {
            name: name.to_string(),
            version: version.to_string(),
            protocol: (PROTOCOL_VERSION_MIN, PROTOCOL_VERSION_MAX),
            requested_capabilities: Vec::new(),
            handlers: BTreeMap::new(),
            configure: None,
            handshake_timeout: Duration::from_secs(30),
            broker_timeout: Duration::from_secs(30),
            inline_threshold: 16 * 1024,
            max_datagram_bytes: 64 * 1024,
            single_threaded: false,
            max_data_channels: DEFAULT_MAX_DATA_CHANNELS,
        }
    }

    /// Registers a method. A second registration of the same name replaces the first. The
    /// handler returns anything convertible into a [`Payload`] (Vec<u8>, String, &str, ...), or
    /// an [`Error`] that reaches the host with the same code. A panicking handler fails its call
    /// with INTERNAL, not the plugin.
    pub fn method<F, R>(&mut self, name: &str, mut handler: F) -> &mut Plugin
    where
        F: FnMut(&Call, Payload) -> Result<R> + Send + 'static,
        R: Into<Payload>,
    {
        self.handlers.insert(
            name.to_string(),
            Box::new(move |call, input| handler(call, input).map(Into::into)),
        );
        self
    }

    /// Asks for a capability in the Hello; the host grants a subset (see Host::is_granted).
    pub fn request_capability(&mut self, kind: &str, target: &str) -> &mut Plugin {
        self.requested_capabilities
            .push(proto::Capability { kind: kind.to_string(), target: target.to_string() });
        self
    }

    /// Runs once with the host's Welcome; an error is sent back as the configure failure and
    /// serve() returns it.
    pub fn on_configure<F>(&mut self, hook: F) -> &mut Plugin
    where
        F: FnMut(&proto::Welcome) -> Result<()> + Send + 'static,
    {
        self.configure = Some(Box::new(hook));
        self
    }

    /// Protocol versions to offer (default 1..1).
    pub fn protocol(&mut self, min: u32, max: u32) -> &mut Plugin {
        self.protocol = (min, max);
        self
    }

    pub fn handshake_timeout(&mut self, d: Duration) -> &mut Plugin {
        self.handshake_timeout = d;
        self
    }

    /// Longest wait for a broker answer outside a call (inside one, the call's deadline).
    pub fn broker_timeout(&mut self, d: Duration) -> &mut Plugin {
        self.broker_timeout = d;
        self
    }

    /// Results larger than this travel as sealed memfds (default 16 KiB).
    pub fn inline_threshold(&mut self, bytes: usize) -> &mut Plugin {
        self.inline_threshold = bytes;
        self
    }

    /// Serve on the calling thread alone: no reader thread (a handler waiting for a broker
    /// answer receives it itself, queueing calls that arrive meanwhile) and no heartbeats. The
    /// SDK falls back to this by itself when the sandbox forbids creating threads (profiles
    /// without the "process" syscall group, e.g. "minimal").
    pub fn single_threaded(&mut self, yes: bool) -> &mut Plugin {
        self.single_threaded = yes;
        self
    }

    /// How many data channels to offer the host at once (default 4; 0: none, every call comes
    /// through the host). Each is a call-only socket the host hands over with DataChannelOpen
    /// and takes back with DataChannelClose (see envelope.proto). Single-threaded serving
    /// offers none.
    pub fn max_data_channels(&mut self, n: u32) -> &mut Plugin {
        self.max_data_channels = n;
        self
    }

    /// Serves on the channel fd named by $CORDON_CHANNEL_FD (default 3) until the host asks for
    /// shutdown (Ok) or the channel fails / the host rejects the plugin (Err). Calls arriving
    /// on the data channels the host opens are served too, by the same handlers, one at a time
    /// with the others, until the host closes them. A host breaking the data-channel rules (an
    /// open without its fd, a reused id, over the cap, a close of a channel never opened) ends
    /// serving with an error.
    pub fn serve(self) -> Result<()> {
        let fd: RawFd = match std::env::var("CORDON_CHANNEL_FD") {
            Ok(v) if !v.is_empty() => {
                v.parse().ok().filter(|&n: &RawFd| n >= 0).ok_or_else(|| {
                    Error::invalid_argument(format!(
                        "CORDON_CHANNEL_FD='{}' is not a file descriptor number",
                        v
                    ))
                })?
            }
            _ => 3,
        };
        // SAFETY: fcntl(F_GETFD) only checks that fd is open before we take ownership of it;
        // the launcher hands the channel to the plugin for exactly this purpose.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return Err(Error::failed_precondition(format!(
                "fd {} is not open: run this plugin under cordon (cordon call BUNDLE METHOD), which passes the channel",
                fd
            )));
        }
        // A host from before DataChannelOpen passed one shared data channel as fd 4; it is not
        // served (any earlier holder could keep using it) but closed: that host then serves
        // every call through itself.
        if let Some(d) = std::env::var("CORDON_DATA_FD")
            .ok()
            .and_then(|v| v.parse::<RawFd>().ok())
            .filter(|&d| d > 2 && d != fd)
        {
            // SAFETY: closing an fd the launcher passed for this SDK and nothing else uses.
            unsafe { libc::close(d) };
        }
        // SAFETY: see above; nothing else in the process owns the channel fd.
        let channel = unsafe { OwnedFd::from_raw_fd(fd) };
        self.serve_fd(channel)
    }

    /// serve() and turn the result into an exit code (0 on clean shutdown), printing any error
    /// to stderr. For main(): `plugin.run()`.
    pub fn run(self) -> ExitCode {
        let label = format!("{} {}", self.name, self.version);
        match self.serve() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{}: {}", label, e);
                ExitCode::FAILURE
            }
        }
    }

    fn validate(&self) -> Result<()> {
        if !is_valid_plugin_name(&self.name) {
            return Err(Error::invalid_argument(format!(
                "plugin name '{}' must match [a-z0-9][a-z0-9._-]{{0,63}}",
                self.name
            )));
        }
        if !is_valid_semver(&self.version) {
            return Err(Error::invalid_argument(format!(
                "plugin version '{}' is not a semantic version",
                self.version
            )));
        }
        if self.handlers.len() > MAX_METHODS {
            return Err(Error::invalid_argument(format!(
                "{} methods, at most {}",
                self.handlers.len(),
                MAX_METHODS
            )));
        }
        if let Some(bad) = self.handlers.keys().find(|m| !is_valid_method_name(m)) {
            return Err(Error::invalid_argument(format!(
                "method name '{}' must be 1..128 of [A-Za-z0-9_.:/-]",
                bad
            )));
        }
        if self.protocol.0 == 0 || self.protocol.0 > self.protocol.1 {
            return Err(Error::invalid_argument(format!(
                "protocol range [{}, {}] is empty",
                self.protocol.0, self.protocol.1
            )));
        }
        Ok(())
    }

    /// Serves on `fd` (takes ownership); see serve().
    pub fn serve_fd(mut self, fd: OwnedFd) -> Result<()> {
        self.validate()?;
        let channel = Channel::new(fd, self.max_datagram_bytes, MAX_FDS_PER_DATAGRAM);
        // Data channels are served by this (the serving) thread while a reader thread receives
        // fd 3, so they are offered only when threads can be made.
        let offered = if self.single_threaded || self.max_data_channels == 0 {
            0
        } else if thread::Builder::new().spawn(|| {}).map(|h| h.join()).is_ok() {
            self.max_data_channels
        } else {
            0
        };
        let welcome = self.handshake(&channel, offered)?;
        let wake_fd = new_eventfd()?;
        // Written by the reader thread after each message it queues, so the serving thread can
        // wait for fd 3's traffic and the data channel in one poll.
        let notify_fd = new_eventfd()?;
        let (tx, rx) = mpsc::channel();
        let heartbeat_ms = welcome.limits.as_ref().map(|l| l.heartbeat_interval_ms).unwrap_or(0);
        let shared = Arc::new(Shared::new(
            channel,
            welcome,
            self.name.clone(),
            self.inline_threshold,
            self.broker_timeout,
        ));

        // Some profiles forbid creating threads (no clone): then serve on this thread alone,
        // receiving wherever a message is awaited, and without heartbeats.
        let reader = if self.single_threaded {
            Err(std::io::Error::new(std::io::ErrorKind::Other, "single-threaded by request"))
        } else {
            let shared = Arc::clone(&shared);
            let wake = wake_fd.as_raw_fd();
            let notify = notify_fd.as_raw_fd();
            thread::Builder::new().spawn(move || reader_loop(&shared, wake, notify, &tx))
        };
        let reader = match reader {
            Ok(r) => Some(r),
            Err(e) if self.single_threaded => {
                let _ = e;
                shared.set_inline();
                None
            }
            Err(e) => {
                eprintln!(
                    "{}: cannot start the reader thread ({}); serving single-threaded",
                    self.name, e
                );
                shared.set_inline();
                None
            }
        };
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let heartbeat = if heartbeat_ms > 0 && reader.is_some() {
            let shared = Arc::clone(&shared);
            let stop = Arc::clone(&stop);
            let interval = Duration::from_millis(heartbeat_ms);
            match thread::Builder::new().spawn(move || heartbeat_loop(&shared, interval, &stop)) {
                Ok(h) => Some(h),
                Err(e) => {
                    eprintln!("{}: cannot start the heartbeat thread: {}", self.name, e);
                    None
                }
            }
        } else {
            if heartbeat_ms > 0 && !self.single_threaded {
                eprintln!(
                    "{}: no heartbeat thread; the host may consider long calls hung",
                    self.name
                );
            }
            None
        };

        // Offered but without a reader thread nobody can serve them: the host's opens are
        // still accounted (its closes must match), and each socket is closed at once, so its
        // holder reads EOF, not silence.
        let mut data = DataChannels::new(offered, reader.is_some());
        let result = if reader.is_some() {
            let mut buf = Vec::new();
            let notify = notify_fd.as_raw_fd();
            self.dispatch(&shared, &mut data, |data| next_with_data(&rx, data, notify, &mut buf))
        } else {
            self.dispatch(&shared, &mut data, |_| shared.next_inline())
        };

        *stop.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
        stop.1.notify_all();
        wake(wake_fd.as_raw_fd());
        if let Some(h) = heartbeat {
            let _ = h.join();
        }
        if let Some(r) = reader {
            let _ = r.join();
        }
        shared.close(Error::unavailable("the plugin has stopped serving"));
        result
    }

    fn handshake(&mut self, channel: &Channel, data_channels: u32) -> Result<proto::Welcome> {
        let hello = proto::Hello {
            protocol: Some(proto::VersionRange { min: self.protocol.0, max: self.protocol.1 }),
            name: self.name.clone(),
            version: self.version.clone(),
            methods: self.handlers.keys().cloned().collect(),
            requested_capabilities: self.requested_capabilities.clone(),
            sdk: SDK_ID.to_string(),
            // Shared inputs and results are opt-in; this SDK takes inputs inline or as memfds
            // and sends results the same way.
            shared_input: None,
            shared_result: None,
            data_channels: (data_channels > 0)
                .then(|| proto::DataChannelSupport { max_open: data_channels }),
        };
        send_envelope(channel, Msg::Hello(hello), &[]).map_err(|e| e.context("sending hello"))?;
        let mut buf = Vec::new();
        let deadline = Instant::now() + self.handshake_timeout;
        let dg = match channel.receive(&mut buf, Some(deadline), None) {
            Ok(Received::Datagram(d)) => d,
            Ok(Received::TimedOut) => {
                return Err(Error::deadline_exceeded(
                    "waiting for the host's welcome: no answer within the handshake timeout",
                ))
            }
            Ok(_) => {
                return Err(Error::unavailable(
                    "waiting for the host's welcome: the host closed the channel",
                ))
            }
            Err(e) => return Err(e.context("waiting for the host's welcome")),
        };
        let env = proto::Envelope::decode(&dg.bytes[..]).map_err(|e| {
            Error::invalid_argument(format!(
                "the host's answer to hello is not a cordon.v1.Envelope: {}",
                e
            ))
        })?;
        let welcome = match env.msg {
            Some(Msg::Welcome(w)) => w,
            Some(Msg::Reject(r)) => {
                let (min, max) = r.host_protocol.map(|p| (p.min, p.max)).unwrap_or((0, 0));
                return Err(Error::failed_precondition(format!(
                    "the host rejected this plugin: {} (host protocol [{}, {}])",
                    r.reason, min, max
                )));
            }
            other => {
                return Err(Error::invalid_argument(format!(
                    "expected welcome or reject, got {}",
                    message_name(other.as_ref())
                )))
            }
        };
        let mut configured = if welcome.protocol_version < self.protocol.0
            || welcome.protocol_version > self.protocol.1
        {
            Err(Error::failed_precondition(format!(
                "the host chose protocol version {}, this plugin speaks [{}, {}]",
                welcome.protocol_version, self.protocol.0, self.protocol.1
            )))
        } else {
            Ok(())
        };
        if configured.is_ok() {
            if let Some(hook) = self.configure.as_mut() {
                configured = match catch_unwind(AssertUnwindSafe(|| hook(&welcome))) {
                    Ok(r) => r,
                    Err(p) => Err(Error::internal(format!(
                        "configure hook panicked: {}",
                        panic_message(&*p)
                    ))),
                };
            }
        }
        let ready = proto::Ready { error: configured.as_ref().err().map(Error::to_proto) };
        send_envelope(channel, Msg::Ready(ready), &[]).map_err(|e| e.context("sending ready"))?;
        configured.map_err(|e| e.context("configure"))?;
        Ok(welcome)
    }

    fn dispatch(
        &mut self,
        shared: &Arc<Shared>,
        data: &mut DataChannels,
        mut next: impl FnMut(&mut DataChannels) -> Inbound,
    ) -> Result<()> {
        loop {
            match next(data) {
                Inbound::Call(request, fds) => self.handle_call(shared, request, fds, None),
                Inbound::DataCall(id, request) => {
                    if let Some(Some(dc)) = data.open.get(&id) {
                        self.handle_call(shared, request, Vec::new(), Some(dc))
                    }
                }
                Inbound::DataOpen(id, fds) => data.open(id, fds)?,
                Inbound::DataClose(id) => data.close(id)?,
                // Calls are served in order, so everything sent before the request is answered.
                Inbound::Shutdown => {
                    return shared.send(Msg::ShutdownAck(proto::ShutdownAck {}), &[])
                }
                Inbound::Closed(e) => return Err(e),
            }
        }
    }

    fn handle_call(
        &mut self,
        shared: &Arc<Shared>,
        request: proto::CallRequest,
        fds: Vec<OwnedFd>,
        data: Option<&Channel>,
    ) {
        let deadline = if request.timeout_ms > 0 {
            Instant::now().checked_add(Duration::from_millis(request.timeout_ms))
        } else {
            None
        };
        let call = Call {
            id: request.id,
            method: request.method.clone(),
            deadline,
            host: Host::new(Arc::clone(shared), deadline),
        };
        let name = &self.name;
        let out: Result<Payload> = match self.handlers.get_mut(&request.method) {
            None => Err(Error::unimplemented(format!(
                "plugin {} has no method '{}'",
                name, request.method
            ))),
            Some(handler) => {
                let mut slots: Vec<Option<OwnedFd>> = fds.into_iter().map(Some).collect();
                match Payload::from_proto(
                    request.payload.as_ref(),
                    &mut slots,
                    shared.max_payload_bytes,
                ) {
                    Err(e) => Err(e.context("call input")),
                    Ok(input) => match catch_unwind(AssertUnwindSafe(|| handler(&call, input))) {
                        Ok(r) => r,
                        Err(p) => Err(Error::internal(format!(
                            "handler panicked: {}",
                            panic_message(&*p)
                        ))),
                    },
                }
            }
        };
        if let Some(dc) = data {
            // A data-channel peer takes no fds: the result travels inline, within the cap.
            let result = match out {
                Ok(p) => proto::call_result::Result::Payload(proto::Payload {
                    data: Some(proto::payload::Data::Inline(p.into_vec())),
                }),
                Err(e) => proto::call_result::Result::Error(e.to_proto()),
            };
            let reply = Msg::CallResult(proto::CallResult { id: request.id, result: Some(result) });
            // Only a result over the datagram cap (INVALID_ARGUMENT from the channel, nothing
            // sent) is worth answering with an error; a dead or stalled peer ends the channel.
            let sent = send_envelope(dc, reply, &[]);
            if sent.as_ref().err().map_or(false, |e| e.code() != Code::InvalidArgument) {
                dc.shutdown();
            } else if sent.is_err() {
                let too_big = Error::resource_exhausted(format!(
                    "result exceeds the data channel's {}-byte datagram cap",
                    MAX_DATA_DATAGRAM_BYTES
                ));
                let reply = Msg::CallResult(proto::CallResult {
                    id: request.id,
                    result: Some(proto::call_result::Result::Error(too_big.to_proto())),
                });
                if send_envelope(dc, reply, &[]).is_err() {
                    dc.shutdown();
                }
            }
            return;
        }
        let mut out_fds = Vec::new();
        let result = match out.and_then(|p| p.to_proto(shared.inline_threshold, &mut out_fds)) {
            Ok(p) => proto::call_result::Result::Payload(p),
            Err(e) => {
                out_fds.clear();
                proto::call_result::Result::Error(e.to_proto())
            }
        };
        let reply = Msg::CallResult(proto::CallResult { id: request.id, result: Some(result) });
        if let Err(e) = shared.send(reply, &out_fds) {
            eprintln!("{}: sending the result of call {} failed: {}", self.name, request.id, e);
        }
    }
}

pub(crate) fn message_name(m: Option<&Msg>) -> &'static str {
    match m {
        None => "unknown",
        Some(Msg::Hello(_)) => "hello",
        Some(Msg::Welcome(_)) => "welcome",
        Some(Msg::Reject(_)) => "reject",
        Some(Msg::Ready(_)) => "ready",
        Some(Msg::CallRequest(_)) => "call_request",
        Some(Msg::CallResult(_)) => "call_result",
        Some(Msg::Heartbeat(_)) => "heartbeat",
        Some(Msg::ShutdownRequest(_)) => "shutdown_request",
        Some(Msg::ShutdownAck(_)) => "shutdown_ack",
        Some(Msg::Log(_)) => "log",
        Some(Msg::BrokerRequest(_)) => "broker_request",
        Some(Msg::BrokerResponse(_)) => "broker_response",
        Some(Msg::SharedBufferAnnounce(_)) => "shared_buffer_announce",
        Some(Msg::ResultBufferAnnounce(_)) => "result_buffer_announce",
        Some(Msg::DataChannelOpen(_)) => "data_channel_open",
        Some(Msg::DataChannelClose(_)) => "data_channel_close",
    }
}

/// The data channels the host opened and has not closed (serving thread only). None: no
/// longer served (its peer failed, or nobody can serve it) but counted until the host closes
/// it, so the host's count and this one agree.
struct DataChannels {
    max: u32,
    serve: bool,
    last_id: u64, // ids only increase
    open: BTreeMap<u64, Option<Channel>>,
}

impl DataChannels {
    fn new(max: u32, serve: bool) -> DataChannels {
        DataChannels { max, serve, last_id: 0, open: BTreeMap::new() }
    }

    /// DataChannelOpen: exactly one fd, a new id, within the cap offered; anything else is a
    /// protocol violation that ends serving.
    fn open(&mut self, id: u64, mut fds: Vec<OwnedFd>) -> Result<()> {
        let violation = |why: String| {
            Error::invalid_argument(format!("data_channel_open {} from the host: {}", id, why))
        };
        if self.max == 0 {
            return Err(violation("this plugin offered no data channels".to_string()));
        }
        if fds.len() != 1 {
            return Err(violation(format!("carries {} fds instead of one socket", fds.len())));
        }
        if id <= self.last_id {
            return Err(violation(format!("id not above the last one ({})", self.last_id)));
        }
        if self.open.len() >= self.max as usize {
            return Err(violation(format!("already {} open (the cap offered)", self.open.len())));
        }
        self.last_id = id;
        let fd = fds.pop().expect("one fd");
        // A client that stops reading must not stall this serving thread (and with it fd 3): a
        // result that cannot be sent within 2 s ends that data channel.
        let channel = self.serve.then(|| {
            Channel::new(fd, MAX_DATA_DATAGRAM_BYTES, 0).with_send_timeout(Duration::from_secs(2))
        });
        self.open.insert(id, channel);
        Ok(())
    }

    /// DataChannelClose: drops the socket, so its holder reads EOF and can no longer reach
    /// this plugin.
    fn close(&mut self, id: u64) -> Result<()> {
        match self.open.remove(&id) {
            Some(_) => Ok(()),
            None => Err(Error::invalid_argument(format!(
                "data_channel_close {} from the host names no open data channel",
                id
            ))),
        }
    }
}

fn reader_loop(shared: &Shared, wake_fd: RawFd, notify: RawFd, tx: &mpsc::Sender<Inbound>) {
    let mut buf = Vec::new();
    loop {
        match shared.route(shared.channel.receive(&mut buf, None, Some(wake_fd))) {
            Routed::Stop => break,
            Routed::Handled | Routed::Idle => {}
            Routed::Dispatch(ev) => {
                let closed = matches!(ev, Inbound::Closed(_));
                let sent = tx.send(ev).is_ok();
                wake(notify);
                if !sent || closed {
                    break;
                }
            }
        }
    }
    // A serving thread waiting in poll must see that nothing more will come.
    wake(notify);
}

// The serving thread's next message: fd 3's messages (queued by the reader thread, which
// writes `notify` after each) first, else whichever comes first. Data-channel calls are read
// here, with no thread hop, so a direct call costs the plugin one wake-up.
fn next_with_data(
    rx: &mpsc::Receiver<Inbound>,
    data: &mut DataChannels,
    notify: RawFd,
    buf: &mut Vec<u8>,
) -> Inbound {
    loop {
        match rx.try_recv() {
            Ok(ev) => return ev,
            Err(mpsc::TryRecvError::Disconnected) => {
                return Inbound::Closed(Error::internal("the reader thread stopped unexpectedly"))
            }
            Err(mpsc::TryRecvError::Empty) => {}
        }
        // At most 1 + the data channels offered: small.
        let live: Vec<(u64, RawFd)> =
            data.open.iter().filter_map(|(id, c)| c.as_ref().map(|c| (*id, c.raw_fd()))).collect();
        let mut pfds = vec![libc::pollfd { fd: notify, events: libc::POLLIN, revents: 0 }];
        pfds.extend(live.iter().map(|&(_, fd)| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        }));
        // SAFETY: pfds.len() valid pollfds.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, -1) };
        if r < 0 {
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            if errno == libc::EINTR {
                continue;
            }
            return Inbound::Closed(Error::from_errno(errno, "poll on the channels"));
        }
        if pfds[0].revents != 0 {
            let mut count = 0u64;
            // SAFETY: reading 8 bytes into a live u64 (resets the non-blocking eventfd).
            unsafe { libc::read(notify, &mut count as *mut u64 as *mut libc::c_void, 8) };
            continue;
        }
        let id = match pfds[1..].iter().position(|p| p.revents != 0) {
            Some(index) => live[index].0,
            None => continue,
        };
        let channel = match data.open.get(&id) {
            Some(Some(channel)) => channel,
            _ => continue,
        };
        match channel.receive(buf, Some(Instant::now()), None) {
            Ok(Received::Datagram(dg)) => {
                if let Some(request) = data_call(&dg.bytes, dg.fds.is_empty()) {
                    return Inbound::DataCall(id, request);
                }
            }
            Ok(Received::TimedOut) => continue, // woken without a datagram
            _ => {}
        }
        // Anything but an inline call request (or the holder's EOF) ends that data channel
        // only (dropping it closes the socket); fd 3 keeps serving.
        data.open.insert(id, None);
    }
}

fn data_call(bytes: &[u8], no_fds: bool) -> Option<proto::CallRequest> {
    match proto::Envelope::decode(bytes) {
        Ok(proto::Envelope { msg: Some(Msg::CallRequest(r)) })
            if no_fds
                && !matches!(
                    r.payload.as_ref().and_then(|p| p.data.as_ref()),
                    Some(proto::payload::Data::Memfd(_))
                ) =>
        {
            Some(r)
        }
        _ => None,
    }
}

fn heartbeat_loop(shared: &Shared, interval: Duration, stop: &(Mutex<bool>, Condvar)) {
    let mut seq = 0u64;
    let mut stopped = stop.0.lock().unwrap_or_else(|p| p.into_inner());
    let mut next = Instant::now() + interval;
    while !*stopped {
        let now = Instant::now();
        if now < next {
            stopped = stop.1.wait_timeout(stopped, next - now).unwrap_or_else(|p| p.into_inner()).0;
            continue;
        }
        seq += 1;
        drop(stopped);
        // A failed send means the channel is gone; the reader sees that too and ends serving.
        let _ = shared.send(Msg::Heartbeat(proto::Heartbeat { seq }), &[]);
        next += interval;
        if next < Instant::now() {
            next = Instant::now() + interval;
        }
        stopped = stop.0.lock().unwrap_or_else(|p| p.into_inner());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_versions_and_methods_are_validated_like_the_host() {
        assert!(is_valid_plugin_name("wordcount"));
        assert!(is_valid_plugin_name("a.b_c-1"));
        assert!(!is_valid_plugin_name("Word"));
        assert!(!is_valid_plugin_name("-x"));
        assert!(!is_valid_plugin_name(""));
        assert!(is_valid_semver("1.0.0"));
        assert!(is_valid_semver("1.2.3-rc.1+build5"));
        assert!(!is_valid_semver("1.0"));
        assert!(!is_valid_semver("01.0.0"));
        assert!(!is_valid_semver("1.0.0-"));
        assert!(is_valid_method_name("count_file"));
        assert!(is_valid_method_name("ns/a:b.c-d"));
        assert!(!is_valid_method_name("has space"));
        assert!(!is_valid_method_name(&"x".repeat(129)));
    }
}
