// Command goplugin_upper is the hashicorp/go-plugin plugin of the Go call benchmark: it
// upper-cases its input, like the cordon demo plugin's "upper".
package main

import (
	"bytes"
	"context"

	"github.com/hashicorp/go-plugin"

	"cordon.dev/bench/go/upperrpc"
)

type upper struct{}

func (upper) Call(_ context.Context, _ string, input []byte) ([]byte, error) {
	return bytes.ToUpper(input), nil
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: upperrpc.Handshake,
		Plugins:         map[string]plugin.Plugin{"upper": &upperrpc.Plugin{Impl: upper{}}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}
