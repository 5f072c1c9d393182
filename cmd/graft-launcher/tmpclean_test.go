package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tmpConfig writes a launcher.toml with tmp_dir, port_dir and plugins_dir and one process
// that ends at once (no component: the run ends 0 once tmp is cleaned and it has run).
func tmpConfig(t *testing.T, dir, tmp, ports, plugins string) string {
	t.Helper()
	return writeConfig(t, dir, fmt.Sprintf("tmp_dir = %q\nport_dir = %q\nplugins_dir = %q\n\n[[process]]\nname = \"once\"\ncommand = [\"true\"]\n", tmp, ports, plugins))
}

// inMountNamespace runs script (sh) in a private mount namespace of its own; its mounts vanish
// when it ends. It returns the exit code and the combined output.
func inMountNamespace(t *testing.T, environ []string, script string) (int, string) {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount namespace tests need unshare (util-linux) and root (unshare: %v, euid %d)", err, os.Geteuid())
		}
		t.Skipf("mount namespace tests need unshare and root (unshare: %v, euid %d)", err, os.Geteuid())
	}
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-ec", script)
	cmd.Env = environ
	out, _ := cmd.CombinedOutput()
	return cmd.ProcessState.ExitCode(), string(out)
}

// Bind mounts of the same filesystem inside tmp_dir (a folder, at any depth, and a file),
// made in the container's own mount namespace, are left alone: what they show stays intact,
// each is named in the log, the rest of tmp is emptied and the run goes on.
func TestRunLeavesBindMountsInTmpAlone(t *testing.T) {
	dir := t.TempDir()
	tmp, data := filepath.Join(dir, "tmp"), filepath.Join(dir, "data")
	intactData := tree(t, data)
	intactDir := tree(t, dir)
	for _, d := range []string{"vol", "a/b/vol"} {
		must(t, os.MkdirAll(filepath.Join(tmp, d), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(tmp, "mounted.db"), nil, 0o644))
	must(t, os.WriteFile(filepath.Join(tmp, "a", "stale.pid"), []byte("1"), 0o644))
	must(t, os.WriteFile(filepath.Join(tmp, "stale.lock"), nil, 0o644))
	cfg := tmpConfig(t, dir, tmp, filepath.Join(dir, "ports"), filepath.Join(dir, "plugins"))
	code, out := inMountNamespace(t, env(cfg), fmt.Sprintf(`cd %q
mount --bind data tmp/vol
mount --bind data tmp/a/b/vol
mount --bind precious.db tmp/mounted.db
%q run`, dir, launcherBin))
	intactData()
	intactDir()
	if code != 0 {
		t.Fatalf("exit %d, want 0:\n%s", code, out)
	}
	for _, m := range []string{"vol", "a/b/vol", "mounted.db"} {
		if want := "graft-launcher: tmp_dir: left " + filepath.Join(tmp, m) + " alone: it is a mount point\n"; !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, gone := range []string{"stale.lock", "a/stale.pid"} {
		if _, err := os.Lstat(filepath.Join(tmp, gone)); err == nil {
			t.Errorf("%s not removed", gone)
		}
	}
}

// A plugins_dir or port_dir that is a symlink into tmp_dir (or sits under a symlinked folder
// pointing there) is inside it: refused as bad configuration before anything is removed.
func TestRunRefusesProtectedPathsSymlinkedIntoTmp(t *testing.T) {
	for _, c := range []struct{ name, plugins, ports string }{
		{"plugins_dir", "plugins", "ports"},
		{"port_dir", "plugins", "ports"},
		{"plugins_dir under a symlinked folder", "app/plugins", "ports"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			tmp := filepath.Join(dir, "tmp")
			inTmp := tree(t, tmp)
			plugins, ports := filepath.Join(dir, c.plugins), filepath.Join(dir, c.ports)
			switch c.name {
			case "plugins_dir":
				must(t, os.Symlink(filepath.Join(tmp, "a"), plugins))
			case "port_dir":
				must(t, os.Symlink("tmp/a/b", ports))
			default:
				must(t, os.Symlink("tmp", filepath.Join(dir, "app")))
			}
			code, stderr := runIn(t, dir, env(tmpConfig(t, dir, tmp, ports, plugins)), "run")
			if code != 2 || !strings.Contains(stderr, "which the launcher also uses") || !strings.Contains(stderr, "through a symlink: "+tmp+"/") ||
				strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want exit 2 naming the real path", code, stderr)
			}
			inTmp()
		})
	}
}

// A symlinked folder above tmp_dir is followed (merged-/usr style images, /var/run -> /run):
// the real folder is emptied, `config` says which; a link that another user owns is refused,
// since that user could point it at any folder.
func TestRunThroughSymlinkedAncestorOfTmp(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "srv", "app")
	must(t, os.MkdirAll(filepath.Join(real, "tmp", "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(real, "tmp", "sub", "stale.pid"), nil, 0o644))
	beside := tree(t, real)
	link := filepath.Join(dir, "app")
	must(t, os.Symlink(real, link))
	tmp := filepath.Join(link, "tmp")
	cfg := tmpConfig(t, dir, tmp, filepath.Join(dir, "ports"), filepath.Join(link, "plugins"))

	cmd := exec.Command(launcherBin, "config")
	cmd.Env = env(cfg)
	out, err := cmd.CombinedOutput()
	if want := fmt.Sprintf("tmp_dir = %q  # emptied at %q (a folder above it is a symlink)\n", tmp, filepath.Join(real, "tmp")); err != nil || !strings.Contains(string(out), want) {
		t.Errorf("config: %v, output lacks %q:\n%s", err, want, out)
	}
	if code, stderr := runIn(t, dir, env(cfg), "run"); code != 0 {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	if entries, _ := os.ReadDir(filepath.Join(real, "tmp")); len(entries) != 0 {
		t.Fatalf("real tmp not emptied: %v", entries)
	}
	beside()

	if os.Geteuid() != 0 {
		t.Skip("needs root to make a symlink owned by another user")
	}
	must(t, os.WriteFile(filepath.Join(real, "tmp", "kept"), nil, 0o644))
	must(t, os.Lchown(link, 65534, 65534))
	code, stderr := runIn(t, dir, env(cfg), "run")
	if want := "its folder " + link + " is a symlink owned by uid 65534"; code != 2 || !strings.Contains(stderr, want) {
		t.Fatalf("exit %d, stderr %q; want exit 2 and %q", code, stderr, want)
	}
	if _, err := os.Stat(filepath.Join(real, "tmp", "kept")); err != nil {
		t.Fatal("tmp emptied through a link another user owns")
	}
}
