package filetree

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/graft-build/graft/internal/gittest"
	"github.com/graft-build/graft/internal/usererr"
)

func write(t *testing.T, dir string, files map[string]string) {
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHashIsGits: the tree hash is what git writes for the same folder.
func TestHashIsGits(t *testing.T) {
	gittest.RequireGit(t)
	dir := t.TempDir()
	write(t, dir, map[string]string{"a.txt": "a", "bin/run.sh": "#!/bin/sh", "lib/deep/x.rb": "x"})
	os.Symlink("lib/deep/x.rb", filepath.Join(dir, "link"))
	os.MkdirAll(filepath.Join(dir, "empty/inner"), 0o755)
	tree, err := Read(dir, Options{Shown: "f"})
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	out, err := exec.Command("git", "-C", dir, "write-tree").Output()
	if err != nil {
		t.Fatal(err)
	}
	// .git is refused unless skipped; skipping it gives git's own tree.
	if _, err := Read(dir, Options{Shown: "f"}); err == nil || !usererr.Is(err) {
		t.Errorf("a .git was not refused: %v", err)
	}
	again, err := Read(dir, Options{Shown: "f", SkipGit: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(out)); tree.Hash != want || again.Hash != want {
		t.Errorf("tree %s (again %s), git says %s", tree.Hash, again.Hash, want)
	}
	if len(tree.Files) != 7 {
		t.Errorf("files %+v", tree.Files)
	}
}

func TestOpenChecksContentAndRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"a.txt": "abc"})
	tree, err := Read(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("abd"), 0o644)
	rc, err := tree.Open(tree.Files[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); err == nil || !strings.Contains(err.Error(), "changed after graft read it") {
		t.Errorf("changed content read without error: %v", err)
	}
	rc.Close()
	os.Remove(filepath.Join(dir, "a.txt"))
	os.Symlink("/etc/passwd", filepath.Join(dir, "a.txt"))
	if _, err := tree.Open(tree.Files[0]); err == nil {
		t.Error("a symlink swapped in was followed")
	}
	if _, err := Read(dir, Options{}); err == nil || !strings.Contains(err.Error(), "symlink to the absolute path") {
		t.Errorf("an absolute symlink: %v", err)
	}
	os.Remove(filepath.Join(dir, "a.txt"))
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err == nil {
		if _, err := Read(dir, Options{}); err == nil || !strings.Contains(err.Error(), "named pipe") {
			t.Errorf("a fifo: %v", err)
		}
	}
}
