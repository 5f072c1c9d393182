package layer

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/graft-build/graft/internal/iocount"
	"github.com/klauspost/compress/gzip"
)

// Expect is what a blob read back from a cache must be: the layer New makes of Entries with
// the same options, byte for byte in its tar. A cache holds claims (this key gave this blob);
// Import and Check turn a claim into a fact or refuse it, saying where it differs.
type Expect struct {
	// Entries are what New would be given. A regular file's content is not known up front: it
	// is taken from the blob (Data, Open and Size are ignored) and handed to Content.
	Entries []Entry
	// Content checks one regular file's content (e.g. against its git blob hash): it is given
	// the entry (Size set from the blob) and receives the content; Close reports a mismatch.
	// Nil accepts any content.
	Content func(e Entry) io.WriteCloser
	// Descriptor is what the cache says of the blob.
	Descriptor
	// Recompress also compresses the tar again and compares the result with the blob: it
	// proves the blob is this package's encoding of the tar, not merely a gzip of it (the
	// image's digest depends on which). It costs what making the layer costs, minus reading
	// the files.
	Recompress bool
}

// Import reads a blob a cache supplies, checks it against want (see Expect) and keeps it in
// the cache folder (WithCacheDir) like a layer New made; on any difference nothing is kept
// and the error says what differs.
func Import(blob io.Reader, want Expect, opts ...Option) (*Layer, error) {
	o := newOptions(opts)
	sp := newSpool(o.cacheDir)
	if err := verifyBlob(io.TeeReader(blob, sp), want, o); err != nil {
		sp.discard()
		return nil, err
	}
	l := &Layer{size: want.Size, digest: want.Digest, diffID: want.DiffID, mediaType: o.mediaType}
	if err := sp.finish(l, o); err != nil {
		return nil, err
	}
	return l, nil
}

// Check reads a Stored layer's file and checks it against want (see Expect); once it passes,
// the file is linked and read without hashing it again.
func (l *Layer) Check(want Expect, opts ...Option) error {
	if l.file == "" {
		return errors.New("no cached blob to check")
	}
	want.Descriptor = Descriptor{Digest: l.digest, DiffID: l.diffID, Size: l.size}
	f, err := os.Open(l.file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := verifyBlob(f, want, newOptions(opts)); err != nil {
		return err
	}
	l.trusted, l.check = true, nil
	return nil
}

// verifyBlob reads blob once: its sha256 and length against the descriptor, its tar's sha256
// against the diff ID, and the tar against the one writeTar makes of the expected entries with
// the blob's file contents (so any entry, header field, order or padding graft would not write
// shows), each content through want.Content; with Recompress, the gzip encoding too.
func verifyBlob(blob io.Reader, want Expect, o *options) error {
	expected, err := normalize(want.Entries, o)
	if err != nil {
		return err
	}
	blobHash := sha256.New()
	counted := &iocount.Writer{W: blobHash}
	zr, err := gzip.NewReader(io.TeeReader(io.LimitReader(blob, want.Size+1), counted))
	if err != nil {
		return fmt.Errorf("not a gzip stream: %w", err)
	}
	tarHash, remade := sha256.New(), sha256.New()
	var remadeOut io.Writer = remade
	var recompressed hash.Hash
	var zw io.WriteCloser
	done := func() {}
	if want.Recompress {
		recompressed = sha256.New()
		gz, put, err := newGzip(recompressed, o.level)
		if err != nil {
			return err
		}
		zw, done, remadeOut = gz, put, io.MultiWriter(remade, gz)
		defer func() {
			if zw != nil {
				zw.Close() // stops its goroutines; a writer given up mid-stream is not reused
			}
		}()
	}
	tr := tar.NewReader(io.TeeReader(zr, tarHash))
	tw := tar.NewWriter(remadeOut)
	if err := compareEntries(tr, tw, expected, want.Content, o); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	// The rest of the tar (its end blocks) and the gzip trailer, whose CRC the reader checks.
	if _, err := io.Copy(io.Discard, io.TeeReader(zr, tarHash)); err != nil {
		return fmt.Errorf("gzip stream: %w", err)
	}
	if zw != nil {
		err := zw.Close()
		zw = nil
		if err != nil {
			return err
		}
		done()
	}
	return compareSums(want, counted.N, blobHash, tarHash, remade, recompressed)
}

// compareEntries reads the tar's entries against the expected ones, in order, and writes what
// writeTar would write for each (with the tar's file contents) to tw.
func compareEntries(tr *tar.Reader, tw *tar.Writer, expected []Entry, content func(Entry) io.WriteCloser, o *options) error {
	for _, e := range expected {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("it ends before %s, which graft's layer holds", e.Name)
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		if name := path.Clean("/" + h.Name); name != e.Name {
			return fmt.Errorf("it holds %s where graft's layer holds %s", name, e.Name)
		}
		if h.Typeflag != e.Type {
			return fmt.Errorf("%s is of tar type %q, graft writes %q", e.Name, h.Typeflag, e.Type)
		}
		hdr := header(e, o)
		if e.Type == tar.TypeReg {
			e.Size, hdr.Size = h.Size, h.Size
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		if e.Type == tar.TypeReg {
			if err := copyContent(tw, tr, e, content); err != nil {
				return fmt.Errorf("%s: %w", e.Name, err)
			}
		}
	}
	h, err := tr.Next()
	if err == nil {
		return fmt.Errorf("it holds %s, which graft's layer does not", path.Clean("/"+h.Name))
	}
	if !errors.Is(err, io.EOF) {
		return fmt.Errorf("read tar: %w", err)
	}
	return nil
}

// copyContent copies one regular file's content from the tar to tw and through content.
func copyContent(tw io.Writer, tr io.Reader, e Entry, content func(Entry) io.WriteCloser) error {
	if content == nil {
		_, err := io.Copy(tw, tr)
		return err
	}
	c := content(e)
	if _, err := io.Copy(io.MultiWriter(tw, c), tr); err != nil {
		c.Close()
		return err
	}
	return c.Close()
}

// compareSums compares what verifyBlob hashed with what the blob must be.
func compareSums(want Expect, n int64, blob, tar, remade, recompressed hash.Hash) error {
	sum := func(h hash.Hash) v1.Hash { return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))} }
	switch {
	case n != want.Size:
		return fmt.Errorf("the blob is %d bytes, not %d", n, want.Size)
	case sum(blob) != want.Digest:
		return fmt.Errorf("the blob's sha256 is %s, not %s", sum(blob), want.Digest)
	case sum(tar) != want.DiffID:
		return fmt.Errorf("its tar's sha256 is %s, not the diff ID %s", sum(tar), want.DiffID)
	case sum(remade) != want.DiffID:
		return fmt.Errorf("its tar holds the expected files but is not the tar graft writes of them (sha256 %s)", sum(remade))
	case recompressed != nil && sum(recompressed) != want.Digest:
		return fmt.Errorf("its tar is graft's, but compressed otherwise than graft compresses it (graft's gzip has sha256 %s)", sum(recompressed))
	}
	return nil
}
