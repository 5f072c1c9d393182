package tmpclean

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func mustWrite(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustExist(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); err != nil {
			t.Fatalf("%s was touched: %v", p, err)
		}
	}
}

func TestCleanRemovesContentsOnlyAndNeverFollowsSymlinksOut(t *testing.T) {
	base := t.TempDir()
	tmp := filepath.Join(base, "app", "tmp")
	outside := filepath.Join(base, "outside")
	mustWrite(t, filepath.Join(outside, "precious.txt"), "keep me")
	mustWrite(t, filepath.Join(base, "app", "sibling.txt"), "keep me too")
	mustWrite(t, filepath.Join(tmp, "server.pid"), "123")
	mustWrite(t, filepath.Join(tmp, "uploads", "deep", "half.bin"), "x")
	if err := os.Symlink(outside, filepath.Join(tmp, "link-to-dir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "precious.txt"), filepath.Join(tmp, "link-to-file")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../outside", filepath.Join(tmp, "uploads", "relative-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/", filepath.Join(tmp, "uploads", "root-link")); err != nil {
		t.Fatal(err)
	}
	// Read-only nested folder: it must still be emptied.
	if err := os.Chmod(filepath.Join(tmp, "uploads", "deep"), 0o555); err != nil {
		t.Fatal(err)
	}

	if _, err := Clean(tmp, nil); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatalf("tmp itself must remain: %v", err)
	}
	if len(entries) != 0 {
		t.Fatalf("tmp not empty: %v", entries)
	}
	mustExist(t, filepath.Join(outside, "precious.txt"), filepath.Join(base, "app", "sibling.txt"))
}

func TestCleanCreatesMissingDir(t *testing.T) {
	tmp := filepath.Join(t.TempDir(), "new", "tmp")
	if err := Check(tmp, nil); err != nil {
		t.Fatalf("a missing tmp_dir is not an error: %v", err)
	}
	if _, err := Clean(tmp, nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(tmp); err != nil || !fi.IsDir() {
		t.Fatalf("tmp not created: %v", err)
	}
}

// The paths that emptied / in a container: relative ones (resolved against the working
// directory, itself often /), the root however written, and the empty path.
func TestCleanRefusesRelativeAndRootPaths(t *testing.T) {
	base := t.TempDir()
	sentinel := filepath.Join(base, "keep")
	mustWrite(t, sentinel, "x")
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	if err := os.Chdir(filepath.Join(base)); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"", ".", "..", "../..", "tmp", "./", "/", "//", "/..", "/../..", "/tmp/..", "/./"} {
		if _, err := Clean(dir, nil); err == nil {
			t.Errorf("Clean(%q) must refuse", dir)
		}
		if err := Check(dir, nil); err == nil {
			t.Errorf("Check(%q) must refuse", dir)
		}
	}
	mustExist(t, sentinel)
}

func TestCleanRefusesASymlinkedTmpDir(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "data")
	mustWrite(t, filepath.Join(real, "db.sqlite"), "precious")
	link := filepath.Join(base, "tmp")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{link, link + "/", link + "/."} {
		_, err := Clean(dir, nil)
		if err == nil || !strings.Contains(err.Error(), "symlink") {
			t.Fatalf("Clean(%q) = %v, want a symlink refusal", dir, err)
		}
		if err := Check(dir, nil); err == nil {
			t.Fatalf("Check(%q) must refuse", dir)
		}
	}
	mustExist(t, filepath.Join(real, "db.sqlite"))
}

// tmp_dir may not be, or hold, a path the launcher uses, even when the two are spelled through
// different symlinks.
func TestCleanRefusesAFolderHoldingWhatTheLauncherUses(t *testing.T) {
	base := t.TempDir()
	app := filepath.Join(base, "app")
	plugins := filepath.Join(app, "plugins")
	mustWrite(t, filepath.Join(plugins, "oauth", "plugin.rb"), "code")
	ports := filepath.Join(base, "run", "ports")
	mustWrite(t, filepath.Join(ports, "backend.port"), "8089\n")
	alias := filepath.Join(base, "alias")
	if err := os.Symlink(app, alias); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		tmp       string
		protected []string
	}{
		{app, []string{plugins}},                            // holds the plugins
		{plugins, []string{plugins}},                        // is the plugins folder
		{ports, []string{ports}},                            // is port_dir
		{filepath.Join(base, "run"), []string{ports}},       // holds port_dir
		{app, []string{filepath.Join(alias, "plugins")}},    // holds them, spelled through a link
		{base, []string{filepath.Join(app, "config.rb")}},   // holds a template dest not yet written
		{app, []string{filepath.Join(plugins, "x", "t.r")}}, // holds a template src
	}
	for _, c := range cases {
		if err := Check(c.tmp, c.protected); err == nil || !strings.Contains(err.Error(), "launcher also uses") {
			t.Errorf("Check(%s, %v) = %v, want a refusal", c.tmp, c.protected, err)
		}
		if _, err := Clean(c.tmp, c.protected); err == nil {
			t.Errorf("Clean(%s, %v) must refuse", c.tmp, c.protected)
		}
	}
	mustExist(t, filepath.Join(plugins, "oauth", "plugin.rb"), filepath.Join(ports, "backend.port"))
	// A folder beside them is fine.
	tmp := filepath.Join(app, "tmp")
	mustWrite(t, filepath.Join(tmp, "x"), "")
	if _, err := Clean(tmp, []string{plugins, ports}); err != nil {
		t.Fatal(err)
	}
}

// inMountNamespace runs the calling test again in a private mount namespace of its own
// (unshare --mount), where it may mount freely and its mounts vanish with it. It returns true
// in that run, false in the outer one (which has checked that the inner run passed).
func inMountNamespace(t *testing.T) bool {
	t.Helper()
	if os.Getenv("TMPCLEAN_MOUNT_NS") == "1" {
		return true
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount tests need unshare (util-linux) and root (unshare: %v, euid %d)", err, os.Geteuid())
		}
		t.Skipf("mount tests need unshare and root (unshare: %v, euid %d)", err, os.Geteuid())
	}
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "TMPCLEAN_MOUNT_NS=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("in a mount namespace: %v\n%s", err, out)
	}
	return false
}

// mount runs mount(8) with args, the last being the mount point, and unmounts it when the
// test ends (before its temporary folders are removed).
func mount(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
		t.Fatalf("mount %v: %v\n%s", args, err, out)
	}
	t.Cleanup(func() { unix.Unmount(args[len(args)-1], unix.MNT_DETACH) })
}

// Every kind of mount inside tmp is left alone, at any depth, whichever way the walk tells
// mount points: a tmpfs (another device), a bind mount of a folder of the same filesystem
// (same device: only the mount ID tells it), a bind-mounted file. The folders holding them
// stay too; everything else goes.
func TestCleanLeavesMountPointsAlone(t *testing.T) {
	if !inMountNamespace(t) {
		return
	}
	for _, how := range []mountMode{mountsByStatx, mountsByTable} {
		base := t.TempDir()
		tmp := filepath.Join(base, "tmp")
		data := filepath.Join(base, "data")
		mustWrite(t, filepath.Join(data, "db", "precious"), "keep")
		mustWrite(t, filepath.Join(base, "secret.txt"), "keep")
		for _, d := range []string{"tmpfs", "bind", "deep/er/bind", "with space\tand\\"} {
			if err := os.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		mustWrite(t, filepath.Join(tmp, "file-mount"), "")
		mount(t, "-t", "tmpfs", "-o", "size=1m", "tmpfs", filepath.Join(tmp, "tmpfs"))
		mustWrite(t, filepath.Join(tmp, "tmpfs", "on-the-volume"), "keep")
		mount(t, "--bind", data, filepath.Join(tmp, "bind"))
		mount(t, "--bind", data, filepath.Join(tmp, "deep/er/bind"))
		mount(t, "--bind", data, filepath.Join(tmp, "with space\tand\\"))
		mount(t, "--bind", filepath.Join(base, "secret.txt"), filepath.Join(tmp, "file-mount"))
		mustWrite(t, filepath.Join(tmp, "deep", "stale"), "")
		mustWrite(t, filepath.Join(tmp, "stale", "x"), "")

		kept, err := clean(tmp, nil, how)
		if err != nil {
			t.Fatalf("mode %d: %v", how, err)
		}
		var got []string
		for _, k := range kept {
			got = append(got, strings.TrimPrefix(k.Path, tmp+"/")+": "+k.Reason)
		}
		slices.Sort(got)
		want := []string{"bind: it is a mount point", "deep/er/bind: it is a mount point", "file-mount: it is a mount point",
			"tmpfs: it is a mount point", "with space\tand\\: it is a mount point"}
		if !slices.Equal(got, want) {
			t.Errorf("mode %d: kept %q, want %q", how, got, want)
		}
		mustExist(t, filepath.Join(data, "db", "precious"), filepath.Join(base, "secret.txt"), filepath.Join(tmp, "tmpfs", "on-the-volume"))
		for _, gone := range []string{"stale", "deep/stale"} {
			if _, err := os.Lstat(filepath.Join(tmp, gone)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("mode %d: %s not removed: %v", how, gone, err)
			}
		}
	}
}

// plugins_dir bind-mounted from a folder inside tmp is the same folder by identity: the walk
// leaves it (and the folders holding it) alone, though no name says it is inside tmp.
func TestCleanLeavesProtectedReachedThroughABindMount(t *testing.T) {
	if !inMountNamespace(t) {
		return
	}
	base := t.TempDir()
	tmp := filepath.Join(base, "tmp")
	mustWrite(t, filepath.Join(tmp, "x", "plugins", "oauth", "plugin.rb"), "keep")
	mustWrite(t, filepath.Join(tmp, "x", "stale"), "")
	plugins := filepath.Join(base, "plugins")
	if err := os.Mkdir(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	mount(t, "--bind", filepath.Join(tmp, "x", "plugins"), plugins)
	kept, err := Clean(tmp, []string{plugins})
	if err != nil {
		t.Fatal(err)
	}
	want := []Kept{{filepath.Join(tmp, "x", "plugins"), "it is " + plugins + ", which the launcher also uses"}}
	if !slices.Equal(kept, want) {
		t.Fatalf("kept %v, want %v", kept, want)
	}
	mustExist(t, filepath.Join(plugins, "oauth", "plugin.rb"))
	if _, err := os.Lstat(filepath.Join(tmp, "x", "stale")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale not removed: %v", err)
	}
}

// A protected path that is a symlink into tmp (or has one among its folders, or names
// something not created yet under such a link) is inside tmp: refused before anything is
// removed, the message naming the real path.
func TestCleanRefusesProtectedSymlinkedIntoTmp(t *testing.T) {
	base := t.TempDir()
	tmp := filepath.Join(base, "app", "tmp")
	mustWrite(t, filepath.Join(tmp, "plugins", "oauth", "plugin.rb"), "keep")
	mustWrite(t, filepath.Join(tmp, "conf", "old.rb"), "keep")
	must(t, os.Symlink(filepath.Join(tmp, "plugins"), filepath.Join(base, "app", "plugins")))
	must(t, os.Symlink("tmp/conf", filepath.Join(base, "app", "conf")))            // relative
	must(t, os.Symlink("../app/tmp", filepath.Join(base, "app", "tmp-alias")))     // a symlinked folder
	must(t, os.Symlink(filepath.Join(tmp, "ports"), filepath.Join(base, "ports"))) // dangling: not made yet
	for _, c := range []struct{ protected, real string }{
		{filepath.Join(base, "app", "plugins"), filepath.Join(tmp, "plugins")},
		{filepath.Join(base, "app", "conf", "config.rb"), filepath.Join(tmp, "conf", "config.rb")},
		{filepath.Join(base, "app", "tmp-alias", "x", "y"), filepath.Join(tmp, "x", "y")},
		{filepath.Join(base, "ports"), filepath.Join(tmp, "ports")},
	} {
		want := "tmp_dir " + tmp + " holds " + c.protected + " (through a symlink: " + c.real + "), which the launcher also uses"
		if err := Check(tmp, []string{c.protected}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check: %v\nwant %q", err, want)
		}
		if _, err := Clean(tmp, []string{c.protected}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Clean: %v\nwant %q", err, want)
		}
	}
	mustExist(t, filepath.Join(tmp, "plugins", "oauth", "plugin.rb"), filepath.Join(tmp, "conf", "old.rb"))
}

// A symlinked folder above tmp_dir is followed: tmp_dir is emptied at its real path, and the
// checks apply to that path (a protected path reached by the real name is still inside).
// A link owned by another user than root or the launcher's is refused: that user could point
// it anywhere. The last component itself is never followed.
func TestCleanThroughASymlinkedAncestor(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "srv", "app")
	mustWrite(t, filepath.Join(real, "tmp", "stale"), "")
	mustWrite(t, filepath.Join(real, "plugins", "p"), "keep")
	link := filepath.Join(base, "app")
	must(t, os.Symlink(real, link))
	tmp := filepath.Join(link, "tmp")

	if got, err := RealPath(tmp); err != nil || got != filepath.Join(real, "tmp") {
		t.Fatalf("RealPath = %q, %v", got, err)
	}
	// tmp_dir reached through the link, the protected path by its real name (and the other
	// way round): both are inside tmp, both refused.
	for _, c := range [][2]string{{tmp, filepath.Join(real, "tmp", "ports")}, {filepath.Join(real, "tmp"), filepath.Join(tmp, "ports")}} {
		if err := Check(c[0], []string{c[1]}); err == nil || !strings.Contains(err.Error(), "launcher also uses") {
			t.Errorf("Check(%s, %s) = %v", c[0], c[1], err)
		}
	}
	kept, err := Clean(tmp, []string{filepath.Join(link, "plugins")})
	if err != nil || len(kept) != 0 {
		t.Fatalf("Clean = %v, %v", kept, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(real, "tmp")); len(entries) != 0 {
		t.Fatalf("real tmp not emptied: %v", entries)
	}
	mustExist(t, filepath.Join(real, "plugins", "p"))

	if os.Geteuid() != 0 {
		t.Skip("needs root to make a symlink owned by another user")
	}
	must(t, os.Lchown(link, 65534, 65534))
	mustWrite(t, filepath.Join(real, "tmp", "stale"), "")
	want := "its folder " + link + " is a symlink owned by uid 65534"
	if err := Check(tmp, nil); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Check = %v, want %q", err, want)
	}
	if _, err := Clean(tmp, nil); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Clean = %v, want %q", err, want)
	}
	mustExist(t, filepath.Join(real, "tmp", "stale"))
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/t\011x\012y\134z`: "/t\tx\ny\\z", `/plain`: "/plain", `/bad\9`: `/bad\9`} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The app (or an attacker in it) swaps folders inside tmp for symlinks to the outside while
// the launcher cleans: nothing outside may be removed, whoever wins each race.
func TestCleanRacingSymlinkSwapsNeverReachOutside(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	var sentinels []string
	for i := 0; i < 20; i++ {
		p := filepath.Join(outside, "d", strings.Repeat("x", i+1))
		mustWrite(t, p, "keep")
		sentinels = append(sentinels, p)
	}
	tmp := filepath.Join(base, "tmp")
	for round := 0; round < 30; round++ {
		for i := 0; i < 20; i++ {
			mustWrite(t, filepath.Join(tmp, "d"+strings.Repeat("y", i), "sub", "f"), "")
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				d := filepath.Join(tmp, "d"+strings.Repeat("y", n%20))
				os.RemoveAll(d)
				os.Symlink(filepath.Join(outside, "d"), d)
			}
		}()
		Clean(tmp, nil) // errors are fine here (entries vanish); escapes are not
		close(stop)
		wg.Wait()
		mustExist(t, sentinels...)
	}
}

func TestCheckPath(t *testing.T) {
	for in, want := range map[string]string{"/app/tmp": "/app/tmp", "/app/tmp/": "/app/tmp", "/app//x/../tmp": "/app/tmp"} {
		got, err := CheckPath(in)
		if err != nil || got != want {
			t.Errorf("CheckPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// Whatever path is given, an accepted one is absolute, clean and not the root.
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"/app/tmp", "..", "/", "//", "/a/../..", "a/b", "", "/./.", "/tmp/../../"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dir string) {
		got, err := CheckPath(dir)
		if err != nil {
			return
		}
		if !filepath.IsAbs(got) || filepath.Clean(got) != got || got == "/" {
			t.Fatalf("CheckPath(%q) accepted %q", dir, got)
		}
	})
}

// Clean given any path inside a sandbox, or the sandbox's parent, never removes the files it
// is told the launcher uses, nor a file beside the sandbox. (The root and other ancestors are
// FuzzCheckPath's: a bug found here must not empty this machine's folders.)
func FuzzCleanSandbox(f *testing.F) {
	for _, s := range []string{"tmp", "..", ".", "tmp/../..", "keep", "tmp/./x", "../sandbox/tmp", "link", "link/.", "keep/.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rel string) {
		outer := t.TempDir()
		base := filepath.Join(outer, "sandbox")
		keep := filepath.Join(base, "keep", "data")
		mustWrite(t, keep, "precious")
		mustWrite(t, filepath.Join(base, "tmp", "stale"), "")
		os.Symlink(filepath.Join(base, "keep"), filepath.Join(base, "link"))
		mustWrite(t, filepath.Join(outer, "beside"), "precious")
		// Only paths resolving inside the sandbox, or to one of its ancestors (which must be
		// refused), are tried: anything else would be a real folder of this machine.
		dir := filepath.Join(base, rel)
		if filepath.IsAbs(rel) {
			dir = filepath.Clean(rel)
		}
		inside := dir == base || strings.HasPrefix(dir, base+"/")
		if !inside && dir != outer {
			return
		}
		Clean(dir, []string{keep, filepath.Join(outer, "beside")})
		mustExist(t, keep, filepath.Join(outer, "beside"))
	})
}

// resolve agrees with filepath.EvalSymlinks wherever the path exists, through absolute,
// relative, chained and looping links; where it does not, it still answers (the missing tail
// joined as written) unless a link loops.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"a/b", "abs/b", "rel/../a", "chain/b/c", "loop/x", "dangling/x", "a/missing/../b", "file/x", "..", "./a//b/"} {
		f.Add(s)
	}
	base := f.TempDir()
	mustWrite(f, filepath.Join(base, "a", "b", "c"), "")
	mustWrite(f, filepath.Join(base, "file"), "")
	for link, target := range map[string]string{"abs": filepath.Join(base, "a"), "rel": "a/b/..", "chain": "rel/..//abs",
		"loop": "loop2", "loop2": "loop", "dangling": "nowhere/deeper", "a/up": "../a"} {
		must(f, os.Symlink(target, filepath.Join(base, link)))
	}
	f.Fuzz(func(t *testing.T, rel string) {
		p := filepath.Join(base, rel)
		if !strings.HasPrefix(p, base+"/") {
			return
		}
		got, _, err := resolve(p)
		want, werr := filepath.EvalSymlinks(p)
		switch {
		case werr == nil && (err != nil || got != want):
			t.Fatalf("resolve(%q) = %q, %v; EvalSymlinks = %q", p, got, err, want)
		case errors.Is(werr, os.ErrNotExist) && err != nil && !errors.Is(err, unix.ELOOP):
			t.Fatalf("resolve(%q): %v (EvalSymlinks: %v)", p, err, werr)
		}
	})
}
