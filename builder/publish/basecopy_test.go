package publish_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/fetch"
	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/internal/registrytest"
)

// registryBase pushes a base of the one small /app layer under n random 256 KiB layers to
// repo and returns its layers' digests and its config's.
func registryBase(t *testing.T, ref string, n int) []v1.Hash {
	t.Helper()
	img := buildtest.BaseImage(t, "linux/amd64", "1000:1000", types.OCIManifestSchema1)
	for range n {
		l, err := random.Layer(256<<10, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	blobs := []v1.Hash{m.Config.Digest}
	for _, l := range m.Layers {
		blobs = append(blobs, l.Digest)
	}
	return blobs
}

// blobReads counts, per digest of blobs, the GETs of it in reqs.
func blobReads(reqs []registrytest.Request, blobs []v1.Hash) map[v1.Hash]int {
	n := map[v1.Hash]int{}
	for _, q := range reqs {
		for _, b := range blobs {
			if q.Method == "GET" && strings.HasSuffix(q.Path, "/blobs/"+b.String()) {
				n[b]++
			}
		}
	}
	return n
}

// pings counts the registry sessions opened: the GETs of /v2/ with which a client learns how to
// authenticate.
func pings(reqs []registrytest.Request) int {
	n := 0
	for _, q := range reqs {
		if q.Method == "GET" && q.Path == "/v2/" {
			n++
		}
	}
	return n
}

// The first push of a site on a new base: the build reads each base layer at most once (and
// none once the cache knows the base's folders); to a new repository of the base's registry, no blob
// of the base is read from the registry by the push (each is mounted); to another registry,
// each is read once, as it is copied. Either way the push opens one session per registry, its
// attestations included.
func TestFirstPushMountsOrStreamsTheBaseOnce(t *testing.T) {
	src, other := registrytest.New(t), registrytest.New(t)
	base := registryBase(t, src.Host+"/base/app:1", 3)
	s := buildtest.NewSite(t, src.Host+"/base/app:1", "")
	s.Plugin("alpha", map[string]string{"a.txt": strings.Repeat("alpha ", 1000)}, "")
	s.Lock()
	// The build reads the base's layers from the top down to the one holding the site's folders
	// (builder/basedirs.go: their owner and mode go into graft's last layer), each once; with
	// those folders in the build cache, a rebuild reads none.
	ld := t.TempDir()
	var res *contract.Result
	for i := range 2 {
		mark := len(src.Requests())
		var err error
		res, err = builder.Build(context.Background(), s.Load(), builder.WithCache(fetch.NewCache(t.TempDir())),
			builder.WithBuildCache(buildcache.New(buildcache.Options{LayerDir: ld})), builder.WithLaunchers(buildtest.Launchers(t, "amd64")))
		if err != nil {
			t.Fatal(err)
		}
		reads := blobReads(src.Requests()[mark:], base[1:])
		for _, b := range base[1:] {
			if want := 1 - i; reads[b] != want {
				t.Errorf("build %d read base layer %s %d times; want %d", i+1, b.Hex[:12], reads[b], want)
			}
		}
	}
	a := artifact(res)
	a.Attachments = []publish.Attachment{
		{ArtifactType: "application/spdx+json", Title: "sbom.spdx.json", Data: []byte(`{"spdxVersion":"SPDX-2.3"}`), TagSuffix: "sbom"},
		{ArtifactType: "application/vnd.in-toto+json", Title: "provenance.json", Data: []byte(`{"_type":"x"}`), TagSuffix: "att"},
	}

	push := func(t *testing.T, ref string) {
		t.Helper()
		p, err := publish.Parse("type=registry,name="+ref, publish.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Publish(context.Background(), a, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("new repository, same registry: every base blob mounted, none read", func(t *testing.T) {
		mark, mounts := len(src.Requests()), len(src.Mounts())
		push(t, src.Host+"/site/app:1")
		reqs := src.Requests()[mark:]
		if got := blobReads(reqs, base); len(got) != 0 {
			t.Errorf("the push read base blobs from the registry: %v", got)
		}
		if got := src.Mounts()[mounts:]; len(got) < len(base)-1 || got[0] != "base/app -> site/app" {
			t.Errorf("mounts %v; want the base's %d layers mounted from base/app", got, len(base)-1)
		}
		if n := pings(reqs); n != 1 {
			t.Errorf("%d registry sessions (GET /v2/) for one push; want 1", n)
		}
	})
	t.Run("another registry: every base blob read once", func(t *testing.T) {
		mark, otherMark := len(src.Requests()), len(other.Requests())
		push(t, other.Host+"/site/app:1")
		reads := blobReads(src.Requests()[mark:], base)
		for _, b := range base[1:] { // the config is graft's own, never the base's
			if reads[b] != 1 {
				t.Errorf("base layer %s read %d times from its registry; want 1", b.Hex[:12], reads[b])
			}
		}
		if n := pings(src.Requests()[mark:]); n > 1 {
			t.Errorf("%d sessions with the base's registry for one push; want at most 1", n)
		}
		if n := pings(other.Requests()[otherMark:]); n != 1 {
			t.Errorf("%d registry sessions (GET /v2/) for one push; want 1", n)
		}
	})
}
