package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/graft-build/graft/internal/gittest"
	"github.com/graft-build/graft/internal/registrytest"
	"github.com/graft-build/graft/lockfile"
)

// siteFixture is a site repository beside a folder of real git repositories served over
// smart HTTP, with a base image in an in-process registry.
type siteFixture struct {
	t          *testing.T
	dir        string // the site repository
	repos      string // bare repositories, also served over HTTP
	srv        *gittest.Server
	base       string // registry reference of the base image
	baseDigest string
	extraSite  string
}

func newSiteFixture(t *testing.T, srvOpts ...gittest.ServerOption) *siteFixture {
	t.Helper()
	// Credentials must come from the test, never from the machine running it.
	t.Setenv("HOME", t.TempDir())
	t.Setenv("NETRC", "")
	t.Setenv("GRAFT_GIT_TOKEN", "")
	parent := t.TempDir()
	f := &siteFixture{t: t, dir: filepath.Join(parent, "site"), repos: filepath.Join(parent, "repos")}
	for _, d := range []string{f.dir, f.repos} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f.srv = gittest.NewServer(t, f.repos, srvOpts...)
	f.base, f.baseDigest = pushBase(t)
	f.writeSite()
	return f
}

// pushBase pushes a small random image to an in-process registry and returns its tag and digest.
func pushBase(t *testing.T) (string, string) {
	t.Helper()
	ref := registrytest.GGCR(t, false) + "/archivesspace:4.1.1"
	return ref, pushRandom(t, ref)
}

func (f *siteFixture) writeSite() {
	f.write("graft.toml", fmt.Sprintf("base = %q\nplugins_dir = \"/archivesspace/plugins\"\n%s", f.base, f.extraSite))
}

func (f *siteFixture) write(rel, content string) {
	f.t.Helper()
	p := filepath.Join(f.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *siteFixture) plugin(name, git, ref, extra string) {
	f.write(filepath.Join("plugins", name, "plugin.toml"),
		fmt.Sprintf("[source]\ngit = %q\nref = %q\n%s", git, ref, extra))
}

func (f *siteFixture) repo(name string) *gittest.Repo {
	return gittest.NewRepo(f.t, f.repos, name)
}

func (f *siteFixture) httpURL(repo string) string { return f.srv.URL + "/" + repo }

// run runs the graft CLI on the site and returns the exit code and outputs.
func (f *siteFixture) run(args ...string) (int, string, string) {
	f.t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"-C", f.dir}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func (f *siteFixture) mustRun(args ...string) string {
	f.t.Helper()
	code, out, errs := f.run(args...)
	if code != 0 {
		f.t.Fatalf("graft %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (f *siteFixture) lockBytes() []byte {
	f.t.Helper()
	data, err := os.ReadFile(filepath.Join(f.dir, "graft.lock"))
	if err != nil {
		f.t.Fatal(err)
	}
	return data
}

func (f *siteFixture) lock() *lockfile.Lock {
	f.t.Helper()
	l, err := lockfile.ReadLock(filepath.Join(f.dir, "graft.lock"))
	if err != nil {
		f.t.Fatal(err)
	}
	return l
}

func pluginLock(t *testing.T, l *lockfile.Lock, name string) lockfile.PluginLock {
	t.Helper()
	for _, pk := range l.Plugins {
		if pk.Name == name {
			return pk
		}
	}
	t.Fatalf("plugin %s not in lock", name)
	return lockfile.PluginLock{}
}

func rev(r *gittest.Repo, what string) string { return strings.TrimSpace(r.Git("rev-parse", what)) }

func TestLockResolvesEveryKindOfRef(t *testing.T) {
	f := newSiteFixture(t)
	a := f.repo("a.git")
	a.Write(map[string]string{"plugin/frontend/x.rb": "x", "README": "a"})
	first := a.Commit("Add frontend\n\nlonger body")
	a.AnnotatedTag("v1.0.0", "release 1.0.0")
	a.Tag("stable")
	a.Write(map[string]string{"plugin/frontend/x.rb": "y"})
	second := a.Commit("Change frontend")
	a.Tag("light")

	f.plugin("annotated", f.httpURL("a.git"), "v1.0.0", "")
	f.plugin("lightweight", a.URL(), "light", "")
	f.plugin("branch", "../repos/a.git", "main", `path = "plugin"`+"\n")
	f.plugin("by-sha", f.httpURL("a.git"), first, `path = "plugin/frontend"`+"\n")

	out := f.mustRun("lock")
	for _, want := range []string{"annotated: tag v1.0.0 -> " + first[:12], "branch: branch main -> " + second[:12], "wrote graft.lock"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	l := f.lock()
	ann := pluginLock(t, l, "annotated")
	tagObject := rev(a, "refs/tags/v1.0.0")
	if ann.Commit != first || ann.Commit == tagObject || ann.Kind != "tag" || ann.Title != "Add frontend" {
		t.Errorf("annotated = %+v; want peeled commit %s (tag object %s), title %q", ann, first, tagObject, "Add frontend")
	}
	if strings.Join(ann.Tags, ",") != "stable,v1.0.0" || ann.Tree != rev(a, first+"^{tree}") {
		t.Errorf("annotated tags/tree = %v %s", ann.Tags, ann.Tree)
	}
	if lw := pluginLock(t, l, "lightweight"); lw.Commit != second || lw.Kind != "tag" || lw.Git != a.URL() {
		t.Errorf("lightweight = %+v, want %s", lw, second)
	}
	br := pluginLock(t, l, "branch")
	if br.Commit != second || br.Kind != "branch" || br.Tree != rev(a, second+":plugin") || br.Git != "../repos/a.git" {
		t.Errorf("branch = %+v, want %s tree %s", br, second, rev(a, second+":plugin"))
	}
	sha := pluginLock(t, l, "by-sha")
	if sha.Commit != first || sha.Kind != "commit" || sha.Tree != rev(a, first+":plugin/frontend") {
		t.Errorf("by-sha = %+v", sha)
	}
	if l.Base.Ref != f.base || l.Base.Digest != f.baseDigest {
		t.Errorf("base = %+v, want %s @ %s", l.Base, f.base, f.baseDigest)
	}

	// Same inputs, same bytes: a second run leaves the file alone, a fresh run rewrites it identically.
	before := f.lockBytes()
	if out := f.mustRun("lock"); !strings.Contains(out, "graft.lock unchanged") {
		t.Errorf("second run: %s", out)
	}
	os.Remove(filepath.Join(f.dir, "graft.lock"))
	f.mustRun("lock")
	if after := f.lockBytes(); !bytes.Equal(before, after) {
		t.Errorf("lock differs between runs:\n%s\n---\n%s", before, after)
	}
	if bytes.Contains(before, []byte(tagObject)) {
		t.Errorf("lock records the annotated tag object %s", tagObject)
	}
	if code, out, _ := f.run("lock", "--check"); code != 0 || !strings.Contains(out, "up to date") {
		t.Errorf("check right after lock: exit %d: %s", code, out)
	}
	if p, err := lockfile.Load(f.dir); err != nil || p.CheckFresh() != nil {
		t.Errorf("fresh lock: load %v", err)
	}
}

func TestLockJSON(t *testing.T) {
	f := newSiteFixture(t)
	a := f.repo("a.git")
	c := a.Commit("Initial")
	a.AnnotatedTag("v0.1.0", "r")
	f.plugin("a", f.httpURL("a.git"), "v0.1.0", "")
	out := f.mustRun("lock", "--json")
	var doc struct {
		Written bool
		Base    struct{ Digest string }
		Plugins []struct {
			Name, Commit, Kind, Title string
			Tags                      []string
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
	}
	if !doc.Written || doc.Base.Digest != f.baseDigest || len(doc.Plugins) != 1 || doc.Plugins[0].Commit != c ||
		doc.Plugins[0].Kind != "tag" || doc.Plugins[0].Title != "Initial" || len(doc.Plugins[0].Tags) != 1 {
		t.Errorf("json = %+v", doc)
	}
}

func TestLockCheckFindsDrift(t *testing.T) {
	f := newSiteFixture(t)
	r := f.repo("r.git")
	c1 := r.Commit("one")
	r.Tag("light")
	r.AnnotatedTag("v1.0.0", "r1")
	r.Tag("doomed")
	r.Branch("feature")
	c2 := r.Commit("two on feature")
	r.Branch("main")
	r.Reset(c1)
	f.plugin("track-main", f.httpURL("r.git"), "main", "")
	f.plugin("track-feature", r.URL(), "feature", "")
	f.plugin("moved-light", f.httpURL("r.git"), "light", "")
	f.plugin("moved-annotated", f.httpURL("r.git"), "v1.0.0", "")
	f.plugin("deleted", f.httpURL("r.git"), "doomed", "")
	f.plugin("pinned", f.httpURL("r.git"), c1, "")
	f.mustRun("lock")
	locked := f.lockBytes()

	// main moves forward; feature is force-pushed back to c1; tags move; one is deleted.
	r.Write(map[string]string{"f": "3"})
	c3 := r.Commit("three on main")
	r.Tag("light")
	r.AnnotatedTag("v1.0.0", "moved")
	r.DeleteTag("doomed")
	r.Branch("feature")
	r.Reset(c1)
	r.Push()

	code, out, errs := f.run("lock", "--check")
	if code != 1 {
		t.Fatalf("check: exit %d, want 1\n%s%s", code, out, errs)
	}
	for _, want := range []string{
		fmt.Sprintf("plugin track-main: branch main moved: %s -> %s", c1, c3),
		fmt.Sprintf("plugin track-feature: branch feature moved: %s -> %s", c2, c1),
		fmt.Sprintf("plugin moved-light: tag light moved: %s -> %s", c1, c3),
		fmt.Sprintf("plugin moved-annotated: tag v1.0.0 moved: %s -> %s", c1, c3),
		fmt.Sprintf("plugin deleted: tag doomed no longer exists (locked at %s)", c1),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pinned") {
		t.Errorf("a plugin pinned to a SHA cannot drift:\n%s", out)
	}
	if !bytes.Equal(locked, f.lockBytes()) {
		t.Error("lock --check modified graft.lock")
	}

	// JSON form of the same.
	code, out, _ = f.run("lock", "--check", "--json")
	var doc struct {
		OK    bool
		Drift []lockfile.Drift
	}
	if err := json.Unmarshal([]byte(out), &doc); code != 1 || err != nil || doc.OK || len(doc.Drift) != 5 {
		t.Errorf("check --json: exit %d, %v, %+v", code, err, doc)
	}
}

func TestLockCheckStaleDefinition(t *testing.T) {
	f := newSiteFixture(t)
	r := f.repo("r.git")
	c1 := r.Commit("one")
	r.Tag("v1")
	r.Write(map[string]string{"x": "2"})
	c2 := r.Commit("two")
	r.Tag("v2")
	f.plugin("p", r.URL(), "v1", "")
	f.mustRun("lock")

	f.plugin("p", r.URL(), "v2", "")
	code, out, _ := f.run("lock", "--check")
	want := fmt.Sprintf("plugin p: plugin.toml changed since graft.lock was written (ref v2): %s -> %s", c1, c2)
	if code != 1 || !strings.Contains(out, want) {
		t.Errorf("exit %d, want 1 and %q:\n%s", code, want, out)
	}
	p, err := lockfile.Load(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CheckFresh(); err == nil || !strings.Contains(err.Error(), "run `graft lock`") {
		t.Errorf("CheckFresh on a stale lock: %v", err)
	}

	// A new plugin and an edited graft.toml are drift too.
	f.plugin("p", r.URL(), "v1", "")
	f.plugin("q", r.URL(), "v2", "")
	if code, out, _ := f.run("lock", "--check"); code != 1 || !strings.Contains(out, "plugin q: not in graft.lock (ref v2 now at "+c2) {
		t.Errorf("added plugin: exit %d\n%s", code, out)
	}
	os.RemoveAll(filepath.Join(f.dir, "plugins", "q"))
	f.extraSite = "owner = \"1000:1000\"\n"
	f.writeSite()
	if code, out, _ := f.run("lock", "--check"); code != 1 || !strings.Contains(out, "graft.toml: changed") {
		t.Errorf("edited graft.toml: exit %d\n%s", code, out)
	}
	os.Remove(filepath.Join(f.dir, "graft.lock"))
	if code, out, _ := f.run("lock", "--check"); code != 1 || !strings.Contains(out, "graft.lock: not found") {
		t.Errorf("no lock: exit %d\n%s", code, out)
	}
}

func TestLockUpdateOnlyNamed(t *testing.T) {
	f := newSiteFixture(t)
	a, b := f.repo("a.git"), f.repo("b.git")
	a1, b1 := a.Commit("a1"), b.Commit("b1")
	f.plugin("a", f.httpURL("a.git"), "main", "")
	f.plugin("b", f.httpURL("b.git"), "main", "")
	f.mustRun("lock")
	a2, b2 := a.Commit("a2"), b.Commit("b2")

	out := f.mustRun("lock", "--update", "a")
	l := f.lock()
	if got := pluginLock(t, l, "a").Commit; got != a2 {
		t.Errorf("a = %s, want updated %s", got, a2)
	}
	if got := pluginLock(t, l, "b").Commit; got != b1 {
		t.Errorf("b = %s, want kept %s (its branch moved to %s)", got, b1, b2)
	}
	if !strings.Contains(out, "[was "+a1[:12]+"]") {
		t.Errorf("output does not show a's old commit:\n%s", out)
	}
	before := f.lockBytes()
	code, _, errs := f.run("lock", "--update", "nope")
	if code != 2 || !strings.Contains(errs, "unknown plugin nope") || !strings.Contains(errs, "a, b") {
		t.Errorf("unknown name: exit %d: %s", code, errs)
	}
	if !bytes.Equal(before, f.lockBytes()) {
		t.Error("a failed --update changed graft.lock")
	}
	// Positional names after --update, as in `graft lock --update a b`.
	f.mustRun("lock", "--update", "a", "b")
	if got := pluginLock(t, f.lock(), "b").Commit; got != b2 {
		t.Errorf("b = %s, want %s", got, b2)
	}
}

func TestLockPrivateRepository(t *testing.T) {
	f := newSiteFixture(t, gittest.WithBasicAuth("private.git", "bot", "correct-horse"))
	r := f.repo("private.git")
	c := r.Commit("secret plugin")
	f.plugin("priv", f.httpURL("private.git"), "main", "")

	code, _, errs := f.run("lock")
	if code != 1 || !strings.Contains(errs, "plugin priv (ref main)") || !strings.Contains(errs, f.httpURL("private.git")) ||
		!strings.Contains(errs, "authentication required") {
		t.Errorf("no credentials: exit %d: %s", code, errs)
	}
	t.Setenv("GRAFT_GIT_TOKEN", "bot:battery-staple")
	code, _, errs = f.run("lock")
	if code != 1 || strings.Contains(errs, "battery-staple") || !strings.Contains(errs, "plugin priv") {
		t.Errorf("wrong password: exit %d: %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "graft.lock")); !os.IsNotExist(err) {
		t.Errorf("failed run wrote graft.lock: %v", err)
	}
	t.Setenv("GRAFT_GIT_TOKEN", "bot:correct-horse")
	f.mustRun("lock")
	if got := pluginLock(t, f.lock(), "priv"); got.Commit != c || strings.Contains(string(f.lockBytes()), "correct-horse") {
		t.Errorf("private = %+v", got)
	}
}

func TestLockUnreachableAndUnknownRefKeepLock(t *testing.T) {
	f := newSiteFixture(t)
	r := f.repo("r.git")
	r.Commit("one")
	f.plugin("ok", f.httpURL("r.git"), "main", "")
	f.mustRun("lock")
	before := f.lockBytes()
	st, _ := os.Stat(filepath.Join(f.dir, "graft.lock"))

	f.plugin("gone", "http://user:pw-in-url@127.0.0.1:1/gone.git", "main", "")
	code, _, errs := f.run("lock")
	if code != 1 || !strings.Contains(errs, "plugin gone (ref main)") || !strings.Contains(errs, "http://127.0.0.1:1/gone.git") {
		t.Errorf("unreachable: exit %d: %s", code, errs)
	}
	if strings.Contains(errs, "pw-in-url") || strings.Contains(errs, "user:") {
		t.Errorf("credentials printed: %s", errs)
	}
	os.RemoveAll(filepath.Join(f.dir, "plugins", "gone"))

	f.plugin("ok", f.httpURL("r.git"), "no-such-branch", "")
	code, _, errs = f.run("lock")
	wantPrefix := filepath.Join(f.dir, "plugins", "ok", "plugin.toml") + ":3: source.ref: plugin ok: no branch or tag \"no-such-branch\" in " + f.httpURL("r.git")
	if code != 2 || !strings.Contains(errs, wantPrefix) {
		t.Errorf("unknown ref: exit %d: %s\nwant %s", code, errs, wantPrefix)
	}
	f.plugin("ok", f.httpURL("r.git"), "main", `path = "missing/folder"`+"\n")
	code, _, errs = f.run("lock")
	if code != 2 || !strings.Contains(errs, "plugin.toml:4: source.path") {
		t.Errorf("missing path: exit %d: %s", code, errs)
	}
	if after, _ := os.Stat(filepath.Join(f.dir, "graft.lock")); !bytes.Equal(before, f.lockBytes()) || !after.ModTime().Equal(st.ModTime()) {
		t.Error("a failed run modified graft.lock")
	}
	if ents, _ := filepath.Glob(filepath.Join(f.dir, ".graft.lock*")); len(ents) > 0 {
		t.Errorf("temporary files left: %v", ents)
	}
}

func TestLockBadInput(t *testing.T) {
	f := newSiteFixture(t)
	r := f.repo("r.git")
	r.Commit("one")
	f.plugin("ok", r.URL(), "main", "")
	f.mustRun("lock")
	before := f.lockBytes()

	f.write("graft.toml", "base = \"\"\nplugins_dir = \"relative/dir\"\nowner = \"www-data\"\ncolour = \"red\"\n")
	code, _, errs := f.run("lock")
	if code != 2 || !strings.Contains(errs, "graft.toml:4: colour: unknown key") {
		t.Errorf("unknown key: exit %d: %s", code, errs)
	}
	f.write("graft.toml", "base = \"\"\nplugins_dir = \"relative/dir\"\nowner = \"www-data\"\n")
	f.plugin("Bad_Name", r.URL(), "main", "")
	f.write("plugins/ok/plugin.toml", "[source]\ngit = \""+r.URL()+"\"\npath = \"../../etc\"\n\n[launcher]\nhooks = [\"/abs/hook.sh\"]\n")
	code, _, errs = f.run("lock")
	if code != 2 {
		t.Fatalf("bad input: exit %d, want 2: %s", code, errs)
	}
	for _, want := range []string{
		"graft.toml:1: base: missing",
		"graft.toml:2: plugins_dir: \"relative/dir\" is not absolute",
		"graft.toml:3: owner: \"www-data\" is not numeric uid:gid",
		filepath.Join("plugins", "Bad_Name", "plugin.toml") + ": plugin folder name \"Bad_Name\" is not allowed",
		filepath.Join("plugins", "ok", "plugin.toml") + ":1: source.ref: missing",
		filepath.Join("plugins", "ok", "plugin.toml") + ":3: source.path: \"../../etc\" leaves the repository",
		filepath.Join("plugins", "ok", "plugin.toml") + ":6: launcher.hooks: \"/abs/hook.sh\" is absolute",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if strings.Contains(errs, "goroutine") || strings.Contains(errs, "panic") {
		t.Errorf("stack trace in output:\n%s", errs)
	}
	if !bytes.Equal(before, f.lockBytes()) {
		t.Error("bad input modified graft.lock")
	}
}

func TestLockMirror(t *testing.T) {
	f := newSiteFixture(t)
	r := f.repo("a.git")
	c := r.Commit("via mirror")
	// The plugin names a host that does not exist; the mirror points it at the test server.
	// The longer prefix must win over the shorter, broken one.
	f.extraSite = fmt.Sprintf("\n[[mirror]]\nprefix = \"https://forge.invalid/\"\nurl = \"http://127.0.0.1:1/\"\n\n[[mirror]]\nprefix = \"https://forge.invalid/org/\"\nurl = %q\n", f.srv.URL+"/")
	f.writeSite()
	f.plugin("m", "https://forge.invalid/org/a.git", "main", "")
	f.mustRun("lock")
	if got := pluginLock(t, f.lock(), "m"); got.Commit != c || got.Git != "https://forge.invalid/org/a.git" {
		t.Errorf("mirror = %+v, want commit %s and the original URL", got, c)
	}
}

func TestOutdated(t *testing.T) {
	f := newSiteFixture(t)
	r := f.repo("r.git")
	r.Commit("1.0")
	r.AnnotatedTag("v1.0.0", "r")
	f.plugin("tagged", f.httpURL("r.git"), "v1.0.0", "")
	f.plugin("branch", r.URL(), "main", "")
	f.plugin("current", r.URL(), "v1.0.0", "")
	f.mustRun("lock")
	if out := f.mustRun("outdated"); strings.Count(out, "up to date") != 4 {
		t.Errorf("nothing newer yet:\n%s", out)
	}
	r.Commit("1.1")
	r.Tag("v1.1.0")
	r.Commit("2.0-rc")
	r.Tag("v2.0.0-rc.1")
	head := r.Commit("2.0")
	r.AnnotatedTag("v2.0.0", "r")
	r.Tag("not-a-version")

	out := f.mustRun("outdated")
	if !strings.Contains(out, "tagged: tag v1.0.0 at") || !strings.Contains(out, "newer tags: v1.1.0, v2.0.0 ") {
		t.Errorf("tagged:\n%s", out)
	}
	if !strings.Contains(out, "branch: branch main at") || !strings.Contains(out, "branch head now "+head[:12]) {
		t.Errorf("branch:\n%s", out)
	}
	var doc struct{ Plugins []lockfile.Outdated }
	if err := json.Unmarshal([]byte(f.mustRun("outdated", "--json")), &doc); err != nil || len(doc.Plugins) != 3 {
		t.Fatalf("json: %v %+v", err, doc)
	}
	if br := doc.Plugins[0]; br.Plugin != "branch" || br.Head != head || strings.Join(br.NewerTags, ",") != "v1.1.0,v2.0.0" {
		t.Errorf("branch json = %+v", br)
	}
}

// A plugin added after the last `graft lock` is reported, not skipped, and its repository is
// not contacted (this one is unreachable).
func TestOutdatedReportsPluginsNotLockedYet(t *testing.T) {
	f := newSiteFixture(t)
	r := f.repo("r.git")
	r.Commit("1.0")
	f.plugin("old", r.URL(), "main", "")
	f.mustRun("lock")
	f.plugin("new", "http://127.0.0.1:1/new.git", "v1.0.0", "")

	out := f.mustRun("outdated")
	lines := strings.Split(strings.TrimSpace(out), "\n")[1:] // after the base's line
	if len(lines) != 2 || lines[0] != "new: not locked yet; run `graft lock --changed`" || !strings.HasPrefix(lines[1], "old: branch main at ") {
		t.Errorf("outdated:\n%s", out)
	}
	var doc struct{ Plugins []map[string]any }
	if err := json.Unmarshal([]byte(f.mustRun("outdated", "--json")), &doc); err != nil || len(doc.Plugins) != 2 {
		t.Fatalf("json: %v %+v", err, doc)
	}
	if p := doc.Plugins[0]; p["plugin"] != "new" || p["not_locked"] != true || p["ref"] != "v1.0.0" {
		t.Errorf("not locked plugin in json = %v", p)
	}
	if p := doc.Plugins[1]; p["plugin"] != "old" || p["not_locked"] != nil {
		t.Errorf("locked plugin in json = %v", p)
	}

	// The other way round: locked, then its folder removed.
	f.plugin("new", r.URL(), "main", "")
	f.mustRun("lock")
	if err := os.RemoveAll(filepath.Join(f.dir, "plugins", "old")); err != nil {
		t.Fatal(err)
	}
	out = f.mustRun("outdated")
	lines = strings.Split(strings.TrimSpace(out), "\n")[1:]
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "new: branch main at ") ||
		lines[1] != "old: in graft.lock but plugins/old/plugin.toml is gone; run `graft lock --changed` to drop it" {
		t.Errorf("outdated:\n%s", out)
	}
	doc.Plugins = nil
	if err := json.Unmarshal([]byte(f.mustRun("outdated", "--json")), &doc); err != nil || len(doc.Plugins) != 2 ||
		doc.Plugins[1]["plugin"] != "old" || doc.Plugins[1]["removed"] != true || doc.Plugins[0]["removed"] != nil {
		t.Errorf("json: %v %+v", err, doc)
	}
}

// A base that names nothing is bad input at graft.toml's base (exit 2); one that cannot be
// reached is a failure (exit 1). Both name the file, line and key.
func TestLockBaseNotFound(t *testing.T) {
	f := newSiteFixture(t)
	r := f.repo("r.git")
	r.Commit("one")
	f.plugin("ok", r.URL(), "main", "")
	host, _, _ := strings.Cut(f.base, "/")
	cases := []struct {
		base, want string
		code       int
	}{
		{host + "/archivesspace:9.9.9", "graft.toml:1: base: image " + host + "/archivesspace:9.9.9: ", 2},
		{host + "/no-such-repo:1", "NAME_UNKNOWN", 2},
		{"oci-layout://missing", "graft.toml:1: base: image oci-layout://" + filepath.Join(f.dir, "missing") + ": no such folder", 2},
		{"missing.tar", "graft.toml:1: base: image missing.tar: no such file or folder", 2},
		{"127.0.0.1:1/x:1", "graft.toml:1: base: image 127.0.0.1:1/x:1: ", 1},
	}
	for _, c := range cases {
		f.base = c.base
		f.writeSite()
		code, _, errs := f.run("lock")
		if code != c.code || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("base %s: exit %d, stderr %q; want exit %d and one line with %q", c.base, code, errs, c.code, c.want)
		}
		if c.code == 2 && !strings.Contains(errs, "; fix base or put the image there") {
			t.Errorf("base %s: no advice in %q", c.base, errs)
		}
	}
}

// A git URL naming no repository, or an empty one, is bad input at source.git (exit 2).
func TestLockRepositoryNotFoundIsBadInput(t *testing.T) {
	f := newSiteFixture(t)
	f.repo("empty.git")
	for url, want := range map[string]string{
		f.httpURL("missing.git"): "repository not found",
		f.httpURL("empty.git"):   "repository is empty",
		"../no-such-folder":      "repository not found",
	} {
		f.plugin("p", url, "main", "")
		code, _, errs := f.run("lock")
		prefix := filepath.Join(f.dir, "plugins", "p", "plugin.toml") + ":2: source.git: plugin p: "
		if code != 2 || !strings.Contains(errs, prefix) || !strings.Contains(errs, want) || !strings.Contains(errs, "; fix git") {
			t.Errorf("git = %s: exit %d: %s\nwant exit 2, %q and %q", url, code, errs, prefix, want)
		}
	}
}

// -C naming a file, or a file called plugins, are usage errors (exit 2) saying what to do.
func TestLockSiteFolderMistakes(t *testing.T) {
	f := newSiteFixture(t)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"-C", filepath.Join(f.dir, "graft.toml"), "lock"}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "graft.toml is a file, not a folder; run graft in a site repository") {
		t.Errorf("-C FILE: exit %d: %s", code, errb.String())
	}
	f.write("plugins", "oops")
	code, _, errs := f.run("lock")
	if code != 2 || !strings.Contains(errs, filepath.Join(f.dir, "plugins")+" is not a folder; plugins/ holds one folder per plugin") {
		t.Errorf("plugins file: exit %d: %s", code, errs)
	}
}

func TestLockReplacesUnreadableLock(t *testing.T) {
	f := newSiteFixture(t)
	r := f.repo("r.git")
	c := r.Commit("one")
	f.plugin("p", r.URL(), "main", "")
	f.write("graft.lock", "version = 1\n<<<<<<< HEAD\ndefinitions = 'a'\n=======\n")
	code, _, errs := f.run("lock", "--check")
	if code != 2 || !strings.Contains(errs, "graft.lock:2") || !strings.Contains(errs, "run `graft lock`") {
		t.Errorf("check on a conflicted lock: exit %d: %s", code, errs)
	}
	if code, _, _ := f.run("lock", "--update", "p"); code != 2 {
		t.Errorf("--update on a conflicted lock: exit %d", code)
	}
	f.mustRun("lock")
	if got := pluginLock(t, f.lock(), "p"); got.Commit != c {
		t.Errorf("p = %+v", got)
	}
}

func TestLockUpdateStillResolvesChangedDefinitions(t *testing.T) {
	f := newSiteFixture(t)
	a, b := f.repo("a.git"), f.repo("b.git")
	a.Commit("a1")
	b1 := b.Commit("b1")
	b.Tag("v1")
	f.plugin("a", a.URL(), "main", "")
	f.plugin("b", b.URL(), "main", "")
	f.mustRun("lock")
	b2 := b.Commit("b2")
	// b now asks for a tag: its old pin no longer matches its definition, so it is resolved
	// even though only a is named.
	f.plugin("b", b.URL(), "v1", "")
	f.mustRun("lock", "--update", "a")
	if got := pluginLock(t, f.lock(), "b"); got.Commit != b1 || got.Kind != "tag" {
		t.Errorf("b = %+v, want tag v1 at %s (branch is at %s)", got, b1, b2)
	}
	if code, out, _ := f.run("lock", "--check"); code != 0 {
		t.Errorf("check after update: exit %d\n%s", code, out)
	}
}

func TestLockCheckBaseMoved(t *testing.T) {
	f := newSiteFixture(t)
	f.mustRun("lock")
	// The same tag now names another image, as when a vendor re-publishes 4.1.1.
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.ParseReference(f.base)
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	code, out, _ := f.run("lock", "--check")
	want := fmt.Sprintf("base %s: the tag now names %s, not the locked %s (the image was rebuilt or re-pushed under the same tag); run `graft lock --update base`\n", f.base, d, f.baseDigest)
	if code != 1 || out != want {
		t.Errorf("exit %d, want 1 and %q:\n%s", code, want, out)
	}
	f.mustRun("lock")
	if got := f.lock().Base.Digest; got != d.String() {
		t.Errorf("base digest %s, want %s", got, d)
	}
}

func TestLockTimeout(t *testing.T) {
	f := newSiteFixture(t)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hang.Close)
	f.plugin("slow", hang.URL+"/slow.git", "main", "")
	start := time.Now()
	code, _, errs := f.run("lock", "--timeout", "300ms")
	if code != 1 || !strings.Contains(errs, "plugin slow (ref main): "+hang.URL+"/slow.git: no answer within 300ms") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
}

func TestRelockCostsOneRequestPerUnchangedPlugin(t *testing.T) {
	var requests atomic.Int64
	f := newSiteFixture(t, gittest.WithMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			next.ServeHTTP(w, r)
		})
	}))
	r := f.repo("r.git")
	r.Commit("one")
	r.AnnotatedTag("v1", "x")
	for _, n := range []string{"a", "b", "c"} {
		f.plugin(n, f.httpURL("r.git"), "v1", "")
	}
	f.plugin("d", f.httpURL("r.git"), "main", "")
	f.mustRun("lock")
	if got := requests.Swap(0); got != 8 {
		t.Errorf("first lock: %d requests, want 8 (list + fetch per plugin)", got)
	}
	before := f.lockBytes()
	f.mustRun("lock")
	if got := requests.Swap(0); got != 4 {
		t.Errorf("re-lock: %d requests, want 4 (one listing per plugin)", got)
	}
	if !bytes.Equal(before, f.lockBytes()) {
		t.Error("re-lock changed the lock")
	}
	r.Write(map[string]string{"x": "y"})
	c2 := r.Commit("two")
	f.mustRun("lock")
	if got := requests.Swap(0); got != 5 {
		t.Errorf("one moved branch: %d requests, want 5", got)
	}
	if d := pluginLock(t, f.lock(), "d"); d.Commit != c2 || d.Title != "two" {
		t.Errorf("d = %+v", d)
	}
}

// editLock replaces old with new in graft.lock, as a hand edit would.
func (f *siteFixture) editLock(old, new string) {
	f.t.Helper()
	data := string(f.lockBytes())
	if !strings.Contains(data, old) {
		f.t.Fatalf("graft.lock lacks %q:\n%s", old, data)
	}
	f.write("graft.lock", strings.Replace(data, old, new, 1))
}

func TestLockCheckRefusesEditedGitRefKind(t *testing.T) {
	f := newSiteFixture(t)
	good, evil := f.repo("good.git"), f.repo("evil.git")
	c1 := good.Commit("one")
	good.Tag("v1")
	evil.Commit("evil")
	evil.Tag("v1")
	f.plugin("p", good.URL(), "v1", "")
	f.plugin("pinned", good.URL(), c1, "")
	f.mustRun("lock")
	locked := f.lockBytes()
	cases := []struct {
		name, old, new string
		want           []string
	}{
		{"git", "git = '" + good.URL() + "'", "git = '" + evil.URL() + "'",
			[]string{"plugin p: git is \"" + evil.URL() + "\" in graft.lock but \"" + good.URL() + "\" in plugins/p/plugin.toml"}},
		{"ref", "ref = 'v1'", "ref = 'v2'", []string{`plugin p: ref is "v2" in graft.lock but "v1" in plugins/p/plugin.toml`}},
		// Offline: a full SHA names a commit, never a tag.
		{"kind of a SHA", "kind = 'commit'", "kind = 'tag'",
			[]string{`plugin pinned: kind is "tag" in graft.lock but ref "` + c1 + `" of plugins/pinned/plugin.toml names a commit`}},
		// Online: v1 could be a branch, but the repository has it as a tag.
		{"kind of a name", "kind = 'tag'", "kind = 'branch'",
			[]string{`plugin p: kind is "branch" in graft.lock but ref "v1" of plugins/p/plugin.toml names a tag`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.write("graft.lock", string(locked))
			f.editLock(c.old, c.new)
			code, out, errs := f.run("lock", "--check")
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", code, out, errs)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	// The JSON form names the key and both values.
	f.write("graft.lock", string(locked))
	f.editLock("git = '"+good.URL()+"'", "git = '"+evil.URL()+"'")
	code, out, _ := f.run("lock", "--check", "--json")
	var doc struct{ Drift []lockfile.Drift }
	if err := json.Unmarshal([]byte(out), &doc); code != 1 || err != nil || len(doc.Drift) != 1 ||
		doc.Drift[0] != (lockfile.Drift{Plugin: "p", What: "lock-edited", Key: "git", Line: doc.Drift[0].Line, Ref: "v1", Old: evil.URL(), New: good.URL()}) ||
		doc.Drift[0].Line == 0 {
		t.Errorf("check --json: exit %d, %v, %+v", code, err, doc)
	}
	// graft lock itself repairs it.
	f.mustRun("lock")
	if !bytes.Equal(f.lockBytes(), locked) {
		t.Errorf("graft lock did not restore the lock:\n%s", f.lockBytes())
	}
}

// A hand-edited commit is named as an edited lock at its line, not as a moved branch or tag:
// the check asks the repository about the locked commit once the ref names another. A branch
// that really moved still says so.
func TestLockCheckNamesAnEditedCommit(t *testing.T) {
	f := newSiteFixture(t)
	r := f.repo("p.git")
	r.Write(map[string]string{"a.txt": "one"})
	c1 := r.Commit("one")
	r.Write(map[string]string{"a.txt": "two"})
	c2 := r.Commit("two")
	r.Tag("v2")
	f.plugin("p", f.httpURL("p.git"), "main", "")
	f.plugin("t", f.httpURL("p.git"), "v2", "")
	f.plugin("pinned", f.httpURL("p.git"), c2, "")
	f.mustRun("lock")
	locked := string(f.lockBytes())
	commitLine := func(lock, plugin string) string {
		i := strings.Index(lock, "name = '"+plugin+"'")
		j := strings.Index(lock[i:], "commit = ")
		return fmt.Sprintf("graft.lock:%d: plugin.commit: ", strings.Count(lock[:i+j], "\n")+1)
	}
	for _, c := range []struct{ name, plugin, to, want string }{
		{"older commit", "p", c1, "that commit holds tree"},
		{"older commit of a tag", "t", c1, "that commit holds tree"},
		{"commit of a SHA pin", "pinned", c1, `plugin pinned: commit is "` + c1 + `" in graft.lock but plugins/pinned/plugin.toml pins commit "` + c2 + `"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			i := strings.Index(locked, "name = '"+c.plugin+"'")
			edited := locked[:i] + strings.Replace(locked[i:], "commit = '"+c2+"'", "commit = '"+c.to+"'", 1)
			f.write("graft.lock", edited)
			code, out, errs := f.run("lock", "--check")
			if code != 1 || !strings.Contains(out, commitLine(edited, c.plugin)+"plugin "+c.plugin+": ") ||
				!strings.Contains(out, c.want) || strings.Contains(out, "moved") {
				t.Fatalf("exit %d, want 1 naming %s%s\n%s%s", code, commitLine(edited, c.plugin), c.want, out, errs)
			}
		})
	}
	// A commit the repository does not have may be an edit or a rewritten history: the check
	// says both.
	gone := strings.Repeat("ab", 20)
	f.write("graft.lock", strings.Replace(locked, "commit = '"+c2+"'", "commit = '"+gone+"'", 1))
	if code, out, _ := f.run("lock", "--check"); code != 1 ||
		!strings.Contains(out, "plugin p: branch main moved: "+gone+" -> "+c2+" ("+gone+" is no longer on any branch or tag: the history was rewritten, or graft.lock edited)") {
		t.Fatalf("missing commit: exit %d\n%s", code, out)
	}
	// A branch that moved is still reported as moved.
	f.write("graft.lock", locked)
	r.Write(map[string]string{"a.txt": "three"})
	c3 := r.Commit("three")
	code, out, _ := f.run("lock", "--check")
	if code != 1 || !strings.Contains(out, "plugin p: branch main moved: "+c2+" -> "+c3) || strings.Contains(out, "plugin.commit") {
		t.Fatalf("moved branch: exit %d\n%s", code, out)
	}
}

// Counts and durations that cannot work are usage errors, one line each, before any work.
func TestLimitFlagsExit2(t *testing.T) {
	f := newSiteFixture(t)
	for _, args := range [][]string{
		{"lock", "--jobs", "0"}, {"lock", "--jobs", "-1"}, {"lock", "--timeout", "-1s"}, {"lock", "--timeout", "0s"},
		{"lock", "--check", "--jobs", "0"}, {"outdated", "--jobs", "-1"}, {"outdated", "--timeout", "-1s"},
		{"build", "--jobs", "0"}, {"build", "--jobs", "-1"},
	} {
		code, out, errs := f.run(args...)
		flag := args[len(args)-2]
		if code != 2 || !strings.HasPrefix(errs, "graft: "+flag+" "+args[len(args)-1]+": give a") ||
			strings.Count(strings.TrimSpace(errs), "\n") > 0 || out != "" {
			t.Errorf("graft %s: exit %d, stdout %q, stderr %q; want exit 2 and one line about %s", strings.Join(args, " "), code, out, errs, flag)
		}
	}
}

// path = "." is the whole repository: locked without a path, with the root tree, and the lock
// stays up to date.
func TestLockPathDotIsTheWholeRepository(t *testing.T) {
	f := newSiteFixture(t)
	r := f.repo("r.git")
	r.Write(map[string]string{"a.rb": "a", "sub/b.rb": "b"})
	r.Commit("one")
	f.plugin("p", r.URL(), "main", "path = \".\"\n")
	f.mustRun("lock")
	pk := pluginLock(t, f.lock(), "p")
	if pk.Path != "" || pk.Tree != rev(r, "HEAD^{tree}") {
		t.Fatalf("path %q tree %s, want no path and the root tree %s", pk.Path, pk.Tree, rev(r, "HEAD^{tree}"))
	}
	if code, out, errs := f.run("lock", "--check"); code != 0 {
		t.Fatalf("check: exit %d\n%s%s", code, out, errs)
	}
}

// `lock --update OTHER` re-resolves an entry graft.lock got wrong by hand instead of keeping it.
func TestLockUpdateRepairsEditedEntries(t *testing.T) {
	f := newSiteFixture(t)
	r := f.repo("r.git")
	c1 := r.Commit("one")
	f.plugin("a", r.URL(), c1, "")
	f.plugin("b", r.URL(), "main", "")
	f.mustRun("lock")
	locked := f.lockBytes()
	f.editLock("kind = 'commit'", "kind = 'branch'")
	f.mustRun("lock", "--update", "b")
	if !bytes.Equal(f.lockBytes(), locked) {
		t.Errorf("lock --update b kept a's edited kind:\n%s", f.lockBytes())
	}
}
