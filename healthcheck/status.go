package healthcheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// Component states reported by the endpoint.
const (
	Starting = "starting"
	Ready    = "ready"
	Down     = "down"
	Stopping = "stopping"
)

// Component is one selected component as the health checks see it.
type Component struct {
	Name string
	Port int
	Path string // "" means TCP connect
}

// Status is the launcher's view of its components, shared by the run loop (writer) and the
// endpoint (reader).
type Status struct {
	mu       sync.Mutex
	comps    []Component
	state    map[string]string
	stopping bool
}

// NewStatus starts every component in state Starting.
func NewStatus(comps []Component) *Status {
	s := &Status{comps: comps, state: map[string]string{}}
	for _, c := range comps {
		s.state[c.Name] = Starting
	}
	return s
}

// SetReady marks a component ready.
func (s *Status) SetReady(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state[name] = Ready
}

// SetStopping marks every component stopping: readiness fails so traffic drains.
func (s *Status) SetStopping() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopping = true
	for name := range s.state {
		s.state[name] = Stopping
	}
}

func (s *Status) snapshot() (map[string]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]string, len(s.state))
	for k, v := range s.state {
		m[k] = v
	}
	return m, s.stopping
}

// report is the endpoint's JSON body: an overall status and one state per component. It holds
// no configuration values (no ports, paths, settings).
type report struct {
	Status     string            `json:"status"`
	Components map[string]string `json:"components"`
}

// handle answers /livez, /readyz and /startupz; ok is false for any other path.
func (s *Status) handle(ctx context.Context, path string) (response, bool) {
	states, stopping := s.snapshot()
	healthy := !stopping
	switch path {
	case "/livez": // the launcher is up and supervising; it fails only while stopping
	case "/startupz": // every component has become ready once
		for _, st := range states {
			healthy = healthy && st == Ready
		}
	case "/readyz": // every component answers now (probed live, so a hung app shows at once)
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		for _, c := range s.comps {
			if states[c.Name] != Ready {
				healthy = false
				continue
			}
			if err := Probe(pctx, Target{Port: c.Port, Path: c.Path}); err != nil {
				states[c.Name] = Down
				healthy = false
			}
		}
	default:
		return response{}, false
	}
	rep := report{Status: "ok", Components: states}
	code := 200
	if !healthy {
		rep.Status, code = "fail", 503
	}
	body, _ := json.Marshal(rep) // a string map cannot fail to encode
	return response{code, append(body, '\n')}, true
}

// Serve starts the endpoint on addr (e.g. ":9090") and returns once it listens, so a bad
// address is a startup failure rather than a log line later. Stop it by cancelling ctx.
func (s *Status) Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("health endpoint %s: %w", addr, unwrapOp(err))
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				time.Sleep(10 * time.Millisecond) // e.g. EMFILE: back off, keep serving
				continue
			}
			go serveHTTP(conn, s.handle)
		}
	}()
	return nil
}

// Check is the `healthcheck` subcommand's work: each component's port file must exist and the
// component must answer. It returns whether all are healthy and one short line saying so.
func Check(ctx context.Context, portDir string, comps []Component) (bool, string) {
	var bad []string
	for _, c := range comps {
		port, err := ReadPort(portDir, c.Name)
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = Probe(pctx, Target{Port: port, Path: c.Path})
			cancel()
		}
		if err != nil {
			bad = append(bad, c.Name+": "+err.Error())
		}
	}
	names := make([]string, len(comps))
	for i, c := range comps {
		names[i] = c.Name
	}
	if len(bad) == 0 {
		return true, "healthy: " + strings.Join(names, ", ")
	}
	line := "unhealthy: " + strings.Join(bad, "; ")
	// Docker keeps 4 KiB of healthcheck output; one short line is plenty.
	if len(line) > 300 {
		line = line[:297] + "..."
	}
	return false, line
}
