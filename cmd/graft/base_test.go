package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// pushRandom pushes a new random image as ref and returns its digest.
func pushRandom(t *testing.T, ref string) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func shortD(d string) string { return d[:len("sha256:")+12] }

// The base's whole loop: a rebuild under the same tag and newer version tags make a scheduled
// `outdated --exit-code` fail; `lock --update base` refreshes the base alone (a moved branch
// stays locked) and shows [was OLD]; `lock --bump base` rewrites only the base value of
// graft.toml; at the newest tag it says so in one line.
func TestBaseOutdatedUpdateAndBump(t *testing.T) {
	f := newSiteFixture(t)
	f.extraSite = "# the official image\nowner = \"1000:1000\"\n"
	f.writeSite()
	r := f.repo("r.git")
	c1 := r.Commit("one")
	f.plugin("p", r.URL(), "main", "")
	f.mustRun("lock")
	repo := strings.TrimSuffix(f.base, ":4.1.1")

	code, out, _ := f.run("outdated", "--exit-code")
	if want := fmt.Sprintf("base: %s at %s: up to date\n", f.base, shortD(f.baseDigest)); code != 0 || !strings.HasPrefix(out, want) {
		t.Fatalf("nothing newer: exit %d\n%s\nwant %s", code, out, want)
	}

	// Newer tags of every shape; only the three-number releases without a suffix are offered.
	for _, tag := range []string{"4.1.2", "4.2.0", "4.10.0", "4.2", "5", "4.2.0-rc1", "4.2.0-jdk17", "v4.3.0", "latest", "4.0.9"} {
		pushRandom(t, repo+":"+tag)
	}
	code, out, _ = f.run("outdated", "--exit-code")
	want := fmt.Sprintf("base: %s at %s: newer tags: 4.1.2, 4.2.0, 4.10.0 (to bump: graft lock --bump base)\n", f.base, shortD(f.baseDigest))
	if code != 1 || !strings.HasPrefix(out, want) {
		t.Fatalf("newer tags: exit %d\n%s\nwant %s", code, out, want)
	}

	// A security rebuild under the same tag.
	rebuilt := pushRandom(t, f.base)
	code, out, _ = f.run("outdated", "--exit-code")
	want = fmt.Sprintf("base: %s at %s: rebuilt: the tag now names %s (to refresh: graft lock --update base); newer tags: 4.1.2, 4.2.0, 4.10.0 (to bump: graft lock --bump base)\n",
		f.base, shortD(f.baseDigest), shortD(rebuilt))
	if code != 1 || !strings.HasPrefix(out, want) {
		t.Fatalf("rebuilt: exit %d\n%s\nwant %s", code, out, want)
	}
	var doc struct {
		Base struct {
			Ref, Locked, Digest, Tag string
			NewerTags                []struct{ Tag string } `json:"newer_tags"`
		}
	}
	if err := json.Unmarshal([]byte(f.mustRun("outdated", "--json")), &doc); err != nil || doc.Base.Digest != rebuilt ||
		doc.Base.Locked != f.baseDigest || doc.Base.Tag != "4.1.1" || len(doc.Base.NewerTags) != 3 || doc.Base.NewerTags[2].Tag != "4.10.0" {
		t.Fatalf("json: %v %+v", err, doc)
	}

	// --update base: the base alone, though the plugin's branch moved meanwhile.
	r.Commit("two")
	out = f.mustRun("lock", "--update", "base")
	if !strings.Contains(out, fmt.Sprintf("base: %s -> %s [was %s]\n", f.base, rebuilt, shortD(f.baseDigest))) {
		t.Fatalf("update base:\n%s", out)
	}
	if l := f.lock(); l.Base.Digest != rebuilt || pluginLock(t, l, "p").Commit != c1 {
		t.Fatalf("after --update base: base %s, plugin %s", l.Base.Digest, pluginLock(t, l, "p").Commit)
	}

	// --bump base: graft.toml's base value, and nothing else, moves to the newest tag.
	before, _ := os.ReadFile(filepath.Join(f.dir, "graft.toml"))
	newest := pushRandom(t, repo+":4.10.0")
	code, out, errOut := f.run("lock", "--bump", "base")
	if code != 0 {
		t.Fatalf("bump base: exit %d\n%s%s", code, out, errOut)
	}
	after, _ := os.ReadFile(filepath.Join(f.dir, "graft.toml"))
	if wantToml := strings.Replace(string(before), ":4.1.1\"", ":4.10.0\"", 1); string(after) != wantToml {
		t.Fatalf("graft.toml:\n%s\nwant:\n%s", after, wantToml)
	}
	for _, line := range []string{
		fmt.Sprintf("base: %s -> %s:4.10.0 (%s -> %s), wrote graft.toml\n", f.base, repo, shortD(rebuilt), shortD(newest)),
		fmt.Sprintf("base: %s:4.10.0 -> %s [was %s %s]\n", repo, newest, f.base, shortD(rebuilt)),
	} {
		if !strings.Contains(out, line) {
			t.Errorf("bump output lacks %q:\n%s", line, out)
		}
	}
	if l := f.lock(); l.Base.Ref != repo+":4.10.0" || l.Base.Digest != newest || pluginLock(t, l, "p").Commit != c1 {
		t.Fatalf("lock after bump: %+v", l.Base)
	}
	if code, out, _ := f.run("lock", "--check"); code != 1 || strings.Contains(out, "base") || strings.Contains(out, "graft.toml") {
		t.Fatalf("check after bump (only the branch drifts): exit %d\n%s", code, out)
	}

	// At the newest tag: one line, nothing written.
	lock := f.lockBytes()
	code, out, _ = f.run("lock", "--bump", "base")
	if want := fmt.Sprintf("base: %s:4.10.0 at %s is the newest tag; nothing to bump\n", repo, shortD(newest)); code != 0 || out != want || string(f.lockBytes()) != string(lock) {
		t.Fatalf("bump at newest: exit %d\n%q\nwant %q", code, out, want)
	}

	// A base pinned by digest cannot be bumped: exit 2 at graft.toml's base line.
	f.base = repo + "@" + newest
	f.writeSite()
	f.mustRun("lock")
	if code, _, errOut := f.run("lock", "--bump", "base"); code != 2 || !strings.Contains(errOut, "graft.toml:1: base: base \""+f.base+"\" names no tag") {
		t.Fatalf("digest base: exit %d %s", code, errOut)
	}
	if code, out, _ := f.run("outdated", "--exit-code"); code != 0 || !strings.HasPrefix(out, fmt.Sprintf("base: %s at %s: up to date\n", f.base, shortD(newest))) {
		t.Fatalf("digest base outdated: exit %d\n%s", code, out)
	}
}

// A release tag moved to another commit (a re-tag) is outdated, says it deserves review, and
// fails --exit-code; a deleted tag too.
func TestOutdatedMovedAndDeletedTags(t *testing.T) {
	f := newSiteFixture(t)
	r := f.repo("r.git")
	c1 := r.Commit("1.0")
	r.AnnotatedTag("v1.0", "release")
	r.Tag("v0.9")
	f.plugin("moved", f.httpURL("r.git"), "v1.0", "")
	f.plugin("deleted", r.URL(), "v0.9", "")
	f.mustRun("lock")
	c2 := r.Commit("1.0, fixed")
	r.AnnotatedTag("v1.0", "release again")
	r.DeleteTag("v0.9")

	code, out, _ := f.run("outdated", "--exit-code")
	for _, want := range []string{
		fmt.Sprintf("moved: tag v1.0 at %s: tag moved: now at %s, the release was re-tagged (review it, then: graft lock --update moved)\n", c1[:12], c2[:12]),
		fmt.Sprintf("deleted: tag v0.9 at %s: tag v0.9 no longer exists; pick another ref in plugins/deleted/plugin.toml; newer tags: v1.0 (to bump: graft lock --bump deleted)\n", c1[:12]),
	} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("exit %d, want 1 and %q:\n%s", code, want, out)
		}
	}
	var doc struct {
		Plugins []struct {
			Plugin, Moved string
			Gone          bool
		}
	}
	if err := json.Unmarshal([]byte(f.mustRun("outdated", "--json")), &doc); err != nil || len(doc.Plugins) != 2 ||
		!doc.Plugins[0].Gone || doc.Plugins[1].Moved != c2 {
		t.Fatalf("json: %v %+v", err, doc)
	}
}

// lock --check's lines: a plugin.toml edit that leaves the commit alone says so once and
// points at --changed; a moved release tag asks for review.
func TestLockCheckWording(t *testing.T) {
	f := newSiteFixture(t)
	r := f.repo("r.git")
	c1 := r.Commit("one")
	r.Tag("v1.0")
	f.plugin("p", f.httpURL("r.git"), "v1.0", "")
	f.plugin("q", f.httpURL("r.git"), "v1.0", "")
	f.mustRun("lock")

	f.plugin("p", f.httpURL("r.git"), "v1.0", "[config]\nsnippet = \"AppConfig[:x] = 1\"\n")
	code, out, _ := f.run("lock", "--check")
	if want := fmt.Sprintf("plugin p: plugin.toml changed since graft.lock was written (ref v1.0, still at %s); run `graft lock --changed`\n", c1); code != 1 || out != want {
		t.Fatalf("exit %d\n%q\nwant %q", code, out, want)
	}
	f.mustRun("lock", "--changed")

	c2 := r.Commit("two")
	r.Tag("v1.0")
	code, out, _ = f.run("lock", "--check")
	want := ""
	for _, pl := range []string{"p", "q"} {
		want += fmt.Sprintf("plugin %s: tag v1.0 moved: %s -> %s: the release was re-tagged; review what %s holds before taking it with `graft lock --update %s`\n", pl, c1, c2, c2, pl)
	}
	if code != 1 || out != want {
		t.Fatalf("exit %d\n%q\nwant %q", code, out, want)
	}
}
