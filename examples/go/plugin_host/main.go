// Command plugin_host is a Go service that hosts an untrusted plugin through `cordon serve`:
// it loads the plugin, calls it, and shows what cordon does when the plugin misbehaves
// (denied access, crash, timeout), with the audit records each case leaves.
//
//	plugin_host -cordon build/launcher/cli/cordon -bundle build/launcher/serve/demo_plugin
//
// The method names are flags, so the same walk-through runs against any plugin bundle that
// has a good method, one that tries something its sandbox denies, one that crashes and one
// that hangs (the Rust example plugin, the C++ demo plugin).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cordon.dev/sdk/go/cordon"
)

type config struct {
	cordonBin, socket, auditLog, bundle, profile string
	okMethod, okInput                            string
	deniedMethod, deniedInput                    string
	crashMethod, hangMethod                      string
	hangTimeout                                  time.Duration
}

func main() {
	build := os.Getenv("CORDON_BUILD_DIR")
	if build == "" {
		build = "build"
	}
	var c config
	flag.StringVar(&c.cordonBin, "cordon", filepath.Join(build, "launcher/cli/cordon"), "cordon binary, used to start a private daemon when -socket is empty")
	flag.StringVar(&c.socket, "socket", "", "control socket of a running `cordon serve` (empty: start a private daemon)")
	flag.StringVar(&c.auditLog, "audit-log", "", "that daemon's audit log, to show the records (private daemon: its own)")
	flag.StringVar(&c.bundle, "bundle", filepath.Join(build, "launcher/serve/demo_plugin"), "plugin bundle directory")
	flag.StringVar(&c.profile, "profile", "default", "sandbox profile")
	flag.StringVar(&c.okMethod, "method", "upper", "well-behaved method")
	flag.StringVar(&c.okInput, "input", "hello from the Go host", "its input (@FILE reads FILE)")
	flag.StringVar(&c.deniedMethod, "denied-method", "inet", "method that attempts something the sandbox denies")
	flag.StringVar(&c.deniedInput, "denied-input", "", "its input")
	flag.StringVar(&c.crashMethod, "crash-method", "crash", "method that crashes the plugin")
	flag.StringVar(&c.hangMethod, "hang-method", "hang", "method that never returns")
	flag.DurationVar(&c.hangTimeout, "timeout", 500*time.Millisecond, "deadline for the hanging call")
	flag.Parse()
	if err := run(context.Background(), c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "plugin_host:", err)
		os.Exit(1)
	}
}

// run performs the walk-through and writes a report to out. It fails only when cordon does
// not behave as described (a misbehaving plugin is the expected case, not an error).
func run(ctx context.Context, c config, out io.Writer) error {
	if c.socket == "" {
		dir, err := os.MkdirTemp("", "plugin-host-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		d, err := cordon.StartDaemon(c.cordonBin, dir)
		if err != nil {
			return err
		}
		defer d.Stop()
		c.socket, c.auditLog = d.Socket, d.AuditLog
	}
	bundle, err := filepath.Abs(c.bundle)
	if err != nil {
		return err
	}
	input := []byte(c.okInput)
	if strings.HasPrefix(c.okInput, "@") {
		if input, err = os.ReadFile(c.okInput[1:]); err != nil {
			return err
		}
	}
	client, err := cordon.Dial(c.socket)
	if err != nil {
		return err
	}
	defer client.Close()

	auditFrom := auditLen(c.auditLog)
	step := func(title string) {
		fmt.Fprintf(out, "\n== %s\n", title)
	}
	showAudit := func() {
		for _, r := range auditSince(c.auditLog, &auditFrom) {
			fmt.Fprintf(out, "   audit: %s\n", r)
		}
	}
	loadPlugin := func() (*cordon.Plugin, error) {
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		p, err := client.Load(lctx, bundle, c.profile, nil)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", bundle, err)
		}
		fmt.Fprintf(out, "   loaded %s %s as %s (sandbox pid %d), methods %v\n", p.Name, p.Version, p.ID, p.HostPID, p.Methods)
		return p, nil
	}

	step(fmt.Sprintf("1. a good call: %s", c.okMethod))
	p, err := loadPlugin()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	res, err := p.Call(cctx, c.okMethod, input)
	cancel()
	if err != nil {
		return fmt.Errorf("good call failed: %w", err)
	}
	fmt.Fprintf(out, "   result: %q\n", truncate(string(res), 200))
	showAudit()

	step(fmt.Sprintf("2. denied access: %s", c.deniedMethod))
	_, err = p.Call(ctx, c.deniedMethod, []byte(c.deniedInput))
	var ce *cordon.Error
	switch {
	case errors.As(err, &ce):
		fmt.Fprintf(out, "   denied: %s error %s: %s\n", ce.Source, ce.Code, ce.Message)
	case err == nil:
		return fmt.Errorf("%s succeeded; the sandbox should have denied it", c.deniedMethod)
	default:
		return err
	}
	showAudit()

	step(fmt.Sprintf("3. a crash: %s", c.crashMethod))
	_, err = p.Call(ctx, c.crashMethod, nil)
	if !errors.As(err, &ce) || ce.Source != cordon.SourceSandbox {
		return fmt.Errorf("crash: want a sandbox error, got %v", err)
	}
	fmt.Fprintf(out, "   the call failed: %s error %s: %s\n", ce.Source, ce.Code, ce.Message)
	fmt.Fprintln(out, "   the host process is unaffected; the plugin is reloaded for the next step")
	fmt.Fprintf(out, "   state of %s: %s\n", p.ID, waitNotReady(ctx, client, p.ID))
	_ = p.Unload(ctx)
	showAudit()

	step(fmt.Sprintf("4. a timeout: %s with a %v context deadline", c.hangMethod, c.hangTimeout))
	if p, err = loadPlugin(); err != nil {
		return err
	}
	hctx, cancel := context.WithTimeout(ctx, c.hangTimeout)
	start := time.Now()
	_, err = p.Call(hctx, c.hangMethod, nil)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("hang: want a deadline error, got %v", err)
	}
	fmt.Fprintf(out, "   gave up after %v: %v\n", time.Since(start).Round(time.Millisecond), err)
	fmt.Fprintln(out, "   cordon killed the hung sandbox")
	_ = p.Unload(ctx)
	showAudit()
	fmt.Fprintln(out, "\nall four cases behaved as expected")
	return nil
}

// waitNotReady polls the daemon until the crashed plugin's supervisor has recorded the exit.
func waitNotReady(ctx context.Context, client *cordon.Client, id string) string {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		list, err := client.List(ctx)
		if err != nil {
			return err.Error()
		}
		for _, p := range list {
			if p.ID == id && p.State != "ready" {
				return p.State + " (" + p.StateReason + ")"
			}
		}
	}
	return "still ready after 5s"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func auditLen(path string) int64 {
	if st, err := os.Stat(path); err == nil {
		return st.Size()
	}
	return 0
}

// auditSince summarises the records appended to the log since *offset, one line each.
func auditSince(path string, offset *int64) []string {
	f, err := os.Open(path)
	if path == "" || err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(*offset, io.SeekStart); err != nil {
		return nil
	}
	var out []string
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break // a partial last line is read next time
		}
		*offset += int64(len(line))
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		out = append(out, summarise(rec))
	}
	return out
}

// summarise keeps a record's type, decision and detail fields, dropping the chain fields.
func summarise(rec map[string]any) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%v %v", rec["seq"], rec["type"])
	keys := []string{"decision", "reason", "syscall", "name", "quota", "exit_code", "signal", "detail", "method", "peer_uid"}
	for _, k := range keys {
		if v, ok := rec[k]; ok {
			fmt.Fprintf(&b, " %s=%v", k, v)
		}
	}
	return b.String()
}
