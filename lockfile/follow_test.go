package lockfile

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/graft-build/graft/internal/imageref"
)

// The base's version is read where graft.toml's [base_version] says (a label, an environment
// variable of the base's config, the tag), without it from the label
// org.opencontainers.image.version else the tag; a version not found or not a version is bad
// input at graft.toml's base_version.
func TestReadBaseVersion(t *testing.T) {
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "linux", Architecture: "amd64", Config: v1.Config{
		Labels: map[string]string{DefaultVersionLabel: "1.42.3", "org.example.release": "3.5.1", "org.example.name": "wiki"},
		Env:    []string{"PATH=/usr/bin", "MW_VERSION=1.41.0", "NAME=wiki"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	bare, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, table, base string
		img               v1.Image
		want, wantErr     string
	}{
		{"default label", "", "reg.example/wiki:9.9.9", img, "1.42.3", ""},
		{"default falls back to the tag", "", "reg.example/wiki:1.40.2-fpm", bare, "1.40.2-fpm", ""},
		{"label", "[base_version]\nlabel = \"org.example.release\"\n", "reg.example/wiki:9.9.9", img, "3.5.1", ""},
		{"env", "[base_version]\nenv = \"MW_VERSION\"\n", "reg.example/wiki:9.9.9", img, "1.41.0", ""},
		{"tag", "[base_version]\ntag = true\n", "reg.example/wiki:2.0.1", img, "2.0.1", ""},
		{"env missing", "[base_version]\nenv = \"NOPE\"\n", "reg.example/wiki:1.0", img, "",
			"graft.toml:4: base_version: base image reg.example/wiki:1.0 has no version in environment variable NOPE of the base image"},
		{"no label and no tag", "", "reg.example/wiki@sha256:" + strings.Repeat("0", 64), bare, "",
			"graft.toml:1: base_version: base image reg.example/wiki@sha256:" + strings.Repeat("0", 64) + " has no version in label org.opencontainers.image.version of the base image (else its tag)"},
		{"not a version", "[base_version]\nenv = \"NAME\"\n", "reg.example/wiki:1.0", img, "",
			"graft.toml:4: base_version: base image reg.example/wiki:1.0: the version read from environment variable NAME of the base image is"},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := []byte("base = \"" + c.base + "\"\nplugins_dir = \"/p\"\n\n" + c.table)
			site, err := ParseSite("graft.toml", data)
			if err != nil {
				t.Fatal(err)
			}
			p := &Project{Dir: t.TempDir(), Site: site, siteData: data, shown: "."}
			ref, err := imageref.Parse(c.base, p.Dir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.ReadBaseVersion(ref, &imageref.Resolved{Image: c.img})
			if c.wantErr == "" {
				if err != nil || got != c.want {
					t.Fatalf("got %q, %v; want %q", got, err, c.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("got %q, %v; want an error with %q", got, err, c.wantErr)
			}
		})
	}
}
