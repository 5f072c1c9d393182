package tmpclean

import (
	"errors"
	"os"
	"path/filepath"
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

// A filesystem mounted inside tmp (a volume, a secret) is left alone, as rm --one-file-system
// does. Mounting needs CAP_SYS_ADMIN.
func TestCleanLeavesMountPointsAlone(t *testing.T) {
	tmp := t.TempDir()
	mnt := filepath.Join(tmp, "volume")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		if os.Getenv("CI") == "true" && os.Geteuid() == 0 && !errors.Is(err, unix.EPERM) {
			t.Fatalf("mount tmpfs: %v", err)
		}
		t.Skipf("cannot mount a tmpfs here (%v): needs CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	mustWrite(t, filepath.Join(mnt, "on-the-volume"), "keep")
	mustWrite(t, filepath.Join(tmp, "stale"), "")
	skipped, err := Clean(tmp, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 1 || skipped[0] != mnt {
		t.Fatalf("skipped = %v, want [%s]", skipped, mnt)
	}
	mustExist(t, filepath.Join(mnt, "on-the-volume"))
	if _, err := os.Stat(filepath.Join(tmp, "stale")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale file not removed: %v", err)
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
