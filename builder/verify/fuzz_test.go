package verify

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/contract"
)

// served is an image whose manifest and config bytes are whatever the test says; every layer
// it is asked for is a few bytes (hashing the real ones, megabytes, under the fuzzer's
// instrumentation takes seconds per input).
type served struct {
	manifest, config []byte
}

func (s *served) RawConfigFile() ([]byte, error)      { return s.config, nil }
func (s *served) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (s *served) RawManifest() ([]byte, error)        { return s.manifest, nil }
func (s *served) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	return static.NewLayer([]byte("a layer"), types.OCILayer), nil
}

// Whatever manifest and config bytes an image serves, the comparison never panics and names at
// least one difference (its layers are never the built ones).
func FuzzCompareImage(f *testing.F) {
	// The "built" image is the base alone: building under the fuzzer's instrumentation (gzip of
	// the launcher, megabytes) costs each worker a minute.
	s := buildtest.NewSite(f, "oci-layout://base", "")
	base := buildtest.BaseImage(f, "linux/amd64", "", types.OCIManifestSchema1)
	p, err := layout.Write(filepath.Join(s.Dir, "base"), empty.Index)
	if err != nil {
		f.Fatal(err)
	}
	if err := p.AppendImage(base); err != nil {
		f.Fatal(err)
	}
	s.Lock()
	plan, err := builder.Resolve(context.Background(), s.Load())
	if err != nil {
		f.Fatal(err)
	}
	built := &contract.Result{Image: base, Platforms: []string{"linux/amd64"}}
	built.Digest, _ = base.Digest()
	m, _ := base.Manifest()
	cf, _ := base.ConfigFile()
	for i, l := range m.Layers {
		built.Layers = append(built.Layers, contract.LayerInfo{Digest: l.Digest, DiffID: cf.RootFS.DiffIDs[i],
			Kind: contract.KindBase, Platform: "linux/amd64"})
	}
	raw, _ := built.Image.RawManifest()
	cfg, _ := built.Image.RawConfigFile()
	f.Add(raw, cfg)
	f.Add([]byte(`{"schemaVersion":2,"layers":[{"digest":"sha256:`+string(bytes.Repeat([]byte("0"), 64))+`","size":-1}]}`), cfg)
	f.Add([]byte(`{"config":{"digest":"md5:x"},"layers":null}`), []byte(`{"rootfs":{"diff_ids":["x"]}}`))
	f.Add([]byte("not json"), []byte{})
	f.Fuzz(func(t *testing.T, manifest, config []byte) {
		img, err := partial.CompressedToImage(&served{manifest: manifest, config: config})
		if err != nil {
			return
		}
		c := &comparison{plan: plan, built: built, skipped: map[string]bool{}}
		pi := platformImage{name: "linux/amd64", desc: v1.Descriptor{Digest: built.Digest}, img: img}
		if err := c.compareImage(pi, built.Image, false); err != nil {
			t.Fatal(err) // errors are the rebuilt image's only
		}
		if len(c.diffs) == 0 {
			t.Fatalf("no difference found in %q", manifest)
		}
	})
}
