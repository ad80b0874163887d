package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Runs the walk-through against a private daemon, as CI does, and checks that each case left
// the audit record that documents it.
func TestWalkThrough(t *testing.T) {
	build := os.Getenv("CORDON_BUILD_DIR")
	if build == "" {
		build = "../../../build"
	}
	c := config{
		cordonBin: filepath.Join(build, "launcher/cli/cordon"),
		bundle:    filepath.Join(build, "launcher/serve/demo_plugin"),
		profile:   "default", okMethod: "upper", okInput: "hello",
		deniedMethod: "inet", crashMethod: "crash", hangMethod: "hang", hangTimeout: 300e6,
	}
	if _, err := os.Stat(c.cordonBin); err != nil {
		t.Skipf("cordon not built at %s", c.cordonBin)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (sandboxes)")
	}
	var out bytes.Buffer
	if err := run(context.Background(), c, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log(out.String())
	for _, want := range []string{`result: "HELLO"`, "seccomp.violation", "plugin.failed", "quota.violation", "all four cases"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
