package buildcache

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/builder/layercache"
)

// folderCache is a cache importing an index written into a folder, with its notes.
func folderCache(t *testing.T, idx *Index, check Check) (*Cache, *strings.Builder) {
	dir := t.TempDir()
	data, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, layercache.IndexFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	notes := &strings.Builder{}
	c := New(Options{From: []layercache.Store{layercache.Local(dir)}, Notes: notes, Check: check})
	c.Load(context.Background())
	return c, notes
}

// A base's folders and licence verdicts from a cache are claims that can change little: an
// entry naming a folder the build did not ask for (which the last layer would then write, say
// /etc with mode 0777), or a licence that is not an expression, is refused and computed again.
func TestFoldersAndLicensesFromAnIndexAreChecked(t *testing.T) {
	base := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}
	paths := []string{"/app", "/app/plugins"}
	honest := []Folder{{Path: "/app", UID: 1000, GID: 1000, Mode: 0o750}}
	idx := newIndex()
	idx.Folders[FoldersID(base, paths)] = honest
	idx.Folders[FoldersID(base, []string{"/srv"})] = []Folder{{Path: "/srv", Mode: 0o755}, {Path: "/etc", Mode: 0o777}}
	idx.Folders[FoldersID(base, []string{"/opt"})] = []Folder{{Path: "/opt", Mode: 0o40755}}
	mit, bad := strings.Repeat("1", 64), strings.Repeat("2", 64)
	idx.Licenses[mit], idx.Licenses[bad] = "MIT", "MIT\n<script>"
	c, notes := folderCache(t, idx, CheckRead)

	scanned := 0
	scan := func(fs ...Folder) func() ([]Folder, error) {
		return func() ([]Folder, error) { scanned++; return fs, nil }
	}
	if fs, err := c.Folders(base, paths, scan()); err != nil || len(fs) != 1 || fs[0] != honest[0] || scanned != 0 {
		t.Errorf("honest folders: %v %v (scanned %d)", fs, err, scanned)
	}
	if fs, err := c.Folders(base, []string{"/srv"}, scan(Folder{Path: "/srv", Mode: 0o755})); err != nil || len(fs) != 1 || scanned != 1 ||
		!strings.Contains(notes.String(), `the base's folders: it names "/etc", which is not a folder the build asked for`) {
		t.Errorf("folders naming /etc: %v %v (scanned %d), notes %s", fs, err, scanned, notes)
	}
	if _, err := c.Folders(base, []string{"/opt"}, scan()); err != nil || scanned != 2 {
		t.Errorf("a mode with a file type: used (scanned %d)", scanned)
	}
	detected := 0
	detect := func() (string, error) { detected++; return "Apache-2.0", nil }
	if lic, err := c.License(mit, detect); err != nil || lic != "MIT" || detected != 0 {
		t.Errorf("licence: %q %v (detected %d)", lic, err, detected)
	}
	if lic, err := c.License(bad, detect); err != nil || lic != "Apache-2.0" || detected != 1 || !strings.Contains(notes.String(), "a licence verdict") {
		t.Errorf("a bad licence: %q %v (detected %d), notes %s", lic, err, detected, notes)
	}

	// CheckAll computes both again.
	c, _ = folderCache(t, idx, CheckAll)
	if _, err := c.Folders(base, paths, scan()); err != nil || scanned != 3 {
		t.Errorf("check all took folders from the cache (scanned %d)", scanned)
	}
	if lic, _ := c.License(mit, detect); lic != "Apache-2.0" {
		t.Errorf("check all took a licence from the cache: %q", lic)
	}
}

// The key that makes a local record this machine's is made once, readable by its owner only,
// and refused when anyone else could read it.
func TestLocalKey(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state", "graft", "cache.key")
	a, err := loadKey(file)
	if err != nil || len(a) != keySize {
		t.Fatalf("key %x, %v", a, err)
	}
	st, _ := os.Stat(file)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", st.Mode())
	}
	if b, err := loadKey(file); err != nil || string(a) != string(b) {
		t.Fatalf("a second load made another key: %v", err)
	}
	la, lb := local{key: a}, local{key: []byte(strings.Repeat("k", keySize))}
	sum := la.mac("layer/1", "id", "sha256:x")
	if !la.own(sum, "layer/1", "id", "sha256:x") || lb.own(sum, "layer/1", "id", "sha256:x") || la.own(sum, "layer/1", "id", "sha256:y") {
		t.Error("a MAC proves another key's or another record's fields")
	}
	if none := (&local{}); none.own(sum, "layer/1", "id", "sha256:x") {
		t.Error("without a key a record is this machine's")
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadKey(file); err == nil || !strings.Contains(err.Error(), "only its owner can read") {
		t.Errorf("a key others can read: %v", err)
	}
}
