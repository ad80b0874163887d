package cordon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	pb "cordon.dev/sdk/go/cordonpb"
	"google.golang.org/protobuf/proto"
)

// callDeadlineGrace is how long a call whose context deadline passed still waits for the
// daemon's own deadline error.
const callDeadlineGrace = 250 * time.Millisecond

// MaxDatagram is the control protocol's cap on one request or response (1 MiB).
const MaxDatagram = 1 << 20

// Client is one connection to a cordon serve daemon. It is safe for concurrent use: requests
// are pipelined on the connection and matched to responses by id.
type Client struct {
	conn *net.UnixConn

	writeMu sync.Mutex
	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan reply
	err     error // set once the reader stops
	done    chan struct{}
}

// Dial connects to the daemon's control socket (SOCK_SEQPACKET). The daemon admits the
// connection by the caller's uid/gid; a refused client sees the connection closed (ErrClosed
// on the first request).
func Dial(socketPath string) (*Client, error) {
	return DialContext(context.Background(), socketPath)
}

// DialContext is Dial with a context bounding the connect.
func DialContext(ctx context.Context, socketPath string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unixpacket", socketPath)
	if err != nil {
		return nil, fmt.Errorf("cordon: connect to control socket %s: %w", socketPath, err)
	}
	uc := conn.(*net.UnixConn)
	// A datagram larger than the send buffer is refused with EMSGSIZE; ask for room for one
	// full-size datagram (the kernel caps this at net.core.wmem_max).
	_ = uc.SetWriteBuffer(2*MaxDatagram + 64*1024)
	_ = uc.SetReadBuffer(2*MaxDatagram + 64*1024)
	c := &Client{conn: uc, pending: make(map[uint64]chan reply), done: make(chan struct{})}
	go c.readLoop()
	return c, nil
}

// Close closes the connection. Plugins loaded with connection lifetime are unloaded by the
// daemon.
func (c *Client) Close() error {
	err := c.conn.Close()
	<-c.done
	return err
}

func (c *Client) readLoop() {
	defer close(c.done)
	buf := make([]byte, MaxDatagram+1)
	oob := make([]byte, syscall.CmsgSpace(4*4))
	var err error
	for {
		n, oobn, flags, _, rerr := c.conn.ReadMsgUnix(buf, oob)
		if rerr != nil {
			err = rerr
			break
		}
		if n == 0 {
			err = ErrClosed
			break
		}
		fds := receivedFds(oob[:oobn])
		if flags&(syscall.MSG_TRUNC|syscall.MSG_CTRUNC) != 0 || n > MaxDatagram {
			closeFds(fds)
			err = fmt.Errorf("cordon: daemon sent an oversized datagram")
			break
		}
		resp := &pb.ControlResponse{}
		if perr := proto.Unmarshal(buf[:n], resp); perr != nil {
			closeFds(fds)
			err = fmt.Errorf("cordon: malformed response from the daemon: %w", perr)
			break
		}
		// Sent under mu (the channel is buffered, so this never blocks): a request that
		// forgets its id under mu then finds its reply either in its channel or never.
		c.mu.Lock()
		ch, ok := c.pending[resp.GetId()]
		delete(c.pending, resp.GetId())
		if ok {
			ch <- reply{resp: resp, fds: fds}
		}
		c.mu.Unlock()
		if !ok {
			closeFds(fds)
		}
	}
	c.mu.Lock()
	if err == ErrClosed || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
		c.err = ErrClosed
	} else {
		c.err = fmt.Errorf("%w: %v", ErrClosed, err)
	}
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	c.mu.Unlock()
}

type reply struct {
	resp *pb.ControlResponse
	fds  []int // received with SCM_RIGHTS; owned by whoever takes the reply
}

func receivedFds(oob []byte) []int {
	if len(oob) == 0 {
		return nil
	}
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var out []int
	for _, m := range msgs {
		if fds, err := syscall.ParseUnixRights(&m); err == nil {
			out = append(out, fds...)
		}
	}
	return out
}

func closeFds(fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}

// roundTrip sends req and waits for its response or ctx. On ctx expiry the request stays
// with the daemon (it has its own deadline) and its late response is dropped.
func (c *Client) roundTrip(ctx context.Context, req *pb.ControlRequest) (*pb.ControlResponse, error) {
	resp, fds, err := c.roundTripFds(ctx, req, 0)
	closeFds(fds)
	return resp, err
}

// roundTripFds is roundTrip that hands over the fds that came with the response.
// A deadline (not a cancellation) waits up to deadlineGrace more for the daemon's answer: a
// call carries the same deadline to the daemon, whose structured DEADLINE_EXCEEDED (the plugin
// was killed, and why) is worth more than the bare context error.
func (c *Client) roundTripFds(ctx context.Context, req *pb.ControlRequest, deadlineGrace time.Duration) (*pb.ControlResponse, []int, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	ch := make(chan reply, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, nil, c.err
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()
	req.Id = id
	bytes, err := proto.Marshal(req)
	if err == nil && len(bytes) > MaxDatagram {
		err = fmt.Errorf("cordon: request of %d bytes exceeds the %d-byte control datagram cap", len(bytes), MaxDatagram)
	}
	if err == nil {
		c.writeMu.Lock()
		_, err = c.conn.Write(bytes)
		c.writeMu.Unlock()
		if err != nil {
			err = fmt.Errorf("cordon: send to daemon: %w", err)
		}
	}
	if err != nil {
		c.forget(id)
		return nil, nil, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			c.mu.Lock()
			defer c.mu.Unlock()
			return nil, nil, c.err
		}
		if r.resp.GetError() != nil {
			closeFds(r.fds)
			return r.resp, nil, errorFromProto(r.resp.GetError(), r.resp.GetErrorSource())
		}
		return r.resp, r.fds, nil
	case <-ctx.Done():
		if deadlineGrace > 0 && ctx.Err() == context.DeadlineExceeded {
			timer := time.NewTimer(deadlineGrace)
			defer timer.Stop()
			select {
			case r, ok := <-ch:
				if ok && r.resp.GetError() != nil {
					closeFds(r.fds)
					return r.resp, nil, errorFromProto(r.resp.GetError(), r.resp.GetErrorSource())
				}
				if ok {
					return r.resp, r.fds, nil
				}
			case <-timer.C:
			}
		}
		c.forget(id)
		select {
		case r, ok := <-ch: // answered while we were giving up
			if ok {
				closeFds(r.fds)
			}
		default:
		}
		return nil, nil, ctx.Err()
	}
}

func (c *Client) forget(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// Lifetime says what happens to a plugin when the connection that loaded it closes.
type Lifetime int32

const (
	// LifetimeDefault: the daemon's setting (--plugins-outlive-clients).
	LifetimeDefault Lifetime = Lifetime(pb.ControlLifetime_LIFETIME_DEFAULT)
	// LifetimeConnection: unloaded when this connection closes.
	LifetimeConnection Lifetime = Lifetime(pb.ControlLifetime_LIFETIME_CONNECTION)
	// LifetimeDaemon: kept until unloaded or the daemon stops.
	LifetimeDaemon Lifetime = Lifetime(pb.ControlLifetime_LIFETIME_DAEMON)
)

// LoadOption adjusts a Load.
type LoadOption func(*pb.ControlLoadRequest)

// WithConfigMap passes a string map to the plugin's configuration.
func WithConfigMap(m map[string]string) LoadOption {
	return func(r *pb.ControlLoadRequest) { r.ConfigMap = m }
}

// WithLifetime chooses the plugin's lifetime.
func WithLifetime(l Lifetime) LoadOption {
	return func(r *pb.ControlLoadRequest) { r.Lifetime = pb.ControlLifetime(l) }
}

// WithDirectChannel asks for a direct channel: OpenChannel then returns the plugin's own data
// channel, so calls on it do not pass through the daemon (the latency of a call drops to
// about that of a local socket round trip). The daemon then no longer sees those calls: a
// call that misses its context deadline makes the Channel kill the plugin itself (Kill), and
// the calls are missing from Stats. One connection at a time holds the channel, and only its
// latest Channel works: OpenChannel again on the same connection takes the previous one back
// (its calls then fail with ErrClosed), as does closing the connection or unloading the
// plugin. Refused by a daemon started with --no-direct-channels. A plugin whose SDK does not
// serve data channels gets a relayed channel instead (Channel.Direct reports which).
func WithDirectChannel() LoadOption {
	return func(r *pb.ControlLoadRequest) { r.DirectChannel = true }
}

// PluginInfo describes a loaded plugin.
type PluginInfo struct {
	ID          string
	Name        string
	Version     string
	Methods     []string
	State       string
	StateReason string
	BundleDir   string
	Profile     string
	OwnerUID    uint32
	Lifetime    Lifetime
	HostPID     int
	LoadedAt    time.Time
	// OpenChannel hands out the plugin's own data channel (see WithDirectChannel).
	DirectChannel bool
}

func infoFromProto(p *pb.ControlPluginInfo) PluginInfo {
	return PluginInfo{
		ID: p.GetPluginId(), Name: p.GetName(), Version: p.GetVersion(), Methods: p.GetMethods(),
		State: p.GetState(), StateReason: p.GetStateReason(), BundleDir: p.GetBundleDir(),
		Profile: p.GetProfile(), OwnerUID: p.GetOwnerUid(), Lifetime: Lifetime(p.GetLifetime()),
		HostPID: int(p.GetHostPid()), LoadedAt: time.Unix(0, p.GetLoadedAtUnixNs()),
		DirectChannel: p.GetDirectChannel(),
	}
}

// Plugin is a handle on a loaded plugin.
type Plugin struct {
	PluginInfo
	client *Client
}

// Load starts the plugin bundle (a directory with manifest.textproto, as the daemon sees it)
// in a sandbox bounded by profile ("" = "default"), sends it config, and returns once it is
// ready for calls.
func (c *Client) Load(ctx context.Context, bundleDir, profile string, config []byte, opts ...LoadOption) (*Plugin, error) {
	// The daemon resolves paths in its own working directory; a relative path means ours.
	if !filepath.IsAbs(bundleDir) {
		if abs, err := filepath.Abs(bundleDir); err == nil {
			bundleDir = abs
		}
	}
	load := &pb.ControlLoadRequest{BundleDir: bundleDir, Profile: profile, Config: config}
	for _, o := range opts {
		o(load)
	}
	resp, err := c.roundTrip(ctx, &pb.ControlRequest{Op: &pb.ControlRequest_Load{Load: load}})
	if err != nil {
		return nil, err
	}
	return &Plugin{PluginInfo: infoFromProto(resp.GetLoad().GetPlugin()), client: c}, nil
}

// Call calls method on the plugin with id pluginID. The context's deadline becomes the
// call's deadline in the daemon (which kills a plugin that misses it); cancelling the context
// returns ctx.Err() at once. A plugin's own error comes back as *Error with SourcePlugin, a
// crash or timeout as *Error with SourceSandbox.
func (c *Client) Call(ctx context.Context, pluginID, method string, input []byte) ([]byte, error) {
	call := &pb.ControlCallRequest{
		PluginId: pluginID, Method: method,
		Input: &pb.Payload{Data: &pb.Payload_Inline{Inline: input}},
	}
	if deadline, ok := ctx.Deadline(); ok {
		ms := time.Until(deadline).Milliseconds()
		if ms <= 0 {
			return nil, context.DeadlineExceeded
		}
		call.TimeoutMs = uint64(ms)
	}
	resp, fds, err := c.roundTripFds(ctx, &pb.ControlRequest{Op: &pb.ControlRequest_Call{Call: call}}, callDeadlineGrace)
	closeFds(fds)
	if err != nil {
		return nil, err
	}
	return resp.GetCall().GetOutput().GetInline(), nil
}

// Call calls method on this plugin (see Client.Call).
func (p *Plugin) Call(ctx context.Context, method string, input []byte) ([]byte, error) {
	return p.client.Call(ctx, p.ID, method, input)
}

// Unload drains the plugin within grace (0 = 5 s), then kills it. Returns its final state.
func (c *Client) Unload(ctx context.Context, pluginID string, grace time.Duration) (string, error) {
	resp, err := c.roundTrip(ctx, &pb.ControlRequest{Op: &pb.ControlRequest_Unload{
		Unload: &pb.ControlUnloadRequest{PluginId: pluginID, GraceMs: uint64(grace.Milliseconds())}}})
	if err != nil {
		return "", err
	}
	return resp.GetUnload().GetState(), nil
}

// Unload unloads this plugin (see Client.Unload).
func (p *Plugin) Unload(ctx context.Context) error {
	_, err := p.client.Unload(ctx, p.ID, 0)
	return err
}

// Kill kills the plugin now (state "failed" with reason, audited as control.kill), e.g. when a
// call on a direct channel missed its deadline, which only the client can see. Returns the
// plugin's state afterwards.
func (c *Client) Kill(ctx context.Context, pluginID, reason string) (string, error) {
	resp, err := c.roundTrip(ctx, &pb.ControlRequest{Op: &pb.ControlRequest_Kill{
		Kill: &pb.ControlKillRequest{PluginId: pluginID, Reason: reason}}})
	if err != nil {
		return "", err
	}
	return resp.GetKill().GetState(), nil
}

// Kill kills this plugin (see Client.Kill).
func (p *Plugin) Kill(ctx context.Context, reason string) error {
	_, err := p.client.Kill(ctx, p.ID, reason)
	return err
}

// List returns the plugins this client may see.
func (c *Client) List(ctx context.Context) ([]PluginInfo, error) {
	resp, err := c.roundTrip(ctx, &pb.ControlRequest{Op: &pb.ControlRequest_List{List: &pb.ControlListRequest{}}})
	if err != nil {
		return nil, err
	}
	var out []PluginInfo
	for _, p := range resp.GetList().GetPlugins() {
		out = append(out, infoFromProto(p))
	}
	return out, nil
}

// PluginStats are a plugin's counters, kept by the daemon over calls made through it
// (control socket and data-plane channels).
type PluginStats struct {
	Plugin               PluginInfo
	CallsTotal           uint64
	CallsOK              uint64
	CallsFailed          uint64
	CallsTimedOut        uint64
	CallsInFlight        uint64
	BytesIn, BytesOut    uint64
	CallTimeTotal        time.Duration
	CallTimeMax          time.Duration
	DirectChannelsOpened uint64
}

// Stats returns per-plugin counters ("" = every plugin this client may see).
func (c *Client) Stats(ctx context.Context, pluginID string) ([]PluginStats, error) {
	resp, err := c.roundTrip(ctx, &pb.ControlRequest{Op: &pb.ControlRequest_Stats{
		Stats: &pb.ControlStatsRequest{PluginId: pluginID}}})
	if err != nil {
		return nil, err
	}
	var out []PluginStats
	for _, s := range resp.GetStats().GetStats() {
		out = append(out, PluginStats{
			Plugin: infoFromProto(s.GetPlugin()), CallsTotal: s.GetCallsTotal(), CallsOK: s.GetCallsOk(),
			CallsFailed: s.GetCallsFailed(), CallsTimedOut: s.GetCallsTimedOut(), CallsInFlight: s.GetCallsInFlight(),
			BytesIn: s.GetBytesIn(), BytesOut: s.GetBytesOut(),
			CallTimeTotal:        time.Duration(s.GetCallTimeTotalUs()) * time.Microsecond,
			CallTimeMax:          time.Duration(s.GetCallTimeMaxUs()) * time.Microsecond,
			DirectChannelsOpened: s.GetDirectChannelsOpened(),
		})
	}
	return out, nil
}

// Ping returns the daemon's version and the credentials it saw for this connection.
func (c *Client) Ping(ctx context.Context) (*pb.ControlPingResponse, error) {
	resp, err := c.roundTrip(ctx, &pb.ControlRequest{Op: &pb.ControlRequest_Ping{Ping: &pb.ControlPingRequest{}}})
	if err != nil {
		return nil, err
	}
	return resp.GetPing(), nil
}
