//! Data channels: call-only sockets the host hands the plugin over fd 3 (DataChannelOpen with
//! the socket) and takes back (DataChannelClose), each held by one host client that sends calls
//! straight to the plugin; served with the same handlers, while fd 3 keeps the handshake,
//! broker and shutdown.

use std::os::unix::io::OwnedFd;
use std::thread;
use std::time::{Duration, Instant};

use prost::Message;

use crate::channel::{Channel, Received};
use crate::fake_host_tests::{default_limits, error_of, inline, test_plugin, FakeHost};
use crate::proto;
use crate::proto::envelope::Msg;
use crate::Plugin;

struct DataPeer {
    channel: Channel,
    buf: Vec<u8>,
}

impl DataPeer {
    fn send(&self, msg: Msg) -> crate::Result<()> {
        let bytes = proto::Envelope { msg: Some(msg) }.encode_to_vec();
        self.channel.send(&bytes, &[])
    }

    /// The next message, or None at EOF.
    fn recv(&mut self) -> Option<Msg> {
        let deadline = Instant::now() + Duration::from_secs(10);
        match self.channel.receive(&mut self.buf, Some(deadline), None).expect("receive") {
            Received::Datagram(d) => {
                Some(proto::Envelope::decode(&d.bytes[..]).expect("valid envelope").msg.unwrap())
            }
            Received::Closed => None,
            Received::TimedOut => panic!("nothing on the data channel within 10 s"),
            Received::Woken => unreachable!(),
        }
    }

    /// One call: the answer, or None when the channel is closed (send failed or EOF).
    fn call(&mut self, id: u64, method: &str, payload: proto::payload::Data) -> Option<Msg> {
        let sent = self.send(Msg::CallRequest(proto::CallRequest {
            result_buffer_id: 0,
            id,
            method: method.to_string(),
            timeout_ms: 1000,
            payload: Some(proto::Payload { data: Some(payload) }),
        }));
        if sent.is_err() {
            return None;
        }
        self.recv()
    }
}

fn start(plugin: Plugin) -> (FakeHost, thread::JoinHandle<crate::Result<()>>) {
    let (host_end, plugin_end) = Channel::socket_pair().unwrap();
    let t = thread::spawn(move || plugin.serve_fd(plugin_end));
    (FakeHost { channel: Channel::new(host_end, 64 * 1024, 4), buf: Vec::new() }, t)
}

fn open_msg(id: u64) -> Msg {
    Msg::DataChannelOpen(proto::DataChannelOpen { channel_id: id })
}

fn close_msg(id: u64) -> Msg {
    Msg::DataChannelClose(proto::DataChannelClose { channel_id: id })
}

/// Hands the plugin data channel `id` (a fresh socketpair) and returns the holder's end.
fn open(host: &FakeHost, id: u64) -> DataPeer {
    let (holder, plugin_end) = Channel::socket_pair().unwrap();
    host.send(open_msg(id), &[&plugin_end]);
    DataPeer { channel: Channel::new(holder, 1 << 20, 0), buf: Vec::new() }
}

fn result_of(m: Option<Msg>, id: u64) -> proto::call_result::Result {
    match m {
        Some(Msg::CallResult(r)) => {
            assert_eq!(r.id, id);
            r.result.expect("result set")
        }
        other => panic!("expected a call_result on the data channel, got {:?}", other),
    }
}

#[test]
fn data_channels_are_offered_and_served_by_the_same_handlers() {
    let (mut host, t) = start(test_plugin());
    let hello = host.handshake(default_limits());
    assert_eq!(hello.data_channels.map(|d| d.max_open), Some(4));
    let mut data = open(&host, 1);
    let big = vec![b'a'; 200 * 1024]; // over fd 3's inline threshold: still inline here
    let echoed = data.call(7, "echo", proto::payload::Data::Inline(big.clone()));
    assert_eq!(inline(result_of(echoed, 7)), big);
    let failed = data.call(8, "fail", proto::payload::Data::Inline(Vec::new()));
    assert_eq!(error_of(result_of(failed, 8)).code, crate::Code::NotFound as i32);
    // fd 3 keeps working beside it.
    assert_eq!(inline(host.call(1, "echo", b"main", 1000)), b"main");
    host.shutdown();
    host.expect_closed();
    t.join().unwrap().expect("clean shutdown is Ok");
    assert!(data.recv().is_none(), "the plugin's exit closes its data channels");
}

#[test]
fn a_memfd_payload_ends_only_that_data_channel() {
    let (mut host, t) = start(test_plugin());
    host.handshake(default_limits());
    let mut bad_peer = open(&host, 1);
    let mut good_peer = open(&host, 2);
    let bad = bad_peer.call(
        3,
        "echo",
        proto::payload::Data::Memfd(proto::MemfdRef { fd_index: 0, size: 10 }),
    );
    assert!(bad.is_none(), "the plugin must close the data channel, got {:?}", bad);
    let other = good_peer.call(1, "echo", proto::payload::Data::Inline(b"other".to_vec()));
    assert_eq!(inline(result_of(other, 1)), b"other");
    assert_eq!(inline(host.call(2, "echo", b"still here", 1000)), b"still here");
    // The failed channel's slot is freed by the host's close, which is no violation.
    host.send(close_msg(1), &[]);
    host.shutdown();
    t.join().unwrap().expect("clean shutdown is Ok");
}

// The review's case: once the host takes a channel back, its holder can no longer reach the
// plugin (EOF, no answer), while the next holder is served.
#[test]
fn a_closed_channel_is_dead_for_its_holder() {
    let (mut host, t) = start(test_plugin());
    host.handshake(default_limits());
    let mut first = open(&host, 1);
    let ok = first.call(1, "echo", proto::payload::Data::Inline(b"a".to_vec()));
    assert_eq!(inline(result_of(ok, 1)), b"a");
    host.send(close_msg(1), &[]);
    let mut second = open(&host, 2);
    // EOF once the plugin handled the close (recv waits for it: no sleep).
    assert!(first.recv().is_none(), "the revoked holder must read EOF");
    let late = first.call(2, "echo", proto::payload::Data::Inline(b"after".to_vec()));
    assert!(late.is_none(), "a revoked holder got an answer: {:?}", late);
    let served = second.call(1, "echo", proto::payload::Data::Inline(b"b".to_vec()));
    assert_eq!(inline(result_of(served, 1)), b"b");
    host.shutdown();
    t.join().unwrap().expect("clean shutdown is Ok");
}

#[test]
fn single_threaded_serving_offers_no_data_channels() {
    let mut plugin = test_plugin();
    plugin.single_threaded(true);
    let (mut host, t) = start(plugin);
    let hello = host.handshake(default_limits());
    assert!(hello.data_channels.is_none());
    host.shutdown();
    t.join().unwrap().expect("clean shutdown is Ok");
}

/// Plays a host that sends `messages` (each with that many fresh sockets) after the
/// handshake; returns how serving ended.
fn serve_against(plugin: Plugin, messages: Vec<(Msg, usize)>) -> crate::Result<()> {
    let (mut host, t) = start(plugin);
    host.handshake(default_limits());
    let mut keep: Vec<OwnedFd> = Vec::new();
    for (msg, nfds) in messages {
        let mut fds = Vec::new();
        for _ in 0..nfds {
            let (a, b) = Channel::socket_pair().unwrap();
            keep.push(a);
            fds.push(b);
        }
        let refs: Vec<&OwnedFd> = fds.iter().collect();
        let bytes = proto::Envelope { msg: Some(msg) }.encode_to_vec();
        let raw: Vec<_> = refs.iter().map(|f| std::os::unix::io::AsRawFd::as_raw_fd(*f)).collect();
        // The plugin may already have stopped over an earlier message.
        let _ = host.channel.send(&bytes, &raw);
    }
    // A plugin that stops closes its channel; one that goes on would answer this.
    let result = t.join().unwrap();
    host.expect_closed();
    result
}

#[test]
fn a_host_breaking_the_data_channel_rules_ends_serving() {
    let cases: Vec<(&str, Plugin, Vec<(Msg, usize)>)> = vec![
        ("open without its fd", test_plugin(), vec![(open_msg(1), 0)]),
        ("open with two fds", test_plugin(), vec![(open_msg(1), 2)]),
        ("a reused id", test_plugin(), vec![(open_msg(1), 1), (open_msg(1), 1)]),
        (
            "over the cap",
            {
                let mut p = test_plugin();
                p.max_data_channels(1);
                p
            },
            vec![(open_msg(1), 1), (open_msg(2), 1)],
        ),
        (
            "never offered",
            {
                let mut p = test_plugin();
                p.max_data_channels(0);
                p
            },
            vec![(open_msg(1), 1)],
        ),
        ("close of a channel never opened", test_plugin(), vec![(close_msg(9), 0)]),
    ];
    for (what, plugin, messages) in cases {
        let err = serve_against(plugin, messages).expect_err(what);
        assert!(err.to_string().contains("data_channel_"), "{}: {}", what, err);
    }
}
