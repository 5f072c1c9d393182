package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// An app that logs a fatal startup error and keeps running (Jetty after "Failed startup of
// context") fails startup at once, long before GRAFT_STARTUP_TIMEOUT, with the line in the
// cause; its output still reaches the launcher's stdout and stderr unchanged.
func TestFailOnEndsStartupAtOnce(t *testing.T) {
	dir := t.TempDir()
	script := `echo starting; printf 'part one'; sleep 0.1; echo ' part two'; ` +
		`echo '2026-11-30 SEVERE o.e.j.w.WebAppContext: Failed startup of context /staff' >&2; exec sleep 60`
	cfg := writeConfig(t, dir, fmt.Sprintf(`port_dir = %q
[[process]]
name = "jetty"
command = ["sh", "-c", %q]
components = ["frontend"]

[[component]]
name = "frontend"
port = %d
fail_on = ["Failed startup of context", "^FATAL"]
`, filepath.Join(dir, "ports"), script, freePort(t)))
	p := startLauncher(t, env(cfg, "GRAFT_STARTUP_TIMEOUT=10m"), "run")
	if code := p.wait(t, 20*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1\nstderr: %s", code, p.stderr)
	}
	if p.took > 10*time.Second {
		t.Errorf("took %s: fail_on must not wait for the startup timeout", p.took)
	}
	lines := launcherLines(p.stderr.String())
	want := `graft-launcher: startup failed: process jetty printed "2026-11-30 SEVERE o.e.j.w.WebAppContext: Failed startup of context /staff", which matches fail_on of component frontend`
	if len(lines) != 1 || lines[0] != want {
		t.Errorf("launcher lines %q\nwant %q", lines, want)
	}
	if got := p.stdout.String(); got != "starting\npart one part two\n" {
		t.Errorf("stdout %q: the app's output must be relayed unchanged", got)
	}
	if !strings.HasPrefix(p.stderr.String(), "2026-11-30 SEVERE o.e.j.w.WebAppContext: Failed startup of context /staff\n") {
		t.Errorf("stderr %q: the app's own line must come first, unchanged", p.stderr)
	}
}

// Once every component is ready, a matching line is just output: the app is up.
func TestFailOnIgnoredAfterReady(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`port_dir = %q
%s
[[component]]
name = "backend"
port = %d
health = "/health"
fail_on = ["closed last"]
`, filepath.Join(dir, "ports"), selfProcess("app", "serve", "backend"), port))
	p := startLauncher(t, env(cfg, fmt.Sprintf("SERVE_PORTS=%d", port)), "run")
	waitFor(t, 10*time.Second, "ready", func() bool { return strings.Contains(p.stderr.String(), "ready: backend") })
	p.signal(t, syscall.SIGUSR1) // forwarded: the child closes its listener and prints "closed last"
	waitFor(t, 10*time.Second, "the child's line", func() bool { return strings.Contains(p.stdout.String(), "closed last\n") })
	select {
	case <-p.done:
		t.Fatalf("the launcher ended on a fail_on match after ready: %s", p.stderr)
	default:
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 143 {
		t.Fatalf("exit %d after SIGTERM, want 143: %s", code, p.stderr)
	}
	if !strings.HasPrefix(p.stdout.String(), "listening\n") {
		t.Errorf("stdout %q", p.stdout)
	}
}

// A pattern that is not a regular expression is bad configuration, with file, line and key.
func TestFailOnBadPattern(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "[[process]]\nname = \"a\"\ncommand = [\"true\"]\ncomponents = [\"web\"]\n\n[[component]]\nname = \"web\"\nport = 80\nfail_on = [\"Failed (startup\"]\n")
	code, stderr := runIn(t, dir, env(cfg), "run")
	if code != 2 || !strings.Contains(stderr, "component: component \"web\": fail_on \"Failed (startup\" is not a regular expression") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "ports")); err == nil {
		t.Error("bad config must stop the launcher before it writes anything")
	}
}

// `graft-launcher config` shows each component's fail_on patterns, quoted as TOML.
func TestConfigShowsFailOn(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "[[process]]\nname = \"a\"\ncommand = [\"true\"]\ncomponents = [\"web\", \"api\"]\n\n"+
		"[[component]]\nname = \"web\"\nport = 80\nfail_on = [\"Failed startup of context\", '^FATAL \\d+ \"x\"']\n\n[[component]]\nname = \"api\"\nport = 81\n")
	cmd := exec.Command(launcherBin, "config")
	cmd.Env = env(cfg)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	want := "[[component]]\nname = \"web\"\nport = 80\nhealth = \"\"\nfail_on = [\"Failed startup of context\", \"^FATAL \\\\d+ \\\"x\\\"\"]\n\n[[component]]\nname = \"api\"\nport = 81\nhealth = \"\"\n"
	if !strings.HasSuffix(string(out), want) {
		t.Fatalf("config output ends\n%s\nwant\n%s", out, want)
	}
}
