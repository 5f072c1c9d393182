package main

import (
	"archive/tar"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/internal/artifacttest"
	"github.com/graft-build/graft/internal/gittest"
	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/registrytest"
	"github.com/graft-build/graft/internal/tooltest"
	"github.com/graft-build/graft/lockfile"
)

// kindsSite is a site whose plugins come from an HTTP file server with a Maven repository
// (behind basic authentication, credentials in ~/.netrc as for git over https) and from a
// registry, with a base image written as an OCI layout.
type kindsSite struct {
	*buildtest.Site
	srv   *artifacttest.Server
	maven *artifacttest.Maven
	reg   string // host:port of the registry
}

func newKindsSite(t *testing.T, siteExtra string) *kindsSite {
	t.Helper()
	buildEnv(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("NETRC", "")
	t.Setenv("GRAFT_GIT_TOKEN", "")
	srv := artifacttest.NewServer(t, "ci", "s3cret-token")
	host := strings.TrimPrefix(srv.URL, "http://")
	hostname, _, _ := strings.Cut(host, ":")
	if err := os.WriteFile(filepath.Join(home, ".netrc"), []byte("machine "+hostname+" login ci password s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := buildtest.NewSite(t, "oci-layout://base", siteExtra)
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	return &kindsSite{Site: s, srv: srv, maven: artifacttest.NewMaven(srv), reg: registrytest.GGCR(t, false)}
}

func (k *kindsSite) plugin(name, toml string) {
	k.WriteFile(filepath.Join("plugins", name, "plugin.toml"), toml)
}

func (k *kindsSite) graft(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return graft(t, append([]string{"-C", k.Dir}, args...)...)
}

func (k *kindsSite) mustGraft(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := k.graft(t, args...)
	if code != 0 {
		t.Fatalf("graft %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func (k *kindsSite) lock(t *testing.T) *lockfile.Lock {
	t.Helper()
	l, err := lockfile.ReadLock(filepath.Join(k.Dir, "graft.lock"))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func layoutImage(t *testing.T, dir string) v1.Image {
	t.Helper()
	ref, err := imageref.Parse("oci-layout://"+dir, "/")
	if err != nil {
		t.Fatal(err)
	}
	res, err := ref.Resolve(t.Context())
	if err != nil || res.Image == nil {
		t.Fatalf("no image in %s: %v", dir, err)
	}
	return res.Image
}

// TestURLMavenOCIPlugins: each kind of source is locked to its content, built into its own
// layer at its place, labelled, described in the SBOM with the purl of its kind and in the
// provenance, verified, rebuilt to the same digest on a cold cache, and checked for drift.
func TestURLMavenOCIPlugins(t *testing.T) {
	k := newKindsSite(t, "")
	theme := artifacttest.TarGz(t, map[string]artifacttest.File{
		"theme-2.0/README.md":       {Body: "theme"},
		"theme-2.0/css/site.css":    {Body: "body{}"},
		"theme-2.0/bin/build.sh":    {Body: "#!/bin/sh", Exec: true},
		"theme-2.0/css/current.css": {Link: "site.css"},
	})
	k.srv.Put("/dl/theme-2.0.tar.gz", theme)
	k.plugin("theme", fmt.Sprintf("[source]\nurl = %q\nstrip = 1\n", k.srv.URL+"/dl/theme-2.0.tar.gz"))
	k.maven.Publish("com.example.gerrit", "oauth", "3.5.1", "", "", []byte("oauth jar 3.5.1"), "sha1")
	k.plugin("oauth", fmt.Sprintf("[source]\nmaven = \"com.example.gerrit:oauth:3.5.1\"\nrepository = %q\n\n[install]\nas = \"file\"\n", k.maven.Root))
	skin := k.reg + "/plugins/skin:1.0"
	artifacttest.PushArtifact(t, skin, map[string]string{"skin.css": "a{}", "skin.js": "x()"})
	k.plugin("skin", fmt.Sprintf("[source]\noci = %q\n", skin))

	out := k.mustGraft(t, "lock")
	for _, want := range []string{"theme: url " + k.srv.URL + "/dl/theme-2.0.tar.gz -> sha256:", "oauth: maven com.example.gerrit:oauth:3.5.1 -> sha256:",
		"skin: oci " + skin + " -> sha256:"} {
		if !strings.Contains(out, want) {
			t.Errorf("lock output lacks %q:\n%s", want, out)
		}
	}
	l := k.lock(t)
	oauth := pluginLock(t, l, "oauth")
	if oauth.Kind != "maven" || oauth.Dest != "/app/plugins/oauth.jar" || oauth.Size != int64(len("oauth jar 3.5.1")) || oauth.Commit != "" ||
		oauth.URL != k.maven.Root+"/com/example/gerrit/oauth/3.5.1/oauth-3.5.1.jar" {
		t.Errorf("oauth locked as %+v", oauth)
	}
	if th := pluginLock(t, l, "theme"); th.Kind != "url" || !strings.HasPrefix(th.Digest, "sha256:") || th.Size != int64(len(theme)) {
		t.Errorf("theme locked as %+v", th)
	}
	if code, out, _ := k.graft(t, "lock", "--check"); code != 0 {
		t.Fatalf("lock --check after lock: exit %d\n%s", code, out)
	}

	dest := filepath.Join(t.TempDir(), "img")
	out = k.mustGraft(t, "build", "--output", "type=oci,dest="+dest)
	digest := lastLine(out)
	img := layoutImage(t, dest)
	files := buildtest.ImageFiles(t, img)
	for path, want := range map[string]string{
		"/app/plugins/theme/css/site.css":    "body{}",
		"/app/plugins/theme/css/current.css": "-> site.css",
		"/app/plugins/oauth.jar":             "oauth jar 3.5.1",
		"/app/plugins/skin/skin.js":          "x()",
	} {
		if files[path] != want {
			t.Errorf("%s in the image is %q, want %q", path, files[path], want)
		}
	}
	if _, ok := files["/app/plugins/theme/theme-2.0"]; ok {
		t.Error("strip = 1 did not drop the archive's top folder")
	}
	cf, _ := img.ConfigFile()
	var infos []map[string]string
	if err := json.Unmarshal([]byte(cf.Config.Labels["org.graft.plugins"]), &infos); err != nil {
		t.Fatal(err)
	}
	if len(infos) != 3 || infos[0]["kind"] != "maven" || infos[0]["digest"] != oauth.Digest || infos[0]["dest"] != "/app/plugins/oauth.jar" {
		t.Errorf("org.graft.plugins = %s", cf.Config.Labels["org.graft.plugins"])
	}

	code, sbom, errOut := graft(t, "sbom", "oci-layout://"+dest)
	if code != 0 {
		t.Fatalf("sbom: exit %d %s", code, errOut)
	}
	for _, want := range []string{`pkg:maven/com.example.gerrit/oauth@3.5.1?repository_url=`, `pkg:generic/theme@`,
		`download_url=` + strings.ReplaceAll(strings.ReplaceAll(k.srv.URL, ":", "%3A"), "/", "%2F"), `pkg:oci/skin@sha256`} {
		if !strings.Contains(sbom, want) {
			t.Errorf("SBOM lacks %q", want)
		}
	}
	if strings.Contains(sbom, "s3cret") {
		t.Error("the SBOM holds the password")
	}
	code, prov, _ := graft(t, "sbom", "--provenance", "oci-layout://"+dest)
	if code != 0 || !strings.Contains(prov, `"uri": "com.example.gerrit:oauth:3.5.1"`) || !strings.Contains(prov, oauth.Digest[7:]) {
		t.Errorf("provenance (exit %d) lacks the maven plugin:\n%s", code, prov)
	}

	if code, out, errOut := k.graft(t, "verify", "oci-layout://"+dest); code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}

	// Cold cache, another folder: the same digest, everything fetched again.
	other := t.TempDir()
	k.CopyTo(other)
	t.Setenv("GRAFT_CACHE_DIR", t.TempDir())
	code, out, errOut = graft(t, "build", "-C", other, "--output", "type=oci,dest="+filepath.Join(t.TempDir(), "img"))
	if code != 0 || lastLine(out) != digest {
		t.Fatalf("cold rebuild: exit %d, digest %q, want %s\n%s", code, lastLine(out), digest, errOut)
	}

	// The server now sends another file under the same URL: lock --check says so, and a build
	// with a cold cache refuses it and writes nothing.
	k.srv.Put("/dl/theme-2.0.tar.gz", artifacttest.TarGz(t, map[string]artifacttest.File{"theme-2.0/README.md": {Body: "changed"}}))
	code, out, _ = k.graft(t, "lock", "--check")
	if code != 1 || !strings.Contains(out, "plugin theme: url "+k.srv.URL+"/dl/theme-2.0.tar.gz now sends other content: sha256:") {
		t.Errorf("lock --check after the file changed: exit %d\n%s", code, out)
	}
	t.Setenv("GRAFT_CACHE_DIR", t.TempDir())
	never := filepath.Join(t.TempDir(), "never")
	code, _, errOut = k.graft(t, "build", "--progress", "quiet", "--output", "type=oci,dest="+never)
	if code != 1 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "theme-2.0.tar.gz has sha256 sha256:") {
		t.Errorf("build of a changed file: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(never); !errors.Is(err, os.ErrNotExist) {
		t.Error("the build wrote its output anyway")
	}
}

// TestArtifactVersionsOutdatedBump: a url with {version} listed by a git repository's tags or by
// a maven-metadata.xml, a maven artifact listed by maven-metadata.xml and an oci tag are reported
// by outdated and moved by lock --bump (plugin.toml and graft.lock together); a url without
// {version} says it cannot list versions.
func TestArtifactVersionsOutdatedBump(t *testing.T) {
	k := newKindsSite(t, "")
	tags := gittest.NewRepo(t, t.TempDir(), "tool.git")
	tags.Write(map[string]string{"README": "tool"})
	tags.Commit("one")
	tags.Tag("v1.0")
	k.srv.Put("/rel/v1.0/tool-1.0.zip", artifacttest.Zip(t, map[string]artifacttest.File{"tool/run": {Body: "1.0", Exec: true}}))
	k.srv.Put("/rel/v1.1/tool-1.1.zip", artifacttest.Zip(t, map[string]artifacttest.File{"tool/run": {Body: "1.1", Exec: true}}))
	k.plugin("tool", fmt.Sprintf("[source]\nurl = %q\nversion = \"1.0\"\nversions = { git = %q }\n", k.srv.URL+"/rel/v{version}/tool-{version}.zip", tags.URL()))
	k.maven.Publish("org.example", "lib", "2.0.0", "", "", []byte("lib 2.0.0"), "sha256")
	k.plugin("lib", fmt.Sprintf("[source]\nmaven = \"org.example:lib:2.0.0\"\nrepository = %q\n", k.maven.Root))
	// A url whose versions a maven-metadata.xml lists (a .war beside a Maven layout, fetched as a
	// plain file): {version} is filled from it.
	k.maven.Publish("org.example", "webapp", "3.0.0", "", "war", []byte("war 3.0.0"))
	k.plugin("webapp", fmt.Sprintf("[source]\nurl = %q\nversion = \"3.0.0\"\nversions = { maven = %q }\n\n[install]\nas = \"file\"\n",
		k.maven.Root+"/org/example/webapp/{version}/webapp-{version}.war", k.maven.Root+"/org/example/webapp/maven-metadata.xml"))
	k.srv.Put("/plain.jar", []byte("plain"))
	k.plugin("plain", fmt.Sprintf("[source]\nurl = %q\n", k.srv.URL+"/plain.jar"))
	art := k.reg + "/plugins/art"
	artifacttest.PushArtifact(t, art+":1.0.0", map[string]string{"a.txt": "1.0.0"})
	k.plugin("art", fmt.Sprintf("[source]\noci = %q\n", art+":1.0.0"))
	k.mustGraft(t, "lock")
	if out := k.mustGraft(t, "outdated"); !strings.Contains(out, "plain: url "+k.srv.URL+"/plain.jar at sha256:") ||
		!strings.Contains(out, "versions not listed (url has no {version}") || strings.Contains(out, "newer") {
		t.Errorf("outdated before anything newer:\n%s", out)
	}

	tags.Write(map[string]string{"README": "tool 1.1"})
	tags.Commit("two")
	tags.Tag("v1.1")
	k.maven.Publish("org.example", "lib", "2.1.0", "", "", []byte("lib 2.1.0"), "sha256")
	k.maven.Publish("org.example", "lib", "2.2.0-rc1", "", "", []byte("lib rc"), "sha256")
	artifacttest.PushArtifact(t, art+":1.2.0", map[string]string{"a.txt": "1.2.0"})
	k.maven.Publish("org.example", "webapp", "3.1.0", "", "war", []byte("war 3.1.0"))
	code, out, _ := k.graft(t, "outdated", "--exit-code")
	for _, want := range []string{"tool: url", "newer versions: 1.1 (to bump: graft lock --bump tool)", "newer versions: 2.1.0 (to bump: graft lock --bump lib)",
		"newer versions: 1.2.0 (to bump: graft lock --bump art)", "newer versions: 3.1.0 (to bump: graft lock --bump webapp)"} {
		if !strings.Contains(out, want) {
			t.Errorf("outdated lacks %q:\n%s", want, out)
		}
	}
	if code != 1 {
		t.Errorf("outdated --exit-code: exit %d, want 1", code)
	}

	out = k.mustGraft(t, "lock", "--bump", "tool", "lib", "art", "webapp")
	for _, want := range []string{"tool: version 1.0 -> 1.1", "lib: version 2.0.0 -> 2.1.0", "art: tag 1.0.0 -> 1.2.0", "webapp: version 3.0.0 -> 3.1.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("bump output lacks %q:\n%s", want, out)
		}
	}
	for name, want := range map[string]string{"tool": `version = "1.1"`, "lib": `maven = "org.example:lib:2.1.0"`, "art": `oci = "` + art + `:1.2.0"`} {
		data, _ := os.ReadFile(filepath.Join(k.Dir, "plugins", name, "plugin.toml"))
		if !strings.Contains(string(data), want) {
			t.Errorf("plugins/%s/plugin.toml after bump:\n%s", name, data)
		}
	}
	l := k.lock(t)
	if pk := pluginLock(t, l, "tool"); pk.Version != "1.1" || pk.URL != k.srv.URL+"/rel/v1.1/tool-1.1.zip" {
		t.Errorf("tool locked as %+v", pk)
	}
	if pk := pluginLock(t, l, "webapp"); pk.Version != "3.1.0" || pk.Size != int64(len("war 3.1.0")) || pk.Dest != "/app/plugins/webapp.war" {
		t.Errorf("webapp locked as %+v", pk)
	}
	if code, out, _ := k.graft(t, "lock", "--check"); code != 0 {
		t.Errorf("lock --check after bump: exit %d\n%s", code, out)
	}
	code, _, errOut := k.graft(t, "lock", "--bump", "plain")
	if code != 2 || !strings.Contains(errOut, "plugins/plain/plugin.toml:2: source.url: plugin plain: url has no {version}") {
		t.Errorf("bump of a url without versions: exit %d\n%s", code, errOut)
	}
}

// TestHostileSourcesRefused: archives escaping their folder, bombs, a server lying about the
// length, a repository whose checksum disagrees, and a sha256 plugin.toml pins that the server
// does not send all fail with one line, exit 2 (bad input) or 1, and write no lock.
func TestHostileSourcesRefused(t *testing.T) {
	k := newKindsSite(t, "")
	url := func(p string) string { return k.srv.URL + p }
	cases := []struct {
		name, toml string
		setup      func()
		code       int
		want       string
	}{
		{"escape", fmt.Sprintf("[source]\nurl = %q\n", url("/evil.tar.gz")), func() {
			k.srv.Put("/evil.tar.gz", tarGzRaw(t, tarHeader{"../../etc/cron.d/x", tar.TypeReg, 1, ""}))
		}, 2, `entry "../../etc/cron.d/x" climbs out of the folder`},
		{"link out", fmt.Sprintf("[source]\nurl = %q\n", url("/link.tar.gz")), func() {
			k.srv.Put("/link.tar.gz", tarGzRaw(t, tarHeader{"x", tar.TypeSymlink, 0, "/etc/shadow"}))
		}, 2, `symlink to the absolute path "/etc/shadow"`},
		{"device", fmt.Sprintf("[source]\nurl = %q\n", url("/dev.tar.gz")), func() {
			k.srv.Put("/dev.tar.gz", tarGzRaw(t, tarHeader{"null", tar.TypeChar, 0, ""}))
		}, 2, "is a device"},
		{"bomb", fmt.Sprintf("[source]\nurl = %q\n", url("/bomb.tar.gz")), func() {
			k.srv.Put("/bomb.tar.gz", tarGzRaw(t, tarHeader{"zeros", tar.TypeReg, 64 << 30, ""}))
		}, 2, "more than 4294967296 bytes in all; graft refuses archives that large"},
		{"length lie", fmt.Sprintf("[source]\nurl = %q\n", url("/lie.jar")), func() {
			k.srv.Put("/lie.jar", []byte("short"))
			k.srv.Lie("/lie.jar", 100)
		}, 1, "the server sent fewer bytes than the 100 it announced"},
		{"checksum", fmt.Sprintf("[source]\nmaven = \"org.evil:x:1.0\"\nrepository = %q\n", k.maven.Root), func() {
			k.maven.Publish("org.evil", "x", "1.0", "", "", []byte("real"), "sha1")
			k.srv.Put("/maven2/org/evil/x/1.0/x-1.0.jar", []byte("substituted"))
		}, 2, "the repository's sha1 says"},
		{"pinned sha256", fmt.Sprintf("[source]\nurl = %q\nsha256 = %q\n", url("/p.jar"), strings.Repeat("ab", 32)), func() {
			k.srv.Put("/p.jar", []byte("other"))
		}, 2, "plugins/p/plugin.toml:3: source.sha256: plugin p: " + url("/p.jar") + " has sha256 sha256:"},
		{"missing", fmt.Sprintf("[source]\nurl = %q\n", url("/nothere.zip")), func() {}, 2, "plugins/p/plugin.toml:2: source.url: plugin p: " + url("/nothere.zip") + " is not there (HTTP 404)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			os.RemoveAll(filepath.Join(k.Dir, "plugins"))
			k.plugin("p", c.toml)
			c.setup()
			code, out, errOut := k.graft(t, "lock")
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if code != c.code || len(lines) != 1 || !strings.Contains(errOut, c.want) || strings.Contains(errOut, "s3cret") ||
				strings.Contains(errOut, "plugin p: plugin p:") {
				t.Fatalf("exit %d (want %d), stderr:\n%s\nwant one line with %q (stdout %q)", code, c.code, errOut, c.want, out)
			}
			if _, err := os.Stat(filepath.Join(k.Dir, "graft.lock")); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("graft.lock was written")
			}
		})
	}
}

type tarHeader struct {
	name string
	typ  byte
	size int64
	link string
}

// tarGzRaw is a tar.gz of headers whose bodies are never written (a bomb's header is enough).
func tarGzRaw(t *testing.T, hs ...tarHeader) []byte {
	var entries []artifacttest.RawEntry
	for _, h := range hs {
		entries = append(entries, artifacttest.RawEntry{Name: h.name, Type: h.typ, Size: h.size, Link: h.link})
	}
	return artifacttest.RawTarGz(t, entries...)
}

// TestInstallShapes: a plugin as one file (plugins_dir/NAME.EXT) from git, a folder at its own
// dest, a base file replaced only when asked for (and a replaced folder hides the base's old
// files), and two plugins writing one path refused at lock time with file:line:key.
func TestInstallShapes(t *testing.T) {
	k := newKindsSite(t, "")
	k.Plugin("jarplugin", map[string]string{"dist/replication-3.5.jar": "jar"}, "path = \"dist\"\n\n[install]\nas = \"file\"\n")
	k.Plugin("config", map[string]string{"site.yml": "x: 1"}, "\n[install]\ndest = \"/opt/app/config\"\n")
	k.Plugin("readme", map[string]string{"README": "replaced"}, "\n[install]\nas = \"file\"\ndest = \"/app/README\"\n")
	code, _, errOut := k.graft(t, "lock")
	if code != 2 || !strings.Contains(errOut, "plugins/readme/plugin.toml:7: install.dest: the base image already has a file at /app/README; installing plugin readme there replaces it: set replace = true") {
		t.Fatalf("lock replacing a base file unasked: exit %d\n%s", code, errOut)
	}
	k.Plugin("readme", map[string]string{"README": "replaced"}, "\n[install]\nas = \"file\"\ndest = \"/app/README\"\nreplace = true\n")
	k.mustGraft(t, "lock")
	if pk := pluginLock(t, k.lock(t), "jarplugin"); pk.Dest != "/app/plugins/jarplugin.jar" {
		t.Errorf("jarplugin dest %q", pk.Dest)
	}
	dest := filepath.Join(t.TempDir(), "img")
	k.mustGraft(t, "build", "--output", "type=oci,dest="+dest)
	files := buildtest.ImageFiles(t, layoutImage(t, dest))
	for path, want := range map[string]string{"/app/plugins/jarplugin.jar": "jar", "/opt/app/config/site.yml": "x: 1", "/app/README": "replaced"} {
		if files[path] != want {
			t.Errorf("%s = %q, want %q", path, files[path], want)
		}
	}
	if code, out, errOut := k.graft(t, "verify", "oci-layout://"+dest); code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}

	k.Plugin("other", map[string]string{"x": "x"}, "\n[install]\ndest = \"/opt/app/config/sub\"\n")
	code, _, errOut = k.graft(t, "lock")
	if code != 2 || !strings.Contains(errOut, "plugins/other/plugin.toml:6: install.dest: plugin other goes to /opt/app/config/sub, and plugin config to /opt/app/config: two plugins never write the same path") {
		t.Fatalf("two plugins at one path: exit %d\n%s", code, errOut)
	}
	k.Plugin("other", map[string]string{"x": "x"}, "\n[install]\ndest = \"/etc/graft\"\n")
	code, _, errOut = k.graft(t, "lock")
	if code != 2 || !strings.Contains(errOut, "install.dest: plugin other goes to /etc/graft, where graft keeps its own /etc/graft") {
		t.Fatalf("a plugin at graft's files: exit %d\n%s", code, errOut)
	}
	k.Plugin("other", map[string]string{"a": "a", "b": "b"}, "\n[install]\nas = \"file\"\n")
	code, _, errOut = k.graft(t, "lock")
	if code != 2 || !strings.Contains(errOut, "install.as: plugin other is installed as one file, but its source holds a, b, x at the top") {
		t.Fatalf("a one-file plugin with two files: exit %d\n%s", code, errOut)
	}
}

// writeVersionedBase writes a base layout whose config carries label
// org.opencontainers.image.version and env APP_VERSION.
func writeVersionedBase(t *testing.T, dir, version string) {
	t.Helper()
	img := buildtest.BaseImage(t, "linux/amd64", "", "application/vnd.oci.image.manifest.v1+json")
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Labels["org.opencontainers.image.version"] = version
	cf.Config.Env = append(cf.Config.Env, "APP_VERSION="+version)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
}

// TestBaseVersionCompatAndFollowingRefs: graft reads the base's version from its label; a ref
// following it resolves to the branch of that release; a plugin whose [compat] excludes it is
// refused by lock (and build) naming plugin, range and version; PlanBase tells which plugins
// block an upgrade and which move with it.
func TestBaseVersionCompatAndFollowingRefs(t *testing.T) {
	k := newKindsSite(t, "")
	writeVersionedBase(t, filepath.Join(k.Dir, "base"), "1.42.3")
	ext := gittest.NewRepo(t, k.Git, "ext.git")
	ext.Write(map[string]string{"extension.json": "{}"})
	ext.Commit("main")
	ext.Branch("REL1_42")
	ext.Write(map[string]string{"extension.json": `{"for": "1.42"}`})
	rel142 := ext.Commit("for 1.42")
	k.plugin("ext", fmt.Sprintf("[source]\ngit = %q\nref = \"REL{{ .Base.Major }}_{{ .Base.Minor }}\"\n\n[compat]\nbase = \">=1.39, <2\"\n", ext.URL()))
	k.mustGraft(t, "lock")
	l := k.lock(t)
	if pk := pluginLock(t, l, "ext"); pk.Ref != "REL1_42" || pk.Commit != rel142 || l.Base.Version != "1.42.3" {
		t.Fatalf("ext locked as %+v, base %+v", pk, l.Base)
	}
	if code, out, _ := k.graft(t, "lock", "--check"); code != 0 {
		t.Fatalf("lock --check: exit %d\n%s", code, out)
	}

	old := gittest.NewRepo(t, k.Git, "old.git")
	old.Write(map[string]string{"x": "x"})
	old.Commit("x")
	k.plugin("old", fmt.Sprintf("[source]\ngit = %q\nref = \"main\"\n\n[compat]\nbase = \">=1.35, <1.40\"\n", old.URL()))
	code, _, errOut := k.graft(t, "lock")
	if code != 2 || !strings.Contains(errOut, "plugins/old/plugin.toml:6: compat.base: plugin old supports base versions >=1.35, <1.40, but the base oci-layout://base is version 1.42.3") {
		t.Fatalf("lock with an incompatible plugin: exit %d\n%s", code, errOut)
	}

	p, err := lockfile.Load(k.Dir)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := p.PlanBase(t.Context(), "1.43.0")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(plan)
	want := `[{"plugin":"ext","blocks":true,"reason":"no branch or tag REL1_43 in ` + ext.URL() + ` yet","moves":true,"old_ref":"REL1_42","new_ref":"REL1_43"},` +
		`{"plugin":"old","blocks":true,"reason":"supports base \u003e=1.35, \u003c1.40, not 1.43.0"}]`
	if string(got) != want {
		t.Errorf("PlanBase(1.43.0) =\n%s\nwant\n%s", got, want)
	}
	ext.Branch("REL1_43")
	ext.Push()
	plan, _ = p.PlanBase(t.Context(), "1.43.0")
	if len(plan) != 2 || plan[0].Blocks || !plan[0].Moves {
		t.Errorf("PlanBase once REL1_43 exists: %+v", plan)
	}

	// build checks [compat] too, and the locked base version against the base itself.
	os.RemoveAll(filepath.Join(k.Dir, "plugins", "old"))
	os.RemoveAll(filepath.Join(k.Dir, "plugins", "ext"))
	k.plugin("narrow", fmt.Sprintf("[source]\ngit = %q\nref = \"main\"\n\n[compat]\nbase = \"<1.43\"\n", old.URL()))
	k.mustGraft(t, "lock")
	data, _ := os.ReadFile(filepath.Join(k.Dir, "graft.lock"))
	edit := func(v string) {
		os.WriteFile(filepath.Join(k.Dir, "graft.lock"), []byte(strings.Replace(string(data), "version = '1.42.3'", "version = '"+v+"'", 1)), 0o644)
	}
	edit("1.43.0")
	code, _, errOut = k.graft(t, "build")
	if code != 2 || !strings.Contains(errOut, "compat.base: plugin narrow supports base versions <1.43, but the base oci-layout://base is version 1.43.0") {
		t.Fatalf("build with an incompatible base: exit %d\n%s", code, errOut)
	}
	edit("1.42.9")
	code, _, errOut = k.graft(t, "build")
	if code != 2 || !strings.Contains(errOut, "base.version is 1.42.9, but the base image says 1.42.3") {
		t.Fatalf("build with an edited base version: exit %d\n%s", code, errOut)
	}
}

// TestOCIPluginPushedByOras: what the real `oras push` makes (files titled by
// org.opencontainers.image.title, a folder as a tarred layer oras unpacks) is a plugin, in CNCF
// distribution, the registry most sites run.
func TestOCIPluginPushedByOras(t *testing.T) {
	oras := tooltest.Require(t, tooltest.Oras)
	k := newKindsSite(t, "")
	work := t.TempDir()
	os.MkdirAll(filepath.Join(work, "static", "css"), 0o755)
	os.WriteFile(filepath.Join(work, "static", "css", "a.css"), []byte("a{}"), 0o644)
	os.WriteFile(filepath.Join(work, "plugin.jar"), []byte("jar bytes"), 0o644)
	ref := registrytest.Distribution(t) + "/plugins/bundle:2.0.0"
	cmd := exec.Command(oras, "push", "--plain-http", "--artifact-type", "application/vnd.example.plugin", ref, "plugin.jar", "static")
	cmd.Dir = work
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oras push: %v\n%s", err, out)
	}
	k.plugin("bundle", fmt.Sprintf("[source]\noci = %q\n", ref))
	k.mustGraft(t, "lock")
	dest := filepath.Join(t.TempDir(), "img")
	k.mustGraft(t, "build", "--output", "type=oci,dest="+dest)
	files := buildtest.ImageFiles(t, layoutImage(t, dest))
	if files["/app/plugins/bundle/plugin.jar"] != "jar bytes" || files["/app/plugins/bundle/static/css/a.css"] != "a{}" {
		t.Errorf("bundle in the image: jar %q, css %q", files["/app/plugins/bundle/plugin.jar"], files["/app/plugins/bundle/static/css/a.css"])
	}
	if code, out, errOut := k.graft(t, "verify", "oci-layout://"+dest); code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}
}

// TestOverrideBuildsAWorkingFolderUnlocked: --override builds a plugin from a working folder,
// labels the image unlocked (labels, SBOM, provenance), verify fails it, and pushing it needs
// --allow-override-push.
func TestOverrideBuildsAWorkingFolderUnlocked(t *testing.T) {
	k := newKindsSite(t, "")
	k.Plugin("dev", map[string]string{"lib/a.rb": "locked"}, "")
	k.Plugin("other", map[string]string{"x": "x"}, "")
	k.mustGraft(t, "lock")
	work := t.TempDir()
	os.MkdirAll(filepath.Join(work, "lib"), 0o755)
	os.MkdirAll(filepath.Join(work, ".git"), 0o755)
	os.WriteFile(filepath.Join(work, ".git", "HEAD"), []byte("ref: x"), 0o644)
	os.WriteFile(filepath.Join(work, "lib", "a.rb"), []byte("working copy"), 0o644)
	dest := filepath.Join(t.TempDir(), "img")
	out := k.mustGraft(t, "build", "--override", "dev="+work, "--output", "type=oci,dest="+dest)
	img := layoutImage(t, dest)
	files := buildtest.ImageFiles(t, img)
	if files["/app/plugins/dev/lib/a.rb"] != "working copy" || files["/app/plugins/other/x"] != "x" {
		t.Errorf("image holds dev %q, other %q", files["/app/plugins/dev/lib/a.rb"], files["/app/plugins/other/x"])
	}
	if _, ok := files["/app/plugins/dev/.git/HEAD"]; ok {
		t.Error("the working folder's .git went into the image")
	}
	cf, _ := img.ConfigFile()
	if cf.Config.Labels["org.graft.unlocked"] != "dev" || !strings.Contains(cf.Config.Labels["org.graft.plugins"], `"name":"dev","commit":"`) ||
		!strings.Contains(cf.Config.Labels["org.graft.plugins"], `"unlocked":true`) {
		t.Errorf("labels %v", cf.Config.Labels)
	}
	_, sbom, _ := graft(t, "sbom", "oci-layout://"+dest)
	_, prov, _ := graft(t, "sbom", "--provenance", "oci-layout://"+dest)
	if !strings.Contains(sbom, "UNLOCKED: built with graft build --override") || !strings.Contains(prov, `"unlockedPlugins": [`) {
		t.Errorf("SBOM or provenance do not say unlocked:\n%s\n%s", sbom, prov)
	}
	code, vout, _ := k.graft(t, "verify", "oci-layout://"+dest)
	if code != 1 || !strings.Contains(vout, "was built with --override dev: it holds working folders, not what graft.lock pins") {
		t.Errorf("verify of an unlocked image: exit %d\n%s", code, vout)
	}
	_ = out

	// A second build with the folder unchanged takes the layer from the cache; a changed file
	// gives a new layer.
	code, _, errOut := k.graft(t, "build", "--override", "dev="+work, "--output", "type=oci,dest="+dest, "--progress", "plain")
	if code != 0 || !strings.Contains(errOut, "fetch  dev") {
		t.Fatalf("rebuild: exit %d\n%s", code, errOut)
	}
	os.WriteFile(filepath.Join(work, "lib", "a.rb"), []byte("edited"), 0o644)
	k.mustGraft(t, "build", "--override", "dev="+work, "--output", "type=oci,dest="+dest)
	if got := buildtest.ImageFiles(t, layoutImage(t, dest))["/app/plugins/dev/lib/a.rb"]; got != "edited" {
		t.Errorf("after an edit the image holds %q", got)
	}

	reg := registrytest.GGCR(t, false)
	code, _, errOut = k.graft(t, "build", "--override", "dev="+work, "--push", "-t", reg+"/app:dev")
	if code != 2 || !strings.Contains(errOut, "--override builds an unlocked image, which is not pushed to "+reg+"/app:dev") {
		t.Errorf("push of an unlocked image: exit %d\n%s", code, errOut)
	}
	k.mustGraft(t, "build", "--override", "dev="+work, "--push", "-t", reg+"/app:dev", "--allow-override-push")
	code, _, errOut = k.graft(t, "build", "--override", "nosuch="+work)
	if code != 2 || !strings.Contains(errOut, "--override nosuch="+work+": graft.lock has no plugin nosuch") {
		t.Errorf("override of an unknown plugin: exit %d\n%s", code, errOut)
	}
}

// writeTaggedBases writes one layout holding a base per version, each tagged with its version and
// carrying it as org.opencontainers.image.version.
func writeTaggedBases(t *testing.T, dir string, versions ...string) {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range versions {
		img := buildtest.BaseImage(t, "linux/amd64", "", "application/vnd.oci.image.manifest.v1+json")
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.Config.Labels["org.opencontainers.image.version"] = v
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{imageref.RefNameAnnotation: v})); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOutdatedAndBumpBaseWithPlugins: outdated shows, per newer base tag, the plugins that would
// block it and those that would move with it; lock --bump base passes over a blocked tag, and
// takes it once nothing blocks, moving the following plugins in the same lock.
func TestOutdatedAndBumpBaseWithPlugins(t *testing.T) {
	k := newKindsSite(t, "")
	writeTaggedBases(t, filepath.Join(k.Dir, "base"), "1.42.3", "1.43.0")
	site, err := os.ReadFile(filepath.Join(k.Dir, "graft.toml"))
	if err != nil {
		t.Fatal(err)
	}
	k.WriteFile("graft.toml", strings.Replace(string(site), `"oci-layout://base"`, `"oci-layout://base:1.42.3"`, 1))
	ext := gittest.NewRepo(t, k.Git, "ext.git")
	for _, b := range []string{"REL1_42", "REL1_43"} {
		ext.Branch(b)
		ext.Write(map[string]string{"extension.json": b})
		ext.Commit(b)
	}
	k.plugin("ext", fmt.Sprintf("[source]\ngit = %q\nref = \"REL{{ .Base.Major }}_{{ .Base.Minor }}\"\n", ext.URL()))
	k.plugin("old", fmt.Sprintf("[source]\ngit = %q\nref = \"REL1_42\"\n\n[compat]\nbase = \"<1.43\"\n", ext.URL()))
	k.mustGraft(t, "lock")
	out := k.mustGraft(t, "outdated")
	if !strings.Contains(out, "newer tags: 1.43.0 (blocked by old supports base <1.43, not 1.43.0) (moves ext REL1_42 -> REL1_43)") {
		t.Errorf("outdated:\n%s", out)
	}
	out = k.mustGraft(t, "lock", "--bump", "base")
	if !strings.Contains(out, "1.43.0") || !strings.Contains(out, "old") || k.lock(t).Base.Version != "1.42.3" {
		t.Errorf("bump base with a blocker:\n%s", out)
	}
	os.RemoveAll(filepath.Join(k.Dir, "plugins", "old"))
	k.mustGraft(t, "lock")
	k.mustGraft(t, "lock", "--bump", "base")
	l := k.lock(t)
	if l.Base.Version != "1.43.0" || pluginLock(t, l, "ext").Ref != "REL1_43" {
		t.Errorf("after bump base: base %+v, ext %+v", l.Base, pluginLock(t, l, "ext"))
	}
}

// TestOCIPluginFromAPrivateRegistry: an oci plugin is read with the credentials the base is
// (Docker's config.json, what graft login writes): without them lock fails naming the
// reference, with them it locks and builds, and no password reaches the output or the lock.
func TestOCIPluginFromAPrivateRegistry(t *testing.T) {
	k := newKindsSite(t, "")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	const pw = "s3cret-registry-token"
	reg := registrytest.New(t, registrytest.WithGGCR(false), registrytest.WithBasicAuth("ci", pw))
	host := reg.Host
	artifacttest.PushArtifact(t, reg.OpenHost+"/plugins/skin:1.0", map[string]string{"skin.css": "a{}"})
	k.plugin("skin", fmt.Sprintf("[source]\noci = %q\n", host+"/plugins/skin:1.0"))

	code, out, errOut := k.graft(t, "lock")
	if code != 1 || !strings.Contains(errOut, "graft: plugin skin: image "+host+"/plugins/skin:1.0: ") || !strings.Contains(errOut, "401 Unauthorized") ||
		strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("lock without credentials: exit %d\n%s%s", code, out, errOut)
	}
	auth := base64.StdEncoding.EncodeToString([]byte("ci:" + pw))
	if err := os.WriteFile(filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json"),
		[]byte(`{"auths":{"`+host+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out = k.mustGraft(t, "lock")
	dest := filepath.Join(t.TempDir(), "img")
	out += k.mustGraft(t, "build", "--output", "type=oci,dest="+dest)
	if files := buildtest.ImageFiles(t, layoutImage(t, dest)); files["/app/plugins/skin/skin.css"] != "a{}" {
		t.Errorf("skin.css in the image: %q", files["/app/plugins/skin/skin.css"])
	}
	lock, _ := os.ReadFile(filepath.Join(k.Dir, "graft.lock"))
	if strings.Contains(out+string(lock), pw) || strings.Contains(out+string(lock), auth) {
		t.Error("the registry's password reached the output or graft.lock")
	}
}
