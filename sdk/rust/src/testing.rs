//! An in-process host for unit-testing plugins without the launcher: it runs the plugin on a
//! thread over a socketpair, performs the handshake, makes calls, answers broker requests with a
//! function the test supplies, and collects log lines.
//!
//! ```
//! use cordon_plugin::{proto, testing::TestHost, Plugin};
//! let mut plugin = Plugin::new("demo", "1.0.0");
//! plugin.method("len", |_call, input| Ok(input.len().to_string()));
//! let mut host = TestHost::start(plugin, proto::Welcome::default()).unwrap();
//! assert_eq!(&*host.call("len", "abc").unwrap(), b"3");
//! host.shutdown().unwrap();
//! ```

use std::os::unix::io::{AsRawFd, OwnedFd};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use prost::Message;

use crate::channel::{Channel, Received};
use crate::error::{Error, Result};
use crate::payload::Payload;
use crate::plugin::Plugin;
use crate::proto;
use crate::proto::envelope::Msg;

/// Answers one broker request: the response (its id is filled in) and the fds to attach.
pub type BrokerFn = Box<dyn FnMut(&proto::BrokerRequest) -> (proto::BrokerResponse, Vec<OwnedFd>)>;

/// A BrokerResponse carrying an error.
pub fn broker_error(code: crate::Code, message: &str) -> (proto::BrokerResponse, Vec<OwnedFd>) {
    (
        proto::BrokerResponse {
            id: 0,
            error: Some(Error::new(code, message).to_proto()),
            response: None,
        },
        Vec::new(),
    )
}

/// A BrokerResponse handing over an opened file.
pub fn broker_file(file: std::fs::File) -> (proto::BrokerResponse, Vec<OwnedFd>) {
    (
        proto::BrokerResponse {
            id: 0,
            error: None,
            response: Some(proto::broker_response::Response::OpenFile(proto::OpenFileResponse {
                fd_index: 0,
            })),
        },
        vec![OwnedFd::from(file)],
    )
}

pub struct TestHost {
    channel: Channel,
    buf: Vec<u8>,
    thread: Option<JoinHandle<Result<()>>>,
    hello: proto::Hello,
    next_id: u64,
    broker: BrokerFn,
    logs: Vec<proto::LogMessage>,
    timeout: Duration,
}

impl TestHost {
    /// Starts `plugin` and completes the handshake with `welcome` (protocol_version 0 means 1).
    /// Broker requests are refused with UNIMPLEMENTED until [`TestHost::on_broker`] is set.
    pub fn start(plugin: Plugin, mut welcome: proto::Welcome) -> Result<TestHost> {
        let (host_end, plugin_end) = Channel::socket_pair()?;
        let thread = thread::spawn(move || plugin.serve_fd(plugin_end));
        let mut host = TestHost {
            channel: Channel::new(host_end, 64 * 1024, 4),
            buf: Vec::new(),
            thread: Some(thread),
            hello: proto::Hello::default(),
            next_id: 1,
            broker: Box::new(|_| {
                broker_error(crate::Code::Unimplemented, "the test host has no broker")
            }),
            logs: Vec::new(),
            timeout: Duration::from_secs(10),
        };
        host.hello = match host.receive()? {
            (Msg::Hello(h), _) => h,
            (other, _) => return Err(host.fail(format!("expected hello, got {:?}", other))),
        };
        if welcome.protocol_version == 0 {
            welcome.protocol_version = 1;
        }
        host.send(Msg::Welcome(welcome), &[])?;
        match host.receive()? {
            (Msg::Ready(proto::Ready { error: None }), _) => Ok(host),
            (Msg::Ready(proto::Ready { error: Some(e) }), _) => Err(Error::from_proto(&e)),
            (other, _) => Err(host.fail(format!("expected ready, got {:?}", other))),
        }
    }

    /// What the plugin announced.
    pub fn hello(&self) -> &proto::Hello {
        &self.hello
    }

    /// Sets the function that answers broker requests.
    pub fn on_broker<F>(&mut self, f: F)
    where
        F: FnMut(&proto::BrokerRequest) -> (proto::BrokerResponse, Vec<OwnedFd>) + 'static,
    {
        self.broker = Box::new(f);
    }

    /// How long to wait for any message from the plugin (default 10 s).
    pub fn set_timeout(&mut self, d: Duration) {
        self.timeout = d;
    }

    /// Log lines received so far.
    pub fn logs(&self) -> &[proto::LogMessage] {
        &self.logs
    }

    /// Calls `method` (call timeout 10 s) and returns its result or the plugin's error.
    pub fn call(&mut self, method: &str, input: impl Into<Payload>) -> Result<Payload> {
        let id = self.next_id;
        self.next_id += 1;
        let mut fds = Vec::new();
        let payload = input.into().to_proto(16 * 1024, &mut fds)?;
        self.send(
            Msg::CallRequest(proto::CallRequest {
                result_buffer_id: 0,
                id,
                method: method.to_string(),
                timeout_ms: self.timeout.as_millis() as u64,
                payload: Some(payload),
            }),
            &fds,
        )?;
        loop {
            match self.receive()? {
                (Msg::CallResult(r), fds) if r.id == id => {
                    return match r.result {
                        Some(proto::call_result::Result::Error(e)) => Err(Error::from_proto(&e)),
                        Some(proto::call_result::Result::Payload(p)) => {
                            let mut slots: Vec<Option<OwnedFd>> =
                                fds.into_iter().map(Some).collect();
                            Payload::from_proto(Some(&p), &mut slots, 1 << 30)
                        }
                        None => Ok(Payload::new()),
                    };
                }
                (Msg::BrokerRequest(req), _) => {
                    let (mut response, fds) = (self.broker)(&req);
                    response.id = req.id;
                    self.send(Msg::BrokerResponse(response), &fds)?;
                }
                (other, _) => return Err(self.fail(format!("unexpected {:?}", other))),
            }
        }
    }

    /// Asks the plugin to stop, waits for its ShutdownAck and for serve() to return.
    pub fn shutdown(mut self) -> Result<()> {
        self.send(Msg::ShutdownRequest(proto::ShutdownRequest { grace_ms: 1000 }), &[])?;
        loop {
            match self.receive()? {
                (Msg::ShutdownAck(_), _) => break,
                (other, _) => {
                    return Err(self.fail(format!("expected shutdown_ack, got {:?}", other)))
                }
            }
        }
        self.join()
    }

    fn join(&mut self) -> Result<()> {
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|_| Err(Error::internal("serve() panicked"))),
            None => Ok(()),
        }
    }

    fn fail(&mut self, message: String) -> Error {
        Error::internal(format!("test host: {}", message))
    }

    fn send(&self, msg: Msg, fds: &[OwnedFd]) -> Result<()> {
        let bytes = proto::Envelope { msg: Some(msg) }.encode_to_vec();
        let raw: Vec<_> = fds.iter().map(|f| f.as_raw_fd()).collect();
        self.channel.send(&bytes, &raw)
    }

    /// Next message that is not a heartbeat or a log line (those are collected).
    fn receive(&mut self) -> Result<(Msg, Vec<OwnedFd>)> {
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.channel.receive(&mut self.buf, Some(deadline), None)? {
                Received::Datagram(d) => {
                    let env = proto::Envelope::decode(&d.bytes[..]).map_err(|e| {
                        Error::invalid_argument(format!("plugin sent a bad envelope: {}", e))
                    })?;
                    match env.msg {
                        Some(Msg::Heartbeat(_)) => continue,
                        Some(Msg::Log(l)) => self.logs.push(l),
                        Some(m) => return Ok((m, d.fds)),
                        None => {
                            return Err(Error::invalid_argument("plugin sent an empty envelope"))
                        }
                    }
                }
                Received::TimedOut => {
                    return Err(Error::deadline_exceeded("test host: no message from the plugin"))
                }
                Received::Closed | Received::Woken => {
                    let served = self.join();
                    return Err(Error::unavailable(format!(
                        "test host: the plugin closed the channel (serve returned {:?})",
                        served
                    )));
                }
            }
        }
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        // Closing our end makes serve() return; join so the plugin thread does not outlive us.
        if let Some(t) = self.thread.take() {
            let (a, _) = Channel::socket_pair().expect("socketpair");
            let old = std::mem::replace(&mut self.channel, Channel::new(a, 16, 0));
            drop(old);
            let _ = t.join();
        }
    }
}
