// Package netdelay makes a server on 127.0.0.1 answer like one across a network: a delay per
// request (the round trip) and per new connection (the TCP and TLS handshakes), and a log of
// the requests served, so a test or the bench can tell how many round trips a client made and
// how many of them it waited for one after another.
//
// One Link stands for one server's network path. Wrap the server's handler with Link.Handler
// and, for the connection delay, its listener with Link.Listener:
//
//	link := netdelay.New(30*time.Millisecond, 60*time.Millisecond)
//	srv := httptest.NewUnstartedServer(link.Handler(h))
//	srv.Listener = link.Listener(srv.Listener)
//	srv.Start()
//
// Definitions (the counters a Stats holds):
//
//   - Requests: requests the handler answered.
//   - Connections: connections the listener accepted.
//   - Sequential: the length of the longest chain of answered requests in which each one
//     started after the one before it had been answered. These are the round trips a client
//     waited for one after another, whatever it did concurrently beside them: the critical
//     path. With a delay d per request, a client that made C sequential requests spent at
//     least C×d; requests made concurrently beside that chain do not add to it.
//   - MaxInFlight: the most requests being answered at one moment.
//
// A request's span starts when the handler is called (its headers read, after any connection
// delay) and ends when the handler returns (its response written, before the delay of any
// later request).
package netdelay

import (
	"container/heap"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Request is one answered request: what was asked, and when.
type Request struct {
	Method, Path string
	Start, End   time.Time
}

// Link is the network path to one server: its delays and the log of what it served. Its
// methods are safe for concurrent use.
type Link struct {
	delay     atomic.Int64 // nanoseconds added before answering each request
	connDelay atomic.Int64 // nanoseconds added before the first read of each new connection
	conns     atomic.Int64

	mu          sync.Mutex
	requests    []Request // in the order they ended
	inFlight    int
	maxInFlight int
}

// New returns a Link adding perRequest to every request and perConn to every new connection.
func New(perRequest, perConn time.Duration) *Link {
	l := &Link{}
	l.SetDelay(perRequest, perConn)
	return l
}

// SetDelay changes the delays for requests and connections from now on.
func (l *Link) SetDelay(perRequest, perConn time.Duration) {
	l.delay.Store(int64(perRequest))
	l.connDelay.Store(int64(perConn))
}

// Delays returns the current delays per request and per new connection.
func (l *Link) Delays() (perRequest, perConn time.Duration) {
	return time.Duration(l.delay.Load()), time.Duration(l.connDelay.Load())
}

// Handler wraps next: each request waits the request delay, then next answers it, and the
// request is logged.
func (l *Link) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		l.mu.Lock()
		l.inFlight++
		l.maxInFlight = max(l.maxInFlight, l.inFlight)
		l.mu.Unlock()
		defer func() {
			end := time.Now()
			l.mu.Lock()
			l.inFlight--
			l.requests = append(l.requests, Request{Method: r.Method, Path: r.URL.Path, Start: start, End: end})
			l.mu.Unlock()
		}()
		if d := time.Duration(l.delay.Load()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Listener wraps ln: each accepted connection is counted, and its first read waits the
// connection delay (the client sees it on the first request of the connection).
func (l *Link) Listener(ln net.Listener) net.Listener { return &listener{Listener: ln, link: l} }

type listener struct {
	net.Listener
	link *Link
}

func (ln *listener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	ln.link.conns.Add(1)
	return &conn{Conn: c, d: time.Duration(ln.link.connDelay.Load())}, nil
}

type conn struct {
	net.Conn
	d    time.Duration
	once sync.Once
}

func (c *conn) Read(p []byte) (int, error) {
	c.once.Do(func() {
		if c.d > 0 {
			time.Sleep(c.d)
		}
	})
	return c.Conn.Read(p)
}

// Requests lists the requests answered so far, in the order they ended.
func (l *Link) Requests() []Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Request(nil), l.requests...)
}

// Stats are the counters of a Link over a stretch of time; see the package comment.
type Stats struct {
	Requests    int
	Connections int64
	Sequential  int
	MaxInFlight int
}

// Mark is a point in a Link's log, to count what came after it.
type Mark struct {
	requests int
	conns    int64
}

// Mark returns the current point of the log and resets the in-flight maximum, so Since(mark)
// counts only what follows.
func (l *Link) Mark() Mark {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maxInFlight = l.inFlight
	return Mark{requests: len(l.requests), conns: l.conns.Load()}
}

// Since returns the counters of what the Link served after m (the zero Mark: since it began).
func (l *Link) Since(m Mark) Stats {
	l.mu.Lock()
	reqs := append([]Request(nil), l.requests[min(m.requests, len(l.requests)):]...)
	maxIn := l.maxInFlight
	l.mu.Unlock()
	return Stats{Requests: len(reqs), Connections: l.conns.Load() - m.conns, Sequential: Sequential(reqs), MaxInFlight: maxIn}
}

// RequestsSince lists the requests answered after m, in the order they ended.
func (l *Link) RequestsSince(m Mark) []Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Request(nil), l.requests[min(m.requests, len(l.requests)):]...)
}

// Sequential is the length of the longest chain of requests in which each one started after
// the one before it had ended (see the package comment). Requests of several Links may be
// given together: a client's critical path across its servers.
func Sequential(reqs []Request) int {
	sorted := append([]Request(nil), reqs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Start.Before(sorted[j].Start) })
	// In start order, a request can follow any earlier-started one that ended by its start;
	// those are popped off a heap ordered by end, keeping the longest chain among them.
	var ended endHeap
	best, longest := 0, 0
	for _, q := range sorted {
		for len(ended) > 0 && !ended[0].end.After(q.Start) {
			best = max(best, heap.Pop(&ended).(chainEnd).chain)
		}
		c := best + 1
		longest = max(longest, c)
		heap.Push(&ended, chainEnd{end: q.End, chain: c})
	}
	return longest
}

type chainEnd struct {
	end   time.Time
	chain int
}

type endHeap []chainEnd

func (h endHeap) Len() int           { return len(h) }
func (h endHeap) Less(i, j int) bool { return h[i].end.Before(h[j].end) }
func (h endHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *endHeap) Push(x any)        { *h = append(*h, x.(chainEnd)) }
func (h *endHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
