package lockfile_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/graft-build/graft/internal/gittest"
	"github.com/graft-build/graft/internal/registrytest"
	"github.com/graft-build/graft/lockfile"
)

// bumpSite is a site with one plugin "oauth" locked at v1.0 of a local repository that has
// v1.1 tagged since, and a base in a registry on 127.0.0.1.
func bumpSite(t *testing.T) (dir string, repo *gittest.Repo) {
	t.Helper()
	t.Setenv("HOME", t.TempDir())
	t.Setenv("GRAFT_GIT_TOKEN", "")
	root := t.TempDir()
	dir = filepath.Join(root, "site")
	base := registrytest.GGCR(t, false) + "/base:4.1.1"
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(base)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	repo = gittest.NewRepo(t, root, "oauth.git")
	repo.Write(map[string]string{"README": "1.0"})
	repo.Commit("Release 1.0")
	repo.Tag("v1.0")
	if err := os.MkdirAll(filepath.Join(dir, "plugins/oauth"), 0o755); err != nil {
		t.Fatal(err)
	}
	site := fmt.Sprintf("base = %q\nplugins_dir = \"/p\"\n", base)
	plugin := fmt.Sprintf("[source]\ngit = %q\nref = \"v1.0\"\n", repo.URL())
	if os.WriteFile(filepath.Join(dir, lockfile.SiteFile), []byte(site), 0o644) != nil ||
		os.WriteFile(filepath.Join(dir, "plugins/oauth/plugin.toml"), []byte(plugin), 0o644) != nil {
		t.Fatal("cannot write the site")
	}
	p, err := lockfile.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := p.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if written, err := lockfile.WriteLockIfChanged(filepath.Join(dir, lockfile.LockFile), lock); err != nil || !written {
		t.Fatalf("first lock: written %v, %v", written, err)
	}
	repo.Write(map[string]string{"README": "1.1"})
	repo.Commit("Release 1.1")
	repo.Tag("v1.1")
	return dir, repo
}

func TestBumpAllMovesPluginAndLock(t *testing.T) {
	dir, repo := bumpSite(t)
	p, err := lockfile.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := p.Lock.Plugins[0].Commit
	r, err := p.BumpAll(context.Background(), []string{"oauth"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Written || !r.Moved() || r.Base != nil || len(r.Plugins) != 1 {
		t.Fatalf("bumped %+v", r)
	}
	b := r.Plugins[0]
	if b.NewRef != "v1.1" || b.NewCommit != repo.Head() || b.History == nil || len(b.History.Commits) != 1 {
		t.Fatalf("bump %+v", b)
	}
	toml, _ := os.ReadFile(filepath.Join(dir, "plugins/oauth/plugin.toml"))
	lock, err := lockfile.ReadLock(filepath.Join(dir, lockfile.LockFile))
	if err != nil || !strings.Contains(string(toml), `ref = "v1.1"`) || lock.Plugins[0].Commit != repo.Head() {
		t.Fatalf("plugin.toml %s, lock %+v, %v", toml, lock, err)
	}
	var out strings.Builder
	b.Print(&out)
	want := fmt.Sprintf("oauth: ref v1.0 -> v1.1 (%s -> %s), wrote plugins/oauth/plugin.toml\n  - %s Release 1.1\n",
		old[:12], repo.Head()[:12], repo.Head()[:12])
	if out.String() != want {
		t.Fatalf("printed %q, want %q", out.String(), want)
	}

	// Bumped again: nothing moves and graft.lock keeps its bytes.
	p, _ = lockfile.Load(dir)
	if r, err = p.BumpAll(context.Background(), []string{"oauth"}); err != nil || r.Written || r.Moved() {
		t.Fatalf("second bump: %+v, %v", r, err)
	}
}

// A lock that cannot be written leaves plugin.toml as it was.
func TestBumpAllRestoresFilesWhenTheLockWriteFails(t *testing.T) {
	dir, _ := bumpSite(t)
	p, err := lockfile.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "plugins/oauth/plugin.toml")
	before, _ := os.ReadFile(file)
	lockPath := filepath.Join(dir, lockfile.LockFile)
	if err := os.Remove(lockPath); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(lockPath, 0o755); err != nil { // graft.lock cannot be read nor replaced
		t.Fatal(err)
	}
	if _, err := p.BumpAll(context.Background(), []string{"oauth"}); err == nil || !strings.Contains(err.Error(), lockfile.LockFile) {
		t.Fatalf("the lock was a folder: %v", err)
	}
	if after, _ := os.ReadFile(file); string(after) != string(before) {
		t.Fatalf("plugin.toml not restored:\n%s", after)
	}
}
