package main

import (
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/internal/buildkittest"
	"github.com/graft-build/graft/internal/buildopts"
	"github.com/graft-build/graft/internal/registrytest"
)

// TestBuildAutoStartsBuildkitd: with build steps, no --buildkit and no BUILDKIT_HOST, graft
// starts buildkitd in a Docker container (from an image this test builds and loads, standing in
// for moby/buildkit), says so, runs the step through it, reuses the container next time, and a
// replacement container finds the step cache in the named volume.
func TestBuildAutoStartsBuildkitd(t *testing.T) {
	buildEnv(t)
	suffix, image, name := autoContainer(t, buildkittest.LoadImage)
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
		// This test image runs as root: privileged, else (this machine's engine cannot grant
		// every capability) CAP_SYS_ADMIN; the line says which.
		want := "buildkit: " + wantAction + " container " + name + " (" + image + ", "
		tail := "; cache in volume " + name + "_state): --buildkit docker-container://" + name
		line := grepLines(errOut, want)
		if len(line) != 1 || !strings.HasSuffix(line[0], tail) ||
			!strings.Contains(line[0], "privileged: every capability") && !strings.Contains(line[0], "CAP_SYS_ADMIN, no seccomp/AppArmor profile") {
			t.Fatalf("stderr lacks %q…%q naming the privileges:\n%s", want, tail, errOut)
		}
		res, ls := outputImage(t, s.Dir)
		wantStepRan(t, ls[2])
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
		"--label", "org.graft.buildkitd.image="+image, "--label", "org.graft.buildkitd.privileges=privileged",
		image, "--oci-worker=true", "--containerd-worker=false").CombinedOutput(); err != nil {
		t.Fatalf("docker create: %v %s", err, out)
	}
	if canPrivileged(t, image) {
		build("restarted", "--buildkit-image", other)
	} else if again := build("replaced", "--buildkit-image", other); !strings.Contains(again, "does not start again") ||
		!strings.Contains(again, "buildkit: privileged did not work on this Docker Engine") {
		t.Fatalf("no fallback said:\n%s", again)
	}
	// --progress quiet still says what runs with which privileges.
	code, _, errOut := graft(t, "build", "-C", s.Dir, "--progress", "quiet", "--buildkit-image", other)
	if code != 0 || len(grepLines(errOut, "buildkit: reused container "+name+" ("+other+", ")) != 1 {
		t.Fatalf("quiet: exit %d\n%s", code, errOut)
	}
	t.Log(strings.Join(grepLines(first, "buildkit:"), "\n"))
}

// TestBuildAutoLeavesOthersContainersAlone: a container named like graft's that graft did not
// label is neither used (build secrets would go to it) nor removed: exit 2 naming it.
func TestBuildAutoLeavesOthersContainersAlone(t *testing.T) {
	buildEnv(t)
	suffix, image, name := autoContainer(t, buildkittest.LoadImage)
	out, err := exec.Command("docker", "create", "--name", name, image).CombinedOutput()
	if err != nil {
		t.Fatalf("docker create: %v %s", err, out)
	}
	id := strings.TrimSpace(string(out))
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBusyboxBaseLayout(t, filepath.Join(s.Dir, "base"))
	s.Plugin("gamma", map[string]string{"src.txt": "gamma"}, "[build]\nrun = [\"true\"]")
	s.Lock()
	for _, img := range []string{image, "graft-other-" + suffix + ":v0"} { // same image, or one to replace it with
		code, _, errOut := graft(t, "build", "-C", s.Dir, "--buildkit-image", img)
		if code != 2 || !strings.Contains(errOut, "a container named "+name+" exists that graft did not create") ||
			!strings.Contains(errOut, "docker rm -f "+name) {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if got, err := exec.Command("docker", "inspect", "--format", "{{.Id}}", name).CombinedOutput(); err != nil || strings.TrimSpace(string(got)) != id {
			t.Fatalf("the container was touched: %v %s", err, got)
		}
	}
}

// TestBuildAutoFailedStartLeavesNothing: an image whose daemon never answers (here buildctl as
// entrypoint: it exits) fails the build, and neither the container nor a volume graft created
// for it stays behind.
func TestBuildAutoFailedStartLeavesNothing(t *testing.T) {
	buildEnv(t)
	suffix, image, name := autoContainer(t, buildkittest.LoadImage)
	broken := "graft-buildkitd-auto-test-" + suffix + "-broken:v0"
	t.Cleanup(func() {
		exec.Command("docker", "rm", "-f", "-v", name+"-tmp").Run()
		exec.Command("docker", "rmi", "-f", broken).Run()
	})
	for _, args := range [][]string{{"create", "--name", name + "-tmp", image}, {"commit", "--change", `ENTRYPOINT ["/usr/bin/buildctl"]`, name + "-tmp", broken},
		{"rm", "-v", name + "-tmp"}} {
		if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
			t.Fatalf("docker %v: %v %s", args, err, out)
		}
	}
	t.Setenv(buildopts.EnvBuildkitContainer, name)
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBusyboxBaseLayout(t, filepath.Join(s.Dir, "base"))
	s.Plugin("gamma", map[string]string{"src.txt": "gamma"}, "[build]\nrun = [\"true\"]")
	s.Lock()
	code, _, errOut := graft(t, "build", "-C", s.Dir, "--buildkit-image", broken)
	if code == 0 || !strings.Contains(errOut, "--buildkit auto: buildkitd in container "+name+" exited") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out, err := exec.Command("docker", "ps", "-a", "--filter", "name=^"+name+"$", "--format", "{{.Names}}").Output(); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("container left behind: %v %q", err, out)
	}
	if out, err := exec.Command("docker", "volume", "ls", "--filter", "name=^"+name+"_state$", "--format", "{{.Name}}").Output(); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("volume left behind: %v %q", err, out)
	}
}

// TestBuildAutoMissingImage: an image Docker lacks and cannot pull is one line, exit 2, naming
// the override.
func TestBuildAutoMissingImage(t *testing.T) {
	buildEnv(t)
	if err := exec.Command("docker", "version").Run(); err != nil {
		t.Skip("no Docker Engine")
	}
	suffix, _, _ := autoContainer(t)
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

// autoContainer names a fresh image tag and container for a --buildkit auto test and makes
// graft use that container. load[0] loads the image under the tag, load[1] (if given) under the
// tag plus "-rootless". The container and its volumes are removed when the test ends, before
// the images (so no image stays behind, held by a container).
func autoContainer(t *testing.T, load ...func(testing.TB, string)) (suffix, image, name string) {
	t.Helper()
	suffix = randHex(t)
	image = "graft-buildkitd-auto-test-" + suffix + ":" + buildkittest.Version
	name = "graft-buildkitd-test-" + suffix
	for i, l := range load {
		l(t, image+[]string{"", "-rootless"}[i])
	}
	t.Cleanup(func() {
		exec.Command("docker", "rm", "-f", "-v", name).Run()
		exec.Command("docker", "volume", "rm", "-f", name+"_state", name+"_rootless_state").Run()
	})
	t.Setenv(buildopts.EnvBuildkitContainer, name)
	return suffix, image, name
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

// TestBuildAutoPullsByDigest: an image named by tag and digest (as graft's default is) that the
// engine lacks is pulled by its digest, run, and named so on stderr. The registry is on
// 127.0.0.1, which the engine reaches as this process does.
func TestBuildAutoPullsByDigest(t *testing.T) {
	buildEnv(t)
	_, local, name := autoContainer(t, buildkittest.LoadImage)
	remoteTag := registrytest.GGCR(t, false) + "/moby/buildkit:" + buildkittest.Version
	t.Cleanup(func() { exec.Command("docker", "rmi", remoteTag).Run() })
	out, err := exec.Command("docker", "tag", local, remoteTag).CombinedOutput()
	if err == nil {
		out, err = exec.Command("docker", "push", remoteTag).CombinedOutput()
	}
	if err != nil {
		t.Fatalf("docker push: %v %s", err, out)
	}
	m := regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no digest in %s", out)
	}
	pinned := remoteTag + "@" + string(m[1])
	t.Cleanup(func() {
		exec.Command("docker", "rmi", strings.Replace(pinned, ":"+buildkittest.Version+"@", "@", 1)).Run()
	})
	// Forget the tag and its digest, so the engine must pull.
	if out, err := exec.Command("docker", "rmi", remoteTag).CombinedOutput(); err != nil {
		t.Fatalf("docker rmi: %v %s", err, out)
	}
	t.Setenv(buildopts.EnvBuildkitContainer, name)
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBusyboxBaseLayout(t, filepath.Join(s.Dir, "base"))
	s.Plugin("gamma", map[string]string{"src.txt": "gamma"}, "[build]\nrun = [\"true\"]")
	s.Lock()
	code, _, errOut := graft(t, "build", "-C", s.Dir, "--progress", "quiet", "--buildkit-image", pinned)
	if code != 0 || !strings.Contains(errOut, "buildkit: pulling "+pinned) ||
		len(grepLines(errOut, "buildkit: started container "+name+" ("+pinned+", ")) != 1 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got, err := exec.Command("docker", "inspect", "--format", "{{.Image}}", name).Output()
	want, err2 := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", local).Output()
	if err != nil || err2 != nil || strings.TrimSpace(string(got)) != strings.TrimSpace(string(want)) {
		t.Fatalf("container runs %s (%v), pushed %s (%v)", got, err, want, err2)
	}
}

// TestBuildAutoTriesRootlessFirst: with a rootless image beside the rootful one (as graft's
// defaults are), the rootless container is tried first. Where the engine allows it, it runs
// the steps as an unprivileged user; where it does not (on this machine's engine, itself
// without CAP_SYS_RESOURCE, rootlesskit's newuidmap fails with "write to uid_map failed:
// Operation not permitted"), graft says why and falls back, leaving no rootless container or
// volume behind.
func TestBuildAutoTriesRootlessFirst(t *testing.T) {
	buildEnv(t)
	_, image, name := autoContainer(t, buildkittest.LoadImage, buildkittest.LoadRootlessImage)
	rootlessImage := image + "-rootless"
	t.Setenv(buildopts.EnvBuildkitImage, image)
	t.Setenv(buildopts.EnvBuildkitRootlessImage, rootlessImage)
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBusyboxBaseLayout(t, filepath.Join(s.Dir, "base"))
	s.Plugin("gamma", map[string]string{"src.txt": "gamma"}, "[build]\nrun = [\"echo built-by-$(id -u) > generated.txt\"]")
	s.Lock()
	code, _, errOut := graft(t, "build", "-C", s.Dir, "--progress", "quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	_, ls := outputImage(t, s.Dir)
	wantStepRan(t, ls[1])
	labels, err := exec.Command("docker", "inspect", "--format", `{{index .Config.Labels "org.graft.buildkitd.privileges"}} {{.Config.Image}}`, name).Output()
	if err != nil {
		t.Fatal(err)
	}
	switch got := strings.Fields(string(labels)); {
	case len(got) == 2 && got[0] == "rootless" && got[1] == rootlessImage:
		if len(grepLines(errOut, "buildkit: started container "+name+" ("+rootlessImage+", rootless: ")) != 1 {
			t.Fatalf("rootless runs, stderr says:\n%s", errOut)
		}
	case len(got) == 2 && got[1] == image:
		if len(grepLines(errOut, "buildkit: rootless did not work on this Docker Engine (rootless: ")) != 1 {
			t.Fatalf("fell back to %s without saying why:\n%s", got[0], errOut)
		}
		if out, _ := exec.Command("docker", "volume", "ls", "-q", "--filter", "name=^"+name+"_rootless_state$").Output(); strings.TrimSpace(string(out)) != "" {
			t.Fatalf("the rootless volume stayed behind")
		}
		t.Logf("rootless did not start here:\n%s", strings.Join(grepLines(errOut, "buildkit:"), "\n"))
	default:
		t.Fatalf("container %s runs %q", name, got)
	}
}
