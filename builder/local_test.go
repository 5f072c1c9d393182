package builder_test

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/fetch"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile"
)

var localFiles = map[string]string{
	"frontend/views/x.rb": "puts :cam\n",
	"hooks/start.sh@x":    "#!/bin/sh\necho cam\n",
	"README.md":           "cam\n",
}

// writeLocal writes plugins/<name>/plugin.toml with a local source and its files folder.
func writeLocal(t *testing.T, s *buildtest.Site, name string) string {
	t.Helper()
	s.WriteFile(filepath.Join("plugins", name, "plugin.toml"), "[source]\nlocal = \"files\"\n\n[launcher]\nhooks = [\"hooks/start.sh\"]\n")
	dir := filepath.Join(s.Dir, "plugins", name, "files")
	for n, content := range localFiles {
		mode := os.FileMode(0o644)
		if x, ok := strings.CutSuffix(n, "@x"); ok {
			n, mode = x, 0o755
		}
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("frontend/views/x.rb", filepath.Join(dir, "x.rb")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A local plugin's layer holds exactly its folder (modes and symlink as git would keep them),
// does not depend on the files' mtimes or the site's location, and is byte-identical to the
// layer of a git plugin with the same tree when the timestamps are fixed.
func TestLocalPluginLayerIsDeterministic(t *testing.T) {
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	dir := writeLocal(t, s, "cam")
	p := s.Lock()
	pk := p.PluginLock("cam")
	if pk == nil || pk.Kind != lockfile.KindLocal || pk.Commit != "" || pk.Local != "files" {
		t.Fatalf("lock entry %+v", pk)
	}
	a := build(t, p, t.TempDir())

	layers, _ := a.Image.Layers()
	got := files(t, layers[len(layers)-3]) // the plugin, then the launcher and its config
	for name, mode := range map[string]int64{"app/plugins/cam/hooks/start.sh": 0o755, "app/plugins/cam/README.md": 0o644,
		"app/plugins/cam/frontend/views/x.rb": 0o644} {
		if h := got[name]; h == nil || h.Mode != mode {
			t.Errorf("%s: %+v, want mode %o", name, h, mode)
		}
	}
	if h := got["app/plugins/cam/x.rb"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "frontend/views/x.rb" {
		t.Errorf("symlink: %+v", h)
	}
	if _, ok := got["app/plugins/cam/plugin.toml"]; ok {
		t.Error("plugin.toml beside the folder was installed")
	}

	// Elsewhere, files touched: the same image.
	other := t.TempDir()
	s.CopyTo(other)
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(other, "plugins/cam/files/README.md"), later, later); err != nil {
		t.Fatal(err)
	}
	op, err := lockfile.Load(other)
	if err != nil {
		t.Fatal(err)
	}
	if b := build(t, op, t.TempDir()); b.Digest != a.Digest {
		t.Fatalf("same folder elsewhere: %s, want %s", b.Digest, a.Digest)
	}

	// A git plugin holding the same tree gives the same layer under SOURCE_DATE_EPOCH.
	g := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBaseLayout(t, filepath.Join(g.Dir, "base"), "linux/amd64")
	g.Plugin("cam", localFiles, "[launcher]\nhooks = [\"hooks/start.sh\"]")
	g.Repos["cam"].Symlink("x.rb", "frontend/views/x.rb")
	g.Plugin("cam", nil, "[launcher]\nhooks = [\"hooks/start.sh\"]")
	gp := g.Lock()
	if gp.PluginLock("cam").Tree != pk.Tree {
		t.Fatalf("git tree %s, local tree %s: not the same files", gp.PluginLock("cam").Tree, pk.Tree)
	}
	epoch := builder.WithSourceDateEpoch(time.Unix(1700000000, 0))
	lg := layerDigests(t, build(t, gp, t.TempDir(), epoch).Image)
	ll := layerDigests(t, build(t, p, t.TempDir(), epoch).Image)
	if lg[len(lg)-3] != ll[len(ll)-3] {
		t.Errorf("git plugin layer %s, local plugin layer %s", lg[len(lg)-3], ll[len(ll)-3])
	}

	// A changed folder is refused, naming the plugin and both trees.
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = builder.Build(context.Background(), s.Load(), builder.WithCache(fetch.NewCache(t.TempDir())),
		builder.WithLaunchers(buildtest.Launchers(t, "amd64")))
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "plugin cam: folder plugins/cam/files changed since graft.lock was written (tree "+pk.Tree) {
		t.Fatalf("changed folder: %v", err)
	}
}
