package lockfile

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/graft-build/graft/internal/imageref"
)

func sampleLock() *Lock {
	return &Lock{Version: LockVersion, Definitions: "sha256:aa", Base: BaseLock{Ref: "r/a:1", Digest: "sha256:" + strings.Repeat("b", 64)},
		Plugins: []PluginLock{
			{Name: "zeta", Git: "https://h/z.git", Ref: "main", Kind: KindBranch, Commit: strings.Repeat("1", 40), Title: "z", Tree: strings.Repeat("3", 40), Definition: "d"},
			{Name: "alpha", Git: "../a.git", Ref: "v1", Kind: KindTag, Commit: strings.Repeat("2", 40), Title: "quote \" and 'x'",
				Tags: []string{"v1", "latest", "stable"}, Tree: strings.Repeat("3", 40), Definition: "d"},
		}}
}

func TestMarshalDeterministicAndRoundTrips(t *testing.T) {
	a, err := Marshal(sampleLock())
	if err != nil {
		t.Fatal(err)
	}
	shuffled := sampleLock()
	shuffled.Plugins[0], shuffled.Plugins[1] = shuffled.Plugins[1], shuffled.Plugins[0]
	shuffled.Plugins[0].Tags = []string{"stable", "v1", "latest"}
	b, err := Marshal(shuffled)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("same lock, different bytes:\n%s\n---\n%s", a, b)
	}
	if strings.Index(string(a), "alpha") > strings.Index(string(a), "zeta") || !strings.Contains(string(a), "tags = ['latest', 'stable', 'v1']") {
		t.Errorf("not sorted:\n%s", a)
	}
	back, err := ParseLock("graft.lock", a)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Marshal(back)
	if !bytes.Equal(a, again) {
		t.Errorf("round trip changed the lock:\n%s\n---\n%s", a, again)
	}
}

func TestWriteLockAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, LockFile)
	if err := WriteLock(path, sampleLock()); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("left files behind: %v", ents)
	}
	// A failing rename (the target is a non-empty folder, which fails even for root) leaves
	// no temporary file behind.
	dir2 := t.TempDir()
	blocked := filepath.Join(dir2, LockFile)
	os.MkdirAll(filepath.Join(blocked, "x"), 0o755)
	if err := WriteLock(blocked, sampleLock()); err == nil {
		t.Fatal("write over a folder succeeded")
	}
	if ents, _ := os.ReadDir(dir2); len(ents) != 1 {
		t.Errorf("temporary file left behind: %v", ents)
	}
}

func TestParseLockErrors(t *testing.T) {
	_, err := ParseLock("graft.lock", []byte("version = 7\ndefinitions = \"x\"\n[[plugin]]\nname = \"a\"\ncommit = \"abc\"\n"))
	if err == nil || !strings.Contains(err.Error(), "graft.lock:1: version: format version 7") ||
		!strings.Contains(err.Error(), "graft.lock:5: plugin.commit: \"abc\" is not a full 40-character commit SHA; graft.lock was edited by hand") {
		t.Errorf("got %v", err)
	}
	// A hand edit of a good lock: every damaged value is named at its own line, in its entry.
	good, err := Marshal(sampleLock())
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(good), "kind = 'branch'", "kind = 'brnach'", 1)
	edited = strings.Replace(edited, "name = 'zeta'", "name = 'alpha'", 1)
	edited = strings.Replace(edited, "tree = '"+strings.Repeat("3", 40)+"'", "tree = 'abc'", 1)
	edited = strings.Replace(edited, "digest = 'sha256:", "digest = 'sha256:x", 1)
	_, err = ParseLock("graft.lock", []byte(edited))
	line := func(s string) string { return strconv.Itoa(strings.Count(edited[:strings.Index(edited, s)], "\n") + 1) }
	for _, want := range []string{
		"graft.lock:" + line("digest = ") + ": base.digest: \"sha256:x",
		"graft.lock:" + line("tree = 'abc'") + ": plugin.tree: \"abc\" is not a full 40-character tree SHA",
		"graft.lock:" + line("name = 'alpha'\ngit = 'https") + ": plugin.name: plugin \"alpha\" is locked twice",
		"graft.lock:" + line("kind = 'brnach'") + ": plugin.kind: \"brnach\" is not branch, tag, commit, local, url, maven or oci",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	_, err = ParseLock("graft.lock", []byte("version = 1\nsurprise = 1\n"))
	if err == nil || err.Error() != "graft.lock:2: surprise: unknown key; graft.lock is generated: delete it and run `graft lock`" {
		t.Errorf("got %v", err)
	}
	// Merge conflict markers: a syntax error whose advice is to regenerate, not to fix the line.
	_, err = ParseLock("graft.lock", []byte("version = 1\n<<<<<<< HEAD\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "graft.lock:2: TOML syntax error: ") ||
		!strings.HasSuffix(err.Error(), "; graft.lock is generated: delete it and run `graft lock`") || strings.Contains(err.Error(), "fix the line") {
		t.Errorf("got %v", err)
	}
}

func TestProjectPathsAndDigest(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, s string) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(s), 0o644)
	}
	write("graft.toml", "base = \"oci-layout://images/base:v1\"\nplugins_dir = \"/p\"\n\n[[mirror]]\nprefix = \"https://github.com/\"\nurl = \"https://mirror.example/gh/\"\n[[mirror]]\nprefix = \"https://github.com/lyrasis/\"\nurl = \"../mirrors/lyrasis/\"\n")
	write("plugins/b/plugin.toml", "[source]\ngit = \"https://github.com/other/b.git\"\nref = \"main\"\n")
	write("plugins/a/plugin.toml", "[source]\ngit = \"https://github.com/lyrasis/a.git\"\nref = \"main\"\n")
	write("plugins/README.md", "not a plugin")
	write("plugins/c/plugin.toml", "[source]\ngit = \"../repos/c.git\"\nref = \"main\"\n")
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Plugins) != 3 || p.Plugins[0].Name != "a" || p.Lock != nil {
		t.Fatalf("plugins %+v", p.Plugins)
	}
	if got := p.SourceURL(p.Plugins[0]); got != filepath.Join(filepath.Dir(dir), "mirrors/lyrasis/a.git") {
		t.Errorf("longest mirror, relative to the site: %s", got)
	}
	if got := p.SourceURL(p.Plugins[1]); got != "https://mirror.example/gh/other/b.git" {
		t.Errorf("mirror: %s", got)
	}
	if got := p.SourceURL(p.Plugins[2]); got != filepath.Join(filepath.Dir(dir), "repos/c.git") {
		t.Errorf("relative path: %s", got)
	}
	ref, err := p.BaseRef()
	if err != nil || ref.Kind != imageref.Layout || ref.Dir != filepath.Join(dir, "images/base") || ref.Tag != "v1" {
		t.Errorf("base %+v %v", ref, err)
	}
	if err := p.CheckFresh(); err == nil || !strings.Contains(err.Error(), "run `graft lock`") {
		t.Errorf("no lock: %v", err)
	}
	d1 := p.DefinitionsDigest()
	// Moving a definition to another plugin name changes the digest even with equal contents.
	os.Rename(filepath.Join(dir, "plugins/c"), filepath.Join(dir, "plugins/d"))
	p2, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p2.DefinitionsDigest() == d1 {
		t.Error("renaming a plugin folder did not change the definitions digest")
	}
	os.MkdirAll(filepath.Join(dir, "plugins/empty"), 0o755)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), filepath.Join("plugins", "empty", "plugin.toml")+": not found") {
		t.Errorf("folder without plugin.toml: %v", err)
	}
}

// Dotted numeric tags of any length are versions (issue 12: v1.0 was "up to date" beside
// v1.1 ... v1.5.5); semver pre-release order still holds.
func TestVersionOrder(t *testing.T) {
	order := []string{"v0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11",
		"1.0.0-rc.1", "v1.0.0", "1.0.1", "v1.1", "v1.1.0.1", "v1.5", "v1.5.5", "1.10.0", "2.0.0", "v2.0.0.1", "2024.01.15"}
	for i := 0; i+1 < len(order); i++ {
		a, okA := parseVersion(order[i])
		b, okB := parseVersion(order[i+1])
		if !okA || !okB || a.compare(b) >= 0 || b.compare(a) <= 0 {
			t.Errorf("%s < %s failed (parsed %v %v)", order[i], order[i+1], okA, okB)
		}
	}
	for _, eq := range [][2]string{{"v1.0", "1.0.0"}, {"V1.1", "v1.1.0.0"}, {"1.2.3+build.7", "1.2.3"}} {
		a, _ := parseVersion(eq[0])
		b, _ := parseVersion(eq[1])
		if a.compare(b) != 0 {
			t.Errorf("%s != %s", eq[0], eq[1])
		}
	}
	// Release dates as one number (the Aeon plugin's 20180726) are versions, ordered as dates.
	for _, pair := range [][2]string{{"20180726", "20190101"}, {"20181231", "20240115"}} {
		a, okA := parseVersion(pair[0])
		b, okB := parseVersion(pair[1])
		if !okA || !okB || !a.date || a.compare(b) >= 0 {
			t.Errorf("%s < %s failed (parsed %v %v)", pair[0], pair[1], okA, okB)
		}
	}
	for _, bad := range []string{"1", "v2", "1.", ".1", "1..2", "v1.x.0", "release-1", "", "v", "1.0-", "1.2.3.4.5.6.7.8.9",
		"99999999999999999999.0", "1.0 ", "+1.0", "20181301", "20180700", "12345678", "201807260", "2018072"} {
		if _, ok := parseVersion(bad); ok {
			t.Errorf("%q parsed as a version", bad)
		}
	}
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"v1.0", "1.0.0-rc.1+b", "2024.01.15", "v1.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := parseVersion(s)
		if !ok {
			return
		}
		if v.compare(v) != 0 || (len(v.nums) < 2 && !v.date) || len(v.nums) > maxParts {
			t.Fatalf("%q: %+v", s, v)
		}
	})
}

func FuzzParseLock(f *testing.F) {
	seed, _ := Marshal(sampleLock())
	f.Add(seed)
	f.Add([]byte("version = 1\n<<<<<<< HEAD\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseLock("graft.lock", data)
		if err != nil {
			assertFormatError(t, err)
			return
		}
		if l.Version != LockVersion {
			t.Fatalf("accepted version %d", l.Version)
		}
		if _, err := Marshal(l); err != nil {
			t.Fatalf("cannot re-encode an accepted lock: %v", err)
		}
	})
}

// A local entry round-trips without git, ref, commit or title; one that lost its folder or
// gained a commit is refused.
func TestLocalLockEntry(t *testing.T) {
	l := sampleLock()
	l.Plugins = append(l.Plugins, PluginLock{Name: "cam", Kind: KindLocal, Local: "files", Tree: strings.Repeat("4", 40), Definition: "d"})
	data, err := Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	want := "[[plugin]]\nname = 'cam'\nkind = 'local'\nlocal = 'files'\ntree = '" + strings.Repeat("4", 40) + "'\ndefinition = 'd'\n"
	if !strings.Contains(string(data), want) {
		t.Fatalf("marshalled:\n%s", data)
	}
	back, err := ParseLock("graft.lock", data)
	if c := back.Plugins[1]; err != nil || c.Name != "cam" || c.Kind != KindLocal || c.Local != "files" || c.Tree != strings.Repeat("4", 40) ||
		c.Commit != "" || c.Git != "" {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	for edit, msg := range map[string]string{
		"local = 'files'\n": "plugin \"cam\" is local but has no local folder",
		"kind = 'local'\n":  "kind = 'local'\ncommit = '" + strings.Repeat("5", 40) + "'\n",
	} {
		bad := strings.Replace(string(data), edit, "", 1)
		if strings.HasPrefix(msg, "kind") {
			bad = strings.Replace(string(data), edit, msg, 1)
			msg = "plugin.commit: a local plugin has no commit"
		}
		if _, err := ParseLock("graft.lock", []byte(bad)); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v", msg, err)
		}
	}
}
