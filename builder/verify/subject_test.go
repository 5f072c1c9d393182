package verify

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/internal/imageref"
)

func TestNewSubject(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: "ab"}
	res := &imageref.Resolved{Digest: d}
	for kind, manifestless := range map[imageref.Kind]bool{
		imageref.Registry: false, imageref.Layout: false, imageref.OCIArchive: false,
		imageref.DockerArchive: true, imageref.Daemon: true,
	} {
		s := NewSubject("img", imageref.Ref{Kind: kind}, res)
		if s.Name != "img" || s.Manifestless != manifestless || (s.Digest == d) == manifestless {
			t.Errorf("%v: %+v", kind, s)
		}
	}
}
