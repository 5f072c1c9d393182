package netdelay

import (
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// serve starts h behind link on a real TCP listener on 127.0.0.1.
func serve(t *testing.T, link *Link, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(link.Handler(h))
	srv.Listener = link.Listener(srv.Listener)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, c *http.Client, url string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
}

func ok(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }

func TestDelaysAreApplied(t *testing.T) {
	const perReq, perConn = 40 * time.Millisecond, 120 * time.Millisecond
	link := New(perReq, perConn)
	srv := serve(t, link, http.HandlerFunc(ok))
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)

	start := time.Now()
	get(t, c, srv.URL+"/first") // a new connection: both delays
	if took := time.Since(start); took < perReq+perConn {
		t.Errorf("first request on a new connection took %v, want ≥ %v", took, perReq+perConn)
	}
	start = time.Now()
	get(t, c, srv.URL+"/second") // the kept-alive connection: the request delay only
	took := time.Since(start)
	if took < perReq {
		t.Errorf("second request took %v, want ≥ %v", took, perReq)
	}
	if took >= perReq+perConn {
		t.Errorf("second request took %v: the connection delay was paid again on a kept connection", took)
	}
	s := link.Since(Mark{})
	if s.Requests != 2 || s.Connections != 1 || s.Sequential != 2 || s.MaxInFlight != 1 {
		t.Errorf("stats %+v, want 2 requests, 1 connection, 2 sequential, 1 in flight", s)
	}
	if d, cd := link.Delays(); d != perReq || cd != perConn {
		t.Errorf("Delays() = %v, %v", d, cd)
	}
}

func TestCountsSequentialAndConcurrentRequests(t *testing.T) {
	link := New(0, 0)
	const n = 5
	var arrived sync.WaitGroup
	arrived.Add(n)
	release := make(chan struct{})
	srv := serve(t, link, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/together" {
			// Answered only once all n are in flight: they overlap, whatever the scheduling.
			arrived.Done()
			<-release
		}
		ok(w, r)
	}))
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

	get(t, c, srv.URL+"/before")
	mark := link.Mark()
	if s := link.Since(mark); s.Requests != 0 || s.Connections != 0 || s.Sequential != 0 {
		t.Fatalf("right after a mark: %+v", s)
	}
	var done sync.WaitGroup
	for range n {
		done.Add(1)
		go func() {
			defer done.Done()
			get(t, c, srv.URL+"/together")
		}()
	}
	arrived.Wait()
	close(release)
	done.Wait()
	get(t, c, srv.URL+"/after") // starts after all of them ended: a second round trip
	s := link.Since(mark)
	want := Stats{Requests: n + 1, Connections: n + 1, Sequential: 2, MaxInFlight: n}
	if s != want {
		t.Errorf("after the mark: %+v, want %+v", s, want)
	}
	if all := link.Since(Mark{}); all.Requests != n+2 || all.Sequential != 3 || all.Connections != n+2 {
		t.Errorf("since the start: %+v, want %d requests, 3 sequential, %d connections", all, n+2, n+2)
	}
	reqs := link.RequestsSince(mark)
	if len(reqs) != n+1 || reqs[n].Path != "/after" || reqs[0].Method != http.MethodGet {
		t.Errorf("requests since the mark: %+v", reqs)
	}
	if got := len(link.Requests()); got != n+2 {
		t.Errorf("Requests() holds %d, want %d", got, n+2)
	}
}

func TestKeptAliveConnectionsAreCountedOnce(t *testing.T) {
	link := New(0, 0)
	srv := serve(t, link, http.HandlerFunc(ok))
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)
	for range 4 {
		get(t, c, srv.URL+"/x")
	}
	if s := link.Since(Mark{}); s.Requests != 4 || s.Connections != 1 || s.Sequential != 4 {
		t.Errorf("stats %+v, want 4 requests on 1 connection, 4 sequential", s)
	}
}

func span(start, end int) Request {
	t0 := time.Unix(0, 0)
	return Request{Start: t0.Add(time.Duration(start)), End: t0.Add(time.Duration(end))}
}

func TestSequential(t *testing.T) {
	for _, tc := range []struct {
		name string
		reqs []Request
		want int
	}{
		{"none", nil, 0},
		{"one", []Request{span(0, 10)}, 1},
		{"chain", []Request{span(20, 30), span(0, 10), span(10, 20)}, 3}, // touching ends count as one after another
		{"overlapping", []Request{span(0, 10), span(5, 15), span(9, 20)}, 1},
		{"long one beside a chain", []Request{span(0, 100), span(0, 10), span(10, 20), span(20, 30), span(100, 110)}, 4},
		{"fan-out then one", []Request{span(0, 10), span(10, 50), span(10, 20), span(10, 30), span(50, 60)}, 3},
	} {
		if got := Sequential(tc.reqs); got != tc.want {
			t.Errorf("%s: Sequential = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestSequentialMatchesTheDefinition compares the heap-based count with the definition
// computed the slow way, on random spans.
func TestSequentialMatchesTheDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		reqs := make([]Request, rng.IntN(40))
		for i := range reqs {
			s := rng.IntN(100)
			reqs[i] = span(s, s+1+rng.IntN(30))
		}
		if got, want := Sequential(reqs), slowSequential(reqs); got != want {
			t.Fatalf("trial %d: Sequential = %d, the definition gives %d (%v)", trial, got, want, reqs)
		}
	}
}

func slowSequential(reqs []Request) int {
	memo := map[int]int{}
	var chain func(i int) int // the longest chain ending with reqs[i]
	chain = func(i int) int {
		if c, ok := memo[i]; ok {
			return c
		}
		c := 1
		for j := range reqs {
			if !reqs[j].End.After(reqs[i].Start) {
				c = max(c, chain(j)+1)
			}
		}
		memo[i] = c
		return c
	}
	longest := 0
	for i := range reqs {
		longest = max(longest, chain(i))
	}
	return longest
}
