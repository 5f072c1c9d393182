package healthcheck

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// The launcher speaks just enough HTTP/1.1 for probes and the health endpoint: one GET per
// connection, no keep-alive, no TLS. Doing it on package net instead of net/http keeps TLS,
// HTTP/2 and MIME out of the PID 1 binary: about 4 MB less on disk and in memory, and a faster
// start, for a protocol subset that fits on a screen.

// maxHeaderBytes bounds what a peer can make the launcher read.
const maxHeaderBytes = 16 << 10

// httpGet sends GET path to addr and returns the response's status code. The response body is
// not read: the status line is all a probe needs.
func httpGet(ctx context.Context, addr, path string) (int, error) {
	if !validPath(path) {
		return 0, fmt.Errorf("health path %q: use a path such as /health, without spaces", path)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	host := addr
	if strings.HasPrefix(addr, "127.0.0.1:") || strings.HasPrefix(addr, "[::1]:") {
		host = "localhost" + addr[strings.LastIndexByte(addr, ':'):]
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUser-Agent: graft-launcher-healthcheck\r\nAccept: */*\r\nConnection: close\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		return 0, ctxErr(ctx, err)
	}
	line, err := bufio.NewReaderSize(conn, 512).ReadString('\n')
	if err != nil {
		return 0, ctxErr(ctx, fmt.Errorf("no HTTP response: %w", err))
	}
	return parseStatusLine(line)
}

// ctxErr prefers the context's error (deadline, cancel) to the I/O error it caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// parseStatusLine reads "HTTP/1.1 200 OK".
func parseStatusLine(line string) (int, error) {
	proto, rest, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
	codeText, _, _ := strings.Cut(rest, " ")
	code, err := strconv.Atoi(codeText)
	if !strings.HasPrefix(proto, "HTTP/1.") || err != nil || len(codeText) != 3 || code < 100 {
		return 0, fmt.Errorf("not an HTTP response: %q", truncate(line, 40))
	}
	return code, nil
}

func validPath(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] == 0x7f {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// response is what a handler returns: status code and JSON body.
type response struct {
	code int
	body []byte
}

// serveHTTP answers one request on conn with handle(path) for GET and HEAD.
func serveHTTP(conn net.Conn, handle func(ctx context.Context, path string) (response, bool)) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(conn, 1024)
	method, target, err := readRequest(br)
	if err != nil {
		writeResponse(conn, "GET", response{400, []byte(`{"status":"bad request"}` + "\n")})
		return
	}
	if method != "GET" && method != "HEAD" {
		writeResponse(conn, method, response{405, []byte(`{"status":"method not allowed"}` + "\n")})
		return
	}
	path, _, _ := strings.Cut(target, "?")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, ok := handle(ctx, path)
	if !ok {
		resp = response{404, []byte(`{"status":"not found"}` + "\n")}
	}
	writeResponse(conn, method, resp)
}

// readRequest reads the request line and skips the headers, within maxHeaderBytes.
func readRequest(br *bufio.Reader) (method, target string, err error) {
	read := 0
	next := func() (string, error) {
		line, err := br.ReadString('\n')
		read += len(line)
		if err == nil && read > maxHeaderBytes {
			err = errors.New("request header too large")
		}
		return strings.TrimRight(line, "\r\n"), err
	}
	line, err := next()
	if err != nil {
		return "", "", err
	}
	parts := strings.Fields(line)
	if len(parts) != 3 || !strings.HasPrefix(parts[2], "HTTP/1.") {
		return "", "", fmt.Errorf("bad request line")
	}
	for {
		h, err := next()
		if err != nil {
			return "", "", err
		}
		if h == "" {
			return parts[0], parts[1], nil
		}
	}
}

var statusText = map[int]string{200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
	503: "Service Unavailable"}

func writeResponse(conn net.Conn, method string, r response) {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", r.code, statusText[r.code])
	b.WriteString("Content-Type: application/json\r\nCache-Control: no-store\r\nConnection: close\r\n")
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(r.body))
	if method != "HEAD" {
		b.Write(r.body)
	}
	conn.Write([]byte(b.String()))
}
