package layercache

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/internal/registrytest"
	"github.com/graft-build/graft/internal/usererr"
)

func TestParse(t *testing.T) {
	cases := []struct {
		spec, dirKey string
		want         string // store's String, "" for BuildKit-only types
		err          string
	}{
		{"type=registry,ref=reg.example/c:ci,mode=max", "dest", "reg.example/c:ci", ""},
		{"reg.example/c:ci", "src", "reg.example/c:ci", ""},
		{"type=local,src=/ci/cache", "src", "/ci/cache", ""},
		{"type=local,dest=/ci/cache", "dest", "/ci/cache", ""},
		{"type=gha,scope=x", "src", "", ""},
		{"type=inline", "dest", "", "type=inline needs an image BuildKit pushes"}, // as BuildKit's parser says
		{"type=local,dest=/x", "src", "", "type=local needs src=DIR"},
		{"type=registry", "src", "", "needs ref=REF"},
		{"type=registry,ref=UPPER/x", "src", "", "needs ref=REF (a valid image reference)"},
		{"type=registry,ref=r.example/c@sha256:" + strings.Repeat("a", 64), "dest", "", "not a digest"},
		{"type=local,src", "src", "", "is not key=value"},
		{" ", "src", "", "empty cache spec"},
	}
	for _, c := range cases {
		s, ok, err := Parse(c.spec, "--flag", c.dirKey)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) || !usererr.Is(err) {
				t.Errorf("%q: err %v, want %q (bad input)", c.spec, err, c.err)
			}
		case err != nil:
			t.Errorf("%q: %v", c.spec, err)
		case c.want == "" && ok, c.want != "" && (!ok || s.String() != c.want):
			t.Errorf("%q: %v %v, want %q", c.spec, s, ok, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"type=registry,ref=a/b:c", "type=local,src=/x", "a/b", "type=local,src", ",,=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, ok, err := Parse(spec, "--cache-from", "src")
		if err != nil && !usererr.Is(err) {
			t.Fatalf("%q: not a bad-input error: %v", spec, err)
		}
		if ok && s == nil {
			t.Fatalf("%q: ok without a store", spec)
		}
	})
}

// A registry place reads its index in two requests after the handshake, knows the blobs its
// manifest names without asking, and on writing skips the blobs a repository is known to hold
// and sends the rest and the index at once.
func TestRegistryRoundTrips(t *testing.T) {
	reg := registrytest.New(t)
	ctx := context.Background()
	ref, _ := name.ParseReference(reg.Host + "/ci/cache:main")
	var layers []v1.Layer
	for i := 0; i < 3; i++ {
		l, err := random.Layer(256, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	w := Registry(ref)
	if err := w.Write(ctx, Upload{Index: []byte(`{"v":1}`), Blobs: layers[:2]}); err != nil {
		t.Fatal(err)
	}
	r := Registry(ref)
	mark := len(reg.Requests())
	got, err := r.ReadIndex(ctx)
	if err != nil || string(got.Index) != `{"v":1}` || got.Repository != reg.Host+"/ci/cache" || len(got.Held) != 2 {
		t.Fatalf("read %+v, %v", got, err)
	}
	if n := len(reg.Requests()) - mark; n != 3 {
		t.Errorf("reading the index took %d requests, want ping, manifest and config", n)
	}
	d0, _ := layers[0].Digest()
	s0, _ := layers[0].Size()
	mark = len(reg.Requests())
	if b, err := r.Blob(ctx, d0, s0, true); err != nil || b == nil || b.Mount == nil || len(reg.Requests()) != mark {
		t.Errorf("a held blob: %v %v, %d requests", b, err, len(reg.Requests())-mark)
	}
	d2, _ := layers[2].Digest()
	if b, err := r.Blob(ctx, d2, 256, false); err != nil || b != nil {
		t.Errorf("a blob the registry lacks: %v %v", b, err)
	}
	if _, err := r.Blob(ctx, d0, s0+1, false); err == nil || !strings.Contains(err.Error(), "the index says") {
		t.Errorf("a blob of another size: %v", err)
	}
	mark = len(reg.Requests())
	held := map[string]map[v1.Hash]bool{got.Repository: {}}
	for d := range got.Held {
		held[got.Repository][d] = true
	}
	if err := w.Write(ctx, Upload{Index: []byte(`{"v":2}`), Blobs: layers, Held: held}); err != nil {
		t.Fatal(err)
	}
	for _, q := range reg.Requests()[mark:] {
		for d := range got.Held {
			if strings.Contains(q.Path, d.String()) {
				t.Errorf("asked for a held blob: %s %s", q.Method, q.Path)
			}
		}
	}
	if got, err := Registry(ref).ReadIndex(ctx); err != nil || string(got.Index) != `{"v":2}` || len(got.Held) != 3 {
		t.Errorf("rewritten: %+v %v", got, err)
	}
}
