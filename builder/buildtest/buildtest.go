// Package buildtest gives builder and CLI tests real inputs: site repositories with plugins in
// real git repositories, locked by the real lock code; base images written as OCI layouts; and
// the real graft-launcher, built once per test binary.
package buildtest

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/layer"
	"github.com/graft-build/graft/internal/gittest"
	"github.com/graft-build/graft/lockfile"
)

var (
	launcherMu   sync.Mutex
	launcherDir  string
	launcherDone = map[string]bool{}
)

// LauncherDir builds graft-launcher for linux/<arch> of each of archs (once per test binary)
// into a folder laid out as builder.Launchers expects, and returns the folder.
func LauncherDir(t testing.TB, archs ...string) string {
	t.Helper()
	launcherMu.Lock()
	defer launcherMu.Unlock()
	if launcherDir == "" {
		d, err := os.MkdirTemp("", "graft-launchers-")
		if err != nil {
			t.Fatal(err)
		}
		launcherDir = d
	}
	for _, arch := range archs {
		if launcherDone[arch] {
			continue
		}
		out := filepath.Join(launcherDir, builder.LauncherFile(v1.Platform{OS: "linux", Architecture: arch}))
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "github.com/graft-build/graft/cmd/graft-launcher")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build graft-launcher for linux/%s: %v\n%s", arch, err, b)
		}
		launcherDone[arch] = true
	}
	return launcherDir
}

// Launchers is a launcher source with freshly built binaries for archs.
func Launchers(t testing.TB, archs ...string) builder.Launchers {
	return builder.Launchers{Dirs: []string{LauncherDir(t, archs...)}}
}

// BaseImage is a small image for platform ("linux/amd64"): one layer with /app/README and the
// given config user. mt is types.OCIManifestSchema1 or types.DockerManifestSchema2.
func BaseImage(t testing.TB, platform, user string, mt types.MediaType) v1.Image {
	t.Helper()
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		t.Fatal(err)
	}
	layerMT := types.OCILayer
	if mt == types.DockerManifestSchema2 {
		layerMT = types.DockerLayer
	}
	l, err := layer.New([]layer.Entry{
		{Name: "/app/README", Type: tar.TypeReg, Mode: 0o644, Data: []byte("base for " + platform)},
		{Name: "/app/plugins", Type: tar.TypeDir, Mode: 0o775, UID: 1000, GID: 1000},
	}, layer.WithMediaType(layerMT))
	if err != nil {
		t.Fatal(err)
	}
	// ggcr's empty image has a Docker config media type: an OCI manifest needs the OCI one,
	// or skopeo takes the image for an artifact.
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, mt), types.OCIConfigJSON)
	if mt == types.DockerManifestSchema2 {
		img = mutate.ConfigMediaType(img, types.DockerConfigJSON)
	}
	img, err = mutate.Append(img, mutate.Addendum{Layer: l, MediaType: layerMT,
		History: v1.History{CreatedBy: "test base", Created: v1.Time{Time: time.Unix(1600000000, 0).UTC()}}})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: time.Unix(1600000000, 0).UTC()}
	cf.Config.User = user
	cf.Config.Env = []string{"PATH=/bin"}
	cf.Config.Labels = map[string]string{"base.label": "kept"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// WriteBaseLayout writes an OCI layout at dir holding a base for each platform: a single image
// for one platform, an index for several. It returns the digest of what it wrote.
func WriteBaseLayout(t testing.TB, dir string, platforms ...string) v1.Hash {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if len(platforms) == 1 {
		img := BaseImage(t, platforms[0], "", types.OCIManifestSchema1)
		if err := p.AppendImage(img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		return d
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, pl := range platforms {
		img := BaseImage(t, pl, "", types.OCIManifestSchema1)
		plat, _ := v1.ParsePlatform(pl)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
	}
	if err := p.AppendIndex(idx); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	return d
}

// Site is a site repository in a temporary folder, its plugins in git repositories beside it.
type Site struct {
	t     testing.TB
	Dir   string
	Git   string // folder of the plugins' bare repositories
	Repos map[string]*gittest.Repo
}

// NewSite writes graft.toml (base and extra TOML lines after the standard keys) into a new folder.
func NewSite(t testing.TB, base, extra string) *Site {
	t.Helper()
	root := t.TempDir()
	s := &Site{t: t, Dir: filepath.Join(root, "site"), Git: filepath.Join(root, "git"), Repos: map[string]*gittest.Repo{}}
	for _, d := range []string{filepath.Join(s.Dir, lockfile.PluginsDir), s.Git} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s.WriteFile(lockfile.SiteFile, fmt.Sprintf("base = %q\nname = \"registry.test/lib/app\"\nplugins_dir = \"/app/plugins\"\n%s\n", base, extra))
	return s
}

// WriteFile writes a file of the site repository.
func (s *Site) WriteFile(name, content string) {
	s.t.Helper()
	p := filepath.Join(s.Dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// Plugin creates (or updates) plugin name: files committed to its repository on main, and a
// plugin.toml tracking main with extra TOML appended. It returns the new commit.
func (s *Site) Plugin(name string, files map[string]string, extra string) string {
	s.t.Helper()
	r, ok := s.Repos[name]
	if !ok {
		r = gittest.NewRepo(s.t, s.Git, name+".git")
		s.Repos[name] = r
	}
	r.Write(files)
	commit := r.Commit("update " + name)
	s.WriteFile(filepath.Join(lockfile.PluginsDir, name, lockfile.PluginFile),
		fmt.Sprintf("[source]\ngit = %q\nref = \"main\"\n%s\n", r.URL(), extra))
	return commit
}

// Lock runs the real lock resolution and writes graft.lock.
func (s *Site) Lock() *lockfile.Project {
	s.t.Helper()
	p, err := lockfile.Load(s.Dir)
	if err != nil {
		s.t.Fatal(err)
	}
	l, err := p.Resolve(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	if err := lockfile.WriteLock(filepath.Join(s.Dir, lockfile.LockFile), l); err != nil {
		s.t.Fatal(err)
	}
	return s.Load()
}

// Load loads the site repository.
func (s *Site) Load() *lockfile.Project {
	s.t.Helper()
	p, err := lockfile.Load(s.Dir)
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}

// CopyTo copies the site repository (with graft.lock and any base layout in it) to dir.
func (s *Site) CopyTo(dir string) {
	s.t.Helper()
	if out, err := exec.Command("cp", "-a", s.Dir+"/.", dir).CombinedOutput(); err != nil {
		s.t.Fatalf("copy site: %v %s", err, strings.TrimSpace(string(out)))
	}
}

// BusyboxBin is Debian busybox-static's binary, the shell of runnable test bases.
const BusyboxBin = "/bin/busybox"

// WriteBusyboxBaseLayout writes an OCI layout at dir with a runnable linux/amd64 base: a static
// busybox as /bin/sh, /tmp, an app user 1000:1000 and /app/plugins. It skips the test (fails it
// under CI=true) when the machine has no static busybox.
func WriteBusyboxBaseLayout(t testing.TB, dir string) v1.Hash {
	t.Helper()
	img := TinyImage(t, nil, func(cf *v1.ConfigFile) {
		cf.Config.Env = []string{"PATH=/bin"}
		cf.Config.User = "1000:1000"
	}, []layer.Entry{
		{Name: "/bin/busybox", Type: tar.TypeReg, Mode: 0o755, Data: Busybox(t)},
		{Name: "/bin/sh", Type: tar.TypeSymlink, Linkname: "busybox"},
		{Name: "/bin/cat", Type: tar.TypeSymlink, Linkname: "busybox"},
		{Name: "/tmp", Type: tar.TypeDir, Mode: 0o1777},
		{Name: "/app/plugins", Type: tar.TypeDir, Mode: 0o755},
		{Name: "/etc/passwd", Type: tar.TypeReg, Mode: 0o644, Data: []byte("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n")},
		{Name: "/etc/group", Type: tar.TypeReg, Mode: 0o644, Data: []byte("root:x:0:\napp:x:1000:\n")},
	})
	return WriteLayout(t, dir, img)
}

// Busybox is the machine's static busybox. It skips the test (fails it under CI=true) when
// there is none.
func Busybox(t testing.TB) []byte {
	t.Helper()
	bb, err := os.ReadFile(BusyboxBin)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no %s (apt-get install busybox-static)", BusyboxBin)
		}
		t.Skipf("no %s (apt-get install busybox-static)", BusyboxBin)
	}
	return bb
}

// TinyImage is the small base tests build: a linux/amd64 OCI image with one layer per list of
// entries (made with opts and the OCI layer media type), its config then set by configure.
func TinyImage(t testing.TB, opts []layer.Option, configure func(*v1.ConfigFile), layers ...[]layer.Entry) v1.Image {
	t.Helper()
	img := mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1)
	for _, entries := range layers {
		l, err := layer.New(entries, append([]layer.Option{layer.WithMediaType(types.OCILayer)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	configure(cf)
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// WriteLayout writes img (with opts, e.g. a tag annotation) as the one image of a new OCI
// layout at dir and returns its digest.
func WriteLayout(t testing.TB, dir string, img v1.Image, opts ...layout.Option) v1.Hash {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, opts...); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// ImageFiles maps every path of img (the topmost layer's entry wins) to a regular file's
// content, "-> target" for a symlink, "dir" for a folder.
func ImageFiles(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	out := map[string]string{}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			name := "/" + strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
			switch h.Typeflag {
			case tar.TypeDir:
				out[name] = "dir"
			case tar.TypeSymlink:
				out[name] = "-> " + h.Linkname
			default:
				data, _ := io.ReadAll(io.LimitReader(tr, 1<<20))
				out[name] = string(data)
			}
		}
		rc.Close()
	}
	return out
}
