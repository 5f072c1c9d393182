package buildkittest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	// docker-container:// addresses.
	_ "github.com/moby/buildkit/client/connhelper/dockercontainer"
)

// ContainerImage is the Docker image StartContainer runs: made locally (no image can be pulled
// here) from the cached buildkitd and buildctl and the host's runc with its libraries.
const ContainerImage = "graft-buildkitd-test:" + Version

// StartContainer runs buildkitd in a Docker container, as buildx's docker-container driver does, and returns the container's docker-container:// address. The container is
// removed when the test ends. Without Docker the test skips (fails under CI=true).
func StartContainer(t testing.TB) string {
	t.Helper()
	if reason := Unavailable(); reason != "" {
		skipOrFail(t, reason)
	}
	if err := exec.Command("docker", "version").Run(); err != nil {
		skipOrFail(t, "no Docker Engine to run buildkitd in a container")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := ensureImage(ctx); err != nil {
		t.Fatalf("buildkitd image: %v", err)
	}
	name := "graft-buildkitd-" + randomSuffix()
	root := t.TempDir() // on the host's filesystem, where overlayfs works
	// Not --privileged: this machine's engine cannot grant every capability ("unable to apply
	// caps"). SYS_ADMIN and no seccomp/AppArmor profile are what rootful buildkitd needs, and a
	// writable cgroup tree for runc (Docker mounts it read-only): the host's, where the local
	// test daemons put their "buildkit" cgroups too.
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", "-v", name).Run() })
	out, err := exec.CommandContext(ctx, "docker", "run", "-d", "--name", name,
		"--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
		"-v", root+":/var/lib/buildkit", "-v", "/sys/fs/cgroup:/sys/fs/cgroup", ContainerImage,
		"/usr/bin/buildkitd", "--oci-worker=true", "--containerd-worker=false").CombinedOutput()
	if err != nil {
		t.Fatalf("docker run buildkitd: %v: %s", err, strings.TrimSpace(string(out)))
	}
	addr := "docker-container://" + name
	if err := waitContainer(ctx, addr, name); err != nil {
		t.Fatal(err)
	}
	return addr
}

func waitContainer(ctx context.Context, addr, name string) error {
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if last = ping(ctx, addr); last == nil {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	logs, _ := exec.Command("docker", "logs", "--tail", "30", name).CombinedOutput()
	return fmt.Errorf("buildkitd in container %s not ready: %v\n%s", name, last, logs)
}

// ensureImage imports ContainerImage once: a root filesystem of buildkitd, buildctl, runc and
// the shared libraries they load.
func ensureImage(ctx context.Context) error {
	if exec.CommandContext(ctx, "docker", "image", "inspect", ContainerImage).Run() == nil {
		return nil
	}
	bins := map[string]string{}
	for name, get := range map[string]func(context.Context) (string, error){"buildkitd": Binary, "buildctl": Buildctl} {
		p, err := get(ctx)
		if err != nil {
			return err
		}
		bins["/usr/bin/"+name] = p
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		return err
	}
	bins["/usr/bin/runc"] = runc
	rootfs, err := rootfsTar(bins)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "docker", "import", "-", ContainerImage)
	cmd.Stdin = bytes.NewReader(rootfs)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("docker import: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// extraEntry is a folder or small file of a test image, with its owner and mode.
type extraEntry struct {
	name, content string
	dir           bool
	mode          int64
	uid           int
}

// rootlessEntries are what the rootless image's user needs: an account with subordinate ids,
// its home and state folder, its runtime folder.
var rootlessEntries = []extraEntry{
	{name: "etc/passwd", content: "root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n", mode: 0o644},
	{name: "etc/group", content: "root:x:0:\nuser:x:1000:\n", mode: 0o644},
	{name: "etc/subuid", content: "user:100000:65536\n", mode: 0o644},
	{name: "etc/subgid", content: "user:100000:65536\n", mode: 0o644},
	{name: "home/", dir: true, mode: 0o755},
	{name: "home/user/", dir: true, mode: 0o755, uid: 1000},
	{name: "home/user/.local/", dir: true, mode: 0o755, uid: 1000},
	{name: "home/user/.local/share/", dir: true, mode: 0o755, uid: 1000},
	{name: "home/user/.local/share/buildkit/", dir: true, mode: 0o755, uid: 1000},
	{name: "run/user/", dir: true, mode: 0o755},
	{name: "run/user/1000/", dir: true, mode: 0o700, uid: 1000},
}

// rootfsTar writes the binaries (image path -> host path), their libraries, the folders
// buildkitd expects, and extra entries. newuidmap and newgidmap are setuid root, as Debian's.
func rootfsTar(bins map[string]string, extra ...extraEntry) ([]byte, error) {
	files := map[string]string{}
	for dst, src := range bins {
		files[dst] = src
		libs, err := sharedLibs(src)
		if err != nil {
			return nil, err
		}
		for _, l := range libs {
			files[l] = l
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"tmp", "etc", "run", "var/lib/buildkit"} {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o1777}); err != nil {
			return nil, err
		}
	}
	for _, e := range extra {
		h := &tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: e.mode, Uid: e.uid, Gid: e.uid, Size: int64(len(e.content))}
		if e.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, e.content); err != nil {
			return nil, err
		}
	}
	for dst, src := range files {
		if err := addFile(tw, dst, src); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var lddPath = regexp.MustCompile(`(/\S+) \(0x`)

// sharedLibs lists the absolute paths of the libraries a dynamic binary loads (none if static).
func sharedLibs(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %v: %s", bin, err, out)
	}
	var libs []string
	for _, m := range lddPath.FindAllStringSubmatch(string(out), -1) {
		libs = append(libs, m[1])
	}
	return libs, nil
}

func addFile(tw *tar.Writer, dst, src string) error {
	real, err := filepath.EvalSymlinks(src)
	if err != nil {
		return err
	}
	f, err := os.Open(real)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	mode := int64(0o755)
	if strings.HasSuffix(dst, "uidmap") { // newuidmap, newgidmap
		mode = 0o4755
	}
	h := &tar.Header{Name: strings.TrimPrefix(dst, "/"), Typeflag: tar.TypeReg, Mode: mode, Size: fi.Size()}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

func randomSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}
