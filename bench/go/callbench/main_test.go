package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A short run proving the three transports do the same work; no timing is asserted here
// (numbers live in docs/performance-go.md).
func TestAllTransportsAgree(t *testing.T) {
	build := os.Getenv("CORDON_BUILD_DIR")
	if build == "" {
		build = "../../../build"
	}
	o := options{
		cordonBin:  filepath.Join(build, "launcher/cli/cordon"),
		bundle:     filepath.Join(build, "launcher/serve/demo_plugin"),
		iterations: 50, warmup: 5, sizes: []int{64},
	}
	// Built by bench/go/run.sh; when present, the Rust rows run too (a Go host on a direct
	// channel to a sandboxed Rust plugin).
	if rb := filepath.Join(build, "bench/rust_upper"); fileExists(filepath.Join(rb, "rust_upper")) {
		o.rustBundle = rb
	}
	if _, err := os.Stat(o.cordonBin); err != nil {
		t.Skipf("cordon not built at %s", o.cordonBin)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (sandboxes)")
	}
	o.goPluginBin = filepath.Join(t.TempDir(), "goplugin_upper")
	if b, err := exec.Command("go", "build", "-o", o.goPluginBin, "cordon.dev/bench/go/goplugin_upper").CombinedOutput(); err != nil {
		t.Fatalf("build go-plugin plugin: %v\n%s", err, b)
	}
	var out bytes.Buffer
	if err := run(o, &out); err != nil {
		t.Fatal(err)
	}
	wants := []string{"go-plugin (gRPC)", "control socket", "data-plane channel", "direct channel (sandboxed)", "unsandboxed"}
	if o.rustBundle != "" {
		wants = append(wants, "Rust plugin: direct channel")
	}
	for _, want := range wants {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
