package verify

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

func sha256Of(b []byte) v1.Hash {
	h, _, _ := v1.SHA256(bytes.NewReader(b))
	return h
}

// layerSum is what one read of a layer's blob gives.
type layerSum struct {
	digest v1.Hash // of the bytes as stored
	size   int64
	diffID v1.Hash // of the uncompressed tar
}

// countingHash hashes and counts what is written to it.
type countingHash struct {
	hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.Hash.Write(p)
}

// hashLayer reads a layer's stored bytes once, hashing them and, decompressed (gzip, zstd or
// none, told by the bytes, not the media type), its tar. The digest covers every byte read even
// when reading fails half-way (a registry reader reports a digest mismatch only at the end), so
// the caller can tell other bytes from a failed read.
func hashLayer(l v1.Layer) (layerSum, error) {
	rc, err := l.Compressed()
	if err != nil {
		return layerSum{}, err
	}
	defer rc.Close()
	stored := &countingHash{Hash: sha256.New()}
	br := bufio.NewReaderSize(io.TeeReader(rc, stored), 1<<16)
	tar := sha256.New()
	uerr := uncompress(br, tar)
	// Whatever the decompressor left (or could not read) still counts for the stored digest.
	_, rerr := io.Copy(io.Discard, br)
	sum := layerSum{digest: v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", stored.Sum(nil))}, size: stored.n,
		diffID: v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", tar.Sum(nil))}}
	return sum, errors.Join(rerr, uerr)
}

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// uncompress writes the tar br holds to w.
func uncompress(br *bufio.Reader, w io.Writer) error {
	head, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		if _, err := io.Copy(w, zr); err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		if _, err := io.Copy(w, zr); err != nil {
			return fmt.Errorf("zstd: %w", err)
		}
	default:
		if _, err := io.Copy(w, br); err != nil {
			return err
		}
	}
	return nil
}
