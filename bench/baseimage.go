package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// baseMB is the size of the base image's content. Real application images are larger; the
// base's size weighs the same on graft and the peers except where noted in the README.
const baseMB = 30

// baseImage is the application image plugins are added to, in every form the tools need.
type baseImage struct {
	layoutDir string // OCI layout, tag "1"
	ref       string // in the bench registry: 127.0.0.1:PORT/bench/base:1
	dockerTag string // loaded into the Docker Engine ("" when Docker is not usable)
	dockerErr error
	layers    int
	img       v1.Image
}

// tarEntry is one file of a generated layer.
type tarEntry struct {
	name string
	dir  bool
	mode int64
	uid  int
	data []byte
}

func buildTar(entries []tarEntry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: time.Unix(1767225600, 0),
			Typeflag: tar.TypeReg, Size: int64(len(e.data)), Format: tar.FormatPAX}
		if e.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// baseLayers are a "runtime" layer (binaries: incompressible) and an "application" layer
// (code: text), with the folders graft.toml names owned by the app user.
func baseLayers(seed uint64) ([][]byte, error) {
	rng := rand.New(rand.NewPCG(seed, 1<<40))
	runtime := []tarEntry{
		{name: "bin/", dir: true, mode: 0o755},
		{name: "etc/", dir: true, mode: 0o755},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\napp:x:1000:\n")},
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n")},
		{name: "opt/", dir: true, mode: 0o755},
		{name: "opt/jre/", dir: true, mode: 0o755},
	}
	for i := 0; i < 6; i++ {
		runtime = append(runtime, tarEntry{name: fmt.Sprintf("opt/jre/lib-%d.so", i), mode: 0o755,
			data: randomBytes(rng, baseMB<<20/10)})
	}
	app := []tarEntry{
		{name: "app/", dir: true, mode: 0o755, uid: 1000},
		{name: "app/data/", dir: true, mode: 0o755, uid: 1000},
		{name: "app/data/tmp/", dir: true, mode: 0o755, uid: 1000},
		{name: "app/lib/", dir: true, mode: 0o755, uid: 1000},
		{name: "app/plugins/", dir: true, mode: 0o755, uid: 1000},
	}
	for i := 0; i < 200; i++ {
		app = append(app, tarEntry{name: fmt.Sprintf("app/lib/core_%03d.rb", i), mode: 0o644, uid: 1000,
			data: sourceText(rng, baseMB<<20*4/10/200)})
	}
	var out [][]byte
	for _, entries := range [][]tarEntry{runtime, app} {
		t, err := buildTar(entries)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func makeBaseImage(seed uint64) (v1.Image, error) {
	tars, err := baseLayers(seed)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, t := range tars {
		t := t
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(t)), nil },
			tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
		if err != nil {
			return nil, err
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return nil, err
		}
	}
	return configured(img)
}

// baseFor makes the base image on first use: an OCI layout, pushed to the bench registry and,
// where Docker is usable, loaded into the engine (nothing can be pulled here).
func (b *bench) baseFor(ctx context.Context, withDocker bool) (*baseImage, error) {
	if b.base == nil {
		img, err := makeBaseImage(b.cfg.seed)
		if err != nil {
			return nil, fmt.Errorf("base image: %w", err)
		}
		dir := filepath.Join(b.tmp, "base-layout")
		p, err := layout.Write(dir, empty.Index)
		if err != nil {
			return nil, fmt.Errorf("base layout: %w", err)
		}
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
			"org.opencontainers.image.ref.name": "1"})); err != nil {
			return nil, fmt.Errorf("base layout: %w", err)
		}
		reg := b.registryFor()
		ref, err := name.ParseReference(reg.Host + "/bench/base:1")
		if err != nil {
			return nil, err
		}
		if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
			return nil, fmt.Errorf("push base: %w", err)
		}
		layers, _ := img.Layers()
		b.base = &baseImage{layoutDir: dir, ref: ref.String(), layers: len(layers), img: img}
	}
	if withDocker && b.base.dockerTag == "" && b.base.dockerErr == nil {
		b.base.dockerErr = b.loadBaseIntoDocker(ctx)
	}
	return b.base, nil
}

func (b *bench) loadBaseIntoDocker(ctx context.Context) error {
	if err := dockerUsable(ctx); err != nil {
		return err
	}
	tag, err := name.NewTag(b.dockerName("base") + ":1")
	if err != nil {
		return err
	}
	path := filepath.Join(b.tmp, "base-docker.tar")
	if err := tarball.WriteToFile(path, tag, b.base.img); err != nil {
		return fmt.Errorf("base docker tar: %w", err)
	}
	if _, err := runCmd(ctx, cmdSpec{}, "docker", "load", "-q", "-i", path); err != nil {
		return err
	}
	b.base.dockerTag = tag.String()
	b.onClose(func() { runCmd(context.Background(), cmdSpec{}, "docker", "rmi", "-f", tag.String()) })
	return nil
}
