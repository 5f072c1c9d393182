package fetch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// storePack writes the pack stream that fetch produces into the bare repository dir as
// objects/pack/pack-<checksum>.{pack,idx}. go-git's own fetch indexes a pack by inflating every
// object into memory (a 200 MB file costs 200 MB), so graft indexes it itself: objects that
// are not deltas are hashed as they stream past; only deltas are inflated, with their bases.
func storePack(dir string, fetch func(io.Writer) error) error {
	packDir := filepath.Join(dir, "objects", "pack")
	if err := os.MkdirAll(packDir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(packDir, "tmp-pack-")
	if err != nil {
		return err
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	bw := bufio.NewWriterSize(f, 256<<10)
	if err := fetch(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	idx, sum, err := indexPack(f)
	if err != nil {
		return err
	}
	base := filepath.Join(packDir, "pack-"+sum.String())
	var ib bytes.Buffer
	if _, err := idxfile.NewEncoder(&ib).Encode(idx); err != nil {
		return err
	}
	if err := os.WriteFile(base+".idx.tmp", ib.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), base+".pack"); err != nil {
		return err
	}
	return os.Rename(base+".idx.tmp", base+".idx")
}

// packEntry is one object of a pack being indexed.
type packEntry struct {
	off  int64
	typ  plumbing.ObjectType // the object's type once resolved; a delta type until then
	size int64
	base int64         // an OFS delta's base offset
	ref  plumbing.Hash // a REF delta's base
	crc  uint32
	hash plumbing.Hash
	done bool
}

// maxCached bounds the resolved delta bases kept while indexing (a base used by several deltas
// is inflated once); one object over maxCachedObject is inflated again each time it is needed.
// Small: the cache lives only while one plugin is fetched, but two fetch at once, and its peak
// adds to the build's (source files deltified against each other are common).
const (
	maxCached       = 16 << 20
	maxCachedObject = 2 << 20
	maxDeltaChain   = 10000
)

type indexer struct {
	sc      *packfile.Scanner
	entries []packEntry
	byOff   map[int64]int
	byHash  map[plumbing.Hash]int
	cache   map[int][]byte
	cached  int
}

// indexPack reads the pack in f and returns its index and checksum.
func indexPack(f *os.File) (*idxfile.MemoryIndex, plumbing.Hash, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, plumbing.ZeroHash, err
	}
	ix := &indexer{sc: packfile.NewScanner(f), byOff: map[int64]int{}, byHash: map[plumbing.Hash]int{}, cache: map[int][]byte{}}
	_, count, err := ix.sc.Header()
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("read pack: %w", err)
	}
	for i := uint32(0); i < count; i++ {
		if err := ix.scan(); err != nil {
			return nil, plumbing.ZeroHash, fmt.Errorf("read pack: %w", err)
		}
	}
	sum, err := ix.sc.Checksum()
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("read pack: %w", err)
	}
	if err := ix.resolveAll(); err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("read pack: %w", err)
	}
	w := new(idxfile.Writer)
	w.OnHeader(count)
	for _, e := range ix.entries {
		w.Add(e.hash, uint64(e.off), e.crc)
	}
	if err := w.OnFooter(sum); err != nil {
		return nil, plumbing.ZeroHash, err
	}
	idx, err := w.Index()
	return idx, sum, err
}

// scan reads the next object: a whole object is hashed as it streams, a delta only noted.
func (ix *indexer) scan() error {
	oh, err := ix.sc.NextObjectHeader()
	if err != nil {
		return err
	}
	e := packEntry{off: oh.Offset, typ: oh.Type, size: oh.Length, base: oh.OffsetReference, ref: oh.Reference}
	var w io.Writer = io.Discard
	var h plumbing.Hasher
	whole := !oh.Type.IsDelta()
	if whole {
		h = plumbing.NewHasher(oh.Type, oh.Length)
		w = h
	}
	if _, e.crc, err = ix.sc.NextObject(w); err != nil {
		return err
	}
	if whole {
		e.hash, e.done = h.Sum(), true
		ix.byHash[e.hash] = len(ix.entries)
	}
	ix.byOff[e.off] = len(ix.entries)
	ix.entries = append(ix.entries, e)
	return nil
}

// resolveAll hashes every delta; REF deltas whose base is another delta wait for a later pass.
func (ix *indexer) resolveAll() error {
	for {
		progress, pending := false, false
		for i := range ix.entries {
			if ix.entries[i].done {
				continue
			}
			t, data, err := ix.content(i, 0)
			if errors.Is(err, errBaseLater) {
				pending = true
				continue
			}
			if err != nil {
				return err
			}
			e := &ix.entries[i]
			e.typ, e.hash, e.done = t, plumbing.ComputeHash(t, data), true
			ix.byHash[e.hash] = i
			progress = true
		}
		if !pending {
			return nil
		}
		if !progress {
			return errors.New("a delta's base is not in the pack")
		}
	}
}

var errBaseLater = errors.New("base not resolved yet")

// content inflates object i, applying its deltas.
func (ix *indexer) content(i, depth int) (plumbing.ObjectType, []byte, error) {
	if depth > maxDeltaChain {
		return 0, nil, errors.New("delta chain too long")
	}
	if data, ok := ix.cache[i]; ok {
		return ix.entries[i].typ, data, nil
	}
	e := ix.entries[i]
	raw, err := ix.raw(e.off, e.size)
	if err != nil {
		return 0, nil, err
	}
	if !e.typ.IsDelta() {
		ix.keep(i, raw)
		return e.typ, raw, nil
	}
	b, ok := ix.byOff[e.base]
	if e.typ == plumbing.REFDeltaObject {
		b, ok = ix.byHash[e.ref]
		if !ok {
			return 0, nil, errBaseLater
		}
	}
	if !ok {
		return 0, nil, fmt.Errorf("delta at %d: no object at its base offset %d", e.off, e.base)
	}
	t, base, err := ix.content(b, depth+1)
	if err != nil {
		return 0, nil, err
	}
	data, err := packfile.PatchDelta(base, raw)
	if err != nil {
		return 0, nil, err
	}
	ix.entries[i].typ = t
	ix.keep(i, data)
	return t, data, nil
}

// raw inflates the object (or delta) stored at off.
func (ix *indexer) raw(off, size int64) ([]byte, error) {
	if _, err := ix.sc.SeekObjectHeader(off); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(int(min(size, maxCachedObject)))
	if _, _, err := ix.sc.NextObject(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (ix *indexer) keep(i int, data []byte) {
	if len(data) <= maxCachedObject && ix.cached+len(data) <= maxCached {
		ix.cache[i] = data
		ix.cached += len(data)
	}
}
