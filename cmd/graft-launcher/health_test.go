package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func healthcheck(t *testing.T, e []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(launcherBin, append([]string{"healthcheck"}, args...)...)
	cmd.Env = e
	out, _ := cmd.CombinedOutput()
	return cmd.ProcessState.ExitCode(), string(out)
}

// Two components served by one process; the test takes one down and checks the subcommand and
// the endpoint report exactly that.
func TestHealthWithOneComponentDown(t *testing.T) {
	dir := t.TempDir()
	portDir := filepath.Join(dir, "ports")
	backend, frontend, health := freePort(t), freePort(t), freePort(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`port_dir = %q
%s
[[component]]
name = "backend"
port = %d
health = "/health"

[[component]]
name = "frontend"
port = %d
`, portDir, selfProcess("app", "serve", "backend", "frontend"), backend, frontend))
	e := env(cfg, fmt.Sprintf("SERVE_PORTS=%d,%d", backend, frontend), fmt.Sprintf("GRAFT_HEALTH_ADDR=127.0.0.1:%d", health))
	p := startLauncher(t, e, "run")
	base := fmt.Sprintf("http://127.0.0.1:%d", health)
	waitFor(t, 10*time.Second, "ready", func() bool { return strings.Contains(p.stderr.String(), "ready: backend, frontend") })

	// Docker runs healthcheck with the container's environment but not run's arguments.
	hcEnv := env(cfg)
	if code, out := healthcheck(t, hcEnv); code != 0 || out != "healthy: backend, frontend\n" {
		t.Fatalf("healthy: exit %d, %q", code, out)
	}
	for _, path := range []string{"/livez", "/readyz", "/startupz"} {
		code, body := get(t, base+path)
		if code != 200 || !strings.Contains(body, `"backend":"ready"`) || !strings.Contains(body, `"frontend":"ready"`) {
			t.Fatalf("%s: %d %s", path, code, body)
		}
	}

	p.signal(t, syscall.SIGUSR1) // forwarded: the app closes frontend's listener
	waitFor(t, 5*time.Second, "frontend closed", func() bool { return strings.Contains(p.stdout.String(), "closed last") })

	code, out := healthcheck(t, hcEnv)
	if code != 1 || strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "unhealthy: frontend: tcp 127.0.0.1:") || strings.Contains(out, "backend") {
		t.Fatalf("one down: exit %d, %q", code, out)
	}
	if code, out := healthcheck(t, hcEnv, "backend"); code != 0 {
		t.Fatalf("backend alone: exit %d, %q", code, out)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || body != `{"status":"fail","components":{"backend":"ready","frontend":"down"}}`+"\n" {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	if code, _ := get(t, base+"/livez"); code != 200 {
		t.Fatalf("/livez: %d", code)
	}
	if code, _ := get(t, base+"/startupz"); code != 200 {
		t.Fatalf("/startupz: %d", code)
	}
	if code, out := healthcheck(t, hcEnv, "nope"); code != 1 || !strings.HasPrefix(out, "unhealthy: unknown component") {
		t.Fatalf("unknown component: exit %d, %q", code, out)
	}
	p.signal(t, syscall.SIGTERM)
	p.wait(t, 5*time.Second)
	if code, out := healthcheck(t, hcEnv); code != 1 || !strings.Contains(out, "not ready (no port file)") {
		t.Fatalf("after stop: exit %d, %q", code, out)
	}
}

// Port files appear only once the component answers, hold "PORT\n", and go away on stop.
func TestPortFilesOnlyWhenReady(t *testing.T) {
	dir := t.TempDir()
	portDir := filepath.Join(dir, "ports")
	port, health := freePort(t), freePort(t)
	cfg := writeConfig(t, dir, fmt.Sprintf("port_dir = %q\n%s\n[[component]]\nname = \"backend\"\nport = %d\nhealth = \"/health\"\n",
		portDir, selfProcess("app", "serve", "backend"), port))
	p := startLauncher(t, env(cfg, fmt.Sprintf("SERVE_PORTS=%d", port), "SERVE_DELAY=800ms", fmt.Sprintf("GRAFT_HEALTH_ADDR=127.0.0.1:%d", health)), "run")
	portFile := filepath.Join(portDir, "backend.port")
	base := fmt.Sprintf("http://127.0.0.1:%d", health)
	waitFor(t, 5*time.Second, "health endpoint", func() bool {
		_, err := http.Get(base + "/livez")
		return err == nil
	})
	if code, body := get(t, base+"/startupz"); code != 503 || !strings.Contains(body, `"backend":"starting"`) {
		t.Fatalf("/startupz while starting: %d %s", code, body)
	}
	// Until the app listens there must be no port file.
	for !strings.Contains(p.stdout.String(), "listening") {
		if _, err := os.Stat(portFile); err == nil {
			t.Fatal("port file written before the component answered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, 5*time.Second, "port file", func() bool { _, err := os.Stat(portFile); return err == nil })
	data, _ := os.ReadFile(portFile)
	if string(data) != fmt.Sprintf("%d\n", port) {
		t.Fatalf("port file holds %q", data)
	}
	if sel, _ := os.ReadFile(filepath.Join(portDir, ".components")); string(sel) != "backend\n" {
		t.Fatalf(".components holds %q", sel)
	}
	p.signal(t, syscall.SIGTERM)
	p.wait(t, 5*time.Second)
	entries, _ := os.ReadDir(portDir)
	if len(entries) != 0 {
		t.Fatalf("left in port dir after stop: %v", entries)
	}
}
