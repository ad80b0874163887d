#!/usr/bin/env bash
# Regenerates the seed corpus of ipc_envelope_fuzzer from protobuf text with protoc --encode.
# Each seed is a sequence of (u16 little-endian length, envelope bytes) datagrams.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$here/ipc_envelope_corpus
mkdir -p "$out"
encode() {  # text → framed datagram on stdout
  local bin
  bin=$(mktemp)
  printf '%s' "$1" | protoc --encode=cordon.v1.Envelope -I"$root/ipc/proto" \
    "$root/ipc/proto/cordon/v1/envelope.proto" >"$bin"
  local n
  n=$(stat -c %s "$bin")
  printf "\\x$(printf %02x $((n & 255)))\\x$(printf %02x $((n >> 8)))"
  cat "$bin"
  rm -f "$bin"
}
seed() {  # name, then one text envelope per argument
  local name=$1
  shift
  : >"$out/$name"
  for t in "$@"; do encode "$t" >>"$out/$name"; done
}
seed call_result_ok 'call_result { id: 1 payload { inline: "x" } }'
seed call_result_error 'call_result { id: 1 error { code: 5 message: "nope" details { key: "k" value: "v" } } }'
seed unknown_id 'call_result { id: 99 payload { inline: "x" } }'
seed memfd_ref_without_fd 'call_result { id: 1 payload { memfd { fd_index: 0 size: 10 } } }'
seed heartbeats 'heartbeat { seq: 1 }' 'heartbeat { seq: 2 }' 'call_result { id: 1 }'
seed log 'log { level: INFO message: "hello" }' 'call_result { id: 1 }'
seed broker_open 'broker_request { id: 1 open_file { path: "/data/x" mode: READ } }'
seed broker_connect 'broker_request { id: 2 connect { endpoint: "localhost:80" } }'
seed broker_host_call 'broker_request { id: 3 host_call { function: "f" payload { inline: "a" } } }'
seed late_hello 'hello { protocol { min: 1 max: 1 } name: "x" version: "1.0.0" }'
seed shutdown_ack 'shutdown_ack {}'
seed welcome_from_plugin 'welcome { protocol_version: 1 }'
seed call_request_from_plugin 'call_request { id: 1 method: "m" timeout_ms: 5 }'
# Shared buffers. The fuzzed plugin opted in to shared results, and call 1 is lent result
# buffer 1 (64 KiB): a result naming exactly that range is copied out; another id, a range
# outside it (or wrapping around 2^64) is a bad_payload violation. Announcements and lending
# travel host -> plugin only: a plugin sending them is unexpected_message.
seed shared_ref_from_plugin 'call_result { id: 1 payload { shared { buffer_id: 1 offset: 0 length: 4096 } } }'
seed shared_result_whole_buffer 'call_result { id: 1 payload { shared { buffer_id: 1 offset: 0 length: 65536 } } }'
seed shared_result_other_buffer 'call_result { id: 1 payload { shared { buffer_id: 2 offset: 0 length: 16 } } }'
seed shared_result_past_end 'call_result { id: 1 payload { shared { buffer_id: 1 offset: 65000 length: 4096 } } }'
seed shared_result_wraps 'call_result { id: 1 payload { shared { buffer_id: 1 offset: 18446744073709551615 length: 2 } } }'
seed shared_result_huge_length 'call_result { id: 1 payload { shared { buffer_id: 1 offset: 8 length: 18446744073709551615 } } }'
seed shared_result_unknown_call 'call_result { id: 7 payload { shared { buffer_id: 1 offset: 0 length: 16 } } }'
seed shared_announce_from_plugin 'shared_buffer_announce { buffer_id: 1 fd_index: 0 }'
seed result_announce_from_plugin 'result_buffer_announce { buffer_id: 1 fd_index: 0 }'
seed lending_request_from_plugin 'call_request { id: 1 method: "m" result_buffer_id: 1 }'
seed broker_shared_payload 'broker_request { id: 3 host_call { function: "f" payload { shared { buffer_id: 1 length: 4 } } } }'
printf '\x03\x00\x9a\x06\x00' >"$out/unknown_message_type"
printf '\x05\x00\xff\xff\xff\xff\xff' >"$out/malformed"
echo "seeds in $out: $(ls "$out" | wc -l)"
