//! The data channel ($CORDON_DATA_FD): a second socket on which a host client sends calls
//! straight to the plugin; the plugin announces it with a Ready sent before its Hello and
//! serves it with the same handlers, while fd 3 keeps the handshake, broker and shutdown.

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
    fn send(&self, msg: Msg) {
        let bytes = proto::Envelope { msg: Some(msg) }.encode_to_vec();
        self.channel.send(&bytes, &[]).expect("data peer send");
    }

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

    fn call(&mut self, id: u64, method: &str, payload: proto::payload::Data) -> Option<Msg> {
        self.send(Msg::CallRequest(proto::CallRequest {
            id,
            method: method.to_string(),
            timeout_ms: 1000,
            payload: Some(proto::Payload { data: Some(payload) }),
        }));
        self.recv()
    }
}

fn start_with_data(plugin: Plugin) -> (FakeHost, DataPeer, thread::JoinHandle<crate::Result<()>>) {
    let (host_end, plugin_end) = Channel::socket_pair().unwrap();
    let (data_host, data_plugin) = Channel::socket_pair().unwrap();
    let t = thread::spawn(move || plugin.serve_fds(plugin_end, Some(data_plugin)));
    (
        FakeHost { channel: Channel::new(host_end, 64 * 1024, 4), buf: Vec::new() },
        DataPeer { channel: Channel::new(data_host, 1 << 20, 0), buf: Vec::new() },
        t,
    )
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
fn data_channel_is_announced_and_served_by_the_same_handlers() {
    let (mut host, mut data, t) = start_with_data(test_plugin());
    host.handshake(default_limits());
    // Sent before the Hello, so it is queued by now.
    assert!(matches!(data.recv(), Some(Msg::Ready(proto::Ready { error: None }))));
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
}

#[test]
fn a_memfd_payload_ends_only_the_data_channel() {
    let (mut host, mut data, t) = start_with_data(test_plugin());
    host.handshake(default_limits());
    assert!(matches!(data.recv(), Some(Msg::Ready(_))));
    let bad = data.call(
        3,
        "echo",
        proto::payload::Data::Memfd(proto::MemfdRef { fd_index: 0, size: 10 }),
    );
    assert!(bad.is_none(), "the plugin must close the data channel, got {:?}", bad);
    assert_eq!(inline(host.call(2, "echo", b"still here", 1000)), b"still here");
    host.shutdown();
    t.join().unwrap().expect("clean shutdown is Ok");
}

#[test]
fn single_threaded_serving_does_not_announce_the_data_channel() {
    let mut plugin = test_plugin();
    plugin.single_threaded(true);
    let (mut host, mut data, t) = start_with_data(plugin);
    host.handshake(default_limits());
    // Not served: the plugin drops its end unannounced, so the peer reads EOF, not a Ready.
    assert!(data.recv().is_none());
    host.shutdown();
    t.join().unwrap().expect("clean shutdown is Ok");
}
