package localtree

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/graft-build/graft/internal/gittest"
	"github.com/graft-build/graft/internal/usererr"
)

func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		mode := os.FileMode(0o644)
		if n, ok := strings.CutSuffix(name, "@x"); ok {
			name, mode = n, 0o755
		}
		p := filepath.Join(root, name)
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
}

func git(t *testing.T, dir string, args ...string) string {
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

// The hash is git's own: the same as `git rev-parse HEAD:folder` after committing the folder,
// with executable bits, symlinks, nested folders, git's name order ("a.b" < "a/" < "a0")
// and empty folders (which git drops) — and it does not change by committing.
func TestHashIsGitsTreeHash(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // no user core.excludesFile from this machine
	gittest.RequireGit(t)
	site := t.TempDir()
	dir := filepath.Join(site, "plugins", "cam", "files")
	write(t, dir, map[string]string{
		"README.md":           "hello\n",
		"bin/run.sh@x":        "#!/bin/sh\necho hi\n",
		"a.b":                 "x",
		"a/inner.rb":          "puts 1\n",
		"a0":                  "y",
		"frontend/views/x.rb": "",
		"group-exec@x":        "z",
	})
	if err := os.Chmod(filepath.Join(dir, "group-exec"), 0o654); err != nil { // group x only: git says 100644
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "empty", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a/inner.rb", filepath.Join(dir, "link.rb")); err != nil {
		t.Fatal(err)
	}
	// Files git ignores (.gitignore above and inside the folder, .git/info/exclude) are not
	// part of the tree; a negated pattern brings one back.
	write(t, site, map[string]string{
		".gitignore":                   "*.log\n!keep.log\n",
		"plugins/cam/files/.gitignore": "build/\n",
		"plugins/cam/files/debug.log":  "noise",
		"plugins/cam/files/keep.log":   "kept",
		"plugins/cam/files/build/x.o":  "obj",
		"plugins/cam/files/a/x.swp":    "swap",
	})
	git(t, site, "init", "-q")
	write(t, site, map[string]string{".git/info/exclude": "*.swp\n"})
	before, err := Read(site, dir, "plugins/cam/files")
	if err != nil {
		t.Fatal(err)
	}
	git(t, site, "add", "-A")
	git(t, site, "commit", "-q", "-m", "site")
	want := git(t, site, "rev-parse", "HEAD:plugins/cam/files")
	if before.Hash != want {
		t.Fatalf("hash %s, git says %s", before.Hash, want)
	}
	after, err := Read(site, dir, "plugins/cam/files")
	if err != nil || after.Hash != want {
		t.Fatalf("after commit: %v %v", after, err)
	}
	modes := map[string]filemode.FileMode{}
	for _, f := range before.Files {
		modes[f.Path] = f.Mode
	}
	for p, m := range map[string]filemode.FileMode{"bin/run.sh": filemode.Executable, "group-exec": filemode.Regular,
		"link.rb": filemode.Symlink, "a": filemode.Dir, "README.md": filemode.Regular} {
		if modes[p] != m {
			t.Errorf("%s: mode %v, want %v", p, modes[p], m)
		}
	}
	for _, p := range []string{"empty", "debug.log", "build", "build/x.o", "a/x.swp"} {
		if _, ok := modes[p]; ok {
			t.Errorf("%s listed: %v", p, modes)
		}
	}
	if modes["keep.log"] != filemode.Regular || modes[".gitignore"] != filemode.Regular {
		t.Errorf("keep.log or .gitignore missing: %v", modes)
	}
	// One changed byte, one mode bit: another hash.
	write(t, dir, map[string]string{"README.md@x": "hello\n"})
	changed, err := Read(site, dir, "plugins/cam/files")
	if err != nil || changed.Hash == want {
		t.Fatalf("chmod +x did not change the hash: %v %v", changed, err)
	}
}

func TestRefusesWhatEscapesOrCannotBeInstalled(t *testing.T) {
	outside := t.TempDir()
	write(t, outside, map[string]string{"secret": "s"})
	for name, setup := range map[string]func(dir string) string{
		"absolute symlink": func(dir string) string {
			must(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "s")))
			return `files/s: symlink to the absolute path`
		},
		"dotdot symlink": func(dir string) string {
			must(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
			must(t, os.Symlink("../../x", filepath.Join(dir, "sub", "up")))
			return `files/sub/up: symlink to "../../x" leaves files`
		},
		"nested git": func(dir string) string {
			must(t, os.MkdirAll(filepath.Join(dir, "vendor", ".git"), 0o755))
			return "files/vendor/.git: a .git inside a local source"
		},
		"fifo": func(dir string) string {
			must(t, syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644))
			return "files/pipe is a named pipe"
		},
	} {
		t.Run(name, func(t *testing.T) {
			site := t.TempDir()
			dir := filepath.Join(site, "files")
			write(t, dir, map[string]string{"ok.txt": "ok"})
			want := setup(dir)
			_, err := Read(site, dir, "files")
			if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), want) {
				t.Fatalf("err %v, want bad input containing %q", err, want)
			}
		})
	}
	// The folder itself a symlink out of the site repository.
	site := t.TempDir()
	must(t, os.Symlink(outside, filepath.Join(site, "files")))
	if _, err := Read(site, filepath.Join(site, "files"), "files"); err == nil || !usererr.Is(err) ||
		!strings.Contains(err.Error(), "outside the site repository") {
		t.Fatalf("folder symlinked out: %v", err)
	}
	if _, err := Read(site, filepath.Join(site, "nope"), "nope"); err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "nope: not found") {
		t.Fatalf("missing folder: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// git's own exclude file is found where git finds it: core.excludesFile from its configuration
// files (the later wins), else $XDG_CONFIG_HOME/git/ignore, else ~/.config/git/ignore. Each
// case is checked against real git's answer (git add -A, then the folder's tree).
func TestGlobalExcludesAsGitFindsThem(t *testing.T) {
	gittest.RequireGit(t)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	for _, k := range []string{"GIT_CONFIG_GLOBAL", "GIT_CONFIG_COUNT", "GIT_DIR", "GIT_WORK_TREE"} {
		t.Setenv(k, "") // restored at the end
		os.Unsetenv(k)
	}
	for name, c := range map[string]struct {
		xdg    bool              // set XDG_CONFIG_HOME (to HOME/xdg)
		global bool              // set GIT_CONFIG_GLOBAL to "" (git then reads no global configuration)
		files  map[string]string // under HOME, or under the site for "site/..."
	}{
		"xdg ignore":         {xdg: true, files: map[string]string{"xdg/git/ignore": "*.tmp\n", ".config/git/ignore": "*.bak\n"}},
		"home config ignore": {files: map[string]string{".config/git/ignore": "*.bak\n"}},
		"xdg config excludesFile": {files: map[string]string{".config/git/config": "[core]\n\texcludesFile = ~/mine\n",
			"mine": "*.log\n", ".config/git/ignore": "*.tmp\n"}},
		"gitconfig wins over xdg config": {files: map[string]string{".config/git/config": "[core]\n\texcludesfile = ~/a\n",
			".gitconfig": "[core]\n\tExcludesFile = ~/b\n", "a": "*.log\n", "b": "*.bak\n"}},
		"GIT_CONFIG_GLOBAL set empty": {global: true, files: map[string]string{".gitconfig": "[core]\n\texcludesFile = ~/a\n", "a": "*.log\n",
			".config/git/ignore": "*.bak\n"}},
		"repository config": {files: map[string]string{".gitconfig": "[core]\n\texcludesFile = ~/a\n", "a": "*.log\n",
			"site/.git/config": "[core]\n\texcludesFile = .site-ignore\n", "site/.site-ignore": "*.tmp\n"}},
	} {
		t.Run(name, func(t *testing.T) {
			home := t.TempDir()
			t.Setenv("HOME", home)
			t.Setenv("XDG_CONFIG_HOME", "")
			if c.xdg {
				t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "xdg"))
			}
			if c.global {
				t.Setenv("GIT_CONFIG_GLOBAL", "")
			} else {
				os.Unsetenv("GIT_CONFIG_GLOBAL")
			}
			site := filepath.Join(t.TempDir(), "site")
			dir := filepath.Join(site, "files")
			write(t, dir, map[string]string{"keep.rb": "k", "x.tmp": "t", "y.bak": "b", "z.log": "l"})
			cmd := exec.Command("git", "init", "-q", site)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("git init: %v %s", err, out)
			}
			for p, content := range c.files {
				root := home
				if rest, ok := strings.CutPrefix(p, "site/"); ok {
					root, p = site, rest
				}
				write(t, root, map[string]string{p: content})
			}
			got, err := Read(site, dir, "files")
			if err != nil {
				t.Fatal(err)
			}
			// Real git, with the same environment.
			for _, args := range [][]string{{"add", "-A"}} {
				cmd := exec.Command("git", args...)
				cmd.Dir = site
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("git %v: %v %s", args, err, out)
				}
			}
			cmd = exec.Command("git", "write-tree", "--prefix=files/")
			cmd.Dir = site
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("git write-tree: %v", err)
			}
			if want := strings.TrimSpace(string(out)); got.Hash != want {
				t.Fatalf("tree %s (files %v), git says %s", got.Hash, got.Files, want)
			}
			if len(got.Files) == 4 {
				t.Fatalf("nothing was ignored: %v", got.Files)
			}
		})
	}
}
