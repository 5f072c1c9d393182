package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// gitServer serves every bare repository under a folder over git's smart HTTP protocol, the
// way forges do: `git http-backend` behind net/http/cgi on 127.0.0.1. An optional delay is
// added to every request, to stand in for the round trip to a real forge.
type gitServer struct {
	URL      string // http://127.0.0.1:PORT; repo "x.git" is URL+"/x.git"
	root     string
	delay    atomic.Int64 // nanoseconds added to every request
	requests atomic.Int64
	sent     atomic.Int64 // response body bytes
	srv      *http.Server
}

func startGitServer(root string) (*gitServer, error) {
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("git --exec-path: %w (is git installed?)", err)
	}
	g := &gitServer{root: root}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Root: "/",
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1"},
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.requests.Add(1)
		if d := time.Duration(g.delay.Load()); d > 0 {
			time.Sleep(d)
		}
		backend.ServeHTTP(&countingWriter{ResponseWriter: w, n: &g.sent}, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("git server: %w", err)
	}
	g.URL = "http://" + ln.Addr().String()
	g.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go g.srv.Serve(ln)
	return g, nil
}

// countingWriter counts the bytes of a response body.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// traffic is the requests served and response bytes sent so far.
func (g *gitServer) traffic() (requests, bytes int64) { return g.requests.Load(), g.sent.Load() }

func (g *gitServer) setDelay(d time.Duration) { g.delay.Store(int64(d)) }

func (g *gitServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.srv.Shutdown(ctx)
}

// roundTrip times one request a git client makes first: the ref advertisement of repo.
func (g *gitServer) roundTrip(ctx context.Context, repo string) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		g.URL+"/"+repo+"/info/refs?service=git-upload-pack", nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 32<<10)
	for {
		if _, err := resp.Body.Read(buf); err != nil {
			break
		}
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s info/refs: %s", repo, resp.Status)
	}
	return time.Since(start), nil
}

// gitServerFor starts the bench's git server over its repositories folder on first use.
func (b *bench) gitServerFor() (*gitServer, error) {
	if b.git != nil {
		return b.git, nil
	}
	g, err := startGitServer(b.reposDir())
	if err != nil {
		return nil, err
	}
	b.git = g
	b.onClose(g.close)
	return g, nil
}

func (b *bench) reposDir() string { return filepath.Join(b.tmp, "repos") }
