package doctor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadSite(t *testing.T) {
	empty := t.TempDir()
	if p, err := LoadSite(empty); p != nil || err != nil {
		t.Fatalf("a folder without graft.toml: %v, %v", p, err)
	}
	if p, err := LoadSite(filepath.Join(empty, "missing")); p != nil || err != nil {
		t.Fatalf("a folder that is not there: %v, %v", p, err)
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "graft.toml"), []byte("base = \n"), 0o644)
	if _, err := LoadSite(bad); err == nil || !strings.Contains(err.Error(), "graft.toml") {
		t.Fatalf("a broken graft.toml: %v", err)
	}
	good := t.TempDir()
	os.WriteFile(filepath.Join(good, "graft.toml"), []byte("base = \"reg.example/base:1\"\nplugins_dir = \"/p\"\n"), 0o644)
	if p, err := LoadSite(good); err != nil || p == nil || p.Site.Base != "reg.example/base:1" {
		t.Fatalf("a site: %v, %v", p, err)
	}
}

// A BuildKit address where no daemon listens is a finding with the reason, never a hang.
func TestProbeBuildKitWithoutADaemon(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr := "unix://" + filepath.Join(t.TempDir(), "buildkitd.sock")
	if v, err := ProbeBuildKit(ctx, addr); err == nil {
		t.Fatalf("no daemon answered version %q", v)
	}
	r := Run(ctx, "", BuildKit(nil, addr, ProbeBuildKit))
	if len(r.Findings) != 1 || r.Findings[0].Status != Warn || r.Findings[0].Topic != "buildkit" {
		t.Fatalf("findings %+v", r.Findings)
	}
}

// A site without graft.lock is a missing lock, named with what to run; a load error and no
// site are reported as such, never as a lock finding.
func TestLockFindings(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "graft.toml"), []byte("base = \"reg.example/base:1\"\nplugins_dir = \"/p\"\n"), 0o644)
	p, err := LoadSite(dir)
	if err != nil || p == nil {
		t.Fatalf("site: %v, %v", p, err)
	}
	for _, tc := range []struct {
		name   string
		r      *Report
		topic  string
		status Status
		detail string
	}{
		{"no lock", Run(context.Background(), dir, Lock(p, nil)), "lock", Missing, "graft.lock: not found; run `graft lock`"},
		{"load error", Run(context.Background(), dir, Lock(nil, os.ErrInvalid)), "site", Missing, os.ErrInvalid.Error()},
		{"no site", Run(context.Background(), dir, Lock(nil, nil)), "site", Info, "no graft.toml here"},
	} {
		if len(tc.r.Findings) != 1 {
			t.Fatalf("%s: findings %+v", tc.name, tc.r.Findings)
		}
		f := tc.r.Findings[0]
		if f.Topic != tc.topic || f.Status != tc.status || !strings.Contains(f.Detail, tc.detail) {
			t.Errorf("%s: %+v, want %s %s %q", tc.name, f, tc.topic, tc.status, tc.detail)
		}
	}
}
