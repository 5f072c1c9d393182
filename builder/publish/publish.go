// Package publish writes a built image somewhere: an OCI layout folder, a `docker load` tar, a
// registry, or the local Docker Engine. Each output is its own Publisher (as in ko's
// pkg/publish), parsed from a buildx-style spec: "type=oci,dest=DIR". All runs a build's
// outputs with their progress, and Report is what `graft build --json` says of them.
package publish

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/internal/flagspec"
	"github.com/graft-build/graft/internal/usererr"
)

// Artifact is what is published: a single image or an index.
type Artifact struct {
	Image v1.Image
	Index v1.ImageIndex
	// Names labels layers by digest (e.g. "plugin alpha ..."); a registry push reports for
	// each whether it was sent or the registry had it.
	Names map[v1.Hash]string
	// Attachments are published as referrers of the image where the output can hold them
	// (registry, OCI layout); see attach.go.
	Attachments []Attachment
	// BlobsPushed, when set, is called by a registry output once the image's blobs are in its
	// repository, before its manifests: work that needs the blobs there (a cache export
	// mounting them) can go beside the rest of the push.
	BlobsPushed func(name.Repository)
}

// Digest is the artifact's manifest or index digest.
func (a Artifact) Digest() (v1.Hash, error) {
	if a.Index != nil {
		return a.Index.Digest()
	}
	return a.Image.Digest()
}

// Publisher writes an artifact to one place and says where.
type Publisher interface {
	Publish(ctx context.Context, a Artifact, progress io.Writer) (string, error)
	String() string
	// Target is where the publisher writes, known from its spec (nothing re-parses flags).
	Target() Target
}

// Target is where a publisher writes.
type Target struct {
	// Repository is where a registry output pushes: a registry cache can mount the blobs the
	// build pushed from it. Nil for other outputs.
	Repository *name.Repository
	// Path is the folder or file a layout, OCI tar or docker tar output writes; "" for others.
	Path string
}

// DefaultSpec is the output when none is given.
const DefaultSpec = "type=oci,dest=out/image"

// Options are what output specs may leave out.
type Options struct {
	BaseDir     string // relative dest paths are taken from here (the site repository)
	DefaultName string // image name when a spec has none (graft.toml name)
	Jobs        int    // parallel uploads to a registry
	Remote      []RemoteOption
}

// Parse reads one --output spec (flagspec's syntax, shared with --cache-*).
func Parse(spec string, o Options) (Publisher, error) {
	s, err := flagspec.Parse("--output", spec)
	if err != nil {
		return nil, err
	}
	switch s.Type {
	case "oci":
		return newLayout(s, o)
	case "docker":
		return newTarball(s, o)
	case "registry", "image":
		return newRegistry(s, o)
	case "daemon":
		return newDaemon(s, o)
	case "":
		return nil, usererr.New("--output %q: no type; write type=oci,dest=DIR | type=docker,dest=FILE | type=registry,name=REF | type=daemon[,name=REF]", spec)
	}
	return nil, usererr.New("--output %q: unknown type %q; use oci, docker, registry or daemon", spec, s.Type)
}

// tagOf parses an image name, adding :latest when it has no tag or digest.
func tagOf(ref, spec string) (name.Tag, error) {
	t, err := name.NewTag(ref)
	if err != nil {
		return name.Tag{}, usererr.New("--output %q: name %q: %v", spec, ref, err)
	}
	return t, nil
}

func absDest(dest, base string) string {
	if filepath.IsAbs(dest) {
		return filepath.Clean(dest)
	}
	return filepath.Join(base, dest)
}

// platformImage picks the image of an index that runs here (for docker tar and daemon, which
// hold one platform): this machine's architecture, else the first.
func platformImage(a Artifact) (v1.Image, string, error) {
	if a.Index == nil {
		return a.Image, "", nil
	}
	m, err := a.Index.IndexManifest()
	if err != nil {
		return nil, "", err
	}
	if len(m.Manifests) == 0 {
		return nil, "", fmt.Errorf("the index holds no image")
	}
	pick := m.Manifests[0]
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
			pick = d
			break
		}
	}
	img, err := a.Index.Image(pick.Digest)
	plat := ""
	if pick.Platform != nil {
		plat = contract.Platform(*pick.Platform)
	}
	return img, plat, err
}
