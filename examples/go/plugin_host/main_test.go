package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The source tree, seen from this package's directory (go test runs in it).
const top = "../../.."

func buildDir() string {
	if b := os.Getenv("CORDON_BUILD_DIR"); b != "" {
		return b
	}
	return filepath.Join(top, "build")
}

// runWalkThrough runs the walk-through against a private daemon and returns its steps by title
// prefix and its report.
func runWalkThrough(t *testing.T, c config) ([]step, string) {
	t.Helper()
	c.cordonBin = filepath.Join(buildDir(), "launcher/cli/cordon")
	if _, err := os.Stat(c.cordonBin); err != nil {
		t.Fatalf("cordon is not built at %s (cmake --build build --target cordon): %v", c.cordonBin, err)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (sandboxes)")
	}
	var out bytes.Buffer
	steps, err := run(context.Background(), c, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	return steps, out.String()
}

// find returns the step whose title starts with prefix.
func find(t *testing.T, steps []step, prefix string) step {
	t.Helper()
	for _, s := range steps {
		if strings.HasPrefix(s.Title, prefix) {
			return s
		}
	}
	t.Fatalf("no step %q", prefix)
	return step{}
}

// has reports whether recs holds a record of type typ whose fields include want.
func has(recs []record, typ string, want map[string]string) bool {
	for _, r := range recs {
		if r.Type() != typ {
			continue
		}
		ok := true
		for k, v := range want {
			ok = ok && r.str(k) == v
		}
		if ok {
			return true
		}
	}
	return false
}

func expectRecord(t *testing.T, s step, typ string, want map[string]string) {
	t.Helper()
	if !has(s.Records, typ, want) {
		var got []string
		for _, r := range s.Records {
			got = append(got, r.summary())
		}
		t.Errorf("step %q: no %s record with %v; records:\n%s", s.Title, typ, want, strings.Join(got, "\n"))
	}
}

// The Go service and the Rust example plugin: CI runs this from scripts/rust-test.sh (ctest
// rust_sdk), which builds the bundle first and passes it in CORDON_WORDCOUNT_BUNDLE.
func TestWalkThroughRustPlugin(t *testing.T) {
	bundle := os.Getenv("CORDON_WORDCOUNT_BUNDLE")
	if bundle == "" {
		t.Skip("CORDON_WORDCOUNT_BUNDLE is not set: this case runs in scripts/rust-test.sh (ctest rust_sdk), which builds the Rust bundle; by hand: examples/rust/build-bundle.sh build && CORDON_WORDCOUNT_BUNDLE=$PWD/build/examples/rust/wordcount scripts/go-test.sh -run RustPlugin")
	}
	if _, err := os.Stat(filepath.Join(bundle, "wordcount")); err != nil {
		t.Fatalf("no Rust bundle at %s: %v", bundle, err)
	}
	steps, out := runWalkThrough(t, config{
		bundle: bundle, baseProfile: filepath.Join(top, "sandbox-profiles/profiles/default.textproto"),
		okMethod: "count_file", okInput: "/data/notes.txt",
		deniedMethod: "count_file", deniedInput: "/etc/shadow",
		panicMethod: "panic", crashMethod: "crash", hangMethod: "hang", hangTimeout: 500e6,
	})

	// The plugin read the granted file through the broker and counted it.
	lines, words := strings.Count(sampleText, "\n"), len(strings.Fields(sampleText))
	want := fmt.Sprintf(`result: {"path":"/data/notes.txt","lines":%d,"words":%d,"bytes":%d}`, lines, words, len(sampleText))
	if !strings.Contains(out, want) {
		t.Errorf("output lacks %s", want)
	}
	expectRecord(t, find(t, steps, "a good call"), "capability.use",
		map[string]string{"decision": "allow", "capability": "fs.read", "target": "/data/notes.txt"})

	// The path outside the grant: a structured error in Go and a deny record.
	if !strings.Contains(out, "denied: plugin error PERMISSION_DENIED: ") || !strings.Contains(out, "opening /etc/shadow") {
		t.Errorf("output lacks the plugin's PERMISSION_DENIED error for /etc/shadow")
	}
	expectRecord(t, find(t, steps, "denied access"), "capability.use",
		map[string]string{"decision": "deny", "capability": "fs.read", "target": "/etc/shadow"})

	if !strings.Contains(out, "handler panicked") {
		t.Errorf("output lacks the panic's INTERNAL error")
	}
	crash := find(t, steps, "a crash")
	expectRecord(t, crash, "plugin.exit", map[string]string{"signal_name": "SEGV"})
	expectRecord(t, crash, "plugin.failed", nil)

	timeout := find(t, steps, "a timeout")
	expectRecord(t, timeout, "quota.violation", map[string]string{"decision": "deny"})
	expectRecord(t, timeout, "plugin.exit", map[string]string{"signal_name": "KILL"})

	// Steps 2 to 4 happen in the first sandbox: none of it is a seccomp violation (the Rust
	// runtime lives within the default profile).
	for _, s := range steps {
		if has(s.Records, "seccomp.violation", nil) {
			t.Errorf("step %q: unexpected seccomp.violation", s.Title)
		}
	}
	if !strings.Contains(out, "all 5 cases behaved as expected") {
		t.Errorf("output lacks the final line")
	}
}

// The same walk-through against the C++ demo plugin (a seccomp denial instead of a broker one),
// run by scripts/go-test.sh (ctest cordon_go_sdk_test).
func TestWalkThroughCppDemoPlugin(t *testing.T) {
	steps, out := runWalkThrough(t, config{
		bundle: filepath.Join(buildDir(), "launcher/serve/demo_plugin"), profile: "default",
		okMethod: "upper", okInput: "hello", deniedMethod: "inet",
		crashMethod: "crash", hangMethod: "hang", hangTimeout: 300e6,
	})
	if !strings.Contains(out, `result: HELLO`) {
		t.Errorf("output lacks the upper-cased result")
	}
	expectRecord(t, find(t, steps, "denied access"), "seccomp.violation",
		map[string]string{"decision": "deny", "syscall": "socket"})
	expectRecord(t, find(t, steps, "a crash"), "plugin.failed", nil)
	expectRecord(t, find(t, steps, "a timeout"), "quota.violation", map[string]string{"decision": "deny"})
}
