package buildkittest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// inCI reports whether missing prerequisites must fail rather than skip.
func inCI() bool { return os.Getenv("CI") == "true" }

// Start launches a daemon for one test and stops it when the test ends. Without root or runc
// it skips the test with the reason; under CI=true it fails instead.
func Start(t testing.TB, opts ...Option) *Daemon {
	t.Helper()
	if reason := Unavailable(); reason != "" {
		skipOrFail(t, reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	d, err := Launch(ctx, opts...)
	if err != nil {
		t.Fatalf("buildkitd: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// Shared is one daemon for a whole test package, started from TestMain:
//
//	func TestMain(m *testing.M) {
//		shared = buildkittest.StartShared()
//		code := m.Run()
//		shared.Close()
//		os.Exit(code)
//	}
type Shared struct {
	d      *Daemon
	reason string // why there is no daemon
}

// StartShared launches the package's daemon, or records why it could not; tests see the reason
// through Daemon.
func StartShared(opts ...Option) *Shared {
	if reason := Unavailable(); reason != "" {
		return &Shared{reason: reason}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	d, err := Launch(ctx, opts...)
	if err != nil {
		return &Shared{reason: fmt.Sprintf("start buildkitd: %v", err)}
	}
	return &Shared{d: d}
}

// Daemon returns the shared daemon, or skips the test (fails it under CI=true) with the reason
// there is none.
func (s *Shared) Daemon(t testing.TB) *Daemon {
	t.Helper()
	if s.d == nil {
		skipOrFail(t, s.reason)
	}
	return s.d
}

// Close stops the shared daemon.
func (s *Shared) Close() {
	if s.d != nil {
		s.d.Close()
	}
}

func skipOrFail(t testing.TB, reason string) {
	t.Helper()
	if inCI() {
		t.Fatalf("CI=true and no buildkitd: %s", reason)
	}
	t.Skipf("no buildkitd: %s", reason)
}
