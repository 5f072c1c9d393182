// Package docs holds graft's guides and reference (Markdown); its tests run what the pages tell
// a reader to run, so the front page and the guides cannot drift from what graft does.
package docs

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/internal/registrytest"
)

const repoRoot = ".."

// codeBlock returns the first fenced block of kind lang after heading in file.
func codeBlock(t *testing.T, file, heading, lang string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, file))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("%s has no heading %q", file, heading)
	}
	_, rest, ok = strings.Cut(rest, "```"+lang+"\n")
	block, _, ok2 := strings.Cut(rest, "\n```")
	if !ok || !ok2 {
		t.Fatalf("%s: no ```%s block under %q", file, lang, heading)
	}
	return block
}

// buildGraft builds graft from this checkout into a folder for PATH.
func buildGraft(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "graft"), "github.com/graft-build/graft/cmd/graft")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build graft: %v\n%s", err, out)
	}
	return dir
}

// dockerOrSkip skips without a Docker Engine (fails under CI=true, where .ci/run has one).
func dockerOrSkip(t *testing.T) {
	t.Helper()
	if err := exec.Command("docker", "version").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no Docker Engine: %v", err)
		}
		t.Skipf("no Docker Engine: %v", err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// The README's quick start, pasted into bash from an empty HOME with graft on PATH: it locks,
// builds, inspects, loads the image into Docker, runs it and gets the page, healthy, in well
// under five minutes (the launcher is built with Go on the way, as for a `go install`ed graft).
// Substituted, and only these: the base (Docker Hub cannot be reached here: a busybox base in a
// registry on 127.0.0.1 stands in), the container's name, image name and host port (so runs
// never collide).
func TestReadmeQuickStart(t *testing.T) {
	dockerOrSkip(t)
	block := codeBlock(t, "README.md", "## Quick start", "sh")

	host := registrytest.GGCR(t, false)
	base := fmt.Sprintf("%s/library/busybox:1.37", host)
	pushBusybox(t, base)
	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1e9)
	container, image, port := "graft-quickstart-"+suffix, "graft-quickstart-"+suffix+":latest", freePort(t)
	t.Cleanup(func() {
		exec.Command("docker", "rm", "-f", container).Run()
		exec.Command("docker", "rmi", image).Run()
	})
	script := strings.NewReplacer(
		"docker.io/library/busybox:1.37", base,
		"hello:latest", image,
		"--name hello", "--name "+container,
		"exec hello", "exec "+container,
		"rm -f hello", "rm -f "+container,
		"8080:8080", fmt.Sprintf("%d:8080", port),
		"localhost:8080", fmt.Sprintf("localhost:%d", port),
	).Replace(block)
	if strings.Contains(script, "docker.io") {
		t.Fatalf("a substitution missed:\n%s", script)
	}

	work, home := t.TempDir(), t.TempDir()
	cmd := exec.Command("bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Dir = work
	cmd.Env = []string{"HOME=" + home, "PATH=" + buildGraft(t) + ":" + os.Getenv("PATH"),
		"GOCACHE=" + goEnv(t, "GOCACHE"), "GOMODCACHE=" + goEnv(t, "GOMODCACHE"), "GOFLAGS=" + os.Getenv("GOFLAGS"),
		"DOCKER_HOST=" + os.Getenv("DOCKER_HOST"), "DOCKER_CONFIG=" + t.TempDir()}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("quick start failed after %s: %v\n%s", took, err, out)
	}
	for _, want := range []string{"wrote graft.lock", "hello: local files -> tree", "<h1>Hello from graft</h1>", "healthy"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("quick start output lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^sha256:[0-9a-f]{64}$`).Match(out) {
		t.Errorf("no digest line from graft build:\n%s", out)
	}
	if took > 5*time.Minute {
		t.Errorf("quick start took %s, the front page promises under five minutes", took)
	}
	t.Logf("quick start from an empty HOME: %s", took.Round(time.Millisecond))
}

func goEnv(t *testing.T, key string) string {
	t.Helper()
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// pushBusybox pushes a runnable busybox base (Debian's static busybox) as ref.
func pushBusybox(t *testing.T, ref string) {
	t.Helper()
	dir := t.TempDir()
	buildtest.WriteBusyboxBaseLayout(t, dir)
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithContext(context.Background())); err != nil {
		t.Fatal(err)
	}
}
