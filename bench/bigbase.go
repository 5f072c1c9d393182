package main

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"

	"github.com/graft-build/graft/internal/iocount"
)

// bigBaseLayers is how many layers the realistic base has: its two small layers (users, the
// app folders) and jar-like layers making up the rest of its size.
const bigBaseLayers = 15

// bigBase is a base image of realistic size (an application image like ArchivesSpace's: hundreds
// of MB in many layers, mostly jars), generated once per bench run into the temporary folder
// and pushed to the bench registry.
type bigBase struct {
	ref    string // 127.0.0.1:PORT/bench/bigbase:1
	img    v1.Image
	layers int
	size   int64 // compressed size of its layers
}

// bigBaseFor makes the big base of mb MB on first use: its layers are written as gzip files
// (deterministic: seeded content, fixed headers; jar-like, about 5% compressible), then pushed.
func (b *bench) bigBaseFor(ctx context.Context, mb int) (*bigBase, error) {
	if b.big != nil {
		return b.big, nil
	}
	start := time.Now()
	dir := filepath.Join(b.tmp, "bigbase")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	small, err := baseLayers(b.cfg.seed)
	if err != nil {
		return nil, err
	}
	jars := bigBaseLayers - len(small)
	per := (int64(mb) << 20) / int64(jars)
	layers := make([]v1.Layer, bigBaseLayers)
	errs := make([]error, bigBaseLayers)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2) // the layers are compressed two at a time
	for i := range layers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			path := filepath.Join(dir, fmt.Sprintf("layer-%02d.tar.gz", i))
			if i < len(small) {
				layers[i], errs[i] = writeGzipLayer(path, func(w io.Writer) error {
					_, err := w.Write(small[i])
					return err
				})
				return
			}
			layers[i], errs[i] = writeGzipLayer(path, func(w io.Writer) error {
				return writeJarLayer(w, b.cfg.seed, i, per)
			})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("big base: %w", err)
		}
	}
	img, err := configured(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON))
	if err != nil {
		return nil, err
	}
	if img, err = mutate.AppendLayers(img, layers...); err != nil {
		return nil, err
	}
	var size int64
	for _, l := range layers {
		s, _ := l.Size()
		size += s
	}
	made := time.Since(start)
	ref, err := name.ParseReference(b.registryFor().Host + "/bench/bigbase:1")
	if err != nil {
		return nil, err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return nil, fmt.Errorf("push the big base: %w", err)
	}
	b.big = &bigBase{ref: ref.String(), img: img, layers: len(layers), size: size}
	b.logf("big base: %s in %d layers, made in %s, pushed in %s", formatValue(float64(size), unitBytes), len(layers),
		made.Round(time.Millisecond), (time.Since(start) - made).Round(time.Millisecond))
	return b.big, nil
}

// configured gives img the bases' config (user, folder, environment, a fixed date).
func configured(img v1.Image) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: time.Unix(1767225600, 0).UTC()}
	cf.Config.User = "1000:1000"
	cf.Config.WorkingDir = "/app"
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "APP_HOME=/app"}
	return mutate.ConfigFile(img, cf)
}

// writeJarLayer writes a tar of jar-like files (about 4 MB each) making size bytes: seeded
// random bytes with a short run of text every 64 KiB, so gzip saves a few percent, as on jars.
func writeJarLayer(w io.Writer, seed uint64, layer int, size int64) error {
	rng := rand.New(rand.NewPCG(seed, uint64(layer)<<32|0xba5e))
	tw := tar.NewWriter(w)
	dir := fmt.Sprintf("opt/app/lib%02d/", layer)
	mtime := time.Unix(1767225600, 0)
	if err := tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
		return err
	}
	const fileSize = 4 << 20
	buf := make([]byte, 64<<10)
	text := []byte("META-INF/MANIFEST.MF Implementation-Version: 1.0 org/archivesspace/")
	for n := 0; int64(n)*fileSize < size; n++ {
		sz := min(fileSize, size-int64(n)*fileSize)
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("%slib-%03d.jar", dir, n), Typeflag: tar.TypeReg, Mode: 0o644,
			Size: sz, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		for left := sz; left > 0; {
			for i := 0; i+8 <= len(buf); i += 8 {
				v := rng.Uint64()
				buf[i], buf[i+1], buf[i+2], buf[i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
				buf[i+4], buf[i+5], buf[i+6], buf[i+7] = byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
			}
			for k := 0; k < 60; k++ { // about 4 KiB of repeated text per 64 KiB
				copy(buf[k*len(text):], text)
			}
			chunk := min(left, int64(len(buf)))
			if _, err := tw.Write(buf[:chunk]); err != nil {
				return err
			}
			left -= chunk
		}
	}
	return tw.Close()
}

// writeGzipLayer writes the tar that write makes to path, gzipped (level 1: the base's own
// compression is not what is measured), and returns it as a layer whose digests were taken as
// it was written.
func writeGzipLayer(path string, write func(io.Writer) error) (v1.Layer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	blob, diff := sha256.New(), sha256.New()
	counted := &iocount.Writer{W: io.MultiWriter(f, blob)}
	zw, err := gzip.NewWriterLevel(counted, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if err := write(io.MultiWriter(zw, diff)); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return &fileLayer{path: path, digest: hashOf(blob), diffID: hashOf(diff), size: counted.N}, nil
}

func hashOf(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", h.Sum(nil))}
}

// fileLayer is a gzip layer on disk whose digests are known: nothing is held in memory.
type fileLayer struct {
	path           string
	digest, diffID v1.Hash
	size           int64
}

func (l *fileLayer) Digest() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)             { return l.diffID, nil }
func (l *fileLayer) Size() (int64, error)                 { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error)  { return types.OCILayer, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.path) }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) { return gunzipFile(l.path) }

func gunzipFile(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &readCloser{Reader: zr, close: f.Close}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }
