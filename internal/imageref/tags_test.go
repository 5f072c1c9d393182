package imageref

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

func TestTagsOfALayoutAndCurrentTag(t *testing.T) {
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"reg.example/app:4.1.1", "4.2.0", ""} {
		img, _ := random.Image(64, 1)
		var opts []layout.Option
		if name != "" {
			opts = append(opts, layout.WithAnnotations(map[string]string{RefNameAnnotation: name}))
		}
		if err := p.AppendImage(img, opts...); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Parse("oci-layout://"+dir+":4.1.1", "")
	if err != nil {
		t.Fatal(err)
	}
	tags, err := r.Tags(context.Background())
	if err != nil || strings.Join(tags, " ") != "4.1.1 4.2.0" || r.CurrentTag() != "4.1.1" {
		t.Fatalf("tags %v %v, current %q", tags, err, r.CurrentTag())
	}
	if got, ok := r.WithTag("4.2.0"); !ok || got != "oci-layout://"+dir+":4.2.0" {
		t.Fatalf("WithTag: %q %v", got, ok)
	}
	for raw, want := range map[string]string{
		"reg.example/app:4.1.1": "4.1.1", "reg.example/app": "", "reg.example:5000/app:v2": "v2",
		"reg.example/app@sha256:" + strings.Repeat("a", 64): "", "oci-layout://x@sha256:" + strings.Repeat("b", 64): "",
	} {
		r, err := Parse(raw, "/")
		if err != nil || r.CurrentTag() != want {
			t.Errorf("%s: current tag %q (%v), want %q", raw, r.CurrentTag(), err, want)
		}
		if _, ok := r.WithTag("9"); ok != (want != "") {
			t.Errorf("%s: WithTag ok=%v", raw, ok)
		}
	}
	// Parse reads a tar's kind from the file; a docker tar and the Docker Engine list no tags
	// (and never send a short name to a registry to list them).
	for _, r := range []Ref{{Kind: DockerArchive, Path: "/tmp/base.tar"}, {Kind: Daemon, Raw: "app:v1"}} {
		if _, err := r.Tags(context.Background()); !errors.Is(err, ErrNoTags) {
			t.Fatalf("%s: %v", r.Kind, err)
		}
	}
}
