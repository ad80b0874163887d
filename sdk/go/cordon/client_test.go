package cordon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The tests run against a real `cordon serve`. CORDON_BUILD_DIR (set by scripts/go-test.sh)
// locates the cordon binary and the demo plugin bundle.
func buildDir() string {
	if d := os.Getenv("CORDON_BUILD_DIR"); d != "" {
		return d
	}
	return "../../../build"
}

func startDaemon(t *testing.T, extra ...string) (*Daemon, *Client) {
	t.Helper()
	bin := filepath.Join(buildDir(), "launcher/cli/cordon")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("cordon binary not built at %s (cmake --build build --target cordon serve_demo_plugin): %v", bin, err)
	}
	if os.Geteuid() != 0 {
		t.Skip("cordon serve sandboxes plugins with namespaces and cgroups; run the Go tests as root")
	}
	dir, err := os.MkdirTemp("", "cordon-go-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d, err := StartDaemon(bin, dir, extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	c, err := Dial(d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return d, c
}

func demoBundle(t *testing.T) string {
	b := filepath.Join(buildDir(), "launcher/serve/demo_plugin")
	if _, err := os.Stat(filepath.Join(b, "demo_plugin")); err != nil {
		t.Skipf("demo plugin not built at %s (cmake --build build --target serve_demo_plugin)", b)
	}
	abs, _ := filepath.Abs(b)
	return abs
}

// waitGone blocks on a pidfd until the process has exited (10 s at most).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if err == unix.ESRCH {
			return
		}
		t.Fatalf("pidfd_open %d: %v", pid, err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 10000)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n != 1 {
			t.Fatalf("process %d still alive after 10s (%v)", pid, err)
		}
		return
	}
}

func load(t *testing.T, c *Client) *Plugin {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := c.Load(ctx, demoBundle(t), "", []byte("cfg"))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return p
}

func TestLoadCallListUnload(t *testing.T) {
	_, c := startDaemon(t)
	p := load(t, c)
	if p.Name != "demo" || p.Version != "0.2.0" || p.State != "ready" {
		t.Fatalf("unexpected plugin info %+v", p.PluginInfo)
	}
	out, err := p.Call(context.Background(), "upper", []byte("hello"))
	if err != nil || string(out) != "HELLO" {
		t.Fatalf("upper: %q %v", out, err)
	}
	list, err := c.List(context.Background())
	if err != nil || len(list) != 1 || list[0].ID != p.ID {
		t.Fatalf("list: %+v %v", list, err)
	}
	stats, err := c.Stats(context.Background(), p.ID)
	if err != nil || len(stats) != 1 || stats[0].CallsOK != 1 || stats[0].BytesIn != 5 {
		t.Fatalf("stats: %v %v", stats, err)
	}
	if err := p.Unload(context.Background()); err != nil {
		t.Fatalf("unload: %v", err)
	}
	_, err = p.Call(context.Background(), "upper", []byte("x"))
	var ce *Error
	if !errors.As(err, &ce) || ce.Code != NotFound || ce.Source != SourceDaemon {
		t.Fatalf("call after unload: want daemon NOT_FOUND, got %v", err)
	}
}

func TestPluginErrorIsStructured(t *testing.T) {
	_, c := startDaemon(t)
	p := load(t, c)
	_, err := p.Call(context.Background(), "fail", []byte("bad input"))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *cordon.Error, got %T %v", err, err)
	}
	if ce.Code != InvalidArgument || ce.Source != SourcePlugin || !strings.Contains(ce.Message, "demo refuses input 'bad input'") {
		t.Fatalf("unexpected error %+v", ce)
	}
	// The plugin survives its own error.
	if out, err := p.Call(context.Background(), "echo", []byte("ok")); err != nil || string(out) != "ok" {
		t.Fatalf("echo after error: %q %v", out, err)
	}
}

func TestContextDeadlineBecomesCallTimeout(t *testing.T) {
	_, c := startDaemon(t)
	p := load(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Call(ctx, "hang", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want DeadlineExceeded, got %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("deadline not honoured: call took %v", took)
	}
	// The daemon killed the hung plugin; its state says so (wait for the daemon's answer, not a timer).
	stats, err := c.Stats(context.Background(), p.ID)
	if err != nil || len(stats) != 1 {
		t.Fatalf("stats: %v", err)
	}
	if st := stats[0].Plugin.State; st != "failed" && stats[0].CallsTimedOut != 1 {
		t.Fatalf("hung plugin: state %q timed out %d", st, stats[0].CallsTimedOut)
	}
}

func TestCancellationReturnsImmediately(t *testing.T) {
	_, c := startDaemon(t)
	p := load(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := p.Call(ctx, "hang", nil)
		errc <- err
	}()
	// Cancel once the daemon has the call in flight, observed through stats.
	for {
		stats, err := c.Stats(context.Background(), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stats[0].CallsInFlight == 1 {
			break
		}
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	// The connection stays usable.
	if _, err := c.List(context.Background()); err != nil {
		t.Fatalf("list after cancel: %v", err)
	}
}

func TestCrashIsASandboxError(t *testing.T) {
	d, c := startDaemon(t)
	p := load(t, c)
	_, err := p.Call(context.Background(), "crash", nil)
	var ce *Error
	if !errors.As(err, &ce) || ce.Source != SourceSandbox {
		t.Fatalf("want sandbox error, got %v", err)
	}
	waitGone(t, p.HostPID)
	// The supervisor records the failure right after the exit it observed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, _ := c.List(context.Background())
		if len(list) == 1 && list[0].State == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("crashed plugin should be listed as failed: %+v", list)
		}
		runtime.Gosched()
	}
	audit, _ := os.ReadFile(d.AuditLog)
	if !strings.Contains(string(audit), "plugin.failed") {
		t.Fatalf("audit log lacks plugin.failed:\n%s", audit)
	}
}

func TestPluginsDieWithTheClient(t *testing.T) {
	d, c := startDaemon(t)
	p := load(t, c)
	c.Close()
	waitGone(t, p.HostPID)
	c2, err := Dial(d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	list, err := c2.List(context.Background())
	if err != nil || len(list) != 0 {
		t.Fatalf("plugin %s should be gone with its connection: %+v %v", p.ID, list, err)
	}
}

func TestPluginsOutliveClientsWhenConfigured(t *testing.T) {
	d, c := startDaemon(t, "--plugins-outlive-clients")
	p := load(t, c)
	c.Close()
	c2, err := Dial(d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	out, err := c2.Call(context.Background(), p.ID, "echo", []byte("still here"))
	if err != nil || string(out) != "still here" {
		t.Fatalf("call from a new connection: %q %v", out, err)
	}
}

func TestConcurrentCallsArePipelined(t *testing.T) {
	_, c := startDaemon(t)
	p := load(t, c)
	const n = 32
	errc := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			in := strings.Repeat("x", i)
			out, err := p.Call(context.Background(), "echo", []byte(in))
			if err == nil && string(out) != in {
				err = errors.New("mismatched response")
			}
			errc <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

func TestChannelCallsAndErrors(t *testing.T) {
	_, c := startDaemon(t)
	p := load(t, c)
	ch, err := p.OpenChannel(context.Background())
	if err != nil {
		t.Fatalf("open channel: %v", err)
	}
	defer ch.Close()
	for i := 0; i < 3; i++ {
		out, err := ch.Call(context.Background(), "upper", []byte("abc"))
		if err != nil || string(out) != "ABC" {
			t.Fatalf("channel call: %q %v", out, err)
		}
	}
	_, err = ch.Call(context.Background(), "fail", []byte("x"))
	var ce *Error
	if !errors.As(err, &ce) || ce.Source != SourcePlugin || ce.Code != InvalidArgument {
		t.Fatalf("plugin error over the channel: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			st, _ := c.Stats(context.Background(), p.ID)
			if len(st) == 1 && st[0].CallsInFlight == 1 {
				cancel()
				return
			}
		}
	}()
	if _, err := ch.Call(ctx, "hang", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled channel call: %v", err)
	}
	stats, _ := c.Stats(context.Background(), p.ID)
	if stats[0].DirectChannelsOpened != 1 || stats[0].CallsOK != 3 {
		t.Fatalf("stats: %+v", stats[0])
	}
}
