package buildcache

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"

	"github.com/graft-build/graft/builder/layer"
)

// LayerSpec is what a build knows of a layer before looking for it.
type LayerSpec struct {
	ID   string // layer.KeyID of its inputs under Options
	What string // the layer in notes: "plugin alpha's layer"
	// Expect is what its blob must hold: the entries New would be given and a check of each
	// file's content (the descriptor comes from the cache).
	Expect layer.Expect
	// Options make the layer (root, owner, epoch, media type); the cache folder is added here.
	Options   []layer.Option
	MediaType types.MediaType // the one Options give
}

// layerRecord is a layer in the local cache: its descriptor, the blob file's modification time
// when recorded (while unchanged, the file is not read again) and the record's MAC.
type layerRecord struct {
	Descriptor
	MTime int64  `json:"mtime,omitempty"`
	MAC   string `json:"mac,omitempty"`
}

func (r layerRecord) fields(id string) []string {
	return []string{"layer/1", id, r.Digest, r.DiffID, strconv.FormatInt(r.Size, 10), strconv.FormatInt(r.MTime, 10)}
}

// Layer is the layer spec names: the local cache's, else an imported cache's, else what make
// builds (given the options with the cache folder). Whichever is used is checked first (see
// Check and Options.MountOnly) and recorded.
func (c *Cache) Layer(ctx context.Context, spec LayerSpec, make func(opts ...layer.Option) (*layer.Layer, error)) (v1.Layer, error) {
	opts := append(append([]layer.Option(nil), spec.Options...), layer.WithCacheDir(c.o.LayerDir))
	k := kind[layerRecord, v1.Layer]{
		load: func(id string) (layerRecord, bool) {
			var r layerRecord
			return r, readJSON(under(c.local.layers, "keys", id), &r)
		},
		save: func(string, layerRecord) {}, // the layer's blob file is what is recorded: see keep
		lookup: func(idx *Index, id string) (layerRecord, bool) {
			d, ok := idx.Layers[id]
			return layerRecord{Descriptor: d}, ok
		},
		export: func(id string, _ layerRecord, l v1.Layer) {
			if d, err := describe(l); err == nil {
				c.used.Layers[id] = d
				c.layers[id] = l
			}
		},
	}
	use := func(r layerRecord, f found) (v1.Layer, error) {
		if f.from == nil {
			return c.localLayer(spec, r, opts)
		}
		return c.importedLayer(ctx, spec, r.Descriptor, f.from, opts)
	}
	compute := func() (v1.Layer, layerRecord, error) {
		l, err := make(opts...)
		if err != nil {
			return nil, layerRecord{}, err
		}
		c.keep(spec.ID, l)
		return l, layerRecord{}, nil
	}
	return get(c, k, spec.ID, spec.What, use, compute)
}

// localLayer is a layer the local cache records. One this machine recorded (MAC) is used as
// recorded, its blob read only if the file changed since; any other is checked in full, and
// under CheckAll every one is.
func (c *Cache) localLayer(spec LayerSpec, r layerRecord, opts []layer.Option) (v1.Layer, error) {
	d, err := r.parse()
	if err != nil {
		return nil, err
	}
	own := c.local.own(r.MAC, r.fields(spec.ID)...)
	l := layer.Stored(d, false, opts...)
	if l == nil {
		return nil, errAbsent
	}
	if own && c.o.Check != CheckAll {
		if st, err := os.Lstat(l.CacheFile()); err == nil && st.ModTime().UnixNano() == r.MTime {
			return layer.Stored(d, true, opts...), nil
		}
	}
	want := spec.Expect
	want.Recompress = c.o.Check == CheckAll
	if err := l.Check(want, opts...); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(l.CacheFile()), err)
	}
	c.keep(spec.ID, l)
	return l, nil
}

// importedLayer is a layer an imported cache names. Its blob is downloaded and checked in full,
// and kept in the local cache, unless MountOnly lets a registry's blob be taken on its entry.
func (c *Cache) importedLayer(ctx context.Context, spec LayerSpec, d Descriptor, im *imported, opts []layer.Option) (v1.Layer, error) {
	ld, err := layerRecord{Descriptor: d}.parse()
	if err != nil {
		return nil, err
	}
	size, listed := im.read.Held[ld.Digest]
	b, err := im.store.Blob(ctx, ld.Digest, ld.Size, listed && size == ld.Size)
	switch {
	case err != nil:
		return nil, fmt.Errorf("blob %s: %w", ld.Digest, err)
	case b == nil:
		return nil, fmt.Errorf("blob %s is gone", ld.Digest)
	}
	if b.Mount != nil && c.o.MountOnly && c.o.Check != CheckAll {
		return &remote.MountableLayer{Layer: &described{ctx: ctx, d: ld, mt: spec.MediaType, open: b.Open}, Reference: *b.Mount}, nil
	}
	rc, err := b.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", ld.Digest, err)
	}
	defer rc.Close()
	want := spec.Expect
	want.Descriptor, want.Recompress = ld, c.o.Check == CheckAll
	l, err := layer.Import(rc, want, opts...)
	if err != nil {
		return nil, err
	}
	c.keep(spec.ID, l)
	if b.Mount != nil { // pushed to the cache's registry, it is mounted rather than sent
		return &remote.MountableLayer{Layer: l, Reference: *b.Mount}, nil
	}
	return l, nil
}

// keep records in the local cache that id gave l, with this machine's MAC: l was made or
// checked here. Failing to cache is not an error.
func (c *Cache) keep(id string, l *layer.Layer) {
	file := l.CacheFile()
	st, err := os.Lstat(file)
	if file == "" || err != nil || c.local.layers == "" {
		return
	}
	d, err := describe(l)
	if err != nil {
		return
	}
	r := layerRecord{Descriptor: d, MTime: st.ModTime().UnixNano()}
	if c.local.key != nil {
		r.MAC = c.local.mac(r.fields(id)...)
	}
	writeJSON(under(c.local.layers, "keys", id), r)
}

// parse checks a descriptor's form: the hashes, a positive size, a layer media type.
func (r layerRecord) parse() (layer.Descriptor, error) {
	digest, err := v1.NewHash(r.Digest)
	if err != nil {
		return layer.Descriptor{}, fmt.Errorf("digest: %w", err)
	}
	diffID, err := v1.NewHash(r.DiffID)
	if err != nil {
		return layer.Descriptor{}, fmt.Errorf("diff ID: %w", err)
	}
	if r.Size <= 0 {
		return layer.Descriptor{}, fmt.Errorf("size %d", r.Size)
	}
	switch types.MediaType(r.MediaType) {
	case types.OCILayer, types.DockerLayer, "": // the build's options give the media type
	default:
		return layer.Descriptor{}, fmt.Errorf("media type %q", r.MediaType)
	}
	return layer.Descriptor{Digest: digest, DiffID: diffID, Size: r.Size}, nil
}

func describe(l v1.Layer) (Descriptor, error) {
	digest, err := l.Digest()
	if err != nil {
		return Descriptor{}, err
	}
	diffID, err := l.DiffID()
	if err != nil {
		return Descriptor{}, err
	}
	size, err := l.Size()
	if err != nil {
		return Descriptor{}, err
	}
	mt, err := l.MediaType()
	if err != nil {
		return Descriptor{}, err
	}
	return Descriptor{Digest: digest.String(), DiffID: diffID.String(), Size: size, MediaType: string(mt)}, nil
}

// described is a registry cache's layer taken on its index entry (Options.MountOnly): an output
// reuses or mounts it by digest. Should one read it after all (a registry refusing the mount),
// its bytes are checked as they stream against the digest and size, and its tar against the
// diff ID; a difference fails that read.
type described struct {
	ctx  context.Context
	d    layer.Descriptor
	mt   types.MediaType
	open func(context.Context) (io.ReadCloser, error)
}

func (b *described) Digest() (v1.Hash, error)            { return b.d.Digest, nil }
func (b *described) DiffID() (v1.Hash, error)            { return b.d.DiffID, nil }
func (b *described) Size() (int64, error)                { return b.d.Size, nil }
func (b *described) MediaType() (types.MediaType, error) { return b.mt, nil }

func (b *described) Compressed() (io.ReadCloser, error) {
	rc, err := b.open(b.ctx)
	if err != nil {
		return nil, err
	}
	return &verifier{rc: rc, r: io.LimitReader(rc, b.d.Size+1), h: sha256.New(), want: b.d.Digest, size: b.d.Size, what: "cached blob"}, nil
}

func (b *described) Uncompressed() (io.ReadCloser, error) {
	rc, err := b.Compressed()
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(rc)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("cached blob %s: %w", b.d.Digest, err)
	}
	return &verifier{rc: rc, r: zr, h: sha256.New(), want: b.d.DiffID, size: -1, what: "cached layer's tar"}, nil
}

// verifier hashes what it reads and fails at the end when the content is not what was named.
type verifier struct {
	rc   io.Closer
	r    io.Reader
	h    hash.Hash
	n    int64
	want v1.Hash
	size int64 // -1: unknown
	what string
}

func (v *verifier) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.size >= 0 && v.n > v.size {
		return n, fmt.Errorf("%s %s: longer than its recorded %d bytes", v.what, v.want, v.size)
	}
	if err == io.EOF {
		got := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", v.h.Sum(nil))}
		if got != v.want || (v.size >= 0 && v.n != v.size) {
			return n, fmt.Errorf("%s: content has %s, the cache says %s: the cache entry was changed; delete it or build without --cache-from", v.what, got, v.want)
		}
	}
	return n, err
}

func (v *verifier) Close() error { return v.rc.Close() }

// GitContent checks each regular file of a layer against the git blob ID ids gives its path
// in the image: what git holds, byte for byte.
func GitContent(ids map[string]plumbing.Hash) func(layer.Entry) io.WriteCloser {
	return func(e layer.Entry) io.WriteCloser {
		return &gitBlob{h: plumbing.NewHasher(plumbing.BlobObject, e.Size), want: ids[e.Name]}
	}
}

// gitBlob hashes a file's content as git hashes a blob.
type gitBlob struct {
	h    plumbing.Hasher
	want plumbing.Hash
}

func (g *gitBlob) Write(p []byte) (int, error) { return g.h.Write(p) }

func (g *gitBlob) Close() error {
	if got := g.h.Sum(); got != g.want {
		return fmt.Errorf("content is git blob %s, not %s", got, g.want)
	}
	return nil
}
