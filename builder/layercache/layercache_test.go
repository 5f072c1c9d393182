package layercache

import (
	"strings"
	"testing"

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
		{"type=inline", "dest", "", ""},
		{"type=local,dest=/x", "src", "", "type=local needs src=DIR"},
		{"type=registry", "src", "", "needs ref=REF"},
		{"type=registry,ref=UPPER/x", "src", "", "ref:"},
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
