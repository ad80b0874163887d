package cordon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	pb "cordon.dev/sdk/go/cordonpb"
	"google.golang.org/protobuf/proto"
)

// Channel is a data-plane channel to one plugin, opened with OpenChannel: calls on it skip
// the control protocol (framing, request dispatch, ownership lookup). For a plugin loaded
// WithDirectChannel it is the plugin's own socket and calls do not pass through the daemon at
// all (Direct() is true); otherwise the daemon relays each call. Calls on one Channel run one
// at a time; a relayed plugin takes several Channels for parallel calls, a direct one has a
// single one. Close it when done; it also closes when the plugin exits or is unloaded.
type Channel struct {
	mu       sync.Mutex
	conn     *net.UnixConn
	nextID   uint64
	buf      []byte
	direct   bool
	client   *Client
	pluginID string
}

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
	f := os.NewFile(uintptr(fds[idx]), "cordon-channel")
	conn, err := net.FileConn(f) // dups the fd
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("cordon: channel fd: %w", err)
	}
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		conn.Close()
		return nil, errors.New("cordon: channel fd is not a unix socket")
	}
	return &Channel{conn: uc, buf: make([]byte, MaxDatagram+1), direct: resp.GetOpenChannel().GetDirect(),
		client: c, pluginID: pluginID}, nil
}

// OpenChannel opens a data-plane channel to this plugin.
func (p *Plugin) OpenChannel(ctx context.Context) (*Channel, error) {
	return p.client.OpenChannel(ctx, p.ID)
}

// Close closes the channel.
func (ch *Channel) Close() error { return ch.conn.Close() }

// Call calls method with the same semantics as Client.Call (deadline, cancellation,
// structured errors). On a direct channel the daemon does not see the deadline: when the
// context's deadline passes before the answer, Call asks the daemon to kill the plugin (as
// the daemon does itself for calls it relays) and returns context.DeadlineExceeded.
func (ch *Channel) Call(ctx context.Context, method string, input []byte) ([]byte, error) {
	out, err := ch.call(ctx, method, input)
	if ch.direct && errors.Is(ctx.Err(), context.DeadlineExceeded) && errors.Is(err, context.DeadlineExceeded) {
		kctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = ch.client.Kill(kctx, ch.pluginID, fmt.Sprintf("call %q on a direct channel missed its deadline", method))
	}
	return out, err
}

func (ch *Channel) call(ctx context.Context, method string, input []byte) ([]byte, error) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.nextID++
	req := &pb.CallRequest{Id: ch.nextID, Method: method, Payload: &pb.Payload{Data: &pb.Payload_Inline{Inline: input}}}
	if deadline, ok := ctx.Deadline(); ok {
		ms := time.Until(deadline).Milliseconds()
		if ms <= 0 {
			return nil, context.DeadlineExceeded
		}
		req.TimeoutMs = uint64(ms)
	}
	bytes, err := proto.Marshal(&pb.Envelope{Msg: &pb.Envelope_CallRequest{CallRequest: req}})
	if err != nil {
		return nil, err
	}
	if len(bytes) > MaxDatagram {
		return nil, fmt.Errorf("cordon: call of %d bytes exceeds the channel's %d-byte datagram cap", len(bytes), MaxDatagram)
	}
	if _, err := ch.conn.Write(bytes); err != nil {
		if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
			return nil, ch.closedError(err)
		}
		return nil, fmt.Errorf("cordon: channel write: %w", err)
	}
	// Cancellation interrupts the read through its deadline. The watcher is always waited
	// for, and a deadline it set is cleared, so it can never leak into the next call.
	if done := ctx.Done(); done != nil {
		stop := make(chan struct{})
		fired := make(chan bool, 1)
		go func() {
			select {
			case <-done:
				_ = ch.conn.SetReadDeadline(time.Unix(1, 0))
				fired <- true
			case <-stop:
				fired <- false
			}
		}()
		defer func() {
			close(stop)
			if <-fired {
				_ = ch.conn.SetReadDeadline(time.Time{})
			}
		}()
	}
	for {
		n, err := ch.conn.Read(ch.buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, ch.closedError(err)
		}
		if n == 0 {
			return nil, ch.closedError(nil)
		}
		// On a direct channel these bytes come from the sandboxed plugin itself: capped by
		// the buffer (MaxDatagram+1 read means oversized), any fds it attached were dropped by
		// the kernel (no control buffer), and only an inline call result is accepted.
		if n > MaxDatagram {
			ch.conn.Close()
			return nil, fmt.Errorf("cordon: datagram over %d bytes on the channel; channel closed", MaxDatagram)
		}
		env := &pb.Envelope{}
		if err := proto.Unmarshal(ch.buf[:n], env); err != nil || env.GetCallResult() == nil ||
			env.GetCallResult().GetPayload().GetMemfd() != nil {
			ch.conn.Close()
			return nil, fmt.Errorf("cordon: malformed datagram on the channel; channel closed")
		}
		res := env.GetCallResult()
		if res.GetId() != req.Id {
			continue // the late answer to a call abandoned by cancellation
		}
		if e := res.GetError(); e != nil {
			src := pb.ControlErrorSource_ERROR_SOURCE_SANDBOX
			// On a direct channel only the plugin itself answers: a crash or kill shows as
			// the channel closing instead.
			if ch.direct || e.GetDetails()["source"] == "plugin" {
				src = pb.ControlErrorSource_ERROR_SOURCE_PLUGIN
			}
			out := errorFromProto(e, src)
			delete(out.Details, "source")
			if len(out.Details) == 0 {
				out.Details = nil
			}
			return nil, out
		}
		return res.GetPayload().GetInline(), nil
	}
}

// closedError explains the end of the channel; a direct channel ends when the plugin exits.
func (ch *Channel) closedError(err error) error {
	what := "the daemon closed the channel (plugin unloaded)"
	if ch.direct {
		what = "the plugin's direct channel closed (the plugin exited, crashed or was killed; see its state in List)"
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %s: %v", ErrClosed, what, err)
	}
	return fmt.Errorf("%w: %s", ErrClosed, what)
}
