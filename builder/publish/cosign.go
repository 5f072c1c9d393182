package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

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

// cosignTags writes, for each TagSuffix, cosign's manifest at sha256-<hex>.<suffix>: an image
// whose layers are the documents (cosign sign, attest and attach write them so; cosign
// verify, verify-attestation and download read them). What the tag already holds is kept, as
// cosign keeps it: layers another tool wrote stay; graft's own earlier copies (same title) are
// replaced, an attestation of the same statement handing its signatures on to the new one; an
// identical layer is not added twice. It returns the tags written.
func cosignTags(ctx context.Context, repo name.Repository, subject v1.Hash, atts []Attachment, opts []remote.Option, progress io.Writer) ([]string, error) {
	groups := map[string][]Attachment{}
	for _, a := range atts {
		if a.TagSuffix != "" {
			groups[a.TagSuffix] = append(groups[a.TagSuffix], a)
		}
	}
	suffixes := make([]string, 0, len(groups))
	for s := range groups {
		suffixes = append(suffixes, s)
	}
	sort.Strings(suffixes)
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	var written []string
	for _, suffix := range suffixes {
		tag := repo.Tag(subject.Algorithm + "-" + subject.Hex + "." + suffix)
		existing, err := cosignExisting(tag, opts)
		if err != nil {
			fmt.Fprintf(progress, "cosign tag %s left as it is: %v\n", tag.TagStr(), err)
			continue
		}
		img, err := cosignImage(existing, groups[suffix])
		if err != nil {
			return nil, fmt.Errorf("cosign tag %s: %w", tag.TagStr(), err)
		}
		if err := remote.Write(tag, img, opts...); err != nil {
			return nil, fmt.Errorf("cosign tag %s: %w", tag.TagStr(), err)
		}
		written = append(written, tag.TagStr())
	}
	return written, nil
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
