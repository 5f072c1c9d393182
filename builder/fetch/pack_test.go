package fetch

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/format/idxfile"

	"github.com/graft-build/graft/internal/gittest"
)

func readIdx(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	idx := idxfile.NewMemoryIndex()
	if err := idxfile.NewDecoder(f).Decode(idx); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	it, _ := idx.Entries()
	for {
		e, err := it.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[e.Hash.String()] = fmt.Sprintf("%d/%08x", e.Offset, e.CRC32)
	}
}

// A pack full of deltas (similar files over several commits, repacked aggressively) gets the
// same index from graft's streaming indexer as from git.
func TestStorePackIndexesAsGitDoes(t *testing.T) {
	root := t.TempDir()
	r := gittest.NewRepo(t, root, "d.git")
	text := strings.Repeat("def method(arg)\n  arg.each { |x| puts x }\nend\n", 500)
	for c := 0; c < 4; c++ {
		files := map[string]string{}
		for i := 0; i < 20; i++ {
			files[fmt.Sprintf("lib/f%02d.rb", i)] = fmt.Sprintf("%s# %d %d\n", text[:len(text)-i*7], c, i)
		}
		r.Write(files)
		r.Commit(fmt.Sprintf("c%d", c))
	}
	gitIn(t, r.Bare, "repack", "-a", "-d", "-f", "-q", "--depth=20", "--window=50")
	packs, _ := filepath.Glob(filepath.Join(r.Bare, "objects", "pack", "*.pack"))
	if len(packs) != 1 {
		t.Fatalf("packs %v", packs)
	}
	if out := gitIn(t, r.Bare, "verify-pack", "-v", packs[0]); !strings.Contains(out, "chain length") {
		t.Fatalf("no deltas in the test pack:\n%s", out)
	}
	dir := t.TempDir()
	err := storePack(dir, func(w io.Writer) error {
		f, err := os.Open(packs[0])
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(filepath.Base(packs[0]), ".pack")
	got := readIdx(t, filepath.Join(dir, "objects", "pack", base+".idx"))
	want := readIdx(t, strings.TrimSuffix(packs[0], ".pack")+".idx")
	if len(got) != len(want) {
		t.Fatalf("%d objects indexed, git has %d", len(got), len(want))
	}
	for h, v := range want {
		if got[h] != v {
			t.Errorf("object %s: %q, git: %q", h, got[h], v)
		}
	}
}

func TestStorePackRefusesATruncatedPack(t *testing.T) {
	root := t.TempDir()
	r := gittest.NewRepo(t, root, "t.git")
	r.Write(map[string]string{"a": strings.Repeat("x", 10000)})
	r.Commit("c")
	gitIn(t, r.Bare, "repack", "-a", "-d", "-q")
	packs, _ := filepath.Glob(filepath.Join(r.Bare, "objects", "pack", "*.pack"))
	data, _ := os.ReadFile(packs[0])
	dir := t.TempDir()
	err := storePack(dir, func(w io.Writer) error { _, err := w.Write(data[:len(data)-30]); return err })
	if err == nil {
		t.Fatal("truncated pack stored")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "*")); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}
