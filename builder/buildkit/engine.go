// Package buildkit runs plugins' [build] steps on BuildKit: each plugin's files are put into the
// base image, its commands run there, and exactly what they added (llb.Diff against the base)
// comes back as one deterministic layer, made by builder/layer like every other graft layer.
// graft assembles the image itself; BuildKit only runs the steps.
package buildkit

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/client"
	// Connection helpers for docker-container:// and kube-pod:// register themselves.
	_ "github.com/moby/buildkit/client/connhelper/dockercontainer"
	_ "github.com/moby/buildkit/client/connhelper/kubepod"
	"github.com/moby/buildkit/util/progress/progressui"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"

	"github.com/graft-build/graft/internal/usererr"
)

// Engine is a connection to one BuildKit daemon.
type Engine struct {
	addr    string
	c       *client.Client
	o       *options
	version string // the daemon's BuildKit version, e.g. v0.33.1
	closers []func() error
	tmp     string // scratch space for plugin files and exported tars, removed by Close

	mu        sync.Mutex
	platforms []ocispecs.Platform // what the daemon's workers run; nil until asked
	showing   sync.Mutex          // held by the solve whose progress is on display
}

// probeTimeout bounds New's first call to the daemon.
const probeTimeout = 30 * time.Second

// New connects to the BuildKit daemon at addr and checks that it answers and is recent enough.
// addr is unix://PATH, tcp://HOST:PORT (mTLS with WithTLS), docker-container://NAME,
// kube-pod://NAME[?namespace=NS], or docker:// for the local Docker Engine's embedded BuildKit
// (docker://unix:///PATH or docker://tcp://HOST:PORT name a particular engine; plain docker://
// follows DOCKER_HOST). The caller reads BUILDKIT_HOST; New does not.
func New(ctx context.Context, addr string, opts ...Option) (*Engine, error) {
	o := &options{}
	for _, opt := range opts {
		opt(o)
	}
	if len(o.errs) > 0 {
		return nil, o.errs[0]
	}
	if o.progressMode == progressui.TtyMode {
		if _, err := progressui.NewDisplay(o.progressOut, progressui.TtyMode); err != nil {
			return nil, usererr.New("--progress tty: the output is not a terminal: use auto or plain")
		}
	}
	quietClientLogs()
	e := &Engine{addr: addr, o: o}
	if err := e.connect(ctx); err != nil {
		e.Close()
		return nil, err
	}
	if err := e.probe(ctx); err != nil {
		e.Close()
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "graft-buildkit-")
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("buildkit: %w", err)
	}
	e.tmp = tmp
	return e, nil
}

// connect makes the client for e.addr; nothing is dialled until the first call.
func (e *Engine) connect(ctx context.Context) error {
	scheme, rest, ok := strings.Cut(e.addr, "://")
	if !ok || scheme == "" {
		return usererr.New("BuildKit address %q has no scheme: use unix://PATH, tcp://HOST:PORT, docker-container://NAME, kube-pod://NAME or docker://", e.addr)
	}
	var copts []client.ClientOpt
	address := e.addr
	switch scheme {
	case "unix", "docker-container", "kube-pod":
	case "tcp":
		tlsOpts, err := e.tlsOptions()
		if err != nil {
			return err
		}
		copts = tlsOpts
	case "docker":
		dopts, closeFn, err := dockerEngine(rest)
		if err != nil {
			return err
		}
		e.closers = append(e.closers, closeFn)
		copts, address = dopts, ""
	default:
		return usererr.New("unknown BuildKit address scheme %q in %q: use unix://, tcp://, docker-container://, kube-pod:// or docker://", scheme, e.addr)
	}
	if e.o.tls != nil && scheme != "tcp" {
		return usererr.New("BuildKit address %s: TLS certificates apply to tcp:// addresses only", e.addr)
	}
	c, err := client.New(ctx, address, copts...)
	if err != nil {
		return usererr.New("BuildKit at %s: %s", e.addr, oneLine(err))
	}
	e.c = c
	return nil
}

var quietOnce sync.Once

// quietClientLogs stops the client side of BuildKit and containerd (session content store,
// local store) from printing its internal logs through logrus's standard logger: retried
// concurrent blob writes during a cache export print "level=error" lines in a build that
// succeeds, and every OCI layout store probes fsverity with a warning. What matters reaches
// graft as Solve's error or in the progress display. The logger is process-wide; nothing else
// in graft uses it.
func quietClientLogs() {
	quietOnce.Do(func() { logrus.StandardLogger().SetLevel(logrus.FatalLevel) })
}

// tlsOptions verifies the daemon with the given CA (else the system's), and presents the
// client certificate when one is given.
func (e *Engine) tlsOptions() ([]client.ClientOpt, error) {
	if e.o.tls == nil {
		return nil, nil
	}
	u, err := url.Parse(e.addr)
	if err != nil {
		return nil, usererr.New("BuildKit address %q: %v", e.addr, err)
	}
	t := e.o.tls
	opts := []client.ClientOpt{client.WithServerConfigSystem(u.Hostname())}
	if t.ca != "" {
		opts[0] = client.WithServerConfig(u.Hostname(), t.ca)
	}
	if t.cert != "" || t.key != "" {
		opts = append(opts, client.WithCredentials(t.cert, t.key))
	}
	return opts, nil
}

// Close ends the connection and removes the engine's scratch files.
func (e *Engine) Close() error {
	var errs []error
	if e.c != nil {
		errs = append(errs, e.c.Close())
	}
	for _, fn := range e.closers {
		errs = append(errs, fn())
	}
	if e.tmp != "" {
		errs = append(errs, os.RemoveAll(e.tmp))
	}
	return errors.Join(errs...)
}

// Version is the daemon's BuildKit version as it reports it.
func (e *Engine) Version() string { return e.version }
