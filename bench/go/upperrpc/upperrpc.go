// Package upperrpc is the hashicorp/go-plugin side of the Go call benchmark: an "upper"
// service over go-plugin's gRPC transport, doing the same work as the cordon demo plugin's
// "upper" method. The gRPC stubs are written by hand (what protoc-gen-go-grpc would emit) so
// the benchmark needs nothing beyond Debian's packages; the messages reuse cordon.v1's
// CallRequest / CallResult types.
package upperrpc

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "cordon.dev/sdk/go/cordonpb"
)

// Handshake is shared by host and plugin.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "CORDON_BENCH_PLUGIN",
	MagicCookieValue: "upper",
}

// Upper is what the plugin implements and the host calls.
type Upper interface {
	Call(ctx context.Context, method string, input []byte) ([]byte, error)
}

type upperServer interface {
	Call(context.Context, *pb.CallRequest) (*pb.CallResult, error)
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: "cordon.bench.Upper",
	HandlerType: (*upperServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Call",
		Handler: func(srv interface{}, ctx context.Context, dec func(interface{}) error, _ grpc.UnaryServerInterceptor) (interface{}, error) {
			in := new(pb.CallRequest)
			if err := dec(in); err != nil {
				return nil, err
			}
			return srv.(upperServer).Call(ctx, in)
		},
	}},
	Streams:  []grpc.StreamDesc{},
	Metadata: "cordon/bench/upper",
}

type server struct{ impl Upper }

func (s *server) Call(ctx context.Context, req *pb.CallRequest) (*pb.CallResult, error) {
	out, err := s.impl.Call(ctx, req.GetMethod(), req.GetPayload().GetInline())
	if err != nil {
		return &pb.CallResult{Id: req.GetId(), Result: &pb.CallResult_Error{Error: &pb.Error{Code: 2, Message: err.Error()}}}, nil
	}
	return &pb.CallResult{Id: req.GetId(), Result: &pb.CallResult_Payload{Payload: &pb.Payload{Data: &pb.Payload_Inline{Inline: out}}}}, nil
}

type client struct{ conn *grpc.ClientConn }

func (c *client) Call(ctx context.Context, method string, input []byte) ([]byte, error) {
	out := new(pb.CallResult)
	req := &pb.CallRequest{Method: method, Payload: &pb.Payload{Data: &pb.Payload_Inline{Inline: input}}}
	if err := c.conn.Invoke(ctx, "/cordon.bench.Upper/Call", req, out); err != nil {
		return nil, err
	}
	return out.GetPayload().GetInline(), nil
}

// Plugin is the go-plugin GRPCPlugin for Upper.
type Plugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Upper
}

// GRPCServer registers the implementation (plugin side).
func (p *Plugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(&serviceDesc, &server{impl: p.Impl})
	return nil
}

// GRPCClient returns the stub (host side).
func (p *Plugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &client{conn: c}, nil
}
