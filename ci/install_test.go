package ci

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// releaseDist is goreleaser's snapshot folder (.ci/run makes it; without CI the tests skip).
func releaseDist(t *testing.T) string {
	t.Helper()
	dist := os.Getenv(EnvReleaseDist)
	if dist == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no %s: .ci/run runs goreleaser first", EnvReleaseDist)
		}
		t.Skipf("%s not set (run: go run github.com/goreleaser/goreleaser/v2@v2.15.1 release --snapshot --clean; %s=$PWD/dist)", EnvReleaseDist, EnvReleaseDist)
	}
	return dist
}

// snapshotVersion is the version goreleaser's snapshot stamps (.goreleaser.yaml).
const snapshotVersion = "v0.0.0-snapshot"

// actionStep is the run script of one of action.yml's steps, with its env declarations.
func actionStep(t *testing.T, name string) (run string, env map[string]any) {
	t.Helper()
	meta := readYAML(t, filepath.Join(root, "action.yml"))
	for _, st := range meta["runs"].(map[string]any)["steps"].([]any) {
		m := st.(map[string]any)
		if m["name"] == name {
			env, _ := m["env"].(map[string]any)
			run, _ := m["run"].(string)
			return run, env
		}
	}
	t.Fatalf("action.yml has no step %q", name)
	return "", nil
}

// runInstallStep runs an install step of the action as a runner would (bash -e), the action's
// own folder as GITHUB_ACTION_PATH.
func runInstallStep(t *testing.T, step string, vars map[string]string) (out string, outputs string, err error) {
	t.Helper()
	run, _ := actionStep(t, step)
	abs, _ := filepath.Abs(root)
	ghOut := filepath.Join(t.TempDir(), "github_output")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GITHUB_ACTION_PATH=" + vars["GITHUB_ACTION_PATH"],
		"GITHUB_OUTPUT=" + ghOut, "GOCACHE=" + goEnv(t, "GOCACHE"), "GOMODCACHE=" + goEnv(t, "GOMODCACHE")}
	if vars["GITHUB_ACTION_PATH"] == "" {
		env[2] = "GITHUB_ACTION_PATH=" + abs
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	cmd := exec.Command("bash", "-e", "-c", run)
	cmd.Env = env
	b, err := cmd.CombinedOutput()
	o, _ := os.ReadFile(ghOut)
	return string(b), string(o), err
}

func goEnv(t *testing.T, key string) string {
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// serveDist serves the snapshot as a release download folder; tamper, when set, replaces
// checksums.txt.
func serveDist(t *testing.T, dist, tamper string) string {
	files := http.FileServer(http.Dir(dist))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/download/"+snapshotVersion)
		if !ok {
			http.NotFound(w, r)
			return
		}
		if tamper != "" && rest == "/checksums.txt" {
			w.Write([]byte(tamper))
			return
		}
		r.URL.Path = rest
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/download/" + snapshotVersion
}

// The Action installs the release it is pinned at from the archive, checksum verified, with
// `graft version` checked: no Go involved, seconds.
func TestActionInstallsTheRelease(t *testing.T) {
	dist := releaseDist(t)
	_, env := actionStep(t, "Install graft from a release")
	if env["GRAFT_VERSION"] != "${{ github.action_ref }}" {
		t.Fatalf("the install step takes GRAFT_VERSION from %v, want the action's own ref", env["GRAFT_VERSION"])
	}
	bin := t.TempDir()
	start := time.Now()
	out, outputs, err := runInstallStep(t, "Install graft from a release", map[string]string{
		"GRAFT_VERSION": snapshotVersion, "GRAFT_BIN": bin, "GRAFT_RELEASE_URL": serveDist(t, dist, ""), "PATH": "/usr/bin:/bin"})
	took := time.Since(start)
	if err != nil || !strings.Contains(outputs, "installed=true") {
		t.Fatalf("install: %v, outputs %q\n%s", err, outputs, out)
	}
	v, err := exec.Command(filepath.Join(bin, "graft"), "version").Output()
	if err != nil || !strings.HasPrefix(string(v), "graft "+snapshotVersion+" ") {
		t.Fatalf("installed graft says %q, %v", v, err)
	}
	t.Logf("installed %s in %s", strings.TrimSpace(string(v)), took.Round(time.Millisecond))
}

// An archive that does not match checksums.txt is refused, and nothing is installed.
func TestActionRefusesATamperedRelease(t *testing.T) {
	dist := releaseDist(t)
	sums, err := os.ReadFile(filepath.Join(dist, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	// Every archive's checksum changed in its first digit; names untouched.
	var bad strings.Builder
	for _, line := range strings.SplitAfter(string(sums), "\n") {
		if line == "" {
			continue
		}
		first := byte('0')
		if line[0] == '0' {
			first = '1'
		}
		bad.WriteString(string(first) + line[1:])
	}
	bin := t.TempDir()
	out, outputs, err := runInstallStep(t, "Install graft from a release", map[string]string{
		"GRAFT_VERSION": snapshotVersion, "GRAFT_BIN": bin, "GRAFT_RELEASE_URL": serveDist(t, dist, bad.String())})
	if err == nil || !strings.Contains(out, "refusing it") || strings.Contains(outputs, "installed=true") {
		t.Fatalf("tampered release: %v, outputs %q\n%s", err, outputs, out)
	}
	if _, err := os.Stat(filepath.Join(bin, "graft")); err == nil {
		t.Fatal("a tampered graft was installed")
	}
}

// A ref with no release (a branch, or a version not published) falls back to building graft
// from the action's source with Go; the source build then works.
func TestActionBuildsFromSourceWithoutRelease(t *testing.T) {
	dist := releaseDist(t)
	unpublished := strings.Replace(serveDist(t, dist, ""), snapshotVersion, "v9.9.9", 1)
	for _, v := range []string{"main", "v9.9.9"} {
		out, outputs, err := runInstallStep(t, "Install graft from a release", map[string]string{
			"GRAFT_VERSION": v, "GRAFT_BIN": t.TempDir(), "GRAFT_RELEASE_URL": unpublished})
		if err != nil || !strings.Contains(outputs, "installed=false") {
			t.Fatalf("%s: %v, outputs %q\n%s", v, err, outputs, out)
		}
	}
	if testing.Short() {
		t.Skip("-short: not building graft from source")
	}
	src := copyCheckout(t)
	bin := t.TempDir()
	start := time.Now()
	out, _, err := runInstallStep(t, "Build graft from source (no release for this ref)", map[string]string{
		"GRAFT_SRC": src, "GRAFT_BIN": bin, "GITHUB_ACTION_PATH": src})
	if err != nil {
		t.Fatalf("source build: %v\n%s", err, out)
	}
	v, err := exec.Command(filepath.Join(bin, "graft"), "version").Output()
	if err != nil || !strings.HasPrefix(string(v), "graft ") {
		t.Fatalf("built graft says %q, %v", v, err)
	}
	t.Logf("built %s from source in %s", strings.TrimSpace(string(v)), time.Since(start).Round(time.Millisecond))
}

// copyCheckout copies the files git tracks (as they are in the work tree) to a new folder, so
// the source build's `go generate` writes there and not into this checkout.
func copyCheckout(t *testing.T) string {
	t.Helper()
	abs, _ := filepath.Abs(root)
	list, err := exec.Command("git", "-C", abs, "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	dst := t.TempDir()
	for _, f := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		data, err := os.ReadFile(filepath.Join(abs, f))
		if err != nil {
			continue // deleted in the work tree
		}
		info, _ := os.Stat(filepath.Join(abs, f))
		os.MkdirAll(filepath.Join(dst, filepath.Dir(f)), 0o755)
		if err := os.WriteFile(filepath.Join(dst, f), data, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
