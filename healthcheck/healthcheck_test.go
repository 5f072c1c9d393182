package healthcheck

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func serve(t *testing.T, status int) int {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		if status >= 300 && status < 400 {
			http.Redirect(w, r, "/elsewhere-that-404s", status)
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

func TestProbeHTTP(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		status int
		ok     bool
	}{{200, true}, {204, true}, {302, true}, {404, false}, {500, false}, {503, false}} {
		port := serve(t, tc.status)
		err := Probe(ctx, Target{Port: port, Path: "/health"})
		if (err == nil) != tc.ok {
			t.Errorf("status %d: err = %v, want ok=%v", tc.status, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "status") {
			t.Errorf("status %d: error %q does not name the status", tc.status, err)
		}
	}
	// A path without its leading slash still works.
	if err := Probe(ctx, Target{Port: serve(t, 200), Path: "health"}); err != nil {
		t.Fatal(err)
	}
}

func TestProbeTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := Probe(context.Background(), Target{Port: port}); err != nil {
		t.Fatalf("listening port: %v", err)
	}
	ln.Close()
	err = Probe(context.Background(), Target{Port: port})
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("closed port: %v", err)
	}
}

func TestWaitReadyGivesUpAtDeadlineWithLastError(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := WaitReady(ctx, Target{Port: port})
	if err == nil || !strings.Contains(err.Error(), "last probe") || time.Since(start) > 2*time.Second {
		t.Fatalf("err = %v after %s", err, time.Since(start))
	}
}

func TestPortFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ports")
	if _, err := ReadPort(dir, "backend"); err == nil || err.Error() != "not ready (no port file)" {
		t.Fatalf("missing: %v", err)
	}
	if err := WritePort(dir, "backend", 8089); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "backend.port"))
	if string(data) != "8089\n" {
		t.Fatalf("content %q", data)
	}
	if port, err := ReadPort(dir, "backend"); err != nil || port != 8089 {
		t.Fatalf("ReadPort = %d, %v", port, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	if err := RemovePort(dir, "backend"); err != nil {
		t.Fatal(err)
	}
	if err := RemovePort(dir, "backend"); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "bad.port"), []byte("http\n"), 0o644)
	if _, err := ReadPort(dir, "bad"); err == nil {
		t.Fatal("bad port file accepted")
	}
}

func TestCheckOneLine(t *testing.T) {
	dir := t.TempDir()
	up := serve(t, 200)
	WritePort(dir, "backend", up)
	ok, line := Check(context.Background(), dir, []Component{{Name: "backend", Path: "/health"}, {Name: "frontend"}})
	if ok || line != "unhealthy: frontend: not ready (no port file)" {
		t.Fatalf("ok=%v line=%q", ok, line)
	}
	ok, line = Check(context.Background(), dir, []Component{{Name: "backend", Path: "/health"}})
	if !ok || line != "healthy: backend" {
		t.Fatalf("ok=%v line=%q", ok, line)
	}
}
