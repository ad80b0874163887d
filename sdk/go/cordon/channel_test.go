package cordon

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func loadDirect(t *testing.T, c *Client) *Plugin {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := c.Load(ctx, demoBundle(t), "", nil, WithDirectChannel())
	if err != nil {
		t.Fatalf("load with a direct channel: %v", err)
	}
	if !p.DirectChannel {
		t.Fatalf("the demo plugin (C++ SDK) should serve its data channel: %+v", p.PluginInfo)
	}
	return p
}

func TestDirectChannelBypassesTheDaemon(t *testing.T) {
	d, c := startDaemon(t)
	p := loadDirect(t, c)
	ch, err := p.OpenChannel(context.Background())
	if err != nil {
		t.Fatalf("open channel: %v", err)
	}
	defer ch.Close()
	if !ch.Direct() {
		t.Fatal("the channel of a plugin loaded WithDirectChannel should be direct")
	}
	for i := 0; i < 3; i++ {
		out, err := ch.Call(context.Background(), "upper", []byte("abc"))
		if err != nil || string(out) != "ABC" {
			t.Fatalf("direct call: %q %v", out, err)
		}
	}
	_, err = ch.Call(context.Background(), "fail", []byte("x"))
	var ce *Error
	if !errors.As(err, &ce) || ce.Source != SourcePlugin || ce.Code != InvalidArgument {
		t.Fatalf("plugin error over the direct channel: %v", err)
	}
	stats, err := c.Stats(context.Background(), p.ID)
	if err != nil || stats[0].CallsTotal != 0 || stats[0].DirectChannelsOpened != 1 {
		t.Fatalf("direct calls must not pass through the daemon: %+v %v", stats, err)
	}
	// A second connection of the same client process does not get it while this one holds it.
	other, err := Dial(d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.OpenChannel(context.Background(), p.ID); !errors.As(err, &ce) || ce.Code != FailedPrecondition {
		t.Fatalf("second holder: %v", err)
	}
}

// Opening the direct channel again on the same connection takes the previous Channel back:
// the daemon has the plugin close it, so it can no longer reach the plugin.
func TestDirectChannelReopenRevokesThePreviousOne(t *testing.T) {
	_, c := startDaemon(t)
	p := loadDirect(t, c)
	ctx := context.Background()
	first, err := p.OpenChannel(ctx)
	if err != nil {
		t.Fatalf("open channel: %v", err)
	}
	defer first.Close()
	if out, err := first.Call(ctx, "upper", []byte("a")); err != nil || string(out) != "A" {
		t.Fatalf("first holder: %q %v", out, err)
	}
	second, err := p.OpenChannel(ctx)
	if err != nil {
		t.Fatalf("second open: %v", err)
	}
	defer second.Close()
	if _, err := first.Call(ctx, "upper", []byte("stale")); !errors.Is(err, ErrClosed) {
		t.Fatalf("a revoked Channel still reached the plugin: %v", err)
	}
	if out, err := second.Call(ctx, "upper", []byte("b")); err != nil || string(out) != "B" {
		t.Fatalf("second holder: %q %v", out, err)
	}
}

func TestDirectChannelDeadlineKillsThePlugin(t *testing.T) {
	d, c := startDaemon(t)
	p := loadDirect(t, c)
	ch, err := p.OpenChannel(context.Background())
	if err != nil {
		t.Fatalf("open channel: %v", err)
	}
	defer ch.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := ch.Call(ctx, "hang", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung direct call: %v", err)
	}
	waitGone(t, p.HostPID)
	list, err := c.List(context.Background())
	if err != nil || len(list) != 1 || list[0].State != "failed" || !strings.Contains(list[0].StateReason, "missed its deadline") {
		t.Fatalf("plugin after a missed deadline: %+v %v", list, err)
	}
	if _, err := ch.Call(context.Background(), "upper", []byte("x")); !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "direct channel closed") {
		t.Fatalf("call after the plugin died: %v", err)
	}
	audit, _ := os.ReadFile(d.AuditLog)
	if !strings.Contains(string(audit), "control.kill") {
		t.Fatal("no control.kill record")
	}
}

func TestDirectChannelRefusedByTheDaemonFallsBackToRelay(t *testing.T) {
	_, c := startDaemon(t, "--no-direct-channels")
	ctx := context.Background()
	_, err := c.Load(ctx, demoBundle(t), "", nil, WithDirectChannel())
	var ce *Error
	if !errors.As(err, &ce) || ce.Code != PermissionDenied {
		t.Fatalf("direct load on a --no-direct-channels daemon: %v", err)
	}
	p := load(t, c)
	ch, err := p.OpenChannel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if ch.Direct() {
		t.Fatal("relayed plugin got a direct channel")
	}
	if out, err := ch.Call(ctx, "upper", []byte("q")); err != nil || string(out) != "Q" {
		t.Fatalf("relayed call: %q %v", out, err)
	}
}
