package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Each startup failure stops what started, prints exactly one line naming the cause, and exits
// non-zero quickly — not at GRAFT_STARTUP_TIMEOUT (left at its 5m default unless the case is
// the timeout itself).
func TestStartupFailures(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notExec := filepath.Join(dir, "not-exec.sh")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	marker := filepath.Join(dir, "process-started")
	setting := "[[setting]]\nname = \"db_url\"\nenv = \"APP_DB_URL\"\nrequired = true\nsecret = true\n"
	component := fmt.Sprintf("[[component]]\nname = \"backend\"\nport = %d\n", port)
	process := func(cmd ...string) string {
		return fmt.Sprintf("[[process]]\nname = \"web\"\ncommand = %s\ncomponents = [\"backend\"]\n", tomlList(cmd...))
	}
	touchAndSleep := process("sh", "-c", "echo $$ > "+marker+"; exec sleep 100")
	for _, tc := range []struct {
		name   string
		config string
		env    []string
		args   []string
		code   int
		line   string
		max    time.Duration
	}{
		{"missing required setting", setting + component + touchAndSleep, nil, nil, 2,
			"graft-launcher: setting db_url is required: set APP_DB_URL or APP_DB_URL_FILE", time.Second},
		{"unreadable secret file", setting + component + touchAndSleep, []string{"APP_DB_URL_FILE=" + filepath.Join(dir, "missing")}, nil, 2,
			"graft-launcher: setting db_url: cannot read APP_DB_URL_FILE: " + filepath.Join(dir, "missing") + ": no such file or directory", time.Second},
		{"VAR and VAR_FILE both set", setting + component + touchAndSleep, []string{"APP_DB_URL=x", "APP_DB_URL_FILE=" + secretFile}, nil, 2,
			"graft-launcher: setting db_url: both APP_DB_URL and APP_DB_URL_FILE are set; set only one", time.Second},
		{"hook failure", "[[hook]]\nname = \"migrate\"\nrun = [\"sh\", \"-c\", \"exit 3\"]\n" + component + touchAndSleep, nil, nil, 1,
			"graft-launcher: startup failed: hook migrate exited with code 3", time.Second},
		{"process exits before ready", component + process("sh", "-c", "sleep 0.2; exit 3"), nil, nil, 3,
			"graft-launcher: startup failed: process web exited with code 3 before backend became ready", 2 * time.Second},
		{"process exits 0 before ready", component + process("true"), nil, nil, 1,
			"graft-launcher: startup failed: process web exited with code 0 before backend became ready", 2 * time.Second},
		{"readiness timeout", component + touchAndSleep, []string{"GRAFT_STARTUP_TIMEOUT=1s"}, nil, 1,
			"graft-launcher: startup failed: component backend not ready within 1s: context deadline exceeded (last probe: tcp 127.0.0.1:" + fmt.Sprint(port) + ": connection refused)", 3 * time.Second},
		{"command not found", component + process("no-such-command-xyz"), nil, nil, 127,
			"graft-launcher: startup failed: process web: cannot start no-such-command-xyz: command not found in PATH", time.Second},
		{"command not executable", component + process(notExec), nil, nil, 126,
			"graft-launcher: startup failed: process web: cannot start " + notExec + ": permission denied", time.Second},
		{"bad GRAFT_STOP_TIMEOUT", component + touchAndSleep, []string{"GRAFT_STOP_TIMEOUT=soon"}, nil, 2,
			`graft-launcher: GRAFT_STOP_TIMEOUT="soon" is not valid; use a Go duration such as 10s`, time.Second},
		{"unknown component", component + touchAndSleep, nil, []string{"frontend"}, 2,
			`graft-launcher: unknown component "frontend"; declared components: backend`, time.Second},
		{"bad launcher.toml", component + touchAndSleep + "oops = 1\n", nil, nil, 2,
			"oops: unknown key; remove it or check its spelling against the documented schema", time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(marker)
			cdir := t.TempDir()
			cfg := writeConfig(t, cdir, fmt.Sprintf("port_dir = %q\n", cdir)+tc.config)
			p := startLauncher(t, env(append([]string{cfg}, tc.env...)...), append([]string{"run"}, tc.args...)...)
			code := p.wait(t, tc.max+5*time.Second)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			// Measured to the launcher's exit; process start and the cause's own delay included.
			if p.took > tc.max {
				t.Errorf("took %s, want under %s", p.took, tc.max)
			}
			lines := strings.Split(strings.TrimSpace(p.stderr.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.line) {
				t.Errorf("stderr %q, want one line containing %q", p.stderr, tc.line)
			}
			if pid := readPidIfAny(marker); pid > 0 && alive(pid) {
				t.Errorf("process %d still running after the launcher exited", pid)
			}
			if entries, _ := os.ReadDir(cdir); hasPortFile(entries) {
				t.Errorf("port file left after a failed start: %v", entries)
			}
		})
	}
}

// A failing hook means no process is started at all.
func TestHookFailureStartsNoProcess(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "started")
	cfg := writeConfig(t, dir, fmt.Sprintf("port_dir = %q\n[[hook]]\nname = \"h\"\nrun = [\"false\"]\n[[process]]\nname = \"p\"\ncommand = %s\ncomponents = []\n",
		dir, tomlList("sh", "-c", "touch "+marker)))
	p := startLauncher(t, env(cfg), "run")
	if code := p.wait(t, 5*time.Second); code != 1 {
		t.Fatalf("exit %d", code)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a process started although a hook failed")
	}
}

func readPidIfAny(path string) int {
	var pid int
	if data, err := os.ReadFile(path); err == nil {
		fmt.Sscan(string(data), &pid)
	}
	return pid
}

func hasPortFile(entries []os.DirEntry) bool {
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".port") || e.Name() == ".components" {
			return true
		}
	}
	return false
}

// SIGTERM while a hook runs stops the hook (its whole group) and starts nothing.
func TestStopDuringHook(t *testing.T) {
	dir := t.TempDir()
	hookPid, marker := filepath.Join(dir, "hook.pid"), filepath.Join(dir, "started")
	cfg := writeConfig(t, dir, fmt.Sprintf("port_dir = %q\n[[hook]]\nname = \"slow\"\nrun = %s\n[[process]]\nname = \"p\"\ncommand = %s\ncomponents = []\n",
		dir, tomlList("sh", "-c", "sleep 100 & echo $! > "+hookPid+"; wait"), tomlList("touch", marker)))
	p := startLauncher(t, env(cfg), "run")
	sleeper := readPid(t, hookPid)
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 5*time.Second); code != 143 {
		t.Fatalf("exit %d; stderr: %s", code, p.stderr)
	}
	if got := strings.TrimSpace(p.stderr.String()); got != "graft-launcher: startup failed: received SIGTERM while hook slow was running" {
		t.Fatalf("stderr %q", got)
	}
	if alive(sleeper) {
		t.Fatal("the hook's child survived")
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a process started after the stop")
	}
}

// An unusable port_dir fails the start before hooks run or processes start.
func TestUnwritablePortDir(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	must(t, os.WriteFile(blocker, nil, 0o644))
	marker := filepath.Join(dir, "hook-ran")
	cfg := writeConfig(t, dir, fmt.Sprintf("port_dir = %q\n[[hook]]\nname = \"h\"\nrun = %s\n[[process]]\nname = \"p\"\ncommand = [\"sleep\", \"100\"]\ncomponents = []\n",
		filepath.Join(blocker, "ports"), tomlList("touch", marker)))
	p := startLauncher(t, env(cfg), "run")
	if code := p.wait(t, 5*time.Second); code != 1 {
		t.Fatalf("exit %d; stderr: %s", code, p.stderr)
	}
	lines := strings.Split(strings.TrimSpace(p.stderr.String()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "graft-launcher: startup failed: port_dir: ") || !strings.Contains(lines[0], "not a directory") {
		t.Fatalf("stderr %q", p.stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("hook ran although port_dir is unusable")
	}
}
