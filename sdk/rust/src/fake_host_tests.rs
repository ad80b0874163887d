//! The plugin side against a fake host that speaks the wire protocol by hand (the launcher's
//! broker may not answer yet; these pin down what the plugin sends and accepts).

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::io::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use prost::Message;

use crate::channel::{Channel, Received};
use crate::proto;
use crate::proto::envelope::Msg;
use crate::{Code, Error, OpenOptions, Payload, Plugin, Result};

pub(crate) struct FakeHost {
    pub(crate) channel: Channel,
    pub(crate) buf: Vec<u8>,
}

impl FakeHost {
    pub(crate) fn send(&self, msg: Msg, fds: &[&OwnedFd]) {
        let bytes = proto::Envelope { msg: Some(msg) }.encode_to_vec();
        let raw: Vec<_> = fds.iter().map(|f| f.as_raw_fd()).collect();
        self.channel.send(&bytes, &raw).expect("fake host send");
    }

    /// Next message other than a heartbeat, with its fds; panics after 10 s so a broken plugin
    /// fails the test instead of hanging it.
    pub(crate) fn recv(&mut self) -> (Msg, Vec<OwnedFd>) {
        loop {
            let (m, fds) = self.recv_any();
            if !matches!(m, Msg::Heartbeat(_)) {
                return (m, fds);
            }
        }
    }

    pub(crate) fn recv_any(&mut self) -> (Msg, Vec<OwnedFd>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        match self.channel.receive(&mut self.buf, Some(deadline), None).expect("fake host receive")
        {
            Received::Datagram(d) => {
                let env =
                    proto::Envelope::decode(&d.bytes[..]).expect("plugin sent a valid envelope");
                (env.msg.expect("envelope has a message"), d.fds)
            }
            Received::Closed => panic!("the plugin closed the channel"),
            Received::TimedOut => panic!("no message from the plugin within 10 s"),
            Received::Woken => unreachable!(),
        }
    }

    pub(crate) fn expect_closed(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.channel.receive(&mut self.buf, Some(deadline), None).expect("receive") {
                Received::Closed => return,
                Received::Datagram(_) => continue,
                _ => panic!("the plugin did not close the channel"),
            }
        }
    }

    pub(crate) fn handshake(&mut self, limits: proto::PluginLimits) -> proto::Hello {
        let hello = match self.recv().0 {
            Msg::Hello(h) => h,
            _ => panic!("expected hello first"),
        };
        self.send(
            Msg::Welcome(proto::Welcome {
                protocol_version: 1,
                config: b"cfg".to_vec(),
                config_map: BTreeMap::from([("k".to_string(), "v".to_string())]),
                granted_capabilities: vec![proto::Capability {
                    kind: "fs.read".into(),
                    target: "/data".into(),
                }],
                limits: Some(limits),
            }),
            &[],
        );
        match self.recv().0 {
            Msg::Ready(r) => {
                assert!(r.error.is_none(), "plugin refused configuration: {:?}", r.error)
            }
            _ => panic!("expected ready"),
        }
        hello
    }

    pub(crate) fn call(
        &mut self,
        id: u64,
        method: &str,
        input: &[u8],
        timeout_ms: u64,
    ) -> proto::call_result::Result {
        self.send(
            Msg::CallRequest(proto::CallRequest {
                result_buffer_id: 0,
                id,
                method: method.to_string(),
                timeout_ms,
                payload: Some(proto::Payload {
                    data: Some(proto::payload::Data::Inline(input.to_vec())),
                }),
            }),
            &[],
        );
        self.result(id).0
    }

    pub(crate) fn result(&mut self, id: u64) -> (proto::call_result::Result, Vec<OwnedFd>) {
        loop {
            match self.recv() {
                (Msg::CallResult(r), fds) => {
                    assert_eq!(r.id, id);
                    return (r.result.expect("result set"), fds);
                }
                (Msg::Log(_), _) => continue,
                (other, _) => panic!("expected call_result, got {:?}", other),
            }
        }
    }

    pub(crate) fn shutdown(&mut self) {
        self.send(Msg::ShutdownRequest(proto::ShutdownRequest { grace_ms: 1000 }), &[]);
        loop {
            match self.recv().0 {
                Msg::ShutdownAck(_) => return,
                Msg::Log(_) => continue,
                other => panic!("expected shutdown_ack, got {:?}", other),
            }
        }
    }
}

pub(crate) fn inline(r: proto::call_result::Result) -> Vec<u8> {
    match r {
        proto::call_result::Result::Payload(proto::Payload {
            data: Some(proto::payload::Data::Inline(v)),
        }) => v,
        proto::call_result::Result::Payload(proto::Payload { data: None }) => Vec::new(),
        other => panic!("expected an inline payload, got {:?}", other),
    }
}

pub(crate) fn error_of(r: proto::call_result::Result) -> proto::Error {
    match r {
        proto::call_result::Result::Error(e) => e,
        other => panic!("expected an error, got {:?}", other),
    }
}

fn start(plugin: Plugin) -> (FakeHost, JoinHandle<Result<()>>) {
    let (host_end, plugin_end) = Channel::socket_pair().unwrap();
    let t = thread::spawn(move || plugin.serve_fd(plugin_end));
    (FakeHost { channel: Channel::new(host_end, 64 * 1024, 4), buf: Vec::new() }, t)
}

pub(crate) fn test_plugin() -> Plugin {
    let mut p = Plugin::new("test-plugin", "1.2.3");
    p.method("echo", |_c, input| Ok(input));
    p.method("fail", |_c, _i| {
        Err::<Payload, _>(Error::new(Code::NotFound, "no such thing").with_detail("k", "v"))
    });
    p.method("panic", |_c, _i| -> Result<Payload> { panic!("boom") });
    p.method("len", |_c, input| Ok(input.len().to_string()));
    p.method("big", |_c, input| Ok(vec![b'x'; input.as_str()?.parse::<usize>().unwrap()]));
    p.request_capability("fs.read", "/data");
    p.handshake_timeout(Duration::from_secs(10));
    p
}

pub(crate) fn default_limits() -> proto::PluginLimits {
    proto::PluginLimits { max_payload_bytes: 1 << 20, ..Default::default() }
}

#[test]
fn handshake_call_and_shutdown() {
    let (mut host, t) = start(test_plugin());
    let hello = host.handshake(default_limits());
    assert_eq!(hello.name, "test-plugin");
    assert_eq!(hello.version, "1.2.3");
    assert_eq!(hello.methods, vec!["big", "echo", "fail", "len", "panic"]);
    assert_eq!(hello.protocol, Some(proto::VersionRange { min: 1, max: 1 }));
    assert!(hello.sdk.starts_with("cordon-sdk-rust/"), "{}", hello.sdk);
    assert_eq!(hello.requested_capabilities.len(), 1);
    assert_eq!(inline(host.call(1, "echo", b"hi there", 1000)), b"hi there");
    host.shutdown();
    host.expect_closed();
    t.join().unwrap().expect("clean shutdown is Ok");
}

#[test]
fn errors_unknown_methods_and_panics_fail_only_the_call() {
    let (mut host, t) = start(test_plugin());
    host.handshake(default_limits());
    let e = error_of(host.call(1, "nope", b"", 1000));
    assert_eq!(e.code, Code::Unimplemented as i32);
    assert!(e.message.contains("no method 'nope'"), "{}", e.message);
    let e = error_of(host.call(2, "fail", b"", 1000));
    assert_eq!(e.code, Code::NotFound as i32);
    assert_eq!(e.message, "no such thing");
    assert_eq!(e.details.get("k").map(String::as_str), Some("v"));
    let e = error_of(host.call(3, "panic", b"", 1000));
    assert_eq!(e.code, Code::Internal as i32);
    assert!(e.message.contains("boom"), "{}", e.message);
    assert_eq!(inline(host.call(4, "echo", b"still alive", 1000)), b"still alive");
    host.shutdown();
    t.join().unwrap().unwrap();
}

#[test]
fn large_inputs_and_results_travel_as_sealed_memfds() {
    let (mut host, t) = start(test_plugin());
    host.handshake(default_limits());
    let big = vec![7u8; 200_000];
    let memfd = crate::payload::create_sealed_memfd("in", &big).unwrap();
    host.send(
        Msg::CallRequest(proto::CallRequest {
            result_buffer_id: 0,
            id: 1,
            method: "len".into(),
            timeout_ms: 1000,
            payload: Some(proto::Payload {
                data: Some(proto::payload::Data::Memfd(proto::MemfdRef {
                    fd_index: 0,
                    size: big.len() as u64,
                })),
            }),
        }),
        &[&memfd],
    );
    assert_eq!(inline(host.result(1).0), b"200000");

    host.send(
        Msg::CallRequest(proto::CallRequest {
            result_buffer_id: 0,
            id: 2,
            method: "big".into(),
            timeout_ms: 1000,
            payload: Some(proto::Payload {
                data: Some(proto::payload::Data::Inline(b"100000".to_vec())),
            }),
        }),
        &[],
    );
    let (r, fds) = host.result(2);
    let p = match r {
        proto::call_result::Result::Payload(p) => p,
        other => panic!("{:?}", other),
    };
    let mut slots: Vec<Option<OwnedFd>> = fds.into_iter().map(Some).collect();
    let out = Payload::from_proto(Some(&p), &mut slots, 1 << 20)
        .expect("a fully sealed memfd of the right size");
    assert!(out.is_memfd());
    assert_eq!(out.len(), 100_000);
    assert!(out.iter().all(|&b| b == b'x'));

    // An unsealed memfd input is refused as a call error, not a crash.
    let name = std::ffi::CString::new("u").unwrap();
    let raw = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    let unsealed = unsafe { <OwnedFd as std::os::unix::io::FromRawFd>::from_raw_fd(raw) };
    host.send(
        Msg::CallRequest(proto::CallRequest {
            result_buffer_id: 0,
            id: 3,
            method: "len".into(),
            timeout_ms: 1000,
            payload: Some(proto::Payload {
                data: Some(proto::payload::Data::Memfd(proto::MemfdRef { fd_index: 0, size: 0 })),
            }),
        }),
        &[&unsealed],
    );
    let e = error_of(host.result(3).0);
    assert_eq!(e.code, Code::InvalidArgument as i32);
    host.shutdown();
    t.join().unwrap().unwrap();
}

#[test]
fn reject_ends_serving_with_the_reason() {
    let (mut host, t) = start(test_plugin());
    assert!(matches!(host.recv().0, Msg::Hello(_)));
    host.send(
        Msg::Reject(proto::Reject {
            reason: "protocol versions do not overlap".into(),
            host_protocol: Some(proto::VersionRange { min: 2, max: 3 }),
        }),
        &[],
    );
    let e = t.join().unwrap().unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("do not overlap") && e.message().contains("[2, 3]"), "{}", e);
}

#[test]
fn configure_hook_sees_the_welcome_and_can_refuse() {
    let mut p = test_plugin();
    p.on_configure(|w| {
        assert_eq!(w.config, b"cfg");
        Err(Error::invalid_argument(format!("bad config {}", w.config_map["k"])))
    });
    let (mut host, t) = start(p);
    assert!(matches!(host.recv().0, Msg::Hello(_)));
    host.send(
        Msg::Welcome(proto::Welcome {
            protocol_version: 1,
            config: b"cfg".to_vec(),
            config_map: BTreeMap::from([("k".to_string(), "v".to_string())]),
            ..Default::default()
        }),
        &[],
    );
    match host.recv().0 {
        Msg::Ready(r) => {
            let e = r.error.expect("configure failure reported in ready");
            assert_eq!(e.code, Code::InvalidArgument as i32);
            assert_eq!(e.message, "bad config v");
        }
        other => panic!("{:?}", other),
    }
    assert_eq!(t.join().unwrap().unwrap_err().code(), Code::InvalidArgument);
}

#[test]
fn unsupported_protocol_version_is_refused_in_ready() {
    let (mut host, t) = start(test_plugin());
    assert!(matches!(host.recv().0, Msg::Hello(_)));
    host.send(Msg::Welcome(proto::Welcome { protocol_version: 7, ..Default::default() }), &[]);
    match host.recv().0 {
        Msg::Ready(r) => {
            assert_eq!(r.error.expect("refused").code, Code::FailedPrecondition as i32)
        }
        other => panic!("{:?}", other),
    }
    assert!(t.join().unwrap().is_err());
}

#[test]
fn heartbeats_flow_while_a_handler_is_busy() {
    let mut p = test_plugin();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    p.method("wait", move |_c, _i| {
        release_rx.recv().unwrap();
        Ok("done")
    });
    let (mut host, t) = start(p);
    host.handshake(proto::PluginLimits { heartbeat_interval_ms: 5, ..default_limits() });
    host.send(
        Msg::CallRequest(proto::CallRequest {
            result_buffer_id: 0,
            id: 1,
            method: "wait".into(),
            timeout_ms: 10_000,
            payload: None,
        }),
        &[],
    );
    let mut seqs = Vec::new();
    while seqs.len() < 3 {
        match host.recv_any().0 {
            Msg::Heartbeat(h) => seqs.push(h.seq),
            other => panic!("expected heartbeats while the call runs, got {:?}", other),
        }
    }
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{:?}", seqs);
    release_tx.send(()).unwrap();
    assert_eq!(inline(host.result(1).0), b"done");
    host.shutdown();
    t.join().unwrap().unwrap();
}

#[test]
fn shutdown_answers_calls_queued_before_it() {
    let (mut host, t) = start(test_plugin());
    host.handshake(default_limits());
    for id in 1..=3 {
        host.send(
            Msg::CallRequest(proto::CallRequest {
                result_buffer_id: 0,
                id,
                method: "echo".into(),
                timeout_ms: 1000,
                payload: Some(proto::Payload {
                    data: Some(proto::payload::Data::Inline(vec![b'0' + id as u8])),
                }),
            }),
            &[],
        );
    }
    host.send(Msg::ShutdownRequest(proto::ShutdownRequest { grace_ms: 1000 }), &[]);
    for id in 1..=3 {
        assert_eq!(inline(host.result(id).0), vec![b'0' + id as u8]);
    }
    assert!(matches!(host.recv().0, Msg::ShutdownAck(_)));
    t.join().unwrap().unwrap();
}

#[test]
fn host_closing_the_channel_ends_serving_with_unavailable() {
    let (mut host, t) = start(test_plugin());
    host.handshake(default_limits());
    drop(host);
    let e = t.join().unwrap().unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
}

// ---- broker ----

fn broker_plugin() -> Plugin {
    let mut p = Plugin::new("broker-user", "0.1.0");
    p.method("read", |call, input| {
        let mut f = call.host().open_file(input.as_str()?)?;
        let mut s = String::new();
        f.read_to_string(&mut s).map_err(Error::from)?;
        Ok(s)
    });
    p.method("write", |call, input| {
        let mut f = call.host().open_file_with(
            "/out/result.txt",
            OpenOptions::new().read(false).write(true).create(true).truncate(true),
        )?;
        f.write_all(&input).map_err(Error::from)?;
        Ok("written")
    });
    p.method("ping", |call, _i| {
        let mut s = call.host().connect_unix("/run/svc.sock")?;
        s.write_all(b"ping").map_err(Error::from)?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).map_err(Error::from)?;
        Ok(buf.to_vec())
    });
    p.method("ask", |call, input| call.host().call_host("lookup", input));
    p.method("log", |call, input| {
        call.host().info(input.as_str()?)?;
        call.host().log(crate::Level::Error, "second")?;
        Ok("logged")
    });
    p
}

fn expect_broker(host: &mut FakeHost) -> (proto::BrokerRequest, Vec<OwnedFd>) {
    match host.recv() {
        (Msg::BrokerRequest(r), fds) => (r, fds),
        (other, _) => panic!("expected broker_request, got {:?}", other),
    }
}

fn temp_file(contents: &[u8]) -> std::fs::File {
    let name = std::ffi::CString::new("file").unwrap();
    // An anonymous file stands in for the host's opened file.
    let raw = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    let mut f = unsafe { <std::fs::File as std::os::unix::io::FromRawFd>::from_raw_fd(raw) };
    f.write_all(contents).unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    f
}

#[test]
fn open_file_returns_the_fd_the_host_sent() {
    let (mut host, t) = start(broker_plugin());
    host.handshake(default_limits());
    host.send(
        Msg::CallRequest(proto::CallRequest {
            result_buffer_id: 0,
            id: 1,
            method: "read".into(),
            timeout_ms: 5000,
            payload: Some(proto::Payload {
                data: Some(proto::payload::Data::Inline(b"/data/in.txt".to_vec())),
            }),
        }),
        &[],
    );
    let (req, _) = expect_broker(&mut host);
    match req.request {
        Some(proto::broker_request::Request::OpenFile(o)) => {
            assert_eq!(o.path, "/data/in.txt");
            assert_eq!(o.mode, proto::open_file_request::Mode::Read as i32);
            assert!(!o.create && !o.truncate && !o.append);
        }
        other => panic!("{:?}", other),
    }
    let f: OwnedFd = temp_file(b"granted contents").into();
    host.send(
        Msg::BrokerResponse(proto::BrokerResponse {
            id: req.id,
            error: None,
            response: Some(proto::broker_response::Response::OpenFile(proto::OpenFileResponse {
                fd_index: 0,
            })),
        }),
        &[&f],
    );
    assert_eq!(inline(host.result(1).0), b"granted contents");

    // Write mode flags reach the host.
    host.send(
        Msg::CallRequest(proto::CallRequest {
            result_buffer_id: 0,
            id: 2,
            method: "write".into(),
            timeout_ms: 5000,
            payload: Some(proto::Payload {
                data: Some(proto::payload::Data::Inline(b"out".to_vec())),
            }),
        }),
        &[],
    );
    let (req, _) = expect_broker(&mut host);
    match req.request {
        Some(proto::broker_request::Request::OpenFile(o)) => {
            assert_eq!(o.mode, proto::open_file_request::Mode::Write as i32);
            assert!(o.create && o.truncate && !o.append);
        }
        other => panic!("{:?}", other),
    }
    let mut written = temp_file(b"");
    let dup: OwnedFd = written.try_clone().unwrap().into();
    host.send(
        Msg::BrokerResponse(proto::BrokerResponse {
            id: req.id,
            error: None,
            response: Some(proto::broker_response::Response::OpenFile(proto::OpenFileResponse {
                fd_index: 0,
            })),
        }),
        &[&dup],
    );
    assert_eq!(inline(host.result(2).0), b"written");
    let mut s = String::new();
    written.seek(SeekFrom::Start(0)).unwrap();
    written.read_to_string(&mut s).unwrap();
    assert_eq!(s, "out");
    host.shutdown();
    t.join().unwrap().unwrap();
}

#[test]
fn denied_open_reaches_the_caller_with_the_hosts_code() {
    let (mut host, t) = start(broker_plugin());
    host.handshake(default_limits());
    host.send(
        Msg::CallRequest(proto::CallRequest {
            result_buffer_id: 0,
            id: 1,
            method: "read".into(),
            timeout_ms: 5000,
            payload: Some(proto::Payload {
                data: Some(proto::payload::Data::Inline(b"/etc/shadow".to_vec())),
            }),
        }),
        &[],
    );
    let (req, _) = expect_broker(&mut host);
    host.send(
        Msg::BrokerResponse(proto::BrokerResponse {
            id: req.id,
            error: Some(proto::Error {
                code: Code::PermissionDenied as i32,
                message: "'/etc/shadow' is outside the plugin's fs.read grants".into(),
                details: Default::default(),
            }),
            response: None,
        }),
        &[],
    );
    let e = error_of(host.result(1).0);
    assert_eq!(e.code, Code::PermissionDenied as i32);
    assert!(e.message.contains("outside the plugin's fs.read grants"), "{}", e.message);
    host.shutdown();
    t.join().unwrap().unwrap();
}

#[test]
fn connect_hands_over_a_connected_socket() {
    let (mut host, t) = start(broker_plugin());
    host.handshake(default_limits());
    host.send(
        Msg::CallRequest(proto::CallRequest {
            result_buffer_id: 0,
            id: 1,
            method: "ping".into(),
            timeout_ms: 5000,
            payload: None,
        }),
        &[],
    );
    let (req, _) = expect_broker(&mut host);
    match &req.request {
        Some(proto::broker_request::Request::Connect(c)) => {
            assert_eq!(c.endpoint, "unix:/run/svc.sock")
        }
        other => panic!("{:?}", other),
    }
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    let theirs: OwnedFd = theirs.into();
    host.send(
        Msg::BrokerResponse(proto::BrokerResponse {
            id: req.id,
            error: None,
            response: Some(proto::broker_response::Response::Connect(proto::ConnectResponse {
                fd_index: 0,
            })),
        }),
        &[&theirs],
    );
    drop(theirs);
    let mut buf = [0u8; 4];
    ours.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    ours.write_all(b"pong").unwrap();
    assert_eq!(inline(host.result(1).0), b"pong");
    host.shutdown();
    t.join().unwrap().unwrap();
}

#[test]
fn call_host_round_trips_payloads_inline_and_as_memfds() {
    let (mut host, t) = start(broker_plugin());
    host.handshake(default_limits());
    // Small: inline both ways.
    host.send(
        Msg::CallRequest(proto::CallRequest {
            result_buffer_id: 0,
            id: 1,
            method: "ask".into(),
            timeout_ms: 5000,
            payload: Some(proto::Payload {
                data: Some(proto::payload::Data::Inline(b"key".to_vec())),
            }),
        }),
        &[],
    );
    let (req, _) = expect_broker(&mut host);
    match &req.request {
        Some(proto::broker_request::Request::HostCall(h)) => {
            assert_eq!(h.function, "lookup");
            assert_eq!(
                h.payload.as_ref().unwrap().data,
                Some(proto::payload::Data::Inline(b"key".to_vec()))
            );
        }
        other => panic!("{:?}", other),
    }
    host.send(
        Msg::BrokerResponse(proto::BrokerResponse {
            id: req.id,
            error: None,
            response: Some(proto::broker_response::Response::HostCall(proto::HostCallResponse {
                payload: Some(proto::Payload {
                    data: Some(proto::payload::Data::Inline(b"value".to_vec())),
                }),
            })),
        }),
        &[],
    );
    assert_eq!(inline(host.result(1).0), b"value");

    // Large: the request payload leaves as a memfd, the answer comes back as one.
    let big_in = vec![b'i'; 50_000];
    let memfd_in = crate::payload::create_sealed_memfd("in", &big_in).unwrap();
    host.send(
        Msg::CallRequest(proto::CallRequest {
            result_buffer_id: 0,
            id: 2,
            method: "ask".into(),
            timeout_ms: 5000,
            payload: Some(proto::Payload {
                data: Some(proto::payload::Data::Memfd(proto::MemfdRef {
                    fd_index: 0,
                    size: big_in.len() as u64,
                })),
            }),
        }),
        &[&memfd_in],
    );
    let (req, fds) = expect_broker(&mut host);
    let payload = match req.request {
        Some(proto::broker_request::Request::HostCall(h)) => h.payload,
        other => panic!("{:?}", other),
    };
    let mut slots: Vec<Option<OwnedFd>> = fds.into_iter().map(Some).collect();
    let got = Payload::from_proto(payload.as_ref(), &mut slots, 1 << 20).unwrap();
    assert!(got.is_memfd());
    assert_eq!(&*got, &big_in[..]);
    let big_out = vec![b'o'; 40_000];
    let memfd_out = crate::payload::create_sealed_memfd("out", &big_out).unwrap();
    host.send(
        Msg::BrokerResponse(proto::BrokerResponse {
            id: req.id,
            error: None,
            response: Some(proto::broker_response::Response::HostCall(proto::HostCallResponse {
                payload: Some(proto::Payload {
                    data: Some(proto::payload::Data::Memfd(proto::MemfdRef {
                        fd_index: 0,
                        size: big_out.len() as u64,
                    })),
                }),
            })),
        }),
        &[&memfd_out],
    );
    let (r, fds) = host.result(2);
    let p = match r {
        proto::call_result::Result::Payload(p) => p,
        other => panic!("{:?}", other),
    };
    let mut slots: Vec<Option<OwnedFd>> = fds.into_iter().map(Some).collect();
    assert_eq!(&*Payload::from_proto(Some(&p), &mut slots, 1 << 20).unwrap(), &big_out[..]);
    host.shutdown();
    t.join().unwrap().unwrap();
}

#[test]
fn unanswered_broker_request_fails_at_the_call_deadline() {
    let (mut host, t) = start(broker_plugin());
    host.handshake(default_limits());
    let start = Instant::now();
    host.send(
        Msg::CallRequest(proto::CallRequest {
            result_buffer_id: 0,
            id: 1,
            method: "read".into(),
            timeout_ms: 150,
            payload: Some(proto::Payload {
                data: Some(proto::payload::Data::Inline(b"/data/x".to_vec())),
            }),
        }),
        &[],
    );
    let (req, _) = expect_broker(&mut host);
    let e = error_of(host.result(1).0);
    assert_eq!(e.code, Code::DeadlineExceeded as i32, "{}", e.message);
    assert!(start.elapsed() >= Duration::from_millis(150));
    // A late answer for the abandoned request is dropped (its fd closed), not misdelivered.
    let f: OwnedFd = temp_file(b"late").into();
    host.send(
        Msg::BrokerResponse(proto::BrokerResponse {
            id: req.id,
            error: None,
            response: Some(proto::broker_response::Response::OpenFile(proto::OpenFileResponse {
                fd_index: 0,
            })),
        }),
        &[&f],
    );
    assert_eq!(inline(host.call(2, "log", b"after", 1000)), b"logged");
    host.shutdown();
    t.join().unwrap().unwrap();
}

// Calls the broker plugin's "log" method with `input`; returns the (level, message) of each
// log line the host received before the call's result.
fn log_call(host: &mut FakeHost, input: Vec<u8>) -> Vec<(i32, String)> {
    host.send(
        Msg::CallRequest(proto::CallRequest {
            result_buffer_id: 0,
            id: 1,
            method: "log".into(),
            timeout_ms: 1000,
            payload: Some(proto::Payload { data: Some(proto::payload::Data::Inline(input)) }),
        }),
        &[],
    );
    let mut logs = Vec::new();
    loop {
        match host.recv().0 {
            Msg::Log(l) => logs.push((l.level, l.message)),
            Msg::CallResult(r) => {
                assert_eq!(r.id, 1);
                return logs;
            }
            other => panic!("{:?}", other),
        }
    }
}

// A line longer than the 8 KiB cap whose cut falls inside a two-byte character: the host must
// get valid UTF-8 (prost, like the launcher, refuses a proto3 string that is not), cut before
// the character. Log lines are never answered: the next message is the call's result.
#[test]
fn long_log_lines_are_cut_on_a_char_boundary() {
    let (mut host, t) = start(broker_plugin());
    host.handshake(default_limits());
    let mut line = "a".repeat(8191);
    line.push('é');
    line.push_str("bbb");
    let logs = log_call(&mut host, line.into_bytes());
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0].1, "a".repeat(8191));
    host.shutdown();
    t.join().unwrap().unwrap();
}

#[test]
fn log_lines_reach_the_host_with_their_level() {
    let (mut host, t) = start(broker_plugin());
    host.handshake(default_limits());
    let logs = log_call(&mut host, b"hello log".to_vec());
    assert_eq!(
        logs,
        vec![
            (proto::log_message::Level::Info as i32, "hello log".to_string()),
            (proto::log_message::Level::Error as i32, "second".to_string())
        ]
    );
    host.shutdown();
    t.join().unwrap().unwrap();
}

#[test]
fn invalid_plugin_names_fail_before_the_handshake() {
    let (_host_end, plugin_end) = Channel::socket_pair().unwrap();
    let e = Plugin::new("Bad Name", "1.0.0").serve_fd(plugin_end).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
}

#[test]
fn small_host_message_cap_moves_payloads_to_memfds() {
    let (mut host, t) = start(test_plugin());
    host.handshake(proto::PluginLimits { max_message_bytes: 4096, ..default_limits() });
    host.send(
        Msg::CallRequest(proto::CallRequest {
            result_buffer_id: 0,
            id: 1,
            method: "big".into(),
            timeout_ms: 1000,
            payload: Some(proto::Payload {
                data: Some(proto::payload::Data::Inline(b"3000".to_vec())),
            }),
        }),
        &[],
    );
    let (r, fds) = host.result(1);
    match r {
        proto::call_result::Result::Payload(proto::Payload {
            data: Some(proto::payload::Data::Memfd(m)),
        }) => {
            assert_eq!(m.size, 3000);
            assert_eq!(fds.len(), 1);
        }
        other => panic!(
            "a 3000-byte result under a 4096-byte cap must leave as a memfd, got {:?}",
            other
        ),
    }
    host.shutdown();
    t.join().unwrap().unwrap();
}

#[test]
fn broker_requests_are_paced_to_the_announced_rate() {
    let mut p = Plugin::new("pacer", "1.0.0");
    p.method("many", |call, _i| {
        for _ in 0..30 {
            call.host().call_host("f", "x")?;
        }
        Ok("done")
    });
    let (mut host, t) = start(p);
    host.handshake(proto::PluginLimits { broker_requests_per_second: 25, ..default_limits() });
    let started = Instant::now();
    host.send(
        Msg::CallRequest(proto::CallRequest {
            result_buffer_id: 0,
            id: 1,
            method: "many".into(),
            timeout_ms: 10_000,
            payload: None,
        }),
        &[],
    );
    for _ in 0..30 {
        let (req, _) = expect_broker(&mut host);
        host.send(
            Msg::BrokerResponse(proto::BrokerResponse {
                id: req.id,
                error: None,
                response: Some(proto::broker_response::Response::HostCall(
                    proto::HostCallResponse { payload: None },
                )),
            }),
            &[],
        );
    }
    assert_eq!(inline(host.result(1).0), b"done");
    // A burst of 25, then 5 more at 25/s: at least ~200 ms.
    assert!(started.elapsed() >= Duration::from_millis(180), "{:?}", started.elapsed());
    host.shutdown();
    t.join().unwrap().unwrap();
}

#[test]
fn single_threaded_serving_handles_broker_answers_and_queued_calls() {
    let mut p = broker_plugin();
    p.single_threaded(true);
    p.method("echo", |_c, input| Ok(input));
    let (mut host, t) = start(p);
    host.handshake(proto::PluginLimits { heartbeat_interval_ms: 5, ..default_limits() });
    host.send(
        Msg::CallRequest(proto::CallRequest {
            result_buffer_id: 0,
            id: 1,
            method: "read".into(),
            timeout_ms: 5000,
            payload: Some(proto::Payload {
                data: Some(proto::payload::Data::Inline(b"/data/in.txt".to_vec())),
            }),
        }),
        &[],
    );
    let (req, _) = expect_broker(&mut host);
    // A call and the shutdown request arrive while the handler waits for its broker answer:
    // the waiting handler receives them and queues them, in order, behind itself.
    host.send(
        Msg::CallRequest(proto::CallRequest {
            result_buffer_id: 0,
            id: 2,
            method: "echo".into(),
            timeout_ms: 5000,
            payload: Some(proto::Payload {
                data: Some(proto::payload::Data::Inline(b"two".to_vec())),
            }),
        }),
        &[],
    );
    host.send(Msg::ShutdownRequest(proto::ShutdownRequest { grace_ms: 1000 }), &[]);
    let f: OwnedFd = temp_file(b"single").into();
    host.send(
        Msg::BrokerResponse(proto::BrokerResponse {
            id: req.id,
            error: None,
            response: Some(proto::broker_response::Response::OpenFile(proto::OpenFileResponse {
                fd_index: 0,
            })),
        }),
        &[&f],
    );
    // No heartbeats in this mode: the next messages are the two results and the ack.
    match host.recv_any() {
        (Msg::CallResult(r), _) => assert_eq!(inline(r.result.unwrap()), b"single"),
        (other, _) => panic!("{:?}", other),
    }
    match host.recv_any() {
        (Msg::CallResult(r), _) => assert_eq!(inline(r.result.unwrap()), b"two"),
        (other, _) => panic!("{:?}", other),
    }
    assert!(matches!(host.recv_any().0, Msg::ShutdownAck(_)));
    t.join().unwrap().unwrap();
}
