package archivesspace

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
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/daemon"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildkit"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/fetch"
	"github.com/graft-build/graft/builder/layer"
	"github.com/graft-build/graft/internal/buildkittest"
	"github.com/graft-build/graft/internal/gittest"
	"github.com/graft-build/graft/lockfile"
)

// Stand-ins for the ArchivesSpace image's scripts, with what the site relies on: the plugin's
// files are in place before its build step, the step runs as uid 1000, the migration sees the
// settings and the rendered config.rb.
const initializePlugin = `#!/bin/sh
# stand-in for ArchivesSpace's scripts/initialize-plugin.sh: installs a plugin's gems
set -e
dir="$(dirname "$0")/../plugins/$1"
test -f "$dir/Gemfile" || { echo "no Gemfile in $dir" >&2; exit 1; }
mkdir -p "$dir/gems"
echo "gems for $1 installed by $(id -u)" > "$dir/gems/INSTALLED"
`

const setupDatabase = `#!/bin/sh
# stand-in for ArchivesSpace's scripts/setup-database.sh
set -e
case "$APPCONFIG_DB_URL" in
  jdbc:mysql://db:3306/archivesspace\?*) ;;
  *) echo "APPCONFIG_DB_URL is not the secret's jdbc URL" >&2; exit 1 ;;
esac
for want in 'AppConfig\[:plugins\] << "aspace-oauth"' 'AppConfig\[:enable_solr\] = false'; do
  grep -q "$want" /archivesspace/config/config.rb || { echo "config.rb lacks $want" >&2; exit 1; }
done
echo "migrated as $(id -u)"
`

// writeASpaceBase writes an OCI layout with the official image's layout: the archivesspace user
// (uid/gid 1000) owning /archivesspace with its scripts, plugins, config and data folders, a
// shell, and archivesspace as the image's user.
func writeASpaceBase(t *testing.T, dir string) v1.Image {
	t.Helper()
	bb, err := os.ReadFile(buildtest.BusyboxBin)
	if err != nil {
		t.Skipf("no %s (apt-get install busybox-static)", buildtest.BusyboxBin)
	}
	system := []layer.Entry{
		{Name: "/bin/busybox", Type: tar.TypeReg, Mode: 0o755, Data: bb},
		{Name: "/tmp", Type: tar.TypeDir, Mode: 0o1777},
		{Name: "/etc/passwd", Type: tar.TypeReg, Mode: 0o644, Data: []byte("root:x:0:0::/root:/bin/sh\narchivesspace:x:1000:1000::/archivesspace:/bin/sh\n")},
		{Name: "/etc/group", Type: tar.TypeReg, Mode: 0o644, Data: []byte("root:x:0:\narchivesspace:x:1000:\n")},
	}
	for _, a := range []string{"sh", "cat", "dirname", "echo", "grep", "id", "mkdir", "test", "["} {
		system = append(system, layer.Entry{Name: "/bin/" + a, Type: tar.TypeSymlink, Linkname: "busybox"})
	}
	app := []layer.Entry{{Name: "/archivesspace", Type: tar.TypeDir, Mode: 0o755}}
	for _, d := range []string{"plugins", "config", "data", "scripts", "lib"} {
		app = append(app, layer.Entry{Name: "/archivesspace/" + d, Type: tar.TypeDir, Mode: 0o755})
	}
	for name, body := range map[string]string{
		"archivesspace.sh": "#!/bin/sh\necho 'ArchivesSpace stand-in'\n", "startup.sh": "#!/bin/sh\nexec /archivesspace/archivesspace.sh\n",
		"scripts/initialize-plugin.sh": initializePlugin, "scripts/setup-database.sh": setupDatabase,
	} {
		app = append(app, layer.Entry{Name: "/archivesspace/" + name, Type: tar.TypeReg, Mode: 0o755, Data: []byte(body)})
	}
	img := mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1)
	for _, l := range []struct {
		entries  []layer.Entry
		uid, gid int
	}{{system, 0, 0}, {app, 1000, 1000}} {
		ly, err := layer.New(l.entries, layer.WithMediaType(types.OCILayer), layer.WithOwner(l.uid, l.gid))
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, ly); err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = []string{"PATH=/bin", "ARCHIVESSPACE_DATA=/archivesspace/data"}
	cf.Config.User = "archivesspace"
	cf.Config.WorkingDir = "/archivesspace"
	cf.Config.Cmd = []string{"/archivesspace/startup.sh"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	return img
}

// Release tags the stand-in repositories carry: the ones the plugin.toml files pin.
var releases = map[string]string{
	"lyrasis/aspace-oauth.git": "v4.0.0", "hudmol/digitization_work_order.git": "v1.7",
	"AtlasSystems/ArchivesSpace-Aeon-Fulfillment-Plugin.git": "20180726",
}

// testSite copies this site repository (graft.toml, plugins/) into a temp folder with the base
// replaced by the local layout and [[mirror]] entries sending github.com and git.example.edu to
// local repositories made here: the plugins' plugin.toml files are the real ones, unchanged.
func testSite(t *testing.T) (dir string, base v1.Image) {
	dir, base, _ = testSiteRepos(t)
	return dir, base
}

// testSiteRepos is testSite, also returning the stand-in repositories by their path.
func testSiteRepos(t *testing.T) (dir string, base v1.Image, repos map[string]*gittest.Repo) {
	t.Helper()
	root := t.TempDir()
	dir = filepath.Join(root, "site")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", filepath.Join(siteDir(t), "plugins"), dir).CombinedOutput(); err != nil {
		t.Fatalf("copy plugins: %v %s", err, out)
	}
	site, err := os.ReadFile(filepath.Join(siteDir(t), lockfile.SiteFile))
	if err != nil {
		t.Fatal(err)
	}
	const realBase = `base = "docker.io/archivesspace/archivesspace:4.1.1"`
	if !strings.Contains(string(site), realBase) {
		t.Fatalf("graft.toml no longer has %s", realBase)
	}
	gh, ex := filepath.Join(root, "github"), filepath.Join(root, "example")
	text := strings.Replace(string(site), realBase, `base = "oci-layout://base"`, 1) + fmt.Sprintf(`
[[mirror]]
prefix = "https://github.com/"
url = "file://%s/"

[[mirror]]
prefix = "https://git.example.edu/"
url = "file://%s/"
`, gh, ex)
	if err := os.WriteFile(filepath.Join(dir, lockfile.SiteFile), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	repos = map[string]*gittest.Repo{}
	repo := func(root, name, branch string, files map[string]string) {
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		r := gittest.NewRepo(t, root, name)
		if branch != "main" {
			r.Branch(branch)
		}
		r.Write(files)
		r.Commit("release of " + name)
		if tag := releases[name]; tag != "" {
			r.AnnotatedTag(tag, "release "+tag)
		}
		repos[name] = r
	}
	repo(gh, "lyrasis/aspace-oauth.git", "master", map[string]string{
		"Gemfile": "gem 'omniauth-saml'\n", "frontend/plugin_init.rb": "# oauth\n", "backend/plugin_init.rb": "# oauth\n"})
	repo(gh, "hudmol/digitization_work_order.git", "master", map[string]string{"frontend/plugin_init.rb": "# dwo\n"})
	repo(gh, "AtlasSystems/ArchivesSpace-Aeon-Fulfillment-Plugin.git", "master", map[string]string{"public/plugin_init.rb": "# aeon\n"})
	tmpl, _ := os.ReadFile(filepath.Join(siteDir(t), "site_config/templates/config.rb.tmpl"))
	rc, _ := os.ReadFile(filepath.Join(siteDir(t), "site_config/templates/launcher_rc.rb.tmpl"))
	hook, _ := os.ReadFile(filepath.Join(siteDir(t), "site_config/hooks/wait-for-solr.sh"))
	repo(ex, "library/aspace-site-config.git", "main", map[string]string{
		"templates/config.rb.tmpl": string(tmpl), "templates/launcher_rc.rb.tmpl": string(rc), "hooks/wait-for-solr.sh@x": string(hook)})
	return dir, writeASpaceBase(t, filepath.Join(dir, "base")), repos
}

// The README's advice holds for these plugin.toml files: each plugin is pinned to a release tag
// that is locked as a tag; a newer release is listed by outdated and taken by --bump, while
// --update on a tag pin changes nothing.
func TestReadmeUpdateAdvice(t *testing.T) {
	dir, _, repos := testSiteRepos(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := lockfile.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := p.Resolve(ctx)
	if err != nil {
		t.Fatalf("lock: %v", err)
	}
	for _, pk := range lock.Plugins {
		if want := releases[strings.TrimPrefix(pk.Git, "https://github.com/")]; want != "" && (pk.Ref != want || pk.Kind != lockfile.KindTag) {
			t.Errorf("%s: locked %s %s, want tag %s", pk.Name, pk.Kind, pk.Ref, want)
		}
	}
	if err := lockfile.WriteLock(filepath.Join(dir, lockfile.LockFile), lock); err != nil {
		t.Fatal(err)
	}
	newer := map[string]string{"lyrasis/aspace-oauth.git": "v4.2.0", "hudmol/digitization_work_order.git": "v1.8",
		"AtlasSystems/ArchivesSpace-Aeon-Fulfillment-Plugin.git": "20190101"}
	for name, tag := range newer {
		repos[name].Write(map[string]string{"CHANGELOG": tag})
		repos[name].Commit("release " + tag)
		repos[name].Tag(tag)
	}
	if p, err = lockfile.Load(dir); err != nil {
		t.Fatal(err)
	}
	out, err := p.Outdated(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out {
		pl := p.Plugin(o.Plugin)
		if want := newer[strings.TrimPrefix(pl.Source.Git, "https://github.com/")]; want != "" && strings.Join(o.NewerTags, ",") != want {
			t.Errorf("outdated %s: newer tags %v, want %s", o.Plugin, o.NewerTags, want)
		}
	}
	updated, err := p.Resolve(ctx, lockfile.WithUpdate("aspace-oauth"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range updated.Plugins {
		if updated.Plugins[i].Commit != lock.Plugins[i].Commit {
			t.Errorf("--update %s moved a tag pin: %s -> %s", updated.Plugins[i].Name, lock.Plugins[i].Commit, updated.Plugins[i].Commit)
		}
	}
	b, err := p.PlanBump(ctx, "aspace-oauth")
	if err != nil || b.NewRef != "v4.2.0" || b.NewCommit != repos["lyrasis/aspace-oauth.git"].Head() {
		t.Fatalf("--bump aspace-oauth: %+v %v", b, err)
	}
}

// TestSiteLocksAndBuilds: this site's definitions, unchanged, lock against local copies of the
// plugin repositories (through [[mirror]]) and build on a base with ArchivesSpace's layout;
// aspace-oauth's gem step runs in BuildKit as uid 1000; the result runs the migration the way
// compose.yaml's migrate service does.
func TestSiteLocksAndBuilds(t *testing.T) {
	t.Setenv("GRAFT_CACHE_DIR", t.TempDir())
	d := buildkittest.Start(t)
	dir, base := testSite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	p, err := lockfile.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := p.Resolve(ctx)
	if err != nil {
		t.Fatalf("lock: %v", err)
	}
	if err := lockfile.WriteLock(filepath.Join(dir, lockfile.LockFile), lock); err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(filepath.Join(dir, lockfile.LockFile))
	for _, want := range []string{"git = 'https://github.com/lyrasis/aspace-oauth.git'", "git = 'https://git.example.edu/library/aspace-site-config.git'", "ref = 'v4.0.0'"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("graft.lock lacks %s (a lock made behind a mirror keeps the real URLs):\n%s", want, text)
		}
	}
	if p, err = lockfile.Load(dir); err != nil {
		t.Fatal(err)
	}
	if err := p.CheckFresh(); err != nil {
		t.Fatal(err)
	}
	engine, err := buildkit.New(ctx, d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	cache := t.TempDir()
	res, err := builder.Build(ctx, p, builder.WithLaunchers(buildtest.Launchers(t, "amd64")),
		builder.WithCache(fetch.NewCache(filepath.Join(cache, "git"))), builder.WithLayerCache(filepath.Join(cache, "layers")),
		builder.WithStepRunner(engine))
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	checkImage(t, res.Image, base)
	if _, err := exec.LookPath("docker"); err == nil && exec.Command("docker", "version").Run() == nil {
		runMigration(t, res.Image)
	} else {
		t.Log("no Docker Engine: the migration job is not run")
	}
}

func checkImage(t *testing.T, img, base v1.Image) {
	t.Helper()
	baseLayers, _ := base.Layers()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, bl := range baseLayers {
		a, _ := bl.Digest()
		b, _ := layers[i].Digest()
		if a != b {
			t.Fatalf("base layer %d changed: %s -> %s", i, a, b)
		}
	}
	files := imageFiles(t, layers[len(baseLayers):])
	for name, want := range map[string]string{
		"archivesspace/plugins/aspace-oauth/gems/INSTALLED":                     "gems for aspace-oauth installed by 1000\n",
		"archivesspace/plugins/aspace-oauth/Gemfile":                            "gem 'omniauth-saml'\n",
		"archivesspace/plugins/digitization_work_order/frontend/plugin_init.rb": "# dwo\n",
		"archivesspace/plugins/aeon_fulfillment/public/plugin_init.rb":          "# aeon\n",
	} {
		f, ok := files[name]
		if !ok || f.body != want || f.hdr.Uid != 1000 || f.hdr.Gid != 1000 {
			t.Errorf("%s: %+v %q, want %q owned by 1000:1000", name, f.hdr, f.body, want)
		}
	}
	if f := files["archivesspace/plugins/site_config/hooks/wait-for-solr.sh"]; f.hdr == nil || f.hdr.Mode&0o111 == 0 {
		t.Errorf("the start hook is missing or not executable: %+v", f.hdr)
	}
	lt := files["etc/graft/launcher.toml"].body
	for _, want := range []string{`dest = '/archivesspace/config/config.rb'`, "APPCONFIG_FRONTEND_COOKIE_SECRET", "ASPACE_OAUTH_SHARED_SECRET",
		"/archivesspace/plugins/site_config/hooks/wait-for-solr.sh", "plugin = 'aeon_fulfillment'"} {
		if !strings.Contains(lt, want) {
			t.Errorf("launcher.toml lacks %s:\n%s", want, lt)
		}
	}
	cf, _ := img.ConfigFile()
	if cf.Config.Healthcheck == nil || cf.Config.Healthcheck.StartPeriod != 5*time.Minute || cf.Config.User != "archivesspace" ||
		len(cf.Config.Entrypoint) == 0 || cf.Config.Entrypoint[0] != "/usr/local/bin/graft-launcher" {
		t.Errorf("image config: healthcheck %+v, user %q, entrypoint %v", cf.Config.Healthcheck, cf.Config.User, cf.Config.Entrypoint)
	}
}

type file struct {
	hdr  *tar.Header
	body string
}

// imageFiles reads every regular file of the layers (later layers win).
func imageFiles(t *testing.T, layers []v1.Layer) map[string]file {
	t.Helper()
	out := map[string]file{}
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
			b, _ := io.ReadAll(io.LimitReader(tr, 1<<20))
			out[strings.TrimPrefix(h.Name, "/")] = file{hdr: h, body: string(b)}
		}
		rc.Close()
	}
	return out
}

// runMigration loads the image and runs compose.yaml's migrate service as Docker would: its
// command, its environment, its secrets as files under /run/secrets (made by make-secrets.sh).
func runMigration(t *testing.T, img v1.Image) {
	t.Helper()
	secrets := makeSecrets(t)
	svc := loadCompose(t, "compose.yaml", secrets).Services["migrate"]
	tag := fmt.Sprintf("graft-aspace-test-%d:v1", time.Now().UnixNano())
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	if _, err := daemon.Write(ref, img); err != nil {
		t.Fatalf("load into Docker: %v", err)
	}
	args := []string{"run", "--rm", "--network", "none"}
	for k, v := range svc.Environment {
		if v != nil {
			args = append(args, "-e", k+"="+*v)
		}
	}
	for _, s := range svc.Secrets {
		args = append(args, "-v", filepath.Join(secrets, s.Source)+":/run/secrets/"+s.Source+":ro")
	}
	args = append(append(args, tag), svc.Command...)
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "migrated as 1000") {
		t.Fatalf("migrate: docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, s := range []string{"db_url", "mysql_password", "oauth_shared_secret"} {
		secret, _ := os.ReadFile(filepath.Join(secrets, s))
		if strings.Contains(string(out), strings.TrimSpace(string(secret))) {
			t.Errorf("the migration's output shows secret %s", s)
		}
	}
}
