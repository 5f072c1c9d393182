package healthcheck

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The endpoint, queried by net/http's real client.
func TestEndpoint(t *testing.T) {
	up := serve(t, 200)
	st := NewStatus([]Component{{Name: "backend", Port: up, Path: "/health"}, {Name: "worker", Port: up}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	if err := st.Serve(ctx, addr); err != nil {
		t.Fatal(err)
	}
	if err := st.Serve(ctx, addr); err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("second Serve on the same address: %v", err)
	}
	get := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("content type %q", resp.Header.Get("Content-Type"))
		}
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/livez", 200, `{"status":"ok","components":{"backend":"starting","worker":"starting"}}` + "\n"},
		{"GET", "/startupz", 503, `{"status":"fail","components":{"backend":"starting","worker":"starting"}}` + "\n"},
		{"GET", "/readyz?verbose=1", 503, `{"status":"fail","components":{"backend":"starting","worker":"starting"}}` + "\n"},
		{"GET", "/nope", 404, `{"status":"not found"}` + "\n"},
		{"POST", "/livez", 405, `{"status":"method not allowed"}` + "\n"},
		{"HEAD", "/livez", 200, ""},
	} {
		if code, body := get(tc.method, tc.path); code != tc.code || body != tc.body {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, code, body, tc.code, tc.body)
		}
	}
	st.SetReady("backend")
	st.SetReady("worker")
	if code, body := get("GET", "/readyz"); code != 200 || !strings.Contains(body, `"backend":"ready"`) {
		t.Fatalf("/readyz ready: %d %s", code, body)
	}
	st.SetStopping()
	if code, body := get("GET", "/livez"); code != 503 || !strings.Contains(body, `"backend":"stopping"`) {
		t.Fatalf("/livez stopping: %d %s", code, body)
	}
	// A huge request header is refused rather than read forever.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /livez HTTP/1.1\r\nX: %s\r\n\r\n", strings.Repeat("a", 20<<10))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(reply), "HTTP/1.1 400 ") {
		t.Fatalf("oversized request: %q", reply)
	}
	cancel()
	time.Sleep(50 * time.Millisecond)
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("endpoint still listening after cancel")
	}
}

// A peer that is not an HTTP server, or never answers, fails the probe with a clear reason.
func TestProbeNonHTTPAndSilentPeers(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	silent := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			silent <- c
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := Probe(ctx, Target{Port: port, Path: "/health"})
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("silent peer: %v", err)
	}
	go func() {
		c := <-silent
		c.Close()
		c = <-silent
		io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\n")
		c.Close()
	}()
	err = Probe(context.Background(), Target{Port: port, Path: "/health"})
	if err == nil || !strings.Contains(err.Error(), "not an HTTP response") {
		t.Fatalf("ssh peer: %v", err)
	}
	if err := Probe(context.Background(), Target{Port: port, Path: "/he alth"}); err == nil || !strings.Contains(err.Error(), "without spaces") {
		t.Fatalf("bad path: %v", err)
	}
}
