package tmpclean

import (
	"os"
	"path/filepath"
	"testing"
)

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCleanRemovesContentsOnlyAndNeverFollowsSymlinksOut(t *testing.T) {
	base := t.TempDir()
	tmp := filepath.Join(base, "app", "tmp")
	outside := filepath.Join(base, "outside")
	mustWrite(t, filepath.Join(outside, "precious.txt"), "keep me")
	mustWrite(t, filepath.Join(base, "app", "sibling.txt"), "keep me too")
	mustWrite(t, filepath.Join(tmp, "server.pid"), "123")
	mustWrite(t, filepath.Join(tmp, "uploads", "deep", "half.bin"), "x")
	if err := os.Symlink(outside, filepath.Join(tmp, "link-to-dir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "precious.txt"), filepath.Join(tmp, "link-to-file")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../outside", filepath.Join(tmp, "uploads", "relative-link")); err != nil {
		t.Fatal(err)
	}
	// Read-only nested folder: RemoveAll must still get through it as owner.
	if err := os.Chmod(filepath.Join(tmp, "uploads", "deep"), 0o555); err != nil {
		t.Fatal(err)
	}

	if err := Clean(tmp); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatalf("tmp itself must remain: %v", err)
	}
	if len(entries) != 0 {
		t.Fatalf("tmp not empty: %v", entries)
	}
	for _, p := range []string{filepath.Join(outside, "precious.txt"), filepath.Join(base, "app", "sibling.txt")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s was touched: %v", p, err)
		}
	}
}

func TestCleanCreatesMissingDir(t *testing.T) {
	tmp := filepath.Join(t.TempDir(), "new", "tmp")
	if err := Clean(tmp); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(tmp); err != nil || !fi.IsDir() {
		t.Fatalf("tmp not created: %v", err)
	}
}

func TestCleanRefusesRoot(t *testing.T) {
	for _, dir := range []string{"/", "", ".", "//"} {
		if err := Clean(dir); err == nil {
			t.Fatalf("Clean(%q) must refuse", dir)
		}
	}
}
