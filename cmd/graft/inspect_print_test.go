package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/imagecontract"
)

// Plugin names longer than any fixed width still line up: every commit starts in one column.
func TestInspectColumnsAlignOnLongNames(t *testing.T) {
	sha := strings.Repeat("a", 40)
	r := imagecontract.Report{Image: "img", Digest: "sha256:x", Platforms: []imagecontract.PlatformReport{{Platform: "linux/amd64", Plugins: []contract.PluginInfo{
		{Name: "aeon_fulfillment", Commit: sha, Ref: "v1.0"},
		{Name: "archivesspace-digitization-work-order-reports", Commit: sha, Ref: "main"},
		{Name: "x", Tree: sha, Local: "files"},
	}}}}
	var out bytes.Buffer
	r.Print(&out)
	col := -1
	for _, line := range strings.Split(out.String(), "\n") {
		i := strings.Index(line, sha)
		if i < 0 {
			continue
		}
		if col >= 0 && i != col {
			t.Fatalf("commit at column %d, want %d:\n%s", i, col, out.String())
		}
		col = i
		if strings.HasSuffix(line, " ") {
			t.Errorf("trailing space: %q", line)
		}
	}
	if col < 0 {
		t.Fatalf("no plugin lines:\n%s", out.String())
	}
}
