// Command plugin_host is a Go service that hosts an untrusted plugin through `cordon serve`:
// it loads the Rust example plugin (examples/rust/wordcount), has it count the words of a file
// it is granted, and shows what cordon does when the plugin misbehaves (denied access, panic,
// crash, timeout), with the audit records each case leaves.
//
//	examples/rust/build-bundle.sh build      # the bundle, in build/examples/rust/wordcount
//	plugin_host -cordon build/launcher/cli/cordon -bundle build/examples/rust/wordcount
//
// The method names and inputs are flags, so the same walk-through runs against any bundle
// that has a good method, one that tries something its sandbox denies, one that crashes and
// one that hangs (the C++ demo plugin: -bundle build/launcher/serve/demo_plugin -profile default
// -method upper -input hello -denied-method inet -denied-input "" -panic-method "").
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"cordon.dev/sdk/go/cordon"
)

type config struct {
	cordonBin, socket, auditLog, bundle string
	// profile is a profile NAME or PATH as the daemon resolves it; empty: the example writes
	// one from baseProfile that grants dataDir to the plugin as /data (read-only) and logging.
	profile, baseProfile, dataDir string
	okMethod, okInput             string
	deniedMethod, deniedInput     string
	panicMethod                   string // empty: skipped
	crashMethod, hangMethod       string
	hangTimeout                   time.Duration
}

// step is one case of the walk-through and the audit records it left.
type step struct {
	Title   string
	Records []record
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
	flag.StringVar(&c.bundle, "bundle", filepath.Join(build, "examples/rust/wordcount"), "plugin bundle directory")
	flag.StringVar(&c.profile, "profile", "", "sandbox profile NAME or PATH (empty: write one from -base-profile that grants -data as /data)")
	flag.StringVar(&c.baseProfile, "base-profile", defaultBaseProfile(), "profile the generated one extends")
	flag.StringVar(&c.dataDir, "data", "", "host directory granted as /data (empty: a temporary one holding notes.txt)")
	flag.StringVar(&c.okMethod, "method", "count_file", "well-behaved method")
	flag.StringVar(&c.okInput, "input", "/data/notes.txt", "its input (@FILE reads FILE)")
	flag.StringVar(&c.deniedMethod, "denied-method", "count_file", "method that attempts something the sandbox denies")
	flag.StringVar(&c.deniedInput, "denied-input", "/etc/shadow", "its input")
	flag.StringVar(&c.panicMethod, "panic-method", "panic", "method whose handler panics (empty: skip)")
	flag.StringVar(&c.crashMethod, "crash-method", "crash", "method that crashes the plugin")
	flag.StringVar(&c.hangMethod, "hang-method", "hang", "method that never returns")
	flag.DurationVar(&c.hangTimeout, "timeout", 500*time.Millisecond, "deadline for the hanging call")
	flag.Parse()
	if _, err := run(context.Background(), c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "plugin_host:", err)
		os.Exit(1)
	}
}

// defaultBaseProfile finds the shipped default profile: in the source tree (from its top, or
// beside $CORDON_BUILD_DIR as scripts/go-run-example.sh sets it) or where the packages put it.
func defaultBaseProfile() string {
	build := os.Getenv("CORDON_BUILD_DIR")
	if build == "" {
		build = "build"
	}
	for _, p := range []string{
		"sandbox-profiles/profiles/default.textproto",
		filepath.Join(build, "../sandbox-profiles/profiles/default.textproto"),
		"/etc/cordon/profiles/default.textproto",
		"/usr/share/cordon/profiles/default.textproto",
	} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "sandbox-profiles/profiles/default.textproto"
}

// The text the generated /data holds, and what the plugin's count_file makes of it.
const sampleText = "cordon runs untrusted plugins on Linux\nthe plugin reads this file through the broker\n"

// writeGrantProfile writes dir/wordcount.textproto: base plus the broker grants the wordcount
// manifest asks for (fs.read beneath /data, log). The manifest only requests capabilities; a
// load is refused unless the profile bounds them, and the grant maps /data to a host directory.
func writeGrantProfile(dir, base, dataDir string) (string, error) {
	text, err := os.ReadFile(base)
	if err != nil {
		return "", fmt.Errorf("base profile: %w (run from the top of the source tree, or pass -base-profile or -profile)", err)
	}
	grant := fmt.Sprintf("\n# Added by plugin_host: %s is the plugin's /data, read-only, through the broker.\n"+
		"capabilities {\n  fs { plugin_path: \"/data\" host_path: %q read: true }\n  log: true\n}\n", dataDir, dataDir)
	path := filepath.Join(dir, "wordcount.textproto")
	return path, os.WriteFile(path, append(text, grant...), 0o644)
}

// run performs the walk-through, writes a report to out and returns each step's audit records.
// It fails only when cordon does not behave as described (a misbehaving plugin is the expected
// case, not an error).
func run(ctx context.Context, c config, out io.Writer) ([]step, error) {
	dir, err := os.MkdirTemp("", "plugin-host-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// MkdirTemp makes it 0700; the granted data beneath it stays reachable whatever uid the
	// daemon opens it with.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	if c.profile == "" {
		if c.dataDir == "" {
			c.dataDir = filepath.Join(dir, "data")
			if err := os.Mkdir(c.dataDir, 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(filepath.Join(c.dataDir, "notes.txt"), []byte(sampleText), 0o644); err != nil {
				return nil, err
			}
		}
		if c.dataDir, err = filepath.Abs(c.dataDir); err != nil {
			return nil, err
		}
		if c.profile, err = writeGrantProfile(dir, c.baseProfile, c.dataDir); err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "profile %s: %s plus a grant of %s as the plugin's /data (read-only) and logging\n", c.profile, c.baseProfile, c.dataDir)
	}
	if c.socket == "" {
		d, err := cordon.StartDaemon(c.cordonBin, dir)
		if err != nil {
			return nil, err
		}
		defer d.Stop()
		c.socket, c.auditLog = d.Socket, d.AuditLog
		fmt.Fprintf(out, "started `cordon serve` (%s), audit log %s\n", c.socket, c.auditLog)
	}
	bundle, err := filepath.Abs(c.bundle)
	if err != nil {
		return nil, err
	}
	input := []byte(c.okInput)
	if strings.HasPrefix(c.okInput, "@") {
		if input, err = os.ReadFile(c.okInput[1:]); err != nil {
			return nil, err
		}
	}
	client, err := cordon.Dial(c.socket)
	if err != nil {
		return nil, err
	}
	defer client.Close()

	audit := newAuditTail(c.auditLog)
	var steps []step
	begin := func(title string) {
		steps = append(steps, step{Title: title})
		fmt.Fprintf(out, "\n== %d. %s\n", len(steps), title)
	}
	// showAudit prints the records appended since the last call and files them under the
	// current step; until, when given, waits (up to 5 s) for a record the daemon may write
	// just after answering the call (a crashed plugin's exit).
	showAudit := func(until func(record) bool) error {
		recs, found := audit.read(until, 5*time.Second)
		for _, line := range summarise(recs) {
			fmt.Fprintf(out, "   audit: %s\n", line)
		}
		steps[len(steps)-1].Records = append(steps[len(steps)-1].Records, recs...)
		if until != nil && !found {
			return fmt.Errorf("step %q: the audit log %s has no record of the plugin's exit within 5s", steps[len(steps)-1].Title, c.auditLog)
		}
		return nil
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
	var ce *cordon.Error

	begin(fmt.Sprintf("a good call: %s %q", c.okMethod, truncate(string(input), 40)))
	p, err := loadPlugin()
	if err != nil {
		return steps, err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	res, err := p.Call(cctx, c.okMethod, input)
	cancel()
	if err != nil {
		return steps, fmt.Errorf("good call failed: %w", err)
	}
	fmt.Fprintf(out, "   result: %s\n", truncate(string(res), 200))
	if err := showAudit(nil); err != nil {
		return steps, err
	}

	begin(strings.TrimSuffix(fmt.Sprintf("denied access: %s %q", c.deniedMethod, c.deniedInput), ` ""`))
	_, err = p.Call(ctx, c.deniedMethod, []byte(c.deniedInput))
	switch {
	case errors.As(err, &ce) && ce.Code == cordon.PermissionDenied:
		fmt.Fprintf(out, "   denied: %s error %s: %s\n", ce.Source, ce.Code, ce.Message)
	case err == nil:
		return steps, fmt.Errorf("%s %q succeeded; the sandbox should have denied it", c.deniedMethod, c.deniedInput)
	default:
		return steps, fmt.Errorf("%s %q: want PERMISSION_DENIED, got %w", c.deniedMethod, c.deniedInput, err)
	}
	if err := showAudit(nil); err != nil {
		return steps, err
	}

	if c.panicMethod != "" {
		begin(fmt.Sprintf("a panicking handler: %s", c.panicMethod))
		_, err = p.Call(ctx, c.panicMethod, nil)
		if !errors.As(err, &ce) || ce.Source != cordon.SourcePlugin {
			return steps, fmt.Errorf("panic: want a plugin error, got %v", err)
		}
		fmt.Fprintf(out, "   the call failed: %s error %s: %s\n", ce.Source, ce.Code, ce.Message)
		// The SDK catches the panic: only that call fails, the same sandbox answers the next.
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = p.Call(cctx, c.okMethod, input)
		cancel()
		if err != nil {
			return steps, fmt.Errorf("the call after the panic failed: %w", err)
		}
		fmt.Fprintf(out, "   the plugin lives on: %s still answers (same sandbox, pid %d)\n", c.okMethod, p.HostPID)
		if err := showAudit(nil); err != nil {
			return steps, err
		}
	}

	begin(fmt.Sprintf("a crash: %s", c.crashMethod))
	_, err = p.Call(ctx, c.crashMethod, nil)
	if !errors.As(err, &ce) || ce.Source != cordon.SourceSandbox {
		return steps, fmt.Errorf("crash: want a sandbox error, got %v", err)
	}
	if !strings.Contains(ce.Message, p.Name) {
		return steps, fmt.Errorf("crash: the error does not name plugin %s: %v", p.Name, err)
	}
	fmt.Fprintf(out, "   the call failed: %s error %s: %s\n", ce.Source, ce.Code, ce.Message)
	if err := showAudit(audit.exitOf(p.HostPID)); err != nil {
		return steps, err
	}
	fmt.Fprintf(out, "   state of %s: %s\n", p.ID, state(ctx, client, p.ID))
	fmt.Fprintln(out, "   the Go service is unaffected; it unloads the failed plugin and loads a fresh one")
	_ = p.Unload(ctx)
	if err := showAudit(nil); err != nil {
		return steps, err
	}

	begin(fmt.Sprintf("a timeout: %s with a %v context deadline", c.hangMethod, c.hangTimeout))
	if p, err = loadPlugin(); err != nil {
		return steps, err
	}
	hctx, cancel := context.WithTimeout(ctx, c.hangTimeout)
	start := time.Now()
	_, err = p.Call(hctx, c.hangMethod, nil)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		return steps, fmt.Errorf("hang: want a deadline error, got %v", err)
	}
	fmt.Fprintf(out, "   gave up after %v: %v\n", time.Since(start).Round(time.Millisecond), err)
	if err := showAudit(audit.exitOf(p.HostPID)); err != nil {
		return steps, err
	}
	fmt.Fprintf(out, "   state of %s: %s\n", p.ID, state(ctx, client, p.ID))
	_ = p.Unload(ctx)
	if err := showAudit(nil); err != nil {
		return steps, err
	}

	if c.cordonBin != "" && c.auditLog != "" {
		// The records above are links of a hash chain; `cordon audit verify` checks it.
		if v, err := exec.Command(c.cordonBin, "audit", "verify", c.auditLog).CombinedOutput(); err == nil {
			fmt.Fprintf(out, "\n$ cordon audit verify %s\n%s", c.auditLog, v)
		} else {
			return steps, fmt.Errorf("cordon audit verify %s: %v: %s", c.auditLog, err, v)
		}
	}
	fmt.Fprintf(out, "\nall %d cases behaved as expected\n", len(steps))
	return steps, nil
}

// state is the daemon's view of a plugin, e.g. "failed (killed by signal 11)".
func state(ctx context.Context, client *cordon.Client, id string) string {
	list, err := client.List(ctx)
	if err != nil {
		return err.Error()
	}
	for _, p := range list {
		if p.ID == id {
			if p.StateReason == "" {
				return p.State
			}
			return p.State + " (" + p.StateReason + ")"
		}
	}
	return "gone"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
