package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/internal/buildkittest"
	"github.com/graft-build/graft/internal/buildopts"
	"github.com/graft-build/graft/internal/imageref"
)

// TestBuildAutoStartsBuildkitd: with build steps, no --buildkit and no BUILDKIT_HOST, graft
// starts buildkitd in a Docker container (from an image this test builds and loads, standing in
// for moby/buildkit), says so, runs the step through it, reuses the container next time, and a
// replacement container finds the step cache in the named volume.
func TestBuildAutoStartsBuildkitd(t *testing.T) {
	buildEnv(t)
	suffix := randHex(t)
	image := "graft-buildkitd-auto-test-" + suffix + ":" + buildkittest.Version
	name := "graft-buildkitd-test-" + suffix
	buildkittest.LoadImage(t, image)
	t.Cleanup(func() {
		exec.Command("docker", "rm", "-f", name).Run()
		exec.Command("docker", "volume", "rm", "-f", name+"_state").Run()
	})
	t.Setenv(buildopts.EnvBuildkitContainer, name)
	t.Setenv(buildopts.EnvBuildkitImage, image)

	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBusyboxBaseLayout(t, filepath.Join(s.Dir, "base"))
	s.Plugin("alpha", map[string]string{"a.txt": "alpha"}, "")
	s.Plugin("gamma", map[string]string{"src.txt": "gamma"}, "[build]\nrun = [\"echo built-by-$(id -u) > generated.txt\"]")
	s.Lock()

	build := func(wantAction string, args ...string) string {
		t.Helper()
		code, out, errOut := graft(t, append([]string{"build", "-C", s.Dir, "--progress", "plain"}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		want := "buildkit: " + wantAction + " container " + name + " (" + image + ", cache in volume " + name + "_state): --buildkit docker-container://" + name
		if !strings.Contains(errOut, want) {
			t.Fatalf("stderr lacks %q:\n%s", want, errOut)
		}
		ref, _ := imageref.Parse("oci-layout://out/image", s.Dir)
		res, err := ref.Resolve(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ls, _ := res.Image.Layers()
		if got := tarFile(t, ls[2], "app/plugins/gamma/generated.txt"); got != "built-by-1000\n" {
			t.Fatalf("generated.txt = %q", got)
		}
		if lastLine(out) != res.Digest.String() {
			t.Fatalf("printed %s, layout has %s", lastLine(out), res.Digest)
		}
		return errOut
	}
	first := build("started")
	if strings.Contains(first, "CACHED") {
		t.Fatalf("a fresh volume has cached steps:\n%s", first)
	}
	if out, err := exec.Command("docker", "inspect", "--format", "{{.State.Running}} {{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}}:{{.Destination}}{{end}}{{end}}", name).CombinedOutput(); err != nil ||
		strings.TrimSpace(string(out)) != "true "+name+"_state:/var/lib/buildkit" {
		t.Fatalf("container %s: %v %s", name, err, out)
	}
	second := build("reused", "--buildkit", "auto")
	if !strings.Contains(second, "CACHED") {
		t.Fatalf("reused daemon re-ran the step:\n%s", second)
	}
	// A new container on the same volume keeps BuildKit's cache.
	if out, err := exec.Command("docker", "rm", "-f", name).CombinedOutput(); err != nil {
		t.Fatalf("docker rm: %v %s", err, out)
	}
	third := build("started")
	if !strings.Contains(third, "CACHED") {
		t.Fatalf("the step cache did not survive in the volume:\n%s", third)
	}
	// A stopped container is started again.
	if out, err := exec.Command("docker", "stop", "-t", "5", name).CombinedOutput(); err != nil {
		t.Fatalf("docker stop: %v %s", err, out)
	}
	build("restarted")
	// Another image (graft upgraded, or a mirror named): the container is replaced, the
	// volume and its cache kept.
	other := "graft-buildkitd-auto-test-" + suffix + "-other:" + buildkittest.Version
	if out, err := exec.Command("docker", "tag", image, other).CombinedOutput(); err != nil {
		t.Fatalf("docker tag: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", other).Run() })
	image = other
	t.Setenv(buildopts.EnvBuildkitImage, "")
	if replaced := build("replaced", "--buildkit-image", other); !strings.Contains(replaced, "CACHED") {
		t.Fatalf("the replacement lost the step cache:\n%s", replaced)
	}
	// A privileged container left created but never started (where the engine cannot grant
	// every capability) is made again with the narrower set.
	if out, err := exec.Command("docker", "rm", "-f", name).CombinedOutput(); err != nil {
		t.Fatalf("docker rm: %v %s", err, out)
	}
	if out, err := exec.Command("docker", "create", "--privileged", "--name", name, "-v", name+"_state:/var/lib/buildkit",
		image, "--oci-worker=true", "--containerd-worker=false").CombinedOutput(); err != nil {
		t.Fatalf("docker create: %v %s", err, out)
	}
	if canPrivileged(t, image) {
		build("restarted", "--buildkit-image", other)
	} else if again := build("restarted", "--buildkit-image", other); !strings.Contains(again, "cannot start privileged containers") {
		t.Fatalf("no fallback said:\n%s", again)
	}
	t.Log(strings.Join(grepLines(first, "buildkit:"), "\n"))
}

// TestBuildAutoMissingImage: an image Docker lacks and cannot pull is one line, exit 2, naming
// the override.
func TestBuildAutoMissingImage(t *testing.T) {
	buildEnv(t)
	if err := exec.Command("docker", "version").Run(); err != nil {
		t.Skip("no Docker Engine")
	}
	suffix := randHex(t)
	name := "graft-buildkitd-test-" + suffix
	t.Cleanup(func() {
		exec.Command("docker", "rm", "-f", name).Run()
		exec.Command("docker", "volume", "rm", "-f", name+"_state").Run()
	})
	t.Setenv(buildopts.EnvBuildkitContainer, name)
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBusyboxBaseLayout(t, filepath.Join(s.Dir, "base"))
	s.Plugin("gamma", map[string]string{"src.txt": "gamma"}, "[build]\nrun = [\"true\"]")
	s.Lock()
	missing := "127.0.0.1:1/graft-no-such-buildkit-" + suffix + ":v0"
	code, _, errOut := graft(t, "build", "-C", s.Dir, "--buildkit", "auto", "--buildkit-image", missing)
	if code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") > 1 ||
		!strings.Contains(errOut, "--buildkit auto: pull "+missing) || !strings.Contains(errOut, "GRAFT_BUILDKIT_IMAGE") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func randHex(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func grepLines(s, prefix string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// canPrivileged reports whether this engine starts privileged containers (this machine's does
// not: runc "unable to apply caps").
func canPrivileged(t *testing.T, image string) bool {
	t.Helper()
	out, err := exec.Command("docker", "run", "--rm", "--privileged", "--entrypoint", "/usr/bin/buildctl", image, "--version").CombinedOutput()
	if err != nil && !strings.Contains(string(out), "unable to apply caps") {
		t.Fatalf("docker run --privileged: %v %s", err, out)
	}
	return err == nil
}
