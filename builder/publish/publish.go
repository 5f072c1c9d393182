// Package publish writes a built image somewhere: an OCI layout folder, a `docker load` tar, a
// registry, or the local Docker Engine. Each output is its own Publisher (as in ko's
// pkg/publish), parsed from a buildx-style spec: "type=oci,dest=DIR".
package publish

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/builder/contract"
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

// Parse reads one --output spec.
func Parse(spec string, o Options) (Publisher, error) {
	kv, err := fields(spec)
	if err != nil {
		return nil, err
	}
	typ := kv["type"]
	delete(kv, "type")
	switch typ {
	case "oci":
		return newLayout(kv, o, spec)
	case "docker":
		return newTarball(kv, o, spec)
	case "registry", "image":
		return newRegistry(kv, o, spec)
	case "daemon":
		return newDaemon(kv, o, spec)
	case "":
		return nil, usererr.New("--output %q: no type; write type=oci,dest=DIR | type=docker,dest=FILE | type=registry,name=REF | type=daemon[,name=REF]", spec)
	}
	return nil, usererr.New("--output %q: unknown type %q; use oci, docker, registry or daemon", spec, typ)
}

// fields splits "k=v,k=v".
func fields(spec string) (map[string]string, error) {
	kv := map[string]string{}
	for _, part := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" {
			return nil, usererr.New("--output %q: %q is not key=value", spec, part)
		}
		if _, dup := kv[k]; dup {
			return nil, usererr.New("--output %q: %s given twice", spec, k)
		}
		kv[k] = v
	}
	return kv, nil
}

// only refuses keys a type does not take, so a typo is not silently ignored.
func only(kv map[string]string, spec string, allowed ...string) error {
	var extra []string
	for k := range kv {
		found := false
		for _, a := range allowed {
			found = found || k == a
		}
		if !found {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return usererr.New("--output %q: unknown key %s (this type takes: %s)", spec, strings.Join(extra, ", "), strings.Join(allowed, ", "))
	}
	return nil
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
