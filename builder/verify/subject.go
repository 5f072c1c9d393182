package verify

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/internal/imageref"
)

// NewSubject is the image an IMAGE argument resolved to, named as the user wrote it: a docker
// tar, and the Docker Engine (which hands images out as one), keep no manifest, so theirs is
// not compared.
func NewSubject(name string, ref imageref.Ref, res *imageref.Resolved) Subject {
	subj := Subject{Name: name, Digest: res.Digest, Image: res.Image, Index: res.Index}
	if ref.Kind == imageref.DockerArchive || ref.Kind == imageref.Daemon {
		subj.Digest, subj.Manifestless = v1.Hash{}, true
	}
	return subj
}
