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
	if reason := Unavailable(); reason != "" {
		skipOrFail(t, reason)
	}
	if err := exec.Command("docker", "version").Run(); err != nil {
		skipOrFail(t, "no Docker Engine to load the buildkitd image into")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	img, err := buildkitImage(ctx)
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

func buildkitImage(ctx context.Context) (v1.Image, error) {
	bins := map[string]string{}
	for n, get := range map[string]func(context.Context) (string, error){"buildkitd": Binary, "buildctl": Buildctl} {
		p, err := get(ctx)
		if err != nil {
			return nil, err
		}
		bins["/usr/bin/"+n] = p
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		return nil, fmt.Errorf("runc: %w", err)
	}
	bins["/usr/bin/runc"] = runc
	rootfs, err := rootfsTar(bins)
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
	return mutate.ConfigFile(img, cf)
}
