//! The plugin's side of the broker: everything beyond computing is a request on the channel that
//! the launcher checks against the plugin's grants, performs, and audits. A [`Host`] sends a
//! BrokerRequest with a fresh id and waits for the BrokerResponse with the same id, which the
//! reader thread hands over together with the fds that came in its datagram (an opened file or a
//! connected socket rides as SCM_RIGHTS).

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::net::TcpStream;
use std::os::unix::io::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use prost::Message;

use crate::channel::{Channel, Received};
use crate::error::{truncate_utf8, Error, Result};
use crate::payload::Payload;
use crate::proto;
use crate::proto::envelope::Msg;

/// Severity of a [`Host::log`] line (cordon.v1.LogMessage.Level).
pub use crate::proto::log_message::Level;

// Same cap as the C++ SDK; the host rejects longer log lines.
const MAX_LOG_BYTES: usize = 8 * 1024;
// Paths and endpoints are short; a longer one is a bug in the plugin, caught before sending.
const MAX_REQUEST_STRING_BYTES: usize = 4096;

struct BrokerState {
    // Outstanding request id -> the response once it arrived.
    waiting: HashMap<u64, Option<(proto::BrokerResponse, Vec<OwnedFd>)>>,
    // Set when the channel is gone; every waiter and later request fails with it.
    closed: Option<Error>,
}

/// What the receiving side hands to the dispatcher.
pub(crate) enum Inbound {
    Call(proto::CallRequest, Vec<OwnedFd>),
    // A call from data channel `id`: inline input, answered there.
    DataCall(u64, proto::CallRequest),
    // The host hands over data channel `id` (the datagram's fds, one if the host follows the
    // rules) or takes it back.
    DataOpen(u64, Vec<OwnedFd>),
    DataClose(u64),
    Shutdown,
    Closed(Error),
}

/// What became of one receive.
pub(crate) enum Routed {
    Dispatch(Inbound),
    // A broker response or heartbeat, dealt with.
    Handled,
    // Nothing arrived before the deadline.
    Idle,
    // The wake fd fired: the reader thread must stop.
    Stop,
}

/// Receiving without a reader thread (when the sandbox forbids creating threads): whoever
/// needs a message (the dispatcher, or a handler waiting for a broker answer) receives it and
/// queues what is not for it.
#[derive(Default)]
pub(crate) struct Pump {
    buf: Vec<u8>,
    queue: VecDeque<Inbound>,
}

/// State shared by the dispatcher, the reader thread, the heartbeat thread and every Host handle.
pub(crate) struct Shared {
    pub channel: Channel,
    pub welcome: proto::Welcome,
    pub plugin_name: String,
    pub inline_threshold: usize,
    pub max_payload_bytes: u64,
    pub broker_timeout: Duration,
    // The host's datagram cap from the Welcome (our channel's own cap when it names none).
    max_message_bytes: usize,
    next_id: AtomicU64,
    state: Mutex<BrokerState>,
    cv: Condvar,
    pacer: Option<Mutex<Pacer>>,
    // Single-threaded mode (see Pump); set before serving starts.
    inline: AtomicBool,
    pump: Mutex<Pump>,
}

/// Token bucket that keeps broker requests at or under the rate the host announced
/// (limits.broker_requests_per_second), so a busy plugin waits instead of tripping the host's
/// flood protection. Burst: one second's worth.
struct Pacer {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Pacer {
    /// When the next request may be sent (now, or later), taking its token.
    fn reserve(&mut self) -> Instant {
        let now = Instant::now();
        self.tokens = (self.tokens + (now - self.at).as_secs_f64() * self.rate).min(self.rate);
        self.at = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            now
        } else {
            now + Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

impl Shared {
    pub fn new(
        channel: Channel,
        welcome: proto::Welcome,
        plugin_name: String,
        inline_threshold: usize,
        broker_timeout: Duration,
    ) -> Shared {
        let limits = welcome.limits.clone().unwrap_or_default();
        let max_payload_bytes =
            if limits.max_payload_bytes > 0 { limits.max_payload_bytes } else { 1 << 30 };
        let max_message_bytes = match usize::try_from(limits.max_message_bytes) {
            Ok(n) if n > 0 => n.min(channel.max_datagram_bytes()),
            _ => channel.max_datagram_bytes(),
        };
        // Inline payloads must leave room for the rest of the envelope under the host's cap.
        let inline_threshold = inline_threshold.min(max_message_bytes / 2);
        let pacer = if limits.broker_requests_per_second > 0 {
            let rate = f64::from(limits.broker_requests_per_second);
            Some(Mutex::new(Pacer { rate, tokens: rate, at: Instant::now() }))
        } else {
            None
        };
        Shared {
            channel,
            welcome,
            plugin_name,
            inline_threshold,
            max_payload_bytes,
            broker_timeout,
            max_message_bytes,
            next_id: AtomicU64::new(1),
            state: Mutex::new(BrokerState { waiting: HashMap::new(), closed: None }),
            cv: Condvar::new(),
            pacer,
            inline: AtomicBool::new(false),
            pump: Mutex::new(Pump::default()),
        }
    }

    pub fn send(&self, msg: Msg, fds: &[OwnedFd]) -> Result<()> {
        let bytes = proto::Envelope { msg: Some(msg) }.encode_to_vec();
        if bytes.len() > self.max_message_bytes {
            return Err(Error::invalid_argument(format!(
                "message of {} bytes exceeds the host's cap of {}",
                bytes.len(),
                self.max_message_bytes
            )));
        }
        let raw: Vec<_> = fds.iter().map(|f| f.as_raw_fd()).collect();
        self.channel.send(&bytes, &raw)
    }

    /// Switches to receiving without a reader thread.
    pub fn set_inline(&self) {
        self.inline.store(true, Ordering::SeqCst);
    }

    fn fail(&self, e: Error) -> Routed {
        self.close(e.clone());
        Routed::Dispatch(Inbound::Closed(e))
    }

    /// Routes the outcome of one receive: calls and shutdown to the dispatcher, broker
    /// responses to their waiters; anything unexpected ends serving.
    pub fn route(&self, received: Result<Received>) -> Routed {
        let dg = match received {
            Ok(Received::Datagram(d)) => d,
            Ok(Received::Woken) => return Routed::Stop,
            Ok(Received::TimedOut) => return Routed::Idle,
            Ok(Received::Closed) => {
                return self.fail(Error::unavailable(
                    "the host closed the channel without a shutdown request",
                ))
            }
            Err(e) => return self.fail(e.context("receiving from the host")),
        };
        let env = match proto::Envelope::decode(&dg.bytes[..]) {
            Ok(env) => env,
            Err(e) => {
                return self.fail(Error::invalid_argument(format!(
                    "a datagram of {} bytes from the host is not a cordon.v1.Envelope: {}",
                    dg.bytes.len(),
                    e
                )))
            }
        };
        match env.msg {
            Some(Msg::CallRequest(r)) => Routed::Dispatch(Inbound::Call(r, dg.fds)),
            Some(Msg::ShutdownRequest(_)) => Routed::Dispatch(Inbound::Shutdown),
            Some(Msg::DataChannelOpen(o)) => {
                Routed::Dispatch(Inbound::DataOpen(o.channel_id, dg.fds))
            }
            Some(Msg::DataChannelClose(c)) => Routed::Dispatch(Inbound::DataClose(c.channel_id)),
            Some(Msg::BrokerResponse(r)) => {
                self.deliver_broker_response(r, dg.fds);
                Routed::Handled
            }
            Some(Msg::Heartbeat(_)) => Routed::Handled,
            other => self.fail(Error::invalid_argument(format!(
                "unexpected {} from the host",
                crate::plugin::message_name(other.as_ref())
            ))),
        }
    }

    /// Single-threaded mode: the next message for the dispatcher.
    pub fn next_inline(&self) -> Inbound {
        let mut pump = self.pump.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(ev) = pump.queue.pop_front() {
                return ev;
            }
            let pump = &mut *pump;
            if let Routed::Dispatch(ev) =
                self.route(self.channel.receive(&mut pump.buf, None, None))
            {
                return ev;
            }
        }
    }

    /// Called by the reader thread. A response nobody waits for (its request timed out) is
    /// dropped, closing any fds it carried.
    pub fn deliver_broker_response(&self, response: proto::BrokerResponse, fds: Vec<OwnedFd>) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = st.waiting.get_mut(&response.id) {
            if slot.is_none() {
                *slot = Some((response, fds));
                self.cv.notify_all();
            }
        }
    }

    /// The channel is gone (or the plugin is stopping): fail every waiting and later request.
    pub fn close(&self, why: Error) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.closed.is_none() {
            st.closed = Some(why);
        }
        self.cv.notify_all();
    }

    fn broker(
        &self,
        request: proto::broker_request::Request,
        fds: &[OwnedFd],
        deadline: Instant,
    ) -> Result<(proto::BrokerResponse, Vec<Option<OwnedFd>>)> {
        if let Some(pacer) = &self.pacer {
            let at = pacer.lock().unwrap_or_else(|p| p.into_inner()).reserve();
            if at > deadline {
                return Err(Error::resource_exhausted(
                    "broker request rate limit: no slot before the deadline",
                ));
            }
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = &st.closed {
                return Err(e.clone());
            }
            st.waiting.insert(id, None);
        }
        let sent =
            self.send(Msg::BrokerRequest(proto::BrokerRequest { id, request: Some(request) }), fds);
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = sent {
            st.waiting.remove(&id);
            return Err(e.context("sending broker request"));
        }
        loop {
            if let Some(Some(_)) = st.waiting.get(&id) {
                let (response, fds) = st.waiting.remove(&id).flatten().expect("checked above");
                drop(st);
                if let Some(e) = &response.error {
                    return Err(Error::from_proto(e));
                }
                return Ok((response, fds.into_iter().map(Some).collect()));
            }
            if let Some(e) = &st.closed {
                let e = e.clone();
                st.waiting.remove(&id);
                return Err(e);
            }
            let now = Instant::now();
            if now >= deadline {
                st.waiting.remove(&id);
                return Err(Error::deadline_exceeded(format!(
                    "the host did not answer broker request {} in time",
                    id
                )));
            }
            if self.inline.load(Ordering::SeqCst) {
                // No reader thread: receive here, queueing calls for the dispatcher.
                drop(st);
                {
                    let mut pump = self.pump.lock().unwrap_or_else(|p| p.into_inner());
                    let pump = &mut *pump;
                    let received = self.channel.receive(&mut pump.buf, Some(deadline), None);
                    if let Routed::Dispatch(ev) = self.route(received) {
                        pump.queue.push_back(ev);
                    }
                }
                st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            } else {
                st = self.cv.wait_timeout(st, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
            }
        }
    }
}

pub(crate) fn send_envelope(channel: &Channel, msg: Msg, fds: &[OwnedFd]) -> Result<()> {
    let bytes = proto::Envelope { msg: Some(msg) }.encode_to_vec();
    let raw: Vec<_> = fds.iter().map(|f| f.as_raw_fd()).collect();
    channel.send(&bytes, &raw)
}

/// How to open a file through the broker; mirrors std::fs::OpenOptions. The host resolves the
/// path beneath a directory granted by an "fs.read" / "fs.write" capability.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    create: bool,
    truncate: bool,
    append: bool,
}

impl OpenOptions {
    /// Read-only unless changed.
    pub fn new() -> OpenOptions {
        OpenOptions { read: true, ..OpenOptions::default() }
    }
    pub fn read(&mut self, v: bool) -> &mut OpenOptions {
        self.read = v;
        self
    }
    pub fn write(&mut self, v: bool) -> &mut OpenOptions {
        self.write = v;
        self
    }
    pub fn create(&mut self, v: bool) -> &mut OpenOptions {
        self.create = v;
        self
    }
    pub fn truncate(&mut self, v: bool) -> &mut OpenOptions {
        self.truncate = v;
        self
    }
    pub fn append(&mut self, v: bool) -> &mut OpenOptions {
        self.append = v;
        self
    }

    fn to_proto(&self, path: &str) -> proto::OpenFileRequest {
        use proto::open_file_request::Mode;
        let writes = self.write || self.append;
        let mode = match (self.read, writes) {
            (true, true) => Mode::ReadWrite,
            (false, true) => Mode::Write,
            _ => Mode::Read,
        };
        proto::OpenFileRequest {
            path: path.to_string(),
            mode: mode as i32,
            create: self.create,
            truncate: self.truncate,
            append: self.append,
        }
    }
}

/// A handle on the launcher for the plugin: the broker (files, connections, host calls) and
/// logging. Cheap to clone and usable from any thread. Within a call ([`crate::Call::host`]) a
/// broker request waits at most until the call's deadline; elsewhere up to the plugin's broker
/// timeout.
#[derive(Clone)]
pub struct Host {
    shared: Arc<Shared>,
    deadline: Option<Instant>,
}

impl Host {
    pub(crate) fn new(shared: Arc<Shared>, deadline: Option<Instant>) -> Host {
        Host { shared, deadline }
    }

    /// The host's Welcome: negotiated version, configuration, granted capabilities, limits.
    pub fn welcome(&self) -> &proto::Welcome {
        &self.shared.welcome
    }

    /// Opaque configuration bytes from the host.
    pub fn config(&self) -> &[u8] {
        &self.shared.welcome.config
    }

    /// One key of the host's configuration map.
    pub fn config_value(&self, key: &str) -> Option<&str> {
        self.shared.welcome.config_map.get(key).map(String::as_str)
    }

    /// True when the host granted exactly this capability (kind and target).
    pub fn is_granted(&self, kind: &str, target: &str) -> bool {
        self.shared
            .welcome
            .granted_capabilities
            .iter()
            .any(|c| c.kind == kind && c.target == target)
    }

    fn deadline(&self) -> Instant {
        let by_timeout = Instant::now() + self.shared.broker_timeout;
        match self.deadline {
            Some(d) if d < by_timeout => d,
            _ => by_timeout,
        }
    }

    fn take_fd(fds: &mut [Option<OwnedFd>], index: u32, what: &str) -> Result<OwnedFd> {
        fds.get_mut(index as usize).and_then(Option::take).ok_or_else(|| {
            Error::internal(format!(
                "the host's {} response names fd index {} but carries {} fds",
                what,
                index,
                fds.len()
            ))
        })
    }

    fn check_len(what: &str, s: &str) -> Result<()> {
        if s.len() > MAX_REQUEST_STRING_BYTES || s.is_empty() {
            return Err(Error::invalid_argument(format!(
                "{} must be 1..{} bytes, got {}",
                what,
                MAX_REQUEST_STRING_BYTES,
                s.len()
            )));
        }
        Ok(())
    }

    /// Opens a granted file read-only.
    pub fn open_file(&self, path: &str) -> Result<File> {
        self.open_file_with(path, &OpenOptions::new())
    }

    /// Opens a granted file. Denied or failed opens come back as errors with the host's code
    /// (PERMISSION_DENIED for a path outside the grants, NOT_FOUND, ...).
    pub fn open_file_with(&self, path: &str, options: &OpenOptions) -> Result<File> {
        Host::check_len("path", path)?;
        let request = proto::broker_request::Request::OpenFile(options.to_proto(path));
        let (response, mut fds) = self.shared.broker(request, &[], self.deadline())?;
        match response.response {
            Some(proto::broker_response::Response::OpenFile(r)) => {
                Ok(File::from(Host::take_fd(&mut fds, r.fd_index, "open_file")?))
            }
            _ => Err(Error::internal("the host answered open_file with another response type")),
        }
    }

    /// Connects to a granted endpoint ("host:port" for TCP, "unix:/path") and returns the
    /// connected socket.
    pub fn connect(&self, endpoint: &str) -> Result<OwnedFd> {
        Host::check_len("endpoint", endpoint)?;
        let request = proto::broker_request::Request::Connect(proto::ConnectRequest {
            endpoint: endpoint.to_string(),
        });
        let (response, mut fds) = self.shared.broker(request, &[], self.deadline())?;
        match response.response {
            Some(proto::broker_response::Response::Connect(r)) => {
                Host::take_fd(&mut fds, r.fd_index, "connect")
            }
            _ => Err(Error::internal("the host answered connect with another response type")),
        }
    }

    /// connect("host:port") as a TcpStream.
    pub fn connect_tcp(&self, host_port: &str) -> Result<TcpStream> {
        Ok(TcpStream::from(self.connect(host_port)?))
    }

    /// connect("unix:" + path) as a UnixStream.
    pub fn connect_unix(&self, path: &str) -> Result<UnixStream> {
        Ok(UnixStream::from(self.connect(&format!("unix:{}", path))?))
    }

    /// Calls a function the host application exposes (granted by a "host.call" capability).
    pub fn call_host(&self, function: &str, input: impl Into<Payload>) -> Result<Payload> {
        Host::check_len("function", function)?;
        let input = input.into();
        let mut out_fds = Vec::new();
        let payload = input.to_proto(self.shared.inline_threshold, &mut out_fds)?;
        // The host caps the deadline further; ours is what is left of the call (or the broker
        // timeout), so a host function never outlives the call that asked for it.
        let timeout_ms = self
            .deadline()
            .saturating_duration_since(Instant::now())
            .as_millis()
            .max(1) as u64;
        let request = proto::broker_request::Request::HostCall(proto::HostCallRequest {
            function: function.to_string(),
            payload: Some(payload),
            timeout_ms,
        });
        let (response, mut fds) = self.shared.broker(request, &out_fds, self.deadline())?;
        match response.response {
            Some(proto::broker_response::Response::HostCall(r)) => {
                Payload::from_proto(r.payload.as_ref(), &mut fds, self.shared.max_payload_bytes)
            }
            _ => Err(Error::internal("the host answered host_call with another response type")),
        }
    }

    /// Sends a log line to the host (capped at 8 KiB), which records it in its log / audit.
    pub fn log(&self, level: Level, message: &str) -> Result<()> {
        let msg = Msg::Log(proto::LogMessage {
            level: level as i32,
            message: truncate_utf8(message, MAX_LOG_BYTES).to_string(),
        });
        self.shared.send(msg, &[])
    }

    pub fn debug(&self, message: &str) -> Result<()> {
        self.log(Level::Debug, message)
    }
    pub fn info(&self, message: &str) -> Result<()> {
        self.log(Level::Info, message)
    }
    pub fn warn(&self, message: &str) -> Result<()> {
        self.log(Level::Warning, message)
    }
    pub fn error(&self, message: &str) -> Result<()> {
        self.log(Level::Error, message)
    }

    /// Name of the plugin this handle belongs to.
    pub fn plugin_name(&self) -> &str {
        &self.shared.plugin_name
    }
}
