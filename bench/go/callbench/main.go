// Command callbench measures a Go host's call round trip to a sandboxed cordon plugin (through
// the `cordon serve` control socket, and over a data-plane channel) side by side, in the same
// run, with a hashicorp/go-plugin plugin doing the same work over go-plugin's gRPC transport.
// See docs/performance-go.md; bench/go/run.sh builds everything and runs it.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/hashicorp/go-plugin"

	"cordon.dev/bench/go/upperrpc"
	"cordon.dev/sdk/go/cordon"
)

type options struct {
	cordonBin, bundle, goPluginBin string
	// A Rust plugin bundle with the same "upper" method (bench/go/rust_upper); "" skips it.
	rustBundle         string
	iterations, warmup int
	sizes              []int
}

type result struct {
	name  string
	size  int
	times []time.Duration
}

func (r *result) percentile(p float64) time.Duration {
	if len(r.times) == 0 {
		return 0
	}
	i := int(p * float64(len(r.times)-1))
	return r.times[i]
}

func main() {
	build := os.Getenv("CORDON_BUILD_DIR")
	if build == "" {
		build = "build"
	}
	var o options
	flag.StringVar(&o.cordonBin, "cordon", filepath.Join(build, "launcher/cli/cordon"), "cordon binary")
	flag.StringVar(&o.bundle, "bundle", filepath.Join(build, "launcher/serve/demo_plugin"), "cordon plugin bundle with an \"upper\" method")
	flag.StringVar(&o.goPluginBin, "goplugin", filepath.Join(build, "go/goplugin_upper"), "go-plugin plugin binary (bench/go/goplugin_upper)")
	flag.StringVar(&o.rustBundle, "rust-bundle", "", "Rust plugin bundle with an \"upper\" method (bench/go/rust_upper); empty: no Rust rows")
	flag.IntVar(&o.iterations, "n", 20000, "measured calls per case")
	flag.IntVar(&o.warmup, "warmup", 1000, "unmeasured calls per case first")
	flag.Parse()
	o.sizes = []int{64, 4096}
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "callbench:", err)
		os.Exit(1)
	}
}

func measure(name string, size int, o options, call func([]byte) ([]byte, error)) (*result, error) {
	input := bytes.Repeat([]byte("a"), size)
	want := bytes.ToUpper(input)
	for i := 0; i < o.warmup; i++ {
		if _, err := call(input); err != nil {
			return nil, fmt.Errorf("%s warm-up: %w", name, err)
		}
	}
	r := &result{name: name, size: size, times: make([]time.Duration, 0, o.iterations)}
	for i := 0; i < o.iterations; i++ {
		start := time.Now()
		out, err := call(input)
		r.times = append(r.times, time.Since(start))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if i == 0 && !bytes.Equal(out, want) {
			return nil, fmt.Errorf("%s: wrong result %q", name, out)
		}
	}
	sort.Slice(r.times, func(i, j int) bool { return r.times[i] < r.times[j] })
	return r, nil
}

func run(o options, out io.Writer) error {
	ctx := context.Background()
	bundle, err := filepath.Abs(o.bundle)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "callbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d, err := cordon.StartDaemon(o.cordonBin, dir)
	if err != nil {
		return err
	}
	defer d.Stop()
	client, err := cordon.Dial(d.Socket)
	if err != nil {
		return err
	}
	defer client.Close()
	p, err := client.Load(ctx, bundle, "default", nil)
	if err != nil {
		return err
	}
	ch, err := p.OpenChannel(ctx)
	if err != nil {
		return err
	}
	defer ch.Close()
	// The same plugin again, loaded with a direct channel: calls go from this process to the
	// sandboxed plugin's data channel with no daemon hop.
	pd, err := client.Load(ctx, bundle, "default", nil, cordon.WithDirectChannel())
	if err != nil {
		return err
	}
	dch, err := pd.OpenChannel(ctx)
	if err != nil {
		return err
	}
	defer dch.Close()
	if !dch.Direct() {
		return fmt.Errorf("plugin %s does not serve a direct channel", bundle)
	}
	// The Go host -> Rust plugin pair the goal names, on a direct channel too.
	var rustPlugin *cordon.Plugin
	var rustCh *cordon.Channel
	if o.rustBundle != "" {
		rb, err := filepath.Abs(o.rustBundle)
		if err != nil {
			return err
		}
		if rustPlugin, err = client.Load(ctx, rb, "default", nil, cordon.WithDirectChannel()); err != nil {
			return fmt.Errorf("rust plugin: %w", err)
		}
		if rustCh, err = rustPlugin.OpenChannel(ctx); err != nil {
			return fmt.Errorf("rust plugin channel: %w", err)
		}
		defer rustCh.Close()
		if !rustCh.Direct() {
			return fmt.Errorf("rust plugin %s does not serve a direct channel", rb)
		}
	}

	gp := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  upperrpc.Handshake,
		Plugins:          map[string]plugin.Plugin{"upper": &upperrpc.Plugin{}},
		Cmd:              exec.Command(o.goPluginBin),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           quietLogger(),
	})
	defer gp.Kill()
	rpc, err := gp.Client()
	if err != nil {
		return fmt.Errorf("go-plugin: %w", err)
	}
	raw, err := rpc.Dispense("upper")
	if err != nil {
		return fmt.Errorf("go-plugin dispense: %w", err)
	}
	upper := raw.(upperrpc.Upper)

	direct, err := startDirect(filepath.Join(bundle, filepath.Base(bundle)))
	if err != nil {
		return err
	}
	defer direct.close()

	// A deadline on every call, as a real host would set one.
	callCtx := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 5*time.Second) }
	var results []*result
	for _, size := range o.sizes {
		cases := []struct {
			name string
			call func([]byte) ([]byte, error)
		}{
			{"go-plugin (gRPC)", func(in []byte) ([]byte, error) {
				c, cancel := callCtx()
				defer cancel()
				return upper.Call(c, "upper", in)
			}},
			{"cordon serve: control socket", func(in []byte) ([]byte, error) {
				c, cancel := callCtx()
				defer cancel()
				return p.Call(c, "upper", in)
			}},
			{"cordon serve: data-plane channel", func(in []byte) ([]byte, error) {
				c, cancel := callCtx()
				defer cancel()
				return ch.Call(c, "upper", in)
			}},
			{"cordon serve: direct channel (sandboxed)", func(in []byte) ([]byte, error) {
				c, cancel := callCtx()
				defer cancel()
				return dch.Call(c, "upper", in)
			}},
			{"reference: unsandboxed plugin, no daemon", func(in []byte) ([]byte, error) {
				return direct.call("upper", in)
			}},
		}
		if rustCh != nil {
			cases = append(cases, []struct {
				name string
				call func([]byte) ([]byte, error)
			}{
				{"Rust plugin: cordon serve control socket", func(in []byte) ([]byte, error) {
					c, cancel := callCtx()
					defer cancel()
					return rustPlugin.Call(c, "upper", in)
				}},
				{"Rust plugin: direct channel (sandboxed)", func(in []byte) ([]byte, error) {
					c, cancel := callCtx()
					defer cancel()
					return rustCh.Call(c, "upper", in)
				}},
			}...)
		}
		for _, cs := range cases {
			r, err := measure(cs.name, size, o, cs.call)
			if err != nil {
				return err
			}
			results = append(results, r)
		}
	}
	fmt.Fprintf(out, "Go host -> plugin call round trip (\"upper\"), %d calls per case after %d warm-up, same run\n\n", o.iterations, o.warmup)
	fmt.Fprintln(out, "| transport | input bytes | p50 µs | p90 µs | p99 µs | go-plugin p50 / this p50 |")
	fmt.Fprintln(out, "|---|---:|---:|---:|---:|---:|")
	var base time.Duration
	for _, r := range results {
		if r.name == "go-plugin (gRPC)" {
			base = r.percentile(0.5)
		}
		us := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Nanoseconds())/1000) }
		fmt.Fprintf(out, "| %s | %d | %s | %s | %s | %.2fx |\n", r.name, r.size, us(r.percentile(0.5)), us(r.percentile(0.9)), us(r.percentile(0.99)),
			float64(base)/float64(r.percentile(0.5)))
	}
	return nil
}
