package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graft-build/graft/internal/gittest"
	"github.com/graft-build/graft/internal/netdelay"
)

// gitServer serves every bare repository under a folder over git's smart HTTP protocol, the
// way forges do: gittest's `git http-backend` behind net/http/cgi on 127.0.0.1, behind a
// netdelay.Link that adds the round trip to a real forge per request and the handshakes per new
// connection, and counts the requests.
type gitServer struct {
	URL  string // http://127.0.0.1:PORT; repo "x.git" is URL+"/x.git"
	root string
	link *netdelay.Link
	sent atomic.Int64 // response body bytes
	srv  *http.Server

	// A forge answers many requests at once from its caches; git http-backend as CGI on the
	// bench's 2 cores cannot (every request forks git and packs objects). With record on,
	// responses are kept by request; with replay on, a kept response is sent again without
	// running git, so the server answers in parallel and costs next to no CPU.
	record, replay atomic.Bool
	replayed       atomic.Int64
	kept           sync.Map // request key -> *keptResponse
}

type keptResponse struct {
	status int
	header http.Header
	body   []byte
}

func startGitServer(root string, link *netdelay.Link) (*gitServer, error) {
	backend, err := gittest.Handler(root)
	if err != nil {
		return nil, err
	}
	g := &gitServer{root: root, link: link}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &countingWriter{ResponseWriter: w, n: &g.sent}
		if !g.record.Load() && !g.replay.Load() {
			backend.ServeHTTP(cw, r)
			return
		}
		g.serveKept(cw, r, backend)
	})
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("git server: %w", err)
	}
	ln := link.Listener(tcp)
	g.URL = "http://" + ln.Addr().String()
	g.srv = &http.Server{Handler: link.Handler(handler), ReadHeaderTimeout: 10 * time.Second}
	go g.srv.Serve(ln)
	return g, nil
}

// serveKept replays a kept response to the same request, else runs git and keeps its answer.
func (g *gitServer) serveKept(w http.ResponseWriter, r *http.Request, backend http.Handler) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	sum := sha256.Sum256(body)
	// git asks for protocol v2 in a header, go-git does not: the same URL, other answers.
	key := r.Method + " " + r.URL.String() + " " + r.Header.Get("Git-Protocol") + " " +
		r.Header.Get("Content-Encoding") + " " + hex.EncodeToString(sum[:])
	if v, ok := g.kept.Load(key); ok && g.replay.Load() {
		g.replayed.Add(1)
		k := v.(*keptResponse)
		for h, vs := range k.header {
			w.Header()[h] = vs
		}
		w.WriteHeader(k.status)
		w.Write(k.body)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	backend.ServeHTTP(rec, r)
	if g.record.Load() && rec.Code == http.StatusOK {
		g.kept.Store(key, &keptResponse{status: rec.Code, header: rec.Header().Clone(), body: rec.Body.Bytes()})
	}
	for h, vs := range rec.Header() {
		w.Header()[h] = vs
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
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
func (g *gitServer) traffic() (requests, bytes int64) {
	return int64(len(g.link.Requests())), g.sent.Load()
}

func (g *gitServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.srv.Shutdown(ctx)
}

// roundTrip times one request a git client makes first: the ref advertisement of repo.
func (g *gitServer) roundTrip(ctx context.Context, client *http.Client, repo string) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		g.URL+"/"+repo+"/info/refs?service=git-upload-pack", nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := client.Do(req)
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
	g, err := startGitServer(b.reposDir(), b.newLink())
	if err != nil {
		return nil, err
	}
	b.git = g
	b.onClose(g.close)
	return g, nil
}

func (b *bench) reposDir() string { return filepath.Join(b.tmp, "repos") }
