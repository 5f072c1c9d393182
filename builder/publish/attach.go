package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// Attachment is a document published beside the image as an OCI 1.1 referrer of it (an SBOM,
// an attestation, a signature). The image itself is never changed: its digest stays the same.
type Attachment struct {
	ArtifactType string // the referrer's artifactType
	MediaType    string // its one layer's media type; "" is ArtifactType
	Title        string // file name of the document (org.opencontainers.image.title); "" for none
	Data         []byte
	// Annotations go on the layer and on the referrer manifest (a DSSE attestation's
	// predicateType, a simple-signing layer's signature).
	Annotations map[string]string
	// TagSuffix names cosign's tag sha256-<hex>.<suffix> ("sbom", "att", "sig") in a registry:
	// the attachments sharing a suffix are layers of the one manifest there, as cosign writes
	// and reads them (see cosignPlan).
	TagSuffix string
}

// layerType is the media type of the attachment's layer.
func (a Attachment) layerType() types.MediaType {
	if a.MediaType != "" {
		return types.MediaType(a.MediaType)
	}
	return types.MediaType(a.ArtifactType)
}

// layerAnnotations are the attachment's annotations with its title.
func (a Attachment) layerAnnotations() map[string]string {
	ann := map[string]string{}
	if a.Title != "" {
		ann[titleAnnotation] = a.Title
	}
	for k, v := range a.Annotations {
		ann[k] = v
	}
	return ann
}

const titleAnnotation = "org.opencontainers.image.title"

// emptyConfig is the OCI 1.1 empty descriptor's content, the config of artifact manifests.
var emptyConfig = []byte("{}")

const emptyConfigType = types.MediaType("application/vnd.oci.empty.v1+json")

// referrer is an attachment's manifest pointing at subject, and its blobs.
type referrer struct {
	raw   []byte
	desc  v1.Descriptor
	blobs []v1.Layer
}

func (r *referrer) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r *referrer) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func newReferrer(a Attachment, subject v1.Descriptor) (*referrer, error) {
	cfg := static.NewLayer(emptyConfig, emptyConfigType)
	doc := static.NewLayer(a.Data, a.layerType())
	cd, _ := cfg.Digest()
	dd, _ := doc.Digest()
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: a.ArtifactType,
		Config: v1.Descriptor{MediaType: emptyConfigType, Digest: cd, Size: int64(len(emptyConfig)), Data: emptyConfig},
		Layers: []v1.Descriptor{{MediaType: a.layerType(), Digest: dd, Size: int64(len(a.Data)),
			Annotations: a.layerAnnotations()}},
		Annotations: a.Annotations,
		Subject:     &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	h, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	return &referrer{raw: raw, blobs: []v1.Layer{cfg, doc},
		desc: v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: h, Size: size, ArtifactType: a.ArtifactType,
			Annotations: a.Annotations}}, nil
}

// subjectOf is the descriptor of the published manifest or index.
func subjectOf(a Artifact) (v1.Descriptor, error) {
	var raw []byte
	var mt types.MediaType
	var err error
	if a.Index != nil {
		raw, err = a.Index.RawManifest()
		if err == nil {
			mt, err = a.Index.MediaType()
		}
	} else {
		raw, err = a.Image.RawManifest()
		if err == nil {
			mt, err = a.Image.MediaType()
		}
	}
	if err != nil {
		return v1.Descriptor{}, err
	}
	h, size, err := v1.SHA256(bytes.NewReader(raw))
	return v1.Descriptor{MediaType: mt, Digest: h, Size: size}, err
}

func referrers(a Artifact) ([]*referrer, error) {
	if len(a.Attachments) == 0 {
		return nil, nil
	}
	subject, err := subjectOf(a)
	if err != nil {
		return nil, err
	}
	var out []*referrer
	for _, att := range a.Attachments {
		r, err := newReferrer(att, subject)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", att.Title, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// attaching is the attachments of one image on their way to a registry, in two steps around
// the image's own push: prepare (at once with the image's blobs) sends every blob of the
// attachments and reads what the registry has (its referrers API, the fallback tag, cosign's
// tags); commit (once the image's manifest is in) writes the manifests, all at once, then the
// fallback tag once for all referrers. So the attachments add two round trips, one after the
// other, to the image's push, whatever their number.
type attaching struct {
	repo    name.Repository
	rt      http.RoundTripper // authenticated (the handshake made once for the whole push)
	subject v1.Descriptor
	refs    []*referrer
	atts    []Attachment

	probe    int               // status of the referrers API before the push
	probeErr bool              // that status came with the registry's NAME_UNKNOWN (a new repository)
	fallback *v1.IndexManifest // the fallback tag's index, nil when there is none
	cosign   []cosignWrite     // one per TagSuffix
}

// cosignWrite is one of cosign's tags: the image to write there, or why it is left as it is.
type cosignWrite struct {
	tag  name.Tag
	img  v1.Image
	skip error
}

func newAttaching(repo name.Repository, rt http.RoundTripper, a Artifact) (*attaching, error) {
	refs, err := referrers(a)
	if err != nil || len(refs) == 0 {
		return nil, err
	}
	subject, err := subjectOf(a)
	if err != nil {
		return nil, err
	}
	return &attaching{repo: repo, rt: rt, subject: subject, refs: refs, atts: a.Attachments}, nil
}

// fallbackTag is OCI 1.1's referrers tag schema: sha256-<hex>.
func (at *attaching) fallbackTag() name.Tag {
	return at.repo.Tag(at.subject.Digest.Algorithm + "-" + at.subject.Digest.Hex)
}

// prepare sends the attachments' blobs (p deduplicates: cosign's copies are the same blobs)
// and reads the referrers API's answer, the fallback tag and cosign's tags, all at once.
func (at *attaching) prepare(ctx context.Context, p *remote.Pusher, opts []remote.Option) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, r := range at.refs {
		for _, b := range r.blobs {
			g.Go(func() error { return p.Upload(gctx, at.repo, b) })
		}
	}
	g.Go(func() (err error) { at.probe, at.probeErr, err = at.referrersAPI(gctx); return err })
	g.Go(func() (err error) { at.fallback, err = at.readFallback(gctx); return err })
	at.cosign = cosignPlan(at.repo, at.subject.Digest, at.atts)
	for i := range at.cosign {
		c := &at.cosign[i]
		g.Go(func() error {
			existing, err := cosignExisting(c.tag, append([]remote.Option{remote.WithContext(gctx)}, opts...))
			if err != nil {
				c.skip = err
				return nil
			}
			if c.img, err = cosignImage(existing, c.group(at.atts)); err != nil {
				return fmt.Errorf("cosign tag %s: %w", c.tag.TagStr(), err)
			}
			return uploadBlobs(gctx, p, at.repo, c.img)
		})
	}
	return g.Wait()
}

// commit writes the referrers' and cosign's manifests at once, then, where the registry has no
// referrers API, the fallback tag's index with every referrer added. The registry has the API
// when it answered for it before the push, or says so (OCI-Subject) to a manifest's PUT.
func (at *attaching) commit(ctx context.Context, p *remote.Pusher, progress io.Writer) error {
	var subjectHeader atomic.Bool
	g, gctx := errgroup.WithContext(ctx)
	for _, r := range at.refs {
		g.Go(func() error {
			got, err := at.putManifest(gctx, r)
			if got == at.subject.Digest.String() {
				subjectHeader.Store(true)
			}
			return err
		})
	}
	var written []string
	var mu sync.Mutex
	for _, c := range at.cosign {
		if c.skip != nil {
			fmt.Fprintf(progress, "cosign tag %s left as it is: %v\n", c.tag.TagStr(), c.skip)
			continue
		}
		g.Go(func() error {
			if err := p.Put(gctx, c.tag, c.img); err != nil {
				return fmt.Errorf("cosign tag %s: %w", c.tag.TagStr(), err)
			}
			mu.Lock()
			written = append(written, c.tag.TagStr())
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	sort.Strings(written)
	api := at.probe == http.StatusOK || subjectHeader.Load()
	if !api && at.probeErr { // a new repository: ask again, now that it exists
		status, _, err := at.referrersAPI(ctx)
		if err != nil {
			return err
		}
		api = status == http.StatusOK
	}
	how := "referrers API"
	if !api {
		if err := at.writeFallback(ctx); err != nil {
			return err
		}
		how = "no referrers API: tag " + at.fallbackTag().TagStr()
	}
	fmt.Fprintf(progress, "attach %d referrer(s) of %s (%s); cosign tags %s\n", len(at.refs), at.subject.Digest, how, strings.Join(written, ", "))
	return nil
}

// url is the address of path in the repository.
func (at *attaching) url(path string) string {
	return fmt.Sprintf("%s://%s/v2/%s/%s", at.repo.Scheme(), at.repo.RegistryStr(), at.repo.RepositoryStr(), path)
}

// referrersAPI asks for the subject's referrers: 200 where the registry serves the API. A 404
// naming the repository unknown (NAME_UNKNOWN) says nothing yet: the repository is new.
func (at *attaching) referrersAPI(ctx context.Context) (int, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, at.url("referrers/"+at.subject.Digest.String()), nil)
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Accept", string(types.OCIImageIndex))
	resp, err := at.rt.RoundTrip(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK, http.StatusNotFound, http.StatusBadRequest); err != nil {
		return 0, false, err
	}
	if resp.StatusCode != http.StatusNotFound {
		return resp.StatusCode, false, nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, strings.Contains(string(body), "NAME_UNKNOWN"), nil
}

// readFallback reads the index at the fallback tag; nil where there is none.
func (at *attaching) readFallback(ctx context.Context) (*v1.IndexManifest, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, at.url("manifests/"+at.fallbackTag().TagStr()), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", string(types.OCIImageIndex))
	resp, err := at.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK, http.StatusNotFound); err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	var im v1.IndexManifest
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxFallbackIndex)).Decode(&im); err != nil {
		return nil, fmt.Errorf("fallback tag %s: %w", at.fallbackTag().TagStr(), err)
	}
	if im.SchemaVersion != 2 || im.MediaType != types.OCIImageIndex {
		return nil, fmt.Errorf("fallback tag %s holds no OCI image index (schema %d, %s)", at.fallbackTag().TagStr(), im.SchemaVersion, im.MediaType)
	}
	return &im, nil
}

// maxFallbackIndex bounds the fallback tag's index read back (a descriptor is a few hundred
// bytes; registries refuse manifests over 4 MiB).
const maxFallbackIndex = 4 << 20

// writeFallback adds every referrer to the fallback tag's index read in prepare (those it
// lists already are not added twice), sorted by digest as ggcr writes it, in one PUT.
func (at *attaching) writeFallback(ctx context.Context) error {
	im := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	if at.fallback != nil {
		im = *at.fallback
	}
	have := map[v1.Hash]bool{}
	for _, d := range im.Manifests {
		have[d.Digest] = true
	}
	added := false
	for _, r := range at.refs {
		if !have[r.desc.Digest] {
			im.Manifests = append(im.Manifests, r.desc)
			added = true
		}
	}
	if !added {
		return nil
	}
	sort.Slice(im.Manifests, func(i, j int) bool { return im.Manifests[i].Digest.String() < im.Manifests[j].Digest.String() })
	raw, err := json.Marshal(im)
	if err != nil {
		return err
	}
	_, err = at.put(ctx, "manifests/"+at.fallbackTag().TagStr(), types.OCIImageIndex, raw)
	return err
}

// putManifest writes a referrer's manifest by its digest and returns the OCI-Subject header of
// the answer (a registry with the referrers API names the subject there).
func (at *attaching) putManifest(ctx context.Context, r *referrer) (string, error) {
	return at.put(ctx, "manifests/"+r.desc.Digest.String(), types.OCIManifestSchema1, r.raw)
}

func (at *attaching) put(ctx context.Context, path string, mt types.MediaType, raw []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, at.url(path), bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", string(mt))
	resp, err := at.rt.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK, http.StatusCreated, http.StatusAccepted); err != nil {
		return "", err
	}
	return resp.Header.Get("OCI-Subject"), nil
}
