package publish

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/internal/imageref"
)

// The shape of the OCI layout graft writes (a folder, or the same folder as one tar). Its
// index.json has exactly one entry, because `crane push DIR`, `skopeo oci:DIR` without a tag
// and `syft oci-dir:` refuse or cannot choose among more:
//
//   - without attachments, the entry is the image itself (or the multi-platform index), with
//     its platform, so its digest is the one graft build printed;
//   - with attachments (SBOM, provenance), the entry is a small OCI index holding the image
//     (with its platform; for a multi-platform image, its platform images and then its index)
//     and the attachments' referrer manifests (OCI 1.1, subject = the image; platform
//     unknown/unknown, as buildx marks attestation manifests, so that tools choosing a
//     platform skip them). The index carries org.graft.image.digest = the image's digest. Its
//     own digest changes with the attachments; the image's does not.
//
// oras finds the attachments (it indexes everything reachable from index.json), skopeo and
// syft choose the image by platform, crane pushes the index with the image and its
// attachments, and graft reads the image and finds the attachments through imageref.

// layoutNames name the image in index.json: its tag (org.opencontainers.image.ref.name, which
// BuildKit, skopeo and umoci look up) and its full name (io.containerd.image.name, which
// containerd, podman and Docker name a loaded image by); full is "" without a name.
type layoutNames struct {
	tag, full string
}

// fullName is a tag's name as containerd writes it: docker.io/library/app:v1 for app:v1.
func fullName(t name.Tag) string {
	reg := t.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	return reg + "/" + t.RepositoryStr() + ":" + t.TagStr()
}

func (n layoutNames) annotations() map[string]string {
	ann := map[string]string{imageref.RefNameAnnotation: n.tag}
	if n.full != "" {
		ann[imageref.ContainerdNameAnnotation] = n.full
	}
	return ann
}

// writeLayout writes a as an OCI layout into the empty folder dir, readable by all: ggcr
// writes blobs 0600 (through CreateTemp) and index.json with the process's umask, but a
// layout is an artifact other users and tools (CI jobs, crane, skopeo) read.
func writeLayout(dir string, a Artifact, names layoutNames) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := linkBlobs(dir, a); err != nil {
		return err
	}
	top, err := writeSubject(p, a)
	if err != nil {
		return err
	}
	if len(a.Attachments) > 0 {
		if top, err = writeWrapper(p, a, top); err != nil {
			return err
		}
	}
	top.Annotations = names.annotations()
	if err := p.AppendDescriptor(top); err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			return os.Chmod(path, 0o755)
		case d.Type().IsRegular():
			return os.Chmod(path, 0o644)
		}
		return nil // graft writes no links; never chmod through one
	})
}

// writeSubject writes the image's (or index's) blobs and returns its descriptor, with the
// platform of a single image (syft and skopeo choose an entry by it).
func writeSubject(p layout.Path, a Artifact) (v1.Descriptor, error) {
	var err error
	if a.Index != nil {
		err = p.WriteIndex(a.Index)
	} else {
		err = p.WriteImage(a.Image)
	}
	if err != nil {
		return v1.Descriptor{}, err
	}
	d, err := subjectOf(a)
	if err != nil || a.Index != nil {
		return d, err
	}
	cf, err := a.Image.ConfigFile()
	if err != nil {
		return v1.Descriptor{}, err
	}
	if cf.OS != "" && cf.Architecture != "" {
		d.Platform = &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion}
	}
	return d, nil
}

// unknownPlatform marks an entry no runtime should choose (buildx's attestation manifests).
var unknownPlatform = &v1.Platform{OS: "unknown", Architecture: "unknown"}

// writeWrapper writes the attachments' referrer manifests and the index holding subject and
// them, and returns the index's descriptor.
func writeWrapper(p layout.Path, a Artifact, subject v1.Descriptor) (v1.Descriptor, error) {
	refs, err := referrers(a)
	if err != nil {
		return v1.Descriptor{}, err
	}
	m := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex,
		Annotations: map[string]string{imageref.ImageAnnotation: subject.Digest.String()}}
	if a.Index != nil {
		// A multi-platform image's platforms are listed here too, so that tools choosing a
		// platform (skopeo, syft, go-containerregistry, runtimes) find them without following
		// a nested index; the index itself stays, as the attachments' subject.
		im, err := a.Index.IndexManifest()
		if err != nil {
			return v1.Descriptor{}, err
		}
		m.Manifests = append(m.Manifests, im.Manifests...)
	}
	m.Manifests = append(m.Manifests, subject)
	for _, r := range refs {
		if err := writeReferrer(p, r); err != nil {
			return v1.Descriptor{}, err
		}
		d := r.desc
		d.Platform = unknownPlatform
		m.Manifests = append(m.Manifests, d)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return v1.Descriptor{}, err
	}
	h, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return v1.Descriptor{}, err
	}
	if err := p.WriteBlob(h, io.NopCloser(bytes.NewReader(raw))); err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: types.OCIImageIndex, Digest: h, Size: size}, nil
}

// writeReferrer writes one referrer's blobs and manifest.
func writeReferrer(p layout.Path, r *referrer) error {
	for _, b := range r.blobs {
		d, err := b.Digest()
		if err != nil {
			return err
		}
		rc, err := b.Compressed()
		if err != nil {
			return err
		}
		if err := p.WriteBlob(d, rc); err != nil {
			return err
		}
	}
	return p.WriteBlob(r.desc.Digest, io.NopCloser(bytes.NewReader(r.raw)))
}
