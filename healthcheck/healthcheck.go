// Package healthcheck answers "is this component up?" three ways: readiness probes the launcher
// runs at start (HTTP GET on the component's health path, or a TCP connect), port files that
// mark a component ready (`<port_dir>/<component>.port`, "8089\n"), and an HTTP endpoint with
// /livez, /readyz and /startupz for Kubernetes. It needs no curl or wget in the image.
package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/graft-build/graft/internal/atomicfile"
)

// Target is what to probe: a port on this host and an HTTP path ("" means TCP connect).
type Target struct {
	Port int
	Path string
}

// Probe checks t once. It tries 127.0.0.1, then ::1 when IPv4 is refused, since some apps bind
// only one loopback family.
func Probe(ctx context.Context, t Target) error {
	err := probeHost(ctx, "127.0.0.1", t)
	if err != nil && errors.Is(err, syscall.ECONNREFUSED) {
		if err6 := probeHost(ctx, "::1", t); err6 == nil {
			return nil
		}
	}
	return err
}

func probeHost(ctx context.Context, host string, t Target) error {
	addr := net.JoinHostPort(host, strconv.Itoa(t.Port))
	if t.Path == "" {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("tcp %s: %w", addr, unwrapOp(err))
		}
		return conn.Close()
	}
	path := t.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	code, err := httpGet(ctx, addr, path)
	if err != nil {
		return fmt.Errorf("http %s%s: %w", addr, path, unwrapOp(err))
	}
	// 3xx counts: the app answers, and following a redirect could leave the host.
	if code < 200 || code > 399 {
		return fmt.Errorf("http %s%s: status %d", addr, path, code)
	}
	return nil
}

// unwrapOp shortens net's nested errors ("Get ...: dial tcp ...: connect: connection refused")
// to the cause, keeping errors.Is working.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		var sc *os.SyscallError
		if errors.As(op.Err, &sc) {
			return sc.Err
		}
		return op.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return err
}

// WaitReady probes t until it answers, ctx ends, or stop is closed. Probes start fast (a
// component that is up at once is seen within ~50 ms) and back off to every 500 ms.
func WaitReady(ctx context.Context, t Target) error {
	delay := 50 * time.Millisecond
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := Probe(pctx, t)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last probe: %v)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 500*time.Millisecond)
	}
}

// PortFile is the path of component's port file in dir.
func PortFile(dir, component string) string {
	return filepath.Join(dir, component+".port")
}

// WritePort writes "<port>\n" to component's port file atomically, so a reader sees either no
// file or a complete one.
func WritePort(dir, component string, port int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("port file for %s: %w", component, err)
	}
	return atomicfile.WriteVolatile(PortFile(dir, component), []byte(strconv.Itoa(port)+"\n"), 0o644)
}

// RemovePort removes component's port file; a missing file is not an error.
func RemovePort(dir, component string) error {
	err := os.Remove(PortFile(dir, component))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove port file for %s: %w", component, err)
	}
	return nil
}

// ReadPort reads component's port file.
func ReadPort(dir, component string) (int, error) {
	data, err := os.ReadFile(PortFile(dir, component))
	if errors.Is(err, os.ErrNotExist) {
		return 0, errors.New("not ready (no port file)")
	}
	if err != nil {
		return 0, err
	}
	port, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("bad port file %s", PortFile(dir, component))
	}
	return port, nil
}

// selectedFile records which components the running launcher started, so `healthcheck` run
// by Docker (a separate process, maybe without the run's arguments) probes the same ones.
const selectedFile = ".components"

// WriteSelected records the components a run started.
func WriteSelected(dir string, components []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("record components: %w", err)
	}
	return atomicfile.WriteVolatile(filepath.Join(dir, selectedFile), []byte(strings.Join(components, "\n")+"\n"), 0o644)
}

// ReadSelected returns the components the running launcher started, or nil when unknown.
func ReadSelected(dir string) []string {
	data, err := os.ReadFile(filepath.Join(dir, selectedFile))
	if err != nil {
		return nil
	}
	return strings.Fields(string(data))
}

// RemoveSelected removes the record written by WriteSelected.
func RemoveSelected(dir string) {
	os.Remove(filepath.Join(dir, selectedFile))
}
