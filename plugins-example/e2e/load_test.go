package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// result is one request of the load generator.
type result struct {
	start, end time.Time
	url        string
	err        string // transport error or non-200 status
	plugins    string // X-Demo-Plugins of the UI that answered
	backend    string // the backend's plugin versions, as the UI saw them
}

// load sends requests without pause from several workers until stopped, like users of the
// UIs: each request goes to a UI, which calls the backend.
type load struct {
	urls    []string
	client  *http.Client
	mu      sync.Mutex
	results []result
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

func startLoad(workers int, urls ...string) *load {
	l := &load{urls: urls, client: &http.Client{Timeout: 15 * time.Second}}
	ctx, cancel := context.WithCancel(context.Background())
	l.stop = cancel
	for i := 0; i < workers; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for n := i; ctx.Err() == nil; n++ {
				l.record(l.once(l.urls[n%len(l.urls)]))
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	return l
}

func (l *load) once(url string) result {
	r := result{start: time.Now(), url: url}
	defer func() { r.end = time.Now() }()
	resp, err := l.client.Get(url)
	if err != nil {
		r.err = err.Error()
		r.end = time.Now()
		return r
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r.end = time.Now()
	r.plugins = resp.Header.Get("X-Demo-Plugins")
	if resp.StatusCode != http.StatusOK {
		r.err = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		return r
	}
	var home struct {
		Backend struct{ Plugins map[string]string }
	}
	if err := json.Unmarshal(body, &home); err != nil {
		r.err = "bad body: " + err.Error()
		return r
	}
	r.backend = home.Backend.Plugins["files"]
	return r
}

func (l *load) record(r result) {
	l.mu.Lock()
	l.results = append(l.results, r)
	l.mu.Unlock()
}

// Stop ends the load and returns every result.
func (l *load) Stop() []result {
	l.stop()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.results
}

func failures(rs []result) []result {
	var out []result
	for _, r := range rs {
		if r.err != "" {
			out = append(out, r)
		}
	}
	return out
}
