package repos

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCommitsAreTheSameOnEveryRun(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git not installed; CI=true requires it")
		}
		t.Skip("git not installed")
	}
	ctx := context.Background()
	src := filepath.Join("..", "plugins")
	a, err := Create(ctx, src, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	b, err := Create(ctx, src, dest)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 4 {
		t.Fatalf("want 4 plugin repos, got %v", a)
	}
	for name, sha := range a {
		if b[name] != sha || len(sha) != 40 {
			t.Errorf("%s: %s vs %s", name, sha, b[name])
		}
	}
	// The hook keeps its execute bit in git.
	out, err := exec.Command("git", "-C", filepath.Join(dest, "stamp.git"), "ls-tree", "-r", "main").Output()
	if err != nil || !strings.Contains(string(out), "100755 blob") {
		t.Errorf("stamp tree: %s %v", out, err)
	}
	when := FirstCommit.Add(24 * time.Hour)
	c1, err := Commit(ctx, filepath.Join(dest, "files.git"), map[string]string{"VERSION": "2.0.0\n"}, "files 2.0.0", "v2.0.0", when)
	if err != nil {
		t.Fatal(err)
	}
	dest2 := t.TempDir()
	Create(ctx, src, dest2)
	c2, err := Commit(ctx, filepath.Join(dest2, "files.git"), map[string]string{"VERSION": "2.0.0\n"}, "files 2.0.0", "v2.0.0", when)
	if err != nil || c1 != c2 {
		t.Errorf("bump differs: %s %s %v", c1, c2, err)
	}
	tags, _ := exec.Command("git", "-C", filepath.Join(dest, "files.git"), "tag").Output()
	if string(tags) != "v1.0.0\nv2.0.0\n" {
		t.Errorf("tags = %q", tags)
	}
}
