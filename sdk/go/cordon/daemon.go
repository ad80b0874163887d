package cordon

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Daemon is a `cordon serve` process started by StartDaemon, for tests, examples and
// benchmarks that bring their own daemon.
type Daemon struct {
	Socket   string
	AuditLog string
	cmd      *exec.Cmd
	exited   chan error
}

// StartDaemon runs `cordonBinary serve --control-socket DIR/control.sock --audit-log
// DIR/audit.jsonl extraArgs...` and returns once the daemon says it is listening (it prints
// "listening on" to stderr), or an error with its output if it exits first.
func StartDaemon(cordonBinary, dir string, extraArgs ...string) (*Daemon, error) {
	d := &Daemon{
		Socket:   filepath.Join(dir, "control.sock"),
		AuditLog: filepath.Join(dir, "audit.jsonl"),
		exited:   make(chan error, 1),
	}
	args := append([]string{"serve", "--control-socket", d.Socket, "--audit-log", d.AuditLog}, extraArgs...)
	d.cmd = exec.Command(cordonBinary, args...)
	d.cmd.Stdout = os.Stderr
	// The daemon dies with us even if we are killed (cleanup of sandboxes is its job).
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("cordon: start %s: %w", cordonBinary, err)
	}
	ready := make(chan struct{})
	var early strings.Builder
	go func() {
		r := bufio.NewReader(stderr)
		signalled := false
		for {
			line, err := r.ReadString('\n')
			if !signalled {
				early.WriteString(line)
				if strings.Contains(line, "listening on") {
					signalled = true
					close(ready)
				}
			} else if line != "" {
				fmt.Fprint(os.Stderr, line)
			}
			if err != nil {
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		d.exited <- d.cmd.Wait()
	}()
	select {
	case <-ready:
		return d, nil
	case err := <-d.exited:
		return nil, fmt.Errorf("cordon serve exited before listening (%v): %s", err, early.String())
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		return nil, fmt.Errorf("cordon serve did not start listening within 30s: %s", early.String())
	}
}

// Stop sends SIGTERM (the daemon unloads every plugin) and waits for the exit.
func (d *Daemon) Stop() error {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.exited:
		return err
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		return fmt.Errorf("cordon serve did not stop within 30s of SIGTERM; killed")
	}
}
