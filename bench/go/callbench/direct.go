package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"

	"google.golang.org/protobuf/proto"

	pb "cordon.dev/sdk/go/cordonpb"
)

// directPlugin runs the same plugin binary with no daemon in between: the Go process owns the
// plugin's SOCK_SEQPACKET channel (fd 3) and speaks the wire protocol itself (Hello, Welcome,
// Ready, then CallRequest/CallResult). It is the cost a direct channel hand-off from the
// daemon would have, measured here to size that design (docs/performance-go.md). The process
// is NOT sandboxed; per call, a sandbox adds only the seccomp filter's per-syscall cost.
type directPlugin struct {
	cmd  *exec.Cmd
	conn *net.UnixConn
	buf  []byte
	id   uint64
}

func startDirect(binary string) (*directPlugin, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ours := os.NewFile(uintptr(fds[0]), "host-end")
	theirs := os.NewFile(uintptr(fds[1]), "plugin-end")
	defer theirs.Close()
	conn, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		return nil, err
	}
	d := &directPlugin{conn: conn.(*net.UnixConn), buf: make([]byte, 1<<20)}
	d.cmd = exec.Command(binary)
	d.cmd.ExtraFiles = []*os.File{theirs} // becomes fd 3
	d.cmd.Env = []string{"CORDON_CHANNEL_FD=3"}
	d.cmd.Stderr = os.Stderr
	if err := d.cmd.Start(); err != nil {
		conn.Close()
		return nil, err
	}
	hello, err := d.receive()
	if err != nil || hello.GetHello() == nil {
		d.close()
		return nil, fmt.Errorf("direct: no Hello from %s: %v", binary, err)
	}
	if err := d.send(&pb.Envelope{Msg: &pb.Envelope_Welcome{Welcome: &pb.Welcome{
		ProtocolVersion: 1,
		Limits:          &pb.PluginLimits{MaxMessageBytes: 1 << 20, MaxPayloadBytes: 1 << 20},
	}}}); err != nil {
		d.close()
		return nil, err
	}
	ready, err := d.receive()
	if err != nil || ready.GetReady() == nil || ready.GetReady().GetError() != nil {
		d.close()
		return nil, fmt.Errorf("direct: no Ready: %v %v", err, ready)
	}
	return d, nil
}

func (d *directPlugin) send(e *pb.Envelope) error {
	b, err := proto.Marshal(e)
	if err != nil {
		return err
	}
	_, err = d.conn.Write(b)
	return err
}

func (d *directPlugin) receive() (*pb.Envelope, error) {
	n, err := d.conn.Read(d.buf)
	if err != nil {
		return nil, err
	}
	e := &pb.Envelope{}
	return e, proto.Unmarshal(d.buf[:n], e)
}

func (d *directPlugin) call(method string, input []byte) ([]byte, error) {
	d.id++
	if err := d.send(&pb.Envelope{Msg: &pb.Envelope_CallRequest{CallRequest: &pb.CallRequest{
		Id: d.id, Method: method, TimeoutMs: 5000,
		Payload: &pb.Payload{Data: &pb.Payload_Inline{Inline: input}},
	}}}); err != nil {
		return nil, err
	}
	for {
		e, err := d.receive()
		if err != nil {
			return nil, err
		}
		r := e.GetCallResult()
		if r == nil || r.GetId() != d.id {
			continue // heartbeat or log
		}
		if r.GetError() != nil {
			return nil, fmt.Errorf("direct: %s", r.GetError().GetMessage())
		}
		return r.GetPayload().GetInline(), nil
	}
}

func (d *directPlugin) close() {
	_ = d.send(&pb.Envelope{Msg: &pb.Envelope_ShutdownRequest{ShutdownRequest: &pb.ShutdownRequest{GraceMs: 1000}}})
	d.conn.Close()
	_ = d.cmd.Wait()
}
