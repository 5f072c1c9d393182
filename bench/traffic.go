package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/graft-build/graft/internal/netdelay"
)

// The bench's servers answer on 127.0.0.1 like servers across a network: every git server and
// registry sits behind a netdelay.Link adding -delay per request and -conn-delay per new
// connection. A row reports, beside each tool's time, the requests it made to all of them, the
// new connections, and how many of the requests were sequential (the longest chain of requests
// each started after the one before it ended, across all servers: the round trips the tool
// waited for one after another; netdelay's package comment has the definition).

// newLink is a network path with the configured delays; traffic counts every link made here.
func (b *bench) newLink() *netdelay.Link {
	l := netdelay.New(b.cfg.delay, b.cfg.connDelay)
	b.links = append(b.links, l)
	return l
}

// trafficMark is a point in every link's log.
type trafficMark []netdelay.Mark

func (b *bench) markTraffic() trafficMark {
	m := make(trafficMark, len(b.links))
	for i, l := range b.links {
		m[i] = l.Mark()
	}
	return m
}

// traffic is what the servers answered over a stretch of time.
type traffic struct {
	requests, connections, sequential int
	mix                               string // the requests by kind, most first
}

func (b *bench) trafficSince(m trafficMark) traffic {
	var t traffic
	var reqs []netdelay.Request
	for i, l := range b.links {
		var mark netdelay.Mark // a link started after m: all of it
		if i < len(m) {
			mark = m[i]
		}
		s := l.Since(mark)
		t.requests += s.Requests
		t.connections += int(s.Connections)
		reqs = append(reqs, l.RequestsSince(mark)...)
	}
	t.sequential = netdelay.Sequential(reqs)
	t.mix = requestMix(reqs)
	return t
}

// requestMix counts requests by method and kind ("HEAD blob 40, POST upload 20"), most first.
func requestMix(reqs []netdelay.Request) string {
	counts := map[string]int{}
	for _, q := range reqs {
		counts[q.Method+" "+requestKind(q.Path)]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}

// requestKind names what a registry or git request path asks for.
func requestKind(path string) string {
	switch {
	case strings.Contains(path, "/blobs/uploads/"):
		return "upload"
	case strings.Contains(path, "/blobs/"):
		return "blob"
	case strings.Contains(path, "/manifests/"):
		return "manifest"
	case strings.Contains(path, "/referrers/"):
		return "referrers"
	case strings.HasSuffix(path, "/tags/list"):
		return "tags"
	case path == "/v2/" || path == "/v2":
		return "ping"
	case strings.HasSuffix(path, "/info/refs"):
		return "git refs"
	case strings.HasSuffix(path, "/git-upload-pack"):
		return "git fetch"
	}
	return "other"
}

// netRuns collects the traffic of one side's timed runs.
type netRuns struct {
	requests, connections, sequential []float64
	mix                               string // of the last run
}

// timed runs f and records the traffic it caused.
func (n *netRuns) timed(b *bench, f func() error) error {
	m := b.markTraffic()
	err := f()
	if err == nil {
		t := b.trafficSince(m)
		n.requests = append(n.requests, float64(t.requests))
		n.connections = append(n.connections, float64(t.connections))
		n.sequential = append(n.sequential, float64(t.sequential))
		n.mix = t.mix
	}
	return err
}

// wrap is work (as measure takes it) recording its traffic.
func (n *netRuns) wrap(b *bench, work func(int) error) func(int) error {
	return func(i int) error { return n.timed(b, func() error { return work(i) }) }
}

// set records the medians on s (an ok side).
func (n *netRuns) set(s *side) *side {
	if s.ok() && len(n.requests) > 0 {
		s.setExtra("requests", n.requests)
		s.setExtra("connections", n.connections)
		s.setExtra("sequential", n.sequential)
		s.RequestMix = n.mix
	}
	return s
}

// netCell renders a side's traffic, "" when none was recorded.
func (s *side) netCell() string {
	req, ok := s.Extra["requests"]
	if !ok {
		return ""
	}
	return fmt.Sprintf("%.0f req (%.0f sequential, %.0f conn)", req, s.Extra["sequential"], s.Extra["connections"])
}
