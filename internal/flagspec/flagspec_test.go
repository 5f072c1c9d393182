package flagspec

import (
	"strings"
	"testing"

	"github.com/graft-build/graft/internal/usererr"
)

func TestParse(t *testing.T) {
	s, err := Parse("--output", " type=oci , dest = out/image ,name=")
	if err != nil || s.Type != "oci" || s.Attrs["dest"] != "out/image" || s.Attrs["name"] != "" || len(s.Attrs) != 2 {
		t.Fatalf("Parse = %+v, %v", s, err)
	}
	if err := s.Only("dest"); err == nil || !strings.Contains(err.Error(), "unknown key name (type=oci takes: dest)") {
		t.Errorf("Only: %v", err)
	}
	for spec, want := range map[string]string{
		"":                       "--output: empty spec",
		"type=oci,dest":          `"dest" is not key=value`,
		"type=oci,=x":            `"=x" is not key=value`,
		"type=oci,dest=a,dest=b": "dest given twice",
		"type=oci,type=docker":   "type given twice",
	} {
		if _, err := Parse("--output", spec); err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want bad input saying %q", spec, err, want)
		}
	}
}

// One rule per cache type for graft's layer cache and BuildKit alike (both call ParseCache):
// before, the layer cache let type=inline through and BuildKit refused it.
func TestParseCache(t *testing.T) {
	good := []struct {
		spec, dirKey, typ string
		layers            bool
	}{
		{"registry.example.org/lib/cache:ci", "src", "registry", true},
		{"type=registry,ref=127.0.0.1:5000/c:main,mode=max", "dest", "registry", true},
		{"type=registry,ref=r.example.org/c@sha256:" + strings.Repeat("a", 64), "src", "registry", true},
		{"type=local,src=/c", "src", "local", true},
		{"type=local,dest=/c,mode=max", "dest", "local", true},
		{"type=gha,scope=x", "dest", "gha", false},
		{"type=s3,bucket=b", "src", "s3", false},
	}
	for _, g := range good {
		c, err := ParseCache("--cache-x", g.spec, g.dirKey)
		if err != nil || c.Type != g.typ || c.Layers() != g.layers {
			t.Errorf("ParseCache(%q) = %+v, %v", g.spec, c, err)
		}
	}
	bad := map[string]string{
		"type=inline":               "type=inline needs an image BuildKit pushes",
		"type=local,src=/c":         "type=local needs dest=DIR",
		"type=registry":             "type=registry needs ref=REF",
		"type=registry,ref=UPPER/x": "type=registry needs ref=REF",
		"type=nope":                 `unknown cache type "nope"`,
		"mode=max":                  "missing type=",
		" ":                         "empty cache spec",
		"type=registry,ref=r.example.org/c@sha256:" + strings.Repeat("a", 64): "written to a tag, not a digest",
	}
	for spec, want := range bad {
		if _, err := ParseCache("--cache-to", spec, "dest"); err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseCache(%q) = %v, want bad input saying %q", spec, err, want)
		}
	}
}

func FuzzParseCache(f *testing.F) {
	for _, s := range []string{"type=local,dest=/c", "reg/x:y", "type=registry,ref=a/b@sha256:00", ",,=,", "type=gha,scope"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCache("--cache-to", s, "dest")
		if err != nil {
			if !usererr.Is(err) || strings.Contains(err.Error(), "\n") && !strings.Contains(s, "\n") {
				t.Fatalf("ParseCache(%q): %v is not one line of bad input", s, err)
			}
			return
		}
		if c.Layers() && c.Ref == nil && c.Dir == "" {
			t.Fatalf("ParseCache(%q) = %+v: a layer cache without a place", s, c)
		}
	})
}
