package cordon

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	pb "cordon.dev/sdk/go/cordonpb"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// Channel is a data-plane channel to one plugin, opened with OpenChannel: calls on it skip
// the control protocol (framing, request dispatch, ownership lookup). For a plugin loaded
// WithDirectChannel it is the plugin's own socket and calls do not pass through the daemon at
// all (Direct() is true); otherwise the daemon relays each call. Calls on one Channel run one
// at a time; a relayed plugin takes several Channels for parallel calls, a direct one has a
// single one. Close it when done; it also closes when the plugin exits or is unloaded.
//
// The socket is driven with plain poll/read/write system calls on the calling goroutine, not
// through Go's network poller: a call is then two thread wake-ups (ours and the plugin's),
// with no runtime timer and no poller hand-off, which on a busy machine is most of a direct
// call's latency.
type Channel struct {
	mu       sync.Mutex // serializes calls; held while one is in flight
	fd       int
	closeMu  sync.Mutex
	closed   bool
	nextID   uint64
	buf      []byte
	direct   bool
	client   *Client
	pluginID string
}

// cancelPoll bounds how long a Channel call takes to notice its context's cancellation (a
// deadline is seen on time: it bounds the wait itself).
const cancelPoll = 20 * time.Millisecond

// Direct reports whether calls go straight to the plugin (no daemon hop).
func (ch *Channel) Direct() bool { return ch.direct }

// OpenChannel asks the daemon for a data-plane channel to the plugin.
func (c *Client) OpenChannel(ctx context.Context, pluginID string) (*Channel, error) {
	resp, fds, err := c.roundTripFds(ctx, &pb.ControlRequest{Op: &pb.ControlRequest_OpenChannel{
		OpenChannel: &pb.ControlOpenChannelRequest{PluginId: pluginID}}}, 0)
	if err != nil {
		return nil, err
	}
	idx := int(resp.GetOpenChannel().GetFdIndex())
	if idx >= len(fds) {
		closeFds(fds)
		return nil, fmt.Errorf("cordon: open_channel response names fd %d but carries %d fds", idx, len(fds))
	}
	for i, fd := range fds {
		if i != idx {
			syscall.Close(fd)
		}
	}
	fd := fds[idx]
	// Received with MSG_CMSG_CLOEXEC. It must be a SOCK_SEQPACKET socket: datagram boundaries
	// are the framing.
	if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_SEQPACKET {
		unix.Close(fd)
		return nil, errors.New("cordon: channel fd is not a SOCK_SEQPACKET socket")
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("cordon: channel fd: %w", err)
	}
	// Call ids start at a random point: a direct channel may still carry a late answer for an
	// earlier holder's call, which must not match one of ours.
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("cordon: channel ids: %w", err)
	}
	return &Channel{fd: fd, buf: make([]byte, MaxDatagram+1), direct: resp.GetOpenChannel().GetDirect(),
		client: c, pluginID: pluginID, nextID: binary.LittleEndian.Uint64(seed[:]) >> 1}, nil
}

// OpenChannel opens a data-plane channel to this plugin.
func (p *Plugin) OpenChannel(ctx context.Context) (*Channel, error) {
	return p.client.OpenChannel(ctx, p.ID)
}

// Close closes the channel; a call in flight on it returns ErrClosed.
func (ch *Channel) Close() error {
	ch.closeMu.Lock()
	if ch.closed {
		ch.closeMu.Unlock()
		return nil
	}
	ch.closed = true
	// Wakes a call blocked in poll; the fd itself is closed once no call uses it, so its
	// number cannot be reused under a running call. Not on a direct channel: its socket is
	// the plugin's data channel itself, which later holders still need; a call there polls
	// in short slices and notices the close instead.
	if !ch.direct {
		_ = unix.Shutdown(ch.fd, unix.SHUT_RDWR)
	}
	ch.closeMu.Unlock()
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return unix.Close(ch.fd)
}

// Call calls method with the same semantics as Client.Call (deadline, cancellation,
// structured errors). On a direct channel the daemon does not see the deadline: when the
// context's deadline passes before the answer, Call asks the daemon to kill the plugin (as
// the daemon does itself for calls it relays) and returns context.DeadlineExceeded.
func (ch *Channel) Call(ctx context.Context, method string, input []byte) ([]byte, error) {
	out, sent, err := ch.call(ctx, method, input)
	if ch.direct && sent && errors.Is(err, context.DeadlineExceeded) {
		kctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, kerr := ch.client.Kill(kctx, ch.pluginID, fmt.Sprintf("call %q on a direct channel missed its deadline", method)); kerr != nil {
			// The hung plugin may still be running: the caller must know.
			return out, fmt.Errorf("%w (and killing the hung plugin failed: %v)", err, kerr)
		}
	}
	return out, err
}

// wait polls the channel for events until it is ready, the context ends, or the deadline
// passes.
func (ch *Channel) wait(ctx context.Context, events int16) error {
	deadline, hasDeadline := ctx.Deadline()
	for {
		timeout := cancelPoll
		if ctx.Done() == nil {
			timeout = -1
		}
		if ch.direct && (timeout < 0 || timeout > cancelPoll) {
			timeout = cancelPoll
		}
		if hasDeadline {
			left := time.Until(deadline)
			if left <= 0 {
				return context.DeadlineExceeded
			}
			if timeout < 0 || left < timeout {
				timeout = left
			}
		}
		ms := -1
		if timeout >= 0 {
			ms = int((timeout + time.Millisecond - 1) / time.Millisecond)
		}
		fds := []unix.PollFd{{Fd: int32(ch.fd), Events: events}}
		n, err := unix.Poll(fds, ms)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("cordon: poll on the channel: %w", err)
		}
		if n > 0 {
			return nil // readable, writable, or hung up: the read/write says which
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		ch.closeMu.Lock()
		closed := ch.closed
		ch.closeMu.Unlock()
		if closed {
			return fmt.Errorf("%w: the channel was closed", ErrClosed)
		}
	}
}

func (ch *Channel) call(ctx context.Context, method string, input []byte) (out []byte, sent bool, err error) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.closeMu.Lock()
	closed := ch.closed
	ch.closeMu.Unlock()
	if closed {
		return nil, false, fmt.Errorf("%w: the channel was closed", ErrClosed)
	}
	ch.nextID++
	req := &pb.CallRequest{Id: ch.nextID, Method: method, Payload: &pb.Payload{Data: &pb.Payload_Inline{Inline: input}}}
	if deadline, ok := ctx.Deadline(); ok {
		ms := time.Until(deadline).Milliseconds()
		if ms <= 0 {
			return nil, false, context.DeadlineExceeded
		}
		req.TimeoutMs = uint64(ms)
	}
	bytes, err := proto.Marshal(&pb.Envelope{Msg: &pb.Envelope_CallRequest{CallRequest: req}})
	if err != nil {
		return nil, false, err
	}
	if len(bytes) > MaxDatagram {
		return nil, false, fmt.Errorf("cordon: call of %d bytes exceeds the channel's %d-byte datagram cap", len(bytes), MaxDatagram)
	}
	for {
		_, err := unix.Write(ch.fd, bytes)
		if err == nil {
			break
		}
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			if werr := ch.wait(ctx, unix.POLLOUT); werr != nil {
				return nil, false, werr
			}
			continue
		}
		if err == unix.EPIPE || err == unix.ECONNRESET || err == unix.ENOTCONN {
			return nil, false, ch.closedError(err)
		}
		return nil, false, fmt.Errorf("cordon: channel write: %w", err)
	}
	for {
		// Try first: the answer is often there already, which saves the poll.
		n, err := unix.Read(ch.fd, ch.buf)
		if err == unix.EAGAIN || err == unix.EINTR {
			if werr := ch.wait(ctx, unix.POLLIN); werr != nil {
				return nil, true, werr
			}
			continue
		}
		if err != nil {
			return nil, true, ch.closedError(err)
		}
		if n == 0 {
			return nil, true, ch.closedError(nil)
		}
		// On a direct channel these bytes come from the sandboxed plugin itself: capped by
		// the buffer (MaxDatagram+1 read means oversized), any fds it attached were dropped by
		// the kernel (read passes no control buffer), and only an inline call result is
		// accepted.
		if n > MaxDatagram {
			return nil, true, fmt.Errorf("cordon: datagram over %d bytes on the channel", MaxDatagram)
		}
		env := &pb.Envelope{}
		if err := proto.Unmarshal(ch.buf[:n], env); err != nil || env.GetCallResult() == nil ||
			env.GetCallResult().GetPayload().GetMemfd() != nil {
			return nil, true, fmt.Errorf("cordon: malformed datagram on the channel")
		}
		res := env.GetCallResult()
		if res.GetId() != req.Id {
			// The late answer to a call abandoned by cancellation. A plugin sending nothing but
			// wrong ids must not hold the call past its deadline.
			if err := ctx.Err(); err != nil {
				return nil, true, err
			}
			continue
		}
		if e := res.GetError(); e != nil {
			src := pb.ControlErrorSource_ERROR_SOURCE_SANDBOX
			// On a direct channel only the plugin itself answers: a crash or kill shows as
			// the channel closing instead.
			if ch.direct || e.GetDetails()["source"] == "plugin" {
				src = pb.ControlErrorSource_ERROR_SOURCE_PLUGIN
			}
			perr := errorFromProto(e, src)
			delete(perr.Details, "source")
			if len(perr.Details) == 0 {
				perr.Details = nil
			}
			return nil, true, perr
		}
		return res.GetPayload().GetInline(), true, nil
	}
}

// closedError explains the end of the channel; a direct channel ends when the plugin exits or
// the daemon takes it back (a newer OpenChannel on the connection, an unload).
func (ch *Channel) closedError(err error) error {
	what := "the daemon closed the channel (plugin unloaded)"
	if ch.direct {
		what = "the plugin's direct channel closed (the daemon took it back, or the plugin exited, crashed or was killed; see its state in List)"
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrClosed, what, err)
	}
	return fmt.Errorf("%w: %s", ErrClosed, what)
}
