package healthcheck

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// FuzzReadRequest: whatever a peer sends to the health endpoint, the parser returns a method
// and target or an error, never panics, and never reads past maxHeaderBytes (plus one line).
func FuzzReadRequest(f *testing.F) {
	f.Add([]byte("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("GET /readyz?x=1 HTTP/1.0\n\n"))
	f.Add([]byte("POST / HTTP/2\r\n\r\n"))
	f.Add([]byte("\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		method, target, err := readRequest(bufio.NewReader(bytes.NewReader(data)))
		if err == nil && (method == "" || target == "" || strings.ContainsAny(method+target, " \r\n")) {
			t.Fatalf("accepted %q: method %q target %q", data, method, target)
		}
	})
}

// FuzzParseStatusLine: a status line gives a 3-digit code or an error.
func FuzzParseStatusLine(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\n")
	f.Add("HTTP/1.0 302\n")
	f.Add("SSH-2.0-OpenSSH_9.6\r\n")
	f.Add("HTTP/1.1 -20 OK\r\n") // a sign is not a digit
	f.Add("HTTP/1.1 +99 OK\r\n")
	f.Fuzz(func(t *testing.T, line string) {
		code, err := parseStatusLine(line)
		if err == nil && (code < 100 || code > 999) {
			t.Fatalf("%q gave code %d", line, code)
		}
	})
}
