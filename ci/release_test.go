package ci

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/graft-build/graft/internal/launcherbuild"
)

// EnvReleaseDist names goreleaser's dist folder (.ci/run sets it after a snapshot release).
const EnvReleaseDist = "GRAFT_RELEASE_DIST"

// unpack extracts an archive's files into dir and returns their names.
func unpack(t *testing.T, archive, dir string) []string {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Typeflag != tar.TypeReg || strings.Contains(h.Name, "/") {
			continue
		}
		out, err := os.OpenFile(filepath.Join(dir, h.Name), os.O_CREATE|os.O_WRONLY|os.O_EXCL, os.FileMode(h.Mode)&0o755)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(out, tr)
		out.Close()
	}
}

// graftBuild runs a graft binary's build of site with only git on PATH (no Go: the launchers
// must come from the binary itself or GRAFT_LAUNCHER_DIR) and returns the digest.
func graftBuild(t *testing.T, graft, site, launcherDir string) string {
	t.Helper()
	bin := t.TempDir()
	for _, tool := range []string{"git", "git-upload-pack"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skip(tool, "not found")
		}
		os.Symlink(p, filepath.Join(bin, tool))
	}
	cmd := exec.Command(graft, "build", "-C", site, "--progress", "quiet", "-o", "type=oci,dest="+filepath.Join(t.TempDir(), "img"))
	cmd.Env = []string{"PATH=" + bin, "HOME=" + t.TempDir(), "GRAFT_CACHE_DIR=" + t.TempDir(), "GRAFT_LAUNCHER_DIR=" + launcherDir}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s build: %v\n%s", graft, err, out)
	}
	return strings.TrimSpace(string(out))
}

// goreleaser's snapshot: four archives with checksums; the host's graft carries its version and
// builds an image with no Go installed, the same image a graft built from this checkout with
// launcherbuild's recipe at that version makes.
func TestReleaseArchives(t *testing.T) {
	dist := os.Getenv(EnvReleaseDist)
	if dist == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no %s: .ci/run runs goreleaser first", EnvReleaseDist)
		}
		t.Skipf("%s not set (run: go run github.com/goreleaser/goreleaser/v2@v2.15.1 release --snapshot --clean; %s=$PWD/dist)", EnvReleaseDist, EnvReleaseDist)
	}
	sums, err := os.Open(filepath.Join(dist, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer sums.Close()
	archives := map[string]string{}
	sc := bufio.NewScanner(sums)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		data, err := os.ReadFile(filepath.Join(dist, f[1]))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != f[0] {
			t.Errorf("%s: checksum mismatch", f[1])
		}
		for _, p := range []string{"linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64"} {
			if strings.HasSuffix(f[1], "_"+p+".tar.gz") {
				archives[p] = filepath.Join(dist, f[1])
			}
		}
	}
	if len(archives) != 4 {
		t.Fatalf("archives with checksums: %v", archives)
	}
	dir := t.TempDir()
	names := unpack(t, archives["linux_"+runtime.GOARCH], dir)
	if strings.Join(names, " ") != "README.md graft" && strings.Join(names, " ") != "graft README.md" {
		t.Errorf("archive holds %v", names)
	}
	graft := filepath.Join(dir, "graft")
	out, err := exec.Command(graft, "version").Output()
	fields := strings.Fields(string(out))
	if err != nil || len(fields) != 3 || !strings.HasPrefix(fields[1], "v") || fields[1] == "devel" {
		t.Fatalf("graft version: %q %v", out, err)
	}
	version := fields[1]

	s := site(t)
	released := graftBuild(t, graft, s.Dir, "")
	// The same version built the go-install way: graft with -X, launchers from the recipe.
	root, _ := filepath.Abs(root)
	mine := filepath.Join(t.TempDir(), "graft")
	cmd, err := launcherbuild.GoBuild(context.Background(), launcherbuild.Target{OS: runtime.GOOS, Arch: runtime.GOARCH}, version, root, mine, "./cmd/graft")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	launchers := t.TempDir()
	if err := launcherbuild.Generate(context.Background(), root, launchers, version, launcherbuild.Target{OS: "linux", Arch: "amd64"}); err != nil {
		t.Fatal(err)
	}
	if again := graftBuild(t, mine, s.Dir, launchers); again != released {
		t.Fatalf("the release's graft built %s, this checkout's graft of %s %s", released, version, again)
	}
}
