package buildkittest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/daemon"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// LoadImage builds an image shaped like moby/buildkit (entrypoint buildkitd, buildctl beside
// it for the docker-container:// helper, runc and its libraries for the OCI worker) from the
// cached binaries with go-containerregistry, loads it into the local Docker Engine as tag, and
// removes it when the test ends. No image can be pulled here; this one stands in for
// moby/buildkit:<Version> in tests of `graft build --buildkit auto`. Without Docker, root or
// runc the test skips (fails under CI=true).
func LoadImage(t testing.TB, tag string) {
	t.Helper()
	load(t, tag, false)
}

// LoadRootlessImage is LoadImage for an image shaped like moby/buildkit:VERSION-rootless:
// rootlesskit, newuidmap and newgidmap (setuid root) beside buildkitd, user 1000 with
// subordinate ids, entrypoint `rootlesskit buildkitd`. It needs Debian's rootlesskit and uidmap
// (skips without them, fails under CI=true).
func LoadRootlessImage(t testing.TB, tag string) {
	t.Helper()
	for _, tool := range []string{"rootlesskit", "newuidmap", "newgidmap"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(t, "no "+tool+" (apt-get install rootlesskit uidmap) to build a rootless buildkitd image")
		}
	}
	load(t, tag, true)
}

func load(t testing.TB, tag string, rootless bool) {
	t.Helper()
	if reason := Unavailable(); reason != "" {
		skipOrFail(t, reason)
	}
	if err := exec.Command("docker", "version").Run(); err != nil {
		skipOrFail(t, "no Docker Engine to load the buildkitd image into")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	img, err := buildkitImage(ctx, rootless)
	if err != nil {
		t.Fatalf("buildkitd image: %v", err)
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	if _, err := daemon.Write(ref, img, daemon.WithContext(ctx)); err != nil {
		t.Fatalf("load %s into Docker: %v", tag, err)
	}
}

func buildkitImage(ctx context.Context, rootless bool) (v1.Image, error) {
	bins := map[string]string{}
	for n, get := range map[string]func(context.Context) (string, error){"buildkitd": Binary, "buildctl": Buildctl} {
		p, err := get(ctx)
		if err != nil {
			return nil, err
		}
		bins["/usr/bin/"+n] = p
	}
	tools := []string{"runc"}
	if rootless {
		tools = append(tools, "rootlesskit", "newuidmap", "newgidmap")
	}
	for _, tool := range tools {
		p, err := exec.LookPath(tool)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tool, err)
		}
		bins["/usr/bin/"+tool] = p
	}
	var extra []extraEntry
	if rootless {
		extra = rootlessEntries
	}
	rootfs, err := rootfsTar(bins, extra...)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(rootfs)), nil
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Entrypoint = []string{"/usr/bin/buildkitd"}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.Volumes = map[string]struct{}{"/var/lib/buildkit": {}}
	if rootless { // as moby/buildkit's Dockerfile makes its rootless stage
		cf.Config.User = "1000:1000"
		cf.Config.Entrypoint = []string{"rootlesskit", "buildkitd"}
		cf.Config.Env = append(cf.Config.Env, "USER=user", "HOME=/home/user", "XDG_RUNTIME_DIR=/run/user/1000",
			"BUILDKIT_HOST=unix:///run/user/1000/buildkit/buildkitd.sock")
		cf.Config.Volumes = map[string]struct{}{"/home/user/.local/share/buildkit": {}}
	}
	return mutate.ConfigFile(img, cf)
}
