package imagecontract

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/internal/imageref"
)

// graftImage is an image with graft's labels and a launcher.toml, for platform arch.
func graftImage(t *testing.T, arch string) v1.Image {
	t.Helper()
	img := image(t, v1.Config{Labels: map[string]string{
		contract.LabelPlugins:         `[{"name":"oauth","commit":"` + strings.Repeat("c", 40) + `","ref":"v1"}]`,
		contract.LabelBaseName:        "r/base:1",
		contract.LabelLauncherVersion: "v1.2.3",
	}}, layerOf(t, entry{"etc/graft/launcher.toml", launcherTOML}))
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

func resolved(t *testing.T, img v1.Image, idx v1.ImageIndex) *imageref.Resolved {
	t.Helper()
	r := &imageref.Resolved{Image: img, Index: idx}
	var err error
	if idx != nil {
		r.Digest, err = idx.Digest()
	} else {
		r.Digest, err = img.Digest()
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestInspect(t *testing.T) {
	amd, arm := graftImage(t, "amd64"), graftImage(t, "arm64")
	idx := mutate.Annotations(mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	), map[string]string{"org.opencontainers.image.version": "v1"}).(v1.ImageIndex)
	r, err := Inspect("out", resolved(t, nil, idx))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Platforms) != 2 || r.Platforms[0].Platform != "linux/amd64" || r.Platforms[1].Platform != "linux/arm64" ||
		r.Index["org.opencontainers.image.version"] != "v1" || r.Platforms[0].Plugins[0].Name != "oauth" ||
		r.Platforms[1].Contract == nil || r.Platforms[1].Contract.Components[0].Name != "web" {
		t.Fatalf("report %+v", r)
	}
	var out bytes.Buffer
	r.Print(&out)
	for _, want := range []string{"image     out\n", "\nplatform  linux/arm64  ", "base      r/base:1 @ \n", "launcher  v1.2.3\n",
		"plugins   1\n  oauth  " + strings.Repeat("c", 40) + "  ref v1\n", "components 1\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out.String())
		}
	}

	plain := image(t, v1.Config{}, layerOf(t, entry{"etc/graft/launcher.toml", launcherTOML}))
	if _, err := Inspect("x", resolved(t, plain, nil)); err == nil || !strings.Contains(err.Error(), "was not built by graft") {
		t.Fatalf("an image without graft's labels: %v", err)
	}
}

// An index's contract is its first image's.
func TestFromResolved(t *testing.T) {
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: graftImage(t, "amd64")})
	c, err := FromResolved(resolved(t, nil, idx))
	if err != nil || len(c.Settings) != 1 {
		t.Fatalf("index: %+v, %v", c, err)
	}
	if _, err := FromResolved(resolved(t, nil, empty.Index)); err == nil || !strings.Contains(err.Error(), "no image in its index") {
		t.Fatalf("empty index: %v", err)
	}
	plain := image(t, v1.Config{}, layerOf(t, entry{"app/x", "y"}))
	if _, err := FromResolved(resolved(t, plain, nil)); !errors.Is(err, ErrNoLauncherConfig) {
		t.Fatalf("no launcher.toml: %v", err)
	}
}
