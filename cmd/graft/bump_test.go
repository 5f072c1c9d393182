package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The case: locked at v1.0 while v1.1 ... v1.5.5 exist. outdated sees them (two- and
// four-part tags are versions), --exit-code fails, and --bump moves plugin.toml and graft.lock
// in one step, listing the commits in between for review.
func TestOutdatedExitCodeAndBump(t *testing.T) {
	f := newSiteFixture(t)
	r := f.repo("oauth.git")
	r.Write(map[string]string{"README": "1.0"})
	v10 := r.Commit("Release 1.0")
	r.Tag("v1.0")
	f.plugin("oauth", f.httpURL("oauth.git"), "v1.0", "# keep this comment\npath = \"\"\n\n[config]\nsnippet = 'ref = \"v1.0\"'\n")
	f.plugin("main", r.URL(), "main", "")
	f.mustRun("lock")
	if code, out, _ := f.run("outdated", "--exit-code"); code != 0 || strings.Count(out, "up to date") != 3 {
		t.Fatalf("nothing newer: exit %d\n%s", code, out)
	}
	var titles []string
	for _, v := range []string{"v1.1", "v1.2", "v1.5", "v1.5.5"} {
		title := "Release " + v
		titles = append(titles, title)
		r.Write(map[string]string{"README": v})
		r.Commit(title)
		if v == "v1.5.5" {
			r.AnnotatedTag(v, "annotated "+v)
		} else {
			r.Tag(v)
		}
	}
	r.Write(map[string]string{"README": "rc"})
	r.Commit("2.0 candidate")
	r.Tag("v2.0-rc1")
	r.Tag("v1.4.9.1") // four parts, below the newest
	r.Tag("nightly")

	code, out, _ := f.run("outdated", "--exit-code")
	if code != 1 || !strings.Contains(out, "oauth: tag v1.0 at "+v10[:12]+": newer tags: v1.1, v1.2, v1.4.9.1, v1.5, v1.5.5 (to bump: graft lock --bump oauth)") {
		t.Fatalf("outdated --exit-code: exit %d\n%s", code, out)
	}
	if code, _, _ := f.run("outdated"); code != 0 {
		t.Fatalf("without --exit-code: exit %d", code)
	}

	before, _ := os.ReadFile(filepath.Join(f.dir, "plugins/oauth/plugin.toml"))
	code, out, errOut := f.run("lock", "--bump", "oauth")
	if code != 0 {
		t.Fatalf("bump: exit %d\n%s%s", code, out, errOut)
	}
	after, _ := os.ReadFile(filepath.Join(f.dir, "plugins/oauth/plugin.toml"))
	want := strings.Replace(string(before), "ref = \"v1.0\"\n", "ref = \"v1.5.5\"\n", 1)
	if string(after) != want || string(after) == string(before) {
		t.Fatalf("plugin.toml:\n%s\nwant:\n%s", after, want)
	}
	v155 := rev(r, "v1.5.5^{commit}")
	if !strings.Contains(out, fmt.Sprintf("oauth: ref v1.0 -> v1.5.5 (%s -> %s), wrote plugins/oauth/plugin.toml", v10[:12], v155[:12])) {
		t.Fatalf("bump output:\n%s", out)
	}
	// Newest first, the four releases after v1.0 and nothing else.
	var listed []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "  - ") {
			listed = append(listed, l[4+13:])
		}
	}
	if strings.Join(listed, "|") != "Release v1.5.5|Release v1.5|Release v1.2|Release v1.1" {
		t.Fatalf("listed %q\n%s", listed, out)
	}
	pk := pluginLock(t, f.lock(), "oauth")
	if pk.Ref != "v1.5.5" || pk.Commit != v155 || pk.Kind != "tag" {
		t.Fatalf("lock entry %+v", pk)
	}
	// Only the branch (which the new commits moved) drifts, not the bumped plugin.
	if code, out, _ := f.run("lock", "--check"); code != 1 || strings.Contains(out, "oauth") || !strings.Contains(out, "plugin main: branch main moved") {
		t.Fatalf("check after bump: exit %d\n%s", code, out)
	}
	// Nothing newer (the rc is not offered to a release): nothing changes, and that one line
	// is all it says (no lock listing after it).
	lockBefore := f.lockBytes()
	code, out, _ = f.run("lock", "--bump", "oauth")
	if code != 0 || out != "oauth: tag v1.5.5 at "+v155[:12]+" is the newest; nothing to bump\n" ||
		string(f.lockBytes()) != string(lockBefore) {
		t.Fatalf("second bump: exit %d\n%s", code, out)
	}

	// A branch moves to its head; --json carries the commits.
	head := r.Commit("Fix on main")
	code, out, errOut = f.run("lock", "--bump", "main", "--json")
	var doc struct {
		Bumps []struct {
			NewCommit string `json:"new_commit"`
			History   struct {
				Commits []struct{ Title string }
			}
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Bumps) != 1 || doc.Bumps[0].NewCommit != head ||
		len(doc.Bumps[0].History.Commits) != 6 || doc.Bumps[0].History.Commits[0].Title != "Fix on main" {
		t.Fatalf("branch bump: exit %d\n%s%s", code, out, errOut)
	}
	if pluginLock(t, f.lock(), "main").Commit != head {
		t.Fatal("branch bump did not move the lock")
	}

	// Bad input: unknown plugin, a ref that is no version.
	if code, _, errOut := f.run("lock", "--bump", "nope"); code != 2 || !strings.Contains(errOut, "unknown plugin nope") {
		t.Fatalf("unknown: exit %d %s", code, errOut)
	}
	r.Tag("stable")
	f.plugin("stable", r.URL(), "stable", "")
	f.mustRun("lock")
	r.DeleteTag("v2.0-rc1")
	code, _, errOut = f.run("lock", "--bump", "stable")
	if code != 2 || !strings.Contains(errOut, `source.ref: plugin stable: ref "stable" is not a version tag and no version tag points at commit`) {
		t.Fatalf("not a version: exit %d %s", code, errOut)
	}
}

// More commits than the limit: the first 50 are listed and the rest is said to exist.
func TestBumpListsAtMostFiftyCommits(t *testing.T) {
	f := newSiteFixture(t)
	r := f.repo("r.git")
	r.Commit("first")
	r.Tag("1.0")
	f.plugin("p", f.httpURL("r.git"), "1.0", "")
	f.mustRun("lock")
	for i := range 60 {
		r.Commit(fmt.Sprintf("change %02d", i))
	}
	r.Tag("1.1")
	code, out, errOut := f.run("lock", "--bump", "p")
	if code != 0 || strings.Count(out, "\n  - ") != 51 || !strings.Contains(out, "  - ... (more commits; the first 50 are listed)") ||
		!strings.Contains(out, " change 59\n") || strings.Contains(out, " change 09\n") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

// A bump that cannot be resolved (the new release moved the plugin's folder) writes nothing:
// plugin.toml and graft.lock stay as they were.
func TestBumpFailureWritesNothing(t *testing.T) {
	f := newSiteFixture(t)
	r := f.repo("r.git")
	r.Write(map[string]string{"plugin/a.rb": "1"})
	r.Commit("1.0")
	r.Tag("v1.0")
	f.plugin("p", f.httpURL("r.git"), "v1.0", "path = \"plugin\"\n")
	f.mustRun("lock")
	r.Git("mv", "plugin", "src")
	r.Commit("2.0: plugin/ is now src/")
	r.Tag("v2.0")
	toml, _ := os.ReadFile(filepath.Join(f.dir, "plugins/p/plugin.toml"))
	lock := f.lockBytes()
	code, out, errOut := f.run("lock", "--bump", "p")
	if code != 2 || !strings.Contains(errOut, "source.path: plugin p:") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	after, _ := os.ReadFile(filepath.Join(f.dir, "plugins/p/plugin.toml"))
	if string(after) != string(toml) || string(f.lockBytes()) != string(lock) {
		t.Fatalf("files changed:\n%s", after)
	}
}
