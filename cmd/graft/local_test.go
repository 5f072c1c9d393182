package main

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/internal/gittest"
	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/lockfile"
)

func siteGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir(),
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t.invalid")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// Cambridge's case: a customisations plugin kept in the site repository beside its
// plugin.toml. Locking pins the folder's git tree hash; committing graft.lock with it keeps
// `lock --check` green (a `git = "."` source never could); a changed folder fails the check
// and the build; nothing outside the site repository gets in.
func TestLocalPluginLockCheckBuild(t *testing.T) {
	gittest.RequireGit(t)
	buildEnv(t)
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	s.Plugin("alpha", map[string]string{"a.txt": "alpha"}, "")
	s.WriteFile("plugins/cam/plugin.toml", "[source]\nlocal = \"files\"\n\n[launcher]\nhooks = [\"bin/start.sh\"]\n")
	s.WriteFile("plugins/cam/files/frontend/locales/en.yml", "en:\n  hello: Cambridge\n")
	s.WriteFile("plugins/cam/files/bin/start.sh", "#!/bin/sh\n")
	if err := os.Chmod(filepath.Join(s.Dir, "plugins/cam/files/bin/start.sh"), 0o755); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := graft(t, "lock", "-C", s.Dir)
	if code != 0 {
		t.Fatalf("lock: exit %d: %s", code, errOut)
	}
	lock, err := lockfile.ReadLock(filepath.Join(s.Dir, "graft.lock"))
	if err != nil {
		t.Fatal(err)
	}
	var cam lockfile.PluginLock
	for _, pk := range lock.Plugins {
		if pk.Name == "cam" {
			cam = pk
		}
	}
	if !strings.Contains(out, "cam: local files -> tree "+cam.Tree[:12]+" [new]") || cam.Kind != "local" {
		t.Fatalf("lock output:\n%s\nentry %+v", out, cam)
	}
	data, _ := os.ReadFile(filepath.Join(s.Dir, "graft.lock"))
	if strings.Contains(string(data), "commit = ''") || !strings.Contains(string(data), "local = 'files'") {
		t.Fatalf("graft.lock:\n%s", data)
	}

	// Commit everything, graft.lock included: git agrees on the tree and the check stays green.
	siteGit(t, s.Dir, "init", "-q")
	siteGit(t, s.Dir, "add", "-A")
	siteGit(t, s.Dir, "commit", "-q", "-m", "site")
	if want := siteGit(t, s.Dir, "rev-parse", "HEAD:plugins/cam/files"); want != cam.Tree {
		t.Fatalf("locked tree %s, git says %s", cam.Tree, want)
	}
	if code, out, errOut := graft(t, "lock", "-C", s.Dir, "--check"); code != 0 || !strings.Contains(out, "graft.lock is up to date") {
		t.Fatalf("check after commit: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = graft(t, "build", "-C", s.Dir)
	if code != 0 || !strings.Contains(errOut, "fetch  cam tree "+cam.Tree[:12]+" (local, 2 files)") {
		t.Fatalf("build: exit %d\n%s", code, errOut)
	}
	code, out, errOut = graft(t, "inspect", "oci-layout://"+filepath.Join(s.Dir, "out/image")+":latest")
	if code != 0 || !strings.Contains(out, cam.Tree+"  local files") {
		t.Fatalf("inspect: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := graft(t, "outdated", "-C", s.Dir); code != 0 || !strings.Contains(out, "cam: local files at tree "+cam.Tree[:12]) {
		t.Fatalf("outdated: exit %d\n%s", code, out)
	}

	// An edit to the folder, committed or not: check exits 1, build exits 2, both naming the trees.
	s.WriteFile("plugins/cam/files/frontend/locales/en.yml", "en:\n  hello: Cam\n")
	code, out, _ = graft(t, "lock", "-C", s.Dir, "--check")
	if code != 1 || !strings.Contains(out, "plugin cam: folder plugins/cam/files changed since graft.lock was written: tree "+cam.Tree+" -> ") {
		t.Fatalf("check after edit: exit %d\n%s", code, out)
	}
	code, _, errOut = graft(t, "build", "-C", s.Dir)
	if code != 2 || !strings.Contains(errOut, "plugin cam: folder plugins/cam/files changed since graft.lock was written (tree "+cam.Tree) {
		t.Fatalf("build after edit: exit %d\n%s", code, errOut)
	}
	if code, out, _ := graft(t, "lock", "-C", s.Dir); code != 0 || !strings.Contains(out, "[was "+cam.Tree[:12]+"]") {
		t.Fatalf("relock: exit %d\n%s", code, out)
	}

	// Escapes are bad input naming the file.
	outside := t.TempDir()
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(s.Dir, "plugins/cam/files/secret")); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = graft(t, "lock", "-C", s.Dir)
	if code != 2 || !strings.Contains(errOut, "plugin cam: plugins/cam/files/secret: symlink to the absolute path") {
		t.Fatalf("absolute symlink: exit %d\n%s", code, errOut)
	}
	os.Remove(filepath.Join(s.Dir, "plugins/cam/files/secret"))
	s.WriteFile("plugins/cam/plugin.toml", "[source]\nlocal = \"../../..\"\n")
	code, _, errOut = graft(t, "lock", "-C", s.Dir)
	if code != 2 || !strings.Contains(errOut, "plugins/cam/plugin.toml:2: source.local: \"../../..\" leaves the repository") {
		t.Fatalf("local ..: exit %d\n%s", code, errOut)
	}
	s.WriteFile("plugins/cam/plugin.toml", "[source]\nlocal = \"files\"\nref = \"main\"\n")
	code, _, errOut = graft(t, "lock", "-C", s.Dir)
	if code != 2 || !strings.Contains(errOut, "plugin.toml:3: source.ref: not allowed with local") {
		t.Fatalf("local with ref: exit %d\n%s", code, errOut)
	}
	// The folder itself a symlink out of the site repository.
	s.WriteFile("plugins/cam/plugin.toml", "[source]\nlocal = \"elsewhere\"\n")
	if err := os.Symlink(outside, filepath.Join(s.Dir, "plugins/cam/elsewhere")); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = graft(t, "lock", "-C", s.Dir)
	if code != 2 || !strings.Contains(errOut, "plugins/cam/elsewhere resolves to") || !strings.Contains(errOut, "outside the site repository") {
		t.Fatalf("folder symlinked out: exit %d\n%s", code, errOut)
	}
}

// A local plugin's files are hashed and layered as streams, like a git plugin's: graft lock
// and graft build of two 256 MiB files stay within the memory bound git plugins have (peak RSS
// ≤ 160 MB, measured by the kernel on a graft process of its own). Before, every file was held
// in memory (over 512 MB here). The files are sparse: cheap to make, as costly to read.
func TestLocalPluginStreamsBigFiles(t *testing.T) {
	gittest.RequireGit(t)
	buildEnv(t)
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	s.WriteFile("plugins/big/plugin.toml", "[source]\nlocal = \"files\"\n")
	const size = 256 << 20
	for _, name := range []string{"a.bin", "b.bin"} {
		s.WriteFile("plugins/big/files/"+name, "head of "+name)
		if err := os.Truncate(filepath.Join(s.Dir, "plugins/big/files", name), size); err != nil {
			t.Fatal(err)
		}
	}
	const bound = 160 << 20
	for _, args := range [][]string{{"lock", "-C", s.Dir}, {"build", "-C", s.Dir, "--progress", "quiet"}} {
		rss := peakRSS(t, args...)
		t.Logf("graft %s: peak RSS %d MiB", args[0], rss>>20)
		if rss > bound {
			t.Errorf("graft %s: peak RSS %d MiB, over %d MiB", args[0], rss>>20, bound>>20)
		}
	}
	// The layer holds the files whole.
	ref, _ := imageref.Parse("oci-layout://out/image", s.Dir)
	res, err := ref.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := res.Image.Layers()
	sizes := map[string]int64{}
	for _, l := range ls {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(h.Name, "/big/") {
				sizes[path.Base(h.Name)] = h.Size
			}
		}
		rc.Close()
	}
	if sizes["a.bin"] != size || sizes["b.bin"] != size {
		t.Fatalf("layer sizes %v", sizes)
	}
}

// peakRSS runs graft as a process of its own under GNU time and returns the kernel's peak RSS
// of it, in bytes. Not the child's ru_maxrss as this process sees it: a child Go starts (vfork,
// then exec) inherits this process's own peak, which other tests in the package have raised;
// time's fork from its own small memory starts graft's count afresh.
func peakRSS(t *testing.T, args ...string) int64 {
	t.Helper()
	if _, err := os.Stat("/usr/bin/time"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no /usr/bin/time (apt-get install time)")
		}
		t.Skip("no /usr/bin/time (apt-get install time) to measure graft's peak RSS")
	}
	report := filepath.Join(t.TempDir(), "time")
	cmd := graftProcess(args...)
	cmd.Args = append([]string{"/usr/bin/time", "-f", "%M", "-o", report, cmd.Path}, args...)
	cmd.Path = "/usr/bin/time"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("graft %s: %v\n%s", args[0], err, out)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	kib, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		t.Fatalf("GNU time said %q: %v", data, err)
	}
	return kib << 10
}
