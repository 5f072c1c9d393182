// Package layercache holds the transports of graft's shared layer cache (--cache-from,
// --cache-to): where a cache lives (a registry repository, a folder) and how its index and
// blobs get there and back, with as few round trips as the place allows. It moves bytes and
// judges none: what an index means, and every check of what is read from a cache, is package
// builder/buildcache's.
package layercache

import (
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// MaxIndex bounds the index read from a cache (listings of thousands of files stay far below).
const MaxIndex = 64 << 20

// Store is one place a cache lives: a registry reference or a folder.
type Store interface {
	fmt.Stringer
	// Connect prepares the place for reading, or for writing too (a registry's handshake: a
	// ping and a token), so that the first real request does not wait for it. Writing, blobs
	// may be mounted from the repositories mountFrom (the token covers pulling from them).
	// Optional: the other methods connect when they must.
	Connect(ctx context.Context, write bool, mountFrom []name.Repository) error
	// ReadIndex reads the index and what the place is known to hold.
	ReadIndex(ctx context.Context) (Read, error)
	// Blob finds the blob with digest d and size bytes: nil when the place no longer holds it,
	// an error when it holds another size. held says Read listed it (no need to ask).
	Blob(ctx context.Context, d v1.Hash, size int64, held bool) (*Blob, error)
	// Write stores up's index and the blobs the place lacks.
	Write(ctx context.Context, up Upload) error
}

// Read is what ReadIndex found.
type Read struct {
	Index []byte // the raw index (JSON); nil when the place holds no cache yet
	// Repository is the registry repository the place is ("" for a folder).
	Repository string
	// Held are blobs the place holds, known without asking again (for a registry: the layers
	// the cache's manifest names, which the registry keeps while the manifest is tagged).
	Held map[v1.Hash]int64
}

// Blob is a blob a place holds.
type Blob struct {
	// Open reads the blob as the place holds it: nothing is checked here.
	Open func(ctx context.Context) (io.ReadCloser, error)
	// Mount is where a registry may mount the blob from without it being downloaded (nil for a
	// folder).
	Mount *name.Digest
}

// Upload is what Write stores.
type Upload struct {
	Index []byte     // the raw index (JSON)
	Blobs []v1.Layer // the blobs the index names
	// MountFrom are repositories the build pushed its image to: a registry place mounts the
	// blobs from there rather than uploading them again.
	MountFrom []name.Repository
	// Held are blobs known to be in a repository already (Read.Held of a cache imported this
	// build), by repository: a registry place does not ask for them again.
	Held map[string]map[v1.Hash]bool
}
