package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// An interrupt at the last moment before the output is committed (here: as the output
// starts) stops the build: exit 130, and dest keeps the previous build's layout.
func TestInterruptBeforeCommitLeavesDestUnchanged(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	dest := filepath.Join(s.Dir, "out", "image")
	if code, _, errOut := graft(t, "build", "-C", s.Dir, "--progress", "quiet"); code != 0 {
		t.Fatalf("first build: exit %d: %s", code, errOut)
	}
	before, err := os.ReadFile(filepath.Join(dest, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	s.Plugin("alpha", map[string]string{"a.txt": "alpha v2"}, "")
	s.Lock()

	for _, spec := range []string{"type=oci,dest=out/image", "type=docker,dest=out/image.tar"} {
		ctx, cancel := context.WithCancel(context.Background())
		stderr := &cancelOn{w: &bytes.Buffer{}, line: "output ", cancel: cancel}
		var stdout bytes.Buffer
		code := run(ctx, []string{"build", "-C", s.Dir, "--progress", "plain", "-o", spec}, &stdout, stderr)
		cancel()
		if code != 130 || !strings.Contains(stderr.w.String(), "graft: interrupted (SIGINT)") || stdout.Len() != 0 {
			t.Fatalf("%s: exit %d (want 130), stdout %q, stderr:\n%s", spec, code, stdout.String(), stderr.w)
		}
	}
	after, err := os.ReadFile(filepath.Join(dest, "index.json"))
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("dest changed by an interrupted build (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "out", "image.tar")); !os.IsNotExist(err) {
		t.Errorf("interrupted docker output exists: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(s.Dir, "out", ".graft-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// cancelOn cancels when a line starting with line is written (graft's progress announces
// each output just before publishing it).
type cancelOn struct {
	w      *bytes.Buffer
	line   string
	cancel func()
}

func (c *cancelOn) Write(p []byte) (int, error) {
	for _, l := range strings.Split(string(p), "\n") {
		if strings.HasPrefix(l, c.line) {
			c.cancel()
		}
	}
	return c.w.Write(p)
}

// A real SIGINT to a graft process: exit 130, one line saying so, no output.
func TestSIGINTExits130(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	cmd := graftProcess("build", "-C", s.Dir, "--progress", "plain")
	var stderr syncBuffer
	stderr.onWrite = func(b []byte) {
		if bytes.Contains(b, []byte("fetch  alpha")) {
			cmd.Process.Signal(syscall.SIGINT)
		}
	}
	cmd.Stderr = &stderr
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(stderr.String(), "graft: interrupted (SIGINT)") {
		t.Fatalf("exit %d (%v), want 130; stderr:\n%s", code, err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "out", "image")); !os.IsNotExist(err) {
		t.Errorf("interrupted build wrote its output: %v", err)
	}
}

type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	onWrite func([]byte)
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.onWrite != nil {
		s.onWrite(p)
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
