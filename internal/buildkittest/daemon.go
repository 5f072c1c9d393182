package buildkittest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/moby/buildkit/client"
)

// Daemon is a running buildkitd.
type Daemon struct {
	// Addr is the unix:// address of the daemon's socket.
	Addr string
	// TCPAddr is tcp://127.0.0.1:PORT when the daemon was started WithMTLS, else "".
	TCPAddr string
	// TLS holds the CA and the client's certificate and key for TCPAddr.
	TLS *TLSFiles
	// Root is the daemon's --root folder.
	Root string

	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan struct{}
	err  error // the process's exit status, valid after done is closed
}

type options struct {
	mtls        bool
	snapshotter string
}

// Option configures a daemon.
type Option func(*options)

// WithMTLS makes the daemon also listen on tcp://127.0.0.1 with mutual TLS; the CA and client
// certificates are generated for this daemon only (Daemon.TLS).
func WithMTLS() Option { return func(o *options) { o.mtls = true } }

// WithSnapshotter sets --oci-worker-snapshotter. Default "auto": overlayfs where the kernel
// allows it, else native (this is what the daemon picks by itself).
func WithSnapshotter(name string) Option { return func(o *options) { o.snapshotter = name } }

// Unavailable says why this machine cannot run buildkitd, or "" when it can.
func Unavailable() string {
	if os.Geteuid() != 0 {
		return "buildkitd needs root (run the tests as root, e.g. in CI)"
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return "buildkitd needs runc on PATH (apt-get install runc)"
	}
	return ""
}

// Launch starts a buildkitd in a fresh temporary root and waits until it answers. Close stops it.
func Launch(ctx context.Context, opts ...Option) (*Daemon, error) {
	o := &options{snapshotter: "auto"}
	for _, opt := range opts {
		opt(o)
	}
	if reason := Unavailable(); reason != "" {
		return nil, errors.New(reason)
	}
	bin, err := Binary(ctx)
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "graft-buildkitd-")
	if err != nil {
		return nil, fmt.Errorf("start buildkitd: %w", err)
	}
	d := &Daemon{Root: root, Addr: "unix://" + filepath.Join(root, "buildkitd.sock"),
		logs: &lockedBuffer{}, done: make(chan struct{})}
	args := []string{"--root", root, "--addr", d.Addr, "--oci-worker=true",
		"--containerd-worker=false", "--oci-worker-snapshotter=" + o.snapshotter}
	if o.mtls {
		tlsArgs, err := d.setupTLS()
		if err != nil {
			os.RemoveAll(root)
			return nil, err
		}
		args = append(args, tlsArgs...)
	}
	if err := d.start(ctx, bin, args); err != nil {
		return nil, err
	}
	return d, nil
}

// setupTLS writes certificates into the root and returns the daemon's tcp/TLS flags.
func (d *Daemon) setupTLS() ([]string, error) {
	files, err := WriteTLS(filepath.Join(d.Root, "tls"))
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	d.TLS = files
	d.TCPAddr = fmt.Sprintf("tcp://127.0.0.1:%d", port)
	return []string{"--addr", d.TCPAddr, "--tlscacert", files.CA,
		"--tlscert", files.ServerCert, "--tlskey", files.ServerKey}, nil
}

func (d *Daemon) start(ctx context.Context, bin string, args []string) error {
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	// Its own process group, so stopping it never signals the test binary's group; and it dies
	// with the test binary (a timeout panic skips Close).
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		os.RemoveAll(d.Root)
		return fmt.Errorf("start buildkitd: %w", err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	if err := d.waitReady(ctx, 60*time.Second); err != nil {
		d.Close()
		return err
	}
	return nil
}

// waitReady polls ListWorkers until the daemon answers with a worker.
func (d *Daemon) waitReady(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last error
	for {
		select {
		case <-d.done:
			return fmt.Errorf("buildkitd exited before it was ready: %v\n%s", d.err, tail(d.logs.Bytes(), 30))
		case <-ctx.Done():
			return fmt.Errorf("buildkitd not ready after %s: %v\n%s", limit, last, tail(d.logs.Bytes(), 30))
		case <-time.After(200 * time.Millisecond):
		}
		if last = ping(ctx, d.Addr); last == nil {
			return nil
		}
	}
}

func ping(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := client.New(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	ws, err := c.ListWorkers(ctx)
	if err != nil {
		return err
	}
	if len(ws) == 0 {
		return errors.New("no workers yet")
	}
	return nil
}

// Logs returns what the daemon printed so far.
func (d *Daemon) Logs() string { return string(d.logs.Bytes()) }

// Close stops the daemon (SIGTERM, then SIGKILL after 10 s) and removes its root.
func (d *Daemon) Close() error {
	if d.cmd != nil && d.cmd.Process != nil {
		select {
		case <-d.done:
		default:
			_ = d.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-d.done:
			case <-time.After(10 * time.Second):
				_ = d.cmd.Process.Kill()
				<-d.done
			}
		}
	}
	return os.RemoveAll(d.Root)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer collects the daemon's output, written from the process's copy goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}
