package publish

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/builder/sign"
)

// maxCosignLayer bounds a layer of an existing cosign tag read back for merging: signatures
// and attestations are kilobytes, SBOMs megabytes.
const maxCosignLayer = 64 << 20

// maxCosignLayers bounds the layers of an existing cosign tag graft keeps.
const maxCosignLayers = 256

// cosignPlan names, for each TagSuffix in sorted order, cosign's manifest at
// sha256-<hex>.<suffix>: an image whose layers are the documents (cosign sign, attest and
// attach write them so; cosign verify, verify-attestation and download read them). What the
// tag already holds is kept, as cosign keeps it (see cosignImage): attaching.prepare reads it
// and makes the image, attaching.commit writes it.
func cosignPlan(repo name.Repository, subject v1.Hash, atts []Attachment) []cosignWrite {
	seen := map[string]bool{}
	var suffixes []string
	for _, a := range atts {
		if a.TagSuffix != "" && !seen[a.TagSuffix] {
			seen[a.TagSuffix] = true
			suffixes = append(suffixes, a.TagSuffix)
		}
	}
	sort.Strings(suffixes)
	out := make([]cosignWrite, len(suffixes))
	for i, suffix := range suffixes {
		out[i].tag = repo.Tag(subject.Algorithm + "-" + subject.Hex + "." + suffix)
	}
	return out
}

// group is the attachments that go to c's tag.
func (c *cosignWrite) group(atts []Attachment) []Attachment {
	suffix := c.tag.TagStr()[strings.LastIndex(c.tag.TagStr(), ".")+1:]
	var out []Attachment
	for _, a := range atts {
		if a.TagSuffix == suffix {
			out = append(out, a)
		}
	}
	return out
}

// errNotCosign says a tag holds something other than an image manifest.
var errNotCosign = errors.New("it holds an index, not cosign's image manifest")

// cosignExisting are the layers of the image at tag, none when there is no tag.
func cosignExisting(tag name.Tag, opts []remote.Option) ([]layerCopy, error) {
	desc, err := remote.Get(tag, opts...)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == 404 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if desc.MediaType.IsIndex() {
		return nil, errNotCosign
	}
	img, err := desc.Image()
	if err != nil {
		return nil, err
	}
	return readCosignLayers(img)
}

// layerCopy is a layer of an existing cosign manifest, read whole.
type layerCopy struct {
	desc v1.Descriptor
	data []byte
}

// cosignImage is cosign's form of atts: an OCI image manifest with an OCI config (as cosign's
// empty signature image has), one layer per document, after the layers of existing kept.
func cosignImage(old []layerCopy, atts []Attachment) (v1.Image, error) {
	titles := map[string]int{}
	data := make([][]byte, len(atts))
	for i, a := range atts {
		data[i] = a.Data
		if a.Title != "" {
			titles[a.Title] = i
		}
	}
	var adds []mutate.Addendum
	for _, l := range old {
		if i, ours := titles[l.desc.Annotations[titleAnnotation]]; ours {
			if l.desc.MediaType == sign.DSSEMediaType && atts[i].layerType() == sign.DSSEMediaType {
				if merged, ok, err := sign.MergeEnvelopes(data[i], l.data); err == nil && ok {
					data[i] = merged
				}
			}
			continue // graft's earlier copy, replaced below
		}
		if duplicate(l, atts, data) {
			continue
		}
		adds = append(adds, mutate.Addendum{Layer: static.NewLayer(l.data, l.desc.MediaType),
			Annotations: l.desc.Annotations, MediaType: l.desc.MediaType})
	}
	for i, a := range atts {
		adds = append(adds, mutate.Addendum{Layer: static.NewLayer(data[i], a.layerType()),
			Annotations: a.layerAnnotations(), MediaType: a.layerType()})
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	return mutate.Append(base, adds...)
}

// duplicate reports whether l is one of the new documents, byte for byte and with the same
// annotations (a signature made again with the same key: deterministic, so identical).
func duplicate(l layerCopy, atts []Attachment, data [][]byte) bool {
	for i, a := range atts {
		h, _, _ := v1.SHA256(bytes.NewReader(data[i]))
		if h == l.desc.Digest && sameAnnotations(l.desc.Annotations, a.layerAnnotations()) {
			return true
		}
	}
	return false
}

func sameAnnotations(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// readCosignLayers reads every layer of img, bounded, checked against its digest.
func readCosignLayers(img v1.Image) ([]layerCopy, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	if len(m.Layers) > maxCosignLayers {
		return nil, fmt.Errorf("it has %d layers, more than graft keeps (%d)", len(m.Layers), maxCosignLayers)
	}
	var out []layerCopy
	for _, d := range m.Layers {
		if d.Size > maxCosignLayer {
			return nil, fmt.Errorf("layer %s of %d bytes is larger than graft reads", d.Digest, d.Size)
		}
		l, err := img.LayerByDigest(d.Digest)
		if err != nil {
			return nil, err
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(rc, maxCosignLayer+1))
		rc.Close()
		if err != nil {
			return nil, err
		}
		if h, _, _ := v1.SHA256(bytes.NewReader(b)); h != d.Digest {
			return nil, fmt.Errorf("layer %s has digest %s: damaged or tampered", d.Digest, h)
		}
		out = append(out, layerCopy{desc: d, data: b})
	}
	return out, nil
}
