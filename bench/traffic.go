package main

import (
	"fmt"

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
	return t
}

// netRuns collects the traffic of one side's timed runs.
type netRuns struct{ requests, connections, sequential []float64 }

// timed runs f and records the traffic it caused.
func (n *netRuns) timed(b *bench, f func() error) error {
	m := b.markTraffic()
	err := f()
	if err == nil {
		t := b.trafficSince(m)
		n.requests = append(n.requests, float64(t.requests))
		n.connections = append(n.connections, float64(t.connections))
		n.sequential = append(n.sequential, float64(t.sequential))
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
