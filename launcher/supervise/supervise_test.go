package supervise

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

func newSup(t *testing.T) *Supervisor {
	t.Helper()
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func waitDone(t *testing.T, p *Proc) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s (pid %d) not reaped", p.Name, p.Pid)
	}
}

var env = []string{"PATH=" + os.Getenv("PATH")}

// Processes that exit at once, started concurrently, are never mistaken for orphans: each
// waiter gets its own status.
func TestEveryStatusReachesItsWaiter(t *testing.T) {
	s := newSup(t)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(code int) {
			defer wg.Done()
			p, err := s.Start(Spec{Name: "exit", Argv: []string{"sh", "-c", "exit " + strconv.Itoa(code)}, Env: env})
			if err != nil {
				errs <- err
				return
			}
			<-p.Done()
			if p.ExitCode() != code {
				errs <- errors.New("wrong code for " + strconv.Itoa(code) + ": " + strconv.Itoa(p.ExitCode()))
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := s.Orphans(); n != 0 {
		t.Fatalf("%d started processes were treated as orphans", n)
	}
}

func TestStartErrors(t *testing.T) {
	s := newSup(t)
	notExec := filepath.Join(t.TempDir(), "script")
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	for _, tc := range []struct {
		argv []string
		code int
	}{
		{[]string{"no-such-command-xyz"}, 127},
		{[]string{"/no/such/path"}, 127},
		{[]string{notExec}, 126},
		{[]string{t.TempDir()}, 126},
	} {
		_, err := s.Start(Spec{Name: "x", Argv: tc.argv, Env: env})
		var se *StartError
		if !errors.As(err, &se) || se.Code != tc.code {
			t.Errorf("%v: err = %v, want code %d", tc.argv, err, tc.code)
		}
	}
}

func TestSignalDeathAndDescribe(t *testing.T) {
	s := newSup(t)
	p, err := s.Start(Spec{Name: "sleep", Argv: []string{"sleep", "100"}, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	if killed := s.Stop(5 * time.Second); killed {
		t.Fatal("sleep needed SIGKILL")
	}
	waitDone(t, p)
	if p.ExitCode() != 143 || p.Describe() != "killed by signal 15 (terminated)" || p.Seq() != 1 {
		t.Fatalf("code %d, %q, seq %d", p.ExitCode(), p.Describe(), p.Seq())
	}
	if s.Alive() {
		t.Fatal("still alive after Stop")
	}
}

func TestStopEscalatesToKill(t *testing.T) {
	s := newSup(t)
	p, err := s.Start(Spec{Name: "stubborn", Argv: []string{"sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"}, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the trap be set
	start := time.Now()
	if killed := s.Stop(200 * time.Millisecond); !killed {
		t.Fatal("Stop did not report SIGKILL")
	}
	waitDone(t, p)
	if p.ExitCode() != 128+int(syscall.SIGKILL) || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("code %d after %s", p.ExitCode(), time.Since(start))
	}
}

func TestLookPathUsesChildPATH(t *testing.T) {
	dir := t.TempDir()
	tool := filepath.Join(dir, "mytool")
	os.WriteFile(tool, []byte("#!/bin/sh\nexit 9\n"), 0o755)
	s := newSup(t)
	p, err := s.Start(Spec{Name: "t", Argv: []string{"mytool"}, Env: []string{"PATH=" + dir}})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, p)
	if p.ExitCode() != 9 {
		t.Fatalf("code %d", p.ExitCode())
	}
}
