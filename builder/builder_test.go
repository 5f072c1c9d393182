package builder_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/fetch"
	"github.com/graft-build/graft/builder/layer"
	"github.com/graft-build/graft/internal/registrytest"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/launcher/config"
	"github.com/graft-build/graft/launcher/render"
	"github.com/graft-build/graft/lockfile"
)

// newSite is a locked site with two plugins on a single-platform OCI base.
func newSite(t *testing.T) *buildtest.Site {
	s := buildtest.NewSite(t, "oci-layout://base", `owner = "1000:1000"

[launcher]
tmp_dir = "/app/tmp"`)
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	s.Plugin("alpha", map[string]string{"README.md": "alpha", "hooks/start.sh@x": "#!/bin/sh\necho alpha\n"},
		"[launcher]\nhooks = [\"hooks/start.sh\"]\nsettings = [{ name = \"alpha_key\", env = \"ALPHA_KEY\", secret = true }]\n"+
			"[config]\nsnippet = \"AppConfig[:alpha] = true\"")
	s.Plugin("beta", map[string]string{"lib/beta.rb": "puts 1"}, "")
	s.Lock()
	return s
}

func build(t *testing.T, p *lockfile.Project, cache string, opts ...builder.Option) *contract.Result {
	t.Helper()
	opts = append([]builder.Option{builder.WithCache(fetch.NewCache(cache)), builder.WithLaunchers(buildtest.Launchers(t, "amd64"))}, opts...)
	res, err := builder.Build(context.Background(), p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func layerDigests(t *testing.T, img v1.Image) []string {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		d, _ := l.Digest()
		out = append(out, d.String())
	}
	return out
}

// files lists "name uid:gid mode" of a layer, plus the content of chosen files.
func files(t *testing.T, l v1.Layer) map[string]*tar.Header {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = h
	}
}

func readFile(t *testing.T, l v1.Layer, name string) string {
	t.Helper()
	rc, _ := l.Uncompressed()
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not in layer: %v", name, err)
		}
		if h.Name == name {
			b, _ := io.ReadAll(tr)
			return string(b)
		}
	}
}

func TestSameLockGivesSameDigestAnywhere(t *testing.T) {
	s := newSite(t)
	a := build(t, s.Load(), t.TempDir())
	other := t.TempDir()
	s.CopyTo(other)
	p, err := lockfile.Load(other)
	if err != nil {
		t.Fatal(err)
	}
	b := build(t, p, t.TempDir())
	if a.Digest != b.Digest {
		t.Fatalf("same lock in two folders: %s and %s", a.Digest, b.Digest)
	}
	// SOURCE_DATE_EPOCH changes every timestamp, so the digest.
	c := build(t, p, t.TempDir(), builder.WithSourceDateEpoch(time.Unix(1700000000, 0)))
	if c.Digest == a.Digest {
		t.Fatal("SOURCE_DATE_EPOCH did not change the digest")
	}
	cf, _ := c.Image.ConfigFile()
	if !cf.Created.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("created %v", cf.Created)
	}
}

func TestImageLayout(t *testing.T) {
	s := newSite(t)
	res := build(t, s.Load(), t.TempDir())
	img := res.Image
	ls, _ := img.Layers()
	if len(ls) != 5 {
		t.Fatalf("%d layers, want base + 2 plugins + launcher + launcher.toml", len(ls))
	}
	alpha := files(t, ls[1])
	h := alpha["app/plugins/alpha/hooks/start.sh"]
	if h == nil || h.Mode != 0o755 || h.Uid != 1000 || h.Gid != 1000 || h.Uname != "" {
		t.Fatalf("hook entry %+v", h)
	}
	if _, ok := alpha["app/plugins/"]; ok {
		t.Error("the layer carries plugins_dir itself, overriding the base's owner of it")
	}
	if d := alpha["app/plugins/alpha/"]; d == nil || d.Uid != 1000 {
		t.Errorf("plugin folder entry %+v", d)
	}
	launcher := files(t, ls[3])
	if h := launcher["usr/local/bin/graft-launcher"]; h == nil || h.Mode != 0o755 || h.Uid != 0 || len(launcher) != 1 {
		t.Fatalf("launcher layer %+v", launcher)
	}
	if h := files(t, ls[4])["etc/graft/"]; h == nil || h.Uid != 0 {
		t.Fatalf("/etc/graft entry %+v", h)
	}
	// The launcher runs as the owner and must be able to write its port files.
	if h := files(t, ls[4])["run/graft/ports/"]; h == nil || h.Uid != 1000 || h.Gid != 1000 || h.Mode != 0o755 {
		t.Fatalf("port folder entry %+v, want a 0755 folder owned by 1000:1000", h)
	}
	conf, err := config.Parse("launcher.toml", []byte(readFile(t, ls[4], "etc/graft/launcher.toml")))
	if err != nil {
		t.Fatal(err)
	}
	if conf.TmpDir != "/app/tmp" || len(conf.Hooks) != 1 || conf.Hooks[0].Name != "alpha" ||
		conf.Hooks[0].Run[0] != "/app/plugins/alpha/hooks/start.sh" || len(conf.Settings) != 1 ||
		len(conf.Snippets) != 1 || conf.Snippets[0].Plugin != "alpha" {
		t.Fatalf("merged launcher.toml: %+v", conf)
	}
	cf, _ := img.ConfigFile()
	if strings.Join(cf.Config.Entrypoint, " ") != builder.LauncherPath || strings.Join(cf.Config.Cmd, " ") != "run" ||
		strings.Join(cf.Config.Healthcheck.Test, " ") != "CMD "+builder.LauncherPath+" healthcheck" {
		t.Fatalf("config %+v", cf.Config)
	}
	if cf.Config.Labels["base.label"] != "kept" || cf.Config.Labels[contract.LabelBaseName] != "oci-layout://base" {
		t.Errorf("labels %v", cf.Config.Labels)
	}
	var plugins []contract.PluginInfo
	if err := json.Unmarshal([]byte(cf.Config.Labels[contract.LabelPlugins]), &plugins); err != nil || len(plugins) != 2 ||
		plugins[0].Name != "alpha" || plugins[0].Commit != s.Repos["alpha"].Head() {
		t.Errorf("plugins label %q (%v)", cf.Config.Labels[contract.LabelPlugins], err)
	}
	m, _ := img.Manifest()
	if m.Annotations[contract.LabelBaseDigest] == "" || m.Annotations[contract.LabelCreated] == "" {
		t.Errorf("annotations %v", m.Annotations)
	}
	if n := len(cf.History); n < 4 || !strings.HasPrefix(cf.History[n-4].CreatedBy, "graft: plugin alpha ") {
		t.Errorf("history %+v", cf.History)
	}
	for _, l := range ls {
		if mt, _ := l.MediaType(); mt != "application/vnd.oci.image.layer.v1.tar+gzip" {
			t.Errorf("layer media type %s", mt)
		}
	}
}

// Templates from graft.toml come first, then each plugin's in lock order, their src in the
// plugin's folder in the image.
func TestLauncherTemplatesMerged(t *testing.T) {
	s := buildtest.NewSite(t, "oci-layout://base", `[[launcher.template]]
src = "/etc/graft/templates/config.rb.tmpl"
dest = "/app/config/config.rb"`)
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	// beta is declared (and committed) first: lock order, not creation order, decides.
	s.Plugin("beta", map[string]string{"tmpl/b.yml.tmpl": "b: {{ .Settings.x }}"},
		"[[launcher.template]]\nsrc = \"tmpl/b.yml.tmpl\"\ndest = \"/app/config/b.yml\"")
	s.Plugin("alpha", map[string]string{"a1.tmpl": "1", "sub/a2.tmpl": "2"},
		"[[launcher.template]]\nsrc = \"sub/a2.tmpl\"\ndest = \"/app/config/a2\"\n"+
			"[[launcher.template]]\nsrc = \"a1.tmpl\"\ndest = \"/app/config/a1\"")
	p := s.Lock()
	want := []config.Template{
		{Src: "/etc/graft/templates/config.rb.tmpl", Dest: "/app/config/config.rb"},
		{Src: "/app/plugins/alpha/sub/a2.tmpl", Dest: "/app/config/a2"},
		{Src: "/app/plugins/alpha/a1.tmpl", Dest: "/app/config/a1"},
		{Src: "/app/plugins/beta/tmpl/b.yml.tmpl", Dest: "/app/config/b.yml"},
	}
	merged, err := builder.MergeLauncherConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(merged.Templates, want) {
		t.Errorf("merged templates %+v\nwant %+v", merged.Templates, want)
	}
	if len(p.Site.Launcher.Templates) != 1 {
		t.Errorf("merging changed graft.toml's own templates: %+v", p.Site.Launcher.Templates)
	}
	ls, err := build(t, p, t.TempDir()).Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	conf, err := config.Parse("launcher.toml", []byte(readFile(t, ls[len(ls)-1], "etc/graft/launcher.toml")))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(conf.Templates, want) {
		t.Errorf("/etc/graft/launcher.toml in the image has templates %+v\nwant %+v", conf.Templates, want)
	}
	if h := files(t, ls[1])["app/plugins/alpha/sub/a2.tmpl"]; h == nil {
		t.Error("the template's src is not in the plugin's layer")
	}
}

func TestOnePluginChangedOnlyItsLayerChanges(t *testing.T) {
	s := newSite(t)
	before := layerDigests(t, build(t, s.Load(), t.TempDir()).Image)
	time.Sleep(1100 * time.Millisecond) // a later commit time, as in real life
	s.Plugin("beta", map[string]string{"lib/beta.rb": "puts 2"}, "")
	after := layerDigests(t, build(t, s.Lock(), t.TempDir()).Image)
	if before[0] != after[0] || before[1] != after[1] {
		t.Errorf("base or alpha layer changed:\n%v\n%v", before, after)
	}
	if before[2] == after[2] {
		t.Error("beta's layer did not change")
	}
	if before[3] != after[3] {
		t.Error("the launcher binary's layer changed with a plugin")
	}
}

func TestBuildFailuresAreClear(t *testing.T) {
	cases := map[string]struct {
		edit     func(t *testing.T, s *buildtest.Site)
		want     string
		badInput bool
	}{
		"symlink escape": {edit: func(t *testing.T, s *buildtest.Site) {
			s.Repos["beta"].Symlink("passwd", "../../../etc/passwd")
			s.Plugin("beta", nil, "")
			s.Lock()
		}, want: "symlink passwd -> ../../../etc/passwd points outside the plugin's folder", badInput: true},
		// Names Linux cannot create (git can hold them): refused at build, not at docker load.
		"file name over 255 bytes": {edit: func(t *testing.T, s *buildtest.Site) {
			craftMain(t, s, "beta", "lib/"+strings.Repeat("n", 253)+".rb")
		}, want: "plugin beta: lib/" + strings.Repeat("n", 44) + "…" + strings.Repeat("n", 21) + ".rb has a name of 256 bytes (" +
			strings.Repeat("n", 48) + "…" + strings.Repeat("n", 21) + ".rb), over the 255 bytes a file name may have", badInput: true},
		"path over 4095 bytes": {edit: func(t *testing.T, s *buildtest.Site) {
			craftMain(t, s, "beta", strings.Repeat(strings.Repeat("d", 200)+"/", 26)+"f.rb")
		}, want: "plugin beta: " + strings.Repeat("d", 48) + "…" + strings.Repeat("d", 24) + " is 4238 bytes long as /app/plugins/beta/…, over the 4095 bytes a path may have", badInput: true},
		// Bad repository content is bad input (exit 2), like a symlink leaving the plugin.
		"entry named ..": {edit: func(t *testing.T, s *buildtest.Site) {
			craftEntry(t, s, "beta", "100644 blob", "..")
		}, want: `holds an entry named ".." in "/", which graft never installs; the repository is damaged or crafted`, badInput: true},
		"a .GiT folder": {edit: func(t *testing.T, s *buildtest.Site) {
			craftEntry(t, s, "beta", "040000 tree", ".GiT")
		}, want: `holds an entry named ".GiT" in "/", which graft never installs`, badInput: true},
		"wrong commit": {edit: func(t *testing.T, s *buildtest.Site) {
			p := s.Load()
			head := p.Lock.Plugins[1].Commit
			data, _ := os.ReadFile(filepath.Join(s.Dir, "graft.lock"))
			s.WriteFile("graft.lock", strings.ReplaceAll(string(data), head, strings.Repeat("1", 40)))
		}, want: "plugin.commit: plugin beta: commit " + strings.Repeat("1", 40) + " in graft.lock: it is not in", badInput: true}, // an edited lock, at its line
		"base vanished": {edit: func(t *testing.T, s *buildtest.Site) {
			os.RemoveAll(filepath.Join(s.Dir, "base"))
		}, want: "base image oci-layout://base (locked at sha256:"},
		"build steps without BuildKit": {edit: func(t *testing.T, s *buildtest.Site) {
			s.Plugin("beta", nil, "[build]\nrun = [\"make\"]")
			s.Lock()
		}, want: "plugin beta has [build] run steps, which need BuildKit: pass --buildkit ADDR or set BUILDKIT_HOST", badInput: true},
		"setting declared twice": {edit: func(t *testing.T, s *buildtest.Site) {
			s.Plugin("beta", nil, "[launcher]\nsettings = [{ name = \"alpha_key\", env = \"OTHER\" }]")
			s.Lock()
		}, want: `plugins/beta/plugin.toml:5: launcher.settings: setting "alpha_key" is also declared in plugins/alpha/plugin.toml`, badInput: true},
		"template dest twice": {edit: func(t *testing.T, s *buildtest.Site) {
			s.Plugin("alpha", map[string]string{"t/a.tmpl": "a"}, "[[launcher.template]]\nsrc = \"t/a.tmpl\"\ndest = \"/app/x.yml\"")
			s.Plugin("beta", map[string]string{"t/b.tmpl": "b"}, "[[launcher.template]]\nsrc = \"t/b.tmpl\"\ndest = \"/app/x.yml\"")
			s.Lock()
		}, want: `plugins/beta/plugin.toml:6: launcher.template.dest: "/app/x.yml" is also the dest of a template in plugins/alpha/plugin.toml`, badInput: true},
		"template dest also in graft.toml": {edit: func(t *testing.T, s *buildtest.Site) {
			data, _ := os.ReadFile(filepath.Join(s.Dir, "graft.toml"))
			s.WriteFile("graft.toml", string(data)+"\n[[launcher.template]]\nsrc = \"/etc/graft/c.tmpl\"\ndest = \"/app/x.yml\"\n")
			s.Plugin("beta", map[string]string{"t/b.tmpl": "b"}, "[[launcher.template]]\nsrc = \"t/b.tmpl\"\ndest = \"/app/x.yml\"")
			s.Lock()
		}, want: `plugins/beta/plugin.toml:6: launcher.template.dest: "/app/x.yml" is also the dest of a template in graft.toml`, badInput: true},
		"template src not in plugin": {edit: func(t *testing.T, s *buildtest.Site) {
			s.Plugin("beta", map[string]string{"t/ok.tmpl": "ok"}, "[[launcher.template]]\nsrc = \"t/ok.tmpl\"\ndest = \"/app/ok\"\n"+
				"[[launcher.template]]\nsrc = \"t/missing.tmpl\"\ndest = \"/app/x.yml\"")
			s.Lock()
		}, want: `plugins/beta/plugin.toml:8: launcher.template.src: "t/missing.tmpl" is not a file of the plugin at commit`, badInput: true},
		"hook not in plugin": {edit: func(t *testing.T, s *buildtest.Site) {
			s.Plugin("beta", nil, "[launcher]\nhooks = [\"hooks/nope.sh\"]")
			s.Lock()
		}, want: `plugins/beta/plugin.toml:5: launcher.hooks: "hooks/nope.sh" is not a file of the plugin at commit`, badInput: true},
		"base without platform": {edit: func(t *testing.T, s *buildtest.Site) {
			img := buildtest.BaseImage(t, "linux/amd64", "", types.OCIManifestSchema1)
			cf, _ := img.ConfigFile()
			cf = cf.DeepCopy()
			cf.OS, cf.Architecture = "", ""
			img, _ = mutate.ConfigFile(img, cf)
			dir := filepath.Join(s.Dir, "base")
			os.RemoveAll(dir)
			lp, err := layout.Write(dir, empty.Index)
			if err != nil || lp.AppendImage(img) != nil {
				t.Fatal("write base layout")
			}
			s.Lock()
		}, want: `base image oci-layout://base declares no platform (its config has os "", architecture ""); graft needs it to pick the graft-launcher binary`, badInput: true},
		"stale lock": {edit: func(t *testing.T, s *buildtest.Site) {
			s.Plugin("beta", nil, "[config]\nsnippet = \"x\"")
		}, want: "run `graft lock`", badInput: true},
		"missing lock": {edit: func(t *testing.T, s *buildtest.Site) {
			os.Remove(filepath.Join(s.Dir, "graft.lock"))
		}, want: "graft.lock: not found", badInput: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := newSite(t)
			c.edit(t, s)
			p, err := lockfile.Load(s.Dir)
			if err == nil {
				_, err = builder.Build(context.Background(), p, builder.WithCache(fetch.NewCache(t.TempDir())),
					builder.WithLaunchers(buildtest.Launchers(t, "amd64")))
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, c.want)
			}
			if usererr.Is(err) != c.badInput {
				t.Errorf("bad input = %v, want %v", usererr.Is(err), c.badInput)
			}
		})
	}
}

func TestMultiPlatformBaseGetsEveryPlatform(t *testing.T) {
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64", "linux/arm64")
	s.Plugin("alpha", map[string]string{"a": "a"}, "")
	p := s.Lock()
	cache := t.TempDir()
	launchers := builder.WithLaunchers(buildtest.Launchers(t, "amd64", "arm64"))
	res := build(t, p, cache, launchers)
	if res.Index == nil {
		t.Fatal("a multi-platform base gave a single image")
	}
	m, _ := res.Index.IndexManifest()
	if len(m.Manifests) != 2 {
		t.Fatalf("%d manifests", len(m.Manifests))
	}
	for _, d := range m.Manifests {
		img, _ := res.Index.Image(d.Digest)
		cf, _ := img.ConfigFile()
		ls, _ := img.Layers()
		if len(ls) != 4 || cf.Architecture != d.Platform.Architecture {
			t.Errorf("%s: %d layers, config arch %s", d.Platform, len(ls), cf.Architecture)
		}
	}
	one := build(t, p, cache, launchers, builder.WithPlatforms("linux/arm64"))
	m, _ = one.Index.IndexManifest()
	if len(m.Manifests) != 1 || m.Manifests[0].Platform.Architecture != "arm64" {
		t.Fatalf("--platform linux/arm64 gave %+v", m.Manifests)
	}
	_, err := builder.Build(context.Background(), p, builder.WithCache(fetch.NewCache(cache)), launchers,
		builder.WithPlatforms("linux/s390x"))
	if err == nil || !strings.Contains(err.Error(), "linux/s390x is not in the base image") {
		t.Fatalf("err = %v", err)
	}
}

func TestDockerBaseAndOwnerFromBaseUser(t *testing.T) {
	s := buildtest.NewSite(t, "oci-layout://base", "")
	dir := filepath.Join(s.Dir, "base")
	img := buildtest.BaseImage(t, "linux/amd64", "1234:5678", types.DockerManifestSchema2)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	s.Plugin("alpha", map[string]string{"a": "a"}, "")
	res := build(t, s.Lock(), t.TempDir())
	if mt, _ := res.Image.MediaType(); mt != types.DockerManifestSchema2 {
		t.Fatalf("manifest %s on a Docker base", mt)
	}
	ls, _ := res.Image.Layers()
	for _, l := range ls {
		if mt, _ := l.MediaType(); mt != types.DockerLayer {
			t.Errorf("layer %s on a Docker base", mt)
		}
	}
	baseLayers, _ := img.Layers()
	bd, _ := baseLayers[0].Digest()
	if d, _ := ls[0].Digest(); d != bd {
		t.Fatalf("base layer changed: %s -> %s", bd, d)
	}
	h := files(t, ls[1])["app/plugins/alpha/a"]
	if h == nil || h.Uid != 1234 || h.Gid != 5678 {
		t.Fatalf("owner from the base's User: %+v", h)
	}
	if m, _ := res.Image.Manifest(); len(m.Annotations) != 0 {
		t.Errorf("a Docker manifest got annotations %v", m.Annotations)
	}
}

func TestRegistryBaseByDigest(t *testing.T) {
	reg := registrytest.New(t, registrytest.WithGGCR(false))
	host := reg.Host
	base := buildtest.BaseImage(t, "linux/amd64", "", types.OCIManifestSchema1)
	tag, _ := name.NewTag(host + "/app/base:1")
	if err := remote.Write(tag, base); err != nil {
		t.Fatal(err)
	}
	s := buildtest.NewSite(t, tag.String(), "")
	s.Plugin("alpha", map[string]string{"a": "a"}, "")
	p := s.Lock()
	baseDigest, _ := base.Digest()
	if p.Lock.Base.Digest != baseDigest.String() {
		t.Fatalf("locked %s, pushed %s", p.Lock.Base.Digest, baseDigest)
	}
	// The tag moves to another image: the build still uses the locked digest.
	if err := remote.Write(tag, buildtest.BaseImage(t, "linux/amd64", "9:9", types.OCIManifestSchema1)); err != nil {
		t.Fatal(err)
	}
	res := build(t, p, t.TempDir())
	cf, _ := res.Image.ConfigFile()
	if cf.Config.Labels[contract.LabelBaseDigest] != baseDigest.String() || res.BaseRef != host+"/app/base@"+baseDigest.String() {
		t.Fatalf("built on %s (%s), want the locked %s", cf.Config.Labels[contract.LabelBaseDigest], res.BaseRef, baseDigest)
	}
	// The registry goes away: a clear error naming the base and what to do.
	reg.Close()
	_, err := builder.Build(context.Background(), p, builder.WithCache(fetch.NewCache(t.TempDir())),
		builder.WithLaunchers(buildtest.Launchers(t, "amd64")))
	if err == nil || !strings.Contains(err.Error(), "base image "+tag.String()) || !strings.Contains(err.Error(), "run `graft lock`") {
		t.Fatalf("err = %v", err)
	}
}

func TestSymlinkResolution(t *testing.T) {
	cases := []struct {
		links map[string]string
		ok    bool
	}{
		{map[string]string{"l": "a.txt"}, true},
		{map[string]string{"sub/l": "../a.txt"}, true},
		{map[string]string{"l": "/app/plugins/alpha/a.txt"}, true},
		{map[string]string{"l": "."}, true},
		{map[string]string{"l": ".."}, false},
		{map[string]string{"l": "/etc/passwd"}, false},
		{map[string]string{"l": "/app/plugins/beta/x"}, false},
		// y is the folder itself, so y/.. is its parent although it reads like the folder.
		{map[string]string{"y": ".", "x": "y/.."}, false},
		{map[string]string{"y": "sub/deeper", "x": "y/../.."}, true},
		{map[string]string{"a": "b", "b": "a"}, false}, // a loop
		{map[string]string{"self": "self"}, false},     // a loop
	}
	for _, c := range cases {
		s := buildtest.NewSite(t, "oci-layout://base", "")
		buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
		s.Plugin("alpha", map[string]string{"a.txt": "a", "sub/deeper/f": "f"}, "")
		for name, target := range c.links {
			s.Repos["alpha"].Symlink(name, target)
		}
		s.Plugin("alpha", nil, "")
		_, err := builder.Build(context.Background(), s.Lock(), builder.WithCache(fetch.NewCache(t.TempDir())),
			builder.WithLaunchers(buildtest.Launchers(t, "amd64")))
		want := "points outside the plugin's folder"
		if _, loop := c.links["self"]; loop || c.links["a"] == "b" {
			want = " is a loop: resolving it follows more than 40 links"
		}
		if c.ok != (err == nil) || (err != nil && (!strings.Contains(err.Error(), want) || !usererr.Is(err))) {
			t.Errorf("%v: err = %v, want ok=%v and bad input saying %q", c.links, err, c.ok, want)
		}
	}
}

// graft.toml's [healthcheck] times the image's HEALTHCHECK; the test stays the launcher's.
func TestHealthcheckTiming(t *testing.T) {
	s := buildtest.NewSite(t, "oci-layout://base", `owner = "1000:1000"

[healthcheck]
interval = "5s"
timeout = "2s"
start_period = "1m"
retries = 2`)
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	s.Plugin("alpha", map[string]string{"README.md": "alpha"}, "")
	s.Lock()
	res := build(t, s.Load(), t.TempDir())
	cf, err := res.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	h := cf.Config.Healthcheck
	if h == nil || strings.Join(h.Test, " ") != "CMD "+builder.LauncherPath+" healthcheck" ||
		h.Interval != 5*time.Second || h.Timeout != 2*time.Second || h.StartPeriod != time.Minute || h.Retries != 2 {
		t.Fatalf("healthcheck %+v", h)
	}
}

// Plugins contribute snippets to several targets; graft.toml's plugin_order puts plugins first
// in every per-plugin list (snippets of each target, hooks) without renaming folders; templates
// read one target's snippets with .Target.
func TestSnippetTargetsAndPluginOrder(t *testing.T) {
	s := buildtest.NewSite(t, "oci-layout://base", `plugin_order = ["gamma", "beta"]`)
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	s.Plugin("alpha", map[string]string{"h.sh": "#!/bin/sh\n"},
		"[config]\nsnippet = \"alpha-config\"\n[config.targets]\n\"launcher_rc.rb\" = \"alpha-rc\"\n[launcher]\nhooks = [\"h.sh\"]")
	s.Plugin("beta", map[string]string{"h.sh": "#!/bin/sh\n"}, "[config]\nsnippet = \"beta-config\"\n[launcher]\nhooks = [\"h.sh\"]")
	s.Plugin("gamma", map[string]string{"x": ""}, "[config.targets]\n\"launcher_rc.rb\" = \"gamma-rc\"")
	p := s.Lock()
	merged, err := builder.MergeLauncherConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []config.Snippet{{Plugin: "gamma", Target: "launcher_rc.rb", Text: "gamma-rc"},
		{Plugin: "beta", Text: "beta-config"},
		{Plugin: "alpha", Text: "alpha-config"}, {Plugin: "alpha", Target: "launcher_rc.rb", Text: "alpha-rc"}}
	if !reflect.DeepEqual(merged.Snippets, want) {
		t.Errorf("snippets %+v\nwant %+v", merged.Snippets, want)
	}
	if len(merged.Hooks) != 2 || merged.Hooks[0].Name != "beta" || merged.Hooks[1].Name != "alpha" {
		t.Errorf("hooks %+v, want beta then alpha", merged.Hooks)
	}
	// What the launcher's templates see, rendered with its own renderer.
	dir := t.TempDir()
	src := filepath.Join(dir, "rc.tmpl")
	os.WriteFile(src, []byte(`{{ range .Target "launcher_rc.rb" }}{{ .Plugin }}:{{ .Text }};{{ end }}|{{ range .Snippets }}{{ .Text }};{{ end }}|{{ len (.Target "nope") }}`), 0o644)
	dest := filepath.Join(dir, "out")
	if err := render.File(config.Template{Src: src, Dest: dest}, render.NewData(nil, nil, merged.Snippets), render.Secrets{}); err != nil {
		t.Fatal(err)
	}
	if got := readOS(t, dest); got != "gamma:gamma-rc;alpha:alpha-rc;|beta-config;alpha-config;|0" {
		t.Errorf("rendered %q", got)
	}

	// A name that is not a plugin of the site is bad input at graft.toml's line.
	s.WriteFile("graft.toml", strings.Replace(readOS(t, filepath.Join(s.Dir, "graft.toml")), `"gamma", "beta"`, `"gama"`, 1))
	_, err = lockfile.Load(s.Dir)
	if err == nil || !strings.Contains(err.Error(), `graft.toml:4: plugin_order: "gama" is not a plugin of this site`) {
		t.Errorf("err = %v", err)
	}
}

func readOS(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// The launcher's configuration layer creates the folders the launcher writes, owned by the
// app's user, so a non-root start never fails on "mkdir /app/tmp: permission denied"; a
// shared system tmp keeps the base's owner and mode. It also repeats the base's folders above
// plugins_dir with the base's metadata (Docker would show them as root:root 0755 otherwise).
func TestLauncherLayerCreatesAppFolders(t *testing.T) {
	type meta struct {
		uid, gid int
		mode     int64
	}
	base := map[string]meta{"app/": {0, 0, 0o755}, "app/plugins/": {0, 0, 0o775}} // buildtest.BaseImage's
	for _, c := range []struct {
		tmp  string
		want map[string]meta
	}{
		{"/app/data/tmp", map[string]meta{"app/data/tmp/": {1000, 1001, 0o755}, "run/graft/ports/": {1000, 1001, 0o755}}},
		{"/tmp", map[string]meta{"run/graft/ports/": {1000, 1001, 0o755}}},
	} {
		for k, v := range base {
			c.want[k] = v
		}
		s := buildtest.NewSite(t, "oci-layout://base", "owner = \"1000:1001\"\n[launcher]\ntmp_dir = \""+c.tmp+"\"")
		buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
		s.Plugin("alpha", map[string]string{"x": ""}, "")
		ls, err := build(t, s.Lock(), t.TempDir()).Image.Layers()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]meta{}
		for name, h := range files(t, ls[len(ls)-1]) {
			if h.Typeflag == tar.TypeDir && !strings.HasPrefix(name, "etc/") {
				got[name] = meta{h.Uid, h.Gid, h.Mode & 0o7777}
			}
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("tmp_dir %s: folders %v, want %v", c.tmp, got, c.want)
		}
	}
}

// baseWith is buildtest's base with more layers on top, written as the site's oci-layout base.
func baseWith(t *testing.T, s *buildtest.Site, layers ...[]layer.Entry) {
	t.Helper()
	img := buildtest.BaseImage(t, "linux/amd64", "", types.OCIManifestSchema1)
	for _, entries := range layers {
		// A root nobody owns keeps each entry's own uid and gid.
		l, err := layer.New(entries, layer.WithRoot("/nothing"), layer.WithMediaType(types.OCILayer))
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	p, err := layout.Write(filepath.Join(s.Dir, "base"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
}

// The base's folders above plugins_dir come back with the base's own metadata, read from the
// topmost layer that holds them; a whited-out folder is not repeated; a symlink on the way is
// refused, since graft's layers would replace it with a folder.
func TestBaseFoldersKeepTheirMetadata(t *testing.T) {
	s := buildtest.NewSite(t, "oci-layout://base", "")
	baseWith(t, s,
		[]layer.Entry{{Name: "/srv", Type: tar.TypeDir, Mode: 0o700, UID: 7, GID: 7}},
		[]layer.Entry{{Name: "/app", Type: tar.TypeDir, Mode: 0o750, UID: 1000, GID: 1000}})
	s.Plugin("alpha", map[string]string{"x": ""}, "")
	ls, err := build(t, s.Lock(), t.TempDir()).Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	h := files(t, ls[len(ls)-1])["app/"]
	if h == nil || h.Uid != 1000 || h.Gid != 1000 || h.Mode&0o7777 != 0o750 {
		t.Fatalf("app/ in the last layer: %+v, want 1000:1000 0750 as the base's top layer has it", h)
	}
	if files(t, ls[len(ls)-1])["srv/"] != nil {
		t.Error("a folder graft's layers do not pass through must not be repeated")
	}

	// /app deleted by a whiteout in the base's top layer: nothing to repeat.
	s = buildtest.NewSite(t, "oci-layout://base", "")
	baseWith(t, s, []layer.Entry{{Name: "/.wh.app", Type: tar.TypeReg, Mode: 0o644}})
	s.Plugin("alpha", map[string]string{"x": ""}, "")
	ls, err = build(t, s.Lock(), t.TempDir()).Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if h := files(t, ls[len(ls)-1])["app/"]; h != nil {
		t.Errorf("app/ repeated after the base deleted it: %+v", h)
	}

	// /app is a symlink in the base: refused, naming it.
	s = buildtest.NewSite(t, "oci-layout://base", "")
	baseWith(t, s, []layer.Entry{{Name: "/.wh.app", Type: tar.TypeReg, Mode: 0o644}},
		[]layer.Entry{{Name: "/app", Type: tar.TypeSymlink, Linkname: "/opt/app"}})
	s.Plugin("alpha", map[string]string{"x": ""}, "")
	_, err = builder.Build(context.Background(), s.Lock(), builder.WithLaunchers(buildtest.Launchers(t, "amd64")))
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "/app is a symlink to /opt/app") {
		t.Fatalf("err = %v, want a bad-input error naming the symlink", err)
	}
}

// craftMain adds a file at name (any length: through git's index, never the file system) to
// plugin's repository as a new commit on main, and locks it.
func craftMain(t *testing.T, s *buildtest.Site, plugin, name string) {
	t.Helper()
	r := s.Repos[plugin]
	blob := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(blob, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSpace(r.Git("hash-object", "-w", blob))
	r.Git("update-index", "--add", "--cacheinfo", "100644,"+hash+","+name)
	tree := strings.TrimSpace(r.Git("write-tree"))
	commit := strings.TrimSpace(r.Git("commit-tree", tree, "-p", "HEAD", "-m", "crafted"))
	r.Git("push", "--quiet", "--force", "origin", commit+":refs/heads/main")
	s.Lock()
}

// craftEntry adds an entry git itself refuses to make (mode is "100644 blob" or "040000
// tree"; a tree holds one file) to the root of plugin's repository as a new commit on main,
// through git mktree, and locks it.
func craftEntry(t *testing.T, s *buildtest.Site, plugin, mode, name string) {
	t.Helper()
	r := s.Repos[plugin]
	mktree := func(listing string) string {
		cmd := exec.Command("git", "mktree")
		cmd.Dir, cmd.Stdin = strings.TrimSpace(r.Git("rev-parse", "--show-toplevel")), strings.NewReader(listing)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mktree: %v %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	blob := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(blob, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSpace(r.Git("hash-object", "-w", blob))
	if strings.HasSuffix(mode, "tree") {
		hash = mktree("100644 blob " + hash + "\tpost-checkout\n")
	}
	tree := mktree(r.Git("ls-tree", "HEAD") + mode + " " + hash + "\t" + name + "\n")
	commit := strings.TrimSpace(r.Git("commit-tree", tree, "-p", "HEAD", "-m", "crafted"))
	r.Git("push", "--quiet", "--force", "origin", commit+":refs/heads/main")
	s.Lock()
}
