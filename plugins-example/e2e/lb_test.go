package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// dockerAPI is a minimal Docker Engine API client on its unix socket, for what the load
// balancer polls several times a second (cheaper than running the CLI).
type dockerAPI struct{ http *http.Client }

// newDockerAPI speaks to the local engine's unix socket only: the load balancer must reach tasks
// through docker_gwbridge, which exists on the engine's own host.
func newDockerAPI(t *testing.T) *dockerAPI {
	t.Helper()
	sock := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		sock = strings.TrimPrefix(h, "unix://")
	} else if h != "" {
		t.Fatalf("DOCKER_HOST=%s: the swarm test needs the local engine (unix://); its load balancer reaches tasks through docker_gwbridge", h)
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	return &dockerAPI{http: &http.Client{Transport: tr, Timeout: 5 * time.Second}}
}

func (d *dockerAPI) get(ctx context.Context, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/v1.41"+path, nil)
	if err != nil {
		return err
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("docker API %s: %s: %s", path, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

// healthyTasks returns the docker_gwbridge address of every running, healthy container of a
// swarm service: the host reaches task containers through that bridge.
func (d *dockerAPI) healthyTasks(ctx context.Context, service string) ([]string, error) {
	filters, _ := json.Marshal(map[string][]string{
		"label":  {"com.docker.swarm.service.name=" + service},
		"health": {"healthy"}, "status": {"running"}})
	var containers []struct{ ID string }
	if err := d.get(ctx, "/containers/json?filters="+url.QueryEscape(string(filters)), &containers); err != nil {
		return nil, err
	}
	if len(containers) == 0 {
		// Nothing to address yet. Also: on an engine that has never run a swarm task,
		// docker_gwbridge does not exist until the first task container is attached to it.
		return nil, nil
	}
	var gw struct {
		Containers map[string]struct{ IPv4Address string }
	}
	if err := d.get(ctx, "/networks/docker_gwbridge", &gw); err != nil {
		return nil, err
	}
	var ips []string
	for _, c := range containers {
		if ep, ok := gw.Containers[c.ID]; ok {
			ip, _, _ := strings.Cut(ep.IPv4Address, "/")
			ips = append(ips, ip)
		}
	}
	return ips, nil
}

// loadBalancer stands in for swarm's routing mesh where the kernel lacks IPVS: like HAProxy or
// Traefik in front of a swarm service, it sends each request to one of the service's healthy
// tasks (round robin), drops a task as soon as its own /health probe fails (a draining replica
// answers 503), and retries a request on another task when the connection fails (a replica
// that just closed its listener). It never retries a request that got an HTTP answer.
type loadBalancer struct {
	service string
	port    int
	api     *dockerAPI
	srv     *httptest.Server
	client  *http.Client
	probe   *http.Client
	mu      sync.Mutex
	targets []string       // ip:port
	misses  map[string]int // consecutive probe timeouts per target
	next    atomic.Uint64
	retries atomic.Int64
	stop    context.CancelFunc
	done    chan struct{}
}

func startLoadBalancer(service string, port int, api *dockerAPI) *loadBalancer {
	lb := &loadBalancer{service: service, port: port, api: api, done: make(chan struct{}),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 16, IdleConnTimeout: 5 * time.Second}},
		probe: &http.Client{Timeout: time.Second}}
	ctx, cancel := context.WithCancel(context.Background())
	lb.stop = cancel
	lb.refresh(ctx)
	go lb.loop(ctx)
	lb.srv = httptest.NewServer(lb)
	return lb
}

func (lb *loadBalancer) URL() string { return lb.srv.URL }

func (lb *loadBalancer) Close() {
	lb.srv.Close()
	lb.stop()
	<-lb.done
}

func (lb *loadBalancer) loop(ctx context.Context) {
	defer close(lb.done)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			lb.refresh(ctx)
		}
	}
}

// refresh: the tasks Docker reports healthy, minus those the balancer's own probe rules out.
// Like HAProxy's checks: a draining task (503) or a closed port is out at once; a task whose
// probe merely times out (a busy machine) is out only after fallAfter misses in a row.
func (lb *loadBalancer) refresh(ctx context.Context) {
	ips, err := lb.api.healthyTasks(ctx, lb.service)
	if err != nil {
		return // keep the last known set, as a real balancer does when discovery hiccups
	}
	type verdict struct {
		target string
		state  probeState
	}
	results := make(chan verdict, len(ips))
	for _, ip := range ips {
		target := fmt.Sprintf("%s:%d", ip, lb.port)
		go func() { results <- verdict{target, lb.probeOnce(target)} }()
	}
	misses := map[string]int{}
	var live []string
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for range ips {
		v := <-results
		switch v.state {
		case probeUp:
			live = append(live, v.target)
		case probeSlow:
			if n := lb.misses[v.target] + 1; n < fallAfter {
				misses[v.target] = n
				live = append(live, v.target)
			}
		}
	}
	sort.Strings(live)
	lb.targets, lb.misses = live, misses
}

// fallAfter is how many probe timeouts in a row take a task out.
const fallAfter = 3

type probeState int

const (
	probeUp   probeState = iota
	probeDown            // answered non-200 (draining) or refused the connection
	probeSlow            // no answer in time
)

func (lb *loadBalancer) probeOnce(target string) probeState {
	resp, err := lb.probe.Get("http://" + target + "/health")
	if err != nil {
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			return probeSlow
		}
		return probeDown
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return probeDown
	}
	return probeUp
}

func (lb *loadBalancer) pick() string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if len(lb.targets) == 0 {
		return ""
	}
	return lb.targets[lb.next.Add(1)%uint64(len(lb.targets))]
}

// waitTarget queues a request while no task is up (HAProxy's "timeout queue").
func (lb *loadBalancer) waitTarget(ctx context.Context, limit time.Duration) string {
	deadline := time.Now().Add(limit)
	for {
		if t := lb.pick(); t != "" || time.Now().After(deadline) || ctx.Err() != nil {
			return t
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (lb *loadBalancer) Targets() []string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return append([]string(nil), lb.targets...)
}

func (lb *loadBalancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var lastErr error
	for attempt := 0; attempt < 6; attempt++ {
		target := lb.waitTarget(r.Context(), 5*time.Second)
		if target == "" {
			lastErr = fmt.Errorf("no healthy task of %s for 5s", lb.service)
			break
		}
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, "http://"+target+r.URL.RequestURI(), nil)
		resp, err := lb.client.Do(req)
		if err != nil {
			lastErr = err
			lb.retries.Add(1)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		return
	}
	http.Error(w, "load balancer: "+lastErr.Error(), http.StatusBadGateway)
}
