package main

import (
	"context"
	"os"
	"path/filepath"
)

// profileGraft runs one extra, untimed graft command under `perf record` (Go keeps frame
// pointers, so call graphs work) when -profile is given, and writes perf's report beside the
// data: what a slow row spends its time on. Missing perf is reported in the log, not fatal.
func (b *bench) profileGraft(ctx context.Context, name string, spec cmdSpec, args ...string) {
	if b.cfg.profileDir == "" {
		return
	}
	if err := os.MkdirAll(b.cfg.profileDir, 0o755); err != nil {
		b.logf("profile %s: %v", name, err)
		return
	}
	data := filepath.Join(b.cfg.profileDir, name+".perf.data")
	rec := append([]string{"record", "-q", "-g", "-F", "999", "-o", data, "--", b.graft}, args...)
	if _, err := runCmd(ctx, spec, "perf", rec...); err != nil {
		b.logf("profile %s: %v", name, err)
		return
	}
	report, err := runCmd(ctx, cmdSpec{}, "perf", "report", "-i", data, "--stdio", "--no-children",
		"--sort", "symbol", "--percent-limit", "1", "-g", "none")
	if err != nil {
		b.logf("profile %s: %v", name, err)
		return
	}
	out := filepath.Join(b.cfg.profileDir, name+".perf.txt")
	if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
		b.logf("profile %s: %v", name, err)
		return
	}
	b.logf("profile %s: %s", name, out)
}
