package main

import (
	"os"
	"path/filepath"
	"testing"
)

// requireTool is a stand-in for internal/tooltest (being written beside this work): the pinned
// tool built into <user cache dir>/graft/tools/<name>-<version>/; skipped without it, failed
// under CI=true.
func requireTool(t *testing.T, tool string) string {
	t.Helper()
	versions := map[string]string{"cosign": "v2.6.5", "syft": "v1.57.2", "oras": "v1.3.6", "crane": "v0.22.1"}
	dir, err := os.UserCacheDir()
	if err == nil {
		bin := filepath.Join(dir, "graft", "tools", tool+"-"+versions[tool], tool)
		if _, err = os.Stat(bin); err == nil {
			return bin
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and no %s: %v", tool, err)
	}
	t.Skipf("no %s: %v", tool, err)
	return ""
}
