package buildkit

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/internal/buildkittest"
	"github.com/graft-build/graft/internal/usererr"
)

// oneLineUserErr checks err is bad input (exit 2) on one line holding every want.
func oneLineUserErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	t.Logf("error: %v", err)
	if !usererr.Is(err) {
		t.Errorf("not bad input (exit 2): %v", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q", w)
		}
	}
}

func TestBadAddresses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := New(ctx, "podman-machine://x")
	oneLineUserErr(t, err, `unknown BuildKit address scheme "podman-machine"`, "unix://", "tcp://", "docker://")
	_, err = New(ctx, "/run/buildkit/buildkitd.sock")
	oneLineUserErr(t, err, "has no scheme", "unix://PATH")
	missing := "unix://" + filepath.Join(t.TempDir(), "nobody.sock")
	_, err = New(ctx, missing)
	oneLineUserErr(t, err, missing, "not reachable", "--buildkit", "BUILDKIT_HOST")
	_, err = New(ctx, "tcp://127.0.0.1:1")
	oneLineUserErr(t, err, "tcp://127.0.0.1:1", "not reachable")
	_, err = New(ctx, "unix:///x", WithProgress("fancy", nil))
	oneLineUserErr(t, err, `--progress "fancy"`, "auto, plain, tty or quiet")
	_, err = New(ctx, "unix:///x", WithProgress("tty", &strings.Builder{}))
	oneLineUserErr(t, err, "--progress tty", "not a terminal")
	_, err = New(ctx, "unix:///x", WithTLS("ca.pem", "cert.pem", "key.pem"))
	oneLineUserErr(t, err, "unix:///x", "tcp:// addresses only")
	_, err = New(ctx, "tcp://127.0.0.1:1234", WithTLS("/nonexistent/ca.pem", "", ""))
	oneLineUserErr(t, err, "tcp://127.0.0.1:1234", "ca.pem")
	_, err = New(ctx, "unix:///x", WithCacheExports("type=local"))
	oneLineUserErr(t, err, "--cache-to", "dest=DIR")
}

// TestHelperAddresses: docker-container:// and kube-pod:// go through BuildKit's connection
// helpers (docker exec / kubectl exec ... buildctl dial-stdio); a missing container or cluster
// is one line with the helper's own reason.
func TestHelperAddresses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := exec.LookPath("docker"); err != nil {
		needOrFail(t, "no docker CLI")
	}
	_, err := New(ctx, "docker-container://graft-no-such-container")
	oneLineUserErr(t, err, "docker-container://graft-no-such-container", "not reachable",
		"docker exec -i graft-no-such-container buildctl dial-stdio", "No such container")
	if _, err := exec.LookPath("kubectl"); err == nil {
		_, err := New(ctx, "kube-pod://graft-no-such-pod")
		oneLineUserErr(t, err, "kube-pod://graft-no-such-pod", "not reachable", "kubectl")
	}
}

// TestDockerEngineTooOld: the local Docker Engine's embedded BuildKit is reached through /grpc;
// Docker 20.10 embeds BuildKit v0.8, which lacks what graft needs: a clear error, not a build.
func TestDockerEngineTooOld(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		needOrFail(t, "no docker CLI")
	}
	out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").Output()
	if err != nil {
		needOrFail(t, "no Docker Engine: "+err.Error())
	}
	version := strings.TrimSpace(string(out))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := New(ctx, "docker://")
	if !strings.HasPrefix(version, "20.") {
		// A newer engine embeds a BuildKit recent enough: then it must work.
		if err != nil {
			t.Fatalf("Docker Engine %s: %v", version, err)
		}
		e.Close()
		return
	}
	oneLineUserErr(t, err, "BuildKit at docker://", "too old", "--buildkit auto", ">= v0.11")
}

// TestPlatformNoWorker: a platform no worker runs is refused before any step runs.
func TestPlatformNoWorker(t *testing.T) {
	d := shared.Daemon(t)
	e := newEngine(t, d.Addr)
	err := e.checkPlatform(t.Context(), v1.Platform{OS: "linux", Architecture: "s390x"})
	if err == nil {
		if _, statErr := os.Stat("/proc/sys/fs/binfmt_misc/qemu-s390x"); statErr == nil {
			t.Skip("this machine emulates s390x")
		}
		t.Fatal("an s390x step was accepted by an amd64-only daemon")
	}
	for _, w := range []string{"cannot run linux/s390x", "linux/amd64", "binfmt"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q lacks %q", err, w)
		}
	}
	if err := e.checkPlatform(t.Context(), v1.Platform{OS: "linux", Architecture: "amd64"}); err != nil {
		t.Errorf("linux/amd64: %v", err)
	}
}

// TestDockerContainerAddress: a buildkitd in a Docker container, reached as buildx's
// docker-container driver does (docker exec ... buildctl dial-stdio), builds the same layer as
// the local daemon; the OCI layout base travels through the session.
func TestDockerContainerAddress(t *testing.T) {
	d := shared.Daemon(t)
	addr := buildkittest.StartContainer(t)
	base := newBase(t)
	want := digestOf(t, mustRun(t, newEngine(t, d.Addr), demo.request(t, base.layout, base, nil)))
	got := digestOf(t, mustRun(t, newEngine(t, addr), demo.request(t, base.layout, base, nil)))
	if got != want {
		t.Errorf("layer %s through %s, %s through the local daemon", got, addr, want)
	}
}

func TestOlder(t *testing.T) {
	for v, want := range map[string]bool{
		"v0.8.2": true, "v0.10.6": true, "v0.11.0": false, "v0.33.1": false, "v1.0.0-rc1": false,
		"v0.10.99+dirty": true, "v0.0.0+unknown": false, "main": false, "": false,
	} {
		if got := older(v, minVersion); got != want {
			t.Errorf("older(%q) = %v, want %v", v, got, want)
		}
	}
}
