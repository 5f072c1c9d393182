package verify

import (
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/lockfile"
)

// Report is what verify found.
type Report struct {
	Image string // the subject's name
	// Digest is the digest of the image examined: its manifest's (or index's), or for a docker
	// save tar, which keeps no manifest, its config's (the image ID Docker shows).
	Digest       v1.Hash
	Built        v1.Hash // the digest of what the lock builds
	Manifestless bool
	// Differences are what makes the image another than what the lock builds, one per line.
	Differences []Difference
	// NotRecomputed are layers verify could not rebuild (build steps without BuildKit): an
	// unverified layer is not a verified one.
	NotRecomputed []Difference
	// Base is set when the image was built on another base than the lock's: most differences
	// then follow from it.
	Base *BaseChange
}

// Difference is one line of the report.
type Difference struct {
	Platform string // "" for the index or the image as a whole
	Text     string
}

func (d Difference) String() string {
	if d.Platform == "" {
		return d.Text
	}
	return "platform " + d.Platform + ": " + d.Text
}

// BaseChange says on which base the image was built and which the lock has.
type BaseChange struct {
	Name        string // graft.toml's base as the lock has it
	Image, Lock string // base digests: the image's label, the lock's
}

// Verified says the image is exactly what the lock builds.
func (r *Report) Verified() bool { return len(r.Differences) == 0 && len(r.NotRecomputed) == 0 }

// Print writes the report: one line per layer not recomputed and per difference, a line
// saying the base differs when it does, and the verdict last.
func (r *Report) Print(w io.Writer) {
	for _, n := range r.NotRecomputed {
		fmt.Fprintln(w, n)
	}
	for _, d := range r.Differences {
		fmt.Fprintln(w, d)
	}
	if r.Base != nil {
		fmt.Fprintf(w, "base differs: %s was built on %s@%s, %s has %s; the differences above follow from it: build again to use the locked base, or verify against the lock the image was built from\n",
			r.Image, r.Base.Name, r.Base.Image, lockfile.LockFile, r.Base.Lock)
	}
	digest := r.Digest.String()
	if r.Manifestless {
		digest = "image ID " + digest + "; a docker save tar keeps no manifest: its config and layers were compared"
	}
	if !r.Verified() {
		fmt.Fprintf(w, "%s (%s) is not verified against %s: %d difference(s), %d layer(s) not recomputed\n",
			r.Image, digest, lockfile.LockFile, len(r.Differences), len(r.NotRecomputed))
		return
	}
	fmt.Fprintf(w, "%s is exactly what %s builds (%s)\n", r.Image, lockfile.LockFile, digest)
}
